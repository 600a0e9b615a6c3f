"""
The C{name-addr} / C{addr-spec} value of From, To, Contact, Route,
Record-Route, ... (RFC 3261 §20): L{NameAddr}.

Its parser, L{keepsip.sip.headers.parseNameAddr}, lives with the cached
accessors that use it.
"""

from __future__ import annotations

import re

from keepsip.sip.grammar import formatParams
from keepsip.sip.uri import URI, AbsoluteURI

# Characters escaped when a display name is written as a quoted-string.
_NEEDS_ESCAPE = re.compile(r'(["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f])')
_CRLF = re.compile(r"[\r\n]")


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
            return "*" + formatParams(self.params)
        text = f"<{self.uri.toString()}>"
        if self.displayName is not None:
            escaped = _NEEDS_ESCAPE.sub(r"\\\1", _CRLF.sub(" ", self.displayName))
            text = f'"{escaped}" {text}'
        if self.params:
            text += formatParams(self.params)
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


__all__ = ["NameAddr"]
