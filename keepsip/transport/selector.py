"""
Which socket sends a message: one protocol per listening port, chosen by the
address family of the destination.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from keepsip.sip.address import addressFamily
from keepsip.sip.message import Message
from keepsip.transport.errors import TransportError

if TYPE_CHECKING:
    from keepsip.transport.udp import SIPDatagramProtocol


class TransportSelector:
    """
    The open UDP sockets of one keepsip node, and the one seam out for the
    layers above: L{send}.

    Each L{SIPDatagramProtocol} joins when its port starts listening and
    leaves when it stops, so the selector only ever names open sockets. An
    IPv6 destination goes out of the first open IPv6 port, an IPv4 one out
    of the first open IPv4 port (C{--listen} order).
    """

    def __init__(self) -> None:
        self._byFamily: dict[socket.AddressFamily, list[SIPDatagramProtocol]] = {}

    def portOpened(self, protocol: SIPDatagramProtocol) -> None:
        """
        C{protocol}'s port listens: it may send to its family.
        """
        self._byFamily.setdefault(protocol.family, []).append(protocol)

    def portClosed(self, protocol: SIPDatagramProtocol) -> None:
        """
        C{protocol}'s port stopped listening.
        """
        protocols = self._byFamily.get(protocol.family, [])
        if protocol in protocols:
            protocols.remove(protocol)

    def protocolFor(self, host: str) -> SIPDatagramProtocol:
        """
        The protocol whose socket sends to C{host}.

        @raise TransportError: if C{host} is not an IP address, or keepsip
            has no open socket of its family.
        """
        family = addressFamily(host)
        if family is None:
            raise TransportError((host, 0), "not an IP address")
        protocols = self._byFamily.get(family)
        if not protocols:
            name = "IPv6" if family == socket.AF_INET6 else "IPv4"
            raise TransportError((host, 0), f"no {name} socket to send from")
        return protocols[0]

    def canSend(self, address: tuple[str, int]) -> bool:
        """
        Could a message be sent to C{address} at all: is its host an IP
        address of a family keepsip has an open socket for? (The transaction
        layer asks before it creates a server transaction whose responses
        would have nowhere to go.)
        """
        try:
            self.protocolFor(address[0])
        except TransportError:
            return False
        return True

    def send(self, message: Message, address: tuple[str, int]) -> None:
        """
        Send C{message} to C{address} out of the socket of its family.

        @raise TransportError: if it cannot be sent at all.
        """
        try:
            protocol = self.protocolFor(address[0])
        except TransportError as e:
            raise TransportError(address, e.reason) from None
        protocol.send(message, address)
