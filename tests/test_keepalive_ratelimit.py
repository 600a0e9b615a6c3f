"""
Tests for L{keepsip.keepalive.ratelimit}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.keepalive.ratelimit import RateLimiter

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)


class RateLimiterTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()

    def test_burstThenDeny(self):
        """
        A new source may send C{burst} requests at once; the next is refused.
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=3)
        self.assertEqual([limiter.allow(A) for _ in range(4)], [True, True, True, False])
        self.assertEqual((limiter.allowed, limiter.denied), (3, 1))

    def test_refill(self):
        """
        Tokens come back at C{rate} per second: after 1/rate seconds one more
        request is allowed, not two.
        """
        limiter = RateLimiter(self.clock, rate=2.0, burst=1)
        self.assertTrue(limiter.allow(A))
        self.assertFalse(limiter.allow(A))
        self.clock.advance(0.25)
        self.assertFalse(limiter.allow(A))
        self.clock.advance(0.25)
        self.assertTrue(limiter.allow(A))
        self.assertFalse(limiter.allow(A))

    def test_refillCappedAtBurst(self):
        """
        A long idle period refills to C{burst}, no more.
        """
        limiter = RateLimiter(self.clock, rate=10.0, burst=2)
        limiter.allow(A)
        limiter.allow(A)
        self.clock.advance(1000.0)
        self.assertEqual([limiter.allow(A) for _ in range(3)], [True, True, False])

    def test_sourcesIndependent(self):
        """
        One source exhausting its bucket does not affect another.
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=1)
        self.assertTrue(limiter.allow(A))
        self.assertFalse(limiter.allow(A))
        self.assertTrue(limiter.allow(B))

    def test_steadyRate(self):
        """
        A source sending exactly at C{rate} is always allowed; one sending at
        twice the rate gets about half through.
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=1)
        results = []
        for _ in range(10):
            results.append(limiter.allow(A))
            self.clock.advance(1.0)
        self.assertTrue(all(results))
        results = []
        for _ in range(20):
            results.append(limiter.allow(B))
            self.clock.advance(0.5)
        self.assertEqual(results.count(True), 10)

    def test_idleBucketsEvicted(self):
        """
        Buckets idle for longer than the refill time are forgotten lazily as
        new sources arrive, so memory follows the recently active sources,
        not every source ever seen.
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=5)
        for i in range(1000):
            limiter.allow(("old", i))
        self.assertEqual(len(limiter), 1000)
        self.clock.advance(5.0)
        for i in range(1000):
            limiter.allow(("new", i))
        # Each new source evicted up to two old ones: all old ones are gone.
        self.assertEqual(len(limiter), 1000)

    def test_activeBucketsKept(self):
        """
        A bucket used within the refill time is not evicted, so a source
        cannot reset its bucket by waiting for other sources to arrive.
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=2)
        limiter.allow(A)
        limiter.allow(A)
        self.clock.advance(1.0)
        for i in range(100):
            limiter.allow(("other", i))
        self.assertTrue(limiter.allow(A))
        self.assertFalse(limiter.allow(A))

    def test_maxSources(self):
        """
        The number of buckets never exceeds C{maxSources}, even when every
        source is active (a flood of spoofed sources).
        """
        limiter = RateLimiter(self.clock, rate=1.0, burst=1, maxSources=50)
        for i in range(1000):
            limiter.allow(("flood", i))
            self.assertLessEqual(len(limiter), 50)
        self.assertEqual(len(limiter), 50)

    def test_validation(self):
        """
        Non-positive rate, a burst below one or no room for sources are
        rejected.
        """
        self.assertRaises(ValueError, RateLimiter, self.clock, 0.0, 1)
        self.assertRaises(ValueError, RateLimiter, self.clock, 1.0, 0)
        self.assertRaises(ValueError, RateLimiter, self.clock, 1.0, 1, 0)

    def test_clockBackwards(self):
        """
        A clock that steps back does not add tokens.
        """
        self.clock.advance(100.0)
        limiter = RateLimiter(self.clock, rate=1.0, burst=1)
        self.assertTrue(limiter.allow(A))
        self.clock.rightNow = 50.0
        self.assertFalse(limiter.allow(A))
