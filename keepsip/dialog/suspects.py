"""
Logging requests from addresses that are not their dialog leg's, once per
source and window, not once per packet.

A forger replaying keepalives sends as many packets as it likes; one log
line each would let it fill the disk and bury everything else. L{SuspectLog}
logs the first suspect request from a source, counts the ones that follow
for C{window} seconds, and then logs how many there were in one line (and
keeps counting in a new window while they go on). Memory is bounded: at
most C{maxSources} sources have a window open; the requests of any further
source are counted together, under L{None}, until windows close.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from twisted.internet.interfaces import IReactorTime

from keepsip.logs import Logger

Address = tuple[str, int]

log = Logger()


class _Window:
    __slots__ = ("start", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.suppressed = 0


class SuspectLog:
    """
    Logs suspect requests once per source and window.

    @param clock: an L{IReactorTime}.
    @param window: seconds between two log lines about one source.
    @param maxSources: sources with an open window at most; beyond, the
        others share one window logged as from "other sources".

    @ivar reported: suspect requests reported (logged or not).
    """

    def __init__(self, clock: IReactorTime, window: float = 60.0, maxSources: int = 1024) -> None:
        if not window > 0:
            raise ValueError(f"window must be positive, not {window!r}")
        self.clock = clock
        self.window = window
        self.maxSources = maxSources
        self.reported = 0
        self._open: OrderedDict[Address | None, _Window] = OrderedDict()

    def __len__(self) -> int:
        """
        How many sources have a window open.
        """
        return len(self._open)

    def report(self, source: Address, format: str, **fields: Any) -> bool:
        """
        A suspect request came from C{source}: log C{format} with
        C{fields} (and C{peer=source}) at warn level if no window is open
        for C{source}, else only count it.

        @return: L{True} if it was logged now.
        """
        self.reported += 1
        now = self.clock.seconds()
        self.sweep(now)
        opened = self._open
        key: Address | None = source
        entry = opened.get(key)
        if entry is None and len(opened) >= self.maxSources:
            key = None
            entry = opened.get(None)
        if entry is not None:
            entry.suppressed += 1
            return False
        opened[key] = _Window(now)
        if key is None:
            log.warn(
                "suspect requests from more than {sources} sources; the latest: " + format,
                sources=self.maxSources,
                peer=source,
                **fields,
            )
        else:
            log.warn(format, peer=source, **fields)
        return True

    def sweep(self, now: float) -> None:
        """
        Close the windows that are C{window} seconds old: log how many
        requests each had that were not logged, and keep a source that had
        some in a new window (so a steady forger gets one line per window).
        Costs only the windows closed.
        """
        opened = self._open
        window = self.window
        while opened:
            key, entry = next(iter(opened.items()))
            if entry.start + window > now:
                return
            del opened[key]
            if entry.suppressed:
                log.warn(
                    "{count} more suspect requests from {peer} in the last {seconds:.0f} s"
                    " (not logged one by one)",
                    count=entry.suppressed,
                    peer=key if key is not None else "other sources",
                    seconds=now - entry.start,
                )
                opened[key] = _Window(now)


__all__ = ["SuspectLog"]
