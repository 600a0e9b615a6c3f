"""
The on-disk spool of one accounting backend: the records it has not yet
acknowledged, in order.

Two files per backend in the spool directory:

  - C{<key>.spool}: JSON lines, appended and C{fsync}ed before the record is
    handed to the backend (write-ahead), so an acknowledged-or-not record
    survives a crash of keepsip;
  - C{<key>.acked}: the byte offset in C{<key>.spool} up to which records are
    acknowledged, written now and then (every L{Spool.checkpointEvery}
    acknowledgements, whenever the spool drains, and on close) without
    C{fsync}: losing it only replays acknowledged records again, which their
    ids make harmless.

When the spool drains and the file has grown past L{Spool.compactSize}, it
is truncated and the offset file removed, both durably, before anything new
is appended.

Not done: the unacknowledged records are also held in memory, so a very long
outage of a backend costs memory in proportion to its backlog.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from typing import Any, BinaryIO

from keepsip.logs import Logger

_log = Logger()

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def spoolFileKey(key: str) -> str:
    """
    Make a backend key safe as a file name.
    """
    return _UNSAFE.sub("_", key) or "_"


def encodeRecord(record: dict[str, Any]) -> bytes:
    """
    A record as one JSON line (UTF-8, compact, newline-terminated).
    """
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def _fsyncDirectory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Spool:
    """
    The unacknowledged records of one backend, on disk and in memory.

    Use: L{load} once at start-up (returns how many records were recovered),
    then L{append} each new record, L{head} to see the oldest unacknowledged
    one, L{acknowledge} when the backend accepted it, L{close} at shutdown.

    @ivar checkpointEvery: acknowledgements between two writes of the offset
        file.
    @ivar compactSize: file size in octets beyond which a drained spool is
        truncated.
    """

    checkpointEvery = 100
    compactSize = 1 << 20

    def __init__(self, directory: str, key: str) -> None:
        """
        @param directory: the spool directory (created if missing).
        @param key: the backend's stable key (see
            L{keepsip.accounting.plugin.makeBackends}).
        """
        self.directory = directory
        self.key = key
        base = os.path.join(directory, spoolFileKey(key))
        self.path = base + ".spool"
        self.ackPath = base + ".acked"
        self._file: BinaryIO | None = None
        self._pending: deque[tuple[dict[str, Any], int]] = deque()
        self._ackedOffset = 0
        self._writtenOffset = 0
        self._endOffset = 0
        self._sinceCheckpoint = 0

    def __len__(self) -> int:
        return len(self._pending)

    def load(self) -> int:
        """
        Open the spool, dropping a torn last line left by a crash, and read
        the records after the acknowledged offset into memory.

        @return: the number of unacknowledged records recovered.
        """
        os.makedirs(self.directory, exist_ok=True)
        self._ackedOffset = self._readOffset()
        try:
            with open(self.path, "rb") as existing:
                data = existing.read()
        except FileNotFoundError:
            data = b""
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            _log.warn(
                "Dropping {octets} octets of a torn record at the end of spool {path}",
                octets=len(data) - complete,
                path=self.path,
            )
            with open(self.path, "r+b") as torn:
                torn.truncate(complete)
                torn.flush()
                os.fsync(torn.fileno())
        if self._ackedOffset > complete or (
            self._ackedOffset and data[self._ackedOffset - 1 : self._ackedOffset] != b"\n"
        ):
            _log.warn(
                "Acknowledged offset {offset} of spool {path} does not match the "
                "file; replaying it all",
                offset=self._ackedOffset,
                path=self.path,
            )
            self._ackedOffset = 0
        self._writtenOffset = self._ackedOffset
        position = self._ackedOffset
        pending = self._pending
        for line in data[self._ackedOffset : complete].splitlines(keepends=True):
            position += len(line)
            try:
                record = json.loads(line)
            except ValueError:
                _log.error(
                    "Skipping an unreadable record in spool {path} before offset {offset}",
                    path=self.path,
                    offset=position,
                )
                if not pending:
                    self._ackedOffset = position
                else:
                    # Fold the unreadable line into the previous entry so
                    # acknowledging it also moves past this line.
                    last, length = pending.pop()
                    pending.append((last, length + len(line)))
                continue
            pending.append((record, len(line)))
        self._endOffset = complete
        self._file = open(self.path, "ab")
        return len(pending)

    def append(self, record: dict[str, Any], line: bytes | None = None) -> None:
        """
        Add a record at the end, durably (written and C{fsync}ed) before
        returning.

        @param line: the record already encoded by L{encodeRecord}, to share
            one encoding between several spools.
        @raise OSError: if the record could not be written.
        """
        if line is None:
            line = encodeRecord(record)
        if self._file is None:
            os.makedirs(self.directory, exist_ok=True)
            self._file = open(self.path, "ab")
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._pending.append((record, len(line)))
        self._endOffset += len(line)

    def hold(self, record: dict[str, Any]) -> None:
        """
        Add a record at the end in memory only: the last resort when
        L{append} failed (disk full), so a live backend still gets it.
        """
        self._pending.append((record, 0))

    def head(self) -> dict[str, Any] | None:
        """
        @return: the oldest unacknowledged record, or L{None}.
        """
        if self._pending:
            return self._pending[0][0]
        return None

    def acknowledge(self) -> None:
        """
        The backend accepted the record L{head} returned: forget it.
        """
        _, length = self._pending.popleft()
        self._ackedOffset += length
        self._sinceCheckpoint += 1
        if not self._pending:
            if self._endOffset >= self.compactSize and self._file is not None:
                self._compact()
            else:
                self._checkpoint()
        elif self._sinceCheckpoint >= self.checkpointEvery:
            self._checkpoint()

    def _readOffset(self) -> int:
        try:
            with open(self.ackPath, "rb") as offsetFile:
                return max(0, int(offsetFile.read().strip() or b"0"))
        except (OSError, ValueError):
            return 0

    def _checkpoint(self) -> None:
        self._sinceCheckpoint = 0
        if self._ackedOffset == self._writtenOffset:
            return
        temporary = self.ackPath + ".tmp"
        try:
            with open(temporary, "wb") as offsetFile:
                offsetFile.write(b"%d\n" % (self._ackedOffset,))
            os.replace(temporary, self.ackPath)
        except OSError as e:
            _log.warn(
                "Could not record acknowledgements of spool {path}: {error}",
                path=self.path,
                error=e,
            )
            return
        self._writtenOffset = self._ackedOffset

    def _compact(self) -> None:
        self._sinceCheckpoint = 0
        try:
            if self._file is None:
                self._file = open(self.path, "ab")
            self._file.truncate(0)
            self._file.flush()
            os.fsync(self._file.fileno())
            if os.path.exists(self.ackPath):
                os.remove(self.ackPath)
            _fsyncDirectory(self.directory)
        except OSError as e:
            _log.warn("Could not compact spool {path}: {error}", path=self.path, error=e)
            self._checkpoint()
            return
        self._ackedOffset = self._writtenOffset = self._endOffset = 0

    def close(self) -> None:
        """
        Write the acknowledged offset and close the file. L{append} reopens
        it if called later.
        """
        self._checkpoint()
        if self._file is not None:
            self._file.close()
            self._file = None
