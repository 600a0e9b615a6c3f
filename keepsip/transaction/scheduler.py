"""
The transaction timers of one node in one heap, run in bounded batches.

Every transaction arms two or three RFC 3261 timers; a flood admitted at
once expires at once, 32 s later (timer B, F, H, J, L). As separate reactor
C{callLater}s they would all run in one turn of the reactor, which reads no
datagram until the last is done. L{TimerQueue} keeps them in a heap behind a
single delayed call, runs at most L{TimerQueue.batch} expiries per turn and
leaves the rest to the next turn (C{callLater(0)}), so the reactor reads the
socket in between: a burst of expiries is spread, not a stall.

A cancelled timer's heap entry is skipped when it comes up, but held calls
cancel many timers long before they are due (an answered INVITE's timer B,
32 s, one entry in three while its timers L and M wait): once the cancelled
entries are more than a quarter as many as the armed ones, the heap is
rebuilt without them (O(n), after at least n/5 cancellations: O(1) per
cancellation), so they cost little memory.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from keepsip.logs import Logger

log = Logger()

#: Expiries run per reactor turn at most.
BATCH = 200

#: Heaps this small are never rebuilt to drop cancelled entries.
COMPACT_MIN = 64


class Timer:
    """
    One armed timer of a L{TimerQueue}: C{cancel()} it, or ask C{active()}.
    """

    __slots__ = ("time", "_function", "_args", "_queue")

    def __init__(
        self, queue: "TimerQueue", time: float, function: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        self._queue: TimerQueue | None = queue
        self.time = time
        self._function: Callable[..., Any] | None = function
        self._args = args

    def active(self) -> bool:
        return self._function is not None

    def cancel(self) -> None:
        """
        Disarm the timer (nothing happens if it already ran or was
        cancelled). Its references are dropped now; its heap entry is
        skipped when reached.
        """
        if self._function is None:
            return
        self._function = None
        self._args = ()
        queue, self._queue = self._queue, None
        if queue is not None:
            queue._cancelled()

    def _run(self) -> None:
        function, args = self._function, self._args
        self._function = None
        self._args = ()
        self._queue = None
        assert function is not None
        function(*args)


class TimerQueue:
    """
    Timers on one clock, in one heap behind one delayed call.

    @param clock: the L{IReactorTime}.
    @param batch: expiries run per reactor turn at most.
    """

    def __init__(self, clock: IReactorTime, batch: int = BATCH) -> None:
        self._clock = clock
        self.batch = batch
        self._heap: list[tuple[float, int, Timer]] = []
        self._sequence = 0
        self._live = 0
        self._call: IDelayedCall | None = None
        self._callTime: float | None = None

    def __len__(self) -> int:
        """
        @return: timers armed (not run, not cancelled).
        """
        return self._live

    def callLater(self, delay: float, function: Callable[..., Any], *args: Any) -> Timer:
        """
        Run C{function(*args)} in C{delay} seconds (or as soon after as the
        batches allow).
        """
        when = self._clock.seconds() + delay
        timer = Timer(self, when, function, args)
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, timer))
        self._live += 1
        if self._callTime is None or when < self._callTime:
            self._schedule(when)
        return timer

    @property
    def entries(self) -> int:
        """
        Heap entries, cancelled ones not yet dropped included (what the
        queue holds in memory).
        """
        return len(self._heap)

    def _cancelled(self) -> None:
        self._live -= 1
        live = self._live
        heap = self._heap
        if live == 0:
            # Nothing armed: drop the cancelled entries and the reactor call.
            heap.clear()
            self._unschedule()
        elif len(heap) > COMPACT_MIN and 4 * (len(heap) - live) > live:
            # In place: _run may be iterating over this very list.
            heap[:] = [entry for entry in heap if entry[2]._function is not None]
            heapq.heapify(heap)

    def _unschedule(self) -> None:
        call, self._call = self._call, None
        self._callTime = None
        if call is not None and call.active():
            call.cancel()

    def _schedule(self, when: float) -> None:
        self._unschedule()
        self._callTime = when
        self._call = self._clock.callLater(max(0.0, when - self._clock.seconds()), self._run)

    def _run(self) -> None:
        # Everything up to the time this call was meant for is due, even if
        # the clock's float arithmetic lands a hair before it.
        now = self._clock.seconds()
        limit = now if self._callTime is None else max(now, self._callTime)
        self._call = None
        self._callTime = None
        heap = self._heap
        ran = 0
        while heap and heap[0][0] <= limit:
            if ran >= self.batch:
                # The rest on the next turn, after the reactor has read.
                self._unschedule()
                self._callTime = limit
                self._call = self._clock.callLater(0, self._run)
                return
            timer = heapq.heappop(heap)[2]
            if not timer.active():
                continue
            self._live -= 1
            ran += 1
            try:
                timer._run()
            except Exception:
                log.failure("transaction timer failed")
        while heap and not heap[0][2].active():
            heapq.heappop(heap)
        if heap and (self._callTime is None or heap[0][0] < self._callTime):
            self._schedule(heap[0][0])

    def stop(self) -> None:
        """
        Cancel every timer (shutdown).
        """
        for _, _, timer in self._heap:
            timer._function = None
            timer._args = ()
            timer._queue = None
        self._heap.clear()
        self._live = 0
        self._unschedule()
