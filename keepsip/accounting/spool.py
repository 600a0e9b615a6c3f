"""
The on-disk spool of one accounting backend: the records it has not yet
acknowledged, in order.

Two files per backend in the spool directory:

  - C{<key>.spool}: JSON lines, appended and C{fsync}ed before the records
    are handed to the backend (write-ahead), so an acknowledged-or-not
    record survives a crash of keepsip. L{Spool.appendMany} writes a whole
    batch (the records of one reactor turn) with one C{write} and one
    C{fsync};
  - C{<key>.acked}: the byte offset in C{<key>.spool} up to which records are
    acknowledged. It is not rewritten per acknowledgement: at most once per
    L{Spool.checkpointEvery} acknowledgements or L{Spool.checkpointInterval}
    seconds of the injected clock (checked when records are acknowledged),
    and on L{Spool.close}; without C{fsync}. Losing it only replays
    acknowledged records again (at most C{checkpointEvery - 1} of them, or
    all of the file if it is missing or does not match), which their ids make
    harmless.

Compaction is off the per-record path and bounded: once at least
L{Spool.compactSize} octets are acknowledged, the spool file is truncated
when it drains; a spool that does not drain (records keep arriving while
others are in flight) is rewritten with only its unacknowledged records once
twice that is acknowledged and those records are at most a quarter of what
is reclaimed (so each acknowledged octet pays for at most a quarter octet of
copying, and the file stays near C{2 * compactSize} plus the backlog). The
offset file is removed, durably, before the spool file changes, so a crash
in between replays rather than skips.

Every write is whole records or nothing (L{keepsip.accounting.appendfile}):
a write cut short by a full disk is truncated back before it fails, so a
later write never lands after a torn line.

Not done: the unacknowledged records are also held in memory (record and
line), so a very long outage of a backend costs memory in proportion to its
backlog.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from twisted.internet.interfaces import IReactorTime

from keepsip.accounting.appendfile import AppendFile, Writer
from keepsip.accounting.wire import wireSafe
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
    A record as one JSON line (UTF-8, compact, newline-terminated), in the
    form L{keepsip.accounting.wire.wireSafe} gives it: never fails on the
    bytes a call carried.
    """
    return wireSafe(record)[1]


def decodeLine(line: bytes) -> dict[str, Any]:
    """
    The record a line of L{encodeRecord} holds: equal to the record
    L{keepsip.accounting.wire.wireSafe} returned with that line.
    """
    record: dict[str, Any] = json.loads(line)
    return record


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


#: One unacknowledged record: C{(record, line, length)}: the record, its JSON
#: line, and the octets it occupies in the spool file (its line, plus any
#: unreadable lines after it found by L{Spool.load}; 0 when only in memory).
#: The record is L{None} when it was submitted as its line alone (see
#: L{keepsip.accounting.interimline}); L{Spool.head} decodes it.
_Entry = tuple[dict[str, Any] | None, bytes, int]


