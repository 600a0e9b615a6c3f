"""
Tests for L{keepsip.accounting.appendfile}, and the disk-full behaviour of
the accounting file and spool built on it (issue 8 item 8): with a writer
that runs out of space after N octets, and on a real tmpfs that fills up.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.appendfile import AppendFile
from keepsip.accounting.jsonl import JsonLinesBackend
from keepsip.accounting.spool import Spool, encodeRecord
from keepsip.accounting.tracker import AccountingTracker
from keepsip.metrics.accounting import accountingMetrics
from tests.helpers import skipOrFail


class Disk:
    """
    A writer for L{AppendFile} with C{room} octets of free space: writes
    what fits (a short write, as the kernel does), then fails with ENOSPC.
    """

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, fd: int, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = os.write(fd, data[: self.room])
        self.room -= written
        return written


def line(n: int, size: int = 100) -> bytes:
    return encodeRecord({"record_id": str(n), "pad": "x" * size})


def readJsonLines(path: str) -> list[dict[str, Any]]:
    """
    Every line of C{path} as JSON; fails the test on a torn or corrupt one.
    """
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), f"torn tail: {data[-80:]!r}"
    return [json.loads(text) for text in data.splitlines()]


class AppendFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(os.path.abspath(self.mktemp()))

    def test_wholeOrNothing(self) -> None:
        """
        A write the disk cuts short is truncated back and fails; once there
        is room again the same record is appended whole after the last
        whole one: no torn line, no duplicate part.
        """
        disk = Disk(len(line(1)) + 30)
        f = AppendFile(self.path, disk.write)
        f.append(line(1))
        self.assertRaises(OSError, f.append, line(2))
        self.assertEqual(os.path.getsize(self.path), len(line(1)))
        disk.room = 10_000
        f.append(line(2))
        f.close()
        self.assertEqual([r["record_id"] for r in readJsonLines(self.path)], ["1", "2"])

    def test_tornTailCutOnOpen(self) -> None:
        """
        A torn last line (a crash mid-write) is cut when the file is opened,
        so the next record starts on a line of its own.
        """
        with open(self.path, "wb") as f:
            f.write(line(1) + line(2)[:17])
        appender = AppendFile(self.path)
        appender.append(line(3))
        appender.close()
        self.assertEqual(appender.repaired, 17)
        self.assertEqual([r["record_id"] for r in readJsonLines(self.path)], ["1", "3"])

    def test_tornTailWithoutNewline(self) -> None:
        """
        A file holding only part of one record is emptied on open.
        """
        with open(self.path, "wb") as f:
            f.write(b'{"record_id"')
        appender = AppendFile(self.path)
        appender.open()
        appender.close()
        self.assertEqual(os.path.getsize(self.path), 0)

    def test_spoolBatchWholeOrNothing(self) -> None:
        """
        A spool batch cut short by a full disk leaves the spool file as it
        was; the spool does not count the batch; a restart finds only whole
        records.
        """
        directory = self.mktemp()
        disk = Disk(10_000)
        spool = Spool(directory, "b", writer=disk.write)
        spool.load()
        spool.append({"n": 1})
        disk.room = 5
        batch = [({"n": n}, encodeRecord({"n": n})) for n in (2, 3)]
        self.assertRaises(OSError, spool.appendMany, batch)
        self.assertEqual(len(spool), 1)
        disk.room = 10_000
        spool.appendMany(batch)
        spool.close()
        again = Spool(directory, "b")
        self.assertEqual(again.load(), 3)
        self.assertEqual([r["n"] for r, _ in again.peek(3)], [1, 2, 3])
        again.close()


class DiskFullTestsMixin:
    """
    The accounting tracker with its spool and a jsonl file on a disk that
    fills up: records are delivered whole once there is space, the outage
    is logged once when it starts and once when it ends, and metrics show
    it.
    """

    clock: Clock
    directory: str
    makeWriter: Callable[[], Any]

    def captureLogs(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)  # type: ignore[attr-defined]
        return events

    def emit(self, tracker: AccountingTracker, start: int, count: int) -> None:
        for n in range(start, start + count):
            tracker.emit({"record_id": f"r{n}", "type": "stop", "pad": "p" * 700})
        self.clock.advance(0)
        self.clock.advance(0)

    def fill(self) -> None:
        raise NotImplementedError

    def free(self) -> None:
        raise NotImplementedError

    def test_diskFull(self) -> None:
        """
        While the disk is full: no traceback is logged, one warning for the
        spool and one for the backend however many records fail, the
        outage gauge is 1. Once space is back: every record reaches the
        jsonl file exactly once as a whole line, one message says each
        outage ended (with counts), the gauge is 0.
        """
        events = self.captureLogs()
        path = os.path.join(self.directory, "cdr.jsonl")
        writer = self.makeWriter()
        backend = JsonLinesBackend(self.clock, path, writer=writer)
        tracker = AccountingTracker(
            [("b", backend)], self.clock, os.path.join(self.directory, "spool"), retryMax=2.0
        )
        # The spool's writes go through the same (full) disk.
        tracker.deliveries[0].spool = Spool(
            os.path.join(self.directory, "spool"), "b", self.clock, writer=writer
        )
        tracker.startService()
        metrics = accountingMetrics(tracker)
        self.emit(tracker, 0, 5)
        self.fill()
        for turn in range(40):
            self.emit(tracker, 5 + turn * 5, 5)
            self.clock.advance(0.5)
        [outage] = [m for m in metrics() if m.name == "keepsip_accounting_outage"]
        self.assertEqual(outage.samples[0][1], 1)
        [errors] = [m for m in metrics() if m.name == "keepsip_accounting_write_errors_total"]
        self.assertGreater(errors.samples[0][1], 1)
        self.assertEqual(self.flushLoggedErrors(), [])  # type: ignore[attr-defined]
        self.assertEqual([e for e in events if e.get("log_failure") is not None], [])
        keepsipEvents = [e for e in events if str(e.get("log_namespace", "")).startswith("keepsip")]
        started = [e for e in keepsipEvents if "Cannot write spool" in e["log_format"]]
        failing = [e for e in keepsipEvents if "failed to take record" in e["log_format"]]
        self.assertEqual((len(started), len(failing)), (1, 1))
        self.free()
        self.emit(tracker, 205, 5)
        for _ in range(10):
            self.clock.advance(2.0)
        self.assertEqual(tracker.backlog(), {"b": 0})
        ids = [r["record_id"] for r in readJsonLines(path)]
        self.assertEqual(sorted(ids, key=lambda i: int(i[1:])), [f"r{n}" for n in range(210)])
        keepsipEvents = [e for e in events if str(e.get("log_namespace", "")).startswith("keepsip")]
        ended = [e for e in keepsipEvents if "written again" in e["log_format"]]
        recovered = [e for e in keepsipEvents if "takes records again" in e["log_format"]]
        self.assertEqual((len(ended), len(recovered)), (1, 1))
        self.assertGreater(ended[0]["errors"], 1)
        [outage] = [m for m in metrics() if m.name == "keepsip_accounting_outage"]
        self.assertEqual(outage.samples[0][1], 0)
        d = tracker.stopService()
        self.clock.advance(20)
        self.successResultOf(d)  # type: ignore[attr-defined]


class InjectedDiskFullTests(DiskFullTestsMixin, SynchronousTestCase):
    """
    L{DiskFullTestsMixin} with a writer that runs out of room.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.disk = Disk(10**9)
        self.makeWriter = lambda: self.disk.write

    def fill(self) -> None:
        self.disk.room = 333

    def free(self) -> None:
        self.disk.room = 10**9


class TmpfsDiskFullTests(DiskFullTestsMixin, SynchronousTestCase):
    """
    L{DiskFullTestsMixin} on a real 256 KiB tmpfs, filled by a file that is
    removed again (root only: skipped, or failed under
    C{KEEPSIP_REQUIRE_EXTERNAL=1}, where mount is not permitted).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", self.directory],
            capture_output=True,
        )
        if mounted.returncode != 0:
            skipOrFail(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", self.directory], capture_output=True)
        self.makeWriter = lambda: None
        self.filler = os.path.join(self.directory, "filler")

    def fill(self) -> None:
        with open(self.filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)

    def free(self) -> None:
        os.remove(self.filler)
