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

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> _Listening:
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


class BigDatagramTests(TestCase):
    """
    Issue 8 item 7: datagrams up to 65,535 bytes arrive whole (Twisted's UDP
    ports cut them at 8,192 bytes by default, silently).
    """

    def bigInvite(self) -> bytes:
        from keepsip.testing import invite

        body = b"v=0\r\n" + b"a=x-filler:" + b"0123456789" * 860 + b"\r\n"
        data = invite(callID="big-1", body=body)
        self.assertGreater(len(data), 8800)
        return data

    def receiveThrough(self, receiveErrors: bool) -> Any:
        """
        Send an 8.8 KB INVITE over loopback UDP to a keepsip protocol behind
        a L{UDPListener}; fire with what its controller got.
        """
        import socket

        from twisted.internet.defer import Deferred

        from keepsip.transport.selector import TransportSelector
        from keepsip.transport.udp import SIPDatagramProtocol

        got: Deferred[Any] = Deferred()

        class Controller:
            def requestReceived(self, request: Any, source: Any, receivedOn: Any = None) -> None:
                got.callback(request)

            def responseReceived(self, response: Any, source: Any) -> None:
                pass

            def transportError(self, destination: Any) -> None:
                pass

        protocol = SIPDatagramProtocol(Controller(), TransportSelector(), socket.AF_INET)
        listener = UDPListener(reactor, 0, protocol, "127.0.0.1", receiveErrors=receiveErrors)
        listener.startService()
        self.addCleanup(listener.stopService)
        assert listener.listening is not None
        address = ("127.0.0.1", listener.listening.getHost().port)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        data = self.bigInvite()
        sender.sendto(data, address)
        got.addTimeout(5, reactor)

        def check(request: Any) -> None:
            self.assertEqual(request.header("call-id"), "big-1")
            self.assertEqual(len(request.body), int(request.header("content-length")))
            self.assertEqual(protocol.dropped, 0)

        return got.addCallback(check)

    def test_recvErrPort(self) -> None:
        """
        Through the ICMP-aware port, the whole INVITE reaches the
        controller, body and all.
        """
        return self.receiveThrough(True)

    def test_plainPort(self) -> None:
        """
        Through the reactor's plain C{listenUDP}, too.
        """
        return self.receiveThrough(False)


class _Received(DatagramProtocol):
    def __init__(self) -> None:
        from twisted.internet.defer import Deferred

        self.received: Any = Deferred()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if not self.received.called:
            self.received.callback(data)


class InheritedSocketTests(TestCase):
    """
    L{bindUDPSocket} and a L{UDPListener} given a bound socket (C{fileno}),
    as a worker of C{--workers} gets them.
    """

    def test_reusePortShares(self) -> None:
        """
        With C{reusePort}, two sockets bind one port; without, the second
        fails as C{listenUDP} does (L{CannotListenError}).
        """
        import socket

        from twisted.internet.error import CannotListenError

        from keepsip.transport.listener import bindUDPSocket

        first = bindUDPSocket("127.0.0.1", 0, reusePort=True)
        self.addCleanup(first.close)
        port = first.getsockname()[1]
        second = bindUDPSocket("127.0.0.1", port, reusePort=True)
        self.addCleanup(second.close)
        self.assertEqual(second.getsockname()[1], port)
        self.assertFalse(second.getblocking())
        plain = bindUDPSocket("127.0.0.1", 0)
        self.addCleanup(plain.close)
        self.assertRaises(
            CannotListenError, bindUDPSocket, "127.0.0.1", plain.getsockname()[1]
        )
        self.assertEqual(plain.family, socket.AF_INET)

    def receiveOn(self, receiveErrors: bool) -> Any:
        import socket

        from keepsip.transport.listener import bindUDPSocket

        bound = bindUDPSocket("127.0.0.1", 0)
        self.addCleanup(bound.close)
        protocol = _Received()
        listener = UDPListener(
            reactor, 0, protocol, "127.0.0.1", receiveErrors, fileno=bound.fileno()
        )
        listener.startService()
        self.addCleanup(listener.stopService)
        assert listener.listening is not None
        self.assertEqual(listener.listening.getHost().port, bound.getsockname()[1])
        if receiveErrors:
            self.assertIsInstance(listener.listening, RecvErrPort)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b"hello", bound.getsockname())
        protocol.received.addTimeout(5, reactor)
        return protocol.received.addCallback(self.assertEqual, b"hello")

    def test_adoptedPlain(self) -> None:
        """
        The listener listens on the socket it was given, through the
        reactor's C{adoptDatagramPort}.
        """
        return self.receiveOn(False)

    def test_adoptedReceiveErrors(self) -> None:
        """
        With C{receiveErrors}, the given socket becomes a L{RecvErrPort}.
        """
        return self.receiveOn(True)
