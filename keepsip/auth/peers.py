"""
Trusted peers: C{--trusted CIDR[,...]}, the networks whose requests keepsip
neither challenges nor rate-limits (carriers, gateways, keepsip edges).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from keepsip.sip.address import stripBrackets

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parseNetworks(text: str) -> tuple[Network, ...]:
    """
    Parse C{CIDR[,CIDR...]}; a bare address is a /32 (/128).

    @raise ValueError: one line naming the bad entry.
    """
    networks = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(stripBrackets(item), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR network") from None
    if not networks:
        raise ValueError("expected CIDR[,CIDR...]")
    return tuple(networks)


class TrustedPeers:
    """
    A set of networks, asked per source address.

    Single addresses are looked up in a set (O(1)); networks are tried in
    turn, so a long list of networks costs per request: keep it short.
    """

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self._hosts: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self._networks: list[Network] = []
        for network in networks:
            if network.num_addresses == 1:
                self._hosts.add(network.network_address)
            else:
                self._networks.append(network)

    def __bool__(self) -> bool:
        return bool(self._hosts or self._networks)

    def __contains__(self, host: object) -> bool:
        """
        Is C{host} (an IP literal, IPv6 with or without brackets) trusted?
        Host names never are.
        """
        if not isinstance(host, str) or not (self._hosts or self._networks):
            return False
        try:
            address = ipaddress.ip_address(stripBrackets(host))
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        if address in self._hosts:
            return True
        return any(address in network for network in self._networks)


__all__ = ["TrustedPeers", "parseNetworks"]
