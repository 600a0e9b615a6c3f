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

    def test_holdTimeoutAndReinvite(self) -> None:
        """
        Alice re-INVITEs with her stream inactive (CSeq 2): the keepalives
        repeat that re-INVITE as the core got it (CSeq 2, its SDP), and go
        on without RTP for the hold timeout (20 s), not the media timeout
        (3 s); then they stop, saying on hold.
        """
        from keepsip.testing import ANSWER_SDP, SDP, answer

        self.talk(25)
        held = SDP.replace(b"a=rtpmap:0 PCMU/8000\r\n", b"a=rtpmap:0 PCMU/8000\r\na=inactive\r\n")
        self.proxy.receive(inDialog("INVITE", 2, "z9hG4bKhold", body=held), ALICE)
        [reinvite] = self.invitesTo(self.proxy.sent(), CORE)
        inactive = ANSWER_SDP + b"a=inactive\r\n"
        self.proxy.receive(answer(reinvite, 200, "OK", body=inactive), CORE)
        self.proxy.receive(inDialog("ACK", 2, "z9hG4bKholdack"), ALICE)
        self.proxy.sent()
        keepalives = []
        for _ in range(40):
            self.proxy.clock.advance(1)
            for keepalive in self.invitesTo(self.proxy.sent(), CORE):
                keepalives.append(keepalive)
                self.coreAnswers(keepalive)
                self.proxy.sent()
        self.assertEqual(len(keepalives), 1)
        [keepalive] = keepalives
        self.assertEqual(cseq(keepalive).number, 2)
        self.assertEqual(keepalive.body, reinvite.body)
        why = self.dialog.attachments.get(EdgeState).stopped
        self.assertIn("(caller) (on hold) for 20 s", why)


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


#: A phone behind the edge that the core calls.
PHONE = ("192.0.2.30", 5060)
PHONE_RTP = ("192.0.2.30", 49170)


class CalleeLegTests(EdgeTestCase):
    """
    A call from the core to a local phone: the edge keeps the callee leg
    alive with in-dialog OPTIONS while the phone's media flows.
    """

    def setUp(self) -> None:
        from keepsip.testing import SDP, answer

        self.makeProxy()
        body = SDP.replace(b"192.0.2.10", b"192.0.2.20")
        head = (
            "INVITE sip:carol@192.0.2.30:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKcore1\r\n"
            "Max-Forwards: 69\r\n"
            "Record-Route: <sip:192.0.2.20:5060;lr>\r\n"
            "Route: <sip:192.0.2.1:5060;lr>\r\n"
            "From: <sip:dave@example.com>;tag=davetag\r\n"
            "To: <sip:carol@example.com>\r\n"
            "Call-ID: from-core\r\nCSeq: 7 INVITE\r\n"
            "Contact: <sip:dave@198.51.100.9:5060>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.proxy.receive(head, CORE)
        [atPhone] = [m for m in self.proxy.sentTo(PHONE) if isinstance(m, Request)]
        self.relayForPhone = mediaPort(atPhone.body)
        phoneSDP = SDP.replace(b"192.0.2.10", b"192.0.2.30")
        self.proxy.receive(
            answer(atPhone, 200, "OK", toTag="phonetag", body=phoneSDP,
                   contact="<sip:carol@192.0.2.30:5060>"),
            PHONE,
        )
        ack = (
            "ACK sip:carol@192.0.2.30:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKcoreack\r\n"
            "Max-Forwards: 69\r\nRoute: <sip:192.0.2.1:5060;lr>\r\n"
            "From: <sip:dave@example.com>;tag=davetag\r\n"
            "To: <sip:carol@example.com>;tag=phonetag\r\n"
            "Call-ID: from-core\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        self.proxy.receive(ack, CORE)
        self.proxy.sent()
        self.dialog = self.proxy.service.store.allDialogs()[0]

    def talk(self, seconds: int) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        The phone sends a packet a second for C{seconds} seconds; the far
        end answers each OPTIONS 200 through the core.
        """
        from keepsip.testing import answer

        sent = []
        for _ in range(seconds):
            self.rtp(self.relayForPhone, PHONE_RTP)
            self.proxy.clock.advance(1)
            now = self.proxy.sent()
            sent += now
            for options in self.options(now):
                self.proxy.receive(answer(options, 200, "OK", toTag=None), CORE)
                self.proxy.sent()
        return sent

    def options(self, sent: list[tuple[Request | Response, tuple[str, int]]]) -> list[Request]:
        return [
            m for m, a in sent
            if a == CORE and isinstance(m, Request) and m.method == "OPTIONS"
        ]

    def test_optionsWhileMediaFlows(self) -> None:
        """
        Every 30 s while the phone talks, the edge sends the core an
        in-dialog OPTIONS in the phone's orientation (From its tag, To the
        caller's, Request-URI the caller's contact, Route through the core,
        CSeq 1); nothing of it reaches the phone; once its media stops,
        they stop.
        """
        sent = self.talk(65)
        keepalives = {topVia(m).branch: m for m in self.options(sent)}
        self.assertEqual(len(keepalives), 2)
        for options in keepalives.values():
            self.assertEqual(options.headers["from"], ["<sip:carol@example.com>;tag=phonetag"])
            self.assertEqual(toHeader(options).tag, "davetag")
            self.assertEqual(options.uri.toString(), "sip:dave@198.51.100.9:5060")
            self.assertEqual(options.headers["route"], ["<sip:192.0.2.20:5060;lr>"])
            self.assertEqual(options.headers["cseq"], ["1 OPTIONS"])
        self.assertEqual([m for m, a in sent if a == PHONE], [])
        self.proxy.clock.advance(100)
        self.assertEqual(self.options(self.proxy.sent()), [])
        why = self.dialog.attachments.get(EdgeState).stopped
        self.assertIn("media gone: no RTP/RTCP from the phone (callee)", why)
