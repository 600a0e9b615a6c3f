"""
Tests for L{keepsip.media.anchor}: SDP rewritten on the way through keepsip
with the built-in relay, failures answered, on a task clock and in-memory
UDP (see L{tests._media}).
"""

from __future__ import annotations

from zope.interface.verify import verifyObject

from keepsip.interfaces import IMediaAnchor
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, ANSWER_SDP, BOB, SDP, answer, inDialog, invite

from ._media import ALICE_RTP, BOB_RTP, PACKET, MediaProxyTestCase, connection, mediaPort

IPV6_SDP = SDP.replace(b"IN IP4 192.0.2.10", b"IN IP6 2001:db8::10")


class RewriteTests(MediaProxyTestCase):
    """
    Offers and answers reach the other side naming the relay, and media
    sent there reaches the real endpoint.
    """

    def setUp(self) -> None:
        self.makeProxy()

    def test_interface(self) -> None:
        """
        The anchor the core asks provides L{IMediaAnchor}.
        """
        self.assertTrue(verifyObject(IMediaAnchor, self.proxy.service.core.media))

    def test_offerAndAnswerRewritten(self) -> None:
        """
        Bob gets Alice's offer with the relay's address and a relay port,
        Alice gets Bob's answer likewise; the other lines are kept; RTP sent
        to either relay port goes to the other endpoint's real address.
        """
        atBob, ok = self.establish()
        self.assertEqual(connection(atBob.body), b"192.0.2.1")
        self.assertEqual(connection(ok.body), b"192.0.2.1")
        self.assertIn(b"a=rtpmap:0 PCMU/8000", atBob.body)
        towardBob, towardAlice = mediaPort(atBob.body), mediaPort(ok.body)
        self.assertTrue(30000 <= towardBob <= 39999 and 30000 <= towardAlice <= 39999)
        self.assertNotEqual(towardBob, towardAlice)
        self.rtp(towardAlice, ALICE_RTP, 2)
        self.rtp(towardBob, BOB_RTP, 3)
        self.assertEqual(self.reactor.sent(towardBob), [(PACKET, BOB_RTP)] * 2)
        self.assertEqual(self.reactor.sent(towardAlice), [(PACKET, ALICE_RTP)] * 3)

    def test_provisionalAnswerRewritten(self) -> None:
        """
        A 183 with SDP (early media) reaches Alice with the relay's address.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        assert isinstance(atBob, Request)
        self.proxy.receive(answer(atBob, 183, "Session Progress", body=ANSWER_SDP), BOB)
        [progress] = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertEqual(progress.code, 183)
        self.assertEqual(connection(progress.body), b"192.0.2.1")

    def test_reinviteFromCalleeRewritten(self) -> None:
        """
        Bob's re-INVITE with new SDP reaches Alice with the relay's address
        and the ports the stream already had; Alice's answer reaches Bob
        rewritten too.
        """
        atBob, ok = self.establish()
        newBobSDP = ANSWER_SDP.replace(b"49170", b"50000")
        reinvite = (
            "INVITE sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKbobre\r\n"
            "Max-Forwards: 70\r\nRoute: <sip:192.0.2.1:5060;lr>\r\n"
            "From: <sip:bob@192.0.2.1>;tag=bobtag\r\n"
            "To: <sip:alice@example.com>;tag=alicetag\r\n"
            "Call-ID: call-1\r\nCSeq: 7 INVITE\r\n"
            "Contact: <sip:bob@192.0.2.20:5060>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(newBobSDP)}\r\n\r\n"
        ).encode() + newBobSDP
        self.proxy.receive(reinvite, BOB)
        [atAlice] = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Request)]
        self.assertEqual(connection(atAlice.body), b"192.0.2.1")
        self.assertEqual(mediaPort(atAlice.body), mediaPort(ok.body))
        self.proxy.receive(answer(atAlice, 200, "OK", toTag=None, body=SDP), ALICE)
        [okAtBob] = [m for m in self.proxy.sentTo(BOB) if isinstance(m, Response)]
        self.assertEqual(connection(okAtBob.body), b"192.0.2.1")
        self.assertEqual(mediaPort(okAtBob.body), mediaPort(atBob.body))
        # Media for Bob now goes to his new port.
        self.rtp(mediaPort(ok.body), ALICE_RTP)
        self.assertEqual(self.reactor.sent(mediaPort(atBob.body)), [(PACKET, ("192.0.2.20", 50000))])

    def test_updateRewritten(self) -> None:
        """
        Alice's UPDATE with SDP reaches Bob rewritten.
        """
        self.establish()
        self.proxy.receive(inDialog("UPDATE", 2, "z9hG4bKupd", body=SDP), ALICE)
        [atBob] = [m for m in self.proxy.sentTo(BOB) if isinstance(m, Request)]
        self.assertEqual(atBob.method, "UPDATE")
        self.assertEqual(connection(atBob.body), b"192.0.2.1")

    def test_lateOffer(self) -> None:
        """
        An INVITE without SDP goes as it is; the offer in Bob's 200 reaches
        Alice rewritten, and the answer in Alice's ACK reaches Bob
        rewritten; media then flows through the relay.
        """
        self.proxy.receive(invite(body=b""), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        assert isinstance(atBob, Request)
        self.assertEqual(atBob.body, b"")
        self.proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        [ok] = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertEqual(connection(ok.body), b"192.0.2.1")
        self.proxy.receive(inDialog("ACK", 1, "z9hG4bKack", body=SDP), ALICE)
        [ackAtBob] = self.proxy.sentTo(BOB)
        assert isinstance(ackAtBob, Request)
        self.assertEqual(ackAtBob.method, "ACK")
        self.assertEqual(connection(ackAtBob.body), b"192.0.2.1")
        self.rtp(mediaPort(ok.body), ALICE_RTP)
        self.assertEqual(self.reactor.sent(mediaPort(ackAtBob.body)), [(PACKET, BOB_RTP)])

    def test_noRelayNoRewrite(self) -> None:
        """
        With C{--media-relay none} the offer reaches Bob octet for octet.
        """
        self.makeProxy(mediaRelay="none")
        self.assertIsNone(self.proxy.service.media)
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.assertEqual(atBob.body, SDP)


class FailureTests(MediaProxyTestCase):
    """
    What the relay cannot do is answered, and the INVITE is not forwarded.
    """

    def test_portsExhausted(self) -> None:
        """
        With ports for one call only, the second INVITE is answered 503 with
        a Retry-After, is not forwarded, and leaves no dialog or port behind.
        """
        self.makeProxy(rtpPorts=(30000, 30003))
        self.establish()
        held = self.relay.portsInUse
        self.proxy.receive(invite(callID="call-2", branch="z9hG4bKsecond"), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([a for _, a in sent], [ALICE, ALICE])
        final = sent[-1][0]
        assert isinstance(final, Response)
        self.assertEqual(final.code, 503)
        self.assertEqual(final.header("retry-after"), "5")
        self.assertEqual(len(self.proxy.service.store), 1)
        self.assertEqual(self.relay.portsInUse, held)

    def test_unsupportedSDP(self) -> None:
        """
        An IPv6 offer to an IPv4 relay is answered 488 and not forwarded.
        """
        self.makeProxy()
        self.proxy.receive(invite(body=IPV6_SDP), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([a for _, a in sent], [ALICE, ALICE])
        self.assertEqual(sent[-1][0].code, 488)  # type: ignore[union-attr]
        self.assertEqual(len(self.proxy.service.store), 0)
        self.assertEqual(self.relay.portsInUse, 0)

    def test_reinviteRefusedKeepsCall(self) -> None:
        """
        A re-INVITE the relay cannot anchor is answered 488, not forwarded,
        and the call and its media stay as they were.
        """
        self.makeProxy()
        atBob, ok = self.establish()
        self.proxy.receive(inDialog("INVITE", 2, "z9hG4bKre6", body=IPV6_SDP), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([a for _, a in sent], [ALICE, ALICE])
        self.assertEqual(sent[-1][0].code, 488)  # type: ignore[union-attr]
        self.assertEqual(len(self.proxy.service.store), 1)
        self.rtp(mediaPort(ok.body), ALICE_RTP)
        self.assertEqual(self.reactor.sent(mediaPort(atBob.body)), [(PACKET, BOB_RTP)])

    def rtpengineDown(self) -> None:
        """
        keepsip with an rtpengine that never answers (its ng port is bound
        on the in-memory reactor and drops everything).
        """
        self.makeProxy(mediaRelay="rtpengine:host=127.0.0.1,port=2223,timeout=2")

    def test_rtpengineDown(self) -> None:
        """
        With rtpengine not answering, the INVITE is answered 503 with a
        Retry-After once the relay's timeout (2 s) has passed, and is not
        forwarded; until then only 100 Trying went out.
        """
        self.rtpengineDown()
        self.proxy.receive(invite(), ALICE)
        self.assertEqual([m.code for m, _ in self.proxy.sent()], [100])  # type: ignore[union-attr]
        self.reactor.advance(1.9)
        self.assertEqual(self.proxy.sent(), [])
        self.reactor.advance(0.2)
        [(final, address)] = self.proxy.sent()
        assert isinstance(final, Response)
        self.assertEqual((final.code, address), (503, ALICE))
        self.assertEqual(final.header("retry-after"), "5")
        self.assertEqual(len(self.proxy.service.store), 0)

    def test_cancelWhileRelayWorks(self) -> None:
        """
        A CANCEL that comes while the relay has not answered yet is answered
        200 and the INVITE 487 at once; the INVITE is never forwarded, and
        nothing more is sent when the relay gives up.
        """
        self.rtpengineDown()
        self.proxy.receive(invite(), ALICE)
        self.proxy.sent()
        cancel = invite(method="CANCEL", body=b"").replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
        self.proxy.receive(cancel, ALICE)
        sent = self.proxy.sent()
        self.assertEqual(
            sorted((m.code, a) for m, a in sent), [(200, ALICE), (487, ALICE)]  # type: ignore[union-attr]
        )
        self.reactor.advance(3)
        # Only the 487's retransmissions (timer G) go out, to Alice.
        later = {(getattr(m, "code", m), a) for m, a in self.proxy.sent()}
        self.assertEqual(later - {(487, ALICE)}, set())
        self.assertEqual(len(self.proxy.service.store), 0)
