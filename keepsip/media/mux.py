"""
The built-in relay's packet path on Linux: every relay socket in one epoll
set of its own, which the reactor watches as a single reader.

With a Twisted C{udp.Port} per relay socket each datagram costs the reactor
a dispatch of its own (C{callWithLogger}, the log context, C{doRead}, and a
last C{recvfrom} that finds nothing), about half of the relay's CPU time.
L{RelayMux} registers one file descriptor with the reactor: an inner
C{select.epoll} holding all relay sockets (plain non-blocking sockets). When
it is readable, L{RelayMux.doRead} asks it which sockets have a datagram
and, for each, reads one (level-triggered: one that holds more is reported
again on the next turn), checks the latch, counts it in plain ints and sends
it on with the twin socket's C{sendto}: one reactor dispatch and one clock
read per wake-up, however many sockets are ready, and per datagram only its
C{recvfrom} and C{sendto}.

L{RelayMux.listenUDP} has the signature of C{IReactorUDP.listenUDP}, so the
port pool binds through it as through a reactor; it starts the protocol
(L{keepsip.media.builtin._RelayPort}) with a L{MuxPort} as transport.
"""

from __future__ import annotations

import errno
import select
import socket
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.logs import Logger

log = Logger()

#: The largest datagram read (as Twisted's C{udp.Port}).
MAX_DATAGRAM = 8192

#: The most ready sockets handled per wake-up.
MAX_EVENTS = 1024

#: Seconds the mux lets datagrams gather after a wake-up that found some,
#: before it reads again (then again, while each read finds some; it waits
#: on the reactor again after one that finds none). A wake-up costs about
#: twice a datagram (the process sleeping and waking, the reactor's turn and
#: dispatch); at a few hundred calls, datagrams come about 0.1 ms apart, so
#: without this each would cost its own wake-up. It adds at most this much
#: delay to a datagram (a phone's jitter buffer holds 20 ms or more).
COALESCE = 0.001


def available(reactor: Any) -> bool:
    """
    Whether L{RelayMux} can run on C{reactor}: Linux epoll and a reactor
    that watches file descriptors (not a test clock).
    """
    return hasattr(select, "epoll") and callable(getattr(reactor, "addReader", None))


class MuxPort:
    """
    One relay socket of a L{RelayMux}: the transport its protocol is given.
    """

    def __init__(self, mux: RelayMux, sock: socket.socket, protocol: Any) -> None:
        self.mux = mux
        self.socket = sock
        self.protocol = protocol
        self.fileno = sock.fileno()
        host, port = sock.getsockname()[:2]
        self._host: IPv4Address | IPv6Address = (
            IPv6Address("UDP", host, port)
            if sock.family == socket.AF_INET6
            else IPv4Address("UDP", host, port)
        )

    def getHandle(self) -> socket.socket:
        return self.socket

    def getHost(self) -> IPv4Address | IPv6Address:
        return self._host

    def write(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.socket.sendto(datagram, addr)

    def stopListening(self) -> None:
        self.mux.remove(self)


@implementer(IReadDescriptor)
class RelayMux:
    """
    All relay sockets behind one reactor reader; see the module docstring.

    @param reactor: an L{IReactorFDSet} and L{IReactorTime}.
    @param coalesce: seconds between reads while datagrams keep coming
        (L{COALESCE}); 0 reads on every wake-up of the reactor.
    """

    def __init__(self, reactor: Any, coalesce: float = COALESCE) -> None:
        self.reactor = reactor
        self.coalesce = coalesce
        self._later: Any = None
        self._seconds = reactor.seconds
        self._epoll = select.epoll()
        self._poll = self._epoll.poll
        #: file descriptor -> the protocol of its socket.
        self._protocols: dict[int, Any] = {}
        self._reading = False
        #: Times the reactor woke the mux (L{doRead} calls): with the
        #: datagrams relayed, what a wake-up costs.
        self.wakeups = 0

    # -- binding -----------------------------------------------------------

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = MAX_DATAGRAM
    ) -> MuxPort:
        """
        Bind C{interface:port} and relay what arrives there with
        C{protocol}.

        @raise CannotListenError: if the port cannot be bound.
        """
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((interface, port))
        except OSError as e:
            sock.close()
            raise CannotListenError(interface, port, e) from e
        listening = MuxPort(self, sock, protocol)
        if family == socket.AF_INET6:
            # As Twisted's udp.Port: (host, port), without flow and scope.
            recvfrom = sock.recvfrom

            def recvfrom6(size: int) -> tuple[bytes, Any]:
                datagram, addr = recvfrom(size)
                return datagram, addr[:2]

            protocol.recvfrom = recvfrom6
        else:
            protocol.recvfrom = sock.recvfrom
        self._protocols[listening.fileno] = protocol
        self._epoll.register(listening.fileno, select.EPOLLIN)
        protocol.makeConnection(listening)
        if not self._reading and self._later is None:
            self._reading = True
            self.reactor.addReader(self)
        return listening

    def remove(self, listening: MuxPort) -> None:
        """
        Close C{listening}'s socket; its protocol hears no more.
        """
        if self._protocols.pop(listening.fileno, None) is None:
            return
        try:
            self._epoll.unregister(listening.fileno)
        except OSError:
            pass
        listening.socket.close()
        listening.protocol.transport = None

    def close(self) -> None:
        """
        Stop reading (the relay's sockets are closed by their owners).
        """
        if self._reading:
            self._reading = False
            self.reactor.removeReader(self)
        if self._later is not None:
            self._later.cancel()
            self._later = None

    def _again(self) -> None:
        """
        The coalescing delay passed: read what gathered; wait on the
        reactor again if nothing did.
        """
        self._later = None
        if self._relay():
            self._later = self.reactor.callLater(self.coalesce, self._again)
        elif self._protocols:
            self._reading = True
            self.reactor.addReader(self)

    # -- IReadDescriptor ---------------------------------------------------

    def fileno(self) -> int:
        return self._epoll.fileno()

    def logPrefix(self) -> str:
        return "RelayMux"

    def connectionLost(self, reason: Failure) -> None:
        self._reading = False

    def doRead(self) -> None:
        if self._relay() and self.coalesce:
            self._reading = False
            self.reactor.removeReader(self)
            self._later = self.reactor.callLater(self.coalesce, self._again)

    def _relay(self) -> int:
        """
        Relay one datagram from each socket that has one.

        @return: how many sockets had one.
        """
        self.wakeups += 1
        now = self._seconds()
        protocols = self._protocols
        ready = self._poll(0, MAX_EVENTS)
        for fd, _ in ready:
            port = protocols.get(fd)
            if port is None:
                continue
            try:
                datagram, addr = port.recvfrom(MAX_DATAGRAM)
            except OSError as e:
                # Nothing after all, or an ICMP error reported on the
                # socket: relaying goes on.
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    port.counters.sendErrors += 1
                continue
            counters = port.counters
            latched = port.latched
            if latched is None:
                port.latched = port.target = addr
            elif addr != latched:
                counters.dropped += 1
                continue
            counters.packets += 1
            counters.bytes += len(datagram)
            counters.lastPacketAt = now
            twin = port.twin
            target = twin.target
            if target is None or twin.transport is None:
                continue
            try:
                twin.sendto(datagram, target)
            except OSError:
                counters.sendErrors += 1
        return len(ready)


__all__ = ["MuxPort", "RelayMux", "available"]
