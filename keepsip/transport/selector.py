"""
Which socket sends a message: a response to a request keepsip received
leaves through the socket the request came in on (a L{ReplyAddress}); any
other message through the first open socket of the destination's address
family.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from keepsip.sip.address import addressFamily
from keepsip.sip.message import Message
from keepsip.transport.errors import TransportError

if TYPE_CHECKING:
    from keepsip.transport.udp import SIPDatagramProtocol


class ReplyAddress(tuple[str, int]):
    """
    C{(host, port)} a response goes to, and the port it must leave through:
    the one its request came in on (RFC 3261 §18.2.2; RFC 3581 §4, symmetric
    response routing: a client behind a NAT only accepts answers from the
    address it sent to).

    Equal to, and hashing as, the plain C{(host, port)} tuple, so that it
    serves wherever a destination does (ICMP errors name plain tuples).
    Only made where the port differs from the one L{TransportSelector}
    would pick anyway (L{TransportSelector.replyAddress}): a single-port
    keepsip never makes one.

    @ivar sender: the port (a L{SIPDatagramProtocol}) the request came in on.
    """

    sender: "SIPDatagramProtocol"

    def __new__(cls, address: tuple[str, int], sender: "SIPDatagramProtocol") -> "ReplyAddress":
        self = super().__new__(cls, address)
        self.sender = sender
        return self


class TransportSelector:
    """
    The open UDP sockets of one keepsip node, and the one seam out for the
    layers above: L{send}.

    Each L{SIPDatagramProtocol} joins when its port starts listening and
    leaves when it stops, so the selector only ever names open sockets. An
    IPv6 destination goes out of the first open IPv6 port, an IPv4 one out
    of the first open IPv4 port (C{--listen} order), except a response to a
    request received on another port: it goes out of that port (a
    L{ReplyAddress}, made by L{replyAddress}). With C{--workers}, a worker
    listens on its own port first and on the shared C{SO_REUSEPORT} port:
    its requests leave from its own port (which it advertises, and where
    peers answering the source address reach it), its responses from the
    port the request came to.
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

    def replyAddress(
        self, receivedOn: SIPDatagramProtocol, destination: tuple[str, int]
    ) -> tuple[str, int]:
        """
        Where the responses to a request that came in on C{receivedOn} go:
        C{destination}, through C{receivedOn}. A plain C{destination} when
        L{send} would pick C{receivedOn} for it anyway.
        """
        protocols = self._byFamily.get(receivedOn.family)
        if protocols and protocols[0] is receivedOn:
            return destination
        return ReplyAddress(destination, receivedOn)

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
        Send C{message} to C{address}: out of the port a L{ReplyAddress}
        names while that port is open, else out of the socket of its family.

        @raise TransportError: if it cannot be sent at all.
        """
        if type(address) is ReplyAddress and address.sender.transport is not None:
            address.sender.send(message, address)
            return
        try:
            protocol = self.protocolFor(address[0])
        except TransportError as e:
            raise TransportError(address, e.reason) from None
        protocol.send(message, address)
