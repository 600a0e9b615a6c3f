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

import hashlib
import ipaddress
from functools import lru_cache
from typing import Any, Callable

from twisted.internet.defer import Deferred, maybeDeferred
from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.sip.headers import (
    callID,
    cseq,
    fromHeader,
    maxForwards,
    newBranch,
    newTag,
    parseNameAddr,
    toHeader,
    topVia,
    vias,
)
from keepsip.sip.message import Request, Response
from keepsip.sip.uri import URI, parseURI
from keepsip.transaction.interfaces import IClientTransactionUser, ITransactionUser
from keepsip.transaction.responses import responseFromRequest

log = Logger()

#: Methods that create a dialog, so keepsip Record-Routes them.
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

#: What keepsip answers to OPTIONS addressed to itself.
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE"

#: Timer C (RFC 3261 §16.6 step 11): how long a proxied INVITE may ring.
TIMER_C = 180.0

DEFAULT_MAX_FORWARDS = 70

_LOOP_MAGIC = "z9hG4bK"


def formatHost(host: str) -> str:
    """
    Bracket an IPv6 literal for use in a Via or URI.
    """
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def socketHost(host: str) -> str:
    """
    Strip the brackets of an IPv6 reference for use with sockets.
    """
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


@lru_cache(maxsize=4096)
def isIPLiteral(host: str) -> bool:
    """
    Is C{host} an IPv4 or IPv6 address (brackets allowed)? Cached: the same
    few next hops recur on every message.
    """
    try:
        ipaddress.ip_address(socketHost(host))
    except ValueError:
        return False
    return True


class ProxyIdentity:
    """
    Who keepsip is on the wire: the address it advertises in Via and
    Record-Route and every address it answers to.

    @param advertise: C{(host, port)} written into Via and Record-Route.
    @param listen: the C{(host, port)} pairs keepsip listens on.
    @param domains: extra domain names keepsip serves (its registrar domain).
    """

    def __init__(
        self,
        advertise: tuple[str, int],
        listen: list[tuple[str, int]] = [],
        domains: list[str] = [],
    ) -> None:
        host, port = advertise
        self.host = socketHost(host)
        self.port = port
        self.sentBy = f"{formatHost(self.host)}:{port}"
        self.recordRoute = f"<sip:{self.sentBy};lr>"
        addresses = {(self.host.lower(), port)}
        ports = {port}
        for listenHost, listenPort in listen:
            ports.add(listenPort)
            listenHost = socketHost(listenHost).lower()
            if listenHost not in ("0.0.0.0", "::", ""):
                addresses.add((listenHost, listenPort))
        self.ports = frozenset(ports)
        self.addresses = frozenset(addresses)
        self.hosts = frozenset(h for h, _ in addresses) | {"localhost", "127.0.0.1", "::1"}
        self.domains = frozenset(d.lower() for d in domains)
        self.wildcard = any(
            socketHost(h) in ("0.0.0.0", "::", "") for h, _ in listen
        )

    def isMe(self, host: str, port: int | None) -> bool:
        """
        Is C{host:port} (from a Route, Via or Request-URI) keepsip itself?
        """
        host = socketHost(host).lower()
        port = port or 5060
        if (host, port) in self.addresses:
            return True
        if port in self.ports and (host in self.hosts or host in self.domains):
            return True
        return False

    def isOwnDomain(self, host: str, port: int | None) -> bool:
        """
        Is C{host} a domain keepsip is responsible for (registrar, static
        user routes)?
        """
        lowered = socketHost(host).lower()
        if lowered in self.domains:
            return True
        return self.isMe(host, port)


