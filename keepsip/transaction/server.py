"""
Server transactions: RFC 3261 §17.2.1 (INVITE, with the RFC 6026 Accepted
state) and §17.2.2 (non-INVITE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable

from zope.interface import implementer

from keepsip.logs import Logger
from keepsip.sip.message import Request, Response
from keepsip.transaction._base import TransactionBase
from keepsip.transaction.interfaces import IServerTransaction
from keepsip.transaction.sent import SentResponse

if TYPE_CHECKING:
    from keepsip.transaction.layer import TransactionLayer


@implementer(IServerTransaction)
class ServerTransaction(TransactionBase):
    """
    One server transaction, INVITE or non-INVITE.

    INVITE states: C{proceeding} -> C{completed} (300-699 sent; timers G, H)
    -> C{confirmed} (ACK; timer I) -> C{terminated}; or C{proceeding} ->
    C{accepted} (2xx sent; timer L) -> C{terminated}.

    Non-INVITE states: C{trying} -> C{proceeding} (1xx sent) -> C{completed}
    (final sent; timer J) -> C{terminated}.

    Once the transaction only absorbs or answers retransmissions (INVITE
    Accepted and Confirmed, non-INVITE Completed) it keeps no parsed message:
    C{request} becomes L{None} and C{lastResponse} a L{SentResponse} (its
    bytes kept only where a retransmitted request is answered with them),
    so that the tens of thousands of transactions waiting out their timers
    under load cost little memory.

    @ivar method: the method of the request.
    @ivar source: C{(host, port)} the request came from.
    @ivar latestSource: C{(host, port)} the latest copy of the request came
        from: a retransmission matches by its Via, wherever it comes from.
    @ivar destination: C{(host, port)} responses go to.
    @ivar lastResponse: the last response sent (a L{SentResponse} in the
        states above), or L{None}.
    @ivar cancelled: L{True} once a CANCEL matched this transaction.
    """

    _TIMERS = ("_timerG", "_timerH", "_timerI", "_timerJ", "_timerL")
    __slots__ = _TIMERS + (
        "source", "latestSource", "destination", "lastResponse", "cancelled",
        "userContext", "_rfc2543", "_keys", "_admitted", "_intervalG",
    )
    _log = Logger()

    def __init__(
        self,
        layer: "TransactionLayer",
        request: Request,
        source: tuple[str, int],
        destination: tuple[str, int],
        reliable: bool,
        rfc2543: bool,
    ) -> None:
        TransactionBase.__init__(self, layer, request, reliable)
        self.method = request.method
        self.source = source
        self.latestSource = source
        self.destination = destination
        self.lastResponse: Response | None = None
        self.cancelled = False
        self.userContext: Any = None
        self.state = "proceeding" if self.isInvite else "trying"
        self._rfc2543 = rfc2543
        self._keys: list[Hashable] = []
        #: Counted by the layer's admission control until its first final
        #: response (set by the layer).
        self._admitted = False
        self._intervalG = layer._timers.T1

    # -- the transaction user's side -------------------------------------

    def respond(self, response: Response) -> None:
        """
        Send C{response} to C{destination} and move the state machine.

        A response the state does not allow is dropped and logged, except a
        2xx to an INVITE: that is always sent (statelessly, without a state
        change, once a non-2xx final was sent or the transaction ended), as
        RFC 3261 §16.7 step 10 and RFC 6026 require of a proxy.
        """
        code = response.code
        state = self.state
        if self.isInvite:
            if state == "proceeding":
                self._transmit(response)
                if code < 200:
                    return
                settings = self._layer._timers
                if self._rfc2543:
                    self._layer._addAckKey(self, response)
                self._layer._finalSent(self)
                if code < 300:
                    self.state = "accepted"
                    # RFC 6026: retransmitted INVITEs are absorbed, the 2xx
                    # is never sent again by the transaction.
                    self._keepOnly(response, keepBytes=False)
                    self._arm("_timerL", settings.transactionTimeout, self._timerLFired)
                else:
                    self.state = "completed"
                    if not self.reliable:
                        self._intervalG = settings.T1
                        self._arm("_timerG", settings.T1, self._timerGFired)
                        self._layer._retransmittingTo(self, self.destination)
                    self._arm("_timerH", settings.transactionTimeout, self._timerHFired)
                return
            if state == "accepted" and 200 <= code < 300:
                # RFC 6026 §7.1: 2xx from the TU (forked answers, or
                # retransmissions a proxy forwards) are still sent.
                if self._rfc2543:
                    self._layer._addAckKey(self, response)
                self._layer._send(response, self.destination)
                self.lastResponse = SentResponse(response, keepBytes=False)
                return
            if 200 <= code < 300:
                # A 2xx after a non-2xx final (timer C's 408 raced the
                # answer) or after Terminated: RFC 3261 §16.7 step 10 says
                # forward it statelessly; the state does not change.
                self._log.info(
                    "Forwarding {code} statelessly in state {state}",
                    code=code,
                    state=state,
                )
                self._layer._send(response, self.destination)
                return
        elif state in ("trying", "proceeding"):
            self._transmit(response)
            if code < 200:
                self.state = "proceeding"
                return
            self.state = "completed"
            self._layer._finalSent(self)
            if self.reliable:
                self._terminate()
            else:
                # Retransmitted requests get these bytes; nobody needs the
                # rest, nor the user context (a CANCEL looks for INVITEs only).
                self._keepOnly(response, keepBytes=True)
                self.userContext = None
                self._arm(
                    "_timerJ", self._layer._timers.transactionTimeout, self._timerJFired
                )
            return
        self._log.info(
            "Dropped {code} response in state {state} for {method}",
            code=code,
            state=state,
            method=self.method,
        )

    # -- the layer's side ------------------------------------------------

    def _transmit(self, response: Response) -> None:
        self.lastResponse = response
        self._layer._send(response, self.destination)

    def _keepOnly(self, response: Response, keepBytes: bool) -> None:
        """
        Forget the parsed request and response: the transaction only absorbs
        retransmissions from now on, or answers them with the bytes of
        C{response} (C{keepBytes}).
        """
        self.lastResponse = SentResponse(response, keepBytes)
        self.request = None

    def _requestRetransmitted(self) -> None:
        """
        The request arrived again: re-send the last response in the states
        where RFC 3261 says so; absorb it otherwise (Trying, Accepted,
        Confirmed).
        """
        if self.state in ("proceeding", "completed") and self.lastResponse is not None:
            self._layer._send(self.lastResponse, self.destination)

    def _ackReceived(self, ack: Request, source: tuple[str, int]) -> None:
        """
        An ACK matched this INVITE transaction.
        """
        state = self.state
        if state == "completed":
            self._disarm("_timerG", "_timerH")
            self._layer._retransmittingDone(self)
            self.state = "confirmed"
            if self.lastResponse is not None:
                self._keepOnly(self.lastResponse, keepBytes=False)
            if self.reliable:
                self._terminate()
            else:
                self._arm("_timerI", self._layer._timers.T4, self._terminate)
        elif state == "accepted":
            # RFC 6026 §8.7: an ACK matching an Accepted transaction goes to
            # the TU; it is the end-to-end ACK for the 2xx.
            self._layer._notify(self._layer._user.ackReceived, ack, source)
        # Confirmed: absorbed. Proceeding: an ACK before any final response
        # acknowledges nothing; dropped.

    # -- timers ----------------------------------------------------------

    def _timerGFired(self) -> None:
        if self.lastResponse is not None:
            self._layer._send(self.lastResponse, self.destination)
        self._intervalG = min(2 * self._intervalG, self._layer._timers.T2)
        self._arm("_timerG", self._intervalG, self._timerGFired)

    def _timerHFired(self) -> None:
        self._terminate()
        self._layer._notify(self._layer._user.serverTimedOut, self)

    def _timerJFired(self) -> None:
        self._terminate()

    def _timerLFired(self) -> None:
        self._terminate()

    def _transportFailed(self) -> None:
        """
        The destination of the responses is unreachable (ICMP). A
        transaction retransmitting a non-2xx final response (Completed)
        ends at once (RFC 3261 §17.2.4): nobody is there to ACK it, and
        retransmitting into the error until timer H only feeds more ICMP.
        """
        if self.state == "completed":
            self._terminate()

    def _terminate(self) -> None:
        self._layer._retransmittingDone(self)
        self._abandon()
        self._layer._removeServer(self)

    def _abandon(self) -> None:
        """
        End without telling anyone: cancel the timers and drop the user
        context. The context (the proxy's response context) holds this
        transaction too; forgetting it lets reference counting free both at
        once, leaving the cyclic garbage collector nothing to find.
        """
        self.state = "terminated"
        self._disarmAll()
        self.userContext = None
