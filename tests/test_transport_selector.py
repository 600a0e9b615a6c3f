"""
Tests for L{keepsip.transport.selector}: which socket sends a message.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.error import InvalidAddressError
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction.testing import makeRequest
from keepsip.transport.errors import TransportError
from keepsip.transport.selector import TransportSelector
from keepsip.transport.udp import SIPDatagramProtocol


class _Controller:
    def requestReceived(self, request: Any, source: Any) -> None:
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
