"""Start seg_node: ``ros2 launch seg_perception seg.launch.py model_path:=/path/model.pt``."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import UnlessCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "seg_perception"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("model_path", default_value="",
                              description="checkpoint (.pt) or exported engine to load"),
        DeclareLaunchArgument("backend", default_value="auto",
                              description="auto | tensorrt | cuda | cpu"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="camera topic remapped onto the node's 'image' input"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for the node and its output topics"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "seg.yaml"),
                              description="parameter file (every parameter with its default)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock, e.g. when replaying a bag with --clock"),
    ]
    image_topic = LaunchConfiguration("image_topic")
    # Fast DDS drops best-effort frames larger than its default 512 KB shared-memory
    # segment; apply the shipped profile unless the user already configures Fast DDS.
    user_profile = EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", default_value="")
    large_frames = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds_large_frames.xml"),
        condition=UnlessCondition(PythonExpression(["'", user_profile, "' != ''"])))
    node = Node(
        package=PACKAGE,
        executable="seg_node",
        name="seg_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                # value_type=str keeps an empty path a string instead of YAML null
                "model_path": ParameterValue(LaunchConfiguration("model_path"), value_type=str),
                "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
                "use_sim_time": LaunchConfiguration("use_sim_time"),
            },
        ],
        remappings=[("image", image_topic), ("image/compressed", [image_topic, "/compressed"])],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription(arguments + [large_frames, node])
