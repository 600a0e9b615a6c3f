"""
keepsip's own media relay (C{--media-relay builtin}): RTP and RTCP between
the two sides of each call on Twisted UDP, with symmetric latching and
counters per stream and direction.

For each stream (m-line) of a call the relay binds two port pairs on
C{--rtp-address}: one facing the caller (advertised in the SDP sent to the
caller) and one facing the callee. A datagram that arrives on the port facing
one side is counted for that side and sent out of the twin port facing the
other side, so each endpoint sees the relay as its only peer.

Latching: a side's packets are first sent where its SDP says; the first
datagram received from that side on a port fixes ("latches") the address its
packets really come from (a NAT's public address), and from then on packets
for it go there and datagrams from any other address on that port are
dropped and counted. A new SDP from the side that changes the stream's
address or port unlatches it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import InvalidAddressError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from keepsip.interfaces import IMediaRelay
from keepsip.media.model import (
    CALLEE,
    CALLER,
    Counters,
    MediaRelayError,
    MediaStats,
    Side,
    StreamStats,
    UnknownMediaSession,
    UnsupportedSDP,
    checkSide,
    otherSide,
    sideStats,
)
from keepsip.media.mux import RelayMux, available
from keepsip.media.ports import PortPool
from keepsip.media.sdp import RelayStream, expectsMedia, relayStreams, rewriteSDP

_log = Logger()

Address = tuple[str, int]


class _Direction:
    """
    Mutable counters of what one side sent on one stream.
    """

    __slots__ = ("packets", "bytes", "lastPacketAt", "dropped", "sendErrors")

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.lastPacketAt: float | None = None
        self.dropped = 0
        self.sendErrors = 0

    def frozen(self) -> Counters:
        return Counters(self.packets, self.bytes, self.lastPacketAt)


class _RelayPort(DatagramProtocol):
    """
    One bound port, facing one side of one stream: receives that side's
    datagrams and forwards them out of its L{twin}, the port of the same kind
    facing the other side.

    @ivar target: where this side receives datagrams of this kind (from its
        SDP, then latched), or L{None} while unknown.
    @ivar latched: the source address this side's datagrams are accepted
        from, once the first one came.
    """

    # Twisted logs the start and stop of a noisy protocol: two lines per
    # port and call.
    noisy = False

    def __init__(self, seconds: Any, counters: _Direction) -> None:
        self._seconds = seconds
        self.counters = counters
        self.twin: _RelayPort | None = None
        self.target: Address | None = None
        self.latched: Address | None = None
        self.sendto: Any = None
        #: The socket's recvfrom, when a L{RelayMux} reads for this port.
        self.recvfrom: Any = None

    def startProtocol(self) -> None:
        # Send with the socket's own sendto: udp.Port.write checks every
        # address with isIPAddress/isIPv6Address, half of the relay's CPU time
        # in the benchmark. Targets here are IP literals of the port's family
        # already (checked in the SDP, or a source address the kernel gave).
        # Transports without a socket (test doubles) keep their write.
        transport: Any = self.transport
        getHandle = getattr(transport, "getHandle", None)
        self.sendto = getHandle().sendto if getHandle is not None else transport.write

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        counters = self.counters
        latched = self.latched
        if latched is None:
            self.latched = self.target = addr
        elif addr != latched:
            counters.dropped += 1
            return
        counters.packets += 1
        counters.bytes += len(datagram)
        counters.lastPacketAt = self._seconds()
        twin = self.twin
        if twin is None or twin.target is None or twin.transport is None:
            return
        try:
            twin.sendto(datagram, twin.target)
        except (OSError, InvalidAddressError):
            counters.sendErrors += 1

    def connectionRefused(self) -> None:
        # An ICMP port unreachable for an earlier datagram: the endpoint may
        # not be up yet; keep relaying.
        pass


class _End:
    """
    The ports of one stream facing one side.
    """

    def __init__(self, pool: PortPool, seconds: Any) -> None:
        counters = self.counters = _Direction()
        self.rtp, self.rtcp, rtpPort, rtcpPort = pool.bindPair(
            lambda: (_RelayPort(seconds, counters), _RelayPort(seconds, counters))
        )
        self.listening: list[IListeningPort] = [rtpPort, rtcpPort]
        self.ports = (
            self.listening[0].getHost().port,  # type: ignore[attr-defined]
            self.listening[1].getHost().port,  # type: ignore[attr-defined]
        )
        self.described: RelayStream | None = None

    def describe(self, stream: RelayStream) -> None:
        """
        Take the side's (new) SDP for this stream: where it wants media.
        """
        previous = self.described
        self.described = stream
        moved = previous is None or (previous.address, previous.port, previous.rtcpPort) != (
            stream.address,
            stream.port,
            stream.rtcpPort,
        )
        if not moved:
            return
        assert stream.address is not None and stream.rtcpAddress is not None
        self.rtp.latched = self.rtcp.latched = None
        if stream.unspecified:
            self.rtp.target = self.rtcp.target = None
        else:
            self.rtp.target = (stream.address, stream.port)
            self.rtcp.target = (stream.rtcpAddress, stream.rtcpPort)

    def dropRtcp(self, pool: PortPool) -> None:
        """
        Give back the RTCP port: the sides multiplex RTCP on the RTP port.
        """
        if len(self.listening) == 2:
            pool.unbind(self.listening.pop())

    def close(self, pool: PortPool) -> None:
        while self.listening:
            pool.unbind(self.listening.pop())


class _Stream:
    """
    One m-line of a call: an L{_End} per side, twinned.
    """

    def __init__(self, index: int, mediaType: str, pool: PortPool, seconds: Any) -> None:
        self.index = index
        self.mediaType = mediaType
        self.open = True
        caller = _End(pool, seconds)
        try:
            callee = _End(pool, seconds)
        except MediaRelayError:
            caller.close(pool)
            raise
        caller.rtp.twin, callee.rtp.twin = callee.rtp, caller.rtp
        caller.rtcp.twin, callee.rtcp.twin = callee.rtcp, caller.rtcp
        self.ends: dict[Side, _End] = {CALLER: caller, CALLEE: callee}

    def close(self, pool: PortPool) -> None:
        if self.open:
            self.open = False
            for end in self.ends.values():
                end.close(pool)

    def stats(self) -> StreamStats:
        caller, callee = self.ends[CALLER].counters, self.ends[CALLEE].counters
        return StreamStats(
            index=self.index,
            mediaType=self.mediaType,
            fromCaller=caller.frozen(),
            fromCallee=callee.frozen(),
            dropped=caller.dropped + callee.dropped,
        )


class _Session:
    def __init__(self) -> None:
        self.streams: list[_Stream | None] = []
        self.sdp: dict[Side, tuple[RelayStream, ...]] = {}


@implementer(IMediaRelay)
class BuiltinRelay:
    """
    The built-in relay; see the module docstring.

    @ivar name: C{"builtin"}.
    """

    name = "builtin"

    def __init__(self, reactor: Any, address: str, low: int, high: int) -> None:
        """
        @param reactor: an L{IReactorUDP} and L{IReactorTime}: ports are bound
            with its C{listenUDP}, packet times read from its C{seconds}.
        @param address: C{--rtp-address}, the IPv4 or IPv6 literal bound and
            advertised in SDP.
        @param low: the first port of C{--rtp-ports}.
        @param high: the last port of C{--rtp-ports}.
        """
        self._seconds = reactor.seconds
        self._address = address
        self._family = 6 if ":" in address else 4
        # On Linux with a real reactor one reader serves every relay socket
        # (keepsip.media.mux); otherwise (a test clock) a Twisted port each.
        self._mux = RelayMux(reactor) if available(reactor) else None
        self._pool = PortPool(self._mux or reactor, address, low, high)
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._releasedPackets = 0
        self._releasedBytes = 0
        self._releasedDropped = 0

    # -- metrics ---------------------------------------------------------

    @property
    def portsInUse(self) -> int:
        """
        UDP ports bound for calls now.
        """
        return self._pool.inUse

    @property
    def sessions(self) -> int:
        """
        Calls holding media sessions now.
        """
        return len(self._sessions)

    def streamCount(self) -> int:
        """
        Streams relayed now.
        """
        return sum(
            1 for s in self._sessions.values() for st in s.streams if st is not None and st.open
        )

    @property
    def wakeups(self) -> int | None:
        """
        Times the reactor woke the relay's reader (L{RelayMux.wakeups}), or
        L{None} without one (Twisted ports, a test clock).
        """
        return self._mux.wakeups if self._mux is not None else None

    def totals(self) -> dict[str, int]:
        """
        Datagrams and payload octets relayed, and datagrams dropped (not from
        the latched address), since the relay started.
        """
        packets, octets, dropped = (
            self._releasedPackets,
            self._releasedBytes,
            self._releasedDropped,
        )
        for session in self._sessions.values():
            p, b, d = _sessionTotals(session)
            packets, octets, dropped = packets + p, octets + b, dropped + d
        return {"packets": packets, "bytes": octets, "dropped": dropped}

    # -- IMediaRelay -----------------------------------------------------

    def _check(self, streams: tuple[RelayStream, ...]) -> None:
        for stream in streams:
            if stream.disabled or stream.address is None:
                continue
            for address in (stream.address, stream.rtcpAddress or stream.address):
                if (6 if ":" in address else 4) != self._family:
                    raise UnsupportedSDP(
                        f"m-line {stream.index}: {address} is not reachable from "
                        f"the relay address {self._address}"
                    )

    def _open(self, session: _Session, streams: tuple[RelayStream, ...]) -> None:
        """
        Bind ports for each stream of C{streams} that has none yet.
        """
        while len(session.streams) < len(streams):
            session.streams.append(None)
        for stream in streams:
            current = session.streams[stream.index]
            if stream.disabled:
                if current is not None:
                    current.close(self._pool)
                continue
            if current is None or not current.open:
                session.streams[stream.index] = _Stream(
                    stream.index, stream.mediaType, self._pool, self._seconds
                )

    def _describe(
        self, session: _Session, leg: Side, streams: tuple[RelayStream, ...], body: bytes
    ) -> bytes:
        """
        Record C{leg}'s SDP and rewrite it for the other side.
        """
        ports: list[tuple[int, int] | None] = []
        facing = otherSide(leg)
        for stream in streams:
            relayed = session.streams[stream.index] if stream.index < len(session.streams) else None
            if stream.disabled or relayed is None or not relayed.open:
                ports.append(None)
                continue
            relayed.ends[leg].describe(stream)
            ports.append(relayed.ends[facing].ports)
        session.sdp[leg] = streams
        return rewriteSDP(body, self._address, ports)

    def allocate(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        key = (callID, fromTag)
        if key in self._sessions:
            return self.update(callID, fromTag, leg, sdp)
        try:
            side = checkSide(leg)
            streams = relayStreams(sdp)
            self._check(streams)
            session = _Session()
            try:
                self._open(session, streams)
            except MediaRelayError:
                self._closeSession(session)
                raise
            self._sessions[key] = session
            return succeed(self._describe(session, side, streams, sdp))
        except (MediaRelayError, ValueError) as e:
            return fail(e)

    def update(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        session = self._sessions.get((callID, fromTag))
        if session is None:
            return self.allocate(callID, fromTag, leg, sdp)
        try:
            side = checkSide(leg)
            streams = relayStreams(sdp)
            self._check(streams)
            self._open(session, streams)
            return succeed(self._describe(session, side, streams, sdp))
        except (MediaRelayError, ValueError) as e:
            return fail(e)

    def answer(
        self, callID: str, fromTag: str, toTag: str, leg: str, sdp: bytes
    ) -> Deferred[bytes]:
        session = self._sessions.get((callID, fromTag))
        if session is None:
            return fail(UnknownMediaSession(f"no media session for {callID!r} {fromTag!r}"))
        try:
            side = checkSide(leg)
            streams = relayStreams(sdp)
            self._check(streams)
        except (MediaRelayError, ValueError) as e:
            return fail(e)
        offer = session.sdp.get(otherSide(side), ())
        for index, relayed in enumerate(session.streams):
            if relayed is None or not relayed.open:
                continue
            if index >= len(streams) or streams[index].disabled:
                relayed.close(self._pool)
            elif streams[index].rtcpMux and index < len(offer) and offer[index].rtcpMux:
                for end in relayed.ends.values():
                    end.dropRtcp(self._pool)
        return succeed(self._describe(session, side, streams, sdp))

    def statistics(self, callID: str, fromTag: str) -> Deferred[MediaStats]:
        session = self._sessions.get((callID, fromTag))
        if session is None:
            return fail(UnknownMediaSession(f"no media session for {callID!r} {fromTag!r}"))
        streams = tuple(s.stats() for s in session.streams if s is not None)
        callerSDP, calleeSDP = session.sdp.get(CALLER), session.sdp.get(CALLEE)
        return succeed(
            MediaStats(
                caller=sideStats(
                    streams, CALLER, not expectsMedia(callerSDP or (), calleeSDP)
                ),
                callee=sideStats(
                    streams, CALLEE, not expectsMedia(calleeSDP or (), callerSDP)
                ),
                streams=streams,
            )
        )

    def release(self, callID: str, fromTag: str) -> Deferred[None]:
        session = self._sessions.pop((callID, fromTag), None)
        if session is not None:
            packets, octets, dropped = _sessionTotals(session)
            self._releasedPackets += packets
            self._releasedBytes += octets
            self._releasedDropped += dropped
            self._closeSession(session)
        return succeed(None)

    def _closeSession(self, session: _Session) -> None:
        for stream in session.streams:
            if stream is not None:
                stream.close(self._pool)

    def close(self) -> Deferred[None]:
        for callID, fromTag in list(self._sessions):
            self.release(callID, fromTag)
        if self._mux is not None:
            self._mux.close()
        return succeed(None)


def _sessionTotals(session: _Session) -> tuple[int, int, int]:
    packets = octets = dropped = 0
    for stream in session.streams:
        if stream is None:
            continue
        for end in stream.ends.values():
            packets += end.counters.packets
            octets += end.counters.bytes
            dropped += end.counters.dropped
    return packets, octets, dropped
