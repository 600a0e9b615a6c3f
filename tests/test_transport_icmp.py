"""
Tests for L{keepsip.transport.icmp}, on real loopback sockets (Linux only).
"""

import errno
import socket
import sys
import time

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from keepsip.transport import icmp
from keepsip.transport.icmp import (
    RecvErrPort,
    drainErrorQueue,
    enableRecvErr,
    listenUDPWithErrors,
)

LINUX = sys.platform.startswith("linux")
SKIP_NOT_LINUX = None if LINUX else "IP_RECVERR is Linux only"


def closedPort(family=socket.AF_INET, host="127.0.0.1"):
    """
    A loopback UDP port nobody listens on (bound, then released).
    """
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def udpSocket(testCase, family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_DGRAM)
    testCase.addCleanup(s.close)
    try:
        s.bind((host, 0))
    except OSError as e:
        raise SkipTest(f"cannot bind {host}: {e}")
    return s


def sendTo(sock, data, address):
    """
    Send a datagram; if the error pending from an earlier ICMP error makes
    the kernel refuse it (it then sends nothing), send it again.
    """
    try:
        sock.sendto(data, address)
    except ConnectionRefusedError:
        sock.sendto(data, address)


def drainFor(sock, seconds=2.0):
    """
    Poll the error queue until something arrives or C{seconds} pass.
    """
    deadline = time.monotonic() + seconds
    while True:
        found = drainErrorQueue(sock)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.005)


