"""
Tests for L{keepsip.accounting.tracker}: records from dialog events, fan-out
to backends, spooling while a backend is down, replay in order, across a
restart.
"""

from __future__ import annotations

import json
import os
import signal

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.accounting import spool as spoolModule
from keepsip.accounting.jsonl import JsonLinesBackend
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.tracker import AccountingTracker
from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.interfaces import IAccountingBackend, IDialogObserver
from keepsip.testing import BackendUnavailable, RecordingBackend

PCMU = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"


class BatchingBackend(RecordingBackend):
    """
    A RecordingBackend that also takes batches (C{sendRecords}).

    @ivar batches: the C{(records, lines)} of each C{sendRecords} call.
    """

    def __init__(self) -> None:
        RecordingBackend.__init__(self)
        self.batches: list[tuple[list, list]] = []

    def sendRecords(self, records: list, lines: list):  # type: ignore[no-untyped-def]
        self.batches.append((list(records), list(lines)))
        self.attempts.extend(records)
        if self.failing:
            return fail(BackendUnavailable("batch refused"))
        self.records.extend(records)
        return succeed(None)


class ReopenableBackend(RecordingBackend):
    def __init__(self) -> None:
        RecordingBackend.__init__(self)
        self.reopened = 0

    def reopen(self) -> None:
        self.reopened += 1


