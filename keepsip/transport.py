"""
The UDP transport: one seam in (L{SIPDatagramProtocol.datagramReceived}),
one seam out (L{SIPDatagramProtocol.send}).

It extends L{twisted.protocols.sip.Base}, replacing what is weak for a
stateful proxy: its line parser (here one L{parseDatagram} call per
datagram, so a bad datagram cannot leave state behind for the next one), its
RFC 2543 NAT fix-up (here RFC 3261 §18.2.1 C{received} and RFC 3581
C{rport}), and its string-only C{sendMessage}. Everything else goes to a
controller, the L{keepsip.transaction.TransactionLayer}.
"""

from __future__ import annotations

from typing import Any

from keepsip.logs import Logger
from twisted.protocols import sip as _tsip

from keepsip.sip.headers import newTag, topVia
from keepsip.sip.message import Message, Request, Response
from keepsip.sip.parser import ParseError, parseDatagram
from keepsip.sip.validate import checkRequest
from keepsip.transaction.destination import responseDestination
from keepsip.transaction.responses import responseFromRequest

log = Logger()


def _socketHost(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class SIPDatagramProtocol(_tsip.Base):
    """
    SIP over UDP.

    @param controller: receives C{requestReceived(request, source)} and
        C{responseReceived(response, source)} (the transaction layer); set
        after construction because the layer sends through this protocol.
    @param isMyVia: C{isMyVia(via) -> bool}: whether a response's top Via is
        keepsip's own; other responses are dropped (RFC 3261 §18.1.2).
    """

    controller: Any = None

    def __init__(
        self, isMyVia: Any = None, supportedExtensions: frozenset[str] = frozenset()
    ) -> None:
        # Deliberately not calling Base.__init__: it builds the line parser.
        self.isMyVia = isMyVia
        self.supportedExtensions = supportedExtensions
        self.received = 0
        self.dropped = 0

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.received += 1
        source = (addr[0], addr[1])
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
                self.controller.requestReceived(message, source)
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
            f"{_tsip.statusCodes.get(error.code, 'Bad Request')} ({error.reason})",
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
        self.send(response, destination)

    @staticmethod
    def _fixupVia(request: Request, source: tuple[str, int]) -> None:
        """
        RFC 3261 §18.2.1 and RFC 3581: note the source address in the top Via.
        """
        values = request.headers.get("via")
        if not values:
            return
        via = topVia(request)
        sourceHost, sourcePort = source
        changed = False
        if _socketHost(via.host) != sourceHost or via.rportRequested:
            via.received = sourceHost
            changed = True
        if via.rportRequested:
            via.rportValue = sourcePort
            via.rportRequested = False
            changed = True
        if changed:
            values[0] = via.toString()
            request.invalidate("via")

    def send(self, message: Message, address: tuple[str, int]) -> None:
        """
        Send C{message} to C{address}; the only way out.
        """
        if self.transport is None:
            log.warn("not listening: dropping a message for {peer}", peer=address)
            return
        try:
            self.transport.write(message.toBytes(), (_socketHost(address[0]), address[1]))
        except OSError as e:
            log.info("cannot send to {peer}: {error}", peer=address, error=e)

    def sendMessage(self, destURL: Any, message: Message) -> None:  # type: ignore[override]
        """
        Twisted's seam, kept for compatibility: send to a L{URL}'s host and port.
        """
        self.send(message, (destURL.host, destURL.port or self.PORT))

    def icmpErrorReceived(self, address: tuple[str, int], errno: int) -> None:
        """
        An ICMP error (port or host unreachable) came back for a datagram
        keepsip sent to C{address}: every client transaction sending there
        fails at once (RFC 3261 §8.1.3.1) instead of waiting for its timer.
        """
        log.info("ICMP error {errno} for {peer}", errno=errno, peer=address)
        if self.controller is not None:
            self.controller.transportError(address)

    def connectionRefused(self) -> None:
        """
        An ICMP error arrived for an earlier datagram. Unconnected UDP does
        not say which destination it was for; see the keepalive work for
        per-destination handling.
        """
        log.debug("ICMP port unreachable for an earlier datagram")
