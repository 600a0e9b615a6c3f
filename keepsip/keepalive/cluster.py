"""
Several keepsip nodes over one shared dialog store (Redis): who ends an
expired call.

Every expiry goes through an atomic claim in the store, so exactly one node
sends a call's BYEs and writes its stop record:

  - a node's own reapers (L{keepsip.keepalive.reaper}) expire the calls it
    holds at their deadline, each through L{claimFirst}: it claims the call
    first and ends it only if it won; if another node saw the call alive
    since (the stored deadline is later) the local deadline moves there; if
    another node is ending or ended it the node forgets its copy; if the
    store does not answer the expiry is tried again a tick later;
  - the L{ClusterReaper} on every node claims, once a tick, the calls of
    any node whose deadline passed more than C{grace} seconds ago (their
    node is gone, or never held them) and those whose claim's lease ran
    out (the node that claimed them died while ending them), loads each and
    ends it here.

So a node killed with calls up has them ended by a survivor within
C{interval × tolerance + grace + tick}, and a node killed while ending
calls has them ended again after the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from keepsip.dialog.model import Dialog
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.state import KeepaliveState
from keepsip.logs import Logger

log = Logger()


def lastProof(dialog: Dialog, legs: str) -> float | None:
    """
    The time of the last proof of life that counts for C{dialog} (the rule
    of L{keepsip.keepalive.manager.KeepaliveManager}).
    """
    candidates = []
    if legs in ("caller", "either"):
        candidates.append(dialog.caller.lastRequestAt)
    if legs in ("callee", "either"):
        candidates.append(dialog.callee.lastRequestAt)
    candidates.append(dialog.keptAlive.lastAt)
    candidates.append(dialog.answeredAt)
    known = [c for c in candidates if c is not None]
    return max(known) if known else None


def nodeName(listen: list[tuple[str, int]]) -> str:
    """
    This node's stable name in the shared store: the machine's host name
    and the addresses keepsip listens on (two nodes on one machine listen on
    different ports), the same after a restart so a node loads its calls.
    """
    import socket

    return socket.gethostname() + "/" + ",".join(f"{host}:{port}" for host, port in listen)


def storedDeadlines(settings: Any) -> Callable[[Dialog], tuple[float | None, float | None]]:
    """
    The deadlines the shared store keeps for a dialog.

    @param settings: the L{KeepaliveSettings}.
    @return: a function of a dialog giving its C{(keepalive deadline,
        maximum-duration deadline)}, either L{None} when it has none.
    """

    def deadlines(dialog: Dialog) -> tuple[float | None, float | None]:
        if not dialog.isConfirmed:
            return (None, None)
        keepaliveAt = None
        state = dialog.attachments.get(KeepaliveState)
        if state is not None and state.subject:
            legs = "either" if dialog.sessionExpires else settings.legs
            proof = lastProof(dialog, legs)
            if proof is not None:
                keepaliveAt = proof + state.window
        maxAt = None
        if settings.maxDuration and dialog.answeredAt is not None:
            maxAt = dialog.answeredAt + settings.maxDuration
        return (keepaliveAt, maxAt)

    return deadlines


def claimFirst(
    store: Any,
    expire: Callable[[Any, float, float], Any],
    index: DeadlineIndex[Any],
    kind: str,
    retry: float,
    forget: Callable[[Any], None],
) -> Callable[[Any, float, float], Deferred[Any]]:
    """
    Wrap a reaper's C{expire(key, when, now)} so that it ends a call only
    after winning its claim in the shared C{store}.

    @param index: the local deadline index of C{kind}, re-armed when the
        call turns out alive or the store does not answer.
    @param kind: C{keepalive} or C{max-duration}.
    @param retry: seconds before an expiry the store did not answer is
        tried again.
    @param forget: called with the key of a call another node ends.
    """

    def gated(key: Any, when: float, now: float) -> Deferred[Any]:
        def decided(verdict: tuple[str, Any]) -> Any:
            outcome, deadline = verdict
            if outcome == "won":
                return expire(key, when, now)
            if outcome == "alive":
                index.set(key, deadline)
                return None
            log.info(
                "{callID}: another node {what} it", callID=key[0],
                what="is ending" if outcome == "lost" else "ended",
            )
            forget(key)
            return None

        def failed(reason: Failure) -> None:
            log.warn(
                "cannot claim expired {callID} ({error}); trying again in {retry}s",
                callID=key[0],
                error=reason.getErrorMessage(),
                retry=retry,
            )
            index.set(key, now + retry)

        return store.claim(key, kind, now).addCallbacks(decided, failed)

    return gated


class ClusterReaper(Service):
    """
    Claims and ends the expired calls no living node ends.

    @param clock: an L{IReactorTime}.
    @param store: the shared store (L{keepsip.dialog.redis.RedisDialogStore}).
    @param tracker: the L{DialogTracker} (to resume a claimed call here).
    @param manager: the L{KeepaliveManager} (to end it).
    @param tick: seconds between claims.
    @param grace: seconds past its deadline before a call is taken from its
        node (that node's own reaper ends it at the deadline if it lives).
    """

    name = "cluster-reaper"

    def __init__(
        self, clock: Any, store: Any, tracker: Any, manager: Any, tick: float, grace: float
    ) -> None:
        self.clock = clock
        self.store = store
        self.tracker = tracker
        self.manager = manager
        self.tick = tick
        self.grace = grace
        self._loop: LoopingCall | None = None

    def startService(self) -> None:
        Service.startService(self)
        loop = self._loop = LoopingCall(self._tick)
        loop.clock = self.clock
        loop.start(self.tick, now=False).addErrback(
            lambda f: log.failure("cluster reaper loop died", f)
        )

    def stopService(self) -> Any:
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _tick(self) -> Deferred[None]:
        return self.reapExpired(self.clock.seconds())

    def reapExpired(self, now: float) -> Deferred[None]:
        """
        Claim the calls expired for others at C{now} and end them here.

        @return: a Deferred firing when they are handed to the terminator;
            it never fails (a store error is logged and counted).
        """

        def claimed(calls: list[tuple[Any, str, float, Dialog]]) -> None:
            # The ends are not waited for: their BYEs may take timer F (a
            # crashed leg), and the loop waits for this Deferred (see
            # keepsip.keepalive.reaper).
            for key, kind, when, dialog in calls:
                try:
                    result = self._end(key, kind, when, now, dialog)
                except Exception:
                    log.failure("ending claimed call {callID} failed", callID=key[0])
                    continue
                if isinstance(result, Deferred):
                    result.addErrback(self._endFailed, key)

        def failed(reason: Failure) -> None:
            log.debug("cluster reaper: store error {error}", error=reason.getErrorMessage())

        return self.store.claimExpired(now, self.grace).addCallbacks(claimed, failed)

    @staticmethod
    def _endFailed(reason: Failure, key: Any) -> None:
        log.failure("ending claimed call {callID} failed", reason, callID=key[0])

    def _end(self, key: Any, kind: str, when: float, now: float, dialog: Dialog) -> Any:
        held = self.store.getByCallKey(key)
        if held is None:
            self.store.hold(dialog)
            log.info(
                "{callID}: expired on another node ({kind} deadline {when}); ending it here",
                callID=dialog.callID,
                kind=kind,
                when=when,
            )
            # A call whose BYE had passed, or never answered, ends here.
            self.tracker.restore([dialog])
            held = dialog
        if held.isTerminated:
            return None
        return self.manager.expire(kind, key, when, now)


__all__ = ["ClusterReaper", "claimFirst", "lastProof", "nodeName", "storedDeadlines"]
