"""``BagReader``: any rosbag2 (a directory of mcap or sqlite3, or a bare .mcap / .db3 file) as a message stream.

Every failure, whether at opening (missing path, not a bag, corrupt
metadata or storage) or halfway through (truncated storage), becomes a
``BagError`` whose message names the bag and the problem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from rosbags.rosbag2 import Reader

from .messages import TYPESTORE

# Damaged files make rosbags raise its ReaderError, but also the raw errors of what it parses with
# (apsw's CorruptError, OverflowError and struct.error from garbage lengths, ...): inside rosbags'
# open and read calls, any exception means the bag is unreadable.
_DAMAGE = Exception


#: rosbag2 metadata versions the reader handles: 4 added QoS and per-topic file paths; rosbags reads up to 9
READABLE_VERSIONS = (4, 9)
_LOG = logging.getLogger(__name__)


class BagError(ValueError):
    """A bag that cannot be used as asked: missing, unreadable, damaged, or without the wanted topic/type."""


@dataclass(frozen=True)
class BagMessage:
    """One message as stored: topic, type name, log time (ns) and the serialised CDR bytes."""

    topic: str
    msgtype: str
    log_time_ns: int
    rawdata: bytes | memoryview


@dataclass(frozen=True)
class TopicInfo:
    """A topic of the bag: its type, message count, and definition (for copying it into another bag)."""

    msgtype: str
    count: int
    msgdef: str
    digest: str


class BagReader:
    """An open bag (use as a context manager); ``messages`` streams topics in log-time order."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag (neither a rosbag2 directory nor a .mcap/.db3 file)")
        if self.path.is_file():
            _warn_if_split_part(self.path)
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except FileNotFoundError:  # a directory without metadata.yaml
            raise BagError(f"{self.path}: not a rosbag2 bag (no metadata.yaml)") from None
        except _DAMAGE as error:
            version = _metadata_version(self.path)
            if version is not None and not READABLE_VERSIONS[0] <= version <= READABLE_VERSIONS[1]:
                raise BagError(f"{self.path}: rosbag2 metadata version {version} is not supported; re-record or "
                               "convert with `ros2 bag convert`") from None
            raise BagError(f"{self.path}: not a readable rosbag2 bag: {_reason(error)}") from None
        self.topics: dict[str, TopicInfo] = {}
        for connection in self._reader.connections:
            known = self.topics.get(connection.topic)
            if known is not None and known.msgtype != connection.msgtype:
                raise BagError(f"{self.path}: topic {connection.topic} has two types, {known.msgtype} and "
                               f"{connection.msgtype}")
            self.topics[connection.topic] = TopicInfo(
                connection.msgtype, connection.msgcount + (known.count if known else 0),
                connection.msgdef.data, connection.digest)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Close the storage files."""
        if self._reader.is_open:
            self._reader.close()

    def describe_topics(self) -> str:
        """``topic (type)`` of every topic, for error messages."""
        return ", ".join(f"{name} ({info.msgtype})" for name, info in sorted(self.topics.items())) or "none"

    def require(self, topic: str, msgtypes: Collection[str]) -> str:
        """The type of ``topic``, which must exist with one of ``msgtypes``; BagError listing what exists otherwise."""
        info = self.topics.get(topic)
        if info is None:
            raise BagError(f"{self.path}: no topic {topic}; the bag has {self.describe_topics()}")
        if info.msgtype not in msgtypes:
            raise BagError(f"{self.path}: topic {topic} is {info.msgtype}, expected {' or '.join(msgtypes)}")
        return info.msgtype

    def messages(self, topics: Collection[str] | None = None) -> Iterator[BagMessage]:
        """The messages of ``topics`` (default: all) in log-time order.

        BagError if the storage is damaged, or holds fewer or more messages of a topic than the
        bag's metadata lists (checked when the stream is read to its end).
        """
        wanted = set(self.topics) if topics is None else set(topics)
        connections = [c for c in self._stored_connections() if c.topic in wanted]
        if not connections:
            return
        stream = self._reader.messages(connections=connections)
        seen = dict.fromkeys(wanted & set(self.topics), 0)
        while True:
            try:
                connection, log_time, rawdata = next(stream)
            except StopIteration:
                break
            except _DAMAGE as error:
                raise BagError(f"{self.path}: damaged bag (truncated or corrupt storage): {_reason(error)}") from None
            seen[connection.topic] += 1
            yield BagMessage(connection.topic, connection.msgtype, log_time, rawdata)
        for topic, count in seen.items():
            if count != self.topics[topic].count:
                raise BagError(f"{self.path}: damaged bag: its metadata lists {self.topics[topic].count} messages "
                               f"on {topic} but the storage holds {count}")

    def _stored_connections(self) -> list:
        """The connections as the storage files record them.

        rosbags matches the connections it is asked for against each file's own
        by topic, type *and* QoS, and silently yields nothing for a topic whose
        QoS in metadata.yaml differs from the file's. Intact real bags differ:
        recorders that store "unspecified" durations as 2147483647 s where the
        metadata says 0, an empty stored QoS, or a user's edit of
        offered_qos_profiles to change playback. Asking with the files' own
        connections reads every message; the metadata's counts still check them.
        """
        files = getattr(self._reader.storage, "storages", None)  # a bag directory: one reader per file
        if files is None:  # a bare .mcap / .db3: its connections are the file's own
            return list(self._reader.connections)
        return [connection for file in files for connection in file.connections]

    def deserialize(self, message: BagMessage):
        """The message object of ``message``; BagError naming topic and log time if the bytes do not decode."""
        try:
            return TYPESTORE.deserialize_cdr(message.rawdata, message.msgtype)
        except _DAMAGE as error:  # the generated deserialisers raise whatever the bad bytes trigger
            raise BagError(f"{self.path}: cannot decode the {message.msgtype} on {message.topic} logged at "
                           f"{message.log_time_ns} ns: {_reason(error)}") from None


def _metadata(directory: Path) -> dict | None:
    """The rosbag2_bagfile_information of ``directory``'s metadata.yaml, or None when it has none that parses."""
    try:
        document = yaml.safe_load((directory / "metadata.yaml").read_text())
        information = document["rosbag2_bagfile_information"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return None
    return information if isinstance(information, dict) else None


def _metadata_version(path: Path) -> int | None:
    version = (_metadata(path) or {}).get("version")
    return version if isinstance(version, int) else None


def _warn_if_split_part(path: Path) -> None:
    """Warn when a bare storage file is one of several of a split bag: the other parts will be missing."""
    parts = (_metadata(path.parent) or {}).get("relative_file_paths") or []
    names = [Path(str(part)).name for part in parts]
    if len(names) > 1 and path.name in names:
        _LOG.warning(f"{path}: one of the {len(names)} files of the split bag {path.parent / 'metadata.yaml'}; "
                     f"reading this file only (open {path.parent} for the whole bag)")


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
