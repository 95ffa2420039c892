"""seg_node's ROS-free core, unit-tested without a ROS graph.

``contract`` (topic names, /diagnostics keys and their reading back), ``params``
(the parameter table and its validation), ``frames`` (message buffers to
images), ``latest_frame`` (the single-slot worker), ``frame_stats`` (rates,
percentiles, counters), ``health`` (the /diagnostics level), ``confidence_watch``
(whether frames look degraded) and ``shutdown``
(stop signals taken once, fast exit). ``seg_perception.ros.node`` is the glue that gives
them a ROS graph; live replay and the bag tools read ``contract`` and decode
bag frames with ``frames``, so they see what the node sees.
"""
