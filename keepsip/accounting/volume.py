"""
Media volume: how many octets a call's media moved, measured by a media relay
or estimated from its SDP.

An estimate counts IP packets on the wire: RTP payload plus
L{PACKET_OVERHEAD} octets of IPv4 (20) + UDP (8) + RTP (12) headers per
packet, for each direction in which media flows. The rate of one direction
(octets per second) is, in this order of preference:

  1. C{b=TIAS} (RFC 3890, payload bit/s without headers) of the receiving
     side's SDP, plus the header overhead at the stream's packet rate;
  2. C{b=AS} (kbit/s, which RFC 4566 counts with headers) of the receiving
     side's SDP, taken as is;
  3. the negotiated codec (the first format of the answer that is not
     comfort noise or DTMF) looked up in L{CODEC_BITRATES};
  4. otherwise 0, reported as source C{"unknown"}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keepsip.sip.sdp import MediaDescription, SessionDescription

#: IPv4 (20) + UDP (8) + RTP (12) header octets per RTP packet.
PACKET_OVERHEAD = 40

#: Payload octets of one packet when a codec has no packet interval (video):
#: used to count packets, and so headers, of video streams.
VIDEO_PACKET_PAYLOAD = 1200

#: Encoding name (lower case) -> (payload bit/s, default packet interval in ms
#: or L{None} for video, which packetises by size). Variable-rate codecs get a
#: typical rate: opus 32 kbit/s (wideband voice), H.264/VP8/VP9 512 kbit/s
#: (a VGA video call), H.263 256 kbit/s. C{b=AS}/C{b=TIAS} override these.
CODEC_BITRATES: dict[str, tuple[int, float | None]] = {
    "pcmu": (64000, 20),
    "pcma": (64000, 20),
    "g722": (64000, 20),
    "g729": (8000, 20),
    "g728": (16000, 20),
    "g723": (6300, 30),
    "gsm": (13200, 20),
    "ilbc": (15200, 20),
    "amr": (12200, 20),
    "amr-wb": (23850, 20),
    "speex": (24600, 20),
    "opus": (32000, 20),
    "g7221": (32000, 20),
    "h261": (256000, None),
    "h263": (256000, None),
    "h263-1998": (256000, None),
    "h264": (512000, None),
    "vp8": (512000, None),
    "vp9": (512000, None),
}

#: Formats that carry no continuous media: skipped when choosing the codec.
NON_MEDIA_CODECS = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})

#: The media types that have their own price; any other type is C{"other"}.
PRICED_TYPES = ("audio", "video")


def priceClass(mediaType: str) -> str:
    """
    @return: C{"audio"}, C{"video"} or C{"other"} for a media type.
    """
    return mediaType if mediaType in PRICED_TYPES else "other"


@dataclass(frozen=True)
class StreamRate:
    """
    The estimated rate of one m-line, both directions together.

    @ivar type: the media type.
    @ivar bytesPerSecond: octets per second on the wire, all directions.
    @ivar source: C{"bandwidth"}, C{"codec"}, C{"unknown"}, or C{"none"} when
        no media flows (port 0, inactive).
    """

    type: str
    bytesPerSecond: float
    source: str


def _codecRate(media: MediaDescription) -> tuple[int, float | None] | None:
    for codec in media.codecs:
        name = codec.name.lower()
        if not name or name in NON_MEDIA_CODECS:
            continue
        known = CODEC_BITRATES.get(name)
        if known is None and name == "l16" and codec.clockRate:
            known = (16 * codec.clockRate * codec.channels, 20)
        return known
    return None


def _packetsPerSecond(bitsPerSecond: float, ptime: float | None) -> float:
    if ptime:
        return 1000.0 / ptime
    return bitsPerSecond / 8.0 / VIDEO_PACKET_PAYLOAD


def _directionRate(
    receiver: MediaDescription | None, negotiated: MediaDescription
) -> tuple[float, str]:
    """
    Octets per second of the direction I{toward} the side that sent
    C{receiver} (its SDP declares what it wants to receive).
    """
    codec = _codecRate(negotiated)
    ptime = negotiated.ptime or (codec[1] if codec else None)
    if receiver is not None:
        if receiver.bandwidthTIAS:
            bits = float(receiver.bandwidthTIAS)
            packets = _packetsPerSecond(bits, ptime)
            return bits / 8.0 + packets * PACKET_OVERHEAD, "bandwidth"
        if receiver.bandwidthAS:
            return receiver.bandwidthAS * 1000 / 8.0, "bandwidth"
    if codec is not None:
        bits = float(codec[0])
        packets = _packetsPerSecond(bits, ptime)
        return bits / 8.0 + packets * PACKET_OVERHEAD, "codec"
    return 0.0, "unknown"


def streamRates(offer: SessionDescription, answer: SessionDescription) -> list[StreamRate]:
    """
    Estimate each m-line's rate from an offer/answer pair.

    The answer decides the codec and the direction (as the answerer states
    it); a stream flows answerer-to-offerer when the answer says
    C{sendrecv} or C{sendonly}, and offerer-to-answerer for C{sendrecv} or
    C{recvonly}. If only one of the two bodies has media it serves as both.

    @return: one L{StreamRate} per m-line of the answer (or of the offer).
    """
    if not answer.media:
        answer = offer
    if not offer.media:
        offer = answer
    rates = []
    for index, negotiated in enumerate(answer.media):
        offered = offer.media[index] if index < len(offer.media) else negotiated
        if not negotiated.active or not offered.active:
            rates.append(StreamRate(negotiated.type, 0.0, "none"))
            continue
        total = 0.0
        sources = []
        direction = negotiated.direction
        if direction in ("sendrecv", "sendonly"):
            # answerer -> offerer: the offerer's SDP says what it receives
            rate, source = _directionRate(offered, negotiated)
            total += rate
            sources.append(source)
        if direction in ("sendrecv", "recvonly"):
            rate, source = _directionRate(negotiated, negotiated)
            total += rate
            sources.append(source)
        if "unknown" in sources:
            source = "unknown"
        elif "bandwidth" in sources:
            source = "bandwidth"
        else:
            source = sources[0] if sources else "none"
        rates.append(StreamRate(negotiated.type, total, source))
    return rates


def measuredVolume(measured: Mapping[str, int] | None) -> dict[str, int] | None:
    """
    Read what a media relay measured for a dialog.

    The relay stores C{dialog.measuredBytes}: a mapping of media type
    (C{"audio"}, C{"video"}, ...) to the octets it relayed for that type,
    both directions together, IP headers included.

    @return: octets per price class (C{audio}, C{video}, C{other}), or
        L{None} when nothing was measured.
    """
    if not measured:
        return None
    volume = {"audio": 0, "video": 0, "other": 0}
    for mediaType, octets in measured.items():
        volume[priceClass(str(mediaType))] += int(octets)
    return volume
