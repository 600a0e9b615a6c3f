"""
Structured SIP header values: Via, name-addr (From, To, Contact, Route, ...),
CSeq, and accessors that parse a message's header at most once.

A message stores header values as strings (see L{keepsip.sip.message}); the
functions here parse one value each and raise L{ValueError} when it is
malformed. The accessors (L{topVia}, L{cseq}, L{fromHeader}, ...) cache their
result on the message through L{Message.cached}; treat what they return as
immutable (to change a header, build a new value and C{setHeader} its
C{toString()}), since a copied message shares the cache entries of its
original.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

from twisted.protocols import sip as _tsip

from keepsip.sip.message import Message
from keepsip.sip.uri import (
    URI,
    AbsoluteURI,
    parsePort,
    parseURI,
    splitHostPort,
    stripBrackets,
)

#: The RFC 3261 §8.1.1.7 branch prefix.
MAGIC_COOKIE = "z9hG4bK"

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
# Characters escaped when a display name is written as a quoted-string.
_NEEDS_ESCAPE = re.compile(r'(["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f])')
_CRLF = re.compile(r"[\r\n]")
# A generic-param value that is not quoted: token, host or IPv6 reference.
_BAD_GEN_VALUE = re.compile(r'[\s"<>,;]')


def splitQuoted(text: str, separator: str) -> list[str]:
    """
    Split C{text} at C{separator} where it is not inside a quoted-string.

    @raise ValueError: if a quoted-string is not terminated.
    """
    if '"' not in text:
        return text.split(separator)
    parts = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            match = _QUOTED.match(text, i)
            if match is None:
                raise ValueError(f"unterminated quoted-string: {text!r}")
            i = match.end()
            continue
        if ch == separator:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def splitList(value: str) -> list[str]:
    """
    Split a comma-separated header value into its elements (RFC 3261 §7.3.1),
    leaving commas inside quoted-strings and C{<...>} alone. Elements are
    stripped; empty elements are dropped, but an empty value gives C{[""]}.
    An unterminated quote or bracket ends the scan (the rest is one element;
    the element's own parser reports it). Never raises.
    """
    if "," not in value:
        return [value.strip(" \t")]
    if '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        start = 0
        i = 0
        n = len(value)
        while i < n:
            ch = value[i]
            if ch == '"':
                match = _QUOTED.match(value, i)
                if match is None:
                    break
                i = match.end()
                continue
            if ch == "<":
                end = value.find(">", i)
                if end < 0:
                    break
                i = end + 1
                continue
            if ch == ",":
                parts.append(value[start:i])
                start = i + 1
            i += 1
        parts.append(value[start:])
    result = [part.strip(" \t") for part in parts]
    result = [part for part in result if part]
    return result or [""]


def parseParams(items: Iterable[str]) -> dict[str, str | None]:
    """
    Parse C{name[=value]} generic parameters (already split at C{;}), with
    optional LWS around the C{=}.

    @return: lower-case name -> value (quoted values keep their quotes) or
        L{None}, in order; the first of duplicate names wins.
    @raise ValueError: for an empty or non-token name, or a malformed value.
    """
    params: dict[str, str | None] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip(" \t")
        if not TOKEN.match(name):
            raise ValueError(f"bad parameter: {item!r}")
        lowered = name.lower()
        if eq:
            value = value.strip(" \t")
            if not value:
                raise ValueError(f"empty parameter value: {item!r}")
            if value[0] == '"':
                match = _QUOTED.match(value)
                if match is None or match.end() != len(value):
                    raise ValueError(f"bad quoted parameter value: {item!r}")
            elif _BAD_GEN_VALUE.search(value):
                raise ValueError(f"bad parameter value: {item!r}")
            params.setdefault(lowered, value)
        else:
            params.setdefault(lowered, None)
    return params


def _formatParams(params: dict[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}"
        for name, value in params.items()
    )


# -- Via --------------------------------------------------------------------


_VIA_KNOWN = ("branch", "received", "rport", "maddr", "ttl", "hidden")


class Via(_tsip.Via):
    """
    One Via header field value (RFC 3261 §20.42, RFC 3581 C{rport}).

    Keeps L{twisted.protocols.sip.Via}'s attribute names; unlike it, C{port}
    is L{None} when the sent-by has none, C{host} keeps IPv6 brackets, and
    L{toString} keeps the parameters in their original order.

    @ivar protocol: C{"SIP/2.0"} (protocol name and version as received,
        without LWS).
    @ivar transport: the transport token, e.g. C{"UDP"}, as received.
    @ivar host: sent-by host; IPv6 references keep their brackets.
    @ivar port: sent-by port or L{None}.
    @ivar branch: the C{branch} parameter or L{None}.
    @ivar received: the C{received} parameter, as received (an IPv6 address
        with or without brackets, RFC 5118 §4.5), or L{None}.
    @ivar rportRequested: C{rport} present without a value.
    @ivar rportValue: the C{rport} value, or L{None}.
    @ivar maddr: the C{maddr} parameter or L{None}.
    @ivar ttl: the C{ttl} parameter (C{int}) or L{None}.
    @ivar hidden: whether the obsolete C{hidden} flag is present.
    @ivar otherParams: every other parameter, lower-case name -> value or
        L{None}, in order.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        transport: str = "UDP",
        branch: str | None = None,
        received: str | None = None,
        rportRequested: bool = False,
        rportValue: int | None = None,
        maddr: str | None = None,
        ttl: int | None = None,
        hidden: bool = False,
        otherParams: dict[str, str | None] | None = None,
        protocol: str = "SIP/2.0",
        order: Iterable[str] = (),
    ) -> None:
        self.protocol = protocol
        self.transport = transport
        self.host = host
        self.port = port
        self.branch = branch
        self.received = received
        self.rportRequested = rportRequested
        self.rportValue = rportValue
        self.maddr = maddr
        self.ttl = ttl
        self.hidden = hidden
        self.otherParams: dict[str, str | None] = dict(otherParams or {})
        self._order = tuple(order)

    @property
    def hostAddress(self) -> str:
        """
        The sent-by host without IPv6 brackets, for socket calls.
        """
        return stripBrackets(self.host)

    @property
    def receivedAddress(self) -> str | None:
        """
        The C{received} address without IPv6 brackets, or L{None}.
        """
        if self.received is None:
            return None
        return stripBrackets(self.received)

    def sentBy(self) -> tuple[str, int | None]:
        """
        @return: C{(host, port)} of the sent-by, exactly as in the header
            (brackets kept, C{port} L{None} if absent: RFC 3261 §17.2.3
            compares sent-by values as they are).
        """
        return (self.host, self.port)

    def _param(self, name: str) -> str | None:
        if name == "branch":
            return None if self.branch is None else f";branch={self.branch}"
        if name == "received":
            return None if self.received is None else f";received={self.received}"
        if name == "rport":
            if self.rportValue is not None:
                return f";rport={self.rportValue}"
            return ";rport" if self.rportRequested else None
        if name == "maddr":
            return None if self.maddr is None else f";maddr={self.maddr}"
        if name == "ttl":
            return None if self.ttl is None else f";ttl={self.ttl}"
        if name == "hidden":
            return ";hidden" if self.hidden else None
        if name in self.otherParams:
            value = self.otherParams[name]
            return f";{name}" if value is None else f";{name}={value}"
        return None

    def toString(self) -> str:
        """
        Serialise, parameters in their received order, then any set since.
        """
        parts = [f"{self.protocol}/{self.transport} {self.host}"]
        if self.port is not None:
            parts.append(f":{self.port}")
        order = self._order
        for name in order:
            piece = self._param(name)
            if piece is not None:
                parts.append(piece)
        for name in _VIA_KNOWN:
            if name not in order:
                piece = self._param(name)
                if piece is not None:
                    parts.append(piece)
        for name in self.otherParams:
            if name not in order:
                piece = self._param(name)
                if piece is not None:
                    parts.append(piece)
        return "".join(parts)

    def __repr__(self) -> str:
        return f"<Via {self.toString()}>"


