"""
Tests for L{keepsip.trim}: returning free C heap pages within a time budget.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.trim import MallocTrimService


class FakeTrim:
    """
    A trim that takes C{cost} seconds of a fake monotonic timer.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.cost = 0.001
        self.calls = 0

    def timer(self) -> float:
        return self.now

    def __call__(self) -> None:
        self.calls += 1
        self.now += self.cost


class MallocTrimServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.trim = FakeTrim()
        self.service = MallocTrimService(
            self.clock, self.trim, interval=10.0, budget=0.001, timer=self.trim.timer
        )

    def delays(self) -> list[float]:
        return [call.getTime() - self.clock.seconds() for call in self.clock.getDelayedCalls()]

    def test_fastTrimEveryInterval(self) -> None:
        """
        A trim that takes 1 ms (well inside 0.1 % of 10 s) runs at start and
        then every C{interval}.
        """
        self.service.startService()
        self.assertEqual(self.trim.calls, 1)
        self.assertEqual(self.delays(), [10.0])
        self.clock.advance(10.0)
        self.assertEqual(self.trim.calls, 2)
        self.assertEqual(self.delays(), [10.0])

    def test_slowTrimBacksOff(self) -> None:
        """
        A trim that took 30 ms waits 30 s (1,000 times as long) before the
        next, and once trims are fast again the interval comes back: trimming
        never takes more than the budget's share of the time.
        """
        self.trim.cost = 0.030
        self.service.startService()
        self.assertAlmostEqual(self.service.lastDuration or 0, 0.030)
        [delay] = self.delays()
        self.assertAlmostEqual(delay, 30.0)
        self.clock.advance(29.0)
        self.assertEqual(self.trim.calls, 1)
        self.trim.cost = 0.002
        self.clock.advance(1.0)
        self.assertEqual(self.trim.calls, 2)
        self.assertEqual(self.delays(), [10.0])

    def test_stopLeavesNothing(self) -> None:
        """
        Stopped, the service leaves no delayed call and trims no more.
        """
        self.service.startService()
        self.service.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(self.trim.calls, 1)

    def test_failingTrimLoggedAndStopped(self) -> None:
        """
        A trim that raises is logged once and not tried again (no delayed
        call left), rather than failing every interval.
        """

        def broken() -> None:
            raise OSError("no")

        service = MallocTrimService(self.clock, broken, interval=10.0)
        service.startService()
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        service.stopService()
