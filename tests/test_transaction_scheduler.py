"""
Tests for L{keepsip.transaction.scheduler.TimerQueue}: transaction timers in
one heap, run in bounded batches.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction.scheduler import COMPACT_MIN, TimerQueue
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

    def test_cancelledEntriesDropped(self) -> None:
        """
        Held calls cancel one timer in three long before it is due (timer B
        of an answered INVITE, while timers L and M stay armed): the
        cancelled entries stay at most a quarter of the armed ones in the
        heap (at a half they would stay for 32 s), and the armed timers
        still run, in order, at their times.
        """
        armed = []
        for n in range(3000):
            timerB = self.queue.callLater(32, self.ran.append, ("B", n))
            armed.append(self.queue.callLater(32 + n / 1000, self.ran.append, ("L", n)))
            armed.append(self.queue.callLater(32 + n / 1000, self.ran.append, ("M", n)))
            timerB.cancel()
            if self.queue.entries > COMPACT_MIN:
                self.assertLessEqual(
                    4 * (self.queue.entries - len(self.queue)), len(self.queue)
                )
        self.assertEqual(len(self.queue), 6000)
        self.assertLessEqual(self.queue.entries, 7500)
        advanceTo(self.clock, 40)
        self.assertEqual(
            self.ran, [(leg, n) for n in range(3000) for leg in ("L", "M")]
        )
        self.assertEqual(self.queue.entries, 0)

    def test_cancelDuringRun(self) -> None:
        """
        A timer that cancels many others while the queue runs (which rebuilds
        the heap under the running batch) does not make the queue skip or
        repeat any armed timer.
        """
        victims = [self.queue.callLater(2, self.ran.append, ("victim", n)) for n in range(500)]
        survivors = [self.queue.callLater(3, self.ran.append, ("survivor", n)) for n in range(100)]

        def cancelAll() -> None:
            self.ran.append("cancel")
            for victim in victims:
                victim.cancel()

        self.queue.callLater(1, cancelAll)
        self.queue.callLater(1, self.ran.append, "same turn")
        advanceTo(self.clock, 5)
        self.assertEqual(
            self.ran, ["cancel", "same turn"] + [("survivor", n) for n in range(100)]
        )
        self.assertEqual(len(survivors), 100)
        self.assertEqual(len(self.queue), 0)
