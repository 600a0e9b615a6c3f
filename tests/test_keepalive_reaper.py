"""
Tests for L{keepsip.keepalive.reaper}.
"""

from twisted.application.service import IService
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.reaper import Reaper, ReaperService


class Recorder:
    """
    An C{expire} function recording its calls; C{results} maps a key to what
    to return (a value, a Deferred or an exception to raise).
    """

    def __init__(self, results=None):
        self.calls = []
        self.results = results or {}

    def __call__(self, key, when, now):
        self.calls.append((key, when, now))
        result = self.results.get(key)
        if isinstance(result, Exception):
            raise result
        return result


def captureLogs(testCase):
    """
    Collect the log events emitted during C{testCase}.
    """
    events = []
    globalLogPublisher.addObserver(events.append)
    testCase.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


class ReapExpiredTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.index = DeadlineIndex()

    def test_expiresOnlyDue(self):
        """
        C{reapExpired(now)} calls C{expire(key, when, now)} for exactly the keys
        due at C{now}, removes them from the index and counts them.
        """
        expire = Recorder()
        reaper = Reaper(self.clock, self.index, expire)
        self.index.set("a", 5.0)
        self.index.set("b", 15.0)
        d = reaper.reapExpired(10.0)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(expire.calls, [("a", 5.0, 10.0)])
        self.assertNotIn("a", self.index)
        self.assertIn("b", self.index)
        self.assertEqual((reaper.ticks, reaper.reaped, reaper.failures), (1, 1, 0))

    def test_housekeepingEveryTick(self):
        """
        C{housekeeping(now)} runs at the start of every tick, before the
        expired keys; if it fails, the failure is logged and the keys are
        still reaped.
        """
        seen = []
        expire = Recorder()

        def housekeeping(now):
            seen.append(now)
            if len(seen) == 2:
                raise RuntimeError("housekeeping broke")

        reaper = Reaper(self.clock, self.index, expire, housekeeping=housekeeping)
        reaper.reapExpired(1.0)
        self.index.set("a", 1.5)
        reaper.reapExpired(2.0)
        self.assertEqual(seen, [1.0, 2.0])
        self.assertEqual(expire.calls, [("a", 1.5, 2.0)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_synchronousFailureIsolated(self):
        """
        An C{expire} that raises is logged with the key, counted in
        C{failures}, and does not prevent the other keys of the tick from
        being expired nor make the tick's Deferred fail.
        """
        events = captureLogs(self)
        expire = Recorder({"bad": RuntimeError("boom")})
        reaper = Reaper(self.clock, self.index, expire)
        self.index.set("bad", 1.0)
        self.index.set("good", 2.0)
        self.assertIsNone(self.successResultOf(reaper.reapExpired(3.0)))
        self.assertEqual([c[0] for c in expire.calls], ["bad", "good"])
        self.assertEqual(reaper.failures, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        keyed = [e for e in events if e.get("key") == "bad" and "log_failure" in e]
        self.assertEqual(len(keyed), 1)

    def test_asynchronousFailureIsolated(self):
        """
        A failed Deferred from C{expire} is logged and counted; the tick's
        Deferred still succeeds.
        """
        expire = Recorder({"bad": fail(ValueError("later boom"))})
        reaper = Reaper(self.clock, self.index, expire)
        self.index.set("bad", 1.0)
        self.assertIsNone(self.successResultOf(reaper.reapExpired(3.0)))
        self.assertEqual(reaper.failures, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_waitsForExpireDeferreds(self):
        """
        The tick's Deferred fires only once every C{expire} Deferred of the
        tick has fired.
        """
        first, second = Deferred(), Deferred()
        expire = Recorder({"a": first, "b": second, "c": succeed("x")})
        reaper = Reaper(self.clock, self.index, expire)
        for key in "abc":
            self.index.set(key, 1.0)
        d = reaper.reapExpired(1.0)
        self.assertNoResult(d)
        first.callback(None)
        self.assertNoResult(d)
        second.errback(RuntimeError("late"))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_badTick(self):
        """
        A non-positive tick is rejected.
        """
        self.assertRaises(ValueError, Reaper, self.clock, self.index, Recorder(), 0)


class ReaperLoopTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.index = DeadlineIndex()

    def test_expiryWithinDeadlinePlusTick(self):
        """
        Running on the clock, a key expires after its deadline and no later
        than its deadline plus one tick; a key refreshed in time does not.
        """
        expire = Recorder()
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        self.index.set("a", 10.5)
        self.index.set("refreshed", 10.5)
        for _ in range(10):
            self.clock.advance(1.0)
        self.assertEqual(expire.calls, [])
        self.index.set("refreshed", 40.0)
        self.clock.advance(1.0)
        self.assertEqual(len(expire.calls), 1)
        key, when, now = expire.calls[0]
        self.assertEqual((key, when), ("a", 10.5))
        self.assertTrue(10.5 <= now <= 11.5, now)
        reaper.stop()

    def test_failureDoesNotStopLoop(self):
        """
        A failing C{expire} on one tick does not stop the loop: later ticks
        still run and expire later keys.
        """
        expire = Recorder({"bad": RuntimeError("boom")})
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        self.index.set("bad", 1.0)
        self.index.set("later", 5.0)
        self.clock.advance(1.0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        for _ in range(4):
            self.clock.advance(1.0)
        self.assertTrue(reaper.running)
        self.assertEqual([c[0] for c in expire.calls], ["bad", "later"])
        self.assertEqual(reaper.ticks, 5)
        reaper.stop()

    def test_slowExpiryDoesNotHoldTicks(self):
        """
        While one key's C{expire} Deferred is pending (a BYE to a crashed
        leg waits for timer F), ticks go on at their interval and keys that
        expire meanwhile are handed over on time; the pending key is not
        handed over again.
        """
        slow = Deferred()
        expire = Recorder({"slow": slow})
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        self.index.set("slow", 1.0)
        self.index.set("meanwhile", 3.0)
        self.clock.advance(1.0)
        self.assertEqual(reaper.pending, 1)
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(reaper.ticks, 3)
        self.assertEqual([c[0] for c in expire.calls], ["slow", "meanwhile"])
        for _ in range(10):
            self.clock.advance(1.0)
        self.assertEqual([c[0] for c in expire.calls], ["slow", "meanwhile"])
        slow.callback(None)
        self.assertEqual(reaper.pending, 0)
        reaper.stop()

    def test_burstExpiredABatchPerTurn(self):
        """
        A tick with more expired keys than L{Reaper.batch} expires one batch
        at once and the rest a batch per reactor turn (C{callLater(0)}), so
        datagrams are read between batches; every key is expired once, the
        tick's Deferred fires after the last, and C{stop} waits for the
        batches still to run.
        """
        expire = Recorder()
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.batch = 3
        for n in range(8):
            self.index.set(n, 0.5)
        tick = reaper.reapExpired(1.0)
        self.assertEqual([c[0] for c in expire.calls], [0, 1, 2])
        self.assertNoResult(tick)
        stopped = reaper.stop()
        self.assertNoResult(stopped)
        [nextTurn] = self.clock.getDelayedCalls()
        self.assertEqual(nextTurn.getTime(), self.clock.seconds())
        # task.Clock runs the calls a call schedules for now in the same
        # advance; the reactor runs each in a later turn.
        self.clock.advance(0)
        self.assertEqual(sorted(c[0] for c in expire.calls), list(range(8)))
        self.successResultOf(tick)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopLeavesNoDelayedCall(self):
        """
        After C{stop}, no delayed call remains on the clock and no tick runs.
        """
        expire = Recorder()
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(2.0)
        self.successResultOf(reaper.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.index.set("a", 0.0)
        self.clock.advance(5.0)
        self.assertEqual(expire.calls, [])
        self.assertFalse(reaper.running)

    def test_stopDuringSlowTick(self):
        """
        Stopping while expiries of two different ticks are pending leaves no
        delayed call; C{stop}'s Deferred fires only when both have finished.
        """
        first, second = Deferred(), Deferred()
        expire = Recorder({"first": first, "second": second})
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        self.index.set("first", 0.5)
        self.index.set("second", 1.5)
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        stopped = reaper.stop()
        self.assertNoResult(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        first.callback(None)
        self.assertNoResult(stopped)
        second.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restart(self):
        """
        A stopped reaper can be started again; starting twice does not
        schedule two loops.
        """
        expire = Recorder()
        reaper = Reaper(self.clock, self.index, expire, tick=1.0)
        reaper.start()
        reaper.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        reaper.stop()
        reaper.start()
        self.index.set("a", 0.5)
        self.clock.advance(1.0)
        self.assertEqual([c[0] for c in expire.calls], ["a"])
        reaper.stop()


class ReaperServiceTests(SynchronousTestCase):
    def test_interface(self):
        """
        L{ReaperService} provides L{IService}.
        """
        service = ReaperService(Reaper(Clock(), DeadlineIndex(), Recorder()))
        self.assertTrue(verifyObject(IService, service))

    def test_startStop(self):
        """
        The service runs the reaper between C{startService} and
        C{stopService}, and leaves no delayed call after stopping.
        """
        clock = Clock()
        index = DeadlineIndex()
        expire = Recorder()
        service = ReaperService(Reaper(clock, index, expire, tick=1.0))
        self.assertEqual(clock.getDelayedCalls(), [])
        service.startService()
        self.assertTrue(service.running)
        index.set("a", 0.5)
        clock.advance(1.0)
        self.assertEqual([c[0] for c in expire.calls], ["a"])
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)
        self.assertEqual(clock.getDelayedCalls(), [])


class RestartDuringSlowTickTests(SynchronousTestCase):
    def test_restartWhileExpiryPending(self):
        """
        Stopping and restarting while an expiry is pending: the restarted
        reaper ticks at once at its interval (it does not wait for the
        pending expiry), and one loop runs, not two.
        """
        clock = Clock()
        index = DeadlineIndex()
        slow = Deferred()
        expire = Recorder({"slow": slow})
        reaper = Reaper(clock, index, expire, tick=1.0)
        reaper.start()
        index.set("slow", 0.5)
        clock.advance(1.0)
        reaper.stop()
        reaper.start()
        index.set("next", 1.5)
        clock.advance(1.0)
        self.assertEqual([c[0] for c in expire.calls], ["slow", "next"])
        self.assertEqual(reaper.ticks, 2)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        slow.callback(None)
        self.successResultOf(reaper.stop())
        self.assertEqual(clock.getDelayedCalls(), [])
