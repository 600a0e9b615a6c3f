"""
The transaction layer (RFC 3261 §17): matches messages to transactions,
creates server transactions for new requests, runs client transactions for
the transaction user.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Hashable, Iterable, Sequence

from twisted.internet.interfaces import IReactorTime

from keepsip.logs import Logger
from keepsip.sip.message import Message, Request, Response
from keepsip.sip.responses import lenientTag, responseDestination, responseFromRequest
from keepsip.transaction.headers import (
    MAGIC_COOKIE,
    cseq,
    freshTopVia,
    isReliable,
    sentByKey,
    statelessTag,
    topVia,
    topViaValue,
    uriString,
)
from keepsip.transaction.client import ClientTransaction
from keepsip.transaction.interfaces import IAdmission, IClientTransactionUser, ITransactionUser
from keepsip.transaction.overload import Admission
from keepsip.transaction.scheduler import TimerQueue
from keepsip.transaction.server import ServerTransaction
from keepsip.transaction.timers import TimerSettings
from keepsip.transport.errors import TransportError

Address = tuple[str, int]


class TransactionLayer:
    """
    Every server and client transaction of one keepsip node.

    Server transactions are found by the RFC 3261 §17.2.3 key C{(branch,
    sent-by, method)} (ACK and CANCEL look up INVITE) together with the
    request's Call-ID, CSeq number and From tag: a retransmission has all of
    them equal, and a request that reuses a branch with any of them changed
    is a new transaction, not an echo of another call's; or for requests whose branch
    lacks the magic cookie by C{(method, Request-URI, To tag, From tag,
    Call-ID, CSeq number, top Via)}. Client transactions are found by
    C{(branch, CSeq method)} (§17.1.3). Each lookup is one dict access.

    @param clock: the reactor's time provider; every timer runs on it.
    @param send: C{send(message, (host, port))}, the transport seam. It
        raises L{TransportError} when a message cannot be sent at all (no
        socket of the destination's family, an address the socket refuses);
        the client transactions to that destination then fail on the next
        turn of the clock, as they do for an ICMP error reported through
        L{transportError} (so their user already holds them when told).
    @param user: the L{ITransactionUser} of server transactions (the proxy
        core).
    @param timers: T1, T2, T4.
    @param canSend: C{canSend((host, port)) -> bool}, whether a message
        could be sent to an address at all (L{TransportSelector.canSend
        <keepsip.transport.selector.TransportSelector.canSend>}). A new
        request whose responses could go nowhere (a Via C{maddr} naming a
        host, or an address family keepsip has no socket for) is dropped
        before any state exists. L{None}: every address can be sent to.
    @param admission: the L{Admission} deciding whether a new request may
        create a server transaction (overload control); a request it refuses
        is answered 503 with C{Retry-After}, statelessly, before any state
        exists. L{None}: no limit.
    @param checks: further L{IAdmission} checks (e.g. authentication's
        per-source rate limits), asked in turn after C{admission}; the first
        refusal is answered statelessly and no state is created. More can be
        added with L{addAdmission}.
    @ivar unanswerable: new requests dropped that way (a metric).
    @ivar refusedByChecks: new requests refused by C{checks} (a metric).
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        send: Callable[[Message, Address], None],
        user: ITransactionUser,
        timers: TimerSettings = TimerSettings(),
        canSend: Callable[[Address], bool] | None = None,
        admission: Admission | None = None,
        checks: Iterable[IAdmission] = (),
    ) -> None:
        self._clock = clock
        self._sendMessage = send
        self._user = user
        self._timers = timers
        self._canSend = canSend
        self.admission = admission
        self._checks: list[Any] = list(checks)
        self.refusedByChecks = 0
        self._serverTotal = 0
        self._retransmitting: dict[Address, dict[ServerTransaction, None]] = {}
        self._timerQueue = TimerQueue(clock)
        self._failing: deque[Address] = deque()
        self._draining = False
        self.unanswerable = 0
        self._server: dict[Hashable, ServerTransaction] = {}
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._byDestination: dict[Address, dict[ClientTransaction, None]] = {}

    # -- incoming --------------------------------------------------------

    def requestReceived(
        self, request: Request, source: Address, receivedOn: Any = None
    ) -> None:
        """
        Hand a request from the transport to its server transaction, or
        create one, or pass an ACK for a 2xx to the user.

        @param receivedOn: the port the request came in on (a
            L{SIPDatagramProtocol<keepsip.transport.udp.SIPDatagramProtocol>}),
            or L{None}: the responses of a new transaction, and the ones
            sent statelessly, go to its C{replyAddress(destination)}, so that
            they leave through that port (RFC 3261 §18.2.2, RFC 3581 §4).
        """
        try:
            via = topVia(request)
            number, _ = cseq(request)
        except ValueError as e:
            self._log.info(
                "Dropped {method} from {peer}: {reason}",
                method=request.method,
                peer=source,
                reason=str(e),
            )
            return
        method = request.method
        branch = via.branch
        rfc2543 = not (branch and branch.startswith(MAGIC_COOKIE))
        key: tuple[Any, ...]
        if rfc2543:
            key = self._key2543(request, method, topViaValue(request), number)
        else:
            # §17.2.3's key (branch, sent-by, method), and the request's
            # identity: a branch reused by another request (another call, a
            # later CSeq, another From tag) must not be taken for a
            # retransmission and answered from someone else's transaction.
            headers = request.headers
            callID = headers.get("call-id")
            fromValues = headers.get("from")
            key = (
                branch,
                sentByKey(via),
                "INVITE" if method == "ACK" else method,
                callID[0] if callID else None,
                number,
                lenientTag(fromValues[0]) if fromValues else None,
            )
        txn = self._server.get(key)
        if method == "ACK":
            if txn is None or not txn.isInvite:
                self._notify(self._user.ackReceived, request, source)
            else:
                txn._ackReceived(request, source)
            return
        if txn is not None:
            txn.latestSource = source
            txn._requestRetransmitted()
            # The keepalive handler counts an INVITE equal to the last one
            # even when it is a retransmission of it.
            self._notify(self._user.requestRetransmitted, request, txn)
            return
        destination = responseDestination(via, source)
        if receivedOn is not None:
            destination = receivedOn.replyAddress(destination)
        if self._canSend is not None and not self._canSend(destination):
            # RFC 3261 §17.2.4 would end the transaction at its first
            # response anyway: keep no state for it at all.
            self.unanswerable += 1
            self._log.debug(
                "Dropped {method} from {peer}: its responses cannot be sent to {destination}",
                method=method,
                peer=source,
                destination=destination,
            )
            return
        admission = self.admission
        if admission is not None:
            refusal = admission.refusal(source[0], method)
            if refusal is not None:
                self._refuse(request, destination, refusal)
                return
        if self._checks and method != "CANCEL":
            for check in self._checks:
                try:
                    refused = check.refusal(source, request)
                except Exception:
                    self._log.failure("Admission check {check} failed", check=check)
                    refused = None
                if refused is not None:
                    self.refusedByChecks += 1
                    return self._answerStatelessly(request, destination, *refused)
        txn = ServerTransaction(
            self,
            request,
            source,
            destination,
            isReliable(via),
            rfc2543,
        )
        if admission is not None:
            admission.opened(source[0])
            txn._admitted = True
        self._serverTotal += 1
        self._addServerKey(txn, key)
        if method == "CANCEL":
            inviteKey = ("INVITE",) + key[1:] if rfc2543 else key[:2] + ("INVITE",) + key[3:]
            invite = self._server.get(inviteKey)
            if invite is not None:
                invite.cancelled = True
            self._notify(self._user.cancelReceived, request, txn, invite)
            return
        self._notify(self._user.requestReceived, request, txn)
        if txn.isInvite and txn.lastResponse is None and txn.state == "proceeding":
            # RFC 3261 §17.2.1: a 100 Trying unless the user answered at
            # once (an absorbed keepalive's 200): sent after the user has
            # forwarded the INVITE, one datagram fewer when it answered.
            txn.respond(responseFromRequest(request, 100))

    def responseReceived(self, response: Response, source: Address) -> None:
        """
        Hand a response from the transport to its client transaction, or to
        the user's C{strayResponse}.
        """
        try:
            branch = topVia(response).branch
            _, method = cseq(response)
        except ValueError as e:
            self._log.info(
                "Dropped {code} response from {peer}: {reason}",
                code=response.code,
                peer=source,
                reason=str(e),
            )
            return
        txn = self._client.get((branch, method)) if branch else None
        if txn is None:
            self._notify(self._user.strayResponse, response, source)
        else:
            txn._responseReceived(response)

    def transportError(self, destination: Address) -> None:
        """
        The transport learnt that C{destination} is unreachable (ICMP): every
        client transaction to it still waiting for a final response ends and
        tells its user C{transportFailed}.

        Iterative, never recursive: a user told of one failure answers or
        sends, and that send may report the next ICMP error from inside it
        (L{keepsip.transport.icmp.RecvErrPort.write} drains a pending
        error), calling this again. Such a nested call only queues its
        destination (and each failed transaction once); the outermost call
        works through the queue. With a thousand calls through one vanished
        peer, the call stack stays a few frames deep.
        """
        self._failing.append(destination)
        if self._draining:
            return
        self._draining = True
        failing = self._failing
        try:
            while failing:
                destination = failing.popleft()
                bucket = self._byDestination.get(destination)
                if bucket:
                    for txn in list(bucket):
                        txn._transportFailed()
                servers = self._retransmitting.get(destination)
                if servers:
                    for server in list(servers):
                        server._transportFailed()
        finally:
            self._draining = False
            failing.clear()

    # -- outgoing --------------------------------------------------------

    def request(
        self,
        request: Request,
        destination: Address,
        user: IClientTransactionUser,
        *,
        reliable: bool = False,
    ) -> ClientTransaction:
        """
        Start a client transaction: send C{request} to C{destination} and
        retransmit it until answered.

        @param request: a request whose top Via carries a branch unique to
            this transaction (with the magic cookie); not an ACK.
        @param reliable: L{True} over a reliable transport (no retransmission,
            timers D and K zero).
        @raise ValueError: if the request has no branch, is an ACK, or its
            branch and method already have a transaction.
        """
        method = request.method
        if method == "ACK":
            raise ValueError("an ACK is sent without a client transaction")
        branch = freshTopVia(request).branch
        if not branch:
            raise ValueError("request without a Via branch")
        key = (branch, method)
        if key in self._client:
            raise ValueError(f"a {method} client transaction for branch {branch} exists")
        txn = ClientTransaction(self, request, destination, user, key, reliable)
        self._client[key] = txn
        self._byDestination.setdefault(destination, {})[txn] = None
        try:
            txn._start()
        except BaseException:
            txn._terminate()
            raise
        return txn

    def addAdmission(self, check: IAdmission) -> None:
        """Ask C{check} too, after the checks already there."""
        self._checks.append(check)

    @property
    def serverCount(self) -> int:
        """
        Server transactions in progress (a metric).
        """
        return self._serverTotal

    @property
    def clientCount(self) -> int:
        """
        Client transactions in progress (a metric).
        """
        return len(self._client)

    def clientTransactionsTo(self, destination: Address) -> list[ClientTransaction]:
        """
        @return: the client transactions in progress to C{destination},
            oldest first (those a L{transportError} for it concerns).
        """
        return list(self._byDestination.get(destination, ()))

    def stop(self) -> None:
        """
        Cancel every timer and forget every transaction (service shutdown).
        Users are not told.
        """
        for server in list(self._server.values()):
            server._abandon()
        for client in list(self._client.values()):
            client._abandon()
        self._server.clear()
        self._client.clear()
        self._byDestination.clear()
        self._retransmitting.clear()
        self._timerQueue.stop()
        self._serverTotal = 0
        if self.admission is not None:
            self.admission.reset()

    # -- for the transactions --------------------------------------------

    def _send(self, message: Message, destination: Address) -> None:
        try:
            self._sendMessage(message, destination)
        except TransportError as e:
            self._log.info("{error}", error=str(e))
            self._clock.callLater(0, self.transportError, destination)

    def _notify(self, method: Callable[..., None], *args: Any) -> None:
        """
        Call a user's method; a failure is logged, never propagated into the
        transaction machinery.
        """
        try:
            method(*args)
        except Exception:
            self._log.failure("Transaction user {method} failed", method=method)

    @staticmethod
    def _key2543(
        request: Request, method: str, viaText: str, number: int
    ) -> tuple[Any, ...]:
        headers = request.headers
        toValues = headers.get("to")
        fromValues = headers.get("from")
        callID = headers.get("call-id")
        return (
            method,
            uriString(request.uri),
            lenientTag(toValues[0]) if toValues else None,
            lenientTag(fromValues[0]) if fromValues else None,
            callID[0] if callID else None,
            number,
            viaText,
        )

    def _addServerKey(self, txn: ServerTransaction, key: Hashable) -> None:
        txn._keys.append(key)
        self._server[key] = txn

    def _addAckKey(self, txn: ServerTransaction, response: Response) -> None:
        """
        RFC 2543 matching: an ACK matches an INVITE transaction by the To tag
        of the response it acknowledges (§17.2.3).
        """
        inviteKey = txn._keys[0]
        assert isinstance(inviteKey, tuple)
        toValues = response.headers.get("to")
        responseTag = lenientTag(toValues[0]) if toValues else None
        ackKey = ("ACK", inviteKey[1], responseTag) + inviteKey[3:]
        if ackKey not in self._server:
            self._addServerKey(txn, ackKey)

    def _removeServer(self, txn: ServerTransaction) -> None:
        server = self._server
        removed = False
        for key in txn._keys:
            if server.get(key) is txn:
                del server[key]
                removed = True
        if removed:
            self._serverTotal -= 1
            self._finalSent(txn)

    def _finalSent(self, txn: ServerTransaction) -> None:
        """
        C{txn} sent its first final response, or ended without one: it is no
        longer in progress for admission control (a transaction that only
        absorbs retransmissions for its RFC timers costs a little memory, not
        work, and must not hold a busy source, such as an edge keeping
        thousands of calls alive, below its limit).
        """
        if txn._admitted:
            txn._admitted = False
            if self.admission is not None:
                self.admission.closed(txn.source[0])

    def _retransmittingTo(self, txn: ServerTransaction, destination: Address) -> None:
        """
        C{txn} retransmits a final response to C{destination} until ACKed
        (an ICMP error for it ends C{txn}).
        """
        self._retransmitting.setdefault(destination, {})[txn] = None

    def _retransmittingDone(self, txn: ServerTransaction) -> None:
        bucket = self._retransmitting.get(txn.destination)
        if bucket is not None:
            bucket.pop(txn, None)
            if not bucket:
                del self._retransmitting[txn.destination]

    def _refuse(self, request: Request, destination: Address, reason: str) -> None:
        """
        Overload: answer C{request} 503 with C{Retry-After}, statelessly
        (the admission control logs it, never once per packet).
        """
        admission = self.admission
        assert admission is not None
        retryAfter = (("retry-after", str(admission.retryAfter)),)
        self._answerStatelessly(request, destination, 503, "Service Unavailable", retryAfter)
        admission.logRefusals(self._clock.seconds(), reason, destination)

    def _answerStatelessly(
        self,
        request: Request,
        destination: Address,
        code: int,
        phrase: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """
        Answer C{request} without a transaction; a retransmission gets the
        same response (same To tag, RFC 3261 §8.2.7).
        """
        response = responseFromRequest(request, code, phrase, toTag=statelessTag(request))
        for name, value in headers:
            response.addHeader(name, value)
        try:
            self._sendMessage(response, destination)
        except TransportError:
            pass

    def _removeClient(self, txn: ClientTransaction) -> None:
        if self._client.get(txn._key) is txn:
            del self._client[txn._key]
        bucket = self._byDestination.get(txn.destination)
        if bucket is not None:
            bucket.pop(txn, None)
            if not bucket:
                del self._byDestination[txn.destination]

