"""
L{SentResponse}: what a transaction keeps of a final response once it only
absorbs or answers retransmissions; L{KeptRequest}: what a proxy keeps of a
request it has already answered, for the rare message that still needs it.

A parsed response is a tree of header lists, URIs and name-addrs, some 4 KB
for a 200 with SDP; a transaction waiting out its RFC 3261 timer (32 s)
needs none of it: the status code (users ask whether a final response went
out), and, where the state answers a retransmitted request, the bytes to
send again.
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram

#: The attributes read from the parsed bytes on first access.
_PARSED = frozenset({"headers", "body", "finished", "_cache"})

#: The same for a request: its Request-URI too.
_PARSED_REQUEST = _PARSED | {"uri"}


#: Distinct status lines kept shared at most (reason phrases come from the
#: network).
_STATUS_ONLY_MAX = 64

_statusOnly: dict[tuple[int, str, str], "SentResponse"] = {}


class SentResponse(Response):
    """
    A response already sent, kept as its status line and, if it may be sent
    again, its encoded bytes.

    It is a L{Response}: sending it writes the kept bytes as they are; its
    C{headers} and C{body} are parsed from them on first reading (tests and
    diagnostics; the per-message path reads only C{code}).

    @ivar code: the status code.
    @ivar phrase: the reason phrase.
    @ivar data: the encoded response, or L{None} if the transaction never
        sends it again (an INVITE transaction in Accepted or Confirmed).
    """

    def __new__(cls, response: Response, keepBytes: bool) -> "SentResponse":
        # Without its bytes it is only its status line: one object per
        # status line, shared (every answered INVITE's server transaction
        # keeps one for its 32 s in Accepted).
        if keepBytes:
            return super().__new__(cls)
        key = (response.code, response.phrase, response.version)
        shared = _statusOnly.get(key)
        if shared is None:
            shared = super().__new__(cls)
            if len(_statusOnly) < _STATUS_ONLY_MAX:
                _statusOnly[key] = shared
        return shared

    def __init__(self, response: Response, keepBytes: bool) -> None:
        # No Message.__init__: no header dict unless it is read. (A shared
        # status-only one gets the same values again.)
        self.code = response.code
        self.phrase = response.phrase
        self.version = response.version
        self.data: bytes | None = response.toBytes() if keepBytes else None

    def toBytes(self) -> bytes:
        """
        @return: the bytes the response was sent as.
        @raise ValueError: if they were not kept.
        """
        if self.data is None:
            raise ValueError(f"the bytes of this {self.code} response were not kept")
        return self.data

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set: the parsed parts.
        if name not in _PARSED or self.data is None:
            raise AttributeError(name)
        parsed = parseDatagram(self.data)
        self.__dict__.update(
            headers=parsed.headers, body=parsed.body, finished=1, _cache={}
        )
        return self.__dict__[name]


class KeptRequest(Request):
    """
    A request kept as its method, source and encoded bytes, parsed again on
    the first reading of anything else.

    A proxied INVITE's response context outlives its 2xx by 64*T1 (32 s),
    the RFC 6026 Accepted state, in case the 2xx is retransmitted or a fork
    answers too; at 200 calls/s that is 6,400 parsed INVITEs (header lists,
    URIs, name-addrs: some 3 KB each) kept for messages that seldom come.
    This keeps one C{bytes} instead (about a third of that, and in one
    block the allocator can give back), and is the full parsed request again
    when one of them does come.

    @ivar method: the method.
    @ivar version: the SIP-Version token.
    @ivar source: where the request came from (as on the original).
    @ivar data: the encoded request.
    """

    def __init__(self, request: Request) -> None:
        # No Message.__init__: no header dict unless it is read.
        self.method = request.method
        self.version = request.version
        self.source = request.source
        self.data = request.toBytes()

    def toBytes(self) -> bytes:
        """
        @return: the kept bytes.
        """
        return self.data

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set: the parsed parts.
        if name not in _PARSED_REQUEST:
            raise AttributeError(name)
        parsed = parseDatagram(self.data, self.source)
        assert isinstance(parsed, Request)
        self.__dict__.update(
            headers=parsed.headers, body=parsed.body, uri=parsed.uri, finished=1, _cache={}
        )
        return self.__dict__[name]
