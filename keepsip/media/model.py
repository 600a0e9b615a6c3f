"""
The vocabulary every media relay shares: which side of a call, the failures
the proxy maps to SIP answers, and the statistics a relay reports.

Media relays (L{keepsip.interfaces.IMediaRelay}) key a call by its Call-ID
and the caller's From tag, and speak of its two sides as L{CALLER} (the side
that sent the initial INVITE) and L{CALLEE} (the side that answered it),
whichever of them sends a given offer or answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: The side of a call that sent the initial INVITE.
CALLER: Literal["caller"] = "caller"
#: The side of a call that answered the initial INVITE.
CALLEE: Literal["callee"] = "callee"

Side = Literal["caller", "callee"]


def otherSide(side: Side) -> Side:
    """
    @return: L{CALLEE} for L{CALLER} and the other way round.
    """
    return CALLEE if side == CALLER else CALLER


def checkSide(side: str) -> Side:
    """
    @return: C{side} if it is L{CALLER} or L{CALLEE}.
    @raise ValueError: otherwise.
    """
    if side == CALLER:
        return CALLER
    if side == CALLEE:
        return CALLEE
    raise ValueError(f"leg must be {CALLER!r} or {CALLEE!r}, not {side!r}")


class MediaRelayError(Exception):
    """
    A media relay could not do what it was asked; the subclasses say why.
    The proxy answers a request whose media could not be anchored with
    L{sipStatus}.
    """

    #: The SIP status the proxy answers the request with.
    sipStatus = 500


class PortsExhausted(MediaRelayError):
    """
    The relay has no free port (pair) left for a stream: the proxy answers
    C{503 Service Unavailable} with a C{Retry-After}.
    """

    sipStatus = 503


class UnsupportedSDP(MediaRelayError):
    """
    The relay cannot anchor the media this SDP describes (a host name or an
    address of the other family in C{c=}, a port count, no connection
    address): the proxy answers C{488 Not Acceptable Here}.
    """

    sipStatus = 488


class MediaRelayUnavailable(MediaRelayError):
    """
    An external relay did not answer within its time limit, or answered with
    an error: the proxy answers C{503 Service Unavailable}.
    """

    sipStatus = 503


class UnknownMediaSession(MediaRelayError):
    """
    The relay holds no media session for this Call-ID and From tag (never
    allocated, or already released).
    """

    sipStatus = 500


@dataclass(frozen=True)
class Counters:
    """
    What one side sent on one stream, as the relay received it (RTP and
    RTCP together).

    @ivar packets: datagrams received from that side and relayed.
    @ivar bytes: their UDP payload octets (IP and UDP headers not counted:
        add 28 per packet for IPv4, 48 for IPv6, to get octets on the wire).
    @ivar lastPacketAt: when the last one arrived, in seconds since the
        epoch (the relay's clock), or L{None} if none did.
    """

    packets: int = 0
    bytes: int = 0
    lastPacketAt: float | None = None


@dataclass(frozen=True)
class StreamStats:
    """
    The counters of one m-line of a call.

    @ivar index: the m-line's position in the SDP, from 0.
    @ivar mediaType: its media type, e.g. C{"audio"}, C{"video"}.
    @ivar fromCaller: what the caller sent (relayed toward the callee).
    @ivar fromCallee: what the callee sent (relayed toward the caller).
    @ivar dropped: datagrams dropped on this stream because they came from
        an address other than the latched one (both sides together).
    """

    index: int
    mediaType: str
    fromCaller: Counters = Counters()
    fromCallee: Counters = Counters()
    dropped: int = 0

    def sent(self, side: Side) -> Counters:
        """
        @return: the counters of what C{side} sent on this stream.
        """
        return self.fromCaller if side == CALLER else self.fromCallee


@dataclass(frozen=True)
class SideStats:
    """
    One side of a call, over all its streams.

    @ivar lastPacketAt: when the last packet (RTP or RTCP, any stream) came
        from this side, in seconds since the epoch, or L{None} if none did.
        The media timeout is measured from it.
    @ivar onHold: whether this side is not expected to send media now: every
        stream that is not disabled (port 0) is C{recvonly}/C{inactive} in
        this side's last SDP, or C{sendonly}/C{inactive} (or C{c=} 0.0.0.0)
        in the other side's, or it has no such stream at all. The hold
        timeout applies instead of the media timeout.
    @ivar packets: all datagrams received from this side.
    @ivar bytes: their UDP payload octets.
    """

    lastPacketAt: float | None = None
    onHold: bool = False
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class MediaStats:
    """
    A relay's statistics for one call, from L{IMediaRelay.statistics}.

    @ivar caller: the caller's side.
    @ivar callee: the callee's side.
    @ivar streams: one entry per m-line the relay anchors, in SDP order.
    """

    caller: SideStats = SideStats()
    callee: SideStats = SideStats()
    streams: tuple[StreamStats, ...] = field(default=())

    def side(self, side: Side) -> SideStats:
        """
        @return: L{caller} or L{callee}.
        """
        return self.caller if side == CALLER else self.callee

    def volume(self) -> dict[str, dict[str, dict[str, int]]]:
        """
        The measured volume for a call record.

        @return: media type -> direction (C{"caller-to-callee"},
            C{"callee-to-caller"}) -> C{{"packets": N, "bytes": N}}, summed
            over the streams of that type (bytes are UDP payload octets).
        """
        result: dict[str, dict[str, dict[str, int]]] = {}
        for stream in self.streams:
            byDirection = result.setdefault(
                stream.mediaType,
                {
                    "caller-to-callee": {"packets": 0, "bytes": 0},
                    "callee-to-caller": {"packets": 0, "bytes": 0},
                },
            )
            for direction, counters in (
                ("caller-to-callee", stream.fromCaller),
                ("callee-to-caller", stream.fromCallee),
            ):
                byDirection[direction]["packets"] += counters.packets
                byDirection[direction]["bytes"] += counters.bytes
        return result


def sideStats(
    streams: tuple[StreamStats, ...] | list[StreamStats], side: Side, onHold: bool
) -> SideStats:
    """
    Sum the per-stream counters of one side.

    @param streams: the call's streams.
    @param side: L{CALLER} or L{CALLEE}.
    @param onHold: see L{SideStats.onHold}.
    """
    packets = 0
    octets = 0
    last: float | None = None
    for stream in streams:
        counters = stream.sent(side)
        packets += counters.packets
        octets += counters.bytes
        if counters.lastPacketAt is not None and (
            last is None or counters.lastPacketAt > last
        ):
            last = counters.lastPacketAt
    return SideStats(lastPacketAt=last, onHold=onHold, packets=packets, bytes=octets)
