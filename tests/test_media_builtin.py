"""
Tests for L{keepsip.media.builtin}: the built-in relay on an in-memory UDP
reactor (L{keepsip.media.testing.FakeUDPReactor}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.interfaces import IMediaRelay
from keepsip.media.builtin import BuiltinRelay
from keepsip.media.model import (
    CALLEE,
    CALLER,
    MediaStats,
    PortsExhausted,
    UnknownMediaSession,
    UnsupportedSDP,
)
from keepsip.media.sdp import relayStreams
from keepsip.media.testing import FakeUDPReactor

RELAY = "203.0.113.5"


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def offer(address: str = "192.0.2.10", port: int = 4000, *extra: str) -> bytes:
    family = "IP6" if ":" in address else "IP4"
    return sdp("v=0", f"c=IN {family} {address}", f"m=audio {port} RTP/AVP 0", *extra)


ANSWER = offer("198.51.100.20", 6000)


class BuiltinRelayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeUDPReactor()
        self.reactor.advance(1000)
        self.relay = BuiltinRelay(self.reactor, RELAY, 30000, 30099)

    def result(self, d):  # type: ignore[no-untyped-def]
        return self.successResultOf(d)

    def call(self, offerBody: bytes = offer(), answerBody: bytes = ANSWER) -> tuple[int, int]:
        """
        Set up call C{c1}; return the relay's RTP port facing the caller and
        the one facing the callee.
        """
        toCallee = self.result(self.relay.allocate("c1", "ft", CALLER, offerBody))
        toCaller = self.result(self.relay.answer("c1", "ft", "tt", CALLEE, answerBody))
        return relayStreams(toCaller)[0].port, relayStreams(toCallee)[0].port

    def test_interface(self) -> None:
        """
        The relay provides L{IMediaRelay}.
        """
        self.assertTrue(verifyObject(IMediaRelay, self.relay))

    def test_allocateRewritesOffer(self) -> None:
        """
        The offer forwarded to the callee names the relay and a port pair of
        the range; four ports are bound for one stream (a pair per side).
        """
        out = self.result(self.relay.allocate("c1", "ft", CALLER, offer()))
        (stream,) = relayStreams(out)
        self.assertEqual(stream.address, RELAY)
        self.assertTrue(30000 <= stream.port <= 30098 and stream.port % 2 == 0)
        self.assertEqual(self.relay.portsInUse, 4)
        self.assertEqual(sorted(self.reactor.bound)[0], 30000)

    def test_answerRewritten(self) -> None:
        """
        The answer forwarded to the caller names the relay's caller-facing
        port, not the callee-facing one of the offer.
        """
        callerPort, calleePort = self.call()
        self.assertNotEqual(callerPort, calleePort)
        self.assertIn(callerPort, self.reactor.bound)

    def test_relaysBothWaysToSDPAddresses(self) -> None:
        """
        Before latching, media goes where each side's SDP says: caller's
        RTP to the callee's SDP address, callee's RTCP to the caller's
        port+1.
        """
        callerPort, calleePort = self.call()
        self.reactor.deliver(callerPort, b"rtp-a", ("192.0.2.10", 4000))
        self.assertEqual(self.reactor.sent(calleePort), [(b"rtp-a", ("198.51.100.20", 6000))])
        self.reactor.deliver(calleePort + 1, b"rtcp-b", ("198.51.100.20", 6001))
        self.assertEqual(self.reactor.sent(callerPort + 1), [(b"rtcp-b", ("192.0.2.10", 4001))])

    def test_latching(self) -> None:
        """
        Media for a side goes to where its packets really come from (behind
        NAT), and packets from another address are then dropped and counted.
        """
        callerPort, calleePort = self.call()
        self.reactor.deliver(callerPort, b"first", ("203.0.113.99", 31000))
        self.reactor.deliver(calleePort, b"reply", ("198.51.100.20", 6000))
        self.assertEqual(self.reactor.sent(callerPort), [(b"reply", ("203.0.113.99", 31000))])
        self.reactor.deliver(callerPort, b"spoof", ("203.0.113.66", 1))
        self.assertEqual([d for d, _ in self.reactor.sent(calleePort)], [b"first"])
        stats = self.result(self.relay.statistics("c1", "ft"))
        self.assertEqual(stats.streams[0].dropped, 1)
        self.assertEqual(stats.caller.packets, 1)

    def test_counters(self) -> None:
        """
        Packets, payload octets and the last packet time are counted per
        stream and direction, RTP and RTCP together, on the reactor's clock.
        """
        callerPort, calleePort = self.call()
        self.reactor.deliver(callerPort, b"x" * 172, ("192.0.2.10", 4000))
        self.reactor.advance(5)
        self.reactor.deliver(callerPort + 1, b"y" * 60, ("192.0.2.10", 4001))
        self.reactor.advance(1)
        self.reactor.deliver(calleePort, b"z" * 172, ("198.51.100.20", 6000))
        stats = self.result(self.relay.statistics("c1", "ft"))
        self.assertIsInstance(stats, MediaStats)
        (stream,) = stats.streams
        self.assertEqual(stream.mediaType, "audio")
        self.assertEqual(
            (stream.fromCaller.packets, stream.fromCaller.bytes, stream.fromCaller.lastPacketAt),
            (2, 232, 1005.0),
        )
        self.assertEqual((stream.fromCallee.packets, stream.fromCallee.lastPacketAt), (1, 1006.0))
        self.assertEqual(stats.caller.lastPacketAt, 1005.0)
        self.assertEqual(stats.callee.bytes, 172)
        self.assertEqual(
            stats.volume(),
            {
                "audio": {
                    "caller-to-callee": {"packets": 2, "bytes": 232},
                    "callee-to-caller": {"packets": 1, "bytes": 172},
                }
            },
        )

    def test_noPacketsYet(self) -> None:
        """
        A side that sent nothing has no last packet time and is not on hold.
        """
        self.call()
        stats = self.result(self.relay.statistics("c1", "ft"))
        self.assertIsNone(stats.caller.lastPacketAt)
        self.assertFalse(stats.caller.onHold)
        self.assertFalse(stats.callee.onHold)

    def test_holdByReinvite(self) -> None:
        """
        A re-offer C{sendonly} from the caller, answered C{recvonly}, puts
        the callee on hold (it is not expected to send) and not the caller;
        the stream keeps its ports.
        """
        callerPort, calleePort = self.call()
        before = dict(self.reactor.bound)
        out = self.result(self.relay.update("c1", "ft", CALLER, offer("192.0.2.10", 4000,
                                                                       "a=sendonly")))
        self.assertEqual(relayStreams(out)[0].port, calleePort)
        self.result(self.relay.answer("c1", "ft", "tt", CALLEE,
                                      offer("198.51.100.20", 6000, "a=recvonly")))
        self.assertEqual(dict(self.reactor.bound), before)
        stats = self.result(self.relay.statistics("c1", "ft"))
        self.assertTrue(stats.callee.onHold)
        self.assertFalse(stats.caller.onHold)

    def test_updateFromCalleeMovesAddress(self) -> None:
        """
        A re-offer from the callee with a new address unlatches it: media
        for it goes to the new address.
        """
        callerPort, calleePort = self.call()
        self.reactor.deliver(calleePort, b"old", ("198.51.100.20", 6000))
        out = self.result(self.relay.update("c1", "ft", CALLEE, offer("198.51.100.30", 7000)))
        self.assertEqual(relayStreams(out)[0].port, callerPort)
        self.reactor.deliver(callerPort, b"a", ("192.0.2.10", 4000))
        self.assertEqual(self.reactor.sent(calleePort)[-1], (b"a", ("198.51.100.30", 7000)))

    def test_multipleStreamsAndPortZero(self) -> None:
        """
        Each active m-line gets its own ports; a port 0 m-line gets none and
        stays port 0; a stream the answer refuses is released.
        """
        body = sdp(
            "v=0", "c=IN IP4 192.0.2.10",
            "m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 96", "m=video 4002 RTP/AVP 97",
        )
        out = relayStreams(self.result(self.relay.allocate("c1", "ft", CALLER, body)))
        self.assertEqual(out[1].port, 0)
        self.assertNotEqual(out[0].port, out[2].port)
        self.assertEqual(self.relay.portsInUse, 8)
        answer = sdp(
            "v=0", "c=IN IP4 198.51.100.20",
            "m=audio 6000 RTP/AVP 0", "m=video 0 RTP/AVP 96", "m=video 0 RTP/AVP 97",
        )
        back = relayStreams(self.result(self.relay.answer("c1", "ft", "tt", CALLEE, answer)))
        self.assertEqual([s.port for s in back][1:], [0, 0])
        self.assertEqual(self.relay.portsInUse, 4)

    def test_rtcpMuxFreesRtcpPorts(self) -> None:
        """
        When offer and answer both carry C{a=rtcp-mux}, each side uses one
        port: the RTCP ports are given back.
        """
        self.call(offer("192.0.2.10", 4000, "a=rtcp-mux"),
                  offer("198.51.100.20", 6000, "a=rtcp-mux"))
        self.assertEqual(self.relay.portsInUse, 2)

    def test_ipv6(self) -> None:
        """
        An IPv6 relay address binds on it, advertises C{IN IP6} and relays
        to IPv6 endpoints.
        """
        relay = BuiltinRelay(self.reactor, "::1", 32000, 32009)
        out = self.result(relay.allocate("c6", "ft", CALLER, offer("2001:db8::10", 4000)))
        self.assertIn(b"c=IN IP6 ::1\r\n", out)
        back = self.result(relay.answer("c6", "ft", "tt", CALLEE, offer("2001:db8::20", 6000)))
        callerPort, calleePort = relayStreams(back)[0].port, relayStreams(out)[0].port
        self.assertEqual(self.reactor.bound[callerPort].interface, "::1")
        self.reactor.deliver(callerPort, b"v6", ("2001:db8::10", 4000))
        self.assertEqual(self.reactor.sent(calleePort), [(b"v6", ("2001:db8::20", 6000))])

    def test_familyMismatch(self) -> None:
        """
        An endpoint of the other address family than the relay's cannot be
        reached: L{UnsupportedSDP}, and nothing stays bound.
        """
        self.failureResultOf(
            self.relay.allocate("c1", "ft", CALLER, offer("2001:db8::1")), UnsupportedSDP
        )
        self.assertEqual(self.relay.portsInUse, 0)

    def test_unsupportedSDP(self) -> None:
        """
        An SDP the relay cannot anchor fails with L{UnsupportedSDP} (488).
        """
        f = self.failureResultOf(
            self.relay.allocate("c1", "ft", CALLER, sdp("v=0", "m=audio 4000 RTP/AVP 0")),
            UnsupportedSDP,
        )
        self.assertEqual(f.value.sipStatus, 488)

    def test_exhaustion(self) -> None:
        """
        When the range has no free pair left, allocation fails with
        L{PortsExhausted} (503) and a half-made call holds no port; a port
        another program holds is skipped.
        """
        relay = BuiltinRelay(self.reactor, RELAY, 40000, 40009)  # 5 pairs
        self.reactor.busy.add(40001)
        self.result(relay.allocate("a", "t", CALLER, offer()))  # 2 pairs
        self.result(relay.allocate("b", "t", CALLER, offer()))  # 2 pairs
        self.assertEqual(relay.portsInUse, 8)
        self.assertNotIn(40000, self.reactor.bound)
        f = self.failureResultOf(relay.allocate("c", "t", CALLER, offer()), PortsExhausted)
        self.assertEqual(f.value.sipStatus, 503)
        self.assertEqual(relay.portsInUse, 8)

    def test_releaseFreesEveryPort(self) -> None:
        """
        After many calls are released (however far they got), no port is
        bound, and the range can be used again; release twice is harmless.
        """
        relay = BuiltinRelay(self.reactor, RELAY, 40000, 40099)
        for round in range(3):
            for i in range(25):
                relay.allocate(f"c{i}", "t", CALLER, offer())
                if i % 2:
                    relay.answer(f"c{i}", "t", "u", CALLEE, ANSWER)
            self.assertEqual(relay.portsInUse, 100)
            for i in range(25):
                self.assertIsNone(self.result(relay.release(f"c{i}", "t")))
                self.result(relay.release(f"c{i}", "t"))
            self.assertEqual(relay.portsInUse, 0)
            self.assertEqual(self.reactor.bound, {})
        self.assertEqual(relay.sessions, 0)

    def test_unknownSession(self) -> None:
        """
        Answers and statistics for a call without a media session fail with
        L{UnknownMediaSession}; releasing it succeeds.
        """
        self.failureResultOf(self.relay.answer("x", "y", "z", CALLEE, ANSWER),
                             UnknownMediaSession)
        self.failureResultOf(self.relay.statistics("x", "y"), UnknownMediaSession)
        self.assertIsNone(self.result(self.relay.release("x", "y")))

    def test_allocateAgainIsUpdate(self) -> None:
        """
        The same INVITE allocated twice (retransmitted, re-sent with
        credentials) keeps its ports.
        """
        first = self.result(self.relay.allocate("c1", "ft", CALLER, offer()))
        second = self.result(self.relay.allocate("c1", "ft", CALLER, offer()))
        self.assertEqual(first, second)
        self.assertEqual(self.relay.portsInUse, 4)

    def test_totalsAndClose(self) -> None:
        """
        The relay's totals include released calls; C{close} releases every
        call.
        """
        callerPort, _ = self.call()
        self.reactor.deliver(callerPort, b"abc", ("192.0.2.10", 4000))
        self.relay.release("c1", "ft")
        self.call()
        self.successResultOf(self.relay.close())
        self.assertEqual(self.relay.totals(), {"packets": 1, "bytes": 3, "dropped": 0})
        self.assertEqual(self.relay.portsInUse, 0)

    def test_badLeg(self) -> None:
        """
        A leg other than caller/callee is a programming error: ValueError.
        """
        self.failureResultOf(self.relay.allocate("c1", "ft", "bob", offer()), ValueError)
