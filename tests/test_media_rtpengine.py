"""
Tests for L{keepsip.media.rtpengine}: the ng protocol client on an in-memory
UDP reactor, and the mapping of C{query} answers to L{MediaStats}.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.interfaces import IMediaRelay
from keepsip.media.bencode import bdecode, bencode
from keepsip.media.model import (
    CALLEE,
    CALLER,
    MediaRelayUnavailable,
    PortsExhausted,
    UnknownMediaSession,
    UnsupportedSDP,
)
from keepsip.media.rtpengine import NgClient, RtpengineRelay, errorFor, mediaStatistics
from keepsip.media.testing import FakeUDPReactor

ENGINE = ("127.0.0.1", 2223)
OFFER = b"v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\nc=IN IP4 198.51.100.20\r\nm=audio 6000 RTP/AVP 0\r\na=sendonly\r\n"


class Engine:
    """
    Reads requests the client sent and answers them.
    """

    def __init__(self, reactor: FakeUDPReactor) -> None:
        self.reactor = reactor

    def requests(self) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        for datagram, address in self.reactor.sent(0):
            assert address == ENGINE, address
            cookie, _, body = datagram.partition(b" ")
            out.append((cookie, bdecode(body)))
        return out

    def reply(self, answer: dict[str, Any], index: int = -1) -> None:
        cookie = self.requests()[index][0]
        self.reactor.deliver(0, cookie + b" " + bencode(answer), ENGINE)


class NgClientTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeUDPReactor()
        self.client = NgClient(self.reactor, *ENGINE, timeout=3.0)
        self.engine = Engine(self.reactor)

    def test_requestAndAnswer(self) -> None:
        """
        A request goes out as C{COOKIE bencoded-dict} to rtpengine; the
        answer with the same cookie fires the Deferred with its dictionary.
        """
        d = self.client.command({"command": "ping"})
        ((cookie, message),) = self.engine.requests()
        self.assertEqual(message, {"command": b"ping"})
        self.assertEqual(len(cookie), 16)
        self.engine.reply({"result": "pong"})
        self.assertEqual(self.successResultOf(d), {"result": b"pong"})
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cookiesDiffer(self) -> None:
        """
        Each request has its own random cookie, and an answer fires only its
        own request; a stray cookie is ignored.
        """
        d1 = self.client.command({"command": "ping"})
        d2 = self.client.command({"command": "ping"})
        (c1, _), (c2, _) = self.engine.requests()
        self.assertNotEqual(c1, c2)
        self.reactor.deliver(0, b"nope d6:result4:ponge", ENGINE)
        self.engine.reply({"result": "pong"}, index=1)
        self.assertNoResult(d1)
        self.successResultOf(d2)

    def test_retransmitsThenTimesOut(self) -> None:
        """
        Without an answer the same datagram is sent again after 0.5 s, 1 s,
        then 1.5 s (what is left of the 3 s bound), and the request fails
        with L{MediaRelayUnavailable} at 3 s, leaving no timer behind.
        """
        d = self.client.command({"command": "ping"})
        times = []
        for step in range(40):
            self.reactor.advance(0.1)
            if len(self.reactor.sent(0)) > len(times) + 1:
                times.append(round(self.reactor.seconds(), 1))
        self.assertEqual(times, [0.5, 1.5])
        self.assertEqual(len({dg for dg, _ in self.reactor.sent(0)}), 1)
        f = self.failureResultOf(d, MediaRelayUnavailable)
        self.assertIn("3 s", str(f.value))
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_answerAfterRetransmission(self) -> None:
        """
        An answer that comes after a retransmission still fires the request.
        """
        d = self.client.command({"command": "ping"})
        self.reactor.advance(0.7)
        self.engine.reply({"result": "pong"})
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_errorAnswer(self) -> None:
        """
        C{result: error} fails with the failure its reason maps to.
        """
        d = self.client.command({"command": "offer"})
        self.engine.reply({"result": "error", "error-reason": "Ran out of ports"})
        self.failureResultOf(d, PortsExhausted)

    def test_badAnswer(self) -> None:
        """
        An answer that is not a bencoded dictionary fails the request.
        """
        d = self.client.command({"command": "ping"})
        cookie = self.engine.requests()[0][0]
        self.reactor.deliver(0, cookie + b" li1ee", ENGINE)
        self.failureResultOf(d, MediaRelayUnavailable)

    def test_close(self) -> None:
        """
        Closing fails pending requests, cancels their timers and unbinds.
        """
        d = self.client.command({"command": "ping"})
        self.client.close()
        self.failureResultOf(d, MediaRelayUnavailable)
        self.reactor.advance(0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.reactor.bound, {})

    def test_errorFor(self) -> None:
        """
        rtpengine's reasons map to keepsip's failures.
        """
        self.assertIsInstance(errorFor("Failed to parse SDP"), UnsupportedSDP)
        self.assertIsInstance(errorFor("Unknown call-id"), UnknownMediaSession)
        self.assertIsInstance(errorFor("Ran out of ports"), PortsExhausted)
        self.assertIsInstance(errorFor("Something else"), MediaRelayUnavailable)


class RtpengineRelayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeUDPReactor()
        self.relay = RtpengineRelay(self.reactor, *ENGINE)
        self.engine = Engine(self.reactor)

    def test_interface(self) -> None:
        """
        The relay provides L{IMediaRelay}.
        """
        self.assertTrue(verifyObject(IMediaRelay, self.relay))

    def test_offerAnswer(self) -> None:
        """
        An offer sends C{offer} with the caller's tag and returns
        rtpengine's SDP; the answer sends C{answer} with both tags.
        """
        d = self.relay.allocate("call1", "ft", CALLER, OFFER)
        message = self.engine.requests()[-1][1]
        self.assertEqual(
            (message["command"], message["call-id"], message["from-tag"], message["sdp"]),
            (b"offer", b"call1", b"ft", OFFER),
        )
        self.assertNotIn("to-tag", message)
        self.engine.reply({"result": "ok", "sdp": b"rewritten"})
        self.assertEqual(self.successResultOf(d), b"rewritten")
        d = self.relay.answer("call1", "ft", "tt", CALLEE, ANSWER)
        message = self.engine.requests()[-1][1]
        self.assertEqual(
            (message["command"], message["from-tag"], message["to-tag"]),
            (b"answer", b"ft", b"tt"),
        )
        self.engine.reply({"result": "ok", "sdp": b"answer2"})
        self.assertEqual(self.successResultOf(d), b"answer2")

    def test_reofferFromCallee(self) -> None:
        """
        A re-offer from the callee names the callee's tag as from-tag, and
        its answer from the caller keeps that orientation.
        """
        self.relay.allocate("call1", "ft", CALLER, OFFER)
        self.engine.reply({"result": "ok", "sdp": b"x"})
        self.relay.answer("call1", "ft", "tt", CALLEE, ANSWER)
        self.engine.reply({"result": "ok", "sdp": b"x"})
        self.relay.update("call1", "ft", CALLEE, ANSWER)
        message = self.engine.requests()[-1][1]
        self.assertEqual((message["from-tag"], message["to-tag"]), (b"tt", b"ft"))
        self.engine.reply({"result": "ok", "sdp": b"x"})
        self.relay.answer("call1", "ft", "tt", CALLER, OFFER)
        message = self.engine.requests()[-1][1]
        self.assertEqual((message["command"], message["from-tag"], message["to-tag"]),
                         (b"answer", b"tt", b"ft"))

    def test_statistics(self) -> None:
        """
        C{query} is mapped per tag: the C{stats} of a tag's streams are what
        that side sent; hold comes from the SDP seen (the callee answered
        C{sendonly}, so the caller is on hold).
        """
        self.relay.allocate("call1", "ft", CALLER, OFFER)
        self.engine.reply({"result": "ok", "sdp": b"x"})
        self.relay.answer("call1", "ft", "tt", CALLEE, ANSWER)
        self.engine.reply({"result": "ok", "sdp": b"x"})
        d = self.relay.statistics("call1", "ft")
        message = self.engine.requests()[-1][1]
        self.assertEqual((message["command"], message["from-tag"]), (b"query", b"ft"))
        self.engine.reply(
            {
                "result": "ok",
                "tags": {
                    "ft": {"medias": [{"index": 1, "type": "audio", "streams": [
                        {"last packet": 1700000010, "stats": {"packets": 10, "bytes": 1720}},
                        {"last packet": 1700000012, "stats": {"packets": 1, "bytes": 60}},
                    ]}]},
                    "tt": {"medias": [{"index": 1, "type": "audio", "streams": [
                        {"last packet": 1700000000, "stats": {"packets": 0, "bytes": 0}},
                    ]}]},
                },
            }
        )
        stats = self.successResultOf(d)
        self.assertEqual(stats.caller.packets, 11)
        self.assertEqual(stats.caller.bytes, 1780)
        self.assertEqual(stats.caller.lastPacketAt, 1700000012.0)
        self.assertIsNone(stats.callee.lastPacketAt)
        self.assertTrue(stats.caller.onHold)
        self.assertFalse(stats.callee.onHold)
        self.assertEqual(stats.streams[0].mediaType, "audio")

    def test_releaseDeletesOnce(self) -> None:
        """
        Release sends C{delete} (without delay) once; a second release, or a
        release whose delete timed out, succeeds.
        """
        self.relay.allocate("call1", "ft", CALLER, OFFER)
        self.engine.reply({"result": "ok", "sdp": b"x"})
        d = self.relay.release("call1", "ft")
        message = self.engine.requests()[-1][1]
        self.assertEqual((message["command"], message["delete delay"]), (b"delete", 0))
        self.assertIsNone(self.successResultOf(self.relay.release("call1", "ft")))
        self.reactor.advance(10)
        self.assertIsNone(self.successResultOf(d))
        self.flushLoggedErrors()

    def test_unknownCall(self) -> None:
        """
        Answers and statistics for a call never offered fail without
        asking rtpengine.
        """
        self.failureResultOf(self.relay.answer("x", "y", "z", CALLEE, ANSWER),
                             UnknownMediaSession)
        self.failureResultOf(self.relay.statistics("x", "y"), UnknownMediaSession)
        self.assertEqual(self.engine.requests(), [])

    def test_engineDown(self) -> None:
        """
        With rtpengine not answering, an offer fails with
        L{MediaRelayUnavailable} (503) within the timeout.
        """
        d = self.relay.allocate("call1", "ft", CALLER, OFFER)
        self.reactor.advance(2.9)
        self.assertNoResult(d)
        self.reactor.advance(0.2)
        self.assertEqual(self.failureResultOf(d, MediaRelayUnavailable).value.sipStatus, 503)


class MediaStatisticsTests(SynchronousTestCase):
    def test_emptyAnswer(self) -> None:
        """
        An answer without tags gives empty statistics.
        """
        stats = mediaStatistics({"result": b"ok"}, {CALLER: "a"}, {CALLER: False, CALLEE: True})
        self.assertEqual(stats.streams, ())
        self.assertTrue(stats.callee.onHold)
