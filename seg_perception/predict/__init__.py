"""``seg-predict``: run a checkpoint over unlabelled images, a video or a bag, and write what it sees.

``sources`` turns INPUT into named frames, ``pipeline`` segments them while
a reader thread decodes ahead and ``writer``'s thread writes the PNGs behind,
and ``cli`` is the command. ROS-free; bags are read and written with rosbags.
"""

from .cli import main
from .pipeline import Predictor, Stats

__all__ = ["Predictor", "Stats", "main"]
