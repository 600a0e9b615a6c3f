"""
The failure the transport reports to the layers above.
"""

from __future__ import annotations


class TransportError(Exception):
    """
    A message could not be sent to an address at all: keepsip has no socket
    of its address family, or the socket refused the address (a host name,
    an unreachable network). The transaction layer turns it into a transport
    failure of the client transactions to that address (RFC 3261 §18.4).

    @ivar address: the C{(host, port)} the message was for.
    """

    def __init__(self, address: tuple[str, int], reason: str) -> None:
        Exception.__init__(self, address, reason)
        self.address = address
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot send to {self.address[0]}:{self.address[1]}: {self.reason}"
