"""
The UDP transport: one seam in (L{SIPDatagramProtocol.datagramReceived}),
one seam out (L{SIPDatagramProtocol.send}).

A plain L{DatagramProtocol}: one L{parseDatagram} call per datagram (a bad
datagram cannot leave state behind for the next one), RFC 3261 §18.2.1
C{received} and RFC 3581 C{rport} stamped on arrival, bad requests answered
statelessly; everything else goes to a controller (the transaction layer).
One instance per listening port: a L{TransportSelector} picks the one whose
socket sends to an address.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Protocol

from twisted.internet.error import InvalidAddressError
from twisted.internet.protocol import DatagramProtocol
from twisted.protocols.sip import statusCodes

from keepsip.logs import Logger
from keepsip.sip.address import stripBrackets
from keepsip.sip.headers import Via, newTag, topVia
from keepsip.sip.message import Message, Request, Response
from keepsip.sip.parser import ParseError, parseDatagram
from keepsip.sip.responses import responseDestination, responseFromRequest
from keepsip.sip.validate import checkRequest
from keepsip.transport.errors import TransportError
from keepsip.transport.selector import TransportSelector

log = Logger()

Address = tuple[str, int]

#: Hosts remembered as numeric addresses of a port's family (L{SIPDatagramProtocol.send}).
_SENT_TO_MAX = 4096

#: What a blocked source may still send: responses, ACK and CANCEL.
_NEVER_BLOCKED = (b"SIP/", b"ACK ", b"CANCEL ")


class TransportController(Protocol):
    """
    What the transport hands messages to (the transaction layer).
    """

    def requestReceived(
        self, request: Request, source: Address, receivedOn: "SIPDatagramProtocol | None" = None
    ) -> None:
        """
        A valid request arrived from C{source} on port C{receivedOn}: its
        responses leave through C{receivedOn.replyAddress(destination)}.
        """

    def responseReceived(self, response: Response, source: Address) -> None:
        """
        A response whose top Via is keepsip's arrived from C{source}.
        """

    def transportError(self, destination: Address) -> None:
        """
        C{destination} is unreachable (an ICMP error came back).
        """


class SIPDatagramProtocol(DatagramProtocol):
    """
    SIP over one UDP port.

    @param controller: receives requests, responses and transport errors.
    @param selector: the L{TransportSelector} this port joins while it
        listens.
    @param family: the address family of the port (C{AF_INET} or
        C{AF_INET6}).
    @param isMyVia: C{isMyVia(via) -> bool}: whether a response's top Via is
        keepsip's own; other responses are dropped (RFC 3261 §18.1.2).
    @param blocked: C{blocked(host) -> bool}, asked before a request other
        than ACK or CANCEL is parsed: L{True} drops it unread (overload
        control, L{keepsip.transaction.overload.Admission.blocks}).
    @ivar received: datagrams received (a metric).
    @ivar dropped: datagrams dropped or answered statelessly with an error.
    """

    def __init__(
        self,
        controller: TransportController,
        selector: TransportSelector,
        family: socket.AddressFamily = socket.AF_INET,
        isMyVia: Callable[[Via], bool] | None = None,
        supportedExtensions: frozenset[str] = frozenset(),
        blocked: Callable[[str], bool] | None = None,
    ) -> None:
        self.blocked = blocked
        self.controller = controller
        self.selector = selector
        self.family = family
        self.isMyVia = isMyVia
        self.supportedExtensions = supportedExtensions
        self.received = 0
        self.dropped = 0
        self._sendto: Callable[[bytes, Address], int] | None = None
        self._sentTo: set[str] = set()
        self._sources: dict[Any, Address] = {}

    def startProtocol(self) -> None:
        # A real port's socket, for sending without Twisted's per-datagram
        # address checks once an address has passed them (see L{send}).
        sock = getattr(self.transport, "socket", None)
        self._sendto = getattr(sock, "sendto", None)
        self._sentTo.clear()
        self.selector.portOpened(self)

    def stopProtocol(self) -> None:
        self._sendto = None
        self._sentTo.clear()
        self.selector.portClosed(self)

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.received += 1
        blocked = self.blocked
        if (
            blocked is not None
            and not data.startswith(_NEVER_BLOCKED)
            and blocked(addr[0])
        ):
            # Overload control blocked this source: dropped unread, which
            # is what keeps a flood from costing a parse per datagram.
            return
        # One (host, port) per peer, shared by every message from it and
        # what keeps it (each held call's transactions keep their source
        # and destination for 32 s after the answer); bounded like _sentTo.
        sources = self._sources
        source = sources.get(addr)
        if source is None:
            source = (addr[0], addr[1])
            if len(sources) >= _SENT_TO_MAX:
                sources.clear()
            sources[source] = source
        try:
            message = parseDatagram(data, source)
        except ParseError as e:
            self._badMessage(e, source)
            return
        try:
            if isinstance(message, Request):
                # Validate here, once, so that the transaction layer only
                # ever sees requests with a usable Via and CSeq; errors are
                # answered statelessly (a retransmission gets the same
                # answer again).
                problem = checkRequest(message, supportedExtensions=self.supportedExtensions)
                if problem is not None:
                    code, phrase, extra = problem
                    self._reject(message, source, code, phrase, extra)
                    return
                self._fixupVia(message, source)
                self.controller.requestReceived(message, source, self)
            else:
                if self.isMyVia is not None:
                    try:
                        mine = self.isMyVia(topVia(message))
                    except ValueError:
                        mine = False
                    if not mine:
                        self.dropped += 1
                        log.debug(
                            "dropping response not for us from {peer}", peer=source
                        )
                        return
                self.controller.responseReceived(message, source)
        except Exception:
            log.failure(
                "failed to handle a message from {peer}", peer=source, callID=message.header("call-id")
            )

    def replyAddress(self, destination: Address) -> Address:
        """
        Where a response to a request received on this port goes:
        C{destination}, through this port (RFC 3261 §18.2.2, RFC 3581 §4);
        see L{TransportSelector.replyAddress}.
        """
        return self.selector.replyAddress(self, destination)

    def _badMessage(self, error: ParseError, source: tuple[str, int]) -> None:
        message = error.message
        if error.code is None or not isinstance(message, Request):
            self.dropped += 1
            log.info(
                "dropping malformed message from {peer}: {reason}",
                peer=source,
                reason=error.reason,
            )
            return
        self._reject(
            message,
            source,
            error.code,
            f"{statusCodes.get(error.code, 'Bad Request')} ({error.reason})",
            {},
        )

    def _reject(
        self,
        request: Request,
        source: tuple[str, int],
        code: int,
        phrase: str,
        extra: dict[str, str],
    ) -> None:
        """
        Answer a bad request statelessly; an ACK is never answered.
        """
        self.dropped += 1
        log.info(
            "rejecting {method} from {peer}: {code} {reason}",
            method=request.method,
            peer=source,
            code=code,
            reason=phrase,
            callID=request.header("call-id"),
        )
        if request.method == "ACK":
            return
        try:
            response = responseFromRequest(request, code, phrase, toTag=newTag())
        except Exception:
            log.info("cannot build an error response for {peer}", peer=source)
            return
        for name, value in extra.items():
            response.addHeader(name, value)
        destination = source
        try:
            if response.headers.get("via"):
                self._fixupVia(request, source)
                destination = responseDestination(topVia(request), source)
        except Exception:
            destination = source
        try:
            self.send(response, destination)
        except TransportError as e:
            log.info("cannot answer {peer}: {error}", peer=destination, error=str(e))

    @staticmethod
    def _fixupVia(request: Request, source: tuple[str, int]) -> None:
        """
        RFC 3261 §18.2.1 and RFC 3581: note the source address in the top Via.

        A C{received} the sender put there itself is replaced by the source
        whenever it differs: it is the receiver's note (an IP address), and a
        forged one (a host name, another host) would send every response
        elsewhere.
        """
        values = request.headers.get("via")
        if not values:
            return
        via = topVia(request)
        sourceHost, sourcePort = source
        changed = False
        if (
            stripBrackets(via.host) != sourceHost
            or via.rportRequested
            or (via.received is not None and via.receivedAddress != sourceHost)
        ):
            via.received = sourceHost
            changed = True
        if via.rportRequested:
            via.rportValue = sourcePort
            via.rportRequested = False
            changed = True
        if changed:
            # The cached parsed top Via is C{via} itself, changed in place:
            # it stays valid, so the layers above do not parse it again.
            values[0] = via.toString()

    def send(self, message: Message, address: Address) -> None:
        """
        Send C{message} to C{address} out of this port.

        @raise TransportError: if the port is not listening, or refuses the
            address (Twisted's L{InvalidAddressError} for a host name or an
            address of the other family; an L{OSError} such as an
            unreachable network).
        """
        transport = self.transport
        if transport is None:
            raise TransportError(address, "not listening")
        data = message.toBytes()
        destination = (stripBrackets(address[0]), address[1])
        host = destination[0]
        sendto = self._sendto
        if sendto is not None and host in self._sentTo:
            # A host this port has sent to before is a numeric address of
            # its family: skip Twisted's three address checks. Any error
            # takes the full path below, which reports it as before.
            try:
                sendto(data, destination)
                return
            except OSError:
                pass
        try:
            # IUDPTransport.write is annotated -> None; a real port returns
            # sendto's count, None when it swallowed an error.
            sent = transport.write(data, destination)  # type: ignore[func-returns-value]
        except (InvalidAddressError, OSError) as e:
            raise TransportError(address, str(e)) from e
        if sent is not None and sendto is not None:
            if len(self._sentTo) >= _SENT_TO_MAX:
                self._sentTo.clear()
            self._sentTo.add(host)

    def icmpErrorReceived(self, address: tuple[str, int], errno: int) -> None:
        """
        An ICMP error (port or host unreachable) came back for a datagram
        keepsip sent to C{address}: every client transaction sending there
        fails at once (RFC 3261 §8.1.3.1) instead of waiting for its timer.
        """
        # Debug only: a vanished flooder brings one ICMP error per answer.
        log.debug("ICMP error {errno} for {peer}", errno=errno, peer=address)
        self.controller.transportError(address)

    def connectionRefused(self) -> None:
        """
        An ICMP error arrived for an earlier datagram. Unconnected UDP does
        not say which destination it was for; see the keepalive work for
        per-destination handling.
        """
        log.debug("ICMP port unreachable for an earlier datagram")
