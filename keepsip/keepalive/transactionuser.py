"""
The keepalive seam: a transaction user in front of the proxy core.

L{KeepaliveTransactionUser} is what the transaction layer talks to, in the
manner of L{twisted.protocols.policies.ProtocolWrapper}: it provides the
same L{ITransactionUser} as the proxy core and adds a policy. It looks at
every request inside a dialog before the core routes it: it absorbs a
keepalive (answers it from the dialog state, L{keepsip.keepalive.absorb}),
refuses a forged or too frequent one, reports proofs of life to the
L{KeepaliveManager}, and consumes the ACK of an absorbed keepalive. On an
initial INVITE it applies the session-timer assist (RFC 4028). Everything
else goes to the core unchanged, so the core knows nothing of keepalives and
keepalive needs nothing of the core.

Requests the core refuses before routing (Max-Forwards exhausted) and
requests that already carry keepsip's own Via (a loop or a spiral) go
straight to the core: only what keepsip receives from a user agent's side
for the first time is a keepalive.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from keepsip.dialog.model import Dialog, Leg
from keepsip.keepalive.absorb import absorb, acknowledge, answerFromState
from keepsip.keepalive.admission import firstPass
from keepsip.keepalive.manager import KeepaliveManager
from keepsip.keepalive.recognition import CONFLICT, KEEPALIVE, REINVITE, classifyInvite, isAuthentic
from keepsip.keepalive.sessiontimer import assistSessionTimer
from keepsip.keepalive.state import KeepaliveState
from keepsip.logs import Logger
from keepsip.sip.headers import cseq, fromHeader, newTag, toHeader
from keepsip.sip.message import Request
from keepsip.sip.responses import responseFromRequest
from keepsip.transaction.interfaces import IServerTransaction, ITransactionUser
from keepsip.transaction.wrapper import TransactionUserWrapper

log = Logger()


class KeepaliveTransactionUser(TransactionUserWrapper):
    """
    Absorbs or refuses keepalives and hands everything else to C{core}.

    @param core: the wrapped L{ITransactionUser} (the proxy core).
    @param manager: the L{KeepaliveManager}.
    @param sentBy: keepsip's own Via sent-by (C{host:port}).
    """

    def __init__(self, core: ITransactionUser, manager: KeepaliveManager, sentBy: str) -> None:
        TransactionUserWrapper.__init__(self, core)
        self.core: Any = core  # the proxy core, which this wraps
        self.manager = manager
        self.sentBy = sentBy.lower()

    # -- ITransactionUser ---------------------------------------------------

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        load = self._loadFirst(request)
        if load is not None:
            # A call another node holds: load it, then handle the request.
            load.addBoth(lambda _: self._requestReceived(request, serverTransaction))
            return
        self._requestReceived(request, serverTransaction)

    def _loadFirst(self, request: Request) -> Deferred[Any] | None:
        """
        With a shared dialog store, the Deferred loading the call of an
        in-dialog request this node does not hold; otherwise L{None}.
        """
        manager = self.manager
        if not getattr(manager.store, "shared", False):
            return None
        try:
            toTag = toHeader(request).tag
            key = (request.header("call-id") or "", fromHeader(request).tag or "", toTag or "")
        except ValueError:
            return None
        if not toTag or manager.store.getByDialogID(key) is not None:
            return None
        return manager.tracker.lookup(key)

    def _requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        try:
            if self._isOurs(request) and self._inspect(request, serverTransaction):
                return
        except Exception:
            log.failure(
                "keepalive handling failed on {method} {callID}",
                method=request.method,
                callID=request.header("call-id"),
            )
            last = serverTransaction.lastResponse
            if last is None or last.code < 200:
                serverTransaction.respond(
                    responseFromRequest(request, 500, "Server Internal Error")
                )
            return
        self.core.requestReceived(request, serverTransaction)

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        if not self._absorbedAck(request, source):
            self.core.ackReceived(request, source)

    def requestRetransmitted(self, request: Request, serverTransaction: IServerTransaction) -> None:
        self._retransmissionReceived(request, serverTransaction)
        self.core.requestRetransmitted(request, serverTransaction)

    # -- which requests are looked at --------------------------------------

    def _isOurs(self, request: Request) -> bool:
        """
        Is C{request} one keepalive handling looks at: an in-dialog request
        or an initial INVITE, with Max-Forwards left, that has not passed
        keepsip already?
        """
        return firstPass(request, self.sentBy)

    def _inspect(self, request: Request, serverTransaction: IServerTransaction) -> bool:
        """
        @return: L{True} if keepsip answered C{request} and it must not
            reach the core.
        """
        if toHeader(request).tag is not None:
            return self._inDialogRequest(request, serverTransaction)
        if request.method == "INVITE" and self.manager.settings.sessionTimerAssist:
            return assistSessionTimer(
                request, serverTransaction, self.manager.settings.assistedSessionExpires
            )
        return False

    # -- the request path ------------------------------------------------

    def _inDialogRequest(self, request: Request, serverTransaction: IServerTransaction) -> bool:
        """
        Look at a request inside a dialog before it is routed.

        @return: L{True} if keepsip answered it and it must not be forwarded.
        """
        manager = self.manager
        found = manager.findDialog(request)
        if found is None:
            return False
        dialog, sender, state = found
        if state.terminating:
            return False
        method = request.method
        source = serverTransaction.source
        if method == "INVITE":
            kind = classifyInvite(dialog, sender, request)
            if kind == KEEPALIVE:
                return self._keepalive(dialog, sender, request, serverTransaction, state)
            if kind == CONFLICT:
                log.warn(
                    "INVITE with the last CSeq but other media in {callID}: not a keepalive",
                    callID=dialog.callID,
                    peer=source,
                )
                response = responseFromRequest(request, 500, "Server Internal Error")
                response.addHeader("retry-after", "5")
                serverTransaction.respond(response)
                return True
            if kind == REINVITE and isAuthentic(dialog, sender, source):
                manager.proofOfLife(dialog, sender, state, keepalive=False)
            return False
        methods = manager.settings.methods
        refresh = (
            "SESSION-REFRESH" in methods
            and method == "UPDATE"
            and request.headers.get("session-expires")
        )
        fromEdge = method == "OPTIONS" and manager.settings.isEdge(sender.source)
        if method in methods or refresh or fromEdge:
            if not isAuthentic(dialog, sender, source):
                manager.forgery(dialog, sender, source, method)
                return False
            manager.proofOfLife(dialog, sender, state, keepalive=True)
        return False

    def _keepalive(
        self,
        dialog: Dialog,
        sender: Leg,
        request: Request,
        serverTransaction: IServerTransaction,
        state: KeepaliveState,
    ) -> bool:
        manager = self.manager
        source = serverTransaction.source
        if not isAuthentic(dialog, sender, source):
            manager.forgery(dialog, sender, source, "INVITE")
            serverTransaction.respond(responseFromRequest(request, 403, "Forbidden", toTag=newTag()))
            return True
        if not manager.withinCeiling(request, source):
            # The per-source ceiling, far above what the per-dialog limit
            # lets any number of honest calls send. Usually decided, and
            # refused statelessly, by KeepaliveAdmission before a
            # transaction existed; this answers what it did not see (no
            # check wired, a dialog loaded from a shared store).
            log.info("keepalive rate limit hit by {peer}", peer=source, callID=dialog.callID)
            response = responseFromRequest(request, 503, "Service Unavailable")
            response.addHeader("retry-after", str(max(1, int(manager.settings.interval))))
            serverTransaction.respond(response)
            return True
        # Answered either way; counted at most once per interval / 4.
        manager.proofOfLife(dialog, sender, state, keepalive=True)
        if manager.settings.policy == "absorb":
            answer = answerFromState(dialog, sender, request)
            absorb(
                state,
                manager.clock,
                serverTransaction,
                answer,
                cseq(request).number,
                manager.t1,
                manager.t2,
            )
            return True
        return False

    def _retransmissionReceived(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
    ) -> None:
        """
        An INVITE absorbed by its still-living server transaction: a
        keepalive too if it equals the dialog's last INVITE.
        """
        if request.method != "INVITE":
            return
        manager = self.manager
        found = manager.findDialog(request)
        if found is None:
            return
        dialog, sender, state = found
        if state.terminating:
            return
        # A retransmission is matched by its Via, not by where it came
        # from: a copy replayed from elsewhere proves nothing and gets
        # nothing.
        source = serverTransaction.latestSource
        if not isAuthentic(dialog, sender, source):
            if classifyInvite(dialog, sender, request) == KEEPALIVE:
                manager.forgery(dialog, sender, source, "INVITE")
            return
        if state.answer is not None and state.answer.transaction is serverTransaction:
            # A retransmission of a keepalive keepsip answered: the same
            # keepalive, so it is not counted again; the 200 may be lost.
            state.answer.resend()
            return
        if classifyInvite(dialog, sender, request) != KEEPALIVE:
            return
        if manager.withinCeiling(request, source):
            # An equal INVITE reusing the original INVITE's transaction.
            manager.proofOfLife(dialog, sender, state, keepalive=True)

    def _absorbedAck(self, request: Request, source: tuple[str, int]) -> bool:
        """
        @return: L{True} if the ACK acknowledges a keepalive keepsip answered
            itself, so it must not be forwarded.
        """
        found = self.manager.findDialog(request)
        if found is None:
            return False
        dialog, sender, state = found
        if state.pendingAck is None:
            return False
        try:
            number = cseq(request).number
        except ValueError:
            return False
        if number != state.pendingAck or not isAuthentic(dialog, sender, source):
            return False
        return acknowledge(state, number)


__all__ = ["KeepaliveTransactionUser"]