def parseVia(value: str) -> Via:
    """
    Parse one Via value (C{sent-protocol LWS sent-by *(SEMI via-params)}),
    allowing LWS around C{/}, C{:}, C{;} and C{=} as RFC 3261 does.

    @raise ValueError: if it is malformed.
    """
    items = splitQuoted(value, ";")
    parts = items[0].split("/", 2)
    if len(parts) != 3:
        raise ValueError(f"bad Via sent-protocol: {value!r}")
    name = parts[0].strip(" \t")
    version = parts[1].strip(" \t")
    rest = parts[2].split(None, 1)
    if len(rest) != 2 or not TOKEN.match(name) or not TOKEN.match(version):
        raise ValueError(f"bad Via sent-protocol: {value!r}")
    transport, sentBy = rest
    if not TOKEN.match(transport):
        raise ValueError(f"bad Via transport: {value!r}")
    sentBy = sentBy.strip(" \t")
    if " " in sentBy or "\t" in sentBy:
        sentBy = ":".join(part.strip(" \t") for part in sentBy.split(":"))
    host, port = splitHostPort(sentBy)
    via = Via(host, port, transport, protocol=f"{name}/{version}")
    if len(items) == 1:
        return via
    order = []
    for pname, pvalue in parseParams(items[1:]).items():
        order.append(pname)
        if pname == "branch":
            if pvalue is None:
                raise ValueError(f"branch without value: {value!r}")
            via.branch = pvalue
        elif pname == "received":
            if pvalue is None:
                raise ValueError(f"received without value: {value!r}")
            if pvalue.startswith("["):
                splitHostPort(pvalue)
                if pvalue.find("]") != len(pvalue) - 1:
                    raise ValueError(f"bad received: {value!r}")
            elif ":" not in pvalue:
                splitHostPort(pvalue)
            elif not all(c in "0123456789abcdefABCDEF:." for c in pvalue):
                raise ValueError(f"bad received: {value!r}")
            via.received = pvalue
        elif pname == "rport":
            if pvalue is None:
                via.rportRequested = True
            else:
                via.rportValue = parsePort(pvalue)
        elif pname == "ttl":
            if pvalue is None or not pvalue.isascii() or not pvalue.isdigit():
                raise ValueError(f"bad ttl: {value!r}")
            ttl = int(pvalue) if len(pvalue.lstrip("0")) <= 3 else 256
            if ttl > 255:
                raise ValueError(f"ttl out of range: {value!r}")
            via.ttl = ttl
        elif pname == "maddr":
            if pvalue is None:
                raise ValueError(f"maddr without value: {value!r}")
            via.maddr = pvalue
        elif pname == "hidden":
            via.hidden = True
        else:
            via.otherParams[pname] = pvalue
    via._order = tuple(order)
    return via


