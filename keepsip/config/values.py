"""
The value objects of keepsip's configuration: listen addresses and static
routes, and the one way to write a host and port together.
"""

from __future__ import annotations

from dataclasses import dataclass

from keepsip.sip.address import hostPort


@dataclass(frozen=True)
class ListenAddress:
    """
    One address to listen on.

    @ivar transport: C{"udp"} (the only transport for now).
    @ivar host: an IP address literal, IPv6 without brackets; C{"0.0.0.0"}
        or C{"::"} for every interface.
    @ivar port: the port; C{0} lets the system choose.
    """

    transport: str
    host: str
    port: int

    @property
    def isWildcard(self) -> bool:
        """
        Whether this address listens on every interface.
        """
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.transport}:{hostPort(self.host, self.port)}"


@dataclass(frozen=True)
class Route:
    """
    A static route: where to send requests that no registration covers.

    @ivar prefix: the user-part prefix this route matches; C{""} for C{*}
        (any user) and for domain routes.
    @ivar domain: for a C{@DOMAIN} route, the lower-case foreign host it
        matches; otherwise L{None}.
    @ivar target: the next hop's host (IPv6 without brackets).
    @ivar port: the next hop's port.
    """

    prefix: str
    domain: str | None
    target: str
    port: int

    def __str__(self) -> str:
        key = f"@{self.domain}" if self.domain is not None else (self.prefix or "*")
        return f"{key}=sip:{hostPort(self.target, self.port)}"
