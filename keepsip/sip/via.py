"""
The Via header field value (RFC 3261 §20.42, RFC 3581 C{rport}, RFC 5118
IPv6 references): L{Via} and its parser L{parseVia}.

The cached accessors L{keepsip.sip.headers.topVia} and
L{keepsip.sip.headers.vias} read a message's Via values with these.
"""

from __future__ import annotations

import re
from typing import Iterable

from twisted.protocols import sip as _tsip

from keepsip.sip.grammar import TOKEN, parseParams, splitQuoted
from keepsip.sip.uri import parsePort, splitHostPort, stripBrackets

_VIA_KNOWN = ("branch", "received", "rport", "maddr", "ttl", "hidden")

#: The Via nearly every request has: C{SIP/2.0/<transport> host[:port]}, then
#: only a token C{branch} and a bare C{rport}, no LWS. L{parseVia} reads it
#: with this one match; anything else takes the general path (same result).
_COMMON = re.compile(
    r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9_][A-Za-z0-9\-_.]*)(?::([0-9]{1,5}))?"
    r"((?:;branch=[A-Za-z0-9\-.!%*_+`'~]+|;rport)*)\Z"
)


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

    def copy(self) -> "Via":
        """
        @return: an equal L{Via} that can be changed without touching this
            one (see L{keepsip.sip.headers.sharedVia}).
        """
        clone = Via.__new__(Via)
        clone.__dict__.update(self.__dict__)
        clone.otherParams = dict(self.otherParams)
        return clone

    def __repr__(self) -> str:
        return f"<Via {self.toString()}>"


def parseVia(value: str) -> Via:
    """
    Parse one Via value (C{sent-protocol LWS sent-by *(SEMI via-params)}),
    allowing LWS around C{/}, C{:}, C{;} and C{=} as RFC 3261 does.

    @raise ValueError: if it is malformed.
    """
    common = _COMMON.match(value)
    if common is not None:
        transport, host, portText, params = common.groups()
        port = None if portText is None else int(portText)
        if port is None or port <= 65535:
            via = Via(host, port, transport)
            if params:
                order: list[str] = []
                for item in params[1:].split(";"):
                    if item == "rport":
                        if not via.rportRequested:
                            via.rportRequested = True
                            order.append("rport")
                    elif via.branch is None:
                        # The first of duplicate parameters wins.
                        via.branch = item[7:]
                        order.append("branch")
                via._order = tuple(order)
            return via
    return _parseVia(value)


def _parseVia(value: str) -> Via:
    """
    L{parseVia} for every form.
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


__all__ = ["Via", "parseVia"]
