"""
Where a response goes: RFC 3261 §18.2.2 with RFC 3581 (rport).
"""

from __future__ import annotations

from typing import Any

from keepsip.transaction._headers import parseVia


def _stripBrackets(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def responseDestination(
    via: Any, source: tuple[str, int] | None = None
) -> tuple[str, int]:
    """
    Compute the address a response to a request with top Via C{via} is sent
    to over an unreliable transport.

    The host is the C{maddr} parameter if present, else the C{received}
    parameter, else the sent-by host. The port is the C{rport} value if it
    has one, else the sent-by port, else 5060. If C{rport} is present without
    a value (nobody stamped it on receipt) and C{source} is given, C{source}
    is used as a whole, as RFC 3581 §4 intends.

    @param via: a L{keepsip.sip.headers.Via}, a Via header field value
        (C{str}), or any object with C{host}, C{port}, C{received}, C{maddr},
        C{rportRequested} and C{rportValue} attributes, such as
        L{twisted.protocols.sip.Via}.
    @param source: C{(host, port)} the request came from, if known.
    @return: C{(host, port)}; an IPv6 host without brackets.
    @raise ValueError: if C{via} is a string that is not a Via value.
    """
    if isinstance(via, str):
        via = parseVia(via)
    port = via.port
    maddr = getattr(via, "maddr", None)
    if maddr:
        return (_stripBrackets(maddr), int(port) if port else 5060)
    rport = getattr(via, "rportValue", None)
    if rport is None and getattr(via, "rportRequested", False) and source is not None:
        return source
    host = getattr(via, "received", None) or via.host
    if rport is not None:
        port = rport
    return (_stripBrackets(str(host)), int(port) if port else 5060)
