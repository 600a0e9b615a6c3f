"""
The shared grammar of SIP header values (RFC 3261 §25.1, §7.3.1): tokens,
quoted-strings, comma-separated lists and C{;name=value} generic parameters.

Every header value type (L{keepsip.sip.via}, L{keepsip.sip.nameaddr},
L{keepsip.sip.headers}) and the parser build on these; nothing here knows a
particular header.
"""

from __future__ import annotations

import re
from typing import Iterable

#: A token (RFC 3261 §25.1), matched against a whole string.
TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
#: A quoted-string with quoted-pairs, matched from its opening quote.
QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
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
            match = QUOTED_STRING.match(text, i)
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
                match = QUOTED_STRING.match(value, i)
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
                match = QUOTED_STRING.match(value)
                if match is None or match.end() != len(value):
                    raise ValueError(f"bad quoted parameter value: {item!r}")
            elif _BAD_GEN_VALUE.search(value):
                raise ValueError(f"bad parameter value: {item!r}")
            params.setdefault(lowered, value)
        else:
            params.setdefault(lowered, None)
    return params


def formatParams(params: dict[str, str | None]) -> str:
    """
    @return: C{params} written back as C{;name} / C{;name=value}, in order
        (the inverse of L{parseParams}).
    """
    return "".join(
        f";{name}" if value is None else f";{name}={value}"
        for name, value in params.items()
    )


__all__ = [
    "QUOTED_STRING",
    "TOKEN",
    "formatParams",
    "parseParams",
    "splitList",
    "splitQuoted",
]
