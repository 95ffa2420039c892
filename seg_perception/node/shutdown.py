"""Ending seg_node on SIGINT or SIGTERM: once, cleanly, and fast (ROS-free: signals and process exit).

Under ``ros2 launch`` a terminal's Ctrl-C reaches the node twice (from the terminal's
process group, and forwarded by launch), 0.1 s apart or less; launch escalates to
SIGTERM after ``sigterm_timeout``. The first signal begins the shutdown; later ones
must not interrupt it. After torch, interpreter teardown alone takes 2.5 to 7 s on a
busy machine, so once rclpy is shut down the process ends with ``exit_now``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import NoReturn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While in use (a context manager), SIGINT and SIGTERM ask the node to stop, once.

    The first sets ``requested``; while ``starting`` holds it also raises KeyboardInterrupt,
    so a long model load or engine build is abandoned. Later signals do nothing. Enter it
    before ``rclpy.init``: rclpy's own handlers wake the executor and then call these.
    """

    def __init__(self):
        self.requested = False
        self.starting = True
        self._previous = {}

    def __enter__(self) -> StopSignals:
        self._previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        if self.requested:
            return  # the second Ctrl-C of a launch: the shutdown under way goes on
        self.requested = True
        if self.starting:
            raise KeyboardInterrupt


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once Python's and C's stdio (where ROS logs go) are flushed, skipping
    interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or a broken pipe: nothing more can reach it
            pass
    ctypes.CDLL(None).fflush(None)
    os._exit(code)
