"""
SDP for a media relay: which streams an offer or answer describes and where
each endpoint wants its RTP and RTCP (L{relayStreams}), and the same body
rewritten so that both ends send their media to the relay (L{rewriteSDP}).

What is rewritten: every C{c=} line (session and media level) gets the
relay's address, with C{IN IP4} or C{IN IP6} after its family, except an
unspecified address (C{0.0.0.0}, C{::}: the RFC 2543 way of putting the other
side on hold), which stays; the port of each relayed m-line; C{a=rtcp} (port,
and address when it has one). ICE attributes (C{a=candidate}, C{a=ice-*},
C{a=remote-candidates}, C{a=end-of-candidates}) are removed: candidates
would let the endpoints find a path around the relay. Streams with port 0 are
left as they are. Every other line, C{o=} included, is kept octet for octet
with its line ending.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from keepsip.media.model import UnsupportedSDP
from keepsip.sip.sdp import DIRECTIONS

_ICE_ATTRIBUTES = (
    b"candidate",
    b"remote-candidates",
    b"end-of-candidates",
    b"ice-ufrag",
    b"ice-pwd",
    b"ice-options",
    b"ice-lite",
    b"ice-mismatch",
)


@dataclass(frozen=True)
class RelayStream:
    """
    One m-line as a relay sees it.

    @ivar index: its position among the m-lines, from 0.
    @ivar mediaType: C{audio}, C{video}, ...
    @ivar port: where the endpoint receives RTP; 0 if the stream is disabled.
    @ivar proto: the transport protocol, e.g. C{RTP/AVP}.
    @ivar address: the effective connection address (media level, else
        session level), an IP literal; L{None} only for a disabled stream.
    @ivar family: L{socket.AF_INET} or L{socket.AF_INET6} (of C{address}).
    @ivar rtcpPort: where the endpoint receives RTCP (C{a=rtcp}, else port+1).
    @ivar rtcpAddress: the address of C{a=rtcp} if it names one, else
        C{address}.
    @ivar rtcpMux: whether the m-line carries C{a=rtcp-mux}.
    @ivar direction: the effective direction attribute.
    """

    index: int
    mediaType: str
    port: int
    proto: str
    address: str | None
    family: int
    rtcpPort: int
    rtcpAddress: str | None
    rtcpMux: bool
    direction: str

    @property
    def disabled(self) -> bool:
        """
        Whether the stream is refused or removed (port 0).
        """
        return self.port == 0

    @property
    def unspecified(self) -> bool:
        """
        Whether its address is C{0.0.0.0} or C{::} (old-style hold).
        """
        return self.address is not None and ipaddress.ip_address(self.address).is_unspecified

    def sends(self) -> bool:
        """
        Whether the endpoint that wrote this m-line says it sends media.
        """
        return not self.disabled and self.direction in ("sendrecv", "sendonly")

    def receives(self) -> bool:
        """
        Whether the endpoint that wrote this m-line wants to receive media.
        """
        return (
            not self.disabled
            and not self.unspecified
            and self.direction in ("sendrecv", "recvonly")
        )


def _parseAddress(value: bytes) -> tuple[str, int]:
    """
    @param value: a C{c=} value, C{IN IP4 192.0.2.1}.
    @return: the address and its family.
    @raise UnsupportedSDP: anything but a unicast IP literal of the family
        it claims.
    """
    fields = value.split()
    if len(fields) != 3 or fields[0] != b"IN" or fields[1] not in (b"IP4", b"IP6"):
        raise UnsupportedSDP(f"unsupported connection line c={value!r}")
    try:
        address = ipaddress.ip_address(fields[2].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise UnsupportedSDP(f"connection address is not an IP address: c={value!r}") from None
    expected = 4 if fields[1] == b"IP4" else 6
    if address.version != expected or address.is_multicast:
        raise UnsupportedSDP(f"unsupported connection address c={value!r}")
    family = socket.AF_INET if expected == 4 else socket.AF_INET6
    return str(address), family


class _Builder:
    def __init__(self, index: int, fields: list[bytes]) -> None:
        self.index = index
        self.mediaType = fields[0].decode("ascii", "replace")
        portField = fields[1] if len(fields) > 1 else b""
        if b"/" in portField:
            raise UnsupportedSDP(f"port counts are not supported: m={b' '.join(fields)!r}")
        try:
            self.port = int(portField)
        except ValueError:
            raise UnsupportedSDP(f"bad port in m={b' '.join(fields)!r}") from None
        if not 0 <= self.port <= 65535:
            raise UnsupportedSDP(f"bad port in m={b' '.join(fields)!r}")
        self.proto = fields[2].decode("ascii", "replace") if len(fields) > 2 else ""
        self.connection: tuple[str, int] | None = None
        self.rtcp: tuple[int, tuple[str, int] | None] | None = None
        self.rtcpMux = False
        self.direction: str | None = None

    def build(self, connection: tuple[str, int] | None, direction: str | None) -> RelayStream:
        effective = self.connection or connection
        if self.port != 0:
            if effective is None:
                raise UnsupportedSDP(f"m-line {self.index} has no connection address")
            if "TCP" in self.proto.upper():
                raise UnsupportedSDP(f"m-line {self.index}: {self.proto} is not relayed over UDP")
        address, family = effective if effective is not None else (None, socket.AF_INET)
        rtcpPort = self.port + 1 if self.port else 0
        rtcpAddress = address
        if self.rtcp is not None:
            rtcpPort = self.rtcp[0]
            if self.rtcp[1] is not None:
                rtcpAddress = self.rtcp[1][0]
        return RelayStream(
            index=self.index,
            mediaType=self.mediaType,
            port=self.port,
            proto=self.proto,
            address=address,
            family=family,
            rtcpPort=rtcpPort,
            rtcpAddress=rtcpAddress,
            rtcpMux=self.rtcpMux,
            direction=self.direction or direction or "sendrecv",
        )


def _lines(body: bytes) -> list[bytes]:
    # Keeps each line's ending (CRLF, LF) so a rewrite changes nothing else.
    return body.splitlines(keepends=True)


def _content(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def relayStreams(body: bytes) -> tuple[RelayStream, ...]:
    """
    The streams of an SDP body.

    @param body: the SDP octets; a body without m-lines has no streams.
    @return: one L{RelayStream} per m-line, in order.
    @raise UnsupportedSDP: if a stream that is not disabled cannot be
        relayed over UDP (no or unusable connection address, a port count,
        a TCP transport).
    """
    sessionConnection: tuple[str, int] | None = None
    sessionDirection: str | None = None
    builders: list[_Builder] = []
    current: _Builder | None = None
    for raw in _lines(body):
        line = _content(raw)
        if len(line) < 2 or line[1:2] != b"=":
            continue
        kind, value = line[:1], line[2:].strip()
        if kind == b"m":
            fields = value.split()
            if not fields:
                raise UnsupportedSDP("empty m-line")
            current = _Builder(len(builders), fields)
            builders.append(current)
        elif kind == b"c":
            connection = _parseAddress(value)
            if current is None:
                sessionConnection = connection
            else:
                current.connection = connection
        elif kind == b"a":
            name, _, attrValue = value.partition(b":")
            text = name.decode("ascii", "replace")
            if text in DIRECTIONS:
                if current is None:
                    sessionDirection = text
                else:
                    current.direction = text
            elif current is None:
                continue
            elif name == b"rtcp-mux":
                current.rtcpMux = True
            elif name == b"rtcp":
                current.rtcp = _parseRtcp(attrValue)
    return tuple(b.build(sessionConnection, sessionDirection) for b in builders)


def _parseRtcp(value: bytes) -> tuple[int, tuple[str, int] | None]:
    # a=rtcp:<port> [IN IP4 <address>] (RFC 3605)
    fields = value.split(None, 1)
    try:
        port = int(fields[0]) if fields else -1
    except ValueError:
        port = -1
    if not 0 < port <= 65535:
        raise UnsupportedSDP(f"bad a=rtcp:{value!r}")
    if len(fields) == 1:
        return port, None
    return port, _parseAddress(fields[1])


def _addressType(address: str) -> bytes:
    return b"IP6" if ":" in address else b"IP4"


def _isUnspecified(value: bytes) -> bool:
    fields = value.split()
    return len(fields) == 3 and fields[2] in (b"0.0.0.0", b"::")


def rewriteSDP(
    body: bytes, address: str, ports: Sequence[tuple[int, int] | None]
) -> bytes:
    """
    The body with the relay in the media path.

    @param body: SDP octets that L{relayStreams} accepted.
    @param address: the relay's address (an IPv4 or IPv6 literal) the other
        side must send to.
    @param ports: per m-line, the relay's C{(rtpPort, rtcpPort)} for it, or
        L{None} to leave the m-line's port and C{a=rtcp} as they are (a
        disabled stream).
    @return: the rewritten octets.
    """
    addressType = _addressType(address)
    relayAddress = address.encode("ascii")
    out: list[bytes] = []
    index = -1
    for raw in _lines(body):
        line = _content(raw)
        ending = raw[len(line):]
        kind = line[:2]
        if kind == b"m=":
            index += 1
            pair = ports[index] if index < len(ports) else None
            if pair is not None:
                fields = line[2:].split(b" ")
                fields[1] = str(pair[0]).encode("ascii")
                line = b"m=" + b" ".join(fields)
        elif kind == b"c=":
            if not _isUnspecified(line[2:]):
                line = b"c=IN " + addressType + b" " + relayAddress
        elif kind == b"a=":
            name, _, _value = line[2:].partition(b":")
            if name in _ICE_ATTRIBUTES:
                continue
            if name == b"rtcp" and index >= 0:
                pair = ports[index] if index < len(ports) else None
                if pair is not None:
                    hasAddress = len(_value.split()) > 1
                    line = b"a=rtcp:" + str(pair[1]).encode("ascii")
                    if hasAddress:
                        line += b" IN " + addressType + b" " + relayAddress
        out.append(line + ending)
    return b"".join(out)


def expectsMedia(own: Sequence[RelayStream], other: Sequence[RelayStream] | None) -> bool:
    """
    Whether the side that wrote C{own} is expected to send media: on some
    stream that neither side disabled, its own SDP says it sends and the
    other side's SDP (if there is one yet) says it receives.

    @param own: the side's last SDP, as L{relayStreams}.
    @param other: the other side's last SDP, or L{None} before it has one.
    """
    for stream in own:
        if not stream.sends():
            continue
        if other is None:
            return True
        if stream.index < len(other) and other[stream.index].receives():
            return True
    return False
