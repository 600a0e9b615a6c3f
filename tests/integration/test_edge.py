"""
The edge role end to end (issue 12): a small Twisted phone (SIP and RTP on
loopback) → a keepsip edge → a keepsip core → a SIPp callee.

The phone sends no keepalives; the edge sends them to the core while the
phone's RTP flows. The core runs with a 2 s interval, tolerance 2 and a
0.5 s reaper tick (a 4 s deadline) and C{--require-keepalives-from} the
edge; the edge with the same interval and a 3 s media timeout.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall, deferLater

from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram
from tests.integration._harness import HOST, IntegrationTestCase, SippResult
from tests.integration.test_accounting import (
    AccountedKeepsipMixin,
    describeRecords,
    readRecords,
    stops,
    waitForRecords,
)
from tests.integration.test_media_relay import freeRange

INTERVAL = 2.0
TOLERANCE = 2.0
TICK = 0.5
MEDIA_TIMEOUT = 3.0
#: RTP stops; the edge notices within MEDIA_TIMEOUT + its tick and sends no
#: more keepalives; the core's deadline passes INTERVAL × TOLERANCE after
#: the last, noticed within TICK.
LATEST = MEDIA_TIMEOUT + INTERVAL * TOLERANCE + TICK + 1.0
SLACK = 1.0


def rtpPacket(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x1234) + b"\xff" * 160


class Phone(DatagramProtocol):
    """
    An ordinary SIP phone: one call, no keepalives; answers BYE 200 and
    records every SIP message it receives with the time.
    """

    def __init__(self, reactor: Any, edge: tuple[str, int]) -> None:
        self.reactor = reactor
        self.edge = edge
        self.received: list[tuple[float, Request | Response]] = []
        self.answered: Deferred[Response] = Deferred()
        self.byeReceived: Deferred[float] = Deferred()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        message = parseDatagram(datagram)
        now = self.reactor.seconds()
        self.received.append((now, message))
        if isinstance(message, Response):
            if message.code == 200 and "INVITE" in (message.header("cseq") or ""):
                if not self.answered.called:
                    self.answered.callback(message)
        elif isinstance(message, Request) and message.method == "BYE":
            lines = ["SIP/2.0 200 OK"]
            for name in ("via", "from", "to", "call-id", "cseq"):
                lines += [f"{name}: {v}" for v in message.headers.get(name, [])]
            self.transport.write(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
            if not self.byeReceived.called:
                self.byeReceived.callback(now)

    def call(self, port: int, rtpPort: int) -> None:
        body = (
            f"v=0\r\no=phone 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {rtpPort} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        ).encode()
        head = (
            "INVITE sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bKphone1;rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:alice@{HOST}>;tag=phonetag\r\n"
            "To: <sip:bob@example.com>\r\n"
            "Call-ID: edge-call-1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:alice@{HOST}:{port}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode() + body, self.edge)

    def ack(self, ok: Response, port: int) -> None:
        contact = re.search(r"<([^>]+)>", ok.header("contact") or "")
        assert contact is not None
        routes = list(reversed(ok.headers.get("record-route", [])))
        lines = [
            f"ACK {contact.group(1)} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bKphoneack;rport",
            "Max-Forwards: 70",
            *[f"Route: {r}" for r in routes],
            f"From: {ok.header('from')}",
            f"To: {ok.header('to')}",
            "Call-ID: edge-call-1",
            "CSeq: 1 ACK",
            "Content-Length: 0",
        ]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode(), self.edge)

    def invitesReceived(self) -> list[Request]:
        return [m for _, m in self.received if isinstance(m, Request) and m.method == "INVITE"]


class Sink(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        pass


class EdgeCallTests(AccountedKeepsipMixin, IntegrationTestCase):
    """
    A phone behind an edge calls a SIPp callee at the core.
    """

    timeout = 90

    @inlineCallbacks
    def startCall(self, calls: int = 1):  # type: ignore[no-untyped-def]
        """
        Start a SIPp callee, the core, the edge, and the phone's call with
        RTP every 100 ms.

        @return: a Deferred firing with C{(callee, core, coreCdr, edge,
            edgeCdr, phone, rtp loop, packets-sent counter)}.
        """
        callee = self.startSipp("uas_keepalive.xml", "-m", str(calls), timeout=80)
        yield callee.whenListening()
        timers = ("--keepalive-interval", str(INTERVAL), "--keepalive-tolerance",
                  str(TOLERANCE), "--reaper-tick", str(TICK))
        core, coreCdr = yield self.startAccountedKeepsip(
            "--route", f"*=sip:{callee.address}", *timers,
            "--require-keepalives-from", HOST, "--dialog-store", "memory",
            "--domain", "example.com",
        )
        low, high = freeRange(20)
        edge, edgeCdr = yield self.startAccountedKeepsip(
            "--role", "edge", "--core", f"sip:{core.address}", *timers,
            "--media-timeout", str(MEDIA_TIMEOUT), "--rtp-ports", f"{low}-{high}",
            "--dialog-store", "memory",
        )
        phone = Phone(self.reactor, (HOST, edge.port))
        sipPort = self.reactor.listenUDP(0, phone, interface=HOST)
        self.addCleanup(sipPort.stopListening)
        rtpSocket = self.reactor.listenUDP(0, Sink(), interface=HOST)
        self.addCleanup(rtpSocket.stopListening)
        phone.call(sipPort.getHost().port, rtpSocket.getHost().port)
        ok = yield phone.answered
        phone.ack(ok, sipPort.getHost().port)
        relay = re.search(rb"m=audio (\d+) ", ok.body)
        assert relay is not None
        relayPort = int(relay.group(1))
        seq = [0]

        def send() -> None:
            seq[0] += 1
            rtpSocket.write(rtpPacket(seq[0]), (HOST, relayPort))

        loop = LoopingCall(send)
        loop.clock = self.reactor
        loop.start(0.1)
        self.addCleanup(lambda: loop.stop() if loop.running else None)
        return callee, core, coreCdr, edge, edgeCdr, phone, loop, seq

    @inlineCallbacks
    def test_keptAliveWhileRtpFlowsEndedWhenItStops(self):  # type: ignore[no-untyped-def]
        """
        While the phone sends RTP (16 s: four times the core's 4 s
        deadline) the call stays up; when RTP stops, both the phone and the
        callee get the core's BYE within media timeout + interval ×
        tolerance + the ticks (+1 s slack); the phone never receives an
        INVITE (no keepalive reaches it); the core's record says
        keepalive-timeout with the edge's keepalives counted; the edge's
        record says its keepalives stopped because the phone's media was
        gone, and its measured volume from the phone is exactly what the
        phone sent (172-octet packets).
        """
        callee, core, coreCdr, edge, edgeCdr, phone, loop, seq = yield self.startCall()
        yield deferLater(self.reactor, 16, lambda: None)
        self.assertFalse(phone.byeReceived.called, "BYE while RTP flowed")
        loop.stop()
        stoppedAt = self.reactor.seconds()
        byeAt = yield phone.byeReceived
        answered: SippResult = yield callee.result()
        late = byeAt - stoppedAt
        self.assertTrue(
            MEDIA_TIMEOUT <= late <= LATEST + SLACK,
            f"BYE {late:.2f}s after RTP stopped, expected {MEDIA_TIMEOUT}..{LATEST}",
        )
        self.assertEqual(phone.invitesReceived(), [])
        self.assertEqual(len(answered.received("BYE")), 1)
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(coreCdr), lambda rs: bool(stops(rs)), 10, "core stop"
        )
        [stop] = stops(records)
        self.assertEqual(stop["end_cause"], "keepalive-timeout", describeRecords(records))
        self.assertGreaterEqual(stop["keepalive"]["count"], 7, describeRecords(records))
        edgeRecords = yield waitForRecords(
            self.reactor, lambda: readRecords(edgeCdr), lambda rs: bool(stops(rs)), 10, "edge stop"
        )
        [edgeStop] = stops(edgeRecords)
        self.assertIn("media gone", edgeStop["end_detail"]["keepalives"], describeRecords(edgeRecords))
        fromPhone = edgeStop["volume"]["measured"]["audio"]["caller-to-callee"]
        self.assertEqual(fromPhone, {"packets": seq[0], "bytes": 172 * seq[0]})
        self.assertTrue(core.running and edge.running)

    @inlineCallbacks
    def test_edgeKilled(self):  # type: ignore[no-untyped-def]
        """
        The edge is killed (SIGKILL) with the call up and RTP flowing: the
        core ends the call within interval × tolerance + tick (+1 s slack)
        of the edge's death: the callee gets its BYE, the core's record says
        keepalive-timeout.
        """
        callee, core, coreCdr, edge, edgeCdr, phone, loop, seq = yield self.startCall()
        yield deferLater(self.reactor, 6, lambda: None)
        yield edge.kill()
        killedAt = self.reactor.seconds()
        answered: SippResult = yield callee.result()
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(coreCdr), lambda rs: bool(stops(rs)), 10, "core stop"
        )
        [stop] = stops(records)
        self.assertEqual(stop["end_cause"], "keepalive-timeout", describeRecords(records))
        self.assertEqual(len(answered.received("BYE")), 1)
        late = stop["detected_epoch"] - killedAt
        self.assertLessEqual(late, INTERVAL * TOLERANCE + TICK + SLACK, describeRecords(records))
        self.assertLessEqual(killedAt - stop["keepalive"]["last_epoch"], INTERVAL + SLACK)
