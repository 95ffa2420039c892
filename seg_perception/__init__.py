"""seg_perception: semantic segmentation for autonomous driving on ROS 2."""

__version__ = "0.1.0"