class TrackerTestsMixin:
    def setUp(self) -> None:
        self.clock = Clock()
        self.spoolDir = self.mktemp()
        self.calls = 0

    def makeTracker(self, backends: list, clock: Clock | None = None, **kw) -> AccountingTracker:
        tracker = AccountingTracker(
            [(f"b{i}", backend) for i, backend in enumerate(backends)],
            clock or self.clock,
            self.spoolDir,
            **kw,
        )
        tracker.installSignalHandler = lambda *a, **k: False
        return tracker

    def newDialog(self) -> Dialog:
        self.calls += 1
        return Dialog(
            callID=f"call-{self.calls}",
            caller=Leg("sip:alice@example.com", tag="a"),
            callee=Leg("sip:bob@example.com"),
            requestURI="sip:4420@example.com",
            invitedAt=self.clock.seconds(),
            lastOfferSDP=PCMU,
        )

    def turn(self) -> None:
        """
        End the current reactor turn: the tracker spools (group commit) and
        sends the records made in it.
        """
        self.clock.advance(0)

    def answer(self, tracker: AccountingTracker, dialog: Dialog) -> None:
        dialog.callee.tag = "b"
        dialog.state = DialogState.CONFIRMED
        dialog.answeredAt = self.clock.seconds()
        dialog.lastAnswerSDP = PCMU
        tracker.dialogConfirmed(dialog)
        self.turn()

    def end(
        self, tracker: AccountingTracker, dialog: Dialog, cause: str = EndCause.CALLER_BYE
    ) -> None:
        dialog.state = DialogState.TERMINATED
        dialog.endedAt = self.clock.seconds()
        dialog.endCause = cause
        tracker.dialogTerminated(dialog, cause, {"caller": "BYE"})
        self.turn()

    def call(self, tracker: AccountingTracker, seconds: float = 10, ring: float = 1) -> Dialog:
        """
        One answered call ringing C{ring} and lasting C{seconds} (advancing
        the clock by both): a start and a stop record.
        """
        dialog = self.newDialog()
        tracker.dialogCreated(dialog)
        self.clock.advance(ring)
        self.answer(tracker, dialog)
        self.clock.advance(seconds)
        self.end(tracker, dialog)
        return dialog

    def stop(self, tracker: AccountingTracker) -> None:
        d = tracker.stopService()
        self.clock.advance(tracker.stopTimeout)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class RecordTests(TrackerTestsMixin, SynchronousTestCase):
    def test_interfaces(self) -> None:
        """
        The tracker is an IDialogObserver; RecordingBackend an
        IAccountingBackend.
        """
        backend = RecordingBackend()
        self.assertTrue(verifyObject(IDialogObserver, self.makeTracker([backend])))
        self.assertTrue(verifyObject(IAccountingBackend, backend))

    def test_answeredCall(self) -> None:
        """
        An answered call makes a start on answer and a stop on end, nothing
        on creation or early.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        dialog = self.newDialog()
        tracker.dialogCreated(dialog)
        tracker.dialogEarly(dialog)
        self.assertEqual(backend.records, [])
        self.answer(tracker, dialog)
        self.assertEqual([r["type"] for r in backend.records], ["start"])
        self.clock.advance(42)
        self.end(tracker, dialog)
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"])
        self.assertEqual(backend.records[1]["duration_ms"], 42000)
        self.assertEqual(backend.records[1]["end_cause"], "caller-bye")
        self.stop(tracker)
        self.assertTrue(backend.closed)

    def test_confirmedTwice(self) -> None:
        """
        A second dialogConfirmed for the same call makes no second start.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        dialog = self.newDialog()
        self.answer(tracker, dialog)
        tracker.dialogConfirmed(dialog)
        self.assertEqual([r["type"] for r in backend.records], ["start"])
        self.stop(tracker)

    def test_unansweredAttempts(self) -> None:
        """
        Rejected, cancelled and timed-out attempts make a stop record and no
        start, each with its cause and no charge.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker(
            [backend], tariffs=Tariffs.fromConfig({"default": {"fixed": "1"}})
        )
        tracker.startService()
        for cause in (EndCause.REJECTED, EndCause.CANCELLED, EndCause.NO_ANSWER):
            dialog = self.newDialog()
            tracker.dialogCreated(dialog)
            self.clock.advance(3)
            self.end(tracker, dialog, cause)
        self.assertEqual([r["type"] for r in backend.records], ["stop"] * 3)
        self.assertEqual(
            [r["end_cause"] for r in backend.records], ["rejected", "cancelled", "no-answer"]
        )
        self.assertEqual({r["charge"]["total"] for r in backend.records}, {"0.00"})
        self.stop(tracker)

    def test_interimOnKeepalive(self) -> None:
        """
        Each keepalive of an answered call makes an interim record numbered
        1, 2, ...; keepalives before the answer make none.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        dialog = self.newDialog()
        tracker.dialogKeptAlive(dialog)
        self.answer(tracker, dialog)
        for _ in range(2):
            self.clock.advance(30)
            tracker.dialogKeptAlive(dialog)
        self.end(tracker, dialog)
        self.assertEqual(
            [(r["type"], r["sequence"]) for r in backend.records],
            [("start", 0), ("interim", 1), ("interim", 2), ("stop", 0)],
        )
        self.assertEqual(backend.records[2]["duration_ms"], 60000)
        self.assertEqual(len(set(backend.recordIDs)), 4)
        self.stop(tracker)

    def test_interimOnKeepaliveDisabled(self) -> None:
        """
        With interimOnKeepalive off, keepalives make no records.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend], interimOnKeepalive=False)
        tracker.startService()
        dialog = self.newDialog()
        self.answer(tracker, dialog)
        tracker.dialogKeptAlive(dialog)
        self.assertEqual([r["type"] for r in backend.records], ["start"])
        self.stop(tracker)

    def test_periodicInterim(self) -> None:
        """
        With interimInterval, an interim record comes every interval on the
        clock until the call ends; the timer is cancelled at the end.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend], interimInterval=60, interimOnKeepalive=False)
        tracker.startService()
        dialog = self.newDialog()
        self.answer(tracker, dialog)
        self.clock.pump([30] * 5)
        self.end(tracker, dialog)
        self.assertEqual(
            [(r["type"], r["duration_ms"]) for r in backend.records],
            [("start", 0), ("interim", 60000), ("interim", 120000), ("stop", 150000)],
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.stop(tracker)

    def test_periodicInterimCancelledOnStop(self) -> None:
        """
        stopService cancels the interim timers of calls still up.
        """
        tracker = self.makeTracker([RecordingBackend()], interimInterval=60)
        tracker.startService()
        self.answer(tracker, self.newDialog())
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.stop(tracker)

    def test_mediaChange(self) -> None:
        """
        dialogUpdated with new media changes the volume estimate from then
        on.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        dialog = self.newDialog()
        self.answer(tracker, dialog)
        self.clock.advance(10)
        dialog.lastOfferSDP = dialog.lastAnswerSDP = PCMU + b"a=inactive\r\n"
        tracker.dialogUpdated(dialog)
        self.clock.advance(10)
        self.end(tracker, dialog)
        # 10 s of PCMU both ways, then 10 s on hold (inactive)
        self.assertEqual(backend.records[-1]["volume_bytes"], 200000)
        self.stop(tracker)

    def test_observerNeverRaises(self) -> None:
        """
        A dialog the builder chokes on is logged; the observer method
        returns normally and other calls still produce records.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        broken = self.newDialog()
        broken.invitedAt = "not a time"  # type: ignore[assignment]
        tracker.dialogTerminated(broken, EndCause.ERROR, {})
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.call(tracker)
        self.assertEqual(len(backend.records), 2)
        self.stop(tracker)


class FanOutTests(TrackerTestsMixin, SynchronousTestCase):
    def test_everyBackendGetsEveryRecord(self) -> None:
        """
        All backends receive every record, in the same order.
        """
        backends = [RecordingBackend(), RecordingBackend(), RecordingBackend()]
        tracker = self.makeTracker(backends)
        tracker.startService()
        for _ in range(3):
            self.call(tracker)
        ids = backends[0].recordIDs
        self.assertEqual(len(ids), 6)
        for backend in backends[1:]:
            self.assertEqual(backend.recordIDs, ids)
        self.stop(tracker)

    def test_duplicateKey(self) -> None:
        """
        Two backends with one key (one spool) are refused.
        """
        with self.assertRaises(ValueError):
            AccountingTracker(
                [("k", RecordingBackend()), ("k", RecordingBackend())], self.clock, self.spoolDir
            )

    def test_recordsBeforeStart(self) -> None:
        """
        Records made before startService are delivered after it, after any
        records recovered from the spool.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        self.call(tracker)
        self.assertEqual(backend.records, [])
        tracker.startService()
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"])
        self.stop(tracker)

    def test_oneInFlightInOrder(self) -> None:
        """
        A backend has one record in flight at a time; the next is sent when
        the previous is acknowledged.
        """
        backend = RecordingBackend()
        backend.holding = True
        tracker = self.makeTracker([backend])
        tracker.startService()
        self.call(tracker)
        self.assertEqual(len(backend.held), 1)
        self.assertEqual(backend.held[0][0]["type"], "start")
        backend.release()
        self.assertEqual(len(backend.held), 1)
        self.assertEqual(backend.held[0][0]["type"], "stop")
        backend.release()
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"])
        self.assertEqual(tracker.backlog(), {"b0": 0})
        self.stop(tracker)


class FailureTests(TrackerTestsMixin, SynchronousTestCase):
    def test_downBackendDoesNotBlockOthers(self) -> None:
        """
        While one backend fails, the others get records at once and the
        failing one's records wait in its spool.
        """
        down, up = RecordingBackend(), RecordingBackend()
        down.fail()
        tracker = self.makeTracker([down, up])
        tracker.startService()
        for _ in range(3):
            self.call(tracker)
        self.assertEqual(len(up.records), 6)
        self.assertEqual(down.records, [])
        self.assertEqual(tracker.backlog(), {"b0": 6, "b1": 0})
        self.stop(tracker)
        self.flushLoggedErrors()

    def test_fastPathFailureLoggedOnceAndCounted(self) -> None:
        """
        If the fast record line raises (a bug), the record is still made
        the slow way and delivered, the fault is logged with its traceback
        the first time only, and every occurrence is counted.
        """
        from keepsip.accounting import tracker as trackerModule

        def broken(*args: object, **kwargs: object) -> bytes:
            raise KeyError("key")

        self.patch(trackerModule, "recordLine", broken)
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        self.call(tracker)
        self.call(tracker)
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"] * 2)
        self.assertEqual(tracker.fastPathFailures, 4)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.stop(tracker)

    def test_replayInOrderAfterRecovery(self) -> None:
        """
        Records queue behind the failed one; retries back off (1, 2, 4 s);
        after recovery all arrive once, in the original order.
        """
        backend, reference = RecordingBackend(), RecordingBackend()
        backend.fail()
        tracker = self.makeTracker([backend, reference], retryInitial=1, retryMax=4)
        tracker.startService()
        self.call(tracker, seconds=0, ring=0)
        attempts = len(backend.attempts)
        self.assertEqual(attempts, 1, "records behind a failed one are not tried")
        # backoff: retries at +1, then +2, then +4, +4
        self.clock.advance(0.9)
        self.assertEqual(len(backend.attempts), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(backend.attempts), 2)
        self.clock.advance(2)
        self.assertEqual(len(backend.attempts), 3)
        self.clock.advance(4)
        self.assertEqual(len(backend.attempts), 4)
        self.clock.advance(4)
        self.assertEqual(len(backend.attempts), 5)
        self.call(tracker, seconds=0, ring=0)
        self.assertEqual(len(backend.attempts), 5, "new records wait behind the spool")
        backend.recover()
        self.clock.advance(4)
        self.assertEqual(backend.recordIDs, reference.recordIDs)
        self.assertEqual(len(backend.recordIDs), 4)
        self.assertEqual(tracker.backlog()["b0"], 0)
        # backoff reset after success: a new failure retries after 1 s again
        backend.fail()
        self.call(tracker, seconds=0, ring=0)
        backend.recover()
        self.clock.advance(1)
        self.assertEqual(backend.recordIDs, reference.recordIDs)
        self.stop(tracker)

    def test_timeoutCountsAsFailure(self) -> None:
        """
        A send that never answers times out after sendTimeout and is retried;
        the late answer of the first attempt is ignored.
        """
        backend = RecordingBackend()
        backend.holding = True
        tracker = self.makeTracker([backend], sendTimeout=5, retryInitial=1)
        tracker.startService()
        self.call(tracker, seconds=0, ring=0)
        self.assertEqual(len(backend.held), 1)
        self.clock.advance(5)
        deliveries = tracker.deliveries[0]
        self.assertEqual(deliveries.failures, 1)
        self.assertTrue(backend.held[0][1].called, "the timed-out send was cancelled")
        self.flushLoggedErrors()
        backend.holding = False
        self.clock.advance(1)
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"])
        self.stop(tracker)

    def test_readyFailsStillDelivers(self) -> None:
        """
        A backend whose ready() fails is logged and still sent records.
        """
        backend = RecordingBackend()
        backend.readyResult = RuntimeError("no connection yet")
        tracker = self.makeTracker([backend])
        tracker.startService()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.call(tracker)
        self.assertEqual(len(backend.records), 2)
        self.stop(tracker)

    def test_stopIsBounded(self) -> None:
        """
        stopService waits at most stopTimeout for a record in flight, then
        closes the backend; the record stays spooled for next time.
        """
        backend = RecordingBackend()
        backend.holding = True
        tracker = self.makeTracker([backend], stopTimeout=2, sendTimeout=0)
        tracker.startService()
        self.call(tracker)
        d = tracker.stopService()
        self.assertNoResult(d)
        self.clock.advance(2)
        self.successResultOf(d)
        self.assertTrue(backend.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again = RecordingBackend()
        tracker2 = self.makeTracker([again])
        tracker2.startService()
        self.assertEqual([r["type"] for r in again.records], ["start", "stop"])
        self.stop(tracker2)


class RestartTests(TrackerTestsMixin, SynchronousTestCase):
    def test_replayAfterRestart(self) -> None:
        """
        Records spooled while a backend was down are replayed, in order, by a
        new tracker reading the same spool directory; new records follow
        them; nothing is lost or duplicated.
        """
        down, reference = RecordingBackend(), RecordingBackend()
        down.fail()
        first = self.makeTracker([down, reference])
        first.startService()
        for _ in range(3):
            self.call(first)
        self.stop(first)
        self.flushLoggedErrors()

        backend, reference2 = RecordingBackend(), RecordingBackend()
        second = self.makeTracker([backend, reference2])
        second.startService()
        self.assertEqual(backend.recordIDs, reference.recordIDs)
        self.assertEqual(reference2.records, [])
        self.call(second)
        self.assertEqual(backend.recordIDs, reference.recordIDs + reference2.recordIDs)
        self.stop(second)

        third = RecordingBackend()
        tracker3 = self.makeTracker([third])
        tracker3.startService()
        self.assertEqual(third.records, [], "acknowledged records are not replayed")
        self.stop(tracker3)

    def test_crashReplaysWithoutLoss(self) -> None:
        """
        After a crash (no stopService) with a record in flight and
        acknowledgements not yet checkpointed, the next tracker delivers
        every record at least once; deduplicating by record_id downstream
        gives each record exactly once and in order.
        """
        backend, reference = RecordingBackend(), RecordingBackend()
        # The first tracker's clock is its own, so its timers die with it;
        # each call ends with the end of a reactor turn on that clock.
        firstClock = Clock()
        first = self.makeTracker([backend, reference], clock=firstClock)
        first.startService()
        self.call(first)
        firstClock.advance(0)
        self.call(first)
        firstClock.advance(0)
        backend.holding = True
        self.call(first)
        firstClock.advance(0)
        emitted = reference.recordIDs
        self.assertEqual(len(backend.records), 4)
        self.assertEqual(len(backend.held), 1)
        # crash: the tracker is simply dropped, and the offset file (written
        # now and then, without fsync) did not make it to disk, if it was
        # written at all
        if os.path.exists(first.deliveries[0].spool.ackPath):
            os.remove(first.deliveries[0].spool.ackPath)
        downstream = {r["record_id"]: r for r in backend.records}

        after = RecordingBackend()
        second = self.makeTracker([after])
        second.startService()
        self.stop(second)
        for record in after.records:
            downstream.setdefault(record["record_id"], record)
        self.assertEqual(len(emitted), 6)
        self.assertEqual(len(after.records), 6, "everything replayed, 4 as duplicates")
        self.assertEqual(set(downstream), set(emitted))
        # in order: the replay's own order matches emission order
        replayedIDs = after.recordIDs
        self.assertEqual(replayedIDs, [i for i in emitted if i in replayedIDs])
        for delivery in first.deliveries:
            delivery.spool.close()


class GroupCommitTests(TrackerTestsMixin, SynchronousTestCase):
    def countFsyncs(self, atSync: object = None) -> list[int]:
        """
        Count every C{os.fsync} (spools and jsonl share the C{os} module);
        call C{atSync()} before each.
        """
        syncs: list[int] = []
        realFsync = os.fsync

        def fsync(fd: int) -> None:
            if callable(atSync):
                atSync()
            syncs.append(fd)
            realFsync(fd)

        self.patch(spoolModule.os, "fsync", fsync)
        return syncs

    def endCalls(self, tracker: AccountingTracker, count: int) -> list[Dialog]:
        """
        End C{count} unanswered calls within one reactor turn (as a reaper
        tick does): C{count} stop records.
        """
        dialogs = [self.newDialog() for _ in range(count)]
        for dialog in dialogs:
            dialog.state = DialogState.TERMINATED
            dialog.endedAt = self.clock.seconds()
            tracker.dialogTerminated(dialog, EndCause.NO_ANSWER, {})
        return dialogs

    def test_oneFsyncPerTurn(self) -> None:
        """
        N records made in one reactor turn are spooled with one fsync per
        backend at the end of the turn, and not sent before; then all are
        delivered in order. A later turn's records get their own fsync.
        """
        backends = [RecordingBackend(), RecordingBackend()]
        tracker = self.makeTracker(backends)
        tracker.startService()
        syncs = self.countFsyncs()
        dialogs = self.endCalls(tracker, 25)
        self.assertEqual(syncs, [])
        self.assertEqual(backends[0].attempts, [])
        self.turn()
        self.assertEqual(len(syncs), 2, "one fsync per backend's spool")
        self.assertEqual(len(set(syncs)), 2)
        for backend in backends:
            self.assertEqual([r["call_id"] for r in backend.records], [d.callID for d in dialogs])
        self.endCalls(tracker, 3)
        self.turn()
        self.assertEqual(len(syncs), 4)
        self.stop(tracker)

    def test_sentOnlyAfterSpoolFsync(self) -> None:
        """
        No record of a batch reaches the backend before the spool's fsync
        covering it has happened.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        seenAtSync: list[int] = []
        self.countFsyncs(lambda: seenAtSync.append(len(backend.attempts)))
        self.endCalls(tracker, 4)
        self.turn()
        self.assertEqual(seenAtSync, [0])
        self.assertEqual(len(backend.records), 4)
        self.stop(tracker)

    def test_jsonlBatchOneFsyncEach(self) -> None:
        """
        With the jsonl backend (fsync=always), a turn's N records cost one
        fsync in all: the jsonl file takes the whole batch with one write
        and one fsync before the commit returns, so the spool is not
        written; all are in the file, in order.
        """
        path = os.path.join(self.mktemp(), "cdr.jsonl")
        os.makedirs(os.path.dirname(path))
        backend = JsonLinesBackend(self.clock, path)
        tracker = self.makeTracker([backend])
        tracker.startService()
        syncs = self.countFsyncs()
        dialogs = self.endCalls(tracker, 30)
        self.turn()
        self.assertEqual(len(syncs), 1)
        self.assertEqual(tracker.backlog(), {"b0": 0})
        with open(path, "rb") as f:
            data = f.read()
        spoolPath = tracker.deliveries[0].spool.path
        if os.path.exists(spoolPath):
            with open(spoolPath, "rb") as f:
                self.assertEqual(f.read(), b"")
        self.assertEqual(
            [json.loads(line)["call_id"] for line in data.splitlines()],
            [d.callID for d in dialogs],
        )
        self.stop(tracker)

    def test_batchesToSendRecords(self) -> None:
        """
        A backend with sendRecords gets the spooled records in batches of
        at most batchSize, with their spooled lines; a failed batch is sent
        again whole, after the retry delay.
        """
        backend = BatchingBackend()
        tracker = self.makeTracker([backend], batchSize=10, retryInitial=1)
        tracker.startService()
        self.endCalls(tracker, 25)
        self.turn()
        self.assertEqual([len(records) for records, _ in backend.batches], [10, 10, 5])
        with open(tracker.deliveries[0].spool.path, "rb") as f:
            self.assertEqual(f.read(), b"".join(b"".join(lines) for _, lines in backend.batches))
        backend.fail()
        self.endCalls(tracker, 2)
        self.turn()
        backend.recover()
        self.clock.advance(1)
        self.assertEqual([len(records) for records, _ in backend.batches], [10, 10, 5, 2, 2])
        self.assertEqual(backend.batches[-1], backend.batches[-2])
        self.assertEqual(len(backend.records), 27)
        self.assertEqual(tracker.backlog(), {"b0": 0})
        self.stop(tracker)
        self.flushLoggedErrors()

    def test_commitDelayWindow(self) -> None:
        """
        With commitDelay, the records of several turns inside the window
        share one fsync, spooled when the window ends.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend], commitDelay=0.01)
        tracker.startService()
        syncs = self.countFsyncs()
        for _ in range(4):
            self.endCalls(tracker, 1)
            self.clock.advance(0.002)
        self.assertEqual((syncs, backend.records), ([], []))
        self.clock.advance(0.002)
        self.assertEqual(len(syncs), 1)
        self.assertEqual(len(backend.records), 4)
        self.stop(tracker)

    def test_stopCommits(self) -> None:
        """
        stopService spools and sends the records of the current turn; no
        timer is left.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend], commitDelay=5)
        tracker.startService()
        self.endCalls(tracker, 3)
        self.stop(tracker)
        self.assertEqual(len(backend.records), 3)

    def test_crashAfterAcksBeforeOffsetWrite(self) -> None:
        """
        A crash after the backend acknowledged records but before the spool
        wrote its offset: a new tracker over the same spool directory
        replays them all; none is lost, duplicates have the same ids.
        """
        firstClock = Clock()
        backend = RecordingBackend()
        first = self.makeTracker([backend], clock=firstClock)
        first.startService()
        for _ in range(10):
            self.endCalls(first, 3)
            firstClock.advance(0)
        spool = first.deliveries[0].spool
        self.assertEqual(len(backend.records), 30)
        self.assertEqual(len(spool), 0, "all acknowledged")
        self.assertEqual(spool.checkpoints, 0, "offset not written yet")
        self.assertFalse(os.path.exists(spool.ackPath))
        # crash: the tracker is dropped without stopService

        after = RecordingBackend()
        second = self.makeTracker([after])
        second.startService()
        self.assertEqual(after.recordIDs, backend.recordIDs)
        self.stop(second)
        third = RecordingBackend()
        tracker3 = self.makeTracker([third])
        tracker3.startService()
        self.assertEqual(third.records, [], "the replay was acknowledged and saved on stop")
        self.stop(tracker3)
        spool.close()

    def test_offsetWrittenNowAndThen(self) -> None:
        """
        Under steady traffic the offset file is written once per
        checkpointEvery acknowledgements (or checkpointInterval seconds), not
        per acknowledgement or per drained batch.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()
        spool = tracker.deliveries[0].spool
        spool.checkpointEvery = 20
        for _ in range(50):
            self.endCalls(tracker, 2)
            self.clock.advance(0.01)
        self.assertEqual(len(backend.records), 100)
        self.assertEqual(spool.checkpoints, 5)
        self.stop(tracker)

    def test_spoolFailureStillDelivers(self) -> None:
        """
        If the spool cannot be written (disk full), the batch is still
        delivered to a live backend from memory; the failure is counted, not
        logged as a traceback.
        """
        backend = RecordingBackend()
        tracker = self.makeTracker([backend])
        tracker.startService()

        def broken(fd: int) -> None:
            raise OSError(28, "No space left on device")

        self.patch(spoolModule.os, "fsync", broken)
        self.endCalls(tracker, 3)
        self.turn()
        self.assertEqual(self.flushLoggedErrors(OSError), [])
        self.assertEqual(tracker.deliveries[0].spoolErrors, 1)
        self.assertEqual(len(backend.records), 3)
        self.stop(tracker)


class SignalTests(TrackerTestsMixin, SynchronousTestCase):
    def test_sighupReopens(self) -> None:
        """
        On the main thread, startService installs a SIGHUP handler that
        reopens backends through callFromThread; stopService restores the
        previous handler.
        """
        backend = ReopenableBackend()
        tracker = AccountingTracker([("b", backend)], self.clock, self.spoolDir)
        installed: dict = {}

        class FakeSignal:
            SIGHUP = signal.SIGHUP

            @staticmethod
            def signal(signum, handler):
                previous = installed.get(signum, "previous")
                installed[signum] = handler
                return previous

        queued = []
        self.clock.callFromThread = lambda f, *a: queued.append((f, a))  # type: ignore[attr-defined]
        self.assertTrue(tracker.installSignalHandler(FakeSignal, lambda: True))
        installed[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(backend.reopened, 0, "not reopened inside the signal handler")
        f, a = queued.pop()
        f(*a)
        self.assertEqual(backend.reopened, 1)
        tracker.uninstallSignalHandler()
        self.assertEqual(installed[signal.SIGHUP], "previous")

    def test_notOnMainThread(self) -> None:
        """
        Off the main thread, or with no backend that reopens, no handler is
        installed.
        """
        tracker = AccountingTracker([("b", ReopenableBackend())], self.clock, self.spoolDir)
        self.assertFalse(tracker.installSignalHandler(signal, lambda: False))
        plain = AccountingTracker([("b", RecordingBackend())], self.clock, self.spoolDir)
        self.assertFalse(plain.installSignalHandler(signal, lambda: True))

    def test_realStartService(self) -> None:
        """
        startService on the main thread really installs the handler and
        stopService puts the old one back.
        """
        before = signal.getsignal(signal.SIGHUP)
        backend = ReopenableBackend()
        tracker = AccountingTracker([("b", backend)], self.clock, self.spoolDir)
        tracker.startService()
        handler = signal.getsignal(signal.SIGHUP)
        self.assertNotEqual(handler, before)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        self.assertEqual(backend.reopened, 1, "the tracker's handler reopens its backends")
        self.stop(tracker)
        self.assertEqual(signal.getsignal(signal.SIGHUP), before)