class Spool:
    """
    The unacknowledged records of one backend, on disk and in memory.

    Use: L{load} once at start-up (returns how many records were recovered),
    then L{append} or L{appendMany} new records, L{head} or L{peek} to see the
    oldest unacknowledged ones, L{acknowledge} when the backend accepted them,
    L{close} at shutdown.

    @ivar checkpointEvery: acknowledgements after which the offset file is
        written (at the latest).
    @ivar checkpointInterval: seconds on the clock after which an
        acknowledgement writes the offset file even if fewer than
        C{checkpointEvery} are unsaved; unused without a clock.
    @ivar compactSize: acknowledged octets beyond which the spool file is
        compacted.
    """

    checkpointEvery = 100
    checkpointInterval = 1.0
    compactSize = 1 << 20

    def __init__(
        self,
        directory: str,
        key: str,
        clock: IReactorTime | None = None,
        writer: Writer | None = None,
    ) -> None:
        """
        @param directory: the spool directory (created if missing).
        @param key: the backend's stable key (see
            L{keepsip.accounting.plugin.makeBackends}).
        @param clock: the clock for L{checkpointInterval}; without one, the
            offset is written every C{checkpointEvery} acknowledgements and
            on close only.
        @param writer: writes octets to a descriptor (L{os.write} by
            default; tests pass one that fills the disk).
        """
        self.directory = directory
        self.key = key
        self.clock = clock
        base = os.path.join(directory, spoolFileKey(key))
        self.path = base + ".spool"
        self.ackPath = base + ".acked"
        self._file = AppendFile(self.path, writer)
        self._pending: deque[_Entry] = deque()
        self._ackedOffset = 0
        self._writtenOffset = 0
        self._endOffset = 0
        self._sinceCheckpoint = 0
        self._checkpointedAt = clock.seconds() if clock is not None else 0.0
        #: Offset-file writes and compactions so far (for tests and metrics).
        self.checkpoints = 0
        self.compactions = 0

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
                    last, lastLine, length = pending.pop()
                    pending.append((last, lastLine, length + len(line)))
                continue
            pending.append((record, line, len(line)))
        self._endOffset = complete
        self._file.open()
        return len(pending)

    def append(self, record: dict[str, Any], line: bytes | None = None) -> None:
        """
        Add a record at the end, durably (written and C{fsync}ed) before
        returning.

        @param line: the record already encoded by L{encodeRecord}, to share
            one encoding between several spools.
        @raise OSError: if the record could not be written.
        """
        self.appendMany([(record, encodeRecord(record) if line is None else line)])

    def appendMany(self, entries: Iterable[tuple[dict[str, Any] | None, bytes]]) -> None:
        """
        Add records at the end, in order, durably, with one C{write} and one
        C{fsync} for all of them.

        @param entries: C{(record, line)} pairs, C{line} being the record as
            L{encodeRecord} made it; C{record} may be L{None} (only the line
            is known).
        @raise OSError: if the records could not be written; none of them is
            then added (some may be in the file, unacknowledged, to be
            replayed after a restart: duplicates, never losses).
        """
        entries = list(entries)
        if not entries:
            return
        data = b"".join(line for _, line in entries)
        if not self._file.isOpen:
            os.makedirs(self.directory, exist_ok=True)
        # Whole batch or nothing: a write cut short is truncated back.
        before = self._file.size
        self._file.append(data)
        try:
            self._file.sync()
        except OSError:
            # Not durable: take the batch out again, so the file holds
            # exactly the records counted here (if even that fails they stay,
            # to be replayed after a restart: duplicates, never losses).
            try:
                self._file.truncate(before)
            except OSError:
                pass
            self._endOffset = self._file.size
            raise
        pending = self._pending
        for record, line in entries:
            pending.append((record, line, len(line)))
        self._endOffset = self._file.size

    def hold(self, record: dict[str, Any] | None, line: bytes | None = None) -> None:
        """
        Add a record at the end in memory only: the last resort when
        L{append} failed (disk full), so a live backend still gets it.

        @param record: the record, or L{None} if only C{line} is known.
        """
        if line is None:
            if record is None:
                raise ValueError("hold needs a record or its line")
            line = encodeRecord(record)
        self._pending.append((record, line, 0))

    def head(self) -> dict[str, Any] | None:
        """
        @return: the oldest unacknowledged record, or L{None}.
        """
        pending = self._pending
        if not pending:
            return None
        record, line, length = pending[0]
        if record is None:
            record = decodeLine(line)
            pending[0] = (record, line, length)
        return record

    def peek(self, count: int) -> list[tuple[dict[str, Any] | None, bytes]]:
        """
        @return: up to C{count} of the oldest unacknowledged records as
            C{(record, line)} pairs, oldest first; C{record} is L{None} for
            a record submitted as its line alone (L{decodeLine} gives it).
        """
        pending = self._pending
        if count >= len(pending):
            return [(record, line) for record, line, _ in pending]
        return [(pending[i][0], pending[i][1]) for i in range(count)]

    def acknowledge(self, count: int = 1) -> None:
        """
        The backend accepted the C{count} oldest records (what L{head} or
        L{peek} returned): forget them. The offset file is written only now
        and then (see the class docstring).
        """
        pending = self._pending
        acked = 0
        for _ in range(count):
            acked += pending.popleft()[2]
        self._ackedOffset += acked
        self._sinceCheckpoint += count
        if (
            self._ackedOffset >= self.compactSize
            and self._file.isOpen
            and (
                not pending
                or (
                    self._ackedOffset >= 2 * self.compactSize
                    and (self._endOffset - self._ackedOffset) * 4 <= self._ackedOffset
                )
            )
        ):
            self._compact()
            return
        if self._sinceCheckpoint >= self.checkpointEvery or (
            self.clock is not None
            and self.clock.seconds() - self._checkpointedAt >= self.checkpointInterval
        ):
            self._checkpoint()

    def _readOffset(self) -> int:
        try:
            with open(self.ackPath, "rb") as offsetFile:
                return max(0, int(offsetFile.read().strip() or b"0"))
        except (OSError, ValueError):
            return 0

    def _checkpoint(self) -> None:
        self._sinceCheckpoint = 0
        if self.clock is not None:
            self._checkpointedAt = self.clock.seconds()
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
        self.checkpoints += 1
        self._writtenOffset = self._ackedOffset

    def _removeOffsetFile(self) -> None:
        """
        Remove the offset file durably: from then on a crash replays the
        whole spool file rather than trust an offset into a file that is
        about to change.
        """
        try:
            os.remove(self.ackPath)
        except FileNotFoundError:
            pass
        _fsyncDirectory(self.directory)
        self._writtenOffset = 0

    def _compact(self) -> None:
        self._sinceCheckpoint = 0
        if self.clock is not None:
            self._checkpointedAt = self.clock.seconds()
        try:
            self._removeOffsetFile()
            if self._pending:
                self._rewriteTail()
            else:
                self._file.truncate(0)
                self._file.sync()
                self._endOffset = 0
        except OSError as e:
            _log.warn("Could not compact spool {path}: {error}", path=self.path, error=e)
            self._checkpoint()
            return
        self._ackedOffset = self._writtenOffset = 0
        self.compactions += 1

    def _rewriteTail(self) -> None:
        """
        Replace the spool file by one holding only the unacknowledged
        records (the offset file is already gone).
        """
        onDisk = [line for _, line, length in self._pending if length]
        data = b"".join(onDisk)
        temporary = self.path + ".tmp"
        with open(temporary, "wb") as fresh:
            fresh.write(data)
            fresh.flush()
            os.fsync(fresh.fileno())
        self._file.close()
        os.replace(temporary, self.path)
        _fsyncDirectory(self.directory)
        self._file.open()
        self._pending = deque(
            (record, line, len(line) if length else 0) for record, line, length in self._pending
        )
        self._endOffset = len(data)

    def close(self) -> None:
        """
        Write the acknowledged offset and close the file. L{append} reopens
        it if called later.
        """
        self._checkpoint()
        self._file.close()
