"""
Tests for L{keepsip.accounting.jsonl}.
"""

from __future__ import annotations

import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.accounting.jsonl import BackendClosed, JsonLinesBackend
from keepsip.accounting.spool import encodeRecord
from keepsip.interfaces import IAccountingBackend
from keepsip.startup import StartupError


def readLines(path: str) -> list[dict]:
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


class JsonLinesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.path = os.path.join(self.mktemp(), "sub", "cdr.jsonl")
        os.makedirs(os.path.dirname(self.path))
        self.syncs: list[int] = []
        realFsync = os.fsync

        def fsync(fd: int) -> None:
            self.syncs.append(fd)
            realFsync(fd)

        self.patch(os, "fsync", fsync)

    def test_interface(self) -> None:
        """
        JsonLinesBackend provides IAccountingBackend.
        """
        self.assertTrue(verifyObject(IAccountingBackend, JsonLinesBackend(self.clock, self.path)))

    def test_appendsLines(self) -> None:
        """
        Records are appended one JSON object per line, to a file created
        if missing, after what was there.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        self.successResultOf(backend.ready())
        d = backend.sendRecord({"record_id": "1", "name": "\u00e9"})
        self.clock.advance(0)
        self.successResultOf(d)
        self.successResultOf(backend.close())
        backend = JsonLinesBackend(self.clock, self.path)
        self.successResultOf(backend.ready())
        d = backend.sendRecord({"record_id": "2"})
        self.clock.advance(0)
        self.successResultOf(d)
        self.successResultOf(backend.close())
        self.assertEqual(
            readLines(self.path), [{"record_id": "1", "name": "\u00e9"}, {"record_id": "2"}]
        )

    def test_fsyncAlways(self) -> None:
        """
        fsync=always fsyncs the records written in one reactor turn once, at
        the end of the turn, and acknowledges each only after that fsync; a
        record of a later turn gets its own fsync. (Before group commit:
        one fsync per record, at once.)
        """
        backend = JsonLinesBackend(self.clock, self.path, fsync="always")
        backend.ready()
        fired: list[int] = []
        first = backend.sendRecord({"n": 1}).addCallback(lambda _: fired.append(1))
        second = backend.sendRecord({"n": 2}).addCallback(lambda _: fired.append(2))
        self.assertEqual(readLines(self.path), [{"n": 1}, {"n": 2}], "written at once")
        self.assertEqual((self.syncs, fired), ([], []))
        self.assertNoResult(first)
        self.clock.advance(0)
        self.assertEqual(len(self.syncs), 1)
        self.assertEqual(fired, [1, 2])
        backend.sendRecord({"n": 3}).addCallback(lambda _: fired.append(3))
        self.clock.advance(0)
        self.assertEqual(len(self.syncs), 2)
        self.assertEqual(fired, [1, 2, 3])
        self.successResultOf(second)
        backend.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_deferredFiresAfterFsync(self) -> None:
        """
        Under fsync=always no record's Deferred has fired when the fsync
        covering it starts, and every one has fired right after it.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        backend.ready()
        ds = [backend.sendRecord({"n": n}) for n in range(5)]
        atSync: list[list[bool]] = []
        realFsync = os.fsync

        def fsync(fd: int) -> None:
            atSync.append([d.called for d in ds])
            realFsync(fd)

        self.patch(os, "fsync", fsync)
        self.clock.advance(0)
        self.assertEqual(atSync, [[False] * 5])
        self.assertEqual([d.called for d in ds], [True] * 5)
        backend.close()

    def test_sendRecordsOneWrite(self) -> None:
        """
        sendRecords writes the given lines as they are, in order, with one
        write, and one Deferred fires after the turn's single fsync.
        """
        writes: list[bytes] = []

        def write(fd: int, data: memoryview) -> int:
            writes.append(bytes(data))
            return os.write(fd, data)

        backend = JsonLinesBackend(self.clock, self.path, writer=write)
        backend.ready()
        records = [{"n": n} for n in range(3)]
        lines = [b'{"n":%d}\n' % n for n in range(3)]
        d = backend.sendRecords(records, lines)
        self.assertEqual(writes, [b"".join(lines)])
        self.assertNoResult(d)
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual(len(self.syncs), 1)
        encodedHere = backend.sendRecords([{"n": 3}])
        self.clock.advance(0)
        self.successResultOf(encodedHere)
        backend.close()
        self.assertEqual(readLines(self.path), [{"n": n} for n in range(4)])

    def test_fsyncFailureFailsTheTurn(self) -> None:
        """
        If the fsync fails, every record waiting for it fails with the
        OSError (the tracker keeps them spooled and sends them again), and
        the next record goes to a freshly opened file.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        backend.ready()

        def broken(fd: int) -> None:
            raise OSError(5, "I/O error")

        patched = self.patch(os, "fsync", broken)
        ds = [backend.sendRecord({"n": n}) for n in range(2)]
        self.clock.advance(0)
        for d in ds:
            self.failureResultOf(d, OSError)
        self.assertFalse(backend.isOpen)
        patched.restore()
        d = backend.sendRecord({"n": 2})
        self.clock.advance(0)
        self.successResultOf(d)
        backend.close()
        self.assertEqual([r["n"] for r in readLines(self.path)], [0, 1, 2])

    def test_writeLinesNow(self) -> None:
        """
        writeLinesNow writes the lines with one write and, under
        fsync=always, one fsync before it returns (no reactor turn); an
        fsync failure raises (the file is reopened for the next), and a
        closed backend raises BackendClosed.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        self.successResultOf(backend.ready())
        backend.writeLinesNow([encodeRecord({"n": 0}), encodeRecord({"n": 1})])
        self.assertEqual(len(self.syncs), 1)
        self.assertEqual([r["n"] for r in readLines(self.path)], [0, 1])

        def broken(fd: int) -> None:
            raise OSError(5, "I/O error")

        patched = self.patch(os, "fsync", broken)
        self.assertRaises(OSError, backend.writeLinesNow, [encodeRecord({"n": 2})])
        self.assertFalse(backend.isOpen)
        patched.restore()
        backend.writeLinesNow([encodeRecord({"n": 3})])
        self.successResultOf(backend.close())
        self.assertRaises(BackendClosed, backend.writeLinesNow, [encodeRecord({"n": 4})])
        self.assertEqual([r["n"] for r in readLines(self.path)], [0, 1, 2, 3])

    def test_closeAndReopenSyncWaiting(self) -> None:
        """
        close() and reopen() fsync the records of the current turn and fire
        their Deferreds before letting go of the file; close leaves no timer.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        backend.ready()
        before = backend.sendRecord({"n": 1})
        backend.reopen()
        self.successResultOf(before)
        self.assertEqual(len(self.syncs), 1)
        after = backend.sendRecord({"n": 2})
        backend.close()
        self.successResultOf(after)
        self.assertEqual(len(self.syncs), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_fsyncNever(self) -> None:
        """
        fsync=never writes (visible to readers) without fsync until close.
        """
        backend = JsonLinesBackend(self.clock, self.path, fsync="never")
        backend.ready()
        backend.sendRecord({"n": 1})
        self.assertEqual(readLines(self.path), [{"n": 1}])
        self.assertEqual(self.syncs, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        backend.close()

    def test_fsyncInterval(self) -> None:
        """
        fsync=interval fsyncs every interval seconds on the clock, only if
        something was written; close stops the timer.
        """
        backend = JsonLinesBackend(self.clock, self.path, fsync="interval", interval=2)
        backend.ready()
        backend.sendRecord({"n": 1})
        backend.sendRecord({"n": 2})
        self.assertEqual(self.syncs, [])
        self.clock.advance(2)
        self.assertEqual(len(self.syncs), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.syncs), 1, "nothing new written")
        backend.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_reopenAfterRotation(self) -> None:
        """
        After logrotate renames the file, reopen() makes new records go to a
        new file at the original path.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        backend.ready()
        backend.sendRecord({"n": 1})
        os.rename(self.path, self.path + ".1")
        backend.sendRecord({"n": 2})
        backend.reopen()
        backend.sendRecord({"n": 3})
        backend.close()
        self.assertEqual(readLines(self.path + ".1"), [{"n": 1}, {"n": 2}])
        self.assertEqual(readLines(self.path), [{"n": 3}])

    def test_closed(self) -> None:
        """
        A closed backend fails records (the tracker keeps them spooled) and
        ignores reopen.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        backend.ready()
        backend.close()
        backend.reopen()
        self.failureResultOf(backend.sendRecord({"n": 1}), BackendClosed)

    def test_unwritable(self) -> None:
        """
        ready() fails with a StartupError naming the file when it cannot be
        opened, sendRecord() with the OSError; a later record succeeds once
        it can.
        """
        blocker = self.mktemp()
        with open(blocker, "w"):
            pass
        path = os.path.join(blocker, "cdr.jsonl")  # a file as directory
        backend = JsonLinesBackend(self.clock, path)
        failure = self.failureResultOf(backend.ready(), StartupError)
        self.assertEqual(
            str(failure.value), f"--accounting: jsonl: path={path}: not a directory"
        )
        self.failureResultOf(backend.sendRecord({"n": 1}), OSError)
        os.remove(blocker)
        os.mkdir(blocker)
        d = backend.sendRecord({"n": 2})
        self.clock.advance(0)
        self.successResultOf(d)
        backend.close()
        self.assertEqual(readLines(path), [{"n": 2}])

    def test_badArguments(self) -> None:
        """
        An unknown fsync policy or a non-positive interval is refused.
        """
        self.assertRaises(ValueError, JsonLinesBackend, self.clock, self.path, fsync="sometimes")
        self.assertRaises(ValueError, JsonLinesBackend, self.clock, self.path, interval=0)
