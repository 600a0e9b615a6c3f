"""
Who keepsip is on the wire: L{ProxyIdentity}.
"""

from __future__ import annotations

from keepsip.sip.address import DEFAULT_PORT, formatHost, stripBrackets


class ProxyIdentity:
    """
    Who keepsip is on the wire: the address it advertises in Via and
    Record-Route and every address it answers to.

    @param advertise: C{(host, port)} written into Via and Record-Route.
    @param listen: the C{(host, port)} pairs keepsip listens on.
    @param domains: extra domain names keepsip serves (its registrar domain).
    """

    def __init__(
        self,
        advertise: tuple[str, int],
        listen: list[tuple[str, int]] = [],
        domains: list[str] = [],
    ) -> None:
        host, port = advertise
        self.host = stripBrackets(host)
        self.port = port
        self.sentBy = f"{formatHost(self.host)}:{port}"
        self.recordRoute = f"<sip:{self.sentBy};lr>"
        addresses = {(self.host.lower(), port)}
        ports = {port}
        for listenHost, listenPort in listen:
            ports.add(listenPort)
            listenHost = stripBrackets(listenHost).lower()
            if listenHost not in ("0.0.0.0", "::", ""):
                addresses.add((listenHost, listenPort))
        self.ports = frozenset(ports)
        self.addresses = frozenset(addresses)
        self.hosts = frozenset(h for h, _ in addresses) | {"localhost", "127.0.0.1", "::1"}
        self.domains = frozenset(d.lower() for d in domains)
        self.wildcard = any(
            stripBrackets(h) in ("0.0.0.0", "::", "") for h, _ in listen
        )

    def isMe(self, host: str, port: int | None) -> bool:
        """
        Is C{host:port} (from a Route, Via or Request-URI) keepsip itself?
        """
        host = stripBrackets(host).lower()
        port = port or DEFAULT_PORT
        if (host, port) in self.addresses:
            return True
        if port in self.ports and (host in self.hosts or host in self.domains):
            return True
        return False

    def isOwnDomain(self, host: str, port: int | None) -> bool:
        """
        Is C{host} a domain keepsip is responsible for (registrar, static
        user routes)?
        """
        lowered = stripBrackets(host).lower()
        if lowered in self.domains:
            return True
        return self.isMe(host, port)


