"""
SIP messages: the shared data model of every keepsip layer.

These classes extend L{twisted.protocols.sip.Message}, L{twisted.protocols.sip.Request}
and L{twisted.protocols.sip.Response} at their seams and keep Twisted's shape (a
C{headers} mapping from lower-case long header name to a list of values, a
C{toString}), while fixing what is weak there for a stateful proxy:

  - the body is C{bytes}, so C{Content-Length} counts octets;
  - comma-separated multi-value headers (Via, Route, Contact, ...) are stored one
    value per list entry, so a proxy can pop the top Via or Route without re-parsing;
  - serialisation goes straight to C{bytes} (L{Message.toBytes}) with a correct
    C{Content-Length} and no per-header string concatenation;
  - parsed header values (Via, CSeq, From/To) are cached per message: a message
    is parsed once and each structured header at most once.

Messages are built from the wire by L{keepsip.sip.parser.parseDatagram}.

Header values are C{str}: a datagram's header section is decoded as UTF-8 with
C{surrogateescape}, so any byte sequence round-trips through L{Message.toBytes}.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

from twisted.protocols import sip as _tsip

from keepsip.sip.uri import URI, AbsoluteURI, UnparsedURI

#: Compact form (RFC 3261 §7.3.3 and extensions) to long form, lower case.
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
}

#: Headers whose value is a comma-separated list (RFC 3261 §7.3.1): stored one
#: element per entry of C{Message.headers[name]}.
MULTI_VALUE_HEADERS: frozenset[str] = frozenset(
    {
        "via",
        "route",
        "record-route",
        "contact",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "path",
        "service-route",
    }
)

#: Canonical spelling of header names for serialisation where
#: C{dashCapitalize} gets it wrong.
_SPECIAL_CASES: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "rack": "RAck",
    "rseq": "RSeq",
    "mime-version": "MIME-Version",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

_nameCache: dict[str, str] = {}


#: A cached value that is not there (L{Message.cached} may cache L{None}).
_MISSING: Any = object()


def canonicalName(name: str) -> str:
    """
    Return the wire spelling of a lower-case long header name, e.g.
    C{"call-id"} -> C{"Call-ID"}.
    """
    try:
        return _nameCache[name]
    except KeyError:
        spelled = _SPECIAL_CASES.get(name) or "-".join(
            part[:1].upper() + part[1:] for part in name.split("-")
        )
        if len(_nameCache) < 4096:
            _nameCache[name] = spelled
        return spelled


def longName(name: str) -> str:
    """
    Normalise a header name as found on the wire to its lower-case long form.
    """
    lowered = name.lower()
    return COMPACT_FORMS.get(lowered, lowered)


class Message(_tsip.Message):
    """
    A SIP message with a C{bytes} body.

    @ivar headers: lower-case long header name -> list of values, in arrival
        order; multi-value headers hold one element per entry.
    @ivar body: the body octets.
    @ivar source: C{(host, port)} the message came from, or L{None} for a
        message keepsip built.
    """

    # Twisted's Message.body is str; keepsip's is the octets (Content-Length
    # counts octets), a deliberate incompatible override.
    body: bytes  # type: ignore[assignment]
    source: tuple[str, int] | None = None
    length: int | None = None

    def __init__(self) -> None:
        self.headers: OrderedDict[str, list[str]] = OrderedDict()
        self.body = b""
        self.finished = 0
        self._cache: dict[str, Any] = {}

    # -- headers ---------------------------------------------------------

    def addHeader(self, name: str, value: str) -> None:
        """
        Append C{value} to header C{name} (any spelling, compact forms allowed).
        """
        name = longName(name)
        if name == "content-length":
            # The serialiser computes Content-Length from the body.
            self.length = int(value)
        self.headers.setdefault(name, []).append(value)
        self._cache.pop(name, None)

    def header(self, name: str, default: str | None = None) -> str | None:
        """
        Return the first value of header C{name} (lower-case long form), or
        C{default}.
        """
        values = self.headers.get(name)
        if values:
            return values[0]
        return default

    def setHeader(self, name: str, value: str | Iterable[str]) -> None:
        """
        Replace every value of header C{name} (lower-case long form).
        """
        if isinstance(value, str):
            self.headers[name] = [value]
        else:
            self.headers[name] = list(value)
        self._cache.pop(name, None)

    def removeHeader(self, name: str) -> None:
        """
        Remove header C{name} (lower-case long form) if present.
        """
        self.headers.pop(name, None)
        self._cache.pop(name, None)

    def invalidate(self, name: str) -> None:
        """
        Forget the cached parsed value of header C{name}; call after changing
        C{headers[name]} in place.
        """
        self._cache.pop(name, None)

    def cached(self, name: str, parse: Any) -> Any:
        """
        Return C{parse(self)} for header C{name}, computed at most once until
        the header changes through this API.
        """
        # get, not try/except: the first read of each header on each
        # message misses, and a raised KeyError costs several times a get.
        cache = self._cache
        value = cache.get(name, _MISSING)
        if value is _MISSING:
            value = cache[name] = parse(self)
        return value

    # -- bodies ----------------------------------------------------------

    def bodyDataReceived(self, data: bytes) -> None:
        self.body += data

    def creationFinished(self) -> None:
        self.finished = 1

    # -- serialisation ---------------------------------------------------

    def startLine(self) -> str:
        raise NotImplementedError()

    def toBytes(self) -> bytes:
        """
        Serialise to wire bytes with a correct octet C{Content-Length}.
        """
        parts = [self.startLine()]
        append = parts.append
        for name, values in self.headers.items():
            if name == "content-length":
                continue
            spelled = canonicalName(name)
            for value in values:
                append(f"{spelled}: {value}")
        append(f"Content-Length: {len(self.body)}")
        append("\r\n")
        head = "\r\n".join(parts).encode("utf-8", "surrogateescape")
        return head + self.body if self.body else head

    def toString(self) -> str:
        return self.toBytes().decode("utf-8", "surrogateescape")

    def _getHeaderLine(self) -> str:
        return self.startLine()

    def copy(self) -> "Message":
        """
        Return a copy whose header lists can be changed without touching this
        message (values are immutable strings, so they are shared).
        """
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.headers = OrderedDict((k, list(v)) for k, v in self.headers.items())
        clone._cache = dict(self._cache)
        return clone


class Request(Message, _tsip.Request):
    """
    A SIP request.

    @ivar method: the method token, case-sensitive (RFC 3261 §7.1).
    @ivar uri: the Request-URI: a L{keepsip.sip.uri.URI} (C{sip}, C{sips}, or an
        opaque absolute URI for other schemes; see its C{scheme}).
    @ivar version: the SIP-Version token, normally C{"SIP/2.0"}.
    """

    # Twisted's Request holds a URL; keepsip's a URI (a URL subclass) or,
    # for other schemes, an opaque AbsoluteURI; an UnparsedURI only on the
    # message of a ParseError.
    uri: URI | AbsoluteURI | UnparsedURI  # type: ignore[assignment]

    def __init__(self, method: str, uri: URI | AbsoluteURI | UnparsedURI, version: str = "SIP/2.0") -> None:
        Message.__init__(self)
        self.method = method
        self.uri = uri
        self.version = version

    def startLine(self) -> str:
        return f"{self.method} {self.uri.toString()} {self.version}"

    def __repr__(self) -> str:
        return f"<SIP Request {self.method} {self.uri.toString()}>"


class Response(Message, _tsip.Response):
    """
    A SIP response.

    @ivar code: the status code, 100-699.
    @ivar phrase: the reason phrase (may be empty).
    """

    def __init__(
        self, code: int, phrase: str | None = None, version: str = "SIP/2.0"
    ) -> None:
        Message.__init__(self)
        self.code = code
        if phrase is None:
            phrase = _tsip.statusCodes.get(code, "")
        self.phrase = phrase
        self.version = version

    def startLine(self) -> str:
        return f"{self.version} {self.code} {self.phrase}"

    def __repr__(self) -> str:
        return f"<SIP Response {self.code} {self.phrase}>"
