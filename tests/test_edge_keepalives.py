"""
Tests for L{keepsip.edge.keepalives}: the edge sends keepalives to the core
for its local phone's call while the phone's media flows (issue 12 items 2
and 3), on a L{task.Clock} with the built-in relay on an in-memory UDP
reactor.
"""

from __future__ import annotations

from keepsip.edge.keepalives import EdgeState
from keepsip.sip.headers import cseq, toHeader, topVia
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, inDialog

from ._edge import CORE, EdgeTestCase, singleVia
from ._media import ALICE_RTP, mediaPort


class GenerationTests(EdgeTestCase):
    """
    What the edge sends, and to whom.
    """

    def setUp(self) -> None:
        self.makeProxy()
        self.atCore, self.ok = self.establish()
        self.relayForAlice = mediaPort(self.ok.body)
        self.dialog = self.proxy.service.store.allDialogs()[0]

    def talk(
        self, seconds: int, answerCode: int | None = 200
    ) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        Alice sends a packet a second for C{seconds} seconds; the core
        answers each keepalive at once with C{answerCode} (L{None}: not at
        all).

        @return: what keepsip sent meanwhile (not the ACKs of keepalives).
        """
        sent = []
        for _ in range(seconds):
            self.rtp(self.relayForAlice, ALICE_RTP)
            self.proxy.clock.advance(1)
            now = self.proxy.sent()
            sent += now
            if answerCode is not None:
                for keepalive in self.invitesTo(now, CORE):
                    self.coreAnswers(keepalive, answerCode)
                    self.proxy.sent()
        return sent

    def firstKeepalive(self) -> Request:
        """
        Talk until the first keepalive, unanswered.

        @return: it (its retransmissions, same branch, dropped).
        """
        keepalives = self.invitesTo(self.talk(31, None), CORE)
        self.assertEqual({topVia(k).branch for k in keepalives}, {topVia(keepalives[0]).branch})
        return keepalives[0]

    def test_keepaliveEqualsInviteAsCoreSawIt(self) -> None:
        """
        While Alice talks, the edge sends the core one INVITE each 30 s
        equal to the INVITE the core got from it (Call-ID, From, CSeq,
        Contact, the SDP the edge rewrote), now with Bob's tag, one Via of
        the edge's with a new branch each time; Alice is sent nothing.
        """
        sent = self.talk(95)
        keepalives = self.invitesTo(sent, CORE)
        self.assertEqual(len(keepalives), 3)
        self.assertEqual([m for m, a in sent if a == ALICE], [])
        branches = set()
        for keepalive in keepalives:
            for name in ("call-id", "from", "contact"):
                self.assertEqual(keepalive.headers[name], self.atCore.headers[name], name)
            self.assertEqual(cseq(keepalive), cseq(self.atCore))
            self.assertEqual(keepalive.body, self.atCore.body)
            self.assertEqual(toHeader(keepalive).tag, "bobtag")
            self.assertTrue(singleVia(keepalive))
            branches.add(topVia(keepalive).branch)
        self.assertEqual(len(branches), 3)
        self.assertNotEqual(self.atCore.body, b"")
        self.assertEqual(self.dialog.attachments.get(EdgeState).sent, 3)

    def test_okAcknowledgedNotRelayed(self) -> None:
        """
        The core's 200 to a keepalive is acknowledged by the edge (ACK with
        the keepalive's CSeq number, Bob's tag) and not relayed to Alice.
        """
        keepalive = self.firstKeepalive()
        self.coreAnswers(keepalive)
        sent = self.proxy.sent()
        [ack] = [m for m, a in sent if a == CORE and isinstance(m, Request)]
        self.assertEqual(ack.method, "ACK")
        self.assertEqual(cseq(ack).number, cseq(keepalive).number)
        self.assertEqual(toHeader(ack).tag, "bobtag")
        self.assertEqual([m for m, a in sent if a == ALICE], [])
        self.assertEqual(self.dialog.attachments.get(EdgeState).answered, 1)

    def test_mediaGoneStopsKeepalives(self) -> None:
        """
        When Alice's RTP stops, keepalives stop at the first check at least
        the media timeout (3 s) later; the edge itself sends no BYE (the
        core ends the call), and the dialog's state says why: media gone
        from the phone (caller).
        """
        self.assertEqual(len(self.invitesTo(self.talk(40), CORE)), 1)
        self.proxy.clock.advance(200)
        sent = self.proxy.sent()
        self.assertEqual(self.invitesTo(sent, CORE), [])
        self.assertEqual([m for m, a in sent if isinstance(m, Request)], [])
        why = self.dialog.attachments.get(EdgeState).stopped
        self.assertIn("media gone: no RTP/RTCP from the phone (caller)", why)

    def test_phoneByeStops(self) -> None:
        """
        Alice's BYE ends the keepalives: none is sent afterwards, and the
        edge's record says the phone's BYE stopped them.
        """
        self.talk(31)
        self.proxy.receive(inDialog("BYE", 2, "z9hG4bKbye"), ALICE)
        [bye] = [m for m in self.proxy.sentTo(CORE) if isinstance(m, Request)]
        from keepsip.testing import answer

        self.proxy.receive(answer(bye, 200, "OK", toTag=None), CORE)
        self.proxy.clock.advance(60)
        self.assertEqual(self.invitesTo(self.proxy.sent(), CORE), [])
        [stop] = [r for r in self.records() if r["type"] == "stop"]
        self.assertEqual(stop["end_detail"]["keepalives"], "the phone's BYE; 1 sent, 1 answered")

    def test_coreLostCallEndsLocalSide(self) -> None:
        """
        A 481 from the core to a keepalive means it no longer has the call:
        the edge stops and sends BYE to Alice.
        """
        keepalive = self.firstKeepalive()
        self.coreAnswers(keepalive, 481)
        byes = self.byes()
        self.assertIn(ALICE, byes)
        self.assertIn("481", self.dialog.attachments.get(EdgeState).stopped)


class RegistrationTests(EdgeTestCase):
    def test_registrationExpiryStops(self) -> None:
        """
        A call of a phone whose registration (through the edge, 60 s) runs
        out gets no keepalive after that, even while it talks.
        """
        self.makeProxy()
        register = (
            "REGISTER sip:192.0.2.20 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.20>;tag=r\r\n"
            "To: <sip:alice@192.0.2.20>\r\nCall-ID: reg\r\nCSeq: 1 REGISTER\r\n"
            "Contact: <sip:alice@192.0.2.10:5060>\r\nExpires: 60\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        self.proxy.receive(register, ALICE)
        self.proxy.sent()
        _, ok = self.establish()
        relay = mediaPort(ok.body)
        counts = []
        for _ in range(120):
            self.rtp(relay, ALICE_RTP)
            self.proxy.clock.advance(1)
            for keepalive in self.invitesTo(self.proxy.sent(), CORE):
                counts.append(keepalive)
                self.coreAnswers(keepalive)
        self.assertEqual(len(counts), 1)
        dialog = self.proxy.service.store.allDialogs()[0]
        self.assertIn("registration expired", dialog.attachments.get(EdgeState).stopped)
