"""
The proxy core: RFC 3261 §16 request processing on top of the transaction
layer.

For each new request the transaction layer hands over, L{ProxyCore}:

  1. validates it (L{keepsip.sip.validate.checkRequest}) and checks
     Max-Forwards (483) and loops (482);
  2. pre-processes Route (§16.4): removes its own Route entry, undoes a strict
     router's rewriting;
  3. answers what is addressed to keepsip itself (REGISTER for its domains,
     OPTIONS to its own address);
  4. picks targets in this order: the registrar's location service, the
     static routes of the configuration, the Request-URI host;
  5. forwards (§16.6) through a client transaction per target, with its own
     Via (an RFC 3261 branch that also carries the loop-detection hash),
     Record-Route on dialog-creating requests, and a decremented
     Max-Forwards; and relays the responses (§16.7), choosing the best final
     response when every branch failed.

ACKs for 2xx and stray 2xx retransmissions are forwarded statelessly
(§16.11). What passes is reported to the L{DialogTracker}.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from keepsip.logs import Logger
from keepsip.proxy.context import ResponseContext
from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.registrar import Registrar
from keepsip.proxy.routing import (
    DEFAULT_MAX_FORWARDS,
    LOOP_MAGIC,
    isLoop,
    isResolvableName,
    loopHash,
    selectTargets,
    uriAddress,
)
from keepsip.proxy.stateless import StatelessForwarding
from keepsip.sip.address import isIPLiteral
from keepsip.sip.headers import maxForwards, newBranch, newTag, sharedNameAddr, toHeader, topVia
from keepsip.sip.message import Message, Request, Response
from keepsip.sip.responses import responseDestination, responseFromRequest
from keepsip.sip.uri import URI
from keepsip.transaction.interfaces import IServerTransaction, ITransactionUser
from keepsip.transaction.layer import TransactionLayer

log = Logger()

#: Methods that create a dialog, so keepsip Record-Routes them.
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

#: What keepsip answers to OPTIONS addressed to itself.
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE"

#: Timer C (RFC 3261 §16.6 step 11): how long a proxied INVITE may ring.
TIMER_C = 180.0


#: How long a host name may take to resolve before its branch fails as a
#: 503: the time a client transaction gets to answer (64*T1).
RESOLVE_TIMEOUT = 32.0


@implementer(ITransactionUser)
class ProxyCore(StatelessForwarding):
    """
    The proxy's transaction user.

    @param clock: an L{IReactorTime}.
    @param identity: the L{ProxyIdentity}.
    @param transactions: the L{TransactionLayer} client transactions start
        on.
    @param send: C{send(message, (host, port))} for stateless forwarding;
        raises L{TransportError} when the message cannot be sent.
    @param routeFor: C{routeFor(user, host) -> (host, port) | None}, the
        static routes.
    @param registrar: the L{keepsip.proxy.registrar.Registrar} or L{None}.
    @param tracker: the L{keepsip.dialog.tracker.DialogTracker} or L{None}.
    @param resolve: C{resolve(hostname) -> Deferred[str]} for Request-URI
        hosts that are not IP literals. A name the DNS cannot hold is never
        passed to it, and an answer not in within L{resolveTimeout} seconds
        is given up on: either way the branch fails as a 503 (RFC 3261
        §16.9).
    @param media: the L{keepsip.interfaces.IMediaAnchor} that rewrites SDP
        for a media relay, or L{None} (messages are forwarded at once).
    @ivar resolving: host names being resolved now (a metric; every one
        ends within L{resolveTimeout}).
    """

    timerC = TIMER_C
    resolveTimeout = RESOLVE_TIMEOUT

    def __init__(
        self,
        clock: IReactorTime,
        identity: ProxyIdentity,
        transactions: TransactionLayer,
        send: Callable[[Message, tuple[str, int]], None],
        routeFor: Callable[[str | None, str], tuple[str, int] | None] = lambda u, h: None,
        registrar: Registrar | None = None,
        tracker: Any = None,
        resolve: Callable[[str], Deferred[str]] | None = None,
        media: Any = None,
    ) -> None:
        self.clock = clock
        self.identity = identity
        self.transactions = transactions
        self.send = send
        self.routeFor = routeFor
        self.registrar = registrar
        self.tracker = tracker
        self.resolve = resolve
        self.media = media
        self.resolving = 0

    # -- ITransactionUser ------------------------------------------------

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        try:
            self._processRequest(request, serverTransaction)
        except Exception:
            log.failure(
                "proxy failed on {method} {callID}",
                method=request.method,
                callID=request.header("call-id"),
            )
            if serverTransaction.lastResponse is None or serverTransaction.lastResponse.code < 200:
                serverTransaction.respond(
                    responseFromRequest(request, 500, "Server Internal Error")
                )

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        """
        An ACK matching no server transaction: the end-to-end ACK of a 2xx,
        forwarded statelessly.
        """
        if self.tracker is not None:
            self.tracker.inDialogRequest(request, source)
        self._forwardStatelessly(request)

    def cancelReceived(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        inviteTransaction: IServerTransaction | None,
    ) -> None:
        context = inviteTransaction.userContext if inviteTransaction is not None else None
        if context is None:
            # §16.10: with no response context, the CANCEL is forwarded like
            # any request; the next hop may know the INVITE.
            self.requestReceived(request, serverTransaction)
            return
        serverTransaction.respond(responseFromRequest(request, 200, "OK"))
        if not context.finalSent:
            context.cancel()

    def strayResponse(self, response: Response, source: tuple[str, int]) -> None:
        """
        A response no client transaction knows, e.g. a 2xx retransmitted
        after the transaction ended: forward it statelessly by the Via.
        """
        viaValues = response.headers.get("via")
        if not viaValues or len(viaValues) < 2:
            return
        del viaValues[0]
        response.invalidate("via")
        try:
            destination = responseDestination(topVia(response))
        except ValueError:
            return
        media = self.media
        rewriting = media.rewriteResponse(None, response) if media is not None else None
        if rewriting is None:
            self._sendStatelessly(response, destination)
        else:
            rewriting.addCallback(lambda _: self._sendStatelessly(response, destination))

    def requestRetransmitted(self, request: Request, serverTransaction: IServerTransaction) -> None:
        """
        The transaction layer absorbed a retransmission: nothing to do.
        """

    def serverTimedOut(self, serverTransaction: IServerTransaction) -> None:
        log.debug(
            "no ACK for the final response to {callID}",
            callID=serverTransaction.request.header("call-id"),
        )

    # -- request processing (§16.3 - §16.6) ----------------------------------

    def _reject(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        code: int,
        phrase: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        response = responseFromRequest(request, code, phrase, toTag=newTag())
        for name, value in (extra or {}).items():
            response.addHeader(name, value)
        log.debug(
            "rejecting {method} {callID}: {code} {phrase}",
            method=request.method,
            callID=request.header("call-id"),
            code=code,
            phrase=phrase,
        )
        serverTransaction.respond(response)

    def _processRequest(self, request: Request, serverTransaction: IServerTransaction) -> None:
        # The transport has validated the request (checkRequest).
        identity = self.identity
        routeValues = request.headers.get("route")
        uri = request.uri
        if not isinstance(uri, URI):
            # checkRequest answers other schemes first; this keeps the core
            # safe for a request that did not come through the transport.
            self._reject(request, serverTransaction, 416, "Unsupported URI Scheme")
            return
        uriIsMe = identity.isMe(uri.host, uri.port)

        forwards = maxForwards(request)
        if forwards is not None and forwards <= 0:
            if request.method == "OPTIONS" and uriIsMe and not routeValues:
                self._answerOptions(request, serverTransaction)
            else:
                self._reject(request, serverTransaction, 483, "Too Many Hops")
            return

        if isLoop(request, identity.sentBy):
            self._reject(request, serverTransaction, 482, "Loop Detected")
            return

        requestHash = loopHash(request)
        outgoing = request.copy()
        assert isinstance(outgoing, Request)

        # §16.4: a strict router put our Record-Route URI into the
        # Request-URI; the real one is the last Route.
        if uriIsMe and "lr" in uri.params and routeValues:
            last = sharedNameAddr(routeValues[-1]).uri
            if not isinstance(last, URI):
                self._reject(request, serverTransaction, 416, "Unsupported URI Scheme")
                return
            outgoing.uri = last
            outgoing.headers["route"] = routeValues[:-1]
            uri = last
            uriIsMe = identity.isMe(uri.host, uri.port)
        # §16.4: remove our own entry from the top of Route.
        self._removeOwnRoutes(outgoing)

        isInDialog = toHeader(request).tag is not None
        if not outgoing.headers.get("route"):
            if request.method == "REGISTER" and identity.isOwnDomain(uri.host, uri.port):
                self._register(request, serverTransaction)
                return
            if uriIsMe and not uri.user:
                if request.method == "OPTIONS":
                    self._answerOptions(request, serverTransaction)
                elif request.method == "ACK":
                    pass
                else:
                    self._reject(request, serverTransaction, 404, "Not Found")
                return

        targets = selectTargets(
            outgoing, identity, self.registrar, self.routeFor, self.clock.seconds()
        )
        if isinstance(targets, tuple):
            code, phrase = targets
            self._reject(request, serverTransaction, code, phrase)
            return

        media = self.media
        rewriting = media.rewriteRequest(request, outgoing) if media is not None else None
        if rewriting is not None:
            # The context exists from now on, so a CANCEL meanwhile finds it.
            context = ResponseContext(self, request, serverTransaction)
            serverTransaction.userContext = context
            context.waitForMedia(
                rewriting,
                lambda: self._proceed(
                    request, outgoing, serverTransaction, targets, requestHash, context
                ),
            )
            return
        self._proceed(request, outgoing, serverTransaction, targets, requestHash)

    def _proceed(
        self,
        request: Request,
        outgoing: Request,
        serverTransaction: IServerTransaction,
        targets: list[Any],
        requestHash: str,
        context: ResponseContext | None = None,
    ) -> None:
        """
        Tell the tracker and forward C{outgoing} to every target (§16.6).
        """
        isInDialog = toHeader(request).tag is not None
        if context is None:
            context = ResponseContext(self, request, serverTransaction)
            # The context lives exactly as long as its server transaction.
            serverTransaction.userContext = context
        if self.tracker is not None:
            if isInDialog:
                self.tracker.inDialogRequest(request, serverTransaction.source)
            elif request.method == "INVITE":
                self.tracker.initialInvite(request, serverTransaction.source)

        recordRoute = request.method in DIALOG_CREATING and not isInDialog
        lastIndex = len(targets) - 1
        for index, (targetURI, nextHop, path) in enumerate(targets):
            # The last branch may take the working copy itself.
            self._forward(
                outgoing, targetURI, nextHop, requestHash, recordRoute, context,
                index < lastIndex, path,
            )

    def _removeOwnRoutes(self, request: Request) -> None:
        """
        RFC 3261 §16.4: drop the Route entries at the top that name keepsip
        (one, or more after a spiral through it).
        """
        routeValues = request.headers.get("route")
        while routeValues:
            top = sharedNameAddr(routeValues[0]).uri
            if not isinstance(top, URI) or not self.identity.isMe(top.host, top.port):
                break
            del routeValues[0]
        if routeValues is not None and not routeValues:
            del request.headers["route"]
        request.invalidate("route")

    def _forward(
        self,
        request: Request,
        targetURI: Any,
        nextHop: tuple[str, int] | None,
        requestHash: str,
        recordRoute: bool,
        context: ResponseContext,
        copy: bool = True,
        path: tuple[str, ...] = (),
    ) -> None:
        """
        §16.6: copy (unless C{copy} is false: C{request} is a working copy
        nobody else uses), retarget, decrement Max-Forwards, Record-Route, add
        Via, the target's Path as Route (RFC 3327), and hand to a new client
        transaction.
        """
        forwards = maxForwards(request)
        fwd = request.copy() if copy else request
        assert isinstance(fwd, Request)
        headers = fwd.headers
        if targetURI is not None:
            fwd.uri = targetURI
        headers["max-forwards"] = [str(DEFAULT_MAX_FORWARDS if forwards is None else forwards - 1)]
        fwd.invalidate("max-forwards")
        if recordRoute:
            headers["record-route"] = [self.identity.recordRoute] + headers.get("record-route", [])
        if path:
            headers["route"] = [*path, *headers.get("route", ())]
        routeValues = headers.get("route")
        if routeValues:
            first = sharedNameAddr(routeValues[0])
            destinationURI: Any = first.uri
            if isinstance(first.uri, URI) and "lr" not in first.uri.params:
                # §16.6 step 7: a strict router next.
                del routeValues[0]
                routeValues.append(f"<{fwd.uri.toString()}>")
                fwd.uri = first.uri
                fwd.invalidate("route")
        else:
            destinationURI = fwd.uri
        branch = f"{LOOP_MAGIC}ks{requestHash}.{newBranch()[7:]}"
        headers["via"] = [f"SIP/2.0/UDP {self.identity.sentBy};branch={branch}"] + headers.get(
            "via", []
        )
        headers.move_to_end("via", last=False)
        fwd.invalidate("via")

        if nextHop is not None:
            host, port = nextHop
        else:
            if not isinstance(destinationURI, URI):
                context.finals.append(context._synthetic(416, "Unsupported URI Scheme"))
                context._maybeFinish()
                return
            host, port = uriAddress(destinationURI)

        context.pending += 1

        def start(address: str) -> None:
            context.pending -= 1
            if context.finalSent:
                # Another branch answered while this one resolved.
                return
            if context.cancelled:
                context.finals.append(context._synthetic(487, "Request Terminated"))
                context._maybeFinish()
                return
            if self.identity.isMe(address, port) and not headers.get("route"):
                # Would send to ourselves with nothing left to route on.
                context.finals.append(context._synthetic(482, "Loop Detected"))
                context._maybeFinish()
                return
            try:
                transaction = self.transactions.request(fwd, (address, port), context)
            except Exception:
                log.failure("cannot start a branch to {peer}", peer=(address, port))
                context.finals.append(context._synthetic(503, "Service Unavailable"))
                context._maybeFinish()
                return
            context.addBranch(transaction)

        def failed(reason: Any) -> None:
            context.pending -= 1
            log.info(
                "cannot resolve {host}: {reason}", host=host, reason=reason.getErrorMessage()
            )
            context.finals.append(context._synthetic(503, "Service Unavailable"))
            context._maybeFinish()

        if isIPLiteral(host) or self.resolve is None:
            start(host)
        else:
            self._resolveHost(host).addCallbacks(start, failed)

    def _resolveHost(self, host: str) -> Deferred[str]:
        """
        Resolve a host name (not an IP literal) through C{resolve}, refusing
        names the DNS cannot hold and giving up after L{resolveTimeout}.

        @return: a L{Deferred} firing with the address, or failing with
            L{DNSLookupError} (a bad name), L{TimeoutError
            <twisted.internet.defer.TimeoutError>}, or whatever C{resolve}
            failed with. It always fires.
        """
        assert self.resolve is not None
        if not isResolvableName(host):
            return fail(DNSLookupError(f"not a DNS name: {host!r}"))
        self.resolving += 1
        d = maybeDeferred(self.resolve, host)
        d.addTimeout(self.resolveTimeout, self.clock)

        def done(result: Any) -> Any:
            self.resolving -= 1
            return result

        return d.addBoth(done)

    # -- local answers ---------------------------------------------------

    def _answerOptions(self, request: Request, serverTransaction: IServerTransaction) -> None:
        response = responseFromRequest(request, 200, "OK", toTag=newTag())
        response.addHeader("allow", ALLOW)
        response.addHeader("accept", "application/sdp")
        serverTransaction.respond(response)

    def _register(self, request: Request, serverTransaction: IServerTransaction) -> None:
        if self.registrar is None:
            self._reject(request, serverTransaction, 404, "Not Found")
            return
        response = self.registrar.handleRegister(request, serverTransaction.source)
        if response.code >= 200 and toHeader(response).tag is None:
            values = response.headers.get("to")
            if values:
                values[0] = f"{values[0]};tag={newTag()}"
                response.invalidate("to")
        serverTransaction.respond(response)
