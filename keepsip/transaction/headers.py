"""
The few header readings the transaction layer needs, on top of
L{keepsip.sip.headers} (one Via grammar for the whole project).

Parsed values come from the parser's per-message cache, so a request whose
top Via the transport already read (RFC 3581 stamping) is not parsed again.
Every function raises L{ValueError} for a value it cannot read; the layer
drops such messages.
"""

from __future__ import annotations

import hashlib

from keepsip.sip import headers as _h
from keepsip.sip.address import stripBrackets
from keepsip.sip.message import Message
from keepsip.sip.via import Via, parseVia

MAGIC_COOKIE = _h.MAGIC_COOKIE

_DEFAULT_PORTS = {"TLS": 5061, "WSS": 443, "WS": 80, "TLS-SCTP": 5061}

#: Transports over which the transaction layer does not retransmit.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


def topViaValue(message: Message) -> str:
    """
    @return: the first Via value of C{message}, as text.
    @raise ValueError: if it has none.
    """
    vias = message.headers.get("via")
    if not vias:
        raise ValueError("message without Via")
    return vias[0].strip()


def topVia(message: Message) -> Via:
    """
    @return: the parsed top Via of a message from the wire (cached).
    @raise ValueError: if it has none or it cannot be read.
    """
    return _h.topVia(message)


def freshTopVia(message: Message) -> Via:
    """
    @return: the top Via parsed from the current header text, ignoring any
        cached value (for requests the proxy has just built).
    @raise ValueError: if it has none or it cannot be read.
    """
    return parseVia(topViaValue(message))


def sentByKey(via: Via) -> tuple[str, int]:
    """
    @return: C{via}'s sent-by as part of a transaction key: host in lower
        case without IPv6 brackets, the transport's default port filled in.
    """
    host = stripBrackets(via.host.lower())
    port = via.port
    if port is None:
        port = _DEFAULT_PORTS.get(via.transport.upper(), 5060)
    return (host, port)


def isReliable(via: Via) -> bool:
    """
    @return: whether C{via}'s transport is reliable (no retransmissions).
    """
    return via.transport.upper() in RELIABLE_TRANSPORTS


def cseq(message: Message) -> tuple[int, str]:
    """
    @return: C{(sequence number, method)} of C{message}'s CSeq (cached).
    @raise ValueError: if absent or malformed.
    """
    value = _h.cseq(message)
    return value.number, value.method


def uriString(uri: object) -> str:
    """
    @return: the text of a Request-URI object (anything with C{toString}).
    """
    toString = getattr(uri, "toString", None)
    if toString is not None:
        return str(toString())
    return str(uri)


#: Keyed hashing for L{statelessTag}: the tag reveals nothing of the request.
_TAG_KEY = _h.newTag().encode()


def statelessTag(request: Message) -> str:
    """
    @return: the To tag of a stateless answer to C{request}: the same for
        every retransmission of it (same top Via, Call-ID, CSeq, From), and
        unguessable from outside the process.
    """
    headers = request.headers
    identity = "\x00".join(
        values[0] if values else ""
        for values in (
            headers.get("via"),
            headers.get("call-id"),
            headers.get("cseq"),
            headers.get("from"),
        )
    )
    data = identity.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=8, key=_TAG_KEY).hexdigest()
