"""seg_node as a child process: the installed executable, the shipped Fast DDS profile, a log, a clean stop.

Used by the live bag replay, which starts a private node for the run. Imports
neither rclpy nor torch: this is process plumbing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGE = "seg_perception"
EXECUTABLE = "seg_node"
PROFILE_NAME = "fastdds_large_frames.xml"
# Fast DDS 3 (Kilted and newer) reads the first name (and warns about the second); Fast DDS 2
# (Humble, Iron, Jazzy) only the second.
FASTDDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS2_DISTROS = ("humble", "iron", "jazzy")
STOP_TIMEOUT_S = 10.0


class NodeProcessError(RuntimeError):
    """The node process cannot be started or has exited; the message carries its last log lines."""


def seg_node_command() -> list[str]:
    """How to run seg_node: the installed console script beside this interpreter (a venv) or beside the
    running tool (pip and colcon both install the tools in one directory), else ``python -m``."""
    for directory in (Path(sys.executable).parent, Path(sys.argv[0]).resolve().parent):
        candidate = directory / EXECUTABLE
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    return [sys.executable, "-m", f"{PACKAGE}.ros.seg_node"]


def fastdds_profile() -> Path | None:
    """The shipped large-frame Fast DDS profile: the installed share directory, else the source tree's."""
    candidates = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            candidates.append(Path(get_package_share_directory(PACKAGE)) / "config")
        except (PackageNotFoundError, OSError):  # a pip install is not in the ament index, which may not exist
            pass
    except ImportError:
        pass
    candidates += [Path(__file__).resolve().parents[2] / "config", Path(sys.prefix) / "share" / PACKAGE / "config"]
    return next((path / PROFILE_NAME for path in candidates if (path / PROFILE_NAME).is_file()), None)


def fastdds_profile_variable(environ: Mapping[str, str] = os.environ) -> str:
    """The profile variable this ROS 2's Fast DDS reads, so that no other is set (Fast DDS 3 warns about
    the old name). Decided by what is installed: Fast DDS keeps its CMake files in ``share/fastrtps`` up
    to 2.x and in ``share/fastdds`` from 3.0, under the ROS prefixes (``AMENT_PREFIX_PATH``), or without
    them this Python's prefix (the PyPI wheels); else by ``ROS_DISTRO``, where unset means a current one."""
    first, second = FASTDDS_PROFILE_VARIABLES
    prefixes = [Path(p) for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] or [Path(sys.prefix)]
    for package, variable in (("fastrtps", second), ("fastdds", first)):
        if any((prefix / "share" / package).is_dir() for prefix in prefixes):
            return variable
    return second if environ.get("ROS_DISTRO") in FASTDDS2_DISTROS else first


def large_frames_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` plus the large-frame profile under the one name this distro's Fast DDS reads
    (``fastdds_profile_variable``), unless the user set a profile under either name."""
    env = dict(environ)
    profile = fastdds_profile()
    if profile is None or any(env.get(name) for name in FASTDDS_PROFILE_VARIABLES):
        return env
    env[fastdds_profile_variable(environ)] = str(profile)
    return env


def last_lines(path: Path, count: int = 3) -> str:
    """The last ``count`` non-empty lines of a text file (a log), joined by ' | '."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-count:])


@contextlib.contextmanager
def ctrl_c_held():
    """Within the block, Ctrl-C (SIGINT) waits: it is delivered to the previous handler as the block ends.
    Only the main thread can hold it (Python runs signal handlers there); elsewhere the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pressed:
            signal.raise_signal(signal.SIGINT)


class NodeProcess:
    """seg_node running with ``ros_args``, stdout and stderr going to ``log_path``, until ``stop``."""

    def __init__(self, ros_args: Sequence[str], log_path: Path):
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.command = [*seg_node_command(), "--ros-args", *ros_args]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=large_frames_env())

    @property
    def pid(self) -> int:
        """The node's process id."""
        return self._process.pid

    def check(self) -> None:
        """Raise NodeProcessError, with the node's last log lines, if it has exited."""
        code = self._process.poll()
        if code is not None:
            reason = last_lines(self.log_path) or "no output"
            raise NodeProcessError(f"seg_node exited with code {code}: {reason} (log: {self.log_path})")

    def stop(self) -> int:
        """SIGINT (as Ctrl-C), then SIGKILL after STOP_TIMEOUT_S (or at once on a second Ctrl-C); the exit code."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
            finally:
                if self._process.poll() is None:
                    self._process.kill()
        return self._process.wait()
