"""
Tests for L{keepsip.transport.listener.UDPListener}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from keepsip.transport.icmp import RecvErrPort, supportsReceiveErrors
from keepsip.transport.listener import UDPListener


class _Listening:
    def __init__(self) -> None:
        self.stopped = False

    def stopListening(self) -> None:
        self.stopped = True


class _UDPReactor(Clock):
    """
    A clock with a recording C{listenUDP} (L{MemoryReactor} has none).
    """

    def __init__(self) -> None:
        Clock.__init__(self)
        self.udp: list[tuple[Any, ...]] = []

    def listenUDP(self, port: int, protocol: Any, interface: str = "") -> _Listening:
        listening = _Listening()
        self.udp.append((port, protocol, interface, listening))
        return listening


class PlainListenerTests(SynchronousTestCase):
    """
    Without C{receiveErrors}, the listener uses the reactor's C{listenUDP}.
    """

    def test_startStop(self) -> None:
        """
        Starting listens on the port and interface with the protocol;
        stopping stops that port.
        """
        fake = _UDPReactor()
        protocol = DatagramProtocol()
        listener = UDPListener(fake, 5060, protocol, "::1", receiveErrors=False)
        listener.startService()
        [(port, given, interface, listening)] = fake.udp
        self.assertEqual((port, interface), (5060, "::1"))
        self.assertIs(given, protocol)
        listener.stopService()
        self.assertTrue(listening.stopped)
        self.assertIsNone(listener.listening)

    def test_testDoublesCannot(self) -> None:
        """
        Test doubles cannot run the ICMP-aware port; the reactor trial runs
        can.
        """
        self.assertFalse(supportsReceiveErrors(_UDPReactor()))
        self.assertTrue(supportsReceiveErrors(reactor))


class ReceiveErrorsListenerTests(TestCase):
    """
    With C{receiveErrors}, the port is the ICMP-aware L{RecvErrPort}.
    """

    def test_recvErrPort(self) -> None:
        """
        The listening port is a L{RecvErrPort} on loopback; stopping closes
        it.
        """
        listener = UDPListener(reactor, 0, DatagramProtocol(), "127.0.0.1", receiveErrors=True)
        listener.startService()
        self.assertIsInstance(listener.listening, RecvErrPort)
        return listener.stopService()