def _loopHash(request: Request) -> str:
    """
    The loop-detection hash of RFC 3261 §16.6 step 8 over the fields that
    §16.3 step 4 names, taken from the request as received.
    """
    headers = request.headers
    parts = [
        request.uri.toString(),
        headers.get("call-id", [""])[0],
        headers.get("from", [""])[0],
        headers.get("to", [""])[0],
        headers.get("cseq", [""])[0].split(None, 1)[0] if headers.get("cseq") else "",
        ",".join(headers.get("route", ())),
        ",".join(headers.get("proxy-require", ())),
        ",".join(headers.get("proxy-authorization", ())),
    ]
    return hashlib.blake2s("\x00".join(parts).encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()


def _uriAddress(uri: URI) -> tuple[str, int]:
    maddr = uri.params.get("maddr") if uri.params else None
    host = maddr or uri.host
    return socketHost(host), uri.port or 5060


@implementer(IClientTransactionUser)
class ResponseContext:
    """
    The §16.7 response context of one proxied request: its server
    transaction and a client transaction per branch.
    """

    def __init__(self, core: "ProxyCore", request: Request, serverTransaction: Any) -> None:
        self.core = core
        self.request = request
        self.serverTransaction = serverTransaction
        self.branches: list[Any] = []
        self.pending = 0
        self.finals: list[Response] = []
        self._answered: set[int] = set()
        self.finalSent = False
        self.cancelled = False
        self.isInvite = request.method == "INVITE"
        self._timerC: Any = None

    def addBranch(self, clientTransaction: Any) -> None:
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
        self.cancelBranches()

    # IClientTransactionUser

    def responseReceived(self, response: Response, clientTransaction: Any) -> None:
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
                self._answered.add(id(clientTransaction))
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

    def timedOut(self, clientTransaction: Any) -> None:
        self.pending -= 1
        if not self.finalSent:
            self.finals.append(self._synthetic(408, "Request Timeout"))
            self._maybeFinish()

    def transportFailed(self, clientTransaction: Any) -> None:
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
        core = self.core
        if core.tracker is not None:
            if self.isInvite:
                core.tracker.inviteResponse(self.request, response, self.cancelled, source)
            elif self.request.method == "BYE" and response.code >= 200:
                core.tracker.byeAnswered(self.request, response)
        self.serverTransaction.respond(response)


@implementer(ITransactionUser)
class ProxyCore:
    """
    The proxy's transaction user.

    @param clock: an L{IReactorTime}.
    @param identity: the L{ProxyIdentity}.
    @param send: C{send(message, (host, port))} for stateless forwarding.
    @param routeFor: C{routeFor(user, host) -> (host, port) | None}, the
        static routes.
    @param registrar: the L{keepsip.registrar.Registrar} or L{None}.
    @param tracker: the L{keepsip.dialog.tracker.DialogTracker} or L{None}.
    @param resolve: C{resolve(hostname) -> Deferred[str]} for Request-URI
        hosts that are not IP literals.
    """

    transactions: Any = None
    timerC = TIMER_C

    def __init__(
        self,
        clock: Any,
        identity: ProxyIdentity,
        send: Callable[[Any, tuple[str, int]], None],
        routeFor: Callable[[str | None, str], tuple[str, int] | None] = lambda u, h: None,
        registrar: Any = None,
        tracker: Any = None,
        resolve: Callable[[str], Deferred[str]] | None = None,
    ) -> None:
        self.clock = clock
        self.identity = identity
        self.send = send
        self.routeFor = routeFor
        self.registrar = registrar
        self.tracker = tracker
        self.resolve = resolve

    # -- ITransactionUser ------------------------------------------------

    def requestReceived(self, request: Request, serverTransaction: Any) -> None:
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
        self, request: Request, serverTransaction: Any, inviteTransaction: Any
    ) -> None:
        context = getattr(inviteTransaction, "proxyContext", None)
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
        from keepsip.transaction.destination import responseDestination

        viaValues = response.headers.get("via")
        if not viaValues or len(viaValues) < 2:
            return
        del viaValues[0]
        response.invalidate("via")
        try:
            destination = responseDestination(topVia(response))
        except ValueError:
            return
        self.send(response, destination)

    def requestRetransmitted(self, request: Request, serverTransaction: Any) -> None:
        """
        The transaction layer absorbed a retransmission: nothing to do.
        """

    def serverTimedOut(self, serverTransaction: Any) -> None:
        log.debug(
            "no ACK for the final response to {callID}",
            callID=serverTransaction.request.header("call-id"),
        )

    # -- request processing (§16.3 - §16.6) ----------------------------------

    def _reject(
        self,
        request: Request,
        serverTransaction: Any,
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

    def _processRequest(self, request: Request, serverTransaction: Any) -> None:
        # The transport has validated the request (checkRequest).
        identity = self.identity
        routeValues = request.headers.get("route")
        uri = request.uri
        uriIsMe = identity.isMe(uri.host, uri.port)

        forwards = maxForwards(request)
        if forwards is not None and forwards <= 0:
            if request.method == "OPTIONS" and uriIsMe and not routeValues:
                self._answerOptions(request, serverTransaction)
            else:
                self._reject(request, serverTransaction, 483, "Too Many Hops")
            return

        if self._isLoop(request):
            self._reject(request, serverTransaction, 482, "Loop Detected")
            return

        loopHash = _loopHash(request)
        outgoing = request.copy()
        assert isinstance(outgoing, Request)

        # §16.4: a strict router put our Record-Route URI into the
        # Request-URI; the real one is the last Route.
        if uriIsMe and "lr" in uri.params and routeValues:
            last = parseNameAddr(routeValues[-1])
            outgoing.uri = last.uri
            outgoing.headers["route"] = routeValues[:-1]
            uri = outgoing.uri
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

        targets = self._targets(outgoing, isInDialog)
        if isinstance(targets, tuple):
            code, phrase = targets
            self._reject(request, serverTransaction, code, phrase)
            return

        context = ResponseContext(self, request, serverTransaction)
        # The context lives exactly as long as its server transaction.
        serverTransaction.proxyContext = context
        if self.tracker is not None:
            if isInDialog:
                self.tracker.inDialogRequest(request, serverTransaction.source)
            elif request.method == "INVITE":
                self.tracker.initialInvite(request, serverTransaction.source)

        recordRoute = request.method in DIALOG_CREATING and not isInDialog
        lastIndex = len(targets) - 1
        for index, (targetURI, nextHop) in enumerate(targets):
            # The last branch may take the working copy itself.
            self._forward(
                outgoing, targetURI, nextHop, loopHash, recordRoute, context, index < lastIndex
            )

    def _removeOwnRoutes(self, request: Request) -> None:
        """
        RFC 3261 §16.4: drop the Route entries at the top that name keepsip
        (one, or more after a spiral through it).
        """
        routeValues = request.headers.get("route")
        while routeValues:
            top = parseNameAddr(routeValues[0]).uri
            if not isinstance(top, URI) or not self.identity.isMe(top.host, top.port):
                break
            del routeValues[0]
        if routeValues is not None and not routeValues:
            del request.headers["route"]
        request.invalidate("route")

    def _isLoop(self, request: Request) -> bool:
        """
        §16.3 step 4: a Via of ours whose loop hash equals this request's
        means the request came back unchanged (a loop, not a spiral).
        """
        sentBy = self.identity.sentBy
        prefix = _LOOP_MAGIC + "ks"
        mine = [
            value
            for value in request.headers.get("via", ())
            if sentBy in value and prefix in value
        ]
        if not mine:
            return False
        loopHash = _loopHash(request)
        for via in vias(request):
            branch = via.branch or ""
            if branch.startswith(prefix) and f"{via.host}:{via.port}".lower() == sentBy.lower():
                if branch[len(prefix) :].split(".", 1)[0] == loopHash:
                    return True
        return False

    def _targets(
        self, request: Request, isInDialog: bool
    ) -> list[tuple[Any, tuple[str, int] | None]] | tuple[int, str]:
        """
        §16.5: the targets as C{(Request-URI, next hop or None)} pairs, or
        C{(status, phrase)} if there is none.
        """
        uri = request.uri
        if request.headers.get("route"):
            return [(None, None)]
        if not isinstance(uri, URI) or uri.scheme not in ("sip",):
            if getattr(uri, "scheme", None) == "sips":
                return (480, "Temporarily Unavailable (no TLS transport for sips)")
            return (416, "Unsupported URI Scheme")
        identity = self.identity
        ownDomain = identity.isOwnDomain(uri.host, uri.port)
        if ownDomain and self.registrar is not None and uri.user is not None:
            from keepsip.registrar import aorKey

            contacts = self.registrar.location.lookup(aorKey(uri), self.clock.seconds())
            if contacts:
                targets: list[tuple[Any, tuple[str, int] | None]] = []
                for contact in contacts:
                    try:
                        targets.append((parseURI(contact), None))
                    except ValueError:
                        continue
                if targets:
                    return targets
        host = socketHost(uri.host).lower()
        # Static routes cover keepsip's own domain (user prefixes) and
        # foreign domains (@DOMAIN routes); a URI naming one of keepsip's
        # hosts on another port is some user agent's contact on this machine.
        if ownDomain or host not in identity.hosts:
            hop = self.routeFor(uri.user, host)
            if hop is not None:
                return [(None, hop)]
        if ownDomain:
            return (404, "Not Found")
        # A foreign domain, or an in-dialog request to the peer's Contact.
        return [(None, None)]

    def _forward(
        self,
        request: Request,
        targetURI: Any,
        nextHop: tuple[str, int] | None,
        loopHash: str,
        recordRoute: bool,
        context: ResponseContext,
        copy: bool = True,
    ) -> None:
        """
        §16.6: copy (unless C{copy} is false: C{request} is a working copy
        nobody else uses), retarget, decrement Max-Forwards, Record-Route, add
        Via, and hand to a new client transaction.
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
        routeValues = headers.get("route")
        if routeValues:
            first = parseNameAddr(routeValues[0])
            destinationURI: Any = first.uri
            if isinstance(first.uri, URI) and "lr" not in first.uri.params:
                # §16.6 step 7: a strict router next.
                del routeValues[0]
                routeValues.append(f"<{fwd.uri.toString()}>")
                fwd.uri = first.uri
                fwd.invalidate("route")
        else:
            destinationURI = fwd.uri
        branch = f"{_LOOP_MAGIC}ks{loopHash}.{newBranch()[7:]}"
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
            host, port = _uriAddress(destinationURI)

        context.pending += 1

        def start(address: str) -> None:
            context.pending -= 1
            if self.identity.isMe(address, port) and not headers.get("route"):
                # Would send to ourselves with nothing left to route on.
                context.finals.append(context._synthetic(482, "Loop Detected"))
                context._maybeFinish()
                return
            transaction = self.transactions.request(fwd, (address, port), context)
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
            maybeDeferred(self.resolve, host).addCallbacks(start, failed)

    def _forwardStatelessly(self, request: Request) -> None:
        """
        §16.11: forward a 2xx ACK (or other request that needs no state).
        Its branch is derived from the incoming one so retransmissions map
        to the same branch.
        """
        identity = self.identity
        fwd = request.copy()
        assert isinstance(fwd, Request)
        headers = fwd.headers
        self._removeOwnRoutes(fwd)
        forwards = maxForwards(request)
        if forwards is not None and forwards <= 0:
            return
        headers["max-forwards"] = [str(DEFAULT_MAX_FORWARDS if forwards is None else forwards - 1)]
        if headers.get("route"):
            first = parseNameAddr(headers["route"][0])
            destinationURI = first.uri
            if isinstance(first.uri, URI) and "lr" not in first.uri.params:
                del headers["route"][0]
                headers["route"].append(f"<{fwd.uri.toString()}>")
                fwd.uri = first.uri
        else:
            destinationURI = fwd.uri
            if identity.isMe(fwd.uri.host, fwd.uri.port):
                return
        if not isinstance(destinationURI, URI):
            return
        incoming = topVia(request).branch or ""
        digest = hashlib.blake2s(
            (incoming + request.uri.toString()).encode("utf-8", "surrogateescape"),
            digest_size=8,
        ).hexdigest()
        headers["via"] = [
            f"SIP/2.0/UDP {identity.sentBy};branch={_LOOP_MAGIC}sl{digest}"
        ] + headers.get("via", [])
        headers.move_to_end("via", last=False)
        fwd.invalidate("via")
        host, port = _uriAddress(destinationURI)
        if isIPLiteral(host) or self.resolve is None:
            self.send(fwd, (host, port))
        else:
            maybeDeferred(self.resolve, host).addCallbacks(
                lambda address: self.send(fwd, (address, port)),
                lambda f: log.info("cannot resolve {host} for ACK", host=host),
            )

    # -- local answers ---------------------------------------------------

    def _answerOptions(self, request: Request, serverTransaction: Any) -> None:
        response = responseFromRequest(request, 200, "OK", toTag=newTag())
        response.addHeader("allow", ALLOW)
        response.addHeader("accept", "application/sdp")
        serverTransaction.respond(response)

    def _register(self, request: Request, serverTransaction: Any) -> None:
        if self.registrar is None:
            self._reject(request, serverTransaction, 404, "Not Found")
            return
        response = self.registrar.handleRegister(request)
        if response.code >= 200 and toHeader(response).tag is None:
            values = response.headers.get("to")
            if values:
                values[0] = f"{values[0]};tag={newTag()}"
                response.invalidate("to")
        serverTransaction.respond(response)
