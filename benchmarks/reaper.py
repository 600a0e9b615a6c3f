"""
Benchmark: the keepalive reaper's cost per tick does not grow with the number
of calls, and refreshing a deadline stays cheap.

For n = 1k, 10k, 100k dialogs in a L{DeadlineIndex}:

  - idle tick: mean seconds of L{Reaper.reapExpired} when nothing has expired
    (the common case: must not depend on n);
  - refresh: mean cost of moving a dialog's deadline later (a keepalive),
    amortised with the later popping of the stale heap entry it leaves;
  - steady state: one simulated minute of 1 s ticks where every call sends a
    keepalive every 30 s (deadline = keepalive + 60 s): per tick, n/30
    refreshes plus the reap, which then pops the n/30 stale entries that
    surface. Its cost grows with the keepalive rate, as it must, not with a
    scan of all calls;
  - a tick that expires 1% of the calls (the BYE work itself is a no-op here).

Run from the repository root: C{python benchmarks/reaper.py [ticks]}.
"""

from __future__ import annotations

import gc
import random
import sys
import time

from twisted.internet.task import Clock

from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.reaper import Reaper

SIZES = (1_000, 10_000, 100_000)
INTERVAL = 30  # keepalive interval, seconds
TOLERANCE = 2  # deadline = last keepalive + INTERVAL * TOLERANCE


def makeIndex(n: int) -> tuple[DeadlineIndex[tuple[str, str, str]], list, list]:
    index: DeadlineIndex[tuple[str, str, str]] = DeadlineIndex()
    keys = [(f"call-{i}", f"a{i}", f"b{i}") for i in range(n)]
    for i, key in enumerate(keys):
        # Call i last sent a keepalive at second (i % INTERVAL) - INTERVAL.
        index.set(key, float(i % INTERVAL - INTERVAL + INTERVAL * TOLERANCE))
    expired: list[object] = []
    return index, keys, expired


def measure(n: int, ticks: int) -> dict[str, float]:
    rng = random.Random(n)
    index, keys, expired = makeIndex(n)
    reaper = Reaper(Clock(), index, lambda key, when, now: expired.append(key))

    # Idle ticks: nothing due before t = 30.
    start = time.perf_counter()
    for t in range(ticks):
        reaper.reapExpired(t * 1e-6)
    idleTick = (time.perf_counter() - start) / ticks
    assert not expired

    # Refreshes in random order, then the catch-up that pops their stale
    # entries, to charge each refresh its full (amortised) cost.
    order = keys[:]
    rng.shuffle(order)
    start = time.perf_counter()
    for key in order:
        index.set(key, 1000.0)
    reaper.reapExpired(999.0)
    refresh = (time.perf_counter() - start) / n
    assert not expired and len(index) == n

    # Steady state: one minute of ticks, each call refreshing every 30 s.
    index, keys, expired = makeIndex(n)
    reaper = Reaper(Clock(), index, lambda key, when, now: expired.append(key))
    slices = [keys[s::INTERVAL] for s in range(INTERVAL)]
    reapTime = 0.0
    start = time.perf_counter()
    for t in range(60):
        now = float(t)
        for key in slices[t % INTERVAL]:
            index.set(key, now + INTERVAL * TOLERANCE)
        before = time.perf_counter()
        reaper.reapExpired(now)
        reapTime += time.perf_counter() - before
    steadyTick = (time.perf_counter() - start) / 60
    assert not expired, len(expired)

    # One tick expiring 1% of the calls.
    index = DeadlineIndex()
    expired = []
    reaper = Reaper(Clock(), index, lambda key, when, now: expired.append(key))
    for i, key in enumerate(keys):
        index.set(key, 50.0 if i % 100 == 0 else 90.0)
    start = time.perf_counter()
    reaper.reapExpired(50.0)
    expireTick = time.perf_counter() - start
    assert len(expired) == len(keys[::100])

    return {
        "idleTick": idleTick,
        "refresh": refresh,
        "steadyTick": steadyTick,
        "steadyReap": reapTime / 60,
        "expireTick": expireTick,
    }


def main(argv: list[str]) -> None:
    ticks = int(argv[1]) if len(argv) > 1 else 10_000
    gc.disable()
    print(
        f"reaper benchmark: {ticks} idle ticks; keepalive every {INTERVAL} s, "
        f"deadline {INTERVAL * TOLERANCE} s"
    )
    header = (
        f"{'n':>8} | {'idle tick us':>12} | {'refresh us':>10} | "
        f"{'steady tick ms':>14} | {'of which reap ms':>16} | {'1% expire ms':>12}"
    )
    print(header)
    print("-" * len(header))
    for n in SIZES:
        r = measure(n, ticks)
        print(
            f"{n:>8} | {r['idleTick'] * 1e6:>12.3f} | {r['refresh'] * 1e6:>10.3f} | "
            f"{r['steadyTick'] * 1e3:>14.3f} | {r['steadyReap'] * 1e3:>16.3f} | "
            f"{r['expireTick'] * 1e3:>12.3f}"
        )
        gc.collect()


if __name__ == "__main__":
    main(sys.argv)
