"""ROS-free rosbag2 tools (``rosbags``, never rclpy): reading, writing, ground-truth matching, evaluation.

``seg-make-bag`` (training/make_bag.py) writes bags with ``writer``; ``seg-bag-eval`` (``cli``) reads them
with ``reader`` and scores them with ``evaluation.BagEvaluation``, which the live mode shares.
"""
