"""
Tests for L{keepsip.accounting.spool}.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.spool import Spool, encodeRecord, spoolFileKey


def rec(n: int) -> dict:
    return {"record_id": f"r{n}", "type": "stop", "n": n}


class SpoolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = self.mktemp()

    def reopen(self, spool: Spool) -> Spool:
        spool.close()
        again = Spool(self.directory, "backend")
        again.load()
        return again

    def test_appendIsOnDisk(self) -> None:
        """
        An appended record is in the file before C{append} returns.
        """
        spool = Spool(self.directory, "backend")
        self.assertEqual(spool.load(), 0)
        spool.append(rec(1))
        with open(spool.path, "rb") as f:
            self.assertEqual(f.read(), encodeRecord(rec(1)))
        self.assertEqual(spool.head(), rec(1))
        self.assertEqual(len(spool), 1)
        spool.close()

    def test_recoverUnacknowledgedInOrder(self) -> None:
        """
        After a restart the records not acknowledged come back in order, the
        acknowledged ones do not.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        for n in range(5):
            spool.append(rec(n))
        spool.acknowledge()
        spool.acknowledge()
        spool = self.reopen(spool)
        self.assertEqual(len(spool), 3)
        seen = []
        while spool.head() is not None:
            seen.append(spool.head()["n"])
            spool.acknowledge()
        self.assertEqual(seen, [2, 3, 4])
        spool = self.reopen(spool)
        self.assertEqual(len(spool), 0)
        spool.close()

    def test_crashWithoutCheckpointReplays(self) -> None:
        """
        Without close (a crash), acknowledgements since the last checkpoint
        are lost and those records come back: duplicates, never losses.
        """
        spool = Spool(self.directory, "backend")
        spool.checkpointEvery = 2
        spool.load()
        for n in range(5):
            spool.append(rec(n))
        for _ in range(3):
            spool.acknowledge()
        # no close(): simulate a crash
        again = Spool(self.directory, "backend")
        self.assertEqual(again.load(), 3)
        self.assertEqual(again.head()["n"], 2)
        again.close()
        spool.close()

    def test_tornTail(self) -> None:
        """
        A torn last line (crash mid-write) is dropped and the file truncated
        so later appends start on a fresh line.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))
        spool.close()
        with open(spool.path, "ab") as f:
            f.write(b'{"record_id": "r2", "ty')
        again = Spool(self.directory, "backend")
        self.assertEqual(again.load(), 1)
        again.append(rec(3))
        again = self.reopen(again)
        self.assertEqual(len(again), 2)
        again.acknowledge()
        self.assertEqual(again.head(), rec(3))
        again.close()

    def test_unreadableLineSkipped(self) -> None:
        """
        A corrupt line in the middle is skipped; acknowledging the record
        before it also moves past it.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))
        spool.close()
        with open(spool.path, "ab") as f:
            f.write(b"not json\n")
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(2))
        spool = self.reopen(spool)
        self.assertEqual([spool.head()["n"]], [1])
        spool.acknowledge()
        self.assertEqual(spool.head()["n"], 2)
        spool.acknowledge()
        spool = self.reopen(spool)
        self.assertEqual(len(spool), 0)
        spool.close()

    def test_badOffsetReplaysAll(self) -> None:
        """
        An offset file that does not match the spool (beyond its end or not
        on a line boundary) replays everything rather than skip records.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))
        spool.append(rec(2))
        spool.close()
        for offset in [b"3\n", b"999999\n", b"garbage"]:
            with open(spool.ackPath, "wb") as f:
                f.write(offset)
            again = Spool(self.directory, "backend")
            self.assertEqual(again.load(), 2, offset)
            again._file.close()

    def test_compactWhenDrained(self) -> None:
        """
        A drained spool larger than C{compactSize} is truncated and its
        offset file removed.
        """
        spool = Spool(self.directory, "backend")
        spool.compactSize = 100
        spool.load()
        for n in range(5):
            spool.append(rec(n))
        for _ in range(4):
            spool.acknowledge()
        self.assertGreater(os.path.getsize(spool.path), 100)
        spool.acknowledge()
        self.assertEqual(os.path.getsize(spool.path), 0)
        self.assertFalse(os.path.exists(spool.ackPath))
        spool.append(rec(9))
        spool = self.reopen(spool)
        self.assertEqual(spool.head(), rec(9))
        spool.close()

    def test_smallDrainedSpoolCheckpoints(self) -> None:
        """
        A drained small spool is not truncated but its offset is recorded.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))
        spool.acknowledge()
        with open(spool.ackPath, "rb") as f:
            self.assertEqual(int(f.read()), os.path.getsize(spool.path))
        spool.close()

    def test_keyIsSafe(self) -> None:
        """
        Backend keys become safe file names.
        """
        self.assertEqual(spoolFileKey("../x y"), ".._x_y")
        spool = Spool(self.directory, "a/b")
        self.assertEqual(os.path.dirname(spool.path), self.directory)
