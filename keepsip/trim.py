"""
Giving the C allocator's free pages back to the system, within a budget.

What Python allocates above 512 bytes (datagrams, kept message bytes, SDP
bodies) and SQLite's pages come from C{malloc}; glibc returns freed memory
to the system only from the top of its heap, and only beyond a threshold
that grows with the process. Held calls free a transient 32 s after
set-up (their transactions), so without trimming their holes stay
resident for good: with 5,000 calls held, some 4 MB.

C{malloc_trim(0)} also releases whole free pages inside the heap, but it
walks the whole heap while the reactor waits: about 2 ms at 100 MB, 30 ms
at 1 GB (measured on the development VM). L{MallocTrimService} therefore
times each call and waits at least C{1 / budget} times as long before the
next (with the default budget of 0.1 %, a 30 ms trim runs every 30 s, a
2 ms one every C{interval}, 10 s): trimming never takes more than that
share of the reactor's time, however large the process grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service

from keepsip.logs import Logger

log = Logger()


class MallocTrimService(Service):
    """
    Calls C{trim()} when started and then again and again: the next call
    comes C{interval} seconds later, or C{duration / budget} if the last
    one took C{duration} seconds and that is longer.

    @ivar lastDuration: seconds the last C{trim()} took (L{None} before the
        first).
    @ivar delay: seconds until the next one.
    """

    def __init__(
        self,
        clock: Any,
        trim: Callable[[], object],
        interval: float,
        budget: float = 0.001,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """
        @param clock: when to trim (L{IReactorTime}).
        @param trim: what trims (glibc's C{malloc_trim} with its argument).
        @param interval: the shortest time between two trims.
        @param budget: the largest share of time trimming may take.
        @param timer: how long a trim took is measured with it (a
            monotonic clock in seconds; tests inject one).
        """
        self.clock = clock
        self.trim = trim
        self.interval = interval
        self.budget = budget
        self.timer = timer
        self.lastDuration: float | None = None
        self.delay = interval
        self._call: Any = None

    def startService(self) -> None:
        Service.startService(self)
        self._run()

    def stopService(self) -> None:
        Service.stopService(self)
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _run(self) -> None:
        self._call = None
        started = self.timer()
        try:
            self.trim()
        except Exception:
            log.failure("malloc_trim failed; not tried again")
            return
        self.lastDuration = duration = self.timer() - started
        self.delay = max(self.interval, duration / self.budget)
        if self.delay > self.interval:
            log.debug(
                "malloc_trim took {ms:.1f} ms: next in {delay:.0f} s",
                ms=duration * 1e3,
                delay=self.delay,
            )
        if self.running:
            self._call = self.clock.callLater(self.delay, self._run)


__all__ = ["MallocTrimService"]
