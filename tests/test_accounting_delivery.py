"""
Tests for L{keepsip.accounting.delivery}: one backend's delivery on its own,
without a tracker (the tracker's tests drive it through dialog events too).
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.delivery import BackendDelivery
from keepsip.accounting.spool import Spool, encodeRecord
from keepsip.testing import RecordingBackend, callRecords


class BackendDeliveryTests(SynchronousTestCase):
    """
    L{BackendDelivery}: spool first, then send in order, one at a time,
    retrying with a doubling delay.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.directory = self.mktemp()
        self.backend = RecordingBackend()
        self.delivery = self.makeDelivery()

    def makeDelivery(self, **kw: Any) -> BackendDelivery:
        options: dict[str, Any] = dict(sendTimeout=30.0, retryInitial=1.0, retryMax=4.0)
        options.update(kw)
        return BackendDelivery(
            "b", self.backend, Spool(self.directory, "b", self.clock), self.clock, **options
        )

    def submit(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.delivery.submit(record, encodeRecord(record))

    def stop(self) -> None:
        d = self.delivery.stop(5.0)
        self.clock.advance(5.0)
        self.successResultOf(d)
        self.assertTrue(self.backend.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sentOnCommitInOrder(self) -> None:
        """
        Submitted records wait (and count in the backlog) until L{commit};
        then they reach the backend in the order submitted.
        """
        self.assertEqual(self.delivery.start(), 0)
        records = callRecords(1)
        self.submit(records)
        self.assertEqual(self.backend.attempts, [])
        self.assertEqual(self.delivery.backlog, 3)
        self.delivery.commit()
        self.assertEqual(self.backend.records, records)
        self.assertEqual((self.delivery.sent, self.delivery.backlog), (3, 0))
        self.stop()

    def test_lineOnlyRecords(self) -> None:
        """
        A record submitted as its line alone reaches a backend that takes
        records decoded, one that takes lines (C{sendLines}) as the line,
        and is never decoded for the latter.
        """
        records = callRecords(1)
        self.delivery.start()
        for record in records:
            self.delivery.submit(None, encodeRecord(record))
        self.delivery.commit()
        self.assertEqual(self.backend.records, records)
        self.stop()

        lines: list[bytes] = []

        class LinesBackend(RecordingBackend):
            def sendLines(self, batch: list[bytes]) -> Deferred:
                lines.extend(batch)
                return succeed(None)

            def sendRecord(self, record: dict[str, Any]) -> Deferred:
                raise AssertionError("records are not decoded for a lines backend")

        self.backend = LinesBackend()
        self.directory = self.mktemp()
        self.delivery = self.makeDelivery()
        self.delivery.start()
        for record in records:
            self.delivery.submit(None, encodeRecord(record))
        self.delivery.commit()
        self.assertEqual(lines, [encodeRecord(record) for record in records])
        self.assertEqual(self.delivery.sent, len(records))
        self.stop()

    def test_writtenDirectly(self) -> None:
        """
        A backend with C{writeLinesNow} (a durable file, like jsonl) takes a
        commit's lines at once when nothing waits for it: the spool file is
        not written. When that write fails, the records are spooled and
        sent the usual way (retried after the delay), and while any record
        is spooled new commits queue behind it, so the order is kept.
        """
        written: list[bytes] = []
        failing = [False]

        class DurableBackend(RecordingBackend):
            def writeLinesNow(self, lines: list[bytes]) -> None:
                if failing[0]:
                    raise OSError(28, "No space left on device")
                written.extend(lines)

        self.backend = DurableBackend()
        self.delivery = self.makeDelivery()
        self.delivery.start()
        first, second, third = callRecords(1), callRecords(2), callRecords(3)
        self.submit(first)
        self.delivery.commit()
        self.assertEqual(written, [encodeRecord(r) for r in first])
        self.assertEqual((self.delivery.sent, self.delivery.backlog), (3, 0))
        self.assertEqual(self.backend.attempts, [])
        self.assertFalse(self._spoolHolds())

        failing[0] = True
        self.backend.fail()
        self.submit(second)
        self.delivery.commit()
        self.assertEqual(self.delivery.backlog, 3)
        self.assertTrue(self._spoolHolds())
        self.assertTrue(self.delivery.inOutage)
        failing[0] = False
        self.submit(third)
        self.delivery.commit()
        # Queued behind the spooled records, not written past them.
        self.assertEqual(written, [encodeRecord(r) for r in first])
        self.backend.recover()
        self.clock.advance(1.0)
        self.assertEqual(self.backend.records, second + third)
        self.assertEqual(self.delivery.backlog, 0)
        self.stop()

    def _spoolHolds(self) -> bool:
        path = self.delivery.spool.path
        return os.path.exists(path) and os.path.getsize(path) > 0

    def test_waitsForStart(self) -> None:
        """
        Before L{start}, a commit sends nothing; start sends what waited.
        """
        records = callRecords(1)
        self.submit(records)
        self.delivery.commit()
        self.assertEqual(self.backend.attempts, [])
        self.delivery.start()
        self.assertEqual(self.backend.records, records)
        self.stop()

    def test_retriesWithDoublingDelay(self) -> None:
        """
        A failing backend is retried after 1, 2, 4, 4 seconds (capped at
        C{retryMax}), each failure counted; once it recovers, the records
        arrive in order and the delay starts again from C{retryInitial}.
        """
        self.delivery.start()
        self.backend.fail()
        records = callRecords(1)
        self.submit(records)
        self.delivery.commit()
        for delay in (1.0, 2.0, 4.0, 4.0):
            failures = self.delivery.failures
            self.clock.advance(delay - 0.01)
            self.assertEqual(self.delivery.failures, failures)
            self.clock.advance(0.01)
            self.assertEqual(self.delivery.failures, failures + 1)
        self.backend.recover()
        self.clock.advance(4.0)
        self.assertEqual(self.backend.records, records)
        self.backend.fail()
        self.submit(callRecords(2)[:1])
        self.delivery.commit()
        failures = self.delivery.failures
        self.clock.advance(1.0)
        self.assertEqual(self.delivery.failures, failures + 1)
        self.stop()

    def test_oneInFlight(self) -> None:
        """
        Only one record is in flight at a time: the next goes once the
        backend has taken the one before.
        """
        self.backend.holding = True
        self.delivery.start()
        records = callRecords(1)
        self.submit(records)
        self.delivery.commit()
        for expected in range(1, 4):
            self.assertEqual(len(self.backend.attempts), expected)
            self.backend.release()
        self.assertEqual(self.backend.records, records)
        self.stop()

    def test_sendTimeout(self) -> None:
        """
        A send the backend does not answer within C{sendTimeout} counts as
        a failure and is retried.
        """
        self.delivery = self.makeDelivery(sendTimeout=10.0)
        self.backend.holding = True
        self.delivery.start()
        start = callRecords(1)[0]
        self.submit([start])
        self.delivery.commit()
        self.clock.advance(10.0)
        self.assertEqual(self.delivery.failures, 1)
        self.backend.holding = False
        self.clock.advance(1.0)
        self.assertEqual(self.backend.records, [start])
        self.assertEqual(self.delivery.backlog, 0)
        self.stop()

    def test_stopIsBoundedAndKeepsUnsent(self) -> None:
        """
        L{BackendDelivery.stop} waits at most its timeout for a record in
        flight, closes the backend, and leaves what was not acknowledged in
        the spool, where the next start finds it.
        """
        self.backend.holding = True
        self.delivery.start()
        self.submit(callRecords(1))
        self.delivery.commit()
        d = self.delivery.stop(5.0)
        self.clock.advance(5.0)
        self.successResultOf(d)
        self.assertTrue(self.backend.closed)
        # The send still in flight ends at its own timeout, and is not
        # retried.
        self.clock.advance(30.0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.backend = RecordingBackend()
        again = self.makeDelivery()
        self.assertEqual(again.start(), 3)
        self.assertEqual([r["type"] for r in self.backend.records], ["start", "interim", "stop"])
        d = again.stop(1.0)
        self.clock.advance(1.0)
        self.successResultOf(d)


class BatchBackend(RecordingBackend):
    """
    A backend with C{sendRecords} that accepts each batch on the next turn
    of the clock (as the jsonl backend does after its fsync).
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.batches: list[int] = []

    def sendRecords(self, records: list[dict[str, Any]], lines: list[bytes]) -> Deferred:
        self.batches.append(len(records))
        d: Deferred = Deferred()

        def accept() -> None:
            self.records.extend(records)
            d.callback(None)

        self.clock.callLater(0, accept)
        return d


class ShutdownDrainTests(SynchronousTestCase):
    """
    L{BackendDelivery.stop} delivers what waits, bounded in time (issue 8
    item 9: a SIGTERM used to deliver only the batch in flight).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.directory = self.mktemp()

    def records(self, count: int) -> list[dict[str, Any]]:
        return [{"record_id": f"r{n}", "type": "stop"} for n in range(count)]

    def test_drainsEverything(self) -> None:
        """
        2,000 records submitted just before stop all reach the backend (20
        batches of 100) before stop's Deferred fires; the spool is empty
        for the next start.
        """
        backend = BatchBackend(self.clock)
        delivery = BackendDelivery(
            "b", backend, Spool(self.directory, "b", self.clock), self.clock, 30.0, 1.0, 4.0
        )
        delivery.start()
        for record in self.records(2000):
            delivery.submit(record, encodeRecord(record))
        d = delivery.stop(10.0)
        self.assertNoResult(d)
        for _ in range(25):
            self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual(len(backend.records), 2000)
        self.assertEqual(backend.batches, [100] * 20)
        self.assertTrue(backend.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again = BackendDelivery(
            "b", RecordingBackend(), Spool(self.directory, "b", self.clock), self.clock, 30.0, 1.0, 4.0
        )
        self.assertEqual(again.start(), 0)

    def test_boundedByTimeout(self) -> None:
        """
        A backend that takes one batch per second gets what fits in the
        timeout; stop fires then and the rest stays spooled for the next
        start.
        """

        class Slow(BatchBackend):
            def sendRecords(self, records: list[dict[str, Any]], lines: list[bytes]) -> Deferred:
                d: Deferred = Deferred()
                self.clock.callLater(1.0, lambda: (self.records.extend(records), d.callback(None)))
                return d

        backend = Slow(self.clock)
        delivery = BackendDelivery(
            "b", backend, Spool(self.directory, "b", self.clock), self.clock, 30.0, 1.0, 4.0
        )
        delivery.start()
        for record in self.records(1000):
            delivery.submit(record, encodeRecord(record))
        d = delivery.stop(3.5)
        for step in (1.0, 1.0, 1.0):
            self.clock.advance(step)
            self.assertNoResult(d)
        self.clock.advance(0.5)
        self.successResultOf(d)
        self.assertEqual(len(backend.records), 300)
        self.clock.advance(10)
        again = BackendDelivery(
            "b", RecordingBackend(), Spool(self.directory, "b", self.clock), self.clock, 30.0, 1.0, 4.0
        )
        # The batch in flight at the deadline was accepted later and counts
        # as acknowledged; the restart finds exactly the others.
        self.assertEqual(again.start(), 1000 - len(backend.records))
        self.assertLessEqual(len(backend.records), 400)

    def test_failingBackendNotRetried(self) -> None:
        """
        A backend that fails during the drain is not retried: stop ends at
        once and the records stay spooled.
        """
        backend = RecordingBackend()
        backend.fail()
        delivery = BackendDelivery(
            "b", backend, Spool(self.directory, "b", self.clock), self.clock, 30.0, 1.0, 4.0
        )
        delivery.start()
        for record in self.records(3):
            delivery.submit(record, encodeRecord(record))
        d = delivery.stop(10.0)
        self.successResultOf(d)
        self.assertEqual(len(backend.attempts), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
