"""
Client transactions: RFC 3261 §17.1.1 (INVITE, with the RFC 6026 Accepted
state) and §17.1.2 (non-INVITE), and CANCEL (§9.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.sip.message import Request, Response
from keepsip.transaction._base import TransactionBase
from keepsip.transaction.interfaces import IClientTransaction, IClientTransactionUser
from keepsip.transaction.requests import ackForResponse, cancelForRequest

if TYPE_CHECKING:
    from keepsip.transaction.layer import TransactionLayer


@implementer(IClientTransactionUser)
class _IgnoringUser:
    """
    The user of a CANCEL's own client transaction: its outcome changes
    nothing (the INVITE's final response, or the INVITE's CANCEL guard, does).
    Also the user of every ended transaction, which has no one left to tell.
    """

    def responseReceived(self, response: Response, clientTransaction: object) -> None:
        pass

    def timedOut(self, clientTransaction: object) -> None:
        pass

    def transportFailed(self, clientTransaction: object) -> None:
        pass


_ignoringUser = _IgnoringUser()


@implementer(IClientTransaction)
class ClientTransaction(TransactionBase):
    """
    One client transaction, INVITE or non-INVITE.

    INVITE states: C{calling} (timers A, B) -> C{proceeding} (1xx) ->
    C{completed} (300-699, ACK sent; timer D) or C{accepted} (2xx; timer M)
    -> C{terminated}.

    Non-INVITE states: C{trying} (timers E, F) -> C{proceeding} (1xx; E at
    T2) -> C{completed} (final; timer K) -> C{terminated}.

    Once a final response has arrived the request is no longer needed:
    C{request} becomes L{None} (an INVITE's ACK for a non-2xx is kept, to
    answer retransmissions of that response), and in Completed the user is
    forgotten too (retransmitted finals are absorbed); in Accepted it still
    gets every further 2xx.

    @ivar method: the method of the request.
    @ivar destination: C{(host, port)} the request is sent to.
    @ivar user: the L{IClientTransactionUser} told about responses.
    @ivar cancelTransaction: the CANCEL's client transaction once sent.
    @ivar ack: the ACK sent for a non-2xx final response, or L{None}.
    """

    _TIMERS = (
        "_timerA",
        "_timerB",
        "_timerD",
        "_timerE",
        "_timerF",
        "_timerK",
        "_timerM",
        "_timerCancelGuard",
    )
    __slots__ = _TIMERS + (
        "destination", "user", "cancelTransaction", "ack", "_key", "_cancelRequested",
        "_interval",
    )
    _log = Logger()

    def __init__(
        self,
        layer: "TransactionLayer",
        request: Request,
        destination: tuple[str, int],
        user: IClientTransactionUser,
        key: tuple[str, str],
        reliable: bool,
    ) -> None:
        TransactionBase.__init__(self, layer, request, reliable)
        self.method = request.method
        self.destination = destination
        self.user = user
        self.cancelTransaction: ClientTransaction | None = None
        self.ack: Request | None = None
        self.state = "calling" if self.isInvite else "trying"
        self._key = key
        self._cancelRequested = False
        self._interval = layer._timers.T1

    def _start(self) -> None:
        """
        Send the request and arm the Calling/Trying timers.
        """
        settings = self._layer._timers
        self._layer._send(self._outgoing(), self.destination)
        if self.isInvite:
            if not self.reliable:
                self._arm("_timerA", settings.T1, self._timerAFired)
            self._arm("_timerB", settings.transactionTimeout, self._timedOut)
        else:
            if not self.reliable:
                self._arm("_timerE", settings.T1, self._timerEFired)
            self._arm("_timerF", settings.transactionTimeout, self._timedOut)

    def _outgoing(self) -> Request:
        """
        @return: the request, kept until a final response arrives (the
            states that send it again, or a CANCEL built from it).
        """
        request = self.request
        assert request is not None, "the request is kept until a final response"
        return request

    # -- the transaction user's side -------------------------------------

    def cancel(self) -> None:
        """
        Cancel this INVITE (RFC 3261 §9.1); see L{IClientTransaction.cancel}.
        """
        if (
            not self.isInvite
            or self._cancelRequested
            or self.state not in ("calling", "proceeding")
        ):
            return
        self._cancelRequested = True
        self._arm(
            "_timerCancelGuard",
            self._layer._timers.transactionTimeout,
            self._timedOut,
        )
        if self.state == "proceeding":
            self._sendCancel()

    def _sendCancel(self) -> None:
        try:
            self.cancelTransaction = self._layer.request(
                cancelForRequest(self._outgoing()),
                self.destination,
                _ignoringUser,
                reliable=self.reliable,
            )
        except ValueError:
            # The user already runs a CANCEL with this branch itself.
            self._log.failure("Could not send CANCEL for {txn}", txn=self)

    # -- the layer's side ------------------------------------------------

    def _responseReceived(self, response: Response) -> None:
        if self.isInvite:
            self._inviteResponse(response)
        else:
            self._nonInviteResponse(response)

    def _inviteResponse(self, response: Response) -> None:
        code = response.code
        state = self.state
        notify = self._layer._notify
        # Taken now: a final response may end the transaction (which drops
        # its user) before the user is told.
        user = self.user
        if state in ("calling", "proceeding"):
            if code < 200:
                if state == "calling":
                    self.state = "proceeding"
                    self._disarm("_timerA", "_timerB")
                notify(user.responseReceived, response, self)
                if (
                    self._cancelRequested
                    and self.cancelTransaction is None
                    and self.state == "proceeding"
                ):
                    self._sendCancel()
                return
            self._disarm("_timerA", "_timerB", "_timerCancelGuard")
            if code < 300:
                self.state = "accepted"
                self.request = None
                self._arm(
                    "_timerM", self._layer._timers.transactionTimeout, self._terminate
                )
            else:
                self.state = "completed"
                self.ack = ackForResponse(self._outgoing(), response)
                self.request = None
                self.user = _ignoringUser
                self._layer._send(self.ack, self.destination)
                if self.reliable:
                    self._terminate()
                else:
                    self._arm("_timerD", self._layer._timers.timerD, self._terminate)
            notify(user.responseReceived, response, self)
        elif state == "accepted":
            if 200 <= code < 300:
                # Another 2xx: a retransmission or a forked answer (RFC 6026).
                notify(user.responseReceived, response, self)
        elif state == "completed":
            if code >= 300 and self.ack is not None:
                self._layer._send(self.ack, self.destination)

    def _nonInviteResponse(self, response: Response) -> None:
        code = response.code
        if self.state not in ("trying", "proceeding"):
            return  # Completed: retransmitted finals are absorbed.
        user = self.user
        if code < 200:
            self.state = "proceeding"
        else:
            self.state = "completed"
            self._disarm("_timerE", "_timerF")
            # Completed only absorbs retransmitted finals.
            self.request = None
            self.user = _ignoringUser
            if self.reliable:
                self._terminate()
            else:
                self._arm("_timerK", self._layer._timers.T4, self._terminate)
        self._layer._notify(user.responseReceived, response, self)

    def _transportFailed(self) -> None:
        """
        The destination is unreachable. Before a final response this ends the
        transaction and tells the user; after one, the user already has its
        answer and the transaction's own timers end it.
        """
        if self.state in ("calling", "trying", "proceeding"):
            user = self.user
            self._terminate()
            self._layer._notify(user.transportFailed, self)

    # -- timers ----------------------------------------------------------

    def _timerAFired(self) -> None:
        self._layer._send(self._outgoing(), self.destination)
        self._interval *= 2
        self._arm("_timerA", self._interval, self._timerAFired)

    def _timerEFired(self) -> None:
        self._layer._send(self._outgoing(), self.destination)
        settings = self._layer._timers
        if self.state == "trying":
            self._interval = min(2 * self._interval, settings.T2)
        else:
            self._interval = settings.T2
        self._arm("_timerE", self._interval, self._timerEFired)

    def _timedOut(self) -> None:
        """
        Timer B, timer F, or the CANCEL guard fired without a final response.
        """
        user = self.user
        self._terminate()
        self._layer._notify(user.timedOut, self)

    def _terminate(self) -> None:
        self._abandon()
        self._layer._removeClient(self)

    def _abandon(self) -> None:
        """
        End without telling anyone: cancel the timers and drop the user.
        The user (the proxy's response context) holds this transaction too;
        forgetting it lets reference counting free both at once, leaving the
        cyclic garbage collector nothing to find.
        """
        self.state = "terminated"
        self._disarmAll()
        self.user = _ignoringUser
