"""
The deadline index: when each dialog's keepalives are due, ordered for the
reaper.

A refresh (a keepalive arrived) is a L{DeadlineIndex.set} with a later time:
O(log n) and no search for the old entry, which simply goes stale in the heap
and is skipped when it surfaces (lazy invalidation). The reaper asks only for
what has expired (L{DeadlineIndex.popExpired}), so a tick that expires nothing
costs O(1) whatever the number of calls.

Stale entries are bounded: once they outnumber live ones by
L{DeadlineIndex.compactRatio} (and there are more than
L{DeadlineIndex.compactMinimum}), the heap is rebuilt from the live entries in
O(n), an amortised O(1) per refresh.

Memory: one heap entry C{(when, sequence, key)} per deadline set, and the
mapping from each key to its live entry — the same tuple, so liveness is an
identity test and nothing is stored twice (about 150 bytes a key at a
million keys, the key itself shared with the dialog store).
"""

from __future__ import annotations

from collections.abc import Hashable
from collections import deque
from heapq import heapify, heappop, heappush
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DeadlineIndex(Generic[K]):
    """
    A mapping from keys (e.g. dialog IDs) to expiry times, cheap to refresh
    and to pop in expiry order.

    Keys with equal expiry times pop in the order they were set.

    @ivar compactRatio: compact when stale heap entries exceed this many
        times the live ones.
    @ivar compactMinimum: never compact a heap with this many stale entries
        or fewer (not worth it).
    @ivar compactions: how many times the heap was rebuilt (a metric).
    @ivar popped: heap entries taken off the top by L{popExpired} and
        L{nextExpiry}, live and stale: the work they did, which depends on
        what expired and was refreshed, never on how many keys there are.
    """

    compactRatio: int = 2
    compactMinimum: int = 64

    def __init__(self) -> None:
        # Heap entries: (when, sequence, key). An entry is live when
        # self._live[key] is that very tuple; anything else is stale.
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int, K]] = {}
        self._sequence = 0
        self._stale = 0
        self.compactions = 0
        self.popped = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    @property
    def heapSize(self) -> int:
        """
        The number of heap entries, live and stale (for tests and metrics).
        """
        return len(self._heap)

    def set(self, key: K, when: float) -> None:
        """
        Make C{key} expire at C{when}, replacing any earlier deadline
        (earlier or later than C{when}). O(log n).

        @param key: a hashable key.
        @param when: a clock time, in seconds.
        """
        self._sequence += 1
        entry = (when, self._sequence, key)
        live = self._live
        if key in live:
            self._stale += 1
        live[key] = entry
        heappush(self._heap, entry)
        if self._stale > self.compactMinimum:
            self._maybeCompact()

    def discard(self, key: K) -> None:
        """
        Forget C{key}'s deadline, if it has one. O(1).
        """
        if self._live.pop(key, None) is not None:
            self._stale += 1
            self._maybeCompact()

    def get(self, key: K, default: float | None = None) -> float | None:
        """
        @return: C{key}'s expiry time, or C{default} if it has none.
        """
        entry = self._live.get(key)
        return default if entry is None else entry[0]

    def nextExpiry(self) -> float | None:
        """
        @return: the earliest live expiry time, or L{None} if the index is
            empty. Amortised O(log n): stale entries on top are dropped.
        """
        heap = self._heap
        live = self._live
        while heap:
            entry = heap[0]
            if live.get(entry[2]) is entry:
                return entry[0]
            heappop(heap)
            self.popped += 1
            self._stale -= 1
        return None

    def popExpired(self, now: float) -> list[tuple[K, float]]:
        """
        Remove and return every key whose deadline is at or before C{now}, in
        expiry order. O((expired + stale on top) log n); nothing is scanned.

        @return: a list of C{(key, when)}.
        """
        heap = self._heap
        live = self._live
        expired: list[tuple[K, float]] = []
        stale = 0
        while heap and heap[0][0] <= now:
            entry = heappop(heap)
            key = entry[2]
            if live.get(key) is entry:
                del live[key]
                expired.append((key, entry[0]))
            else:
                stale += 1
        if stale or expired:
            self._stale -= stale
            self.popped += stale + len(expired)
        return expired

    def clear(self) -> None:
        """
        Forget every deadline.
        """
        self._heap = []
        self._live.clear()
        self._stale = 0

    def _maybeCompact(self) -> None:
        stale = self._stale
        if stale > self.compactMinimum and stale > self.compactRatio * len(self._live):
            self._heap = list(self._live.values())
            heapify(self._heap)
            self._stale = 0
            self.compactions += 1


