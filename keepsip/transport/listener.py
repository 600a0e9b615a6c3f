"""
The listening service: one UDP port per C{--listen} address.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol

from keepsip.transport.icmp import MAX_DATAGRAM, listenUDPWithErrors


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
    @ivar listening: the L{IListeningPort} while running, else L{None}.
    """

    def __init__(
        self,
        reactor: Any,
        port: int,
        protocol: DatagramProtocol,
        interface: str,
        receiveErrors: bool,
    ) -> None:
        self.reactor = reactor
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.receiveErrors = receiveErrors
        self.listening: IListeningPort | None = None

    def startService(self) -> None:
        service.Service.startService(self)
        if self.receiveErrors:
            self.listening = listenUDPWithErrors(
                self.reactor, self.port, self.protocol, self.interface
            )
        else:
            self.listening = self.reactor.listenUDP(
                self.port, self.protocol, interface=self.interface, maxPacketSize=MAX_DATAGRAM
            )

    def stopService(self) -> Any:
        service.Service.stopService(self)
        listening, self.listening = self.listening, None
        if listening is not None:
            return listening.stopListening()
        return None
