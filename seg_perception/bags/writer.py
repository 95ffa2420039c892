"""``BagWriter``: a rosbag2 (mcap or sqlite3) that appears at its path only once it is complete.

Written with ``rosbags`` as metadata version 8, the newest whose
``offered_qos_profiles`` are a YAML string: Humble's rosbag2 reads that field
as a string (version 9 made it a list), and Jazzy and Kilted read version 8
too. Every topic offers a reliable, volatile, keep-last-10 profile, so
``ros2 bag play`` publishes reliably.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from .messages import TYPESTORE
from .reader import BagError

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
METADATA_VERSION = 8
_UNSET = QosTime(0, 0)  # rmw's "unspecified" duration: the middleware default (infinite)
OFFERED_QOS = Qos(history=QosHistory.KEEP_LAST, depth=10, reliability=QosReliability.RELIABLE,
                  durability=QosDurability.VOLATILE, deadline=_UNSET, lifespan=_UNSET,
                  liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=_UNSET,
                  avoid_ros_namespace_conventions=False)


class BagWriter:
    """Context manager writing a new bag directory ``path``; topics are added before their first message.

    The bag is written to a hidden temporary directory beside ``path`` and renamed to
    ``path`` when the ``with`` block ends without an exception; otherwise it is removed,
    so a failed run leaves nothing that looks like a bag. An existing ``path`` is refused.
    """

    def __init__(self, path: str | os.PathLike, storage: str = "mcap"):
        if storage not in STORAGES:
            raise BagError(f"{path}: storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self._check_free()
        self._tmp: Path | None = None
        self._writer: Writer | None = None
        self._connections: dict[str, object] = {}

    def _check_free(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            raise BagError(f"{self.path} already exists; not overwriting it (remove it or choose another path)")

    def __enter__(self) -> BagWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"))
        # The storage file is named after the bag directory, so it is created under the final name.
        self._writer = Writer(self._tmp / self.path.name, version=METADATA_VERSION,
                              storage_plugin=STORAGES[self.storage])
        self._writer.open()
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        assert self._writer is not None and self._tmp is not None
        try:
            if exc_type is None:
                self._writer.close()
                self._check_free()
                os.rename(self._tmp / self.path.name, self.path)
            else:
                self._writer.abort()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return False

    def add_topic(self, topic: str, msgtype: str, msgdef: str | None = None, digest: str | None = None) -> None:
        """Declare ``topic``; its definition comes from the typestore unless ``msgdef`` and ``digest`` are given
        (e.g. copied from another bag)."""
        assert self._writer is not None, "add_topic inside the with block"
        kwargs = {"msgdef": msgdef, "rihs01": digest} if msgdef and digest else {"typestore": TYPESTORE}
        try:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, offered_qos_profiles=[OFFERED_QOS],
                                                                   **kwargs)
        except (WriterError, KeyError) as error:
            raise BagError(f"{self.path}: cannot add topic {topic} ({msgtype}): {error}") from None

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        """Serialise a typestore message (e.g. from ``messages.image_msg``) on a declared topic."""
        self.write_raw(topic, TYPESTORE.serialize_cdr(msg, msg.__msgtype__), log_time_ns)

    def write_raw(self, topic: str, rawdata, log_time_ns: int) -> None:
        """Write already serialised CDR bytes on a declared topic, logged at ``log_time_ns``."""
        assert self._writer is not None, "write inside the with block"
        self._writer.write(self._connections[topic], log_time_ns, rawdata)