# -- name-addr ----------------------------------------------------------------


class NameAddr:
    """
    A C{name-addr} or C{addr-spec} with header parameters: the value of From,
    To, Contact, Route, Record-Route, Reply-To, ... (RFC 3261 §20).

    @ivar displayName: the display name, unquoted and unescaped, or L{None}.
    @ivar uri: the L{URI} or L{AbsoluteURI}; L{None} for the Contact
        wildcard C{*}.
    @ivar params: header parameters (not URI parameters), lower-case name ->
        value (quoted values keep their quotes) or L{None}, in order.
    """

    def __init__(
        self,
        uri: URI | AbsoluteURI | None,
        displayName: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        self.uri = uri
        self.displayName = displayName
        self.params: dict[str, str | None] = dict(params or {})

    @property
    def isWildcard(self) -> bool:
        """
        Whether this is the C{Contact: *} of a removal of all bindings.
        """
        return self.uri is None

    @property
    def tag(self) -> str | None:
        """
        The C{tag} parameter, or L{None}.
        """
        return self.params.get("tag")

    def toString(self) -> str:
        """
        Serialise as a name-addr (the URI always in C{<>}, a display name
        always quoted).
        """
        if self.uri is None:
            return "*" + _formatParams(self.params)
        text = f"<{self.uri.toString()}>"
        if self.displayName is not None:
            escaped = _NEEDS_ESCAPE.sub(r"\\\1", _CRLF.sub(" ", self.displayName))
            text = f'"{escaped}" {text}'
        if self.params:
            text += _formatParams(self.params)
        return text

    def _key(self) -> tuple[object, ...]:
        uriKey = None if self.uri is None else self.uri.key()
        return (self.displayName, uriKey, tuple(self.params.items()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<NameAddr {self.toString()}>"


def parseNameAddr(value: str) -> NameAddr:
    """
    Parse a name-addr (C{["display name"] <uri>;params}) or a bare addr-spec
    (C{uri;params}: then every C{;} parameter is a header parameter, RFC 3261
    §20), or C{*} (a Contact wildcard).

    Accepted: a quoted display name with quoted-pairs, a display name of
    tokens, no LWS before C{<} (RFC 4475 lwsdisp), LWS around C{;} and C{=}.
    Rejected: an unterminated quote (quotbal), non-token characters in an
    unquoted display name (baddn), spaces inside C{<>} (badaspec), a bare
    addr-spec with C{?} or C{,} (regbadct), empty parameters.

    @raise ValueError: if it is malformed.
    """
    text = value.strip(" \t")
    if not text:
        raise ValueError("empty name-addr")
    if text[0] == "*":
        rest = text[1:].lstrip(" \t")
        if not rest:
            return NameAddr(None)
        if rest[0] == ";":
            return NameAddr(None, None, parseParams(splitQuoted(rest[1:], ";")))
        raise ValueError(f"bad wildcard: {value!r}")

    displayName: str | None = None
    if text[0] == '"':
        match = _QUOTED.match(text)
        if match is None:
            raise ValueError(f"unterminated display name: {value!r}")
        quoted = text[1 : match.end() - 1]
        displayName = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        rest = text[match.end() :].lstrip(" \t")
        if not rest.startswith("<"):
            raise ValueError(f"display name without <uri>: {value!r}")
    else:
        lt = text.find("<")
        if lt < 0:
            # addr-spec: the URI ends at the first ';'.
            semi = text.find(";")
            uriText = (text if semi < 0 else text[:semi]).rstrip(" \t")
            if "?" in uriText or "," in uriText:
                raise ValueError(f"addr-spec with ? or , outside <>: {value!r}")
            uri = parseURI(uriText)
            params = parseParams(splitQuoted(text[semi + 1 :], ";")) if semi >= 0 else {}
            return NameAddr(uri, None, params)
        display = text[:lt].strip(" \t")
        if display:
            words = display.split()
            for word in words:
                if not TOKEN.match(word):
                    raise ValueError(f"bad display name: {value!r}")
            displayName = " ".join(words)
        rest = text[lt:]

    gt = rest.find(">")
    if gt < 0:
        raise ValueError(f"unterminated <uri>: {value!r}")
    uri = parseURI(rest[1:gt])
    tail = rest[gt + 1 :].lstrip(" \t")
    params = {}
    if tail:
        if tail[0] != ";":
            raise ValueError(f"junk after <uri>: {value!r}")
        params = parseParams(splitQuoted(tail[1:], ";"))
    return NameAddr(uri, displayName, params)


# -- CSeq ---------------------------------------------------------------------


class CSeq:
    """
    A CSeq value (RFC 3261 §20.16).

    @ivar number: the sequence number, 0 to 2**32 - 1.
    @ivar method: the method token (case-sensitive).
    """

    __slots__ = ("number", "method")

    def __init__(self, number: int, method: str) -> None:
        if not 0 <= number <= 0xFFFFFFFF:
            raise ValueError(f"CSeq number out of range: {number}")
        self.number = number
        self.method = method

    def toString(self) -> str:
        return f"{self.number} {self.method}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CSeq):
            return NotImplemented
        return self.number == other.number and self.method == other.method

    def __hash__(self) -> int:
        return hash((self.number, self.method))

    def __repr__(self) -> str:
        return f"<CSeq {self.number} {self.method}>"


def parseCSeq(value: str) -> CSeq:
    """
    Parse C{1*DIGIT LWS Method}.

    @raise ValueError: if malformed or the number exceeds 2**32 - 1
        (RFC 4475 scalar02).
    """
    parts = value.split()
    if len(parts) != 2:
        raise ValueError(f"bad CSeq: {value!r}")
    digits, method = parts
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > 10:
        raise ValueError(f"bad CSeq number: {value!r}")
    if not TOKEN.match(method):
        raise ValueError(f"bad CSeq method: {value!r}")
    return CSeq(int(digits), method)


def parseMaxForwards(value: str) -> int:
    """
    Parse a Max-Forwards value: digits, at most 255.

    @raise ValueError: otherwise.
    """
    value = value.strip(" \t")
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 3:
        raise ValueError(f"bad Max-Forwards: {value!r}")
    hops = int(value)
    if hops > 255:
        raise ValueError(f"Max-Forwards out of range: {hops}")
    return hops


# -- accessors ----------------------------------------------------------------


def _first(msg: Message, name: str) -> str:
    values = msg.headers.get(name)
    if not values:
        raise ValueError(f"no {name} header")
    return values[0]


class _ViaCache:
    """
    Lazily parsed Via values of one message: the top one alone is parsed
    unless all are asked for.
    """

    __slots__ = ("values", "top", "all")

    def __init__(self, msg: Message) -> None:
        self.values = msg.headers.get("via") or []
        self.top: Via | None = None
        self.all: list[Via] | None = None


def _viaCache(msg: Message) -> _ViaCache:
    return msg.cached("via", _ViaCache)  # type: ignore[no-any-return]


def topVia(msg: Message) -> Via:
    """
    @return: the message's top Via, parsed once.
    @raise ValueError: if there is none or it is malformed.
    """
    cache = _viaCache(msg)
    if cache.top is None:
        if not cache.values:
            raise ValueError("no Via header")
        cache.top = parseVia(cache.values[0])
    return cache.top


def vias(msg: Message) -> list[Via]:
    """
    @return: every Via value, top first, parsed once.
    @raise ValueError: if any is malformed.
    """
    cache = _viaCache(msg)
    if cache.all is None:
        result = [topVia(msg)] if cache.values else []
        result.extend(parseVia(v) for v in cache.values[1:])
        cache.all = result
    return cache.all


def cseq(msg: Message) -> CSeq:
    """
    @return: the parsed CSeq.
    @raise ValueError: if absent or malformed.
    """
    value: CSeq = msg.cached(
        "cseq", lambda m: parseCSeq(_first(m, "cseq"))
    )
    return value


def fromHeader(msg: Message) -> NameAddr:
    """
    @return: the parsed From value.
    @raise ValueError: if absent or malformed.
    """
    value: NameAddr = msg.cached(
        "from", lambda m: parseNameAddr(_first(m, "from"))
    )
    return value


def toHeader(msg: Message) -> NameAddr:
    """
    @return: the parsed To value.
    @raise ValueError: if absent or malformed.
    """
    value: NameAddr = msg.cached(
        "to", lambda m: parseNameAddr(_first(m, "to"))
    )
    return value


def callID(msg: Message) -> str:
    """
    @return: the Call-ID, stripped.
    @raise ValueError: if absent or empty.
    """
    value = _first(msg, "call-id").strip(" \t")
    if not value:
        raise ValueError("empty Call-ID")
    return value


def maxForwards(msg: Message) -> int | None:
    """
    @return: the Max-Forwards value, or L{None} if absent.
    @raise ValueError: if malformed or above 255.
    """
    values = msg.headers.get("max-forwards")
    if not values:
        return None
    return parseMaxForwards(values[0])


def contacts(msg: Message) -> list[NameAddr]:
    """
    @return: every Contact value parsed, in order (empty if none).
    @raise ValueError: if any is malformed.
    """
    return msg.cached(  # type: ignore[no-any-return]
        "contact",
        lambda m: [parseNameAddr(v) for v in m.headers.get("contact", ())],
    )


def routes(msg: Message, name: str = "route") -> list[NameAddr]:
    """
    @param name: C{"route"}, C{"record-route"}, C{"path"} or
        C{"service-route"}.
    @return: every value of that header parsed, in order (empty if none).
    @raise ValueError: if any is malformed.
    """
    return msg.cached(  # type: ignore[no-any-return]
        name, lambda m: [parseNameAddr(v) for v in m.headers.get(name, ())]
    )


# -- identifiers --------------------------------------------------------------


def newBranch() -> str:
    """
    @return: a fresh RFC 3261 branch: the magic cookie and 80 random bits.
    """
    return MAGIC_COOKIE + os.urandom(10).hex()


def newTag() -> str:
    """
    @return: a fresh tag of 64 random bits (RFC 3261 §19.3 asks for 32).
    """
    return os.urandom(8).hex()


__all__ = [
    "MAGIC_COOKIE",
    "Via",
    "parseVia",
    "NameAddr",
    "parseNameAddr",
    "CSeq",
    "parseCSeq",
    "parseMaxForwards",
    "parseParams",
    "splitList",
    "splitQuoted",
    "topVia",
    "vias",
    "cseq",
    "fromHeader",
    "toHeader",
    "callID",
    "maxForwards",
    "contacts",
    "routes",
    "newBranch",
    "newTag",
]
