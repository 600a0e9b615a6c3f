"""
The invention: continue-call keepalives (patent WO 00/33550).

L{KeepaliveManager} keeps each call's keepalive deadline and ends the calls
whose keepalives stopped. It is

  - a dialog observer: a confirmed dialog gets its L{KeepaliveState} and,
    depending on the reap mode, a deadline; a terminated one leaves the
    deadline indexes;
  - the bookkeeper of proofs of life: the keepalive transaction user
    (L{keepsip.keepalive.transactionuser}) recognises them on the request
    path and reports them here (L{KeepaliveManager.proofOfLife}), which
    moves the deadline and tells the dialog tracker;
  - the owner of the reapers: when no proof of life came within
    C{interval × tolerance}, the L{Terminator} sends BYE to both legs,
    classifies their answers into why the keepalives stopped, and ends the
    dialog with cause C{keepalive-timeout} and the end time of its last
    proof of life.

Everything time-related runs on the injected clock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred

from keepsip.dialog.model import Dialog, EndCause, Leg
from keepsip.dialog.observer import DialogObserver
from keepsip.keepalive.absorb import stopAnswer
from keepsip.keepalive.bye import KEEPALIVE_TIMEOUT_REASON
from keepsip.keepalive.deadlines import DeadlineIndex, InOrderDeadlineIndex
from keepsip.keepalive.ratelimit import RateLimiter
from keepsip.keepalive.reaper import Reaper
from keepsip.keepalive.recognition import findDialog
from keepsip.keepalive.sessiontimer import MIN_SE
from keepsip.keepalive.state import KeepaliveState
from keepsip.keepalive.termination import Terminator, beingEnded
from keepsip.logs import Logger
from keepsip.sip.message import Request

log = Logger()

#: Methods that may be configured as keepalives besides INVITE (claim 12);
#: SESSION-REFRESH stands for RFC 4028 refreshes (a re-INVITE or UPDATE
#: carrying Session-Expires).
KEEPALIVE_METHODS = frozenset({"INVITE", "OPTIONS", "UPDATE", "INFO", "SESSION-REFRESH"})


@dataclass(frozen=True)
class KeepaliveSettings:
    """
    How keepsip treats keepalives; fixed per dialog when it is confirmed.

    @ivar interval: seconds between the keepalives endpoints send.
    @ivar tolerance: missed intervals before a dialog expires (may be
        fractional).
    @ivar reaperTick: seconds between reaper runs.
    @ivar policy: C{absorb} (keepsip answers keepalives from the dialog
        state) or C{forward} (they go end to end).
    @ivar reap: C{require}, C{opportunistic} or C{off}.
    @ivar legs: which leg's keepalives count: C{caller}, C{callee},
        C{either}.
    @ivar maxDuration: seconds after which any confirmed dialog is ended;
        0 for never.
    @ivar methods: requests that count as keepalives.
    @ivar sessionTimerAssist: insert Session-Expires into INVITEs that have
        none (RFC 4028) so capable user agents refresh by themselves.
    @ivar endTime: C{last-proof} (bill until the last proof of life) or
        C{detection} (until keepsip noticed).
    @ivar rateLimit: keepalives per second per source address, a ceiling
        above the per-dialog limit (a dialog's keepalives count at most once
        per C{interval / 4}). One address may carry many calls (an edge
        proxy, a B2BUA, a PBX): at the default 1000/s it can keep 30,000
        calls alive at a 30 s interval.
    @ivar rateBurst: burst of the per-source rate limit; L{None} for twice
        the rate (at least 10).
    @ivar requireFrom: C{ipaddress} networks whose calls are reaped like
        C{reap="require"} when C{reap} is C{opportunistic}: a call whose
        caller leg came from one of them (an edge that sends keepalives for
        its phones) is subject to its deadline from the answer on.
    """

    interval: float = 30.0
    tolerance: float = 2.0
    reaperTick: float = 1.0
    policy: str = "absorb"
    reap: str = "opportunistic"
    legs: str = "caller"
    maxDuration: float = 14400.0
    methods: frozenset[str] = field(default_factory=lambda: frozenset({"INVITE"}))
    sessionTimerAssist: bool = False
    endTime: str = "last-proof"
    rateLimit: float = 1000.0
    rateBurst: int | None = None
    requireFrom: tuple[Any, ...] = ()

    def requiresKeepalives(self, source: tuple[str, int] | None) -> bool:
        """
        Must a call whose caller (or callee) leg came from C{source} be kept
        alive?

        @param source: the leg's C{(host, port)}, or L{None}.
        """
        if self.reap == "require":
            return True
        return self.reap == "opportunistic" and self.isEdge(source)

    def isEdge(self, source: tuple[str, int] | None) -> bool:
        """
        Is C{source} in C{requireFrom} (an edge sending keepalives for its
        phones)? Its in-dialog OPTIONS count as keepalives, from either leg.
        """
        if not self.requireFrom or source is None:
            return False
        try:
            address = ipaddress.ip_address(source[0].strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in self.requireFrom)

    @property
    def minimumSpacing(self) -> float:
        """
        Seconds within which a dialog's second keepalive does not count:
        a quarter of the interval.
        """
        return self.interval / 4

    @property
    def window(self) -> float:
        """
        Seconds a dialog may stay silent: C{interval × tolerance}.
        """
        return self.interval * self.tolerance

    @property
    def assistedSessionExpires(self) -> int:
        """
        The Session-Expires keepsip inserts: twice the interval (a UA
        refreshes at half of it, RFC 4028 §7.4), at least Min-SE.
        """
        return max(MIN_SE, int(round(2 * self.interval)))


class KeepaliveManager(DialogObserver):
    """
    Keeps deadlines, counts proofs of life, and ends silent calls.

    @param clock: an L{IReactorTime}.
    @param settings: the L{KeepaliveSettings}.
    @param store: the dialog store; the memory store's synchronous lookups
        are used on the request path.
    @param tracker: the L{DialogTracker} (for events).
    @param terminator: the L{Terminator} that ends expired calls.
    @param t1: RFC 3261 T1, for the retransmissions of absorbed answers.
    @param t2: RFC 3261 T2, likewise.

    @ivar keepalives: keepalives counted (a metric).
    @ivar forged: forged keepalives refused or ignored (a metric).
    @ivar tooFrequent: keepalives answered but not counted because their
        dialog's previous one counted less than C{interval / 4} before (a
        metric).
    @ivar expired: calls whose keepalives stopped (a metric).
    """

    def __init__(
        self,
        clock: Any,
        settings: KeepaliveSettings,
        store: Any,
        tracker: Any,
        terminator: Terminator,
        t1: float = 0.5,
        t2: float = 4.0,
    ) -> None:
        self.clock = clock
        self.t1 = t1
        self.t2 = t2
        self.settings = settings
        self.store = store
        self.tracker = tracker
        # A store that can write a keepalive's changes alone (SQLite).
        self._touchNext = getattr(store, "touchNext", None)
        self.terminator = terminator
        self.index: DeadlineIndex[tuple[str, str]] = DeadlineIndex()
        # Every call gets the same maximum duration from its answer on:
        # its deadlines come in order (a queue, half the memory of a heap).
        self.maxIndex: InOrderDeadlineIndex[tuple[str, str]] = InOrderDeadlineIndex()
        expireKeepalive: Any = self._keepaliveExpired
        expireMax: Any = self._maxDurationExpired
        if getattr(store, "shared", False):
            # Several nodes: end a call only after winning its claim.
            from keepsip.keepalive.cluster import claimFirst

            tick = settings.reaperTick
            expireKeepalive = claimFirst(
                store, expireKeepalive, self.index, "keepalive", tick, self._forget
            )
            expireMax = claimFirst(store, expireMax, self.maxIndex, "max-duration", tick, self._forget)
        self.reaper = Reaper(
            clock,
            self.index,
            expireKeepalive,
            settings.reaperTick,
            # Log the counts of forgeries not logged one by one when their
            # window ends, even if the forger fell silent.
            housekeeping=tracker.suspects.sweep,
        )
        self.maxReaper = Reaper(clock, self.maxIndex, expireMax, settings.reaperTick)
        burst = settings.rateBurst or max(10, int(2 * settings.rateLimit))
        self.limiter = RateLimiter(clock, settings.rateLimit, burst)
        # The last keepalive the limiter decided on, and its decision.
        self._ceilingDecision: tuple[Request | None, bool] = (None, True)
        self.keepalives = 0
        self.forged = 0
        self.tooFrequent = 0
        self.expired = 0

    # -- IDialogObserver ---------------------------------------------------

    def dialogConfirmed(self, dialog: Dialog) -> None:
        settings = self.settings
        state = KeepaliveState(window=settings.window)
        dialog.attachments.set(state)
        now = self.clock.seconds()
        sessionExpires = dialog.sessionExpires
        if sessionExpires and settings.reap != "off":
            # RFC 4028: the negotiated interval is this dialog's deadline,
            # and either side may be the refresher.
            state.window = float(sessionExpires)
            state.subject = True
        elif settings.requiresKeepalives(dialog.caller.source) or settings.requiresKeepalives(
            dialog.callee.source
        ):
            state.subject = True
        if state.subject:
            self.index.set(dialog.callKey, now + state.window)
        if settings.maxDuration:
            self.maxIndex.set(dialog.callKey, now + settings.maxDuration)

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        A call set up before keepsip started again: its deadlines resume
        from its stored last proof of life and answer time, so a call that
        fell silent while keepsip was down is reaped on the first tick.
        """
        state = dialog.attachments.setdefault(
            KeepaliveState, lambda: KeepaliveState(window=self.settings.window)
        )
        if state.subject:
            legs = "either" if dialog.sessionExpires else self.settings.legs
            self.index.set(dialog.callKey, self._lastProof(dialog, legs) + state.window)
        if self.settings.maxDuration and dialog.answeredAt is not None:
            self.maxIndex.set(dialog.callKey, dialog.answeredAt + self.settings.maxDuration)

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        state = dialog.attachments.get(KeepaliveState)
        if state is not None:
            stopAnswer(state)
        self.index.discard(dialog.callKey)
        self.maxIndex.discard(dialog.callKey)

    # -- proofs of life, reported by the request path --------------------

    def findDialog(self, request: Request) -> tuple[Dialog, Leg, KeepaliveState] | None:
        """
        The confirmed dialog of an in-dialog request, the leg that sent it
        and the dialog's keepalive state.

        @return: C{(dialog, sender, state)}, or L{None} if the request is in
            no confirmed dialog keepsip keeps keepalive state for.
        """
        found = findDialog(self.store, request)
        if found is None:
            return None
        dialog, sender = found
        state = dialog.attachments.get(KeepaliveState)
        if state is None:
            return None
        return dialog, sender, state

    def withinCeiling(self, request: Request, source: tuple[str, int]) -> bool:
        """
        Is the keepalive C{request} from C{source} within the per-source
        ceiling? The limiter decides once per request: asked again about
        the same request (the stateless admission check first, then the
        transaction user), the first decision is the answer.
        """
        last, allowed = self._ceilingDecision
        if last is request:
            return allowed
        allowed = self.limiter.allow(source)
        self._ceilingDecision = (request, allowed)
        return allowed

    def _legCounts(self, dialog: Dialog, sender: Leg) -> bool:
        legs = self.settings.legs
        if legs == "either" or dialog.sessionExpires or self.settings.isEdge(sender.source):
            # An edge keeps alive whichever leg is its phone's.
            return True
        return (sender is dialog.caller) == (legs == "caller")

    def forgery(self, dialog: Dialog, sender: Leg, source: tuple[str, int], method: str) -> None:
        """
        A keepalive for C{dialog} claiming to be from C{sender} came from
        an address that is not that leg's: count it, and log it once per
        source and window (the tracker's L{SuspectLog}).
        """
        self.forged += 1
        state = dialog.attachments.get(KeepaliveState)
        if state is not None:
            state.forged += 1
        self.tracker.suspects.report(
            source,
            "forged keepalive for {callID} refused: {method} from {peer}, not"
            " from the leg's address {known}",
            callID=dialog.callID,
            method=method,
            known=sender.source,
        )

    def proofOfLife(
        self, dialog: Dialog, sender: Leg, state: KeepaliveState, keepalive: bool
    ) -> bool:
        """
        An authentic request from C{sender} proved the call alive: move the
        deadline and, for a keepalive, count it and tell the tracker.

        A dialog's keepalives count at most once per C{interval / 4}: one
        arriving sooner after the last counted one is answered like any
        other by the caller of this method, but neither counts nor moves the
        deadline (a flood of them costs one comparison each).

        @param keepalive: L{True} for a keepalive (counted), L{False} for
            another proof of life (a re-INVITE).
        @return: whether it counted: L{False} for a leg whose keepalives do
            not count and for a keepalive too soon after the last.
        """
        now = self.clock.seconds()
        if not self._legCounts(dialog, sender):
            sender.lastRequestAt = now
            return False
        if keepalive:
            counted = state.countedAt
            if counted is not None and now - counted < self.settings.minimumSpacing:
                state.tooFrequent += 1
                self.tooFrequent += 1
                return False
            state.countedAt = now
        sender.lastRequestAt = now
        if keepalive:
            dialog.keptAlive.count += 1
            self.keepalives += 1
            if self.settings.reap == "opportunistic":
                state.subject = True
        dialog.keptAlive.lastAt = now
        if state.subject and self.settings.reap != "off" or dialog.sessionExpires:
            state.subject = True
            self.index.set(dialog.callKey, now + state.window)
        if keepalive:
            touchNext = self._touchNext
            if touchNext is None:
                self.tracker.keptAlive(dialog)
            else:
                # The store's update for it writes only what a keepalive changes.
                touchNext(dialog)
                try:
                    self.tracker.keptAlive(dialog)
                finally:
                    touchNext(None)
        return True

    # -- expiry and termination ------------------------------------------

    def _keepaliveExpired(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or beingEnded(dialog) or dialog.ending is not None:
            # Gone, or a BYE passed and its answer will end the dialog.
            return None
        self.expired += 1
        state = dialog.attachments.get(KeepaliveState) or KeepaliveState()
        legs = self.settings.legs
        if dialog.sessionExpires:
            legs = "either"
        proof = self._lastProof(dialog, legs)
        endedAt = proof if self.settings.endTime == "last-proof" else now
        silent = legs if legs != "either" else "both"
        log.info(
            "keepalives stopped in {callID}: silent since {proof}, ending it",
            callID=dialog.callID,
            proof=proof,
        )
        self.tracker.expired(dialog)
        return self._end(dialog, state, EndCause.KEEPALIVE_TIMEOUT, silent, endedAt, now)

    def expire(self, kind: str, key: Any, when: float, now: float) -> Deferred[None] | None:
        """
        End the held call C{key} whose C{kind} deadline (C{keepalive} or
        C{max-duration}) passed: for a call claimed from the shared store
        (L{keepsip.keepalive.cluster}).
        """
        if kind == "max-duration":
            return self._maxDurationExpired(key, when, now)
        return self._keepaliveExpired(key, when, now)

    def _forget(self, key: Any) -> None:
        """
        Another node ends the call C{key}: stop holding it here.
        """
        self.index.discard(key)
        self.maxIndex.discard(key)
        dialog = self.store.getByCallKey(key)
        if dialog is not None:
            self.store.forget(dialog)

    def _maxDurationExpired(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or beingEnded(dialog) or dialog.ending is not None:
            return None
        state = dialog.attachments.get(KeepaliveState) or KeepaliveState()
        log.info("maximum duration reached in {callID}", callID=dialog.callID)
        return self._end(
            dialog,
            state,
            EndCause.MAX_DURATION,
            "none",
            now,
            now,
            "maximum call duration reached",
            'SIP;cause=200;text="maximum call duration"',
        )

    def _lastProof(self, dialog: Dialog, legs: str) -> float:
        candidates = []
        if legs in ("caller", "either"):
            candidates.append(dialog.caller.lastRequestAt)
        if legs in ("callee", "either"):
            candidates.append(dialog.callee.lastRequestAt)
        state = dialog.attachments.get(KeepaliveState)
        if state is not None and dialog.keptAlive.lastAt is not None:
            candidates.append(dialog.keptAlive.lastAt)
        known = [c for c in candidates if c is not None]
        if dialog.answeredAt is not None:
            known.append(dialog.answeredAt)
        return max(known) if known else self.clock.seconds()

    def _end(
        self,
        dialog: Dialog,
        state: KeepaliveState,
        cause: str,
        silent: str,
        endedAt: float,
        detectedAt: float,
        reasonText: str = "neither leg kept the call alive",
        reasonHeader: str = KEEPALIVE_TIMEOUT_REASON,
    ) -> Deferred[None]:
        """
        Stop keepalive handling for C{dialog} and have the terminator end it.

        @return: the terminator's Deferred, for the reaper to wait for and
            count if it fails (see L{Terminator.end}).
        """
        state.terminating = True
        stopAnswer(state)
        self.index.discard(dialog.callKey)
        self.maxIndex.discard(dialog.callKey)
        return self.terminator.end(
            dialog, cause, silent, endedAt, detectedAt, reasonText, reasonHeader
        )


__all__ = ["KEEPALIVE_METHODS", "KeepaliveManager", "KeepaliveSettings"]
