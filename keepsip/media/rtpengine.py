"""
rtpengine as keepsip's media relay (C{--media-relay rtpengine:host=H,port=P}):
a client of its ng control protocol (C{docs/ng_control_protocol.md} in
sipwise/rtpengine) over UDP.

Each request is C{COOKIE SP BENCODED-DICT}; the answer carries the same
cookie. A request is sent again, with the same cookie (rtpengine answers a
retransmission from its cache), after 0.5 s, then after 1 s, 2 s, ... until
C{timeout} seconds have passed since the first send; then it fails with
L{MediaRelayUnavailable}. rtpengine down or slow therefore costs a call at
most C{timeout} seconds.

rtpengine knows the two sides of a call by their SIP tags: the caller's From
tag, and the callee's To tag from the answer (for an offer the callee makes
before its tag is known to the relay, a late offer in a 2xx, the callee is
named C{<caller tag>-callee} for the rest of the call). Statistics come from
C{query}: per tag, per media, the C{stats} of each packet stream are what
that side sent. Whether a side is on hold is read from the SDP keepsip saw,
as for the built-in relay.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import InvalidAddressError
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.interfaces import IMediaRelay
from keepsip.media.bencode import BencodeError, bdecode, bencode
from keepsip.media.model import (
    CALLEE,
    CALLER,
    Counters,
    MediaRelayError,
    MediaRelayUnavailable,
    MediaStats,
    PortsExhausted,
    Side,
    StreamStats,
    UnknownMediaSession,
    UnsupportedSDP,
    checkSide,
    otherSide,
    sideStats,
)
from keepsip.media.sdp import RelayStream, expectsMedia, relayStreams

_log = Logger()

#: Seconds before the first retransmission; doubled for each next one.
FIRST_RETRANSMIT = 0.5
#: Default bound on one request, retransmissions included.
DEFAULT_TIMEOUT = 3.0


def errorFor(reason: str) -> MediaRelayError:
    """
    Map rtpengine's C{error-reason} to keepsip's failure.
    """
    lower = reason.lower()
    if "port" in lower and ("out of" in lower or "no more" in lower or "alloc" in lower):
        return PortsExhausted(f"rtpengine: {reason}")
    if "sdp" in lower:
        return UnsupportedSDP(f"rtpengine: {reason}")
    if "unknown call" in lower:
        return UnknownMediaSession(f"rtpengine: {reason}")
    return MediaRelayUnavailable(f"rtpengine: {reason}")


class _Pending:
    def __init__(self, datagram: bytes, deferred: Deferred[dict[str, Any]], deadline: float):
        self.datagram = datagram
        self.deferred = deferred
        self.deadline = deadline
        self.interval = FIRST_RETRANSMIT
        self.timer: IDelayedCall | None = None


class NgClient(DatagramProtocol):
    """
    The ng protocol over UDP: requests matched to answers by cookie,
    retransmitted until a bounded timeout.
    """

    def __init__(self, reactor: Any, host: str, port: int, timeout: float = DEFAULT_TIMEOUT):
        """
        @param reactor: an L{IReactorUDP} and L{IReactorTime}.
        @param host: rtpengine's C{--listen-ng} address (an IP literal).
        @param port: its port.
        @param timeout: seconds a request may take, retransmissions included.
        """
        self._reactor = reactor
        self._address = (host, port)
        self._timeout = timeout
        self._pending: dict[bytes, _Pending] = {}
        self._listening: Any = None

    def _ensureListening(self) -> None:
        if self._listening is None:
            interface = "::" if ":" in self._address[0] else ""
            self._listening = self._reactor.listenUDP(0, self, interface=interface)

    def command(self, message: Mapping[str, Any]) -> Deferred[dict[str, Any]]:
        """
        Send one request.

        @param message: the dictionary, with its C{command}.
        @return: L{Deferred} firing with the answer dictionary (its
            C{result} C{ok} or C{pong}); failing with a L{MediaRelayError}:
            L{MediaRelayUnavailable} after the timeout, or the error
            rtpengine answered (L{errorFor}).
        """
        try:
            self._ensureListening()
        except Exception as e:
            return fail(MediaRelayUnavailable(f"rtpengine: cannot open a UDP port: {e}"))
        cookie = secrets.token_hex(8).encode("ascii")
        while cookie in self._pending:
            cookie = secrets.token_hex(8).encode("ascii")
        deferred: Deferred[dict[str, Any]] = Deferred()
        pending = _Pending(
            cookie + b" " + bencode(dict(message)),
            deferred,
            self._reactor.seconds() + self._timeout,
        )
        self._pending[cookie] = pending
        self._send(cookie, pending)
        return deferred

    def _send(self, cookie: bytes, pending: _Pending) -> None:
        now = self._reactor.seconds()
        if now >= pending.deadline:
            del self._pending[cookie]
            _log.warn(
                "rtpengine at {host}:{port} did not answer within {timeout} s",
                host=self._address[0],
                port=self._address[1],
                timeout=self._timeout,
            )
            pending.deferred.errback(
                MediaRelayUnavailable(
                    f"rtpengine at {self._address[0]}:{self._address[1]} "
                    f"did not answer within {self._timeout:g} s"
                )
            )
            return
        try:
            self._listening.write(pending.datagram, self._address)
        except (OSError, InvalidAddressError) as e:
            _log.warn("cannot send to rtpengine: {error}", error=str(e))
        delay = min(pending.interval, pending.deadline - now)
        pending.interval *= 2
        pending.timer = self._reactor.callLater(delay, self._send, cookie, pending)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        cookie, _, body = datagram.partition(b" ")
        pending = self._pending.pop(cookie, None)
        if pending is None:
            return
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        try:
            answer = bdecode(body)
            if not isinstance(answer, dict):
                raise BencodeError("not a dictionary")
        except BencodeError as e:
            pending.deferred.errback(MediaRelayUnavailable(f"rtpengine: bad answer: {e}"))
            return
        result = answer.get("result")
        if result in (b"ok", b"pong"):
            pending.deferred.callback(answer)
            return
        reason = answer.get("error-reason", b"unknown error")
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        pending.deferred.errback(errorFor(text))

    def connectionRefused(self) -> None:
        # ICMP port unreachable: rtpengine is not running; the retransmission
        # timer ends the request when its time is up.
        pass

    def close(self) -> None:
        """
        Fail every pending request and stop listening.
        """
        pendings, self._pending = self._pending, {}
        for pending in pendings.values():
            if pending.timer is not None and pending.timer.active():
                pending.timer.cancel()
            pending.deferred.errback(MediaRelayUnavailable("rtpengine client closed"))
        if self._listening is not None:
            listening, self._listening = self._listening, None
            listening.stopListening()


@dataclass
class _Call:
    tags: dict[Side, str]
    offerer: Side = CALLER
    sdp: dict[Side, tuple[RelayStream, ...] | None] = field(default_factory=dict)


def _streams(body: bytes) -> tuple[RelayStream, ...] | None:
    try:
        return relayStreams(body)
    except UnsupportedSDP:
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def mediaStatistics(answer: Mapping[str, Any], tags: Mapping[Side, str], hold: Mapping[Side, bool]) -> MediaStats:
    """
    Map a C{query} (or C{delete}) answer to L{MediaStats}.

    @param answer: the decoded answer.
    @param tags: the rtpengine tag of each side.
    @param hold: whether each side is on hold.
    """
    perIndex: dict[int, dict[str, Any]] = {}
    tagDicts = answer.get("tags")
    if not isinstance(tagDicts, dict):
        tagDicts = {}
    for side in (CALLER, CALLEE):
        monologue = tagDicts.get(tags.get(side, ""))
        if not isinstance(monologue, dict):
            continue
        for media in monologue.get("medias") or []:
            if not isinstance(media, dict):
                continue
            index = _int(media.get("index")) - 1
            entry = perIndex.setdefault(
                index, {"type": _text(media.get("type", b"")), CALLER: Counters(), CALLEE: Counters()}
            )
            packets = octets = 0
            last: float | None = None
            for stream in media.get("streams") or []:
                if not isinstance(stream, dict):
                    continue
                stats = stream.get("stats") or {}
                streamPackets = _int(stats.get("packets"))
                packets += streamPackets
                octets += _int(stats.get("bytes"))
                lastPacket = _int(stream.get("last packet"))
                if streamPackets and lastPacket and (last is None or lastPacket > last):
                    last = float(lastPacket)
            entry[side] = Counters(packets, octets, last)
    streams = tuple(
        StreamStats(
            index=index,
            mediaType=entry["type"],
            fromCaller=entry[CALLER],
            fromCallee=entry[CALLEE],
        )
        for index, entry in sorted(perIndex.items())
    )
    return MediaStats(
        caller=sideStats(streams, CALLER, hold[CALLER]),
        callee=sideStats(streams, CALLEE, hold[CALLEE]),
        streams=streams,
    )


@implementer(IMediaRelay)
class RtpengineRelay:
    """
    L{IMediaRelay} through rtpengine; see the module docstring.
    """

    name = "rtpengine"

    def __init__(self, reactor: Any, host: str, port: int, timeout: float = DEFAULT_TIMEOUT):
        """
        @param reactor: an L{IReactorUDP} and L{IReactorTime}.
        @param host: rtpengine's ng address, an IP literal.
        @param port: its ng port.
        @param timeout: the bound on each request, in seconds.
        """
        self.client = NgClient(reactor, host, port, timeout)
        self._calls: dict[tuple[str, str], _Call] = {}

    def _offer(self, call: _Call, callID: str, leg: Side, sdp: bytes) -> Deferred[bytes]:
        if leg == CALLEE and CALLEE not in call.tags:
            call.tags[CALLEE] = call.tags[CALLER] + "-callee"
        message: dict[str, Any] = {
            "command": "offer",
            "call-id": callID,
            "from-tag": call.tags[leg],
            "sdp": sdp,
            "ICE": "remove",
        }
        if otherSide(leg) in call.tags:
            message["to-tag"] = call.tags[otherSide(leg)]
        call.offerer = leg
        call.sdp[leg] = _streams(sdp)
        return self.client.command(message).addCallback(_sdpOf)

    def allocate(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        try:
            side = checkSide(leg)
        except ValueError as e:
            return fail(e)
        call = self._calls.get((callID, fromTag))
        if call is None:
            call = self._calls[(callID, fromTag)] = _Call(tags={CALLER: fromTag})
        return self._offer(call, callID, side, sdp)

    def update(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        return self.allocate(callID, fromTag, leg, sdp)

    def answer(
        self, callID: str, fromTag: str, toTag: str, leg: str, sdp: bytes
    ) -> Deferred[bytes]:
        call = self._calls.get((callID, fromTag))
        if call is None:
            return fail(UnknownMediaSession(f"no media session for {callID!r} {fromTag!r}"))
        try:
            side = checkSide(leg)
        except ValueError as e:
            return fail(e)
        if CALLEE not in call.tags:
            call.tags[CALLEE] = toTag
        call.sdp[side] = _streams(sdp)
        return self.client.command(
            {
                "command": "answer",
                "call-id": callID,
                "from-tag": call.tags[call.offerer],
                "to-tag": call.tags[otherSide(call.offerer)],
                "sdp": sdp,
                "ICE": "remove",
            }
        ).addCallback(_sdpOf)

    def _hold(self, call: _Call) -> dict[Side, bool]:
        hold: dict[Side, bool] = {}
        for side in (CALLER, CALLEE):
            own = call.sdp.get(side)
            other = call.sdp.get(otherSide(side))
            hold[side] = own is not None and not expectsMedia(own, other)
        return hold

    def statistics(self, callID: str, fromTag: str) -> Deferred[MediaStats]:
        call = self._calls.get((callID, fromTag))
        if call is None:
            return fail(UnknownMediaSession(f"no media session for {callID!r} {fromTag!r}"))
        d = self.client.command({"command": "query", "call-id": callID, "from-tag": fromTag})
        return d.addCallback(mediaStatistics, dict(call.tags), self._hold(call))

    def finalStatistics(self, callID: str, fromTag: str) -> Deferred[MediaStats]:
        """
        Delete the call at rtpengine now and return its final counters: the
        answer to C{delete} carries the same C{tags} as a C{query}'s,
        counted up to the deletion. A later L{release} does nothing.

        @return: a Deferred firing with the L{MediaStats}, or failing with
            L{UnknownMediaSession} or L{MediaRelayUnavailable}.
        """
        call = self._calls.pop((callID, fromTag), None)
        if call is None:
            return fail(UnknownMediaSession(f"no media session for {callID!r} {fromTag!r}"))
        d = self.client.command(
            {"command": "delete", "call-id": callID, "from-tag": fromTag, "delete delay": 0}
        )
        return d.addCallback(mediaStatistics, dict(call.tags), self._hold(call))

    def release(self, callID: str, fromTag: str) -> Deferred[None]:
        if self._calls.pop((callID, fromTag), None) is None:
            return succeed(None)
        d = self.client.command(
            {"command": "delete", "call-id": callID, "from-tag": fromTag, "delete delay": 0}
        )

        def failed(reason: Failure) -> None:
            _log.warn(
                "rtpengine did not delete call {callID}: {error}",
                callID=callID,
                error=reason.getErrorMessage(),
            )

        return d.addCallbacks(lambda _: None, failed)

    def close(self) -> Deferred[None]:
        # rtpengine's calls outlive keepsip (its own timeout ends them), so a
        # restart with a persistent dialog store keeps their media.
        self.client.close()
        self._calls.clear()
        return succeed(None)


def _sdpOf(answer: dict[str, Any]) -> bytes:
    sdp = answer.get("sdp")
    if not isinstance(sdp, bytes):
        raise MediaRelayUnavailable("rtpengine: answer without sdp")
    return sdp
