"""
The invention: continue-call keepalives (patent WO 00/33550).

L{KeepaliveManager} sits beside the proxy core. It is

  - a dialog observer (L{IDialogObserver}): a confirmed dialog gets its
    keepalive state and, depending on the reap mode, a deadline; a
    terminated one leaves the deadline index;
  - an in-dialog hook of the core (L{ProxyCore.inDialogHooks}): it sees every
    request inside a dialog before it is routed, recognises keepalives
    (an INVITE equal to the dialog's last one: same Call-ID, tags, CSeq
    number and SDP media) and other proofs of life, answers an absorbed
    keepalive itself, and refuses forged ones;
  - the owner of the reapers: when no proof of life came within
    C{interval × tolerance}, it sends BYE to both legs, classifies their
    answers into why the keepalives stopped, and ends the dialog with cause
    C{keepalive-timeout} and the end time of its last proof of life.

Everything time-related runs on the injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure
from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.dialog.model import Dialog, EndCause, Leg
from keepsip.dialog.observer import DialogObserver
from keepsip.keepalive.bye import KEEPALIVE_TIMEOUT_REASON, buildBye, nextCSeq
from keepsip.keepalive.causes import classifyByeOutcome, summariseEnd
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.ratelimit import RateLimiter
from keepsip.keepalive.reaper import Reaper
from keepsip.sip.headers import cseq, fromHeader, newBranch, newTag, toHeader
from keepsip.sip.message import Request, Response
from keepsip.sip.sdp import sameMedia
from keepsip.transaction.interfaces import IClientTransactionUser
from keepsip.transaction.responses import responseFromRequest

log = Logger()


class ClientTransactionStarter(Protocol):
    """
    What the terminator needs of the transaction layer: starting a client
    transaction (L{keepsip.transaction.layer.TransactionLayer.request}).
    """

    def request(
        self, request: Request, destination: tuple[str, int], user: IClientTransactionUser
    ) -> object: ...

#: Methods that may be configured as keepalives besides INVITE (claim 12);
#: SESSION-REFRESH stands for RFC 4028 refreshes (a re-INVITE or UPDATE
#: carrying Session-Expires).
KEEPALIVE_METHODS = frozenset({"INVITE", "OPTIONS", "UPDATE", "INFO", "SESSION-REFRESH"})

#: keepsip's own Min-SE (RFC 4028 §5: never below 90 seconds).
MIN_SE = 90


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
    @ivar rateLimit: keepalives per second per source address. One address
        may carry many calls (an edge proxy, a B2BUA, a PBX): at the default
        100/s it can keep 3000 calls alive at a 30 s interval.
    @ivar rateBurst: burst of the per-source rate limit; L{None} for twice
        the rate (at least 10).
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
    rateLimit: float = 100.0
    rateBurst: int | None = None

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


@dataclass
class KeepaliveState:
    """
    Per-dialog keepalive bookkeeping, the keepalive layer's attachment
    (C{dialog.attachments.get(KeepaliveState)}); the count and time of the
    last keepalive, which accounting reads, are C{dialog.keptAlive}.
    """

    window: float = 0.0
    subject: bool = False
    pendingAck: int | None = None
    answer: "_AbsorbedAnswer | None" = None
    terminating: bool = False
    forged: int = 0


def _sameAddress(a: tuple[str, int] | None, b: tuple[str, int] | None) -> bool:
    if a is None or b is None:
        return False
    return a[0].strip("[]").lower() == b[0].strip("[]").lower() and a[1] == b[1]


class _AbsorbedAnswer:
    """
    The 200 keepsip gave an absorbed keepalive, retransmitted as a UAS core
    does (RFC 3261 §13.3.1.4): after T1, doubling up to T2, until the ACK
    comes or 64 × T1 have passed. Without it a lost 200 would leave the
    caller waiting for timer B, since keepsip's 100 Trying already stopped
    its INVITE retransmissions.
    """

    def __init__(self, clock: Any, transaction: Any, response: Response, t1: float, t2: float) -> None:
        self.clock = clock
        self.transaction = transaction
        self.response = response
        self.interval = t1
        self.t2 = t2
        self.giveUpAt = clock.seconds() + 64 * t1
        self._call: Any = clock.callLater(t1, self._retransmit)

    def _retransmit(self) -> None:
        self._call = None
        if self.clock.seconds() >= self.giveUpAt:
            return
        self.transaction.respond(self.response)
        self.interval = min(2 * self.interval, self.t2)
        self._call = self.clock.callLater(self.interval, self._retransmit)

    def resend(self) -> None:
        """
        The caller retransmitted its keepalive: answer it again now.
        """
        self.transaction.respond(self.response)

    def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None


@implementer(IClientTransactionUser)
class _ByeOutcome:
    """
    Waits for the final answer to one of keepsip's BYEs and classifies it.
    """

    def __init__(self) -> None:
        self.result: Deferred[str] = Deferred()

    def _done(self, detail: str) -> None:
        if not self.result.called:
            self.result.callback(detail)

    def _failed(self, failure: Failure) -> None:
        # The BYE could not be sent: the termination fails (and is retried).
        if not self.result.called:
            self.result.errback(failure)

    def responseReceived(self, response: Response, clientTransaction: Any) -> None:
        if response.code >= 200:
            self._done(classifyByeOutcome(response.code, False, False))

    def timedOut(self, clientTransaction: Any) -> None:
        self._done(classifyByeOutcome(None, True, False))

    def transportFailed(self, clientTransaction: Any) -> None:
        self._done(classifyByeOutcome(None, False, True))


class KeepaliveManager(DialogObserver):
    """
    Recognises keepalives, keeps deadlines, and ends silent calls.

    @param clock: an L{IReactorTime}.
    @param settings: the L{KeepaliveSettings}.
    @param store: the dialog store; the memory store's synchronous lookups
        are used on the request path.
    @param tracker: the L{DialogTracker} (for events and termination).
    @param clients: starts the client transactions of keepsip's BYEs:
        C{clients.request(message, (host, port), user)}.
    @param sentBy: keepsip's C{host:port} for the BYEs' Via.
    @param resolve: C{resolve(hostname) -> Deferred[str]} for next hops that
        are not IP literals, or L{None}.
    """

    def __init__(
        self,
        clock: Any,
        settings: KeepaliveSettings,
        store: Any,
        tracker: Any,
        clients: ClientTransactionStarter,
        sentBy: str,
        resolve: Callable[[str], Deferred[str]] | None = None,
        t1: float = 0.5,
        t2: float = 4.0,
    ) -> None:
        self.clock = clock
        self.t1 = t1
        self.t2 = t2
        self.settings = settings
        self.store = store
        self.tracker = tracker
        self.clients = clients
        self.sentBy = sentBy
        self.resolve = resolve
        self.index: DeadlineIndex[tuple[str, str]] = DeadlineIndex()
        self.maxIndex: DeadlineIndex[tuple[str, str]] = DeadlineIndex()
        self.reaper = Reaper(clock, self.index, self._keepaliveExpired, settings.reaperTick)
        self.maxReaper = Reaper(clock, self.maxIndex, self._maxDurationExpired, settings.reaperTick)
        burst = settings.rateBurst or max(10, int(2 * settings.rateLimit))
        self.limiter = RateLimiter(clock, settings.rateLimit, burst)
        self.keepalives = 0
        self.forged = 0
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
        elif settings.reap == "require":
            state.subject = True
        if state.subject:
            self.index.set(dialog.callKey, now + state.window)
        if settings.maxDuration:
            self.maxIndex.set(dialog.callKey, now + settings.maxDuration)

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        state = dialog.attachments.get(KeepaliveState)
        if state is not None:
            self._stopAnswer(state)
        self.index.discard(dialog.callKey)
        self.maxIndex.discard(dialog.callKey)

    # -- the core's in-dialog hooks -------------------------------------------

    def _dialogFor(self, request: Request) -> tuple[Dialog, Leg] | None:
        try:
            key = (
                request.header("call-id") or "",
                fromHeader(request).tag or "",
                toHeader(request).tag or "",
            )
        except ValueError:
            return None
        dialog = self.store.getByDialogID(key)
        if dialog is None or not dialog.isConfirmed:
            return None
        sender = dialog.legFor(key[1])
        if sender is None:
            return None
        return dialog, sender

    def _legCounts(self, dialog: Dialog, sender: Leg) -> bool:
        legs = self.settings.legs
        if legs == "either" or dialog.sessionExpires:
            return True
        return (sender is dialog.caller) == (legs == "caller")

    def inDialogRequest(self, request: Request, serverTransaction: Any) -> bool:
        """
        Look at a request inside a dialog before it is routed.

        @return: L{True} if keepsip answered it and it must not be forwarded.
        """
        found = self._dialogFor(request)
        if found is None:
            return False
        dialog, sender = found
        state: KeepaliveState | None = dialog.attachments.get(KeepaliveState)
        if state is None or state.terminating:
            return False
        method = request.method
        source = serverTransaction.source
        if method == "INVITE":
            kind = self._classifyInvite(dialog, sender, request)
            if kind == "keepalive":
                return self._keepalive(dialog, sender, request, serverTransaction, state)
            if kind == "conflict":
                log.warn(
                    "INVITE with the last CSeq but other media in {callID}: not a keepalive",
                    callID=dialog.callID,
                    peer=source,
                )
                response = responseFromRequest(request, 500, "Server Internal Error")
                response.addHeader("retry-after", "5")
                serverTransaction.respond(response)
                return True
            if kind == "reinvite" and self._authentic(dialog, sender, source):
                self._proofOfLife(dialog, sender, state, keepalive=False)
            return False
        methods = self.settings.methods
        refresh = (
            "SESSION-REFRESH" in methods
            and method == "UPDATE"
            and request.headers.get("session-expires")
        )
        if method in methods or refresh:
            if not self._authentic(dialog, sender, source):
                self._forgery(dialog, source, method)
                return False
            self._proofOfLife(dialog, sender, state, keepalive=True)
        return False

    def _classifyInvite(self, dialog: Dialog, sender: Leg, request: Request) -> str:
        """
        C{keepalive}, C{reinvite}, C{conflict} or C{stale}.
        """
        last = dialog.lastInvite
        try:
            number = cseq(request).number
            lastNumber = cseq(last).number
            lastSender = fromHeader(last).tag
        except (ValueError, AttributeError):
            return "stale"
        if number == lastNumber and lastSender == sender.tag:
            if sameMedia(request.body, dialog.lastOfferSDP):
                return "keepalive"
            return "conflict"
        if number > sender.cseq:
            return "reinvite"
        return "stale"

    def _authentic(self, dialog: Dialog, sender: Leg, source: tuple[str, int]) -> bool:
        """
        A proof of life counts only from the leg's known address, or from the
        next hop of its route set (a proxy between keepsip and it).
        """
        if _sameAddress(sender.source, source):
            return True
        if sender.routeSet:
            from keepsip.sip.headers import parseNameAddr

            from keepsip.sip.uri import URI

            try:
                hop = parseNameAddr(sender.routeSet[0]).uri
            except ValueError:
                return False
            if isinstance(hop, URI):
                return _sameAddress((hop.host, hop.port or 5060), source)
        return False

    def _forgery(self, dialog: Dialog, source: tuple[str, int], method: str) -> None:
        self.forged += 1
        state = dialog.attachments.get(KeepaliveState)
        if state is not None:
            state.forged += 1
        log.warn(
            "forged keepalive for {callID} ignored: {method} from {peer}",
            callID=dialog.callID,
            method=method,
            peer=source,
        )

    def _keepalive(
        self,
        dialog: Dialog,
        sender: Leg,
        request: Request,
        serverTransaction: Any,
        state: KeepaliveState,
    ) -> bool:
        source = serverTransaction.source
        if not self._authentic(dialog, sender, source):
            self._forgery(dialog, source, "INVITE")
            serverTransaction.respond(responseFromRequest(request, 403, "Forbidden", toTag=newTag()))
            return True
        if not self.limiter.allow(source):
            log.info("keepalive rate limit hit by {peer}", peer=source, callID=dialog.callID)
            response = responseFromRequest(request, 503, "Service Unavailable")
            response.addHeader("retry-after", str(max(1, int(self.settings.interval))))
            serverTransaction.respond(response)
            return True
        self._proofOfLife(dialog, sender, state, keepalive=True)
        if self.settings.policy == "absorb":
            answer = self._answerFromState(dialog, sender, request)
            serverTransaction.respond(answer)
            self._stopAnswer(state)
            state.pendingAck = cseq(request).number
            state.answer = _AbsorbedAnswer(self.clock, serverTransaction, answer, self.t1, self.t2)
            return True
        return False

    @staticmethod
    def _stopAnswer(state: KeepaliveState) -> None:
        if state.answer is not None:
            state.answer.stop()
            state.answer = None

    def _answerFromState(self, dialog: Dialog, sender: Leg, request: Request) -> Response:
        """
        The 200 OK the other leg gave, rebuilt from the dialog: its tag, its
        Contact, the last answer SDP.
        """
        other = dialog.otherLeg(sender)
        response = responseFromRequest(request, 200, "OK")
        if other.remoteTarget:
            response.addHeader("contact", f"<{other.remoteTarget}>")
        if dialog.lastAnswerSDP:
            response.addHeader("content-type", "application/sdp")
            response.body = dialog.lastAnswerSDP
        return response

    def retransmissionReceived(self, request: Request, serverTransaction: Any) -> None:
        """
        An INVITE absorbed by its still-living server transaction: a
        keepalive too if it equals the dialog's last INVITE.
        """
        if request.method != "INVITE":
            return
        found = self._dialogFor(request)
        if found is None:
            return
        dialog, sender = found
        state = dialog.attachments.get(KeepaliveState)
        if state is None or state.terminating:
            return
        if state.answer is not None and state.answer.transaction is serverTransaction:
            # A retransmission of a keepalive keepsip answered: the same
            # keepalive, so it is not counted again; the 200 may be lost.
            state.answer.resend()
            return
        if self._classifyInvite(dialog, sender, request) != "keepalive":
            return
        if not self._authentic(dialog, sender, serverTransaction.source):
            self._forgery(dialog, serverTransaction.source, "INVITE")
            return
        if self.limiter.allow(serverTransaction.source):
            # An equal INVITE reusing the original INVITE's transaction.
            self._proofOfLife(dialog, sender, state, keepalive=True)

    def ackReceived(self, request: Request, source: tuple[str, int]) -> bool:
        """
        @return: L{True} if the ACK acknowledges a keepalive keepsip answered
            itself, so it must not be forwarded.
        """
        found = self._dialogFor(request)
        if found is None:
            return False
        dialog, sender = found
        state = dialog.attachments.get(KeepaliveState)
        if state is None or state.pendingAck is None:
            return False
        try:
            number = cseq(request).number
        except ValueError:
            return False
        if number == state.pendingAck and self._authentic(dialog, sender, source):
            state.pendingAck = None
            self._stopAnswer(state)
            return True
        return False

    def _proofOfLife(self, dialog: Dialog, sender: Leg, state: KeepaliveState, keepalive: bool) -> None:
        now = self.clock.seconds()
        sender.lastRequestAt = now
        if not self._legCounts(dialog, sender):
            return
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
            self.tracker.keptAlive(dialog)

    # -- session timer assist (RFC 4028) -------------------------------------

    def initialInviteForwarding(self, request: Request, serverTransaction: Any) -> bool:
        """
        Called before an initial INVITE is forwarded.

        @return: L{True} if keepsip answered it (422) and it must not be
            forwarded.
        """
        if not self.settings.sessionTimerAssist:
            return False
        headers = request.headers
        supported = {v.strip().lower() for v in headers.get("supported", ())}
        try:
            minSE = max(MIN_SE, int((headers.get("min-se") or ["0"])[0].split(";")[0]))
        except ValueError:
            minSE = MIN_SE
        values = headers.get("session-expires")
        if values:
            try:
                requested = int(values[0].split(";")[0])
            except ValueError:
                return False
            if requested >= minSE:
                return False
            if "timer" in supported:
                response = responseFromRequest(request, 422, "Session Interval Too Small")
                response.addHeader("min-se", str(minSE))
                serverTransaction.respond(response)
                return True
            # RFC 4028 §8.1: without timer support, raise it instead.
            request.setHeader("session-expires", str(minSE))
            request.setHeader("min-se", str(minSE))
            return False
        request.setHeader("session-expires", str(max(minSE, self.settings.assistedSessionExpires)))
        return False

    # -- expiry and termination ------------------------------------------

    def _keepaliveExpired(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or dialog.isTerminated or dialog.ending is not None:
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
        return self._end(dialog, EndCause.KEEPALIVE_TIMEOUT, silent, endedAt, now, state)

    def _maxDurationExpired(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or dialog.isTerminated or dialog.ending is not None:
            return None
        state = dialog.attachments.get(KeepaliveState) or KeepaliveState()
        log.info("maximum duration reached in {callID}", callID=dialog.callID)
        return self._end(
            dialog,
            EndCause.MAX_DURATION,
            "none",
            now,
            now,
            state,
            "maximum call duration reached",
            'SIP;cause=200;text="maximum call duration"',
        )

    def _end(
        self,
        dialog: Dialog,
        cause: str,
        silent: str,
        endedAt: float,
        detectedAt: float,
        state: KeepaliveState,
        reasonText: str = "neither leg kept the call alive",
        reasonHeader: str = KEEPALIVE_TIMEOUT_REASON,
    ) -> Deferred[None]:
        """
        L{terminate} the dialog for a reaper, which waits for the returned
        Deferred and counts it as failed if ending the call went wrong.

        An attempt that fails (a BYE that cannot be built or sent, a tracker
        that raises) is retried once; if the retry fails too, the dialog is
        ended without the BYEs' outcomes, with a detail saying so. Either
        way the call never lingers in the store.

        @return: a Deferred firing with L{None} once the dialog ended, or
            failing with the first failure (after the dialog ended).
        """

        def attempt() -> Deferred[dict[str, str]]:
            return maybeDeferred(
                self.terminate,
                dialog,
                cause,
                silent,
                endedAt,
                detectedAt,
                state,
                reasonText,
                reasonHeader,
            )

        def forceEnd(failure: Failure) -> object:
            log.failure(
                "retry of ending {callID} failed too: ending it without the BYEs",
                failure,
                callID=dialog.callID,
            )
            self.tracker.terminate(
                dialog,
                cause,
                {"silent": silent, "why": f"{reasonText}; the BYEs could not be completed"},
                endedAt=endedAt,
                detectedAt=detectedAt,
            )
            return None

        def retry(failure: Failure) -> object:
            if dialog.isTerminated:
                return failure
            log.failure("ending {callID} failed: retrying once", failure, callID=dialog.callID)
            again: Deferred[object] = attempt().addErrback(forceEnd)
            return again.addCallback(lambda _: failure)

        done: Deferred[object] = attempt().addErrback(retry)
        return done.addCallback(lambda _: None)

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

    def terminate(
        self,
        dialog: Dialog,
        cause: str,
        silent: str,
        endedAt: float,
        detectedAt: float,
        state: KeepaliveState,
        reasonText: str = "neither leg kept the call alive",
        reasonHeader: str = KEEPALIVE_TIMEOUT_REASON,
    ) -> Deferred[dict[str, str]]:
        """
        Send BYE to both legs (claim 6), wait for both outcomes, and end the
        dialog with a per-leg detail of why (claims 7-8).

        @return: a L{Deferred} firing with the end detail.
        """
        state.terminating = True
        self._stopAnswer(state)
        self.index.discard(dialog.callKey)
        self.maxIndex.discard(dialog.callKey)
        outcomes = [
            self._sendBye(dialog, leg, reasonHeader) for leg in (dialog.caller, dialog.callee)
        ]

        from twisted.internet.defer import gatherResults

        def finish(results: list[str]) -> dict[str, str]:
            callerDetail, calleeDetail = results
            if silent in ("caller", "callee"):
                detail = summariseEnd(callerDetail, calleeDetail, silent)
            else:
                detail = {
                    "caller": callerDetail,
                    "callee": calleeDetail,
                    "silent": silent,
                    "why": reasonText,
                }
            self.tracker.terminate(dialog, cause, detail, endedAt=endedAt, detectedAt=detectedAt)
            return detail

        return gatherResults(outcomes).addCallback(finish)

    def _sendBye(self, dialog: Dialog, leg: Leg, reason: str) -> Deferred[str]:
        try:
            bye, destination = buildBye(
                dialog,
                leg,
                self.sentBy,
                newBranch(),
                nextCSeq(dialog, leg),
                reason,
            )
        except ValueError as e:
            log.info("cannot build BYE for {callID}: {error}", callID=dialog.callID, error=str(e))
            return maybeDeferred(lambda: "unknown")
        if destination is None:
            return maybeDeferred(lambda: "unknown")
        outcome = _ByeOutcome()
        host, port = destination

        def send(address: str) -> None:
            self.clients.request(bye, (address, port), outcome)

        if isIPAddress(host) or isIPv6Address(host) or self.resolve is None:
            send(host)
        else:
            maybeDeferred(self.resolve, host).addCallbacks(
                send, lambda f: outcome._done("unreachable")
            ).addErrback(outcome._failed)
        return outcome.result
