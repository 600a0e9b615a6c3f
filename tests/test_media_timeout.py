"""
Tests for L{keepsip.media.timeout}: a call whose media stopped from one end
is ended like a silent one; a held end gets the hold timeout.
"""

from __future__ import annotations

from keepsip.dialog.model import EndCause
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.sip.message import Request
from keepsip.testing import ALICE, BOB, SDP, answer, inDialog

from ._media import ALICE_RTP, BOB_RTP, MediaProxyTestCase, mediaPort
from ._proxy import startReapers, stopReapers

HOLD_SDP = SDP + b"a=sendonly\r\n"


class MediaTimeoutTests(MediaProxyTestCase):
    """
    keepsip with a 3 s media timeout, a 20 s hold timeout and a 1 s reaper
    tick.
    """

    def setUp(self) -> None:
        self.makeProxy()
        self.atBob, self.ok = self.establish()
        self.towardAlice = mediaPort(self.ok.body)  # Alice sends here
        self.towardBob = mediaPort(self.atBob.body)  # Bob sends here

    def talk(self, seconds: float, alice: bool = True, bob: bool = True) -> list[dict]:
        """
        Alice and/or Bob send a packet every 20 ms for C{seconds}; stop at
        the first BYEs keepsip sends, answer them 200.

        @return: the BYEs, by address.
        """
        steps = int(round(seconds / 0.02))
        for _ in range(steps):
            self.reactor.advance(0.02)
            if alice:
                self.rtp(self.towardAlice, ALICE_RTP)
            if bob:
                self.rtp(self.towardBob, BOB_RTP)
            byes = self.byes()
            if byes:
                self.answerByes(byes)
                return [byes]
        return []

    def test_silentCallerEnded(self) -> None:
        """
        Both talk for 5 s, then Alice's media stops while Bob's goes on:
        within 3 s + one tick keepsip sends BYE to both; the record has
        cause media-timeout, billed until Alice's last packet, detected
        later, and the detail names the caller as the quiet end and each
        BYE's outcome.
        """
        self.assertEqual(self.talk(5), [])
        lastAlice = self.reactor.seconds()
        [byes] = self.talk(10, alice=False)
        self.assertEqual(set(byes), {ALICE, BOB})
        detected = self.reactor.seconds()
        self.assertGreaterEqual(detected - lastAlice, 3.0)
        self.assertLessEqual(detected - lastAlice, 3.0 + 1.0 + 0.02)
        stop = self.records()[-1]
        self.assertEqual(stop["end_cause"], EndCause.MEDIA_TIMEOUT)
        self.assertLess(abs(stop["end_epoch"] - lastAlice), 0.002)
        self.assertLess(abs(stop["detected_epoch"] - detected), 0.03)
        self.assertGreater(stop["detected_epoch"], stop["end_epoch"] + 2.9)
        detail = stop["end_detail"]
        self.assertEqual(detail["silent"], "caller")
        self.assertEqual((detail["caller"], detail["callee"]), ("answered", "answered"))
        self.assertIn("no RTP/RTCP from the caller for 3 s", detail["why"])
        self.assertIn("BYE to callee: answered", detail["why"])
        self.assertEqual(self.relay.portsInUse, 0)

    def test_neverSent(self) -> None:
        """
        A call where neither end ever sends media ends 3 s (+ a tick) after
        the answer, billed until the answer, both ends quiet.
        """
        answered = self.reactor.seconds()
        [byes] = self.talk(6, alice=False, bob=False)
        stop = self.records()[-1]
        self.assertEqual(stop["end_cause"], EndCause.MEDIA_TIMEOUT)
        self.assertEqual(stop["end_detail"]["silent"], "both")
        self.assertLess(abs(stop["end_epoch"] - answered), 0.002)
        self.assertEqual(stop["duration_ms"], 0)

    def test_talkingCallStays(self) -> None:
        """
        A call where both ends send is never ended, and is checked about
        once per timeout, not once per tick.
        """
        self.assertEqual(self.talk(30), [])
        checks = self.proxy.service.media.timeouts.checks
        self.assertLessEqual(checks, 30 / 3 + 1)
        self.assertGreaterEqual(checks, 30 / 3 - 1)

    def test_holdTimeout(self) -> None:
        """
        Alice puts Bob on hold (a=sendonly): Bob, not expected to send, is
        silent for 15 s without the call ending (hold timeout 20 s) while
        Alice keeps sending; when the hold timeout passes, it ends, silent
        callee, noted as on hold.
        """
        self.proxy.receive(inDialog("INVITE", 2, "z9hG4bKhold", body=HOLD_SDP), ALICE)
        [reinvite] = [m for m in self.proxy.sentTo(BOB) if isinstance(m, Request)]
        self.proxy.receive(answer(reinvite, 200, "OK", toTag=None, body=SDP.replace(b"192.0.2.10", b"192.0.2.20") + b"a=recvonly\r\n"), BOB)
        self.proxy.receive(inDialog("ACK", 2, "z9hG4bKhack"), ALICE)
        self.proxy.sent()
        heldAt = self.reactor.seconds()
        self.assertEqual(self.talk(15, bob=False), [])
        [byes] = self.talk(10, bob=False)
        self.assertGreaterEqual(self.reactor.seconds() - heldAt, 20)
        stop = self.records()[-1]
        self.assertEqual(stop["end_detail"]["silent"], "callee")
        self.assertIn("callee (on hold) for 20 s", stop["end_detail"]["why"])

    def test_deadlineIndexOnly(self) -> None:
        """
        The check runs from a deadline index: one entry per watched call,
        none left once the call ended.
        """
        index = self.proxy.service.media.timeouts.index
        self.assertIsInstance(index, DeadlineIndex)
        self.assertEqual(len(index), 1)
        self.talk(6, alice=False, bob=False)
        self.assertEqual(len(index), 0)


