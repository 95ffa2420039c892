"""The repository is a standard ament_python package: layout, package.xml, colcon install space."""

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Contract commands (README's command-line tools); each must be installed by colcon and pip.
CONTRACT_SCRIPTS = ["seg-make-data", "seg-eval"]


def test_repository_layout():
    for name in ["package.xml", "setup.py", "setup.cfg", "README.md", "Makefile", ".ci/run",
                 "resource/seg_perception", "seg_perception/__init__.py", "training/__init__.py",
                 "launch/seg.launch.py", "config/seg.yaml", "config/fastdds_large_frames.xml"]:
        assert (ROOT / name).exists(), name
    assert os.access(ROOT / ".ci/run", os.X_OK)


def test_package_xml_is_format_3_ament_python_with_real_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "seg_perception"
    assert root.find("export/build_type").text == "ament_python"
    run_deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "launch_ros",
            "python3-numpy", "python3-opencv", "python3-torch"} <= run_deps
    assert "python3-pytest" in {e.text for e in root.findall("test_depend")}


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "setup.cfg")
    assert cfg["install"]["install_scripts"] == "$base/lib/seg_perception"
    assert cfg["develop"]["script_dir"] == "$base/lib/seg_perception"


def test_pip_editable_install_provides_contract_scripts():
    bin_dir = Path(sys.executable).parent
    for script in CONTRACT_SCRIPTS:
        assert (bin_dir / script).is_file(), f"{script} not in {bin_dir}; run make test to reinstall"


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    colcon = Path(sys.executable).parent / "colcon"
    if not colcon.exists():
        pytest.fail("colcon is missing from the venv (colcon-common-extensions in requirements.txt)")
    ws = tmp_path_factory.mktemp("ws")
    everywhere = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info")
    top_level = {".venv", "build", "install", "log", "runs", "data", "demo_out"}  # never training/data

    def ignore(directory, names):
        skipped = set(everywhere(directory, names))
        return skipped | (top_level & set(names) if Path(directory) == ROOT else set())

    shutil.copytree(ROOT, ws / "src" / "seg_perception", ignore=ignore)
    result = subprocess.run([str(colcon), "build", "--base-paths", "src"], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws / "install" / "seg_perception"


def test_colcon_install_space_has_share_files_and_index(colcon_install):
    share = colcon_install / "share" / "seg_perception"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    assert (share / "launch" / "seg.launch.py").is_file()
    assert (share / "config" / "seg.yaml").is_file()
    assert (share / "config" / "fastdds_large_frames.xml").is_file()
    marker = colcon_install / "share" / "ament_index" / "resource_index" / "packages" / "seg_perception"
    assert marker.is_file()


def test_colcon_installs_runnable_scripts_under_lib_package(colcon_install):
    site_packages = next(colcon_install.glob("lib/python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=str(site_packages))
    for script in CONTRACT_SCRIPTS:
        path = colcon_install / "lib" / "seg_perception" / script
        assert path.is_file(), f"{script} missing from lib/seg_perception"
        result = subprocess.run([str(path), "--help"], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "usage" in result.stdout.lower()
    # the installed copy, not the source tree, is what runs
    result = subprocess.run([sys.executable, "-c", "import seg_perception; print(seg_perception.__file__)"],
                            env=env, cwd=colcon_install, capture_output=True, text=True, timeout=60)
    assert str(site_packages) in result.stdout
