"""ROS-free rosbag2 tools (``rosbags``, never rclpy): reading, writing, ground-truth matching, evaluation.

``seg-make-bag`` (training/make_bag.py) writes bags with ``writer``; ``seg-bag-eval``
(``seg_perception.ros.bag_eval``) reads them with ``reader`` and scores them with
``evaluation.BagEvaluation``, offline and live alike; ``replay`` is the ROS-free half of live replay.
"""
