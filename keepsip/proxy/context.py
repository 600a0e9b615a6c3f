"""
The RFC 3261 §16.7 response context of one proxied request: its server
transaction, a client transaction per branch, timer C, and the choice of
the best final response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from zope.interface import implementer

from keepsip.logs import Logger
from keepsip.sip.headers import newTag
from keepsip.sip.message import Request, Response
from keepsip.sip.responses import responseFromRequest
from keepsip.transaction.interfaces import (
    IClientTransaction,
    IClientTransactionUser,
    IServerTransaction,
)
from keepsip.transaction.sent import KeptRequest

if TYPE_CHECKING:
    from keepsip.proxy.core import ProxyCore

log = Logger()


@implementer(IClientTransactionUser)
class ResponseContext:
    """
    The §16.7 response context of one proxied request: its server
    transaction and a client transaction per branch.
    """

    # Slots: every held call keeps its context for 32 s after the answer.
    __slots__ = (
        "core", "request", "serverTransaction", "branches", "pending", "finals",
        "_answered", "finalSent", "cancelled", "isInvite", "_timerC", "_rewriting",
        "_queued", "waitingForMedia",
    )

    def __init__(
        self,
        core: "ProxyCore",
        request: Request,
        serverTransaction: IServerTransaction,
    ) -> None:
        self.core = core
        self.request = request
        self.serverTransaction = serverTransaction
        self.branches: list[Any] = []
        self.pending = 0
        self.finals: list[Response] = []
        # ids of the branches that answered 2xx: a tuple, not a set (216
        # bytes), as every held call keeps its context for 32 s (Accepted).
        self._answered: tuple[int, ...] = ()
        self.finalSent = False
        self.cancelled = False
        self.isInvite = request.method == "INVITE"
        self._timerC: IDelayedCall | None = None
        # The last response waiting for the media relay: later ones wait
        # behind it, so responses are relayed in the order they came.
        self._rewriting: Deferred[None] | None = None
        self._queued = 0
        #: The request waits for the media relay before it is forwarded.
        self.waitingForMedia = False

    def addBranch(self, clientTransaction: IClientTransaction) -> None:
        self.branches.append(clientTransaction)
        self.pending += 1
        if self.isInvite and self._timerC is None:
            self._armTimerC()

    def _armTimerC(self) -> None:
        if self._timerC is not None and self._timerC.active():
            self._timerC.reset(self.core.timerC)
        else:
            self._timerC = self.core.clock.callLater(self.core.timerC, self._timerCFired)

    def _timerCFired(self) -> None:
        self._timerC = None
        log.info("timer C fired: cancelling {callID}", callID=self.request.header("call-id"))
        self.cancelBranches()

    def _stopTimerC(self) -> None:
        if self._timerC is not None and self._timerC.active():
            self._timerC.cancel()
        self._timerC = None

    def cancelBranches(self) -> None:
        for branch in self.branches:
            if branch.state in ("calling", "proceeding"):
                branch.cancel()

    def cancel(self) -> None:
        """
        The caller sent CANCEL: cancel every pending branch (§16.10).
        """
        self.cancelled = True
        if self.waitingForMedia and not self.finalSent:
            # Not forwarded yet: answer at once; the core will not forward.
            self.finalSent = True
            self.serverTransaction.respond(
                responseFromRequest(self.request, 487, "Request Terminated", toTag=newTag())
            )
        self.cancelBranches()

    def waitForMedia(self, rewriting: Deferred[Any], proceed: Callable[[], None]) -> None:
        """
        The media relay is rewriting the request's SDP: C{proceed} (forward)
        once it is done, or answer the request as C{rewriting} says
        (C{(code, phrase, headers)}), or not at all if a CANCEL came
        meanwhile (L{cancel} answered it).
        """
        self.waitingForMedia = True
        request, serverTransaction = self.request, self.serverTransaction

        def done(rejection: tuple[int, str, dict[str, str]] | None) -> None:
            self.waitingForMedia = False
            if self.cancelled:
                self.core.media.requestAbandoned(request)
            elif rejection is not None:
                code, phrase, extra = rejection
                response = responseFromRequest(request, code, phrase, toTag=newTag())
                for name, value in extra.items():
                    response.addHeader(name, value)
                log.info(
                    "media relay refused {method} {callID}: {code}",
                    method=request.method,
                    callID=request.header("call-id"),
                    code=code,
                )
                serverTransaction.respond(response)
            else:
                proceed()

        def failed(reason: Any) -> None:
            log.failure("forwarding {callID} failed", reason, callID=request.header("call-id"))
            last = serverTransaction.lastResponse
            if last is None or last.code < 200:
                serverTransaction.respond(
                    responseFromRequest(request, 500, "Server Internal Error")
                )

        rewriting.addCallback(done).addErrback(failed)

    # IClientTransactionUser

    def responseReceived(self, response: Response, clientTransaction: IClientTransaction) -> None:
        code = response.code
        # §16.7 step 3: remove keepsip's own Via.
        viaValues = response.headers.get("via")
        if viaValues:
            del viaValues[0]
            response.invalidate("via")
        if not viaValues:
            return
        if code == 100:
            return
        if code < 200:
            if self.isInvite:
                self._armTimerC()
            if not self.finalSent:
                self._relay(response, clientTransaction.destination)
            return
        if code < 300:
            if id(clientTransaction) not in self._answered:
                self._answered += (id(clientTransaction),)
                self.pending -= 1
            if self.isInvite:
                self._stopTimerC()
            # Every 2xx is forwarded at once, forks included (§16.7 step 5).
            self.finalSent = True
            self._relay(response, clientTransaction.destination)
            if self.isInvite:
                self.cancelBranches()
            return
        self.pending -= 1
        if self.finalSent:
            return
        if 600 <= code < 700:
            # §16.7 step 5: a 6xx ends the search.
            self.cancelBranches()
        self.finals.append(response)
        self._maybeFinish()

    def timedOut(self, clientTransaction: IClientTransaction) -> None:
        self.pending -= 1
        if not self.finalSent:
            self.finals.append(self._synthetic(408, "Request Timeout"))
            self._maybeFinish()

    def transportFailed(self, clientTransaction: IClientTransaction) -> None:
        self.pending -= 1
        if not self.finalSent:
            self.finals.append(self._synthetic(503, "Service Unavailable"))
            self._maybeFinish()

    def _synthetic(self, code: int, phrase: str) -> Response:
        return responseFromRequest(self.request, code, phrase)

    def _maybeFinish(self) -> None:
        if self.pending > 0 or self.finalSent:
            return
        self._stopTimerC()
        best = self._best()
        self.finalSent = True
        if best.code == 408 and self.isInvite and all(f.code == 408 for f in self.finals):
            self.core.tracker.inviteTimedOut(self.request) if self.core.tracker else None
        self._relay(best)

    def _best(self) -> Response:
        """
        §16.7 step 6: a 6xx if any, else the lowest class, preferring 401/407
        over other 4xx; 503 becomes 500 (§16.7 step 6).
        """
        finals = self.finals
        sixes = [r for r in finals if r.code >= 600]
        if sixes:
            best = sixes[0]
        else:
            best = min(finals, key=lambda r: (r.code // 100, r.code not in (401, 407), r.code))
        if best.code == 503:
            replacement = self._synthetic(500, "Server Internal Error")
            return replacement
        return best

    def _relay(self, response: Response, source: tuple[str, int] | None = None) -> None:
        """
        Relay C{response} upstream, after the media relay (if any) has
        rewritten its SDP.
        """
        media = self.core.media
        if media is None:
            self._deliver(response, source)
            return
        if self._queued == 0:
            rewriting = media.rewriteResponse(self.request, response)
            if rewriting is None:
                self._deliver(response, source)
                return
            if rewriting.called:
                rewriting.addCallback(lambda _: self._deliver(response, source))
                rewriting.addErrback(self._relayFailed)
                return
        else:
            assert self._rewriting is not None
            rewriting = self._rewriting.addCallback(
                lambda _: media.rewriteResponse(self.request, response)
            )
        self._rewriting = rewriting
        self._queued += 1

        def finished(result: object) -> None:
            self._queued -= 1
            if self._queued == 0:
                self._rewriting = None

        rewriting.addCallback(lambda _: self._deliver(response, source))
        rewriting.addErrback(self._relayFailed)
        rewriting.addCallback(finished)

    def _relayFailed(self, reason: Any) -> None:
        log.failure("relaying a response failed", reason, callID=self.request.header("call-id"))

    def _deliver(self, response: Response, source: tuple[str, int] | None = None) -> None:
        core = self.core
        if core.tracker is not None:
            if self.isInvite:
                core.tracker.inviteResponse(self.request, response, self.cancelled, source)
            elif self.request.method == "BYE" and response.code >= 200:
                core.tracker.byeAnswered(self.request, response)
        self.serverTransaction.respond(response)
        if self.isInvite and 200 <= response.code < 300 and type(self.request) is not KeptRequest:
            # Accepted (RFC 6026): 32 s more for a retransmitted or forked
            # 2xx, seldom any; the request is kept as its bytes meanwhile.
            self.request = KeptRequest(self.request)


