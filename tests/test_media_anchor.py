"""
Tests for L{keepsip.media.anchor}: SDP rewritten on the way through keepsip
with the built-in relay, failures answered, on a task clock and in-memory
UDP (see L{tests._media}).
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.model import Dialog, Leg
from keepsip.dialog.store import MemoryDialogStore

from keepsip.interfaces import IMediaAnchor
from keepsip.media.anchor import MediaAnchor
from keepsip.media.sessions import MediaSessions
from keepsip.media.state import mediaState
from keepsip.media.testing import RecordingRelay
from keepsip.sip.parser import parseDatagram
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
        # Answered at once: no 100 Trying before the final response.
        self.assertEqual([a for _, a in sent], [ALICE])
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
        # Answered at once: no 100 Trying before the final response.
        self.assertEqual([a for _, a in sent], [ALICE])
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
        # Answered at once: no 100 Trying before the final response.
        self.assertEqual([a for _, a in sent], [ALICE])
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


class PrackTests(SynchronousTestCase):
    """
    Offers and answers in reliable provisional responses and PRACKs (RFC
    3262) go through the relay like those of INVITE and 2xx: the anchor
    with a L{RecordingRelay}, a memory dialog store and the messages of an
    early dialog.
    """

    def setUp(self) -> None:
        self.relay = RecordingRelay()
        self.store = MemoryDialogStore()
        self.clock = Clock()
        self.anchor = MediaAnchor(self.relay, self.store, MediaSessions(self.relay), self.clock)

    def call(self, offer: bytes) -> Request:
        """
        Alice's INVITE (with C{offer}, or none) passes; the tracker's
        dialog exists, early, with Bob's tag.
        """
        request = parseDatagram(invite(body=offer))
        assert isinstance(request, Request)
        outgoing = parseDatagram(invite(body=offer))
        assert isinstance(outgoing, Request)
        self.anchor.rewriteRequest(request, outgoing)
        dialog = Dialog(
            callID="call-1",
            caller=Leg(uri="sip:alice@example.com", tag="alicetag"),
            callee=Leg(uri="sip:bob@192.0.2.1", tag="bobtag"),
            requestURI="sip:bob@192.0.2.1",
            invitedAt=self.clock.seconds(),
            lastOfferSDP=offer,
        )
        self.store.add(dialog)
        return request

    def response(self, request: Request, code: int, body: bytes, method: str = "INVITE") -> Response:
        """
        Bob's C{code} to C{request} with C{body}, after the anchor: what
        Alice gets.
        """
        response = parseDatagram(answer(request, code, "OK", body=body))
        assert isinstance(response, Response)
        self.assertEqual(response.header("cseq").split()[1], method)
        rewriting = self.anchor.rewriteResponse(request, response)
        if rewriting is not None:
            self.assertIsNone(self.successResultOf(rewriting))
        return response

    def prack(self, body: bytes) -> tuple[Request, Request]:
        """
        Alice's PRACK with C{body}: as she sent it and as Bob gets it.
        """
        data = inDialog("PRACK", 2, "z9hG4bKprack", body=body, extra="RAck: 1 1 INVITE")
        request, outgoing = parseDatagram(data), parseDatagram(data)
        assert isinstance(request, Request) and isinstance(outgoing, Request)
        rewriting = self.anchor.rewriteRequest(request, outgoing)
        if body:
            assert rewriting is not None
            self.assertIsNone(self.successResultOf(rewriting))
        else:
            self.assertIsNone(rewriting)
        return request, outgoing

    def test_offerIn183AnswerInPrack(self) -> None:
        """
        INVITE without SDP; Bob's reliable 183 carries the offer (allocated
        for the callee), Alice's PRACK the answer (an answer from the
        caller, rewritten for Bob); the 200 to the PRACK has no SDP, and the
        200 to the INVITE repeating the 183's SDP gets the same rewritten
        body without a new offer at the relay. The call is anchored, so its
        media is watched.
        """
        invite_ = self.call(b"")
        progress = self.response(invite_, 183, ANSWER_SDP)
        self.assertEqual(progress.body, b"allocate callee")
        prack, atBob = self.prack(SDP)
        self.assertEqual(atBob.body, b"answer caller")
        self.assertEqual(self.response(prack, 200, b"", "PRACK").body, b"")
        ok = self.response(invite_, 200, ANSWER_SDP)
        self.assertEqual(ok.body, b"allocate callee")
        self.assertEqual(
            [(m, leg) for m, leg, _ in self.relay.calls],
            [("allocate", "callee"), ("answer", "caller")],
        )
        dialog = self.store.getByCallKey(("call-1", "alicetag"))
        assert dialog is not None
        self.assertTrue(mediaState(dialog).anchored)

    def test_newOfferInPrack(self) -> None:
        """
        INVITE with an offer, its answer in Bob's reliable 183; Alice's
        PRACK then makes a new offer (an update from the caller) and the
        200 to the PRACK answers it (an answer from the callee): both
        rewritten.
        """
        invite_ = self.call(SDP)
        self.assertEqual(self.response(invite_, 183, ANSWER_SDP).body, b"answer callee")
        prack, atBob = self.prack(SDP.replace(b"49170", b"50000"))
        self.assertEqual(atBob.body, b"update caller")
        ok = self.response(prack, 200, ANSWER_SDP, "PRACK")
        self.assertEqual(ok.body, b"answer callee")
        self.assertEqual(
            [(m, leg) for m, leg, _ in self.relay.calls],
            [("allocate", "caller"), ("answer", "callee"), ("update", "caller"), ("answer", "callee")],
        )

    def test_prackWithoutSDPUntouched(self) -> None:
        """
        A PRACK without a body is not the relay's business.
        """
        invite_ = self.call(SDP)
        self.response(invite_, 183, ANSWER_SDP)
        _, atBob = self.prack(b"")
        self.assertEqual(atBob.body, b"")
        self.assertEqual(len(self.relay.calls), 2)

    def test_prackOfUnknownCall(self) -> None:
        """
        A PRACK with SDP for a call keepsip does not hold goes as it came.
        """
        data = inDialog("PRACK", 2, "z9hG4bKprack", body=SDP, callID="other")
        request, outgoing = parseDatagram(data), parseDatagram(data)
        assert isinstance(request, Request) and isinstance(outgoing, Request)
        self.assertIsNone(self.anchor.rewriteRequest(request, outgoing))
        self.assertEqual(outgoing.body, SDP)


class PrackThroughBuiltinRelayTests(MediaProxyTestCase):
    """
    The RFC 3262 late offer through keepsip with the built-in relay.
    """

    def test_offerIn183AnswerInPrack(self) -> None:
        """
        Bob's reliable 183 offer reaches Alice naming the relay, Alice's
        PRACK answer reaches Bob naming it too, and media flows through it
        both ways once the 200 (without SDP) and the ACK passed; the call's
        media is then watched (it ends for silence after the timeout).
        """
        self.makeProxy()
        proxy = self.proxy
        proxy.receive(invite(body=b""), ALICE)
        [atBob] = [m for m in proxy.sentTo(BOB) if isinstance(m, Request)]
        proxy.receive(answer(atBob, 183, "Session Progress", body=ANSWER_SDP), BOB)
        [progress] = [m for m in proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertEqual(connection(progress.body), b"192.0.2.1")
        proxy.receive(inDialog("PRACK", 2, "z9hG4bKprack", body=SDP, extra="RAck: 1 1 INVITE"), ALICE)
        [prackAtBob] = [m for m in proxy.sentTo(BOB) if isinstance(m, Request)]
        self.assertEqual(prackAtBob.method, "PRACK")
        self.assertEqual(connection(prackAtBob.body), b"192.0.2.1")
        proxy.receive(answer(prackAtBob, 200, "OK", toTag=None), BOB)
        proxy.receive(answer(atBob, 200, "OK"), BOB)
        proxy.receive(inDialog("ACK", 1, "z9hG4bKack"), ALICE)
        proxy.sent()
        self.rtp(mediaPort(progress.body), ALICE_RTP)
        self.assertEqual(self.reactor.sent(mediaPort(prackAtBob.body)), [(PACKET, BOB_RTP)])
        self.rtp(mediaPort(prackAtBob.body), BOB_RTP)
        self.assertEqual(self.reactor.sent(mediaPort(progress.body)), [(PACKET, ALICE_RTP)])
        self.reactor.advance(5)
        self.assertEqual(len(self.byes()), 2)
