"""
The reaper: a periodic task that ends the dialogs whose keepalives stopped.

Every C{tick} seconds it pops the expired keys from a L{DeadlineIndex} (only
those: nothing is scanned) and calls an C{expire} callable for each, which
sends the BYEs and records the end. It decides from the C{now} it is given
(L{Reaper.reapExpired}), so tests and a restarted node can drive it directly.

A L{LoopingCall} stops on its first exception, so failures are caught and
logged per key. An expiry usually returns a Deferred that fires when both
BYEs are answered, which for the leg that crashed (the very case the reaper
exists for) means after timer F, 32 s. Ticks therefore never wait for the
expiries they started: a key is popped from the index before C{expire} is
called, so no key is handed over twice for one deadline, and the next tick
runs on time whatever the BYEs of the last one are doing. (An earlier
version waited, so one BYE that was never answered held up every other
call's reaping for 32 s; under load the waiting ends gave up and the delay
cascaded.) The reaper keeps the expiries still pending, so that
L{Reaper.stop} can wait for their BYE transactions at shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.logs import Logger

log = Logger()

#: C{expire(key, when, now)}: end the dialog C{key} whose deadline C{when}
#: passed; may return a Deferred, which L{Reaper.stop} waits for (ticks do not).
ExpireFunction = Callable[[Hashable, float, float], "Deferred[Any] | None"]


class Reaper:
    """
    Expires the keys of a L{DeadlineIndex} on a clock.

    @ivar clock: the L{IReactorTime} the loop runs on.
    @ivar index: the L{DeadlineIndex}.
    @ivar tick: seconds between ticks; a key expires at most this long after
        its deadline.
    @ivar ticks: how many ticks ran (a metric).
    @ivar reaped: how many keys were handed to C{expire} (a metric).
    @ivar failures: how many C{expire} calls failed (a metric).
    @ivar batch: the most keys one reactor turn expires; a tick with more
        expires the rest a batch per turn (C{callLater(0)}), so a burst of
        expiries does not starve the reactor.
    @ivar housekeeping: called with C{now} at the start of every tick (for
        other work due on the same rhythm, such as closing log windows), or
        L{None}; its failures are logged.
    """

    batch: int = 50

    def __init__(
        self,
        clock: IReactorTime,
        index: DeadlineIndex[Any],
        expire: ExpireFunction,
        tick: float = 1.0,
        housekeeping: Callable[[float], None] | None = None,
    ) -> None:
        if not tick > 0:
            raise ValueError(f"tick must be positive, not {tick!r}")
        self.clock: Any = clock  # typed Any: mypy cannot call zope interface methods
        self.index = index
        self.expire = expire
        self.tick = tick
        self.ticks = 0
        self.reaped = 0
        self.failures = 0
        self.housekeeping = housekeeping
        self._loop: LoopingCall | None = None
        # The expiries started by past ticks whose Deferreds have not fired.
        self._pending: set[Deferred[Any]] = set()

    @property
    def running(self) -> bool:
        """
        Whether the periodic task is running.
        """
        return self._loop is not None and self._loop.running

    def start(self) -> None:
        """
        Start ticking every L{tick} seconds, the first tick one L{tick} from
        now. Starting a running reaper does nothing.
        """
        if self.running:
            return
        loop = self._loop = LoopingCall(self._tick)
        loop.clock = self.clock
        done = loop.start(self.tick, now=False)
        # reapExpired never fails, so the loop only ends through stop(); log
        # anything else rather than leave an unhandled error in the Deferred.
        done.addErrback(lambda f: log.failure("keepalive reaper loop died", f))

    def stop(self) -> Deferred[None]:
        """
        Stop ticking. Expiries in progress finish on their own.

        @return: a Deferred that fires when every expiry in progress has
            finished, so a shutdown can wait for its BYE transactions.
        """
        if self.running:
            assert self._loop is not None
            self._loop.stop()
        self._loop = None
        return self._whenIdle()

    @property
    def pending(self) -> int:
        """
        How many expiries are in progress (their Deferreds not yet fired): a
        metric.
        """
        return len(self._pending)

    def _whenIdle(self) -> Deferred[None]:
        """
        @return: a Deferred firing when the expiries in progress are done.
        """
        if not self._pending:
            return succeed(None)
        return gatherResults(list(self._pending)).addCallback(lambda _: None)

    def _tick(self) -> None:
        # Not the Deferred: the LoopingCall would wait for it (see the
        # module docstring).
        self.reapExpired(self.clock.seconds())

    def reapExpired(self, now: float) -> Deferred[None]:
        """
        Pop every key expired at C{now} and call C{expire(key, when, now)} for
        each, catching and logging its failure (synchronous exception or failed
        Deferred) per key.

        @return: a Deferred that fires with L{None} when every C{expire}
            Deferred of this tick has fired; it never fails. The periodic
            ticks do not wait for it; a caller driving the reaper may.
        """
        self.ticks += 1
        if self.housekeeping is not None:
            try:
                self.housekeeping(now)
            except Exception:
                log.failure("reaper housekeeping failed")
        expired = self.index.popExpired(now)
        if not expired:
            return succeed(None)
        self.reaped += len(expired)
        started: list[Deferred[Any]] = []
        batch = self.batch
        if len(expired) <= batch:
            self._expireBatch(expired, now, started)
            return self._gathered(started)
        # A burst (a link died, many calls fell silent together): end the
        # calls a batch per reactor turn, so the datagrams that arrive
        # meanwhile are read between batches instead of after all of them.
        # The rest of the burst is already popped from the index, so it is
        # pending work that stop() waits for like any expiry.
        finished: Deferred[None] = Deferred()
        self._pending.add(finished)
        finished.addBoth(self._expiryFinished, finished)

        def nextBatch(start: int) -> None:
            self._expireBatch(expired[start : start + batch], now, started)
            if start + batch < len(expired):
                self.clock.callLater(0, nextBatch, start + batch)
            else:
                self._gathered(started).chainDeferred(finished)

        nextBatch(0)
        return finished

    def _expireBatch(
        self, expired: list[tuple[Hashable, float]], now: float, started: list[Deferred[Any]]
    ) -> None:
        """
        Call C{expire} for each of C{expired}, adding the Deferreds that
        have not fired, or failed, to C{started}.
        """
        pending = self._pending
        for key, when in expired:
            d = maybeDeferred(self.expire, key, when, now)
            if d.called and not isinstance(d.result, Failure):
                # The common synchronous case: nothing to wait for.
                continue
            d.addErrback(self._expireFailed, key, when)
            if not d.called:
                pending.add(d)
                d.addBoth(self._expiryFinished, d)
            started.append(d)

    @staticmethod
    def _gathered(started: list[Deferred[Any]]) -> Deferred[None]:
        if not started:
            return succeed(None)
        return gatherResults(started).addCallback(lambda _: None)

    def _expiryFinished(self, result: Any, d: Deferred[Any]) -> Any:
        self._pending.discard(d)
        return result

    def _expireFailed(self, failure: Failure, key: Hashable, when: float) -> None:
        self.failures += 1
        log.failure(
            "keepalive expiry of {key} (deadline {when}) failed",
            failure,
            key=key,
            when=when,
        )


class ReaperService(Service):
    """
    Runs a L{Reaper} while the service is running.

    @ivar reaper: the L{Reaper}.
    """

    name = "keepalive-reaper"

    def __init__(self, reaper: Reaper) -> None:
        self.reaper = reaper

    def startService(self) -> None:
        Service.startService(self)
        self.reaper.start()

    def stopService(self) -> Deferred[None]:
        """
        Stop the reaper; it leaves no delayed call behind.

        @return: a Deferred firing when the expiries in progress have finished.
        """
        Service.stopService(self)
        return self.reaper.stop()


__all__ = ["ExpireFunction", "Reaper", "ReaperService"]
