"""
Tests for L{keepsip.transaction.scheduler.TimerQueue}: transaction timers in
one heap, run in bounded batches.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction.scheduler import TimerQueue
from keepsip.transaction.testing import advanceTo


def runOneReactorCall(clock: Clock) -> None:
    """
    Run only the earliest delayed call of C{clock}, as one turn of a reactor
    would (C{Clock.advance} would also run the C{callLater(0)}s it makes).
    """
    call = min(clock.getDelayedCalls(), key=lambda c: c.getTime())
    clock.rightNow = max(clock.rightNow, call.getTime())
    clock.calls.remove(call)
    call.called = 1
    call.func(*call.args, **call.kw)


class TimerQueueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.queue = TimerQueue(self.clock, batch=200)
        self.ran: list[object] = []

    def test_burstSpreadOverTurns(self) -> None:
        """
        1,000 timers expiring together run 200 per reactor call, the rest
        left to the next call (due now), so the reactor reads in between;
        all have run after five calls, and no delayed call is left.
        """
        for n in range(1000):
            self.queue.callLater(32, self.ran.append, n)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        counts = []
        while self.clock.getDelayedCalls():
            runOneReactorCall(self.clock)
            counts.append(len(self.ran))
        self.assertEqual(counts, [200, 400, 600, 800, 1000])
        self.assertEqual(self.ran, list(range(1000)))
        self.assertEqual(len(self.queue), 0)

    def test_orderAndExactTimes(self) -> None:
        """
        Timers run in time order (ties in the order armed), each exactly at
        its time, also when armed from another timer at a time that float
        arithmetic does not hit exactly.
        """
        self.queue.callLater(2, self.ran.append, "b")
        self.queue.callLater(1, self.ran.append, "a")
        self.queue.callLater(2, self.ran.append, "c")

        def rearm() -> None:
            self.ran.append("first")
            self.queue.callLater(32.0 - 15.5, self.ran.append, "at 32")

        self.queue.callLater(15.5, rearm)
        self.queue.callLater(63.5, self.ran.append, "late")
        advanceTo(self.clock, 31.99)
        self.assertEqual(self.ran, ["a", "b", "c", "first"])
        advanceTo(self.clock, 32.0)
        self.assertEqual(self.ran[-1], "at 32")

    def test_cancel(self) -> None:
        """
        A cancelled timer never runs; with nothing armed, no delayed call is
        left on the clock.
        """
        first = self.queue.callLater(5, self.ran.append, 1)
        second = self.queue.callLater(10, self.ran.append, 2)
        first.cancel()
        self.assertFalse(first.active())
        self.clock.advance(6)
        self.assertEqual(self.ran, [])
        second.cancel()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.ran, [])

    def test_failureLogged(self) -> None:
        """
        A timer that raises is logged; the others still run.
        """
        self.queue.callLater(1, lambda: 1 / 0)
        self.queue.callLater(1, self.ran.append, "after")
        self.clock.advance(1)
        self.assertEqual(self.ran, ["after"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_stop(self) -> None:
        """
        C{stop} cancels everything.
        """
        self.queue.callLater(1, self.ran.append, 1)
        self.queue.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(2)
        self.assertEqual(self.ran, [])
