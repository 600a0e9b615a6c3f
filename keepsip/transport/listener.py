"""
The listening service: one UDP port per C{--listen} address, bound here or
handed over as a socket already bound (L{bindUDPSocket}, the supervisor of
C{--workers}).
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.error import CannotListenError

from twisted.application import service
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol

from keepsip.transport.icmp import MAX_DATAGRAM, RecvErrPort, listenUDPWithErrors


def bindUDPSocket(host: str, port: int, reusePort: bool = False) -> socket.socket:
    """
    A non-blocking UDP socket bound to C{host:port}, for a process that
    listens on it later (L{UDPListener} with C{fileno}).

    @param host: an IP address literal, IPv6 without brackets.
    @param reusePort: set C{SO_REUSEPORT} first, so that several sockets
        (one per worker) share the port and the kernel spreads the datagrams
        among them by source and destination address.
    @raise CannotListenError: if it cannot bind (as C{listenUDP} does).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reusePort:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise CannotListenError(host, port, e)
    sock.setblocking(False)
    return sock


class UDPListener(service.Service):
    """
    A UDP port, open while the service runs, receiving datagrams of up to
    L{MAX_DATAGRAM<keepsip.transport.icmp.MAX_DATAGRAM>} bytes whole.

    With C{receiveErrors}, the port is a L{keepsip.transport.icmp.RecvErrPort}
    that learns which destination an ICMP error was for (plain C{listenUDP}
    cannot tell, and a queued ICMP error even closes an epoll reactor's
    port); it needs a posix reactor with real sockets
    (L{keepsip.transport.icmp.supportsReceiveErrors}). Without, the port is
    the reactor's plain C{listenUDP}.

    @param reactor: an L{IReactorUDP}.
    @param port: the port number; C{0} lets the system choose.
    @param protocol: the protocol of this port (one per port).
    @param interface: the address to bind, IPv6 without brackets.
    @param receiveErrors: whether to listen through L{listenUDPWithErrors}.
    @param fileno: a socket already bound to C{interface:port}
        (L{bindUDPSocket}, inherited from the supervisor of C{--workers}):
        listen on (a duplicate of) it instead of binding.
    @ivar listening: the L{IListeningPort} while running, else L{None}.
    """

    def __init__(
        self,
        reactor: Any,
        port: int,
        protocol: DatagramProtocol,
        interface: str,
        receiveErrors: bool,
        fileno: int | None = None,
    ) -> None:
        self.reactor = reactor
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.receiveErrors = receiveErrors
        self.fileno = fileno
        self.listening: IListeningPort | None = None

    def startService(self) -> None:
        service.Service.startService(self)
        if self.fileno is not None:
            self.listening = self._adopt(self.fileno)
        elif self.receiveErrors:
            self.listening = listenUDPWithErrors(
                self.reactor, self.port, self.protocol, self.interface
            )
        else:
            self.listening = self.reactor.listenUDP(
                self.port, self.protocol, interface=self.interface, maxPacketSize=MAX_DATAGRAM
            )

    def _adopt(self, fileno: int) -> IListeningPort:
        family = socket.AF_INET6 if ":" in self.interface else socket.AF_INET
        if not self.receiveErrors:
            listening: IListeningPort = self.reactor.adoptDatagramPort(
                fileno, family, self.protocol, maxPacketSize=MAX_DATAGRAM
            )
            return listening
        port = RecvErrPort._fromListeningDescriptor(
            self.reactor, fileno, family, self.protocol, MAX_DATAGRAM
        )
        port.startListening()
        return port

    def stopService(self) -> Any:
        service.Service.stopService(self)
        listening, self.listening = self.listening, None
        if listening is not None:
            return listening.stopListening()
        return None
