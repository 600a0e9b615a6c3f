"""
Responses built from requests (RFC 3261 §8.2.6) and where a response goes
(§18.2.2 with RFC 3581 rport): wire-format rules every layer needs — the
transport's stateless error answers, the transaction layer's 100 Trying and
response destinations, the proxy core and the registrar.
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.address import DEFAULT_PORT, stripBrackets
from keepsip.sip.headers import parseVia
from keepsip.sip.message import Request, Response


def lenientTag(value: str | None) -> str | None:
    """
    Read the C{tag} parameter of a From or To value leniently (never raises:
    used on the stateless error path for requests that failed validation).

    @param value: a From or To header field value.
    @return: its C{tag} parameter, or L{None}.
    """
    if value is None:
        return None
    close = value.rfind(">")
    if close >= 0:
        params = value[close + 1 :]
    else:
        params = value.partition(";")[2]
        params = ";" + params if params else ""
    for param in params.split(";"):
        name, equals, paramValue = param.partition("=")
        if equals and name.strip().lower() == "tag":
            return paramValue.strip()
    return None


def responseFromRequest(
    request: Request, code: int, phrase: str | None = None, toTag: str | None = None
) -> Response:
    """
    Build a response to C{request} per RFC 3261 §8.2.6.2: every Via value in
    order, From, To, Call-ID and CSeq copied; a To tag added if C{toTag} is
    given and the request's To has none; for a 100 the Timestamp copied
    (§8.2.6.1). The header lists are new lists, so the response can be
    changed without touching the request.

    @param code: the status code.
    @param phrase: the reason phrase; the standard one if L{None}.
    @param toTag: the tag to add to To, or L{None} for none.
    """
    response = Response(code, phrase)
    headers = response.headers
    source = request.headers
    for name in ("via", "from", "to", "call-id", "cseq"):
        values = source.get(name)
        if values:
            headers[name] = list(values)
    if toTag is not None:
        to = headers.get("to")
        if to and lenientTag(to[0]) is None:
            to[0] = f"{to[0]};tag={toTag}"
    if code == 100:
        timestamp = source.get("timestamp")
        if timestamp:
            headers["timestamp"] = list(timestamp)
    return response


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
        return (stripBrackets(maddr), int(port) if port else DEFAULT_PORT)
    rport = getattr(via, "rportValue", None)
    if rport is None and getattr(via, "rportRequested", False) and source is not None:
        return source
    host = getattr(via, "received", None) or via.host
    if rport is not None:
        port = rport
    return (stripBrackets(str(host)), int(port) if port else DEFAULT_PORT)


__all__ = ["lenientTag", "responseDestination", "responseFromRequest"]
