"""
The C{jsonl} accounting backend: one JSON object per line, appended to a
file.

C{--accounting jsonl:path=FILE[,fsync=always|never|interval][,interval=S]}

  - C{fsync=always} (default): each record is written and flushed at once,
    and C{fsync}ed before it counts as accepted: one C{fsync} at the end of
    the reactor turn (C{callLater(0)}) covers every record written in that
    turn, and their Deferreds fire only after it;
  - C{fsync=interval}: written and flushed at once, C{fsync}ed every
    C{interval} seconds (default 1) if anything was written;
  - C{fsync=never}: written and flushed; the OS decides when it reaches the
    disk.

The file is opened in append mode by L{JsonLinesBackend.ready} (or the first
record); its directory must exist (a missing one is a start-up error, not
created: a typo in the path should not scatter records). It is reopened by L{JsonLinesBackend.reopen}, which the accounting
tracker calls on SIGHUP: rotate with C{logrotate}'s default C{create} mode
and C{postrotate kill -HUP <pid>}. Writes are blocking and happen in the
reactor thread, like Twisted's own log files.

Every write is a whole record or nothing (L{keepsip.accounting.appendfile}):
when the disk fills up, the torn part of a record is cut off again and the
record fails, so the accounting tracker retries it whole once there is
space; a torn last line left by a crash is cut when the file is opened.

Besides L{JsonLinesBackend.sendRecord}, L{JsonLinesBackend.sendRecords}
takes several records with their encoded lines (the accounting tracker's
batches, already encoded for its spool) and writes them with one C{write};
L{JsonLinesBackend.sendLines} takes the lines alone (what the delivery
uses: a record made as its line is then never decoded), and
L{JsonLinesBackend.writeLinesNow} writes (and fsyncs) lines before it
returns, so that the delivery need not spool what this file takes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.accounting.appendfile import AppendFile, Writer
from keepsip.accounting.spool import encodeRecord
from keepsip.interfaces import IAccountingBackend
from keepsip.startup import StartupError, describeOSError

_log = Logger()

FSYNC_POLICIES = ("always", "never", "interval")


class BackendClosed(Exception):
    """
    A record was sent to a closed backend.
    """


@implementer(IAccountingBackend)
class JsonLinesBackend:
    """
    Appends records as JSON lines to a file.

    @ivar path: the file.
    @ivar fsync: the fsync policy, one of L{FSYNC_POLICIES}.
    @ivar interval: seconds between fsyncs under C{fsync=interval}.
    """

    name = "jsonl"

    def __init__(
        self,
        reactor: IReactorTime,
        path: str,
        fsync: str = "always",
        interval: float = 1.0,
        writer: Writer | None = None,
    ) -> None:
        """
        @param writer: writes octets to a descriptor (L{os.write} by
            default; tests pass one that fills the disk).
        """
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"jsonl: fsync: expected always, never or interval, got {fsync!r}")
        if interval <= 0:
            raise ValueError(f"jsonl: interval: must be > 0, got {interval!r}")
        self.reactor = reactor
        self.path = path
        self.fsync = fsync
        self.interval = interval
        self._file: AppendFile | None = None
        self._writer = writer
        self._dirty = False
        self._closed = False
        self._syncer: LoopingCall | None = None
        self._waiting: list[Deferred] = []
        self._syncCall: IDelayedCall | None = None

    def _open(self) -> AppendFile:
        handle = AppendFile(self.path, self._writer)
        handle.open()
        self._file = handle
        return handle

    def ready(self) -> Deferred:
        """
        Open the file (creating it) and, under C{fsync=interval}, start the
        periodic fsync.

        @return: L{Deferred} firing with L{None}, or failing with a
            L{StartupError} naming the file that cannot be opened (a missing
            directory, a directory in its place, no permission).
        """
        try:
            if self._file is None:
                self._open()
        except OSError as e:
            return fail(StartupError("accounting", f"jsonl: path={describeOSError(e)}"))
        if self.fsync == "interval" and self._syncer is None:
            self._syncer = LoopingCall(self.sync)
            self._syncer.clock = self.reactor
            self._syncer.start(self.interval, now=False)
        return succeed(None)

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        """
        Append C{record} as one line, flushed; under C{fsync=always} the
        Deferred fires after the fsync that ends this reactor turn.

        @return: L{Deferred} firing with L{None}, or failing with
            L{BackendClosed} or the L{OSError} of the write or the fsync (the
            file is then reopened for the next record).
        """
        return self._write(encodeRecord(record))

    def sendRecords(
        self, records: Sequence[dict[str, Any]], lines: Sequence[bytes] | None = None
    ) -> Deferred:
        """
        Append several records, in order, with one write; like
        L{sendRecord} otherwise (one Deferred for all of them).

        @param lines: each record as one JSON line, as
            L{keepsip.accounting.spool.encodeRecord} makes it, written as
            is; encoded here if L{None}.
        @return: L{Deferred} firing with L{None} once all are accepted, or
            failing (then none counts as accepted; some may be in the file).
        """
        if lines is None:
            lines = [encodeRecord(record) for record in records]
        return self._write(b"".join(lines))

    def sendLines(self, lines: Sequence[bytes]) -> Deferred:
        """
        Append records given as their JSON lines only, in order, with one
        write; like L{sendRecords} otherwise.

        @param lines: each record as one JSON line, as
            L{keepsip.accounting.spool.encodeRecord} makes it.
        """
        return self._write(b"".join(lines))

    def writeLinesNow(self, lines: Sequence[bytes]) -> None:
        """
        Append records given as their JSON lines, in order, with one write,
        and (under C{fsync=always}) C{fsync} them, before returning: the
        delivery's way past the spool for a backend that is itself a durable
        file (L{keepsip.accounting.delivery.BackendDelivery.commit}).

        @raise OSError: if the write or the fsync failed (none of the
            records counts as accepted; the file is reopened for the next).
        @raise BackendClosed: if the backend was closed.
        """
        if self._closed:
            raise BackendClosed(self.path)
        try:
            handle = self._file if self._file is not None else self._open()
            handle.append(b"".join(lines))
            if self.fsync == "always":
                handle.sync()
            else:
                self._dirty = True
        except OSError:
            self._discard()
            raise

    def _write(self, data: bytes) -> Deferred:
        if self._closed:
            return fail(BackendClosed(self.path))
        try:
            handle = self._file if self._file is not None else self._open()
            handle.append(data)
        except OSError:
            self._discard()
            return fail()
        if self.fsync != "always":
            self._dirty = True
            return succeed(None)
        d: Deferred = Deferred()
        self._waiting.append(d)
        if self._syncCall is None:
            self._syncCall = self.reactor.callLater(0, self._syncWaiting)
        return d

    def _syncWaiting(self) -> None:
        """
        fsync what this turn wrote, then fire (or fail) the Deferreds of
        those records.
        """
        call, self._syncCall = self._syncCall, None
        if call is not None and call.active():
            call.cancel()
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        try:
            if self._file is None:
                raise OSError(f"{self.path} was closed before its records were synced")
            self._file.sync()
        except OSError:
            failure = Failure()
            _log.warn(
                "fsync of {path} failed: {error}", path=self.path, error=failure.getErrorMessage()
            )
            self._discard()
            for d in waiting:
                d.errback(failure)
            return
        for d in waiting:
            d.callback(None)

    @property
    def isOpen(self) -> bool:
        """
        Whether the file is open now (it is closed after a write error and
        reopened by the next write).
        """
        return self._file is not None

    def sync(self) -> None:
        """
        fsync the file if anything was written since the last fsync.
        """
        if self._waiting:
            self._syncWaiting()
        if self._dirty and self._file is not None:
            try:
                self._file.sync()
                self._dirty = False
            except OSError as e:
                _log.warn("fsync of {path} failed: {error}", path=self.path, error=e)

    def _discard(self) -> None:
        if self._waiting:
            # Records written to this handle wait for their fsync: do it now.
            self._syncWaiting()
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()

    def reopen(self) -> None:
        """
        Close the file and open C{path} again: after logrotate renamed it,
        records go to a new file of that name.
        """
        if self._closed:
            return
        if self._file is not None:
            self._dirty = not self._waiting
            self.sync()
            self._discard()
        try:
            self._open()
        except OSError as e:
            # sendRecord tries again and fails the record, which the tracker spools.
            _log.warn("Could not reopen {path}: {error}", path=self.path, error=e)
        else:
            _log.info("Reopened accounting file {path}", path=self.path)

    def close(self) -> Deferred:
        """
        Stop the periodic fsync, fsync and close the file (firing the
        Deferreds of records waiting for that fsync).

        @return: L{Deferred} firing with L{None}.
        """
        self._closed = True
        if self._syncer is not None and self._syncer.running:
            self._syncer.stop()
        self._syncer = None
        if self._file is not None:
            self._dirty = not self._waiting
            self.sync()
            self._discard()
        return succeed(None)