class InOrderDeadlineIndex(DeadlineIndex[K]):
    """
    A L{DeadlineIndex} for deadlines that are nearly always set in time
    order (the maximum duration: every call gets the same one from its
    answer on): a first-in-first-out queue of keys and a mapping from each
    key to its time, about 80 bytes a key instead of the heap's ~170 (no
    heap entry tuple, no sequence number).

    A deadline earlier than the last one set in order (a call restored
    with its old answer time, the clock stepped back) goes to a
    L{DeadlineIndex} beside the queue; L{popExpired} takes from both in
    time order. Keys with equal expiry times pop in the order they were
    set within each of the two; the queue's first.

    A forgotten key stays in the queue until it reaches the front or the
    queue is rebuilt (stale entries outnumbering live ones, as in
    L{DeadlineIndex}); a key forgotten and set again is told from its stale
    entry by a count of its stale entries.

    @ivar compactions: how many times the queue was rebuilt.
    @ivar popped: queue and heap entries taken off the front, live and
        stale (as L{DeadlineIndex.popped}).
    """

    def __init__(self) -> None:
        # Not the heap's state: every method is this class's own.
        self._queue: deque[K] = deque()
        # Live keys of the queue, in queue order, with their times.
        self._times: dict[K, float] = {}
        # Keys forgotten while still in the queue -> how many entries.
        self._gone: dict[K, int] = {}
        self._last = float("-inf")
        self._stale = 0
        self._late: DeadlineIndex[K] = DeadlineIndex()
        self.compactions = 0
        self.popped = 0

    def __len__(self) -> int:
        return len(self._times) + len(self._late)

    def __contains__(self, key: object) -> bool:
        return key in self._times or key in self._late

    @property
    def heapSize(self) -> int:
        """
        The number of queue and heap entries, live and stale.
        """
        return len(self._queue) + self._late.heapSize

    def set(self, key: K, when: float) -> None:
        """
        Make C{key} expire at C{when}, replacing any earlier deadline.
        O(1) when C{when} is not before the last time set in order, else
        O(log n).
        """
        if key in self._times or key in self._late:
            self.discard(key)
        if when >= self._last:
            self._last = when
            self._times[key] = when
            self._queue.append(key)
        else:
            self._late.set(key, when)

    def discard(self, key: K) -> None:
        """
        Forget C{key}'s deadline, if it has one. O(1).
        """
        if self._times.pop(key, None) is not None:
            gone = self._gone
            gone[key] = gone.get(key, 0) + 1
            self._stale += 1
            if self._stale > self.compactMinimum and self._stale > self.compactRatio * len(
                self._times
            ):
                # The live mapping is in queue order: set in time order.
                self._queue = deque(self._times)
                gone.clear()
                self._stale = 0
                self.compactions += 1
        else:
            self._late.discard(key)

    def get(self, key: K, default: float | None = None) -> float | None:
        """
        @return: C{key}'s expiry time, or C{default} if it has none.
        """
        when = self._times.get(key)
        if when is None:
            return self._late.get(key, default)
        return when

    def _front(self) -> K | None:
        # Drop stale entries at the front; return the first live key.
        queue = self._queue
        gone = self._gone
        while queue:
            key = queue[0]
            count = gone.get(key)
            if count is None:
                return key
            queue.popleft()
            self.popped += 1
            self._stale -= 1
            if count == 1:
                del gone[key]
            else:
                gone[key] = count - 1
        return None

    def nextExpiry(self) -> float | None:
        """
        @return: the earliest live expiry time, or L{None} if empty.
        """
        key = self._front()
        late = self._late.nextExpiry()
        if key is None:
            return late
        when = self._times[key]
        return when if late is None or when <= late else late

    def popExpired(self, now: float) -> list[tuple[K, float]]:
        """
        Remove and return every key whose deadline is at or before C{now},
        in expiry order. O(expired + stale at the front) for the queue.

        @return: a list of C{(key, when)}.
        """
        live = self._times
        queue = self._queue
        expired: list[tuple[K, float]] = []
        while True:
            key = self._front()
            if key is None:
                break
            when = live[key]
            if when > now:
                break
            queue.popleft()
            del live[key]
            expired.append((key, when))
        self.popped += len(expired)
        if len(self._late):
            before = self._late.popped
            late = self._late.popExpired(now)
            self.popped += self._late.popped - before
            if late:
                expired = sorted(expired + late, key=lambda item: item[1])
        return expired

    def clear(self) -> None:
        """
        Forget every deadline.
        """
        self._queue = deque()
        self._times.clear()
        self._gone.clear()
        self._stale = 0
        self._last = float("-inf")
        self._late.clear()


__all__ = ["DeadlineIndex", "InOrderDeadlineIndex"]
