"""
A media summary of SDP bodies (RFC 4566), enough for accounting and for the
keepalive classifier: what each m-line carries, where, how fast and in which
direction; and L{sameMedia}, the semantic equality of two session
descriptions.

Parsing is lenient: lines that are not C{x=value} and attributes keepsip
does not use are skipped; a body without m-lines describes no media. The body
is decoded as UTF-8 with replacement, since SDP text outside the attributes
used here does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b

#: Static RTP payload types (RFC 3551 table 4 and 5): number -> (encoding
#: name, clock rate, channels).
STATIC_PAYLOAD_TYPES: dict[str, tuple[str, int, int]] = {
    "0": ("PCMU", 8000, 1),
    "3": ("GSM", 8000, 1),
    "4": ("G723", 8000, 1),
    "5": ("DVI4", 8000, 1),
    "6": ("DVI4", 16000, 1),
    "7": ("LPC", 8000, 1),
    "8": ("PCMA", 8000, 1),
    "9": ("G722", 8000, 1),
    "10": ("L16", 44100, 2),
    "11": ("L16", 44100, 1),
    "12": ("QCELP", 8000, 1),
    "13": ("CN", 8000, 1),
    "14": ("MPA", 90000, 1),
    "15": ("G728", 8000, 1),
    "16": ("DVI4", 11025, 1),
    "17": ("DVI4", 22050, 1),
    "18": ("G729", 8000, 1),
    "25": ("CelB", 90000, 1),
    "26": ("JPEG", 90000, 1),
    "28": ("nv", 90000, 1),
    "31": ("H261", 90000, 1),
    "32": ("MPV", 90000, 1),
    "33": ("MP2T", 90000, 1),
    "34": ("H263", 90000, 1),
}

#: The direction attributes (RFC 4566 §6); C{sendrecv} is the default.
DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


@dataclass(frozen=True)
class Codec:
    """
    One payload format of an m-line.

    @ivar payloadType: the format token from the m-line, e.g. C{"0"}, C{"96"}.
    @ivar name: the encoding name (C{"PCMU"}, C{"opus"}), or C{""} if neither
        static nor described by C{a=rtpmap}.
    @ivar clockRate: the RTP clock rate in Hz, or 0 if unknown.
    @ivar channels: the number of channels (1 unless given).
    """

    payloadType: str
    name: str
    clockRate: int = 0
    channels: int = 1

    def describe(self) -> str:
        """
        @return: C{name/clockRate[/channels]}, or the payload type if the
            encoding is unknown.
        """
        if not self.name:
            return self.payloadType
        if self.channels != 1:
            return f"{self.name}/{self.clockRate}/{self.channels}"
        return f"{self.name}/{self.clockRate}"


@dataclass(frozen=True)
class MediaDescription:
    """
    One m-line with the session-level defaults applied.

    @ivar type: the media type, e.g. C{"audio"}, C{"video"}.
    @ivar port: the transport port; 0 means the stream is disabled.
    @ivar proto: the transport protocol, e.g. C{"RTP/AVP"}.
    @ivar formats: the format tokens in m-line order (preference order).
    @ivar codecs: a L{Codec} for each format, in the same order.
    @ivar connection: the effective C{c=} as C{"IN IP4 192.0.2.1"} (media
        level, else session level), or L{None}.
    @ivar direction: the effective direction attribute (media level, else
        session level, else C{"sendrecv"}).
    @ivar bandwidthAS: C{b=AS} in kbit/s (media level, else session level),
        or L{None}.
    @ivar bandwidthTIAS: C{b=TIAS} in bit/s (RFC 3890), or L{None}.
    @ivar ptime: C{a=ptime} in milliseconds, or L{None}.
    """

    type: str
    port: int
    proto: str
    formats: tuple[str, ...]
    codecs: tuple[Codec, ...]
    connection: str | None
    direction: str
    bandwidthAS: int | None
    bandwidthTIAS: int | None
    ptime: float | None

    @property
    def address(self) -> str | None:
        """
        The connection address alone (C{"192.0.2.1"}), or L{None}.
        """
        if self.connection is None:
            return None
        return self.connection.rsplit(" ", 1)[-1]

    @property
    def active(self) -> bool:
        """
        Whether media can flow on this stream at all.
        """
        return self.port != 0 and self.direction != "inactive"

    def identity(self) -> tuple:
        """
        What makes two m-lines the same media for L{sameMedia}.
        """
        return (
            self.type,
            self.port,
            self.proto,
            self.formats,
            tuple(codec.describe().lower() for codec in self.codecs),
            self.connection,
            self.direction,
        )

    def summary(self) -> dict:
        """
        @return: a JSON-compatible mapping for call records.
        """
        bandwidth: dict[str, int] = {}
        if self.bandwidthAS is not None:
            bandwidth["AS"] = self.bandwidthAS
        if self.bandwidthTIAS is not None:
            bandwidth["TIAS"] = self.bandwidthTIAS
        return {
            "type": self.type,
            "port": self.port,
            "proto": self.proto,
            "address": self.address,
            "direction": self.direction,
            "codecs": [codec.describe() for codec in self.codecs],
            "bandwidth": bandwidth,
        }


@dataclass(frozen=True)
class SessionDescription:
    """
    The parts of an SDP body keepsip uses.

    @ivar media: the m-lines, in order.
    """

    media: tuple[MediaDescription, ...]


_EMPTY = SessionDescription(media=())


def _parseBandwidth(value: str) -> tuple[str, int] | None:
    bwtype, sep, amount = value.partition(":")
    if not sep:
        return None
    try:
        return bwtype.strip().upper(), int(amount.strip())
    except ValueError:
        return None


class _MediaBuilder:
    """
    The attributes of one m-line while it is being parsed.
    """

    def __init__(self, fields: list[str]) -> None:
        self.type = fields[0]
        portField = fields[1].split("/", 1)[0] if len(fields) > 1 else "0"
        try:
            self.port = int(portField)
        except ValueError:
            self.port = 0
        self.proto = fields[2] if len(fields) > 2 else ""
        self.formats = tuple(fields[3:])
        self.connection: str | None = None
        self.direction: str | None = None
        self.bandwidth: dict[str, int] = {}
        self.rtpmap: dict[str, Codec] = {}
        self.ptime: float | None = None

    def build(
        self,
        connection: str | None,
        direction: str | None,
        bandwidth: dict[str, int],
    ) -> MediaDescription:
        codecs = []
        isRTP = "RTP" in self.proto.upper()
        for fmt in self.formats:
            codec = self.rtpmap.get(fmt)
            if codec is None:
                static = STATIC_PAYLOAD_TYPES.get(fmt) if isRTP else None
                if static is not None:
                    codec = Codec(fmt, static[0], static[1], static[2])
                else:
                    codec = Codec(fmt, "")
            codecs.append(codec)
        return MediaDescription(
            type=self.type,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            codecs=tuple(codecs),
            connection=self.connection or connection,
            direction=self.direction or direction or "sendrecv",
            bandwidthAS=self.bandwidth.get("AS", bandwidth.get("AS")),
            bandwidthTIAS=self.bandwidth.get("TIAS", bandwidth.get("TIAS")),
            ptime=self.ptime,
        )


def _parseRtpmap(value: str) -> Codec | None:
    # a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]
    pt, _, encoding = value.partition(" ")
    parts = encoding.strip().split("/")
    if not pt or not parts[0]:
        return None
    try:
        clockRate = int(parts[1]) if len(parts) > 1 else 0
        channels = int(parts[2]) if len(parts) > 2 and parts[2] else 1
    except ValueError:
        return None
    return Codec(pt, parts[0], clockRate, channels)


def parseSDP(body: bytes) -> SessionDescription:
    """
    Summarise an SDP body.

    @param body: the body octets; empty or non-SDP bodies give no media.
    @return: a L{SessionDescription}.
    """
    if not body:
        return _EMPTY
    text = body.decode("utf-8", "replace")
    sessionConnection: str | None = None
    sessionDirection: str | None = None
    sessionBandwidth: dict[str, int] = {}
    builders: list[_MediaBuilder] = []
    current: _MediaBuilder | None = None
    for line in text.splitlines():
        if len(line) < 2 or line[1] != "=":
            continue
        kind = line[0]
        value = line[2:].strip()
        if kind == "m":
            fields = value.split()
            if not fields:
                current = None
                continue
            current = _MediaBuilder(fields)
            builders.append(current)
        elif kind == "c":
            connection = " ".join(value.split())
            if current is None:
                sessionConnection = connection
            else:
                current.connection = connection
        elif kind == "b":
            parsed = _parseBandwidth(value)
            if parsed is not None:
                target = sessionBandwidth if current is None else current.bandwidth
                target[parsed[0]] = parsed[1]
        elif kind == "a":
            name, _, attrValue = value.partition(":")
            if name in DIRECTIONS:
                if current is None:
                    sessionDirection = name
                else:
                    current.direction = name
            elif current is None:
                continue
            elif name == "rtpmap":
                codec = _parseRtpmap(attrValue)
                if codec is not None:
                    current.rtpmap[codec.payloadType] = codec
            elif name == "ptime":
                try:
                    current.ptime = float(attrValue)
                except ValueError:
                    pass
    if not builders:
        return _EMPTY
    return SessionDescription(
        media=tuple(
            builder.build(sessionConnection, sessionDirection, sessionBandwidth)
            for builder in builders
        )
    )


def mediaSummary(body: bytes) -> list[dict]:
    """
    @return: a JSON-compatible summary of each m-line of C{body} (see
        L{MediaDescription.summary}).
    """
    return [media.summary() for media in parseSDP(body).media]


def sameMedia(sdpA: bytes, sdpB: bytes) -> bool:
    """
    Whether two SDP bodies describe the same media session.

    Compared, per m-line in order: media type, port, transport protocol,
    format list, the codec behind each format, the effective connection
    (C{c=}, media level else session level) and the effective direction
    attribute. Ignored: C{o=} (version and session id change on every
    re-offer), C{s=}, C{t=}, bandwidth, attribute order and other
    attributes. Two bodies without media are the same media.
    """
    if sdpA == sdpB:
        return True
    mediaA = parseSDP(sdpA).media
    mediaB = parseSDP(sdpB).media
    if len(mediaA) != len(mediaB):
        return False
    return all(a.identity() == b.identity() for a, b in zip(mediaA, mediaB))


def _mediaDigest(description: SessionDescription) -> bytes:
    # What sameMedia compares, per m-line in order, hashed.
    identity = repr(tuple(media.identity() for media in description.media))
    return blake2b(identity.encode(), digest_size=16).digest()


#: The last body parsed by L{parseShared}, the parser, and what it gave.
_lastParsed: tuple[bytes, object, SessionDescription] = (b"", None, _EMPTY)


def parseShared(
    body: bytes, parse: Callable[[bytes], SessionDescription] | None = None
) -> SessionDescription:
    """
    L{parseSDP} (or C{parse}), but the same body object parsed twice in a
    row (the offer of a call being answered: digested by the dialog
    tracker, then estimated by accounting) is parsed once. Callers must
    not change the result.
    """
    global _lastParsed
    parse = parse or parseSDP
    last = _lastParsed
    if last[0] is body and last[1] is parse:
        return last[2]
    parsed = parse(body)
    _lastParsed = (body, parse, parsed)
    return parsed


def offerDigest(body: bytes) -> bytes:
    """
    What a dialog keeps of an offer instead of its body, to tell a
    keepalive (L{matchesOffer}): 32 octets, a BLAKE2b digest of the body
    (the same octets: no parsing) then one of its media as L{sameMedia}
    compares them; C{b""} for no body.
    """
    if not body:
        return b""
    return blake2b(body, digest_size=16).digest() + _mediaDigest(parseShared(body))


def matchesOffer(body: bytes, digest: bytes) -> bool:
    """
    L{sameMedia} of C{body} and the offer whose L{offerDigest} is
    C{digest}.
    """
    if not digest:
        return sameMedia(body, b"")
    if blake2b(body, digest_size=16).digest() == digest[:16]:
        return True
    return _mediaDigest(parseSDP(body)) == digest[16:]
