"""
Per-source token buckets: how many requests (e.g. keepalive INVITEs) keepsip
accepts from one address.

Each source has a bucket of at most C{burst} tokens refilled at C{rate} tokens
per second; a request takes one token or is refused. A bucket idle long enough
to be full again is the same as no bucket, so it can be forgotten: buckets are
kept in least-recently-used order and every call to L{RateLimiter.allow}
forgets up to two such idle ones from the old end. That is O(1) per call and
keeps only the sources seen within the refill time, plus a hard cap,
L{RateLimiter.maxSources}, against floods of spoofed sources (evicting a
bucket that was not yet full gives that source a fresh burst: the price of
bounded memory).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from twisted.internet.interfaces import IReactorTime


class RateLimiter:
    """
    Token buckets keyed by source.

    @ivar clock: the L{IReactorTime} giving the time.
    @ivar rate: tokens added per second.
    @ivar burst: bucket capacity: requests accepted at once after idleness.
    @ivar maxSources: the most buckets kept.
    @ivar allowed: how many requests were allowed (a metric).
    @ivar denied: how many requests were refused (a metric).
    """

    #: How many idle buckets one call may forget; more than one so eviction
    #: keeps up with insertion.
    evictPerCall = 2

    def __init__(
        self, clock: IReactorTime, rate: float, burst: int, maxSources: int = 100_000
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if maxSources < 1:
            raise ValueError(f"maxSources must be at least 1, not {maxSources!r}")
        self.clock: Any = clock  # typed Any: mypy cannot call zope interface methods
        self.rate = float(rate)
        self.burst = burst
        self.maxSources = maxSources
        self.allowed = 0
        self.denied = 0
        # source -> [tokens, last update time], least recently used first.
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._refillTime = burst / self.rate

    def __len__(self) -> int:
        """
        The number of buckets currently kept.
        """
        return len(self._buckets)

    def allow(self, source: Hashable) -> bool:
        """
        Take a token from C{source}'s bucket.

        @param source: the source, e.g. C{(host, port)} or a host.
        @return: whether the request is allowed.
        """
        now = self.clock.seconds()
        buckets = self._buckets
        bucket = buckets.get(source)
        if bucket is None:
            self._evict(now)
            bucket = buckets[source] = [float(self.burst), now]
        else:
            buckets.move_to_end(source)
            elapsed = now - bucket[1]
            if elapsed > 0:
                tokens = bucket[0] + elapsed * self.rate
                bucket[0] = tokens if tokens < self.burst else float(self.burst)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            self.allowed += 1
            return True
        self.denied += 1
        return False

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        horizon = now - self._refillTime
        for _ in range(self.evictPerCall):
            if not buckets:
                return
            source, bucket = next(iter(buckets.items()))
            if bucket[1] > horizon:
                break
            del buckets[source]
        while len(buckets) >= self.maxSources:
            buckets.popitem(last=False)


__all__ = ["RateLimiter"]
