"""
Small private readers for the few header values the transaction layer needs.

They exist so the transaction layer does not wait for L{keepsip.sip.headers};
once that module offers C{topVia(msg)}, C{cseq(msg)} and tag accessors, the
functions here should become thin wrappers around them (or disappear).

Every function raises L{ValueError} for a value it cannot read; the layer
drops such messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keepsip.sip.message import Message

#: The RFC 3261 branch prefix (§8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"

_SENT_PROTOCOL = re.compile(r"\s*[^/\s]+\s*/\s*[^/\s]+\s*/\s*([^\s/]+)\s+(.*)", re.S)

_DEFAULT_PORTS = {"TLS": 5061, "WSS": 443, "WS": 80, "TLS-SCTP": 5061}

#: Transports over which the transaction layer does not retransmit.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


@dataclass(frozen=True, slots=True)
class ViaValue:
    """
    The parts of one Via header field value the transaction layer reads.

    @ivar transport: upper-case transport token, e.g. C{"UDP"}.
    @ivar host: sent-by host, lower case, IPv6 references without brackets.
    @ivar port: sent-by port, or L{None} if absent.
    @ivar params: parameter name (lower case) -> value (L{None} for a flag).
    """

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def sentBy(self) -> tuple[str, int]:
        """
        @return: C{(host, port)} with the transport's default port filled in,
            suitable as part of a transaction key.
        """
        port = self.port
        if port is None:
            port = _DEFAULT_PORTS.get(self.transport, 5060)
        return (self.host, port)

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS


def parseVia(value: str) -> ViaValue:
    """
    Read one Via header field value such as
    C{"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport"}.

    @raise ValueError: if the value is not a Via.
    """
    head, _, rest = value.partition(";")
    match = _SENT_PROTOCOL.fullmatch(head)
    if match is None:
        raise ValueError(f"not a Via value: {value!r}")
    transport = match.group(1).upper()
    sentBy = "".join(match.group(2).split())
    # Drop an RFC 2543 comment if one follows the sent-by.
    sentBy = sentBy.partition("(")[0]
    if not sentBy:
        raise ValueError(f"Via without sent-by: {value!r}")
    port: int | None = None
    if sentBy.startswith("["):
        end = sentBy.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 reference in Via: {value!r}")
        host = sentBy[1:end]
        after = sentBy[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise ValueError(f"bad sent-by in Via: {value!r}")
            port = int(after[1:])
    else:
        host, colon, portText = sentBy.partition(":")
        if colon:
            port = int(portText)
    params: dict[str, str | None] = {}
    if rest:
        for param in rest.split(";"):
            name, equals, paramValue = param.partition("=")
            name = name.strip().lower()
            if name:
                params[name] = paramValue.strip() if equals else None
    return ViaValue(transport, host.lower(), port, params)


def topViaValue(message: Message) -> str:
    """
    @return: the first Via value of C{message}.
    @raise ValueError: if it has none.
    """
    vias = message.headers.get("via")
    if not vias:
        raise ValueError("message without Via")
    return vias[0].strip()


def topVia(message: Message) -> ViaValue:
    """
    @return: the parsed first Via value of C{message}.
    @raise ValueError: if it has none or it cannot be read.
    """
    return parseVia(topViaValue(message))


def cseq(message: Message) -> tuple[int, str]:
    """
    @return: C{(sequence number, method)} of C{message}'s CSeq.
    @raise ValueError: if absent or malformed.
    """
    value = message.header("cseq")
    if value is None:
        raise ValueError("message without CSeq")
    parts = value.split()
    if len(parts) != 2:
        raise ValueError(f"bad CSeq: {value!r}")
    return int(parts[0]), parts[1]


def tag(value: str | None) -> str | None:
    """
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


def uriString(uri: object) -> str:
    """
    @return: the text of a Request-URI object (anything with C{toString}).
    """
    toString = getattr(uri, "toString", None)
    if toString is not None:
        return str(toString())
    return str(uri)
