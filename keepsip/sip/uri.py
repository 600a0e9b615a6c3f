"""
SIP and other URIs as found in Request-URIs and name-addr header values.

L{parseURI} turns the text of a URI into a L{URI} (schemes C{sip} and C{sips},
RFC 3261 §19.1) or an L{AbsoluteURI} (any other scheme, kept opaque). Both
serialise back with C{toString()} and compare by the RFC 3261 §19.1.4 rules
approximated in L{URI.key}.

Parts are kept in their escaped form, exactly as on the wire (C{%00} stays
C{%00}); only L{URI.key} unescapes, for comparison.

IPv6 references keep their brackets in L{URI.host} (C{"[2001:db8::10]"}) so a
URI serialises unchanged; L{URI.hostAddress} gives the bare address for
sockets. Inside the brackets any mix of hex digits, colons and dots is
accepted, so the RFC 5118 §4.10 three-colon form is tolerated.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes

from twisted.protocols import sip as _tsip

from keepsip.sip.address import stripBrackets

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# Whitespace, controls and the characters that delimit a URI in a header.
_BAD_ANYWHERE = re.compile(r'[\x00-\x20\x7f<>"]')
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9\-_.]*)\Z")
_IPV6_INNER = re.compile(r"[0-9A-Fa-f:.]+\Z")
_PARAM_NAME = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+\Z")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*\Z")
# Header values: paramchars plus "?" and, leniently, a raw "@".
_HEADER_VALUE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%?@]*\Z")
_USERINFO_BAD = re.compile(r"[@\[\]]")

#: Parameters whose presence in either URI matters for §19.1.4 comparison.
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _unescape(text: str | None) -> bytes | None:
    if text is None:
        return None
    if "%" not in text:
        return text.encode("utf-8", "surrogateescape")
    return unquote_to_bytes(text)


def parsePort(text: str) -> int:
    """
    Parse a port number: 1 to 5 ASCII digits, at most 65535.

    @raise ValueError: for anything else.
    """
    if not text or len(text) > 5 or not (text.isascii() and text.isdigit()):
        raise ValueError(f"bad port: {text!r}")
    port = int(text)
    if port > 65535:
        raise ValueError(f"port out of range: {port}")
    return port


def splitHostPort(text: str) -> tuple[str, int | None]:
    """
    Split C{host[:port]} (an RFC 3261 C{hostport}).

    IPv6 references must be bracketed and keep their brackets in the result;
    C{"2001:db8::10"} without brackets is rejected (RFC 5118 §4.2).

    @return: C{(host, port)}, C{port} being L{None} if absent.
    @raise ValueError: if the host or port is malformed or empty.
    """
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unterminated IPv6 reference: {text!r}")
        host = text[: end + 1]
        inner = host[1:-1]
        if ":" not in inner or not _IPV6_INNER.match(inner):
            raise ValueError(f"bad IPv6 reference: {host!r}")
        tail = text[end + 1 :]
        if tail:
            if tail[0] != ":":
                raise ValueError(f"junk after IPv6 reference: {text!r}")
            port = parsePort(tail[1:])
        return host, port
    colon = text.find(":")
    if colon >= 0:
        host = text[:colon]
        port = parsePort(text[colon + 1 :])
    else:
        host = text
    if not _HOSTNAME.match(host):
        raise ValueError(f"bad host: {host!r}")
    return host, port


def _paramProperty(name: str, convert: Callable[[str], Any] | None = None) -> Any:
    """
    A property mapping a Twisted C{URL} attribute onto C{URI.params[name]}.
    """

    def get(self: "URI") -> Any:
        value = self.params.get(name)
        if value is not None and convert is not None:
            return convert(value)
        return value

    def set(self: "URI", value: Any) -> None:
        if value is None:
            self.params.pop(name, None)
        else:
            self.params[name] = str(value)

    return property(get, set)


class URI(_tsip.URL):
    """
    A C{sip:} or C{sips:} URI (RFC 3261 §19.1).

    Extends L{twisted.protocols.sip.URL}; Twisted's C{username}, C{transport},
    C{maddr}, C{ttl}, C{usertype}, C{method}, C{tag} and C{other} attributes are
    views onto L{user} and L{params}.

    @ivar scheme: C{"sip"} or C{"sips"} (lower case).
    @ivar user: the user part, escaped as on the wire (it may contain C{;},
        RFC 4475 semiuri), or L{None}.
    @ivar password: the password, escaped, or L{None}.
    @ivar host: host name, IPv4 address or bracketed IPv6 reference.
    @ivar port: the port, or L{None} if absent.
    @ivar params: URI parameters in order: lower-case name -> value (escaped)
        or L{None} for a parameter without value.
    @ivar headers: the C{?name=value&...} part as a list of C{(name, value)},
        escaped, in order.
    """

    def __init__(
        self,
        host: str,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: Iterable[tuple[str, str]] | None = None,
        scheme: str = "sip",
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params: dict[str, str | None] = {} if params is None else dict(params)
        self.uriHeaders: list[tuple[str, str]] = list(headers or ())

    # Twisted's URL.headers is a dict; ours is the ordered list.
    @property  # type: ignore[override]
    def headers(self) -> list[tuple[str, str]]:
        return self.uriHeaders

    @headers.setter
    def headers(self, value: Iterable[tuple[str, str]]) -> None:
        if isinstance(value, dict):
            value = value.items()
        self.uriHeaders = list(value)

    # -- Twisted URL compatibility ----------------------------------------

    @property
    def username(self) -> str | None:
        return self.user

    @username.setter
    def username(self, value: str | None) -> None:
        self.user = value

    transport = _paramProperty("transport")
    maddr = _paramProperty("maddr")
    ttl = _paramProperty("ttl", int)
    usertype = _paramProperty("user")
    method = _paramProperty("method")
    tag = _paramProperty("tag")

    # Read-only here: Twisted's URL stores it, keepsip derives it from params.
    @property
    def other(self) -> list[str]:  # type: ignore[override]
        """
        Twisted's view: parameters other than the ones with attributes, as
        C{"name"} or C{"name=value"} strings.
        """
        known = ("transport", "maddr", "ttl", "user", "method", "tag")
        return [
            name if value is None else f"{name}={value}"
            for name, value in self.params.items()
            if name not in known
        ]

    # -- ours -------------------------------------------------------------

    @property
    def hostAddress(self) -> str:
        """
        The host without IPv6 brackets, for socket calls.
        """
        return stripBrackets(self.host)

    def toString(self) -> str:
        """
        Serialise to URI text.
        """
        parts = [self.scheme, ":"]
        append = parts.append
        if self.user is not None:
            append(self.user)
            if self.password is not None:
                append(":")
                append(self.password)
            append("@")
        append(self.host)
        if self.port is not None:
            append(f":{self.port}")
        for name, value in self.params.items():
            append(f";{name}" if value is None else f";{name}={value}")
        if self.uriHeaders:
            append("?")
            append("&".join(f"{name}={value}" for name, value in self.uriHeaders))
        return "".join(parts)

    def copy(self) -> "URI":
        """
        Return an independent copy (its params and headers can be changed).
        """
        return URI(
            self.host,
            self.user,
            self.password,
            self.port,
            self.params,
            self.uriHeaders,
            self.scheme,
        )

    def key(self) -> tuple[object, ...]:
        """
        The comparison form of RFC 3261 §19.1.4: scheme, unescaped user and
        password (case-sensitive), host (case-insensitive), port (absent is
        not 5060), the C{user}/C{ttl}/C{method}/C{maddr}/C{transport}
        parameters, every other parameter, and the headers (names
        case-insensitive, values unescaped).

        This is stricter than §19.1.4 in one respect: §19.1.4 ignores an
        unknown parameter present in only one URI; here every parameter counts.
        """
        params = tuple(
            sorted(
                (name, None if value is None else value.lower())
                for name, value in self.params.items()
            )
        )
        headers = tuple(
            sorted((name.lower(), _unescape(value)) for name, value in self.uriHeaders)
        )
        return (
            self.scheme,
            _unescape(self.user),
            _unescape(self.password),
            self.host.lower(),
            self.port,
            params,
            headers,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, URI):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"<URI {self.toString()}>"


class AbsoluteURI:
    """
    A URI of a scheme other than C{sip}/C{sips} (C{tel:}, C{http:}, ...),
    kept opaque. It has no host.

    @ivar scheme: the scheme, lower case.
    @ivar opaque: everything after the first colon, as on the wire.
    """

    def __init__(self, scheme: str, opaque: str) -> None:
        self.scheme = scheme
        self.opaque = opaque

    def toString(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    __str__ = toString

    def key(self) -> tuple[str, str]:
        return (self.scheme, self.opaque)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteURI):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"<AbsoluteURI {self.toString()}>"


class UnparsedURI:
    """
    The raw text of a Request-URI that did not parse; only found on the
    C{message} of a L{keepsip.sip.parser.ParseError}, so that an error
    response can still be built and the message logged.
    """

    scheme = ""

    def __init__(self, text: str) -> None:
        self.text = text

    def toString(self) -> str:
        return self.text

    __str__ = toString

    def __repr__(self) -> str:
        return f"<UnparsedURI {self.text!r}>"


def parseURI(text: str) -> URI | AbsoluteURI:
    """
    Parse URI text (no surrounding C{<>}, no whitespace).

    @return: a L{URI} for C{sip:}/C{sips:}, else an L{AbsoluteURI}.
    @raise ValueError: for malformed input: whitespace or control characters,
        a bad scheme, an empty or malformed host, an unbracketed IPv6
        address, a port out of range, an empty parameter name.
    """
    colon = text.find(":")
    if colon <= 0:
        raise ValueError(f"no scheme: {text!r}")
    scheme = text[:colon]
    if not _SCHEME.match(scheme):
        raise ValueError(f"bad scheme: {scheme!r}")
    if _BAD_ANYWHERE.search(text):
        raise ValueError(f"illegal character in URI: {text!r}")
    scheme = scheme.lower()
    rest = text[colon + 1 :]
    if scheme != "sip" and scheme != "sips":
        if not rest:
            raise ValueError(f"empty URI: {text!r}")
        return AbsoluteURI(scheme, rest)

    user = password = None
    # The user part and password cannot hold a raw "@" (RFC 3261 §25.1), so
    # the first one ends the userinfo.
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        if _USERINFO_BAD.search(userinfo):
            raise ValueError(f"bad user part: {userinfo!r}")
        c = userinfo.find(":")
        if c >= 0:
            user, password = userinfo[:c], userinfo[c + 1 :]
        else:
            user = userinfo
        if not user:
            raise ValueError(f"empty user part: {text!r}")

    headers: list[tuple[str, str]] = []
    q = rest.find("?")
    if q >= 0:
        for item in rest[q + 1 :].split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq or not _PARAM_NAME.match(name):
                raise ValueError(f"bad URI header: {item!r}")
            if not _HEADER_VALUE.match(value):
                raise ValueError(f"bad URI header value: {item!r}")
            headers.append((name, value))
        rest = rest[:q]

    params: dict[str, str | None] = {}
    semi = rest.find(";")
    if semi >= 0:
        for item in rest[semi + 1 :].split(";"):
            name, eq, value = item.partition("=")
            if not _PARAM_NAME.match(name):
                raise ValueError(f"bad URI parameter: {item!r}")
            if eq:
                if not value or not _PARAM_VALUE.match(value):
                    raise ValueError(f"bad URI parameter value: {item!r}")
                params[name.lower()] = value
            else:
                params[name.lower()] = None
        rest = rest[:semi]

    host, port = splitHostPort(rest)
    return URI(host, user, password, port, params, headers, scheme)
