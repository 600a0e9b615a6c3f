"""
Host and address text: the one place that knows IPv6 brackets.

A host in SIP text (a Via sent-by, a URI, a Route) brackets an IPv6 literal
(RFC 3261 §25.1, RFC 5118); a socket address never does. Every layer converts
between the two with these helpers.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

#: The port of C{sip:} when none is given.
DEFAULT_PORT = 5060


def stripBrackets(host: str) -> str:
    """
    Return C{host} without the brackets of an IPv6 reference, for use with
    sockets.
    """
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def formatHost(host: str) -> str:
    """
    Bracket an IPv6 literal for use in a Via, a URI or C{host:port} text;
    any other host is returned as it is.
    """
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def hostPort(host: str, port: int | None) -> str:
    """
    C{host:port} text (an RFC 3261 C{hostport}), an IPv6 host bracketed; just
    the host if C{port} is L{None}.
    """
    host = formatHost(host)
    return host if port is None else f"{host}:{port}"


@lru_cache(maxsize=4096)
def addressFamily(host: str) -> socket.AddressFamily | None:
    """
    The address family of an IP literal (brackets allowed). Cached: the same
    few next hops recur on every message.

    @return: C{AF_INET}, C{AF_INET6}, or L{None} if C{host} is not an IP
        address (a host name).
    """
    try:
        address = ipaddress.ip_address(stripBrackets(host))
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def isIPLiteral(host: str) -> bool:
    """
    Is C{host} an IPv4 or IPv6 address (brackets allowed)?
    """
    return addressFamily(host) is not None


def sameAddress(a: tuple[str, int] | None, b: tuple[str, int] | None) -> bool:
    """
    Are C{a} and C{b} the same C{(host, port)}, ignoring IPv6 brackets and
    the case of the host? L{None} is nobody's address.
    """
    if a is None or b is None:
        return False
    return stripBrackets(a[0]).lower() == stripBrackets(b[0]).lower() and a[1] == b[1]


__all__ = [
    "DEFAULT_PORT",
    "addressFamily",
    "formatHost",
    "hostPort",
    "isIPLiteral",
    "sameAddress",
    "stripBrackets",
]
