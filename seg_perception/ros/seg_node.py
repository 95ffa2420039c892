"""The ``seg_node`` executable (``ros2 run seg_perception seg_node``): signals handled from its first instant.

Importing the node (rclpy, torch) takes seconds; the stop signals are taken over before
that, so a Ctrl-C while it starts ends it quietly too (``node.shutdown``).
"""

from __future__ import annotations

import sys

from ..node.shutdown import StopSignals, exit_now


def main(args=None) -> int:
    """Run seg_node; a bad set-up exits 1 with one error line.

    The first SIGINT or SIGTERM shuts the node down; later ones are ignored (under ``ros2 launch``
    Ctrl-C arrives twice). After a signal the process then ends at once with exit code 0
    (``exit_now``), rather than spend seconds tearing down the interpreter after torch.
    """
    with StopSignals() as stop:
        try:
            from .node import run  # here, not above: the signals must be ours while it loads

            code = run(args, stop)
        except KeyboardInterrupt:  # a signal during start-up: the node cleaned up after itself
            code = 0
        if stop.requested:
            exit_now(0)
    return code


if __name__ == "__main__":
    sys.exit(main())
