"""
Tests for L{keepsip.accounting.spool}.
"""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting import spool as spoolModule
from keepsip.accounting.spool import Spool, encodeRecord, spoolFileKey


def rec(n: int) -> dict:
    return {"record_id": f"r{n}", "type": "stop", "n": n}



def savedOffset(spool: Spool) -> int:
    """
    The acknowledged offset as the spool's offset file holds it.
    """
    with open(spool.ackPath, "rb") as f:
        return int(f.read().strip())

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

    def test_lineOnlyRecords(self) -> None:
        """
        A record appended as its line alone is on disk as that line;
        L{Spool.peek} gives it as C{(None, line)} and L{Spool.head} decodes
        it to the record the line holds.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.appendMany([(None, encodeRecord(rec(1))), (rec(2), encodeRecord(rec(2)))])
        with open(spool.path, "rb") as f:
            self.assertEqual(f.read(), encodeRecord(rec(1)) + encodeRecord(rec(2)))
        self.assertEqual(
            spool.peek(2), [(None, encodeRecord(rec(1))), (rec(2), encodeRecord(rec(2)))]
        )
        self.assertEqual(spool.head(), rec(1))
        spool.acknowledge()
        self.assertEqual(spool.head(), rec(2))
        spool.hold(None, encodeRecord(rec(3)))
        spool.acknowledge()
        self.assertEqual(spool.head(), rec(3))
        self.assertRaises(ValueError, spool.hold, None)
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
            again.close()

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

    def test_drainedSpoolCheckpointsLater(self) -> None:
        """
        Acknowledging (even draining) a small spool does not rewrite the
        offset file each time: it is written on close. (Until group commit,
        every drain rewrote it at once.)
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))
        spool.acknowledge()
        self.assertFalse(os.path.exists(spool.ackPath))
        self.assertEqual(spool.checkpoints, 0)
        spool.close()
        with open(spool.ackPath, "rb") as f:
            self.assertEqual(int(f.read()), os.path.getsize(spool.path))

    def test_checkpointEveryN(self) -> None:
        """
        Without a clock the offset file is written once per
        C{checkpointEvery} acknowledgements, not per acknowledgement.
        """
        spool = Spool(self.directory, "backend")
        spool.checkpointEvery = 3
        spool.load()
        spool.appendMany([(rec(n), encodeRecord(rec(n))) for n in range(7)])
        replaces = []
        realReplace = os.replace
        self.patch(spoolModule.os, "replace", lambda a, b: (replaces.append(b), realReplace(a, b)))
        for _ in range(7):
            spool.acknowledge()
        self.assertEqual(replaces, [spool.ackPath, spool.ackPath])
        self.assertEqual(savedOffset(spool), 6 * len(encodeRecord(rec(0))))
        spool.close()

    def test_checkpointAfterInterval(self) -> None:
        """
        With a clock, an acknowledgement writes the offset file once
        C{checkpointInterval} seconds passed since the last write, even if
        fewer than C{checkpointEvery} are unsaved; and not before.
        """
        clock = Clock()
        spool = Spool(self.directory, "backend", clock)
        spool.checkpointInterval = 2.0
        spool.load()
        for n in range(3):
            spool.append(rec(n))
        spool.acknowledge()
        clock.advance(1.9)
        spool.acknowledge()
        self.assertEqual(spool.checkpoints, 0)
        clock.advance(0.1)
        spool.acknowledge()
        self.assertEqual(spool.checkpoints, 1)
        self.assertEqual(savedOffset(spool), os.path.getsize(spool.path))
        self.assertEqual(clock.getDelayedCalls(), [], "no timer of its own")
        spool.close()

    def test_appendManyOneWriteOneFsync(self) -> None:
        """
        appendMany puts a batch on disk with one write and one fsync, in
        order, before returning.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        syncs = []
        realFsync = os.fsync
        self.patch(spoolModule.os, "fsync", lambda fd: (syncs.append(fd), realFsync(fd)))
        lines = [encodeRecord(rec(n)) for n in range(10)]
        spool.appendMany(zip([rec(n) for n in range(10)], lines))
        self.assertEqual(len(syncs), 1)
        with open(spool.path, "rb") as f:
            self.assertEqual(f.read(), b"".join(lines))
        self.assertEqual(spool.peek(3), [(rec(n), lines[n]) for n in range(3)])
        self.assertEqual(len(spool.peek(50)), 10)
        spool.close()

    def test_appendManyFailureAddsNothing(self) -> None:
        """
        A batch whose fsync fails is not added and is cut from the file
        again (the caller holds it in memory instead), so the file holds
        exactly the records the spool counts: later appends go on at the end
        and a restart replays those.
        """
        spool = Spool(self.directory, "backend")
        spool.load()
        spool.append(rec(1))

        def broken(fd: int) -> None:
            raise OSError(28, "No space left on device")

        patched = self.patch(spoolModule.os, "fsync", broken)
        self.assertRaises(OSError, spool.appendMany, [(rec(2), encodeRecord(rec(2)))])
        self.assertEqual(len(spool), 1)
        patched.restore()
        spool.append(rec(3))
        self.assertEqual([spool.head()], [rec(1)])
        spool.close()
        again = Spool(self.directory, "backend")
        self.assertEqual(again.load(), 2)
        self.assertEqual([r["n"] for r, _ in again.peek(3)], [1, 3])
        again.close()

    def test_compactWhileNeverDrained(self) -> None:
        """
        A spool that never drains (a record always in flight) is rewritten
        with only its unacknowledged records once enough is acknowledged,
        so the file stays bounded; a restart finds exactly those records.
        """
        spool = Spool(self.directory, "backend")
        spool.compactSize = 200
        spool.load()
        spool.append(rec(0))
        sizes = []
        for n in range(1, 60):
            spool.append(rec(n))
            spool.acknowledge()
            sizes.append(os.path.getsize(spool.path))
        self.assertGreater(spool.compactions, 3)
        self.assertLess(max(sizes), 2 * 200 + 2 * len(encodeRecord(rec(59))))
        self.assertEqual(spool.head(), rec(59))
        # crash: no close; what was acknowledged since the last offset write
        # comes back too, nothing is missing
        again = Spool(self.directory, "backend")
        recovered = again.load()
        seen = [record["n"] for record, _ in again.peek(recovered)]
        self.assertEqual(seen, list(range(60 - recovered, 60)))
        self.assertLessEqual(recovered, spool.checkpointEvery)
        again.close()
        spool.close()

    def test_failedRewriteLosesNothing(self) -> None:
        """
        If the rewrite fails after the offset file was removed, the old
        spool file stays and a restart replays all of it: duplicates, never
        a loss.
        """
        spool = Spool(self.directory, "backend")
        spool.compactSize = 100
        spool.load()
        for n in range(12):
            spool.append(rec(n))
        spool.checkpointEvery = 5
        for _ in range(5):
            spool.acknowledge()
        self.assertTrue(os.path.exists(spool.ackPath))

        attempts = []

        def broken(a: str, b: str) -> None:
            attempts.append(b)
            raise OSError(5, "I/O error")

        patched = self.patch(spoolModule.os, "replace", broken)
        for _ in range(6):
            spool.acknowledge()
        self.assertIn(spool.path, attempts, "a rewrite was attempted")
        self.assertEqual(spool.compactions, 0)
        patched.restore()
        again = Spool(self.directory, "backend")
        recovered = again.load()
        seen = [again.peek(recovered)[i][0]["n"] for i in range(recovered)]
        self.assertIn(11, seen)
        self.assertEqual(seen, list(range(seen[0], 12)))
        again.close()
        spool.close()

    def test_keyIsSafe(self) -> None:
        """
        Backend keys become safe file names.
        """
        self.assertEqual(spoolFileKey("../x y"), ".._x_y")
        spool = Spool(self.directory, "a/b")
        self.assertEqual(os.path.dirname(spool.path), self.directory)
