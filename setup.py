"""ament_python package: installs the library, the ament index marker, launch and config files, and the CLIs."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "seg_perception"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "training", "training.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    package_data={PACKAGE: ["py.typed"]},
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="seg_perception maintainers",
    maintainer_email="maintainers@seg-perception.dev",
    description="Semantic segmentation for autonomous driving on ROS 2 (FCN / U-Net, TensorRT, rosbag evaluation)",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "seg-make-data = training.data.make_data:main",
            "seg_node = seg_perception.ros.seg_node:main",
            "seg-eval = training.evaluate:main",
            "seg-train = training.train:main",
            "seg-export = seg_perception.inference.export:main",
            "seg-bench = seg_perception.inference.bench:main",
            "seg-make-bag = training.make_bag:main",
            "seg-bag-eval = seg_perception.ros.bag_eval:main",
            "seg-predict = seg_perception.predict.cli:main",
        ],
    },
)