class ErrorQueueTests(SynchronousTestCase):
    skip = SKIP_NOT_LINUX

    def test_portUnreachableIPv4(self):
        """
        A socket with C{IP_RECVERR} that sends to a closed loopback port finds
        in its error queue that destination with C{ECONNREFUSED}.
        """
        sock = udpSocket(self)
        self.assertTrue(enableRecvErr(sock))
        port = closedPort()
        sock.sendto(b"BYE", ("127.0.0.1", port))
        self.assertEqual(drainFor(sock), [(("127.0.0.1", port), errno.ECONNREFUSED)])
        self.assertEqual(drainErrorQueue(sock), [])

    def test_severalDestinations(self):
        """
        Errors for several destinations are told apart, in order.
        """
        sock = udpSocket(self)
        enableRecvErr(sock)
        ports = [closedPort(), closedPort()]
        for port in ports:
            sendTo(sock, b"BYE", ("127.0.0.1", port))
        found = []
        deadline = time.monotonic() + 2.0
        while len(found) < 2 and time.monotonic() < deadline:
            found += drainErrorQueue(sock)
        self.assertEqual(found, [(("127.0.0.1", p), errno.ECONNREFUSED) for p in ports])

    def test_portUnreachableIPv6(self):
        """
        The same works on IPv6 loopback with C{IPV6_RECVERR}.
        """
        sock = udpSocket(self, socket.AF_INET6, "::1")
        self.assertTrue(enableRecvErr(sock))
        port = closedPort(socket.AF_INET6, "::1")
        sock.sendto(b"BYE", ("::1", port))
        self.assertEqual(drainFor(sock), [(("::1", port), errno.ECONNREFUSED)])

    def test_ipv4MappedOnDualStack(self):
        """
        On a dual-stack IPv6 socket, an error for an IPv4-mapped destination
        is reported with the plain IPv4 address.
        """
        sock = udpSocket(self, socket.AF_INET6, "::")
        self.assertTrue(enableRecvErr(sock))
        port = closedPort()
        sock.sendto(b"BYE", ("::ffff:127.0.0.1", port))
        self.assertEqual(drainFor(sock), [(("127.0.0.1", port), errno.ECONNREFUSED)])

    def test_withoutOptionNothingQueued(self):
        """
        Without C{IP_RECVERR}, an unconnected socket queues nothing: the
        option is what makes the destination known.
        """
        sock = udpSocket(self)
        sock.sendto(b"BYE", ("127.0.0.1", closedPort()))
        self.assertEqual(drainFor(sock, 0.2), [])

    def test_emptyQueueDoesNotBlock(self):
        """
        Draining an empty queue returns at once with nothing, even on a
        blocking socket.
        """
        sock = udpSocket(self)
        sock.setblocking(True)
        enableRecvErr(sock)
        start = time.monotonic()
        self.assertEqual(drainErrorQueue(sock), [])
        self.assertLess(time.monotonic() - start, 1.0)

    def test_closedSocketNeverRaises(self):
        """
        Draining a closed socket returns nothing instead of raising; enabling
        on it returns C{False}.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.close()
        self.assertEqual(drainErrorQueue(sock), [])
        self.assertFalse(enableRecvErr(sock))

    def test_limit(self):
        """
        At most C{limit} errors are read per call; the rest stay queued.
        """
        sock = udpSocket(self)
        enableRecvErr(sock)
        ports = [closedPort() for _ in range(3)]
        for port in ports:
            sendTo(sock, b"BYE", ("127.0.0.1", port))
        time.sleep(0.05)
        first = drainErrorQueue(sock, limit=1)
        self.assertEqual(len(first), 1)
        self.assertEqual(len(first + drainErrorQueue(sock)), 3)


class UnsupportedTests(SynchronousTestCase):
    def test_unsupportedPlatform(self):
        """
        Where the error queue is not supported, enabling reports C{False} and
        draining returns nothing.
        """
        self.patch(icmp, "_SUPPORTED", False)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            self.assertFalse(enableRecvErr(sock))
            self.assertEqual(drainErrorQueue(sock), [])


class Recorder(DatagramProtocol):
    def __init__(self):
        self.errors = []
        self.datagrams = []

    def datagramReceived(self, data, addr):
        self.datagrams.append((data, addr))

    def icmpErrorReceived(self, address, errorNumber):
        self.errors.append((address, errorNumber))


class RecvErrPortTests(TestCase):
    """
    L{RecvErrPort} on the reactor trial runs (epoll on Linux).
    """

    skip = SKIP_NOT_LINUX

    def setUp(self):
        self.protocol = Recorder()
        self.port = listenUDPWithErrors(reactor, 0, self.protocol, "127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.peer = udpSocket(self)
        self.peer.settimeout(2.0)

    @inlineCallbacks
    def waitFor(self, predicate, seconds=2.0):
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            yield deferLater(reactor, 0.01, lambda: None)

    def test_type(self):
        """
        L{listenUDPWithErrors} returns a listening L{RecvErrPort} with the
        option enabled.
        """
        self.assertIsInstance(self.port, RecvErrPort)
        self.assertTrue(self.port.recvErr)

    @inlineCallbacks
    def test_errorReportedPortSurvives(self):
        """
        An ICMP port unreachable reaches the protocol with its destination
        through the reactor alone (no later write), and the port keeps
        receiving and sending afterwards instead of being closed.
        """
        port = closedPort()
        self.port.write(b"BYE", ("127.0.0.1", port))
        yield self.waitFor(lambda: self.protocol.errors)
        self.assertEqual(self.protocol.errors, [(("127.0.0.1", port), errno.ECONNREFUSED)])
        self.assertTrue(self.port.connected)
        self.peer.sendto(b"ping", ("127.0.0.1", self.port.getHost().port))
        yield self.waitFor(lambda: self.protocol.datagrams)
        self.assertEqual([d for d, _ in self.protocol.datagrams], [b"ping"])
        self.port.write(b"pong", self.peer.getsockname())
        self.assertEqual(self.peer.recvfrom(100)[0], b"pong")

    @inlineCallbacks
    def test_datagramsReadAtTheirSize(self):
        """
        Datagrams, read through the port's one buffer, reach the protocol as
        C{bytes} of exactly what was sent, each its own copy: a short one
        after a long one carries nothing of the long one, and the first is
        unchanged by the second; one of the largest size arrives whole.
        """
        destination = ("127.0.0.1", self.port.getHost().port)
        long = b"L" * 1500
        largest = bytes(range(256)) * 255
        self.peer.sendto(long, destination)
        self.peer.sendto(b"short", destination)
        self.peer.sendto(largest, destination)
        yield self.waitFor(lambda: len(self.protocol.datagrams) == 3)
        received = [d for d, _ in self.protocol.datagrams]
        self.assertEqual(received, [long, b"short", largest])
        self.assertEqual({type(d) for d in received}, {bytes})

    def test_writeAfterErrorNotLost(self):
        """
        A datagram written right after one that drew an ICMP error is sent
        (the pending error would make the kernel refuse it), and the error is
        reported.
        """
        port = closedPort()
        self.port.write(b"BYE", ("127.0.0.1", port))
        time.sleep(0.05)  # let the ICMP error arrive before the next write
        self.port.write(b"next", self.peer.getsockname())
        self.assertEqual(self.peer.recvfrom(100)[0], b"next")
        self.assertEqual(self.protocol.errors, [(("127.0.0.1", port), errno.ECONNREFUSED)])

    @inlineCallbacks
    def test_protocolWithoutHandler(self):
        """
        A protocol without C{icmpErrorReceived} still gets a port that
        survives the error.
        """
        plain = DatagramProtocol()
        port = listenUDPWithErrors(reactor, 0, plain, "127.0.0.1")
        self.addCleanup(port.stopListening)
        port.write(b"BYE", ("127.0.0.1", closedPort()))
        yield deferLater(reactor, 0.1, lambda: None)
        self.assertTrue(port.connected)
        port.write(b"still", self.peer.getsockname())
        self.assertEqual(self.peer.recvfrom(100)[0], b"still")
