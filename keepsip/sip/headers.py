"""
Cached accessors for a message's structured headers (L{topVia}, L{cseq},
L{fromHeader}, L{toHeader}, ...), the name-addr and CSeq parsers, and fresh
branch and tag identifiers.

A message stores header values as strings (see L{keepsip.sip.message}); the
functions here parse one value each and raise L{ValueError} when it is
malformed. The accessors cache their result on the message through
L{Message.cached}; treat what they return as immutable (to change a header,
build a new value and C{setHeader} its C{toString()}), since a copied message
shares the cache entries of its original, and messages with identical
name-addr values share the parsed value (L{sharedNameAddr}).

The value types live in their own modules: L{keepsip.sip.via} (L{Via},
L{parseVia}), L{keepsip.sip.nameaddr} (L{NameAddr}) and the shared grammar
in L{keepsip.sip.grammar}.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Generic, TypeVar

from keepsip.sip.grammar import QUOTED_STRING, TOKEN, parseParams, splitQuoted
from keepsip.sip.message import Message, Request
from keepsip.sip.nameaddr import NameAddr
from keepsip.sip.uri import parseURI
from keepsip.sip.via import Via, parseVia

T = TypeVar("T")

#: The RFC 3261 §8.1.1.7 branch prefix.
MAGIC_COOKIE = "z9hG4bK"

_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


# -- name-addr ----------------------------------------------------------------


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
        match = QUOTED_STRING.match(text)
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


class _Remembered(Generic[T]):
    """
    A parser remembered for identical strings: the values of a call's
    headers repeat across its messages and the layers reading them. At most
    C{size} results are kept (all forgotten when full: cheaper than an LRU,
    and a proxy's working set refills it at once). A value the parser
    refuses is not remembered.
    """

    __slots__ = ("parse", "size", "_results")

    def __init__(self, parse: Callable[[str], T], size: int = 2048) -> None:
        self.parse = parse
        self.size = size
        self._results: dict[str, T] = {}

    def __call__(self, value: str) -> T:
        results = self._results
        # get, not try/except: unique values (branches, tags) miss often.
        parsed = results.get(value)
        if parsed is not None:
            return parsed
        parsed = self.parse(value)
        if len(results) >= self.size:
            results.clear()
        results[value] = parsed
        return parsed


_nameAddrs = _Remembered(parseNameAddr)


def sharedNameAddr(value: str) -> NameAddr:
    """
    L{parseNameAddr}, remembered for identical strings: the From, To,
    Contact and Route values of a call repeat across its messages and the
    layers reading them. The result is shared: treat it as immutable (copy
    its URI before changing it), as with the cached accessors.

    @raise ValueError: if it is malformed (not remembered).
    """
    return _nameAddrs(value)


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
    return msg.cached("via", _ViaCache)


_vias = _Remembered(parseVia)


def sharedVia(value: str) -> Via:
    """
    L{parseVia}, remembered for identical strings: a transaction's Via
    values recur in its request and each of its responses, and the layers
    read them from each. The result is shared: treat it as immutable (change
    a L{Via.copy}).

    @raise ValueError: if it is malformed (not remembered).
    """
    return _vias(value)


def topVia(msg: Message) -> Via:
    """
    @return: the message's top Via, parsed once (once per distinct value:
        see L{sharedVia}). A request's is its own copy, which the transport
        changes in place when it notes the source address (RFC 3261
        §18.2.1); a response's is shared.
    @raise ValueError: if there is none or it is malformed.
    """
    cache = _viaCache(msg)
    if cache.top is None:
        if not cache.values:
            raise ValueError("no Via header")
        via = sharedVia(cache.values[0])
        cache.top = via.copy() if isinstance(msg, Request) else via
    return cache.top


def vias(msg: Message) -> list[Via]:
    """
    @return: every Via value, top first, parsed once (see L{topVia}; the
        others are shared).
    @raise ValueError: if any is malformed.
    """
    cache = _viaCache(msg)
    if cache.all is None:
        result = [topVia(msg)] if cache.values else []
        result.extend(sharedVia(v) for v in cache.values[1:])
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
        "from", lambda m: sharedNameAddr(_first(m, "from"))
    )
    return value


def toHeader(msg: Message) -> NameAddr:
    """
    @return: the parsed To value.
    @raise ValueError: if absent or malformed.
    """
    value: NameAddr = msg.cached(
        "to", lambda m: sharedNameAddr(_first(m, "to"))
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


def _maxForwards(msg: Message) -> int | None:
    values = msg.headers.get("max-forwards")
    if not values:
        return None
    return parseMaxForwards(values[0])


def maxForwards(msg: Message) -> int | None:
    """
    @return: the Max-Forwards value, or L{None} if absent; parsed once per
        message (validation, admission and the proxy each ask).
    @raise ValueError: if malformed or above 255.
    """
    value: int | None = msg.cached("max-forwards", _maxForwards)
    return value


def contacts(msg: Message) -> list[NameAddr]:
    """
    @return: every Contact value parsed, in order (empty if none).
    @raise ValueError: if any is malformed.
    """
    return msg.cached(
        "contact",
        lambda m: [sharedNameAddr(v) for v in m.headers.get("contact", ())],
    )


def routes(msg: Message, name: str = "route") -> list[NameAddr]:
    """
    @param name: C{"route"}, C{"record-route"}, C{"path"} or
        C{"service-route"}.
    @return: every value of that header parsed, in order (empty if none).
    @raise ValueError: if any is malformed.
    """
    return msg.cached(
        name, lambda m: [sharedNameAddr(v) for v in m.headers.get(name, ())]
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
    "parseNameAddr",
    "sharedNameAddr",
    "CSeq",
    "parseCSeq",
    "parseMaxForwards",
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
