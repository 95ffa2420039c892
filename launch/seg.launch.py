"""Start seg_node: ``ros2 launch seg_perception seg.launch.py model_path:=/path/model.pt``."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from seg_perception.node.contract import camera_info_beside
from seg_perception.ros.node_process import FASTDDS_PROFILE_VARIABLES, fastdds_profile_variable

PACKAGE = "seg_perception"
#: seconds between launch's SIGINT and its SIGTERM (a substitution, hence a string)
SIGTERM_TIMEOUT_S = "20"


def _seg_node(context, share: str) -> list:
    """The node, built once the arguments are known (the camera_info topic is derived from image_topic)."""
    image_topic = LaunchConfiguration("image_topic").perform(context)
    camera_info_topic = LaunchConfiguration("camera_info_topic").perform(context) or camera_info_beside(image_topic)
    # Fast DDS drops best-effort frames larger than its default 512 KB shared-memory segment,
    # and the node publishes camera-sized images: give it the shipped large-segment profile,
    # unless the user already points Fast DDS at a profile (under either name), which then wins.
    # Only the name this distro's Fast DDS reads is set: Fast DDS 3 (Kilted) warns about the old one.
    large_frames = os.path.join(share, "config", "fastdds_large_frames.xml")
    first, second = FASTDDS_PROFILE_VARIABLES
    profile_env = {
        fastdds_profile_variable(): EnvironmentVariable(
            first, default_value=EnvironmentVariable(second, default_value=large_frames)),
    }
    return [Node(
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
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
            },
        ],
        remappings=[("image", image_topic), ("image/compressed", f"{image_topic}/compressed"),
                    ("camera_info", camera_info_topic)],
        additional_env=profile_env,
        # launch sends SIGINT, then SIGTERM after sigterm_timeout (5 s by default); seg_node exits in well
        # under a second, but a loaded machine can stretch a frame in flight and the shutdown.
        sigterm_timeout=SIGTERM_TIMEOUT_S,
        output="screen",
        emulate_tty=True,
    )]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("model_path", default_value="",
                              description="checkpoint (.pt from seg-train) to load; engines built from it "
                                          "are cached"),
        DeclareLaunchArgument("backend", default_value="auto",
                              description="auto | tensorrt | cuda | cpu"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="camera topic remapped onto the node's 'image' input"),
        DeclareLaunchArgument("camera_info_topic", default_value="",
                              description="CameraInfo input for the drivable grid; empty = beside image_topic "
                                          "(/camera/image_raw -> /camera/camera_info)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for the node and its output topics"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "seg.yaml"),
                              description="parameter file (every parameter with its default)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock, e.g. when replaying a bag with --clock"),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_seg_node, args=[share])])