class MediaTimeoutOffTests(MediaProxyTestCase):
    """
    C{--media-timeout 0} and C{--hold-timeout 0}: nothing is watched.
    """

    def test_off(self) -> None:
        """
        With both timeouts 0, a call without media stays up.
        """
        self.makeProxy(mediaTimeout=0.0, holdTimeout=0.0)
        self.establish()
        self.reactor.advance(100)
        self.assertEqual(self.byes(), {})
        self.assertEqual(len(self.proxy.service.store), 1)


class KeepaliveAndMediaTimeoutTests(MediaProxyTestCase):
    """
    A call whose keepalive window (C{--reap require}, 1.5 s x 2) and media
    timeout (3 s) run out at the same time.
    """

    def test_bothInOneTick(self) -> None:
        """
        Neither end sends media nor keepalives; the clock jumps past both
        deadlines in one step, so the keepalive reaper and the media
        timeout both find the call due before any BYE is answered: keepsip
        sends one BYE to each leg, not two, and writes one stop record,
        with the cause of whichever ended it first.
        """
        self.makeProxy(keepaliveInterval=1.5, keepaliveTolerance=2.0, reap="require")
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        self.establish()
        self.reactor.advance(5)
        byes = [
            (address, m)
            for m, address in self.proxy.sent()
            if isinstance(m, Request) and m.method == "BYE"
        ]
        self.assertEqual(sorted(address for address, _ in byes), sorted([ALICE, BOB]))
        self.answerByes(dict(byes))
        self.reactor.advance(40)
        stops = [r for r in self.records() if r["type"] == "stop"]
        self.assertEqual(len(stops), 1)
        self.assertIn(
            stops[0]["end_cause"], (EndCause.MEDIA_TIMEOUT, EndCause.KEEPALIVE_TIMEOUT)
        )
        self.assertEqual(self.relay.portsInUse, 0)
