"""
Tests for L{keepsip.accounting.jsonl}.
"""

from __future__ import annotations

import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.accounting import jsonl as jsonlModule
from keepsip.accounting.jsonl import BackendClosed, JsonLinesBackend
from keepsip.interfaces import IAccountingBackend


def readLines(path: str) -> list[dict]:
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


class JsonLinesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.path = os.path.join(self.mktemp(), "sub", "cdr.jsonl")
        self.syncs: list[int] = []
        realFsync = os.fsync

        def fsync(fd: int) -> None:
            self.syncs.append(fd)
            realFsync(fd)

        self.patch(jsonlModule.os, "fsync", fsync)

    def test_interface(self) -> None:
        """
        JsonLinesBackend provides IAccountingBackend.
        """
        self.assertTrue(verifyObject(IAccountingBackend, JsonLinesBackend(self.clock, self.path)))

    def test_appendsLines(self) -> None:
        """
        Records are appended one JSON object per line, to a file created
        with its directory, after what was there.
        """
        backend = JsonLinesBackend(self.clock, self.path)
        self.successResultOf(backend.ready())
        self.successResultOf(backend.sendRecord({"record_id": "1", "name": "\u00e9"}))
        self.successResultOf(backend.close())
        backend = JsonLinesBackend(self.clock, self.path)
        self.successResultOf(backend.ready())
        self.successResultOf(backend.sendRecord({"record_id": "2"}))
        self.successResultOf(backend.close())
        self.assertEqual(
            readLines(self.path), [{"record_id": "1", "name": "\u00e9"}, {"record_id": "2"}]
        )

    def test_fsyncAlways(self) -> None:
        """
        fsync=always fsyncs each record before acknowledging it.
        """
        backend = JsonLinesBackend(self.clock, self.path, fsync="always")
        backend.ready()
        backend.sendRecord({"n": 1})
        backend.sendRecord({"n": 2})
        self.assertEqual(len(self.syncs), 2)
        backend.close()

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
        ready() and sendRecord() fail with the OSError when the file cannot
        be opened; a later record succeeds once it can.
        """
        blocker = self.mktemp()
        with open(blocker, "w"):
            pass
        path = os.path.join(blocker, "cdr.jsonl")  # a file as directory
        backend = JsonLinesBackend(self.clock, path)
        self.failureResultOf(backend.ready(), OSError)
        self.failureResultOf(backend.sendRecord({"n": 1}), OSError)
        os.remove(blocker)
        self.successResultOf(backend.sendRecord({"n": 2}))
        backend.close()
        self.assertEqual(readLines(path), [{"n": 2}])

    def test_badArguments(self) -> None:
        """
        An unknown fsync policy or a non-positive interval is refused.
        """
        self.assertRaises(ValueError, JsonLinesBackend, self.clock, self.path, fsync="sometimes")
        self.assertRaises(ValueError, JsonLinesBackend, self.clock, self.path, interval=0)
