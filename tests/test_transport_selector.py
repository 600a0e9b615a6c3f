"""
Tests for L{keepsip.transport.selector}: which socket sends a message.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import InvalidAddressError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from keepsip.transaction.interfaces import ITransactionUser
from keepsip.transaction.layer import TransactionLayer
from keepsip.transaction.overload import Admission
from keepsip.transaction.testing import (
    RecordingClientUser,
    RecordingTransactionUser,
    makeRequest,
    makeResponse,
)
from keepsip.transport.errors import TransportError
from keepsip.transport.selector import ReplyAddress, TransportSelector
from keepsip.transport.udp import SIPDatagramProtocol


class _Controller:
    def requestReceived(self, request: Any, source: Any, receivedOn: Any = None) -> None:
        pass

    def responseReceived(self, response: Any, source: Any) -> None:
        pass

    def transportError(self, destination: Any) -> None:
        pass


class _RefusingTransport(FakeDatagramTransport):
    """
    A port that refuses every address the way C{udp.Port.write} refuses a
    host name or an address of the other family.
    """

    def write(self, packet: bytes, addr: Any = None) -> None:
        raise InvalidAddressError(addr, "write() only accepts IP addresses")


class SelectorTests(SynchronousTestCase):
    """
    L{TransportSelector.send} sends out of the open port of the
    destination's address family.
    """

    def setUp(self) -> None:
        self.selector = TransportSelector()
        self.v4 = self.listen(socket.AF_INET)
        self.v6 = self.listen(socket.AF_INET6)

    def listen(self, family: socket.AddressFamily, transport: Any = None) -> Any:
        protocol = SIPDatagramProtocol(_Controller(), self.selector, family)
        transport = transport or FakeDatagramTransport()
        protocol.makeConnection(transport)
        return transport

    def test_byFamily(self) -> None:
        """
        An IPv6 destination (bracketed or not) goes out of the IPv6 port,
        an IPv4 one out of the IPv4 port; the socket gets no brackets.
        """
        request = makeRequest("OPTIONS")
        self.selector.send(request, ("[2001:db8::1]", 5060))
        self.selector.send(request, ("2001:db8::2", 5062))
        self.selector.send(request, ("192.0.2.7", 5060))
        self.assertEqual(
            [address for _, address in self.v6.written],
            [("2001:db8::1", 5060), ("2001:db8::2", 5062)],
        )
        self.assertEqual([address for _, address in self.v4.written], [("192.0.2.7", 5060)])
        self.assertEqual(self.v4.written[0][0], request.toBytes())

    def test_firstPortOfFamily(self) -> None:
        """
        With two ports of one family, the first opened sends.
        """
        second = self.listen(socket.AF_INET)
        self.selector.send(makeRequest("OPTIONS"), ("192.0.2.7", 5060))
        self.assertEqual(len(self.v4.written), 1)
        self.assertEqual(second.written, [])

    def test_noSocketOfFamily(self) -> None:
        """
        A destination of a family keepsip has no open socket for raises
        L{TransportError} naming the address; nothing is written.
        """
        selector = TransportSelector()
        protocol = SIPDatagramProtocol(_Controller(), selector, socket.AF_INET)
        transport = FakeDatagramTransport()
        protocol.makeConnection(transport)
        error = self.assertRaises(
            TransportError, selector.send, makeRequest("OPTIONS"), ("::1", 5060)
        )
        self.assertEqual(error.address, ("::1", 5060))
        self.assertIn("IPv6", str(error))
        self.assertEqual(transport.written, [])

    def test_hostName(self) -> None:
        """
        A host name (nobody resolved it) raises L{TransportError}.
        """
        self.assertRaises(
            TransportError, self.selector.send, makeRequest("OPTIONS"), ("example.com", 5060)
        )

    def test_closedPortLeaves(self) -> None:
        """
        A port that stopped listening no longer sends.
        """
        selector = TransportSelector()
        protocol = SIPDatagramProtocol(_Controller(), selector, socket.AF_INET6)
        protocol.makeConnection(FakeDatagramTransport())
        protocol.doStop()
        self.assertRaises(
            TransportError, selector.send, makeRequest("OPTIONS"), ("::1", 5060)
        )

    def test_refusedAddress(self) -> None:
        """
        Twisted's L{InvalidAddressError} from the port's C{write} becomes a
        L{TransportError}.
        """
        selector = TransportSelector()
        protocol = SIPDatagramProtocol(_Controller(), selector, socket.AF_INET)
        protocol.makeConnection(_RefusingTransport())
        self.assertRaises(
            TransportError, selector.send, makeRequest("OPTIONS"), ("192.0.2.7", 5060)
        )


class CanSendTests(SynchronousTestCase):
    """
    L{TransportSelector.canSend} says whether an address could be sent to
    at all, without sending.
    """

    def test_canSend(self) -> None:
        """
        An IPv4 address can be sent to from an IPv4-only node; an IPv6
        address and a host name cannot.
        """
        selector = TransportSelector()
        protocol = SIPDatagramProtocol(_Controller(), selector, socket.AF_INET)
        transport = FakeDatagramTransport()
        protocol.makeConnection(transport)
        self.assertEqual(
            [
                selector.canSend(("192.0.2.7", 5060)),
                selector.canSend(("2001:db8::1", 5060)),
                selector.canSend(("evil.example", 5060)),
            ],
            [True, False, False],
        )
        self.assertEqual(transport.written, [])


class ReplyAddressTests(SynchronousTestCase):
    """
    L{TransportSelector.replyAddress} and L{ReplyAddress}: a response to a
    request received on a port other than the first of its family leaves
    through that port; requests keep leaving through the first.
    """

    def setUp(self) -> None:
        self.selector = TransportSelector()
        self.own = SIPDatagramProtocol(_Controller(), self.selector, socket.AF_INET)
        self.ownTransport = FakeDatagramTransport()
        self.own.makeConnection(self.ownTransport)
        self.shared = SIPDatagramProtocol(_Controller(), self.selector, socket.AF_INET)
        self.sharedTransport = FakeDatagramTransport()
        self.shared.makeConnection(self.sharedTransport)

    def test_firstPortPlain(self) -> None:
        """
        For the first port of a family (a single-port keepsip) the reply
        address is the plain destination: nothing changes, nothing extra
        is kept.
        """
        reply = self.own.replyAddress(("192.0.2.7", 5060))
        self.assertIs(type(reply), tuple)
        self.assertEqual(reply, ("192.0.2.7", 5060))

    def test_otherPortSends(self) -> None:
        """
        A reply address made by the second port equals and hashes as the
        plain tuple, and what is sent to it leaves through the second port;
        a request to the same plain address leaves through the first.
        """
        reply = self.shared.replyAddress(("192.0.2.7", 5060))
        self.assertIsInstance(reply, ReplyAddress)
        self.assertEqual(reply, ("192.0.2.7", 5060))
        self.assertEqual({reply: 1}.get(("192.0.2.7", 5060)), 1)
        response = makeResponse(makeRequest("OPTIONS"), 200)
        self.selector.send(response, reply)
        self.selector.send(makeRequest("OPTIONS"), ("192.0.2.7", 5060))
        self.assertEqual(
            [data for data, _ in self.sharedTransport.written], [response.toBytes()]
        )
        self.assertEqual(len(self.ownTransport.written), 1)
        self.assertEqual(self.sharedTransport.written[0][1], ("192.0.2.7", 5060))

    def test_closedPortFallsBack(self) -> None:
        """
        Once the receiving port stopped listening, a response to its reply
        address leaves through the first open port of the family instead of
        failing.
        """
        reply = self.shared.replyAddress(("192.0.2.7", 5060))
        self.shared.doStop()
        self.selector.send(makeResponse(makeRequest("OPTIONS"), 200), reply)
        self.assertEqual(len(self.ownTransport.written), 1)


@implementer(ITransactionUser)
class _AnswerAndForward(RecordingTransactionUser):
    """
    Answers every request 200 and sends a request of its own to C{peer}.
    """

    def __init__(self, layer: Any, peer: tuple[str, int]) -> None:
        RecordingTransactionUser.__init__(self)
        self.layer = layer
        self.peer = peer

    def requestReceived(self, request: Any, serverTransaction: Any) -> None:
        serverTransaction.respond(makeResponse(request, 200))
        self.layer().request(
            makeRequest("OPTIONS", branch="z9hG4bKforwarded", sentBy="127.0.0.1:1"),
            self.peer,
            RecordingClientUser(),
        )


class _Peer(DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, tuple[str, int]]] = []
        self.waiting: list[tuple[int, Deferred[None]]] = []

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.got.append((data, addr))
        for count, d in list(self.waiting):
            if len(self.got) >= count:
                self.waiting.remove((count, d))
                d.callback(None)

    def atLeast(self, count: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if len(self.got) >= count:
            d.callback(None)
        else:
            self.waiting.append((count, d))
        return d.addTimeout(5, reactor)


class LoopbackReplyTests(TestCase):
    """
    With real loopback sockets, a real L{TransactionLayer} and the selector,
    as a C{--workers} worker has them: its own port first, the shared one
    second.
    """

    def setUp(self) -> None:
        selector = TransportSelector()
        self.peer = _Peer()
        peerPort = reactor.listenUDP(0, self.peer, interface="127.0.0.1")
        self.addCleanup(peerPort.stopListening)
        peerAddress = ("127.0.0.1", peerPort.getHost().port)
        self.layers: list[TransactionLayer] = []
        user = _AnswerAndForward(lambda: self.layers[0], peerAddress)
        self.admission = Admission(1, 1)
        layer = TransactionLayer(reactor, selector.send, user, admission=self.admission)
        self.layers.append(layer)
        self.addCleanup(layer.stop)
        self.ports = []
        for _ in ("own", "shared"):
            port = reactor.listenUDP(
                0, SIPDatagramProtocol(layer, selector, socket.AF_INET), interface="127.0.0.1"
            )
            self.addCleanup(port.stopListening)
            self.ports.append(port.getHost().port)

    def sendOptions(self, toPort: int, branch: str) -> None:
        request = makeRequest(
            "OPTIONS", branch=branch, sentBy=f"127.0.0.1:{self.peerPort()}", viaParams=";rport"
        )
        request.addHeader("content-length", "0")
        self.peerTransport().write(request.toBytes(), ("127.0.0.1", toPort))

    def peerPort(self) -> int:
        port: int = self.peerTransport().getHost().port
        return port

    def peerTransport(self) -> Any:
        return self.peer.transport

    def sources(self) -> list[tuple[str, int]]:
        return [
            (data.split(b"\r\n", 1)[0].decode(), addr[1]) for data, addr in self.peer.got
        ]

    async def test_responseFromSharedRequestFromOwn(self) -> None:
        """
        An OPTIONS sent to the shared port is answered from the shared
        port; the request the user sends meanwhile leaves from the own
        port.
        """
        own, shared = self.ports
        self.sendOptions(shared, "z9hG4bKfirst")
        await self.peer.atLeast(2)
        self.assertEqual(
            sorted(self.sources()),
            sorted([("SIP/2.0 200 OK", shared), ("OPTIONS sip:bob@example.com SIP/2.0", own)]),
        )

    async def test_statelessFromShared(self) -> None:
        """
        A request refused statelessly by admission control (503) is answered
        from the shared port it came to as well.
        """
        own, shared = self.ports
        # The peer answers nothing, so the first transaction (its response
        # sent) is still open when the second arrives: the limit of 1 holds.
        self.admission.opened("127.0.0.1")
        self.sendOptions(shared, "z9hG4bKrefused")
        await self.peer.atLeast(1)
        [(line, port)] = self.sources()
        self.assertEqual((line, port), ("SIP/2.0 503 Service Unavailable", shared))
