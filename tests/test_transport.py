"""
Tests for L{keepsip.transport.udp.SIPDatagramProtocol} on its own, on a
fake datagram transport: what reaches the controller, what is answered or
dropped, and what is written.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.testing import FakeDatagramTransport
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase, TestCase

from keepsip.sip.headers import topVia
from keepsip.sip.parser import parseDatagram
from keepsip.transaction.testing import makeRequest
from keepsip.transport.errors import TransportError
from keepsip.transport.selector import TransportSelector
from keepsip.transport.udp import SIPDatagramProtocol

SOURCE = ("192.0.2.10", 5072)


class RecordingController:
    """
    A controller recording what the transport hands over.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def requestReceived(self, request: Any, source: Any, receivedOn: Any = None) -> None:
        self.events.append(("request", request, source))

    def responseReceived(self, response: Any, source: Any) -> None:
        self.events.append(("response", response, source))

    def transportError(self, destination: Any) -> None:
        self.events.append(("transportError", destination))


def options(via: str = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKt1;rport", cseq: str = "1 OPTIONS") -> bytes:
    return (
        "OPTIONS sip:keepsip@192.0.2.1 SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:a@example.com>;tag=a1\r\n"
        "To: <sip:keepsip@192.0.2.1>\r\n"
        "Call-ID: t1@example.com\r\n"
        f"CSeq: {cseq}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def response(via: str) -> bytes:
    return (
        "SIP/2.0 200 OK\r\n"
        f"Via: {via}\r\n"
        "From: <sip:a@example.com>;tag=a1\r\n"
        "To: <sip:b@example.com>;tag=b1\r\n"
        "Call-ID: t2@example.com\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class ProtocolTests(SynchronousTestCase):
    """
    The one seam in and the one seam out.
    """

    def setUp(self) -> None:
        self.controller = RecordingController()
        self.selector = TransportSelector()
        self.protocol = SIPDatagramProtocol(
            self.controller,
            self.selector,
            socket.AF_INET,
            isMyVia=lambda via: via.host == "192.0.2.1",
        )
        self.transport = FakeDatagramTransport()
        self.protocol.makeConnection(self.transport)

    def test_receivedAndRport(self) -> None:
        """
        A request's top Via gets C{received} (the source host differs from
        sent-by) and the C{rport} value (RFC 3581) before the controller
        sees it; the datagram is counted.
        """
        self.protocol.datagramReceived(options(), SOURCE)
        [(kind, request, source)] = self.controller.events
        self.assertEqual((kind, source), ("request", SOURCE))
        via = topVia(request)
        self.assertEqual((via.received, via.rportValue), ("192.0.2.10", 5072))
        self.assertEqual((self.protocol.received, self.protocol.dropped), (1, 0))

    def test_sourceShared(self) -> None:
        """
        Messages from one peer carry one shared C{(host, port)} (held calls
        keep it in their transactions: one per peer, not one per datagram),
        equal to the address the datagram came from; another peer has its
        own.
        """
        self.protocol.datagramReceived(options(cseq="1 OPTIONS"), ("192.0.2.10", 5072))
        self.protocol.datagramReceived(options(cseq="2 OPTIONS"), ("192.0.2.10", 5072))
        self.protocol.datagramReceived(options(cseq="3 OPTIONS"), ("192.0.2.11", 5072))
        sources = [event[2] for event in self.controller.events]
        self.assertEqual(
            sources, [("192.0.2.10", 5072), ("192.0.2.10", 5072), ("192.0.2.11", 5072)]
        )
        self.assertIs(sources[0], sources[1])
        self.assertIs(self.controller.events[1][1].source, sources[0])

    def test_forgedReceivedReplaced(self) -> None:
        """
        A C{received} the sender wrote itself (a host name, with sent-by
        equal to the source so nothing else would stamp it) is replaced by
        the source address: responses must not go where the sender says.
        """
        via = "SIP/2.0/UDP 192.0.2.10:5072;branch=z9hG4bKt1;received=evil.example"
        self.protocol.datagramReceived(options(via), SOURCE)
        [(_, request, _)] = self.controller.events
        self.assertEqual(topVia(request).received, "192.0.2.10")

    def test_garbageDropped(self) -> None:
        """
        A datagram that is no SIP message is dropped: counted, nothing
        handed over, nothing written.
        """
        self.protocol.datagramReceived(b"\x00\xffnot sip at all", SOURCE)
        self.assertEqual(self.controller.events, [])
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.protocol.dropped, 1)

    def test_badRequestAnswered(self) -> None:
        """
        A request with an unreadable CSeq is answered 400 statelessly, to
        the source (rport), and not handed over.
        """
        self.protocol.datagramReceived(options(cseq="x OPTIONS"), SOURCE)
        self.assertEqual(self.controller.events, [])
        [(data, address)] = self.transport.written
        self.assertEqual(address, SOURCE)
        self.assertEqual(parseDatagram(data).code, 400)
        self.assertEqual(self.protocol.dropped, 1)

    def test_responseNotForUsDropped(self) -> None:
        """
        A response whose top Via is not keepsip's is dropped; one whose top
        Via is, is handed over.
        """
        self.protocol.datagramReceived(response("SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKx"), SOURCE)
        self.assertEqual(self.controller.events, [])
        self.assertEqual(self.protocol.dropped, 1)
        self.protocol.datagramReceived(response("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKy"), SOURCE)
        self.assertEqual([e[0] for e in self.controller.events], ["response"])

    def test_send(self) -> None:
        """
        L{SIPDatagramProtocol.send} writes the serialised message to the
        address, IPv6 brackets removed.
        """
        request = makeRequest("OPTIONS")
        self.protocol.send(request, ("192.0.2.20", 5060))
        self.protocol.send(request, ("[2001:db8::1]", 5060))
        self.assertEqual(
            self.transport.written,
            [(request.toBytes(), ("192.0.2.20", 5060)), (request.toBytes(), ("2001:db8::1", 5060))],
        )

    def test_sendNotListening(self) -> None:
        """
        Once the port stopped, sending raises L{TransportError} and the
        selector no longer offers the port.
        """
        self.protocol.doStop()
        self.assertRaises(TransportError, self.protocol.send, makeRequest("OPTIONS"), SOURCE)
        self.assertRaises(TransportError, self.selector.protocolFor, "192.0.2.20")

    def test_icmpError(self) -> None:
        """
        An ICMP error for a destination is reported to the controller.
        """
        self.protocol.icmpErrorReceived(("192.0.2.20", 5060), 111)
        self.assertEqual(self.controller.events, [("transportError", ("192.0.2.20", 5060))])


class RealPortSendTests(TestCase):
    """
    L{SIPDatagramProtocol.send} on a real UDP port of the reactor: the
    fast path taken after the first datagram to a host sends the same
    bytes, and what Twisted refuses is still refused.
    """

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.protocol = SIPDatagramProtocol(RecordingController(), TransportSelector())
        self.port = reactor.listenUDP(0, self.protocol, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(self.port.stopListening)
        self.peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.peer.close)
        self.peer.bind(("127.0.0.1", 0))
        self.peer.settimeout(5)

    def test_repeatedSendsArrive(self) -> None:
        """
        Three messages to one address (the first through Twisted's checks,
        the others straight to the socket) all arrive intact, in order.
        """
        address = self.peer.getsockname()
        sent = [makeRequest("OPTIONS", branch=f"z9hG4bKfast{i}") for i in range(3)]
        for request in sent:
            self.protocol.send(request, address)
        received = [self.peer.recvfrom(65535) for _ in sent]
        self.assertEqual([data for data, _ in received], [r.toBytes() for r in sent])
        host = self.port.getHost()
        self.assertEqual({source for _, source in received}, {(host.host, host.port)})

    def test_refusedAddressesStayRefused(self) -> None:
        """
        A host name and an IPv6 address are refused with L{TransportError}
        on an IPv4 port, also after sends to a valid address.
        """
        self.protocol.send(makeRequest("OPTIONS"), self.peer.getsockname())
        self.peer.recvfrom(65535)
        for address in [("localhost", 5060), ("[::1]", 5060), ("localhost", 5060)]:
            self.assertRaises(TransportError, self.protocol.send, makeRequest("OPTIONS"), address)

    def test_sendAfterStop(self) -> Deferred[None]:
        """
        Once the port stopped listening, sending to a host it sent to
        before raises L{TransportError}, as for any host.
        """
        address = self.peer.getsockname()
        self.protocol.send(makeRequest("OPTIONS"), address)
        self.peer.recvfrom(65535)
        stopped: Deferred[None] = Deferred()
        self.port.stopListening().addCallback(stopped.callback)

        def check(_: None) -> None:
            self.assertRaises(TransportError, self.protocol.send, makeRequest("OPTIONS"), address)

        return stopped.addCallback(check)
