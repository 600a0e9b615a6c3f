"""
Request validation for a proxy (RFC 3261 §16.3 steps 1, 2 and 5; §8.2) on top
of what L{keepsip.sip.parser} already rejects.

L{checkRequest} answers "may a proxy go on with this request?" and, if not,
with which status. It does not do the Max-Forwards-is-zero (483), loop
detection or Proxy-Authorization steps: those belong to the proxy core.
"""

from __future__ import annotations

from keepsip.sip.headers import (
    MAGIC_COOKIE,
    callID,
    contacts,
    cseq,
    fromHeader,
    maxForwards,
    routes,
    toHeader,
    vias,
)
from keepsip.sip.message import Request, canonicalName
from keepsip.sip.uri import URI

#: Methods keepsip knows; a CSeq mismatch on any other method is a 501
#: (RFC 4475 mismatch02), on these a 400 (mismatch01).
KNOWN_METHODS: frozenset[str] = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)

_MANDATORY = ("via", "from", "to", "call-id", "cseq")
_SINGLE = ("call-id", "to", "from", "cseq", "max-forwards")

Problem = tuple[int, str, dict[str, str]]


def _bad(reason: str) -> Problem:
    return (400, reason, {})


def checkRequest(
    request: Request, *, supportedExtensions: frozenset[str] = frozenset()
) -> Problem | None:
    """
    Check a parsed request the way a proxy must before forwarding it.

    In order: mandatory headers (Via, From, To, Call-ID, CSeq; Max-Forwards
    may be absent, RFC 2543), single-valued headers given twice, Via, CSeq
    (number range, method equal to the request's), Max-Forwards syntax,
    From, To, Contact and Route syntax, escaped headers in the Request-URI
    (all 400, except a CSeq method mismatch on an unknown method: 501); then
    the Request-URI scheme (416 unless C{sip}/C{sips}); then Proxy-Require
    (420 listing the unsupported option tags in C{Unsupported}).

    @param request: a request from L{keepsip.sip.parser.parseDatagram}.
    @param supportedExtensions: option tags this proxy supports.
    @return: C{(status, reason, extraHeaders)} for the first problem found,
        C{extraHeaders} mapping lower-case long header names to values; or
        L{None} if the request is acceptable.
    """
    headers = request.headers
    for name in _MANDATORY:
        if not headers.get(name):
            return _bad(f"Missing {canonicalName(name)} Header")
    for name in _SINGLE:
        values = headers.get(name)
        if values is not None and len(values) > 1:
            return _bad(f"Multiple {canonicalName(name)} Headers")

    try:
        allVias = vias(request)
    except ValueError:
        return _bad("Malformed Via Header")
    if allVias[0].branch == MAGIC_COOKIE:
        return _bad("Malformed Via Branch")

    try:
        sequence = cseq(request)
    except ValueError:
        return _bad("Malformed CSeq Header")
    if sequence.method != request.method:
        if request.method not in KNOWN_METHODS:
            return (501, "Not Implemented", {})
        return _bad("CSeq Method Does Not Match Request")

    try:
        maxForwards(request)
    except ValueError:
        return _bad("Malformed Max-Forwards Header")
    try:
        callID(request)
    except ValueError:
        return _bad("Malformed Call-ID Header")
    for name, parse in (("from", fromHeader), ("to", toHeader)):
        try:
            value = parse(request)
        except ValueError:
            return _bad(f"Malformed {canonicalName(name)} Header")
        if value.isWildcard:
            return _bad(f"Malformed {canonicalName(name)} Header")
    try:
        contacts(request)
    except ValueError:
        return _bad("Malformed Contact Header")
    try:
        routes(request)
    except ValueError:
        return _bad("Malformed Route Header")

    uri = request.uri
    if not isinstance(uri, URI):
        return (416, "Unsupported URI Scheme", {})
    if uri.uriHeaders:
        # RFC 3261 §19.1.1: headers are not allowed in a Request-URI; a
        # liberal proxy would have to strip them (RFC 4475 escruri).
        return _bad("Headers Not Allowed in Request-URI")

    required = headers.get("proxy-require")
    if required:
        unsupported: list[str] = []
        for tag in required:
            if tag and tag not in supportedExtensions and tag not in unsupported:
                unsupported.append(tag)
        if unsupported:
            return (420, "Bad Extension", {"unsupported": ", ".join(unsupported)})
    return None


__all__ = ["checkRequest", "KNOWN_METHODS"]
