"""
Tests for L{keepsip.proxy.core}: RFC 3261 §16 behaviour of the whole proxy
(transport, transactions, core, tracker) on a fake transport and a clock.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause

from keepsip.sip.headers import toHeader, topVia, vias
from keepsip.sip.message import Request, Response
from keepsip.sip.sdp import offerDigest

from keepsip.testing import ALICE, BOB, SDP, RecordingObserver, answer, invite

from keepsip.transaction.testing import HeapClock

from ._proxy import ProxyHarness

class ProxyTestCase(SynchronousTestCase):
    def setUp(self):
        self.proxy = ProxyHarness()
        self.observer = RecordingObserver()
        self.proxy.service.tracker.addObserver(self.observer)

    def establish(self):
        """
        Alice calls Bob through keepsip; Bob rings and answers; Alice ACKs.

        @return: the INVITE as Bob received it, the 200 as Alice received it.
        """
        self.proxy.receive(invite(), ALICE)
        toAlice = self.proxy.sentTo(ALICE)
        self.assertEqual([m.code for m in toAlice], [100])
        # sentTo consumed everything; re-read what went to Bob.
        forwarded = [m for m, a in self._all() if a == BOB and isinstance(m, Request)]
        self.assertEqual(len(forwarded), 1)
        atBob = forwarded[0]
        self.proxy.receive(answer(atBob, 180, "Ringing"), BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        toAlice = self.proxy.sentTo(ALICE)
        self.assertEqual([m.code for m in toAlice], [180, 200])
        ok = toAlice[1]
        ack = invite(
            method="ACK",
            uri="sip:bob@192.0.2.20:5060",
            branch="z9hG4bKalice-ack",
            toTag="bobtag",
            body=b"",
            route="<sip:192.0.2.1:5060;lr>",
        )
        self.proxy.receive(ack, ALICE)
        acks = self.proxy.sentTo(BOB)
        self.assertEqual([m.method for m in acks], ["ACK"])
        return atBob, ok

    def _all(self):
        written = self.proxy.transport.written
        from keepsip.sip.parser import parseDatagram

        return [(parseDatagram(d), a) for d, a in written]

class ForwardingTests(ProxyTestCase):
    def test_inviteForwardedWithViaRecordRouteAndMaxForwards(self):
        """
        An initial INVITE is answered with 100 Trying and forwarded to the
        static route's next hop with keepsip's Via on top (RFC 3261 branch),
        Alice's Via below it carrying received/rport, a Record-Route with
        C{lr}, and Max-Forwards decremented.
        """
        self.proxy.receive(invite(), ("198.51.100.7", 40000))
        sent = self.proxy.sent()
        trying = [m for m, a in sent if isinstance(m, Response)]
        self.assertEqual(
            [(m.code, a) for m, a in sent if isinstance(m, Response)],
            [(100, ("198.51.100.7", 40000))],
        )
        self.assertEqual(trying[0].header("to"), "<sip:bob@192.0.2.1>")
        forwarded = [(m, a) for m, a in sent if isinstance(m, Request)]
        self.assertEqual(len(forwarded), 1)
        request, address = forwarded[0]
        self.assertEqual(address, BOB)
        self.assertEqual(request.uri.toString(), "sip:bob@192.0.2.1")
        top, second = vias(request)
        self.assertEqual((top.host, top.port), ("192.0.2.1", 5060))
        self.assertTrue(top.branch.startswith("z9hG4bK"))
        self.assertEqual(second.received, "198.51.100.7")
        self.assertEqual(second.rportValue, 40000)
        self.assertEqual(request.headers["record-route"], ["<sip:192.0.2.1:5060;lr>"])
        self.assertEqual(request.header("max-forwards"), "69")
        self.assertEqual(request.body, SDP)

    def test_missingMaxForwardsIsSetTo70(self):
        """
        A request without Max-Forwards (RFC 2543 style) is forwarded with
        Max-Forwards 70.
        """
        self.proxy.receive(invite(maxForwards=None), ALICE)
        [request] = [m for m in self.proxy.sentTo(BOB)]
        self.assertEqual(request.header("max-forwards"), "70")

    def test_callEstablishedAndDialogConfirmed(self):
        """
        Provisional and final responses are relayed to the caller with
        keepsip's Via removed, the 2xx ACK is forwarded statelessly to the
        callee, and the dialog goes created -> early -> confirmed with both
        route sets and remote targets known.
        """
        atBob, ok = self.establish()
        self.assertEqual(len(vias(ok)), 1)
        self.assertEqual(toHeader(ok).tag, "bobtag")
        self.assertEqual(self.observer.names(), ["created", "early", "confirmed"])
        dialog = self.observer.events[-1][1]
        self.assertEqual(dialog.callee.tag, "bobtag")
        self.assertEqual(dialog.caller.tag, "alicetag")
        self.assertEqual(dialog.callee.remoteTarget, "sip:bob@192.0.2.20:5060")
        self.assertEqual(dialog.caller.remoteTarget, "sip:alice@192.0.2.10:5060")
        self.assertEqual(dialog.lastAnswerSDP, SDP)
        # Answered: the offer is kept as its digest (what tells a keepalive).
        self.assertEqual(dialog.offerDigest, offerDigest(SDP))
        self.assertEqual(dialog.callee.routeSet, ())
        self.assertEqual(dialog.caller.routeSet, ())
        self.assertEqual(dialog.answeredAt, 0.0)

    def test_callerHangsUp(self):
        """
        A BYE from the caller is forwarded to the callee's contact, its 200
        relayed back, and the dialog ends with cause caller-bye and leaves the
        store.
        """
        self.establish()
        self.proxy.clock.advance(42)
        bye = invite(
            method="BYE",
            uri="sip:bob@192.0.2.20:5060",
            branch="z9hG4bKalice-bye",
            cseq=2,
            toTag="bobtag",
            body=b"",
            route="<sip:192.0.2.1:5060;lr>",
        )
        self.proxy.receive(bye, ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.assertEqual(atBob.method, "BYE")
        self.assertNotIn("route", atBob.headers)
        self.proxy.receive(answer(atBob, 200, "OK", toTag=None), BOB)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [200])
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.CALLER_BYE))
        self.assertEqual(detail, {"caller": "BYE", "callee": "200"})
        self.assertEqual(dialog.talkMilliseconds, 42000)
        self.assertEqual(len(self.proxy.service.store), 0)

    def test_calleeHangsUp(self):
        """
        A BYE from the callee (tags reversed) reaches the caller's contact;
        the dialog ends when the caller answers, with cause callee-bye, the
        BYE's arrival as end time, and the answer as the caller's detail.
        """
        self.establish()
        bye = (
            "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKbob-bye\r\n"
            "Max-Forwards: 70\r\n"
            "Route: <sip:192.0.2.1:5060;lr>\r\n"
            "From: <sip:bob@192.0.2.1>;tag=bobtag\r\n"
            "To: Alice <sip:alice@example.com>;tag=alicetag\r\n"
            "Call-ID: call-1\r\n"
            "CSeq: 1 BYE\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        self.proxy.clock.advance(5)
        self.proxy.receive(bye, BOB)
        [atAlice] = self.proxy.sentTo(ALICE)
        self.assertEqual(atAlice.method, "BYE")
        self.assertEqual(self.observer.names()[-1], "confirmed")
        self.proxy.clock.advance(1)
        self.proxy.receive(
            answer(atAlice, 481, "Call/Transaction Does Not Exist", toTag=None), ALICE
        )
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.CALLEE_BYE))
        self.assertEqual(detail, {"callee": "BYE", "caller": "481"})
        self.assertEqual(dialog.endedAt, 5.0)
        self.assertEqual(dialog.callee.cseq, 1)

    def test_busy(self):
        """
        A 486 from the callee is ACKed hop by hop by keepsip, relayed to the
        caller, and ends the attempt with cause rejected.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 486, "Busy Here"), BOB)
        sent = self.proxy.sent()
        acks = [m for m, a in sent if a == BOB]
        self.assertEqual([m.method for m in acks], ["ACK"])
        self.assertEqual(topVia(acks[0]).branch, topVia(atBob).branch)
        toAlice = [m for m, a in sent if a == ALICE]
        self.assertEqual([m.code for m in toAlice], [486])
        self.assertEqual(self.observer.events[-1][2], EndCause.REJECTED)
        self.assertEqual(self.observer.events[-1][3], {"callee": "486"})

    def test_cancelBeforeAnswer(self):
        """
        A CANCEL for a ringing call gets 200, is sent on to the callee as a
        hop-by-hop CANCEL with the forwarded INVITE's branch, and the callee's
        487 ends the attempt with cause cancelled.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 180, "Ringing"), BOB)
        self.proxy.sent()
        cancel = invite(method="CANCEL", body=b"")
        self.proxy.receive(cancel, ALICE)
        sent = self.proxy.sent()
        self.assertEqual(
            [(m.code, m.header("cseq")) for m, a in sent if a == ALICE],
            [(200, "1 CANCEL")],
        )
        [cancelled] = [m for m, a in sent if a == BOB]
        self.assertEqual(cancelled.method, "CANCEL")
        self.assertEqual(topVia(cancelled).branch, topVia(atBob).branch)
        self.proxy.receive(answer(atBob, 487, "Request Terminated"), BOB)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [487])
        self.assertEqual(self.observer.events[-1][2], EndCause.CANCELLED)

    def test_cancelUnknownTransaction(self):
        """
        A CANCEL matching no INVITE transaction is forwarded like any other
        request (RFC 3261 §16.10 says to forward it).
        """
        self.proxy.receive(invite(method="CANCEL", body=b""), ALICE)
        self.assertEqual([m.method for m in self.proxy.sentTo(BOB)], ["CANCEL"])

    def test_retransmittedInviteAbsorbed(self):
        """
        A retransmitted INVITE is answered from its server transaction and not
        forwarded again.
        """
        self.proxy.receive(invite(), ALICE)
        self.proxy.sent()
        self.proxy.receive(invite(), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([(m.code, a) for m, a in sent], [(100, ALICE)])

    def test_noAnswerTimesOut(self):
        """
        An INVITE nobody answers is retransmitted (timer A) and after timer B
        the caller gets 408 and the attempt ends with cause no-answer.
        """
        self.proxy.receive(invite(), ALICE)
        self.proxy.sent()
        self.proxy.clock.advance(0.5)
        self.assertEqual([m.method for m in self.proxy.sentTo(BOB)], ["INVITE"])
        for _ in range(70):
            self.proxy.clock.advance(0.5)
        sent = self.proxy.sent()
        self.assertIn(408, [m.code for m, a in sent if a == ALICE])
        self.assertEqual(self.observer.events[-1][2], EndCause.NO_ANSWER)

    def test_timerCCancelsRingingBranch(self):
        """
        A branch that rings for longer than timer C (180 s) is cancelled.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 180, "Ringing"), BOB)
        self.proxy.sent()
        self.proxy.clock.advance(179)
        self.assertEqual(self.proxy.sentTo(BOB), [])
        self.proxy.clock.advance(1)
        self.assertEqual([m.method for m in self.proxy.sentTo(BOB)], ["CANCEL"])

    def test_icmpErrorFailsBranchAtOnce(self):
        """
        An ICMP port unreachable for the next hop fails its client
        transaction at once: the caller gets a final answer without waiting
        for timer B (503 from the branch, sent upstream as 500).
        """
        self.proxy.receive(invite(), ALICE)
        self.proxy.sent()
        self.proxy.service.protocols[0].icmpErrorReceived(BOB, 111)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [500])

    def test_forkedSecond2xxAlsoRelayed(self):
        """
        Every 2xx is forwarded upstream, including a second answer with a
        different To tag (forking downstream).
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", toTag="fork1"), BOB)
        self.proxy.receive(answer(atBob, 200, "OK", toTag="fork2"), BOB)
        codes = [(m.code, toHeader(m).tag) for m in self.proxy.sentTo(ALICE)]
        self.assertEqual(codes, [(200, "fork1"), (200, "fork2")])

class ProxyRulesTests(ProxyTestCase):
    def forwardInDialog(self, method, uri, route, source):
        """
        Send an in-dialog request without a body from C{source}.

        @return: the one request keepsip forwarded, and where it went.
        """
        self.proxy.receive(invite(method=method, uri=uri, toTag="x", body=b"", route=route), source)
        [(message, address)] = [(m, a) for m, a in self.proxy.sent() if isinstance(m, Request)]
        return message, address

    def test_maxForwardsZero(self):
        """
        A request with Max-Forwards 0 is not forwarded and gets 483.
        """
        self.proxy.receive(invite(maxForwards=0), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([(m.code, a) for m, a in sent], [(483, ALICE)])

    def test_optionsToProxyWithMaxForwardsZero(self):
        """
        OPTIONS addressed to keepsip itself is answered 200 with Allow, even
        with Max-Forwards 0 (RFC 3261 §16.3 step 2 allows it).
        """
        self.proxy.receive(
            invite(method="OPTIONS", uri="sip:192.0.2.1:5060", maxForwards=0, body=b""),
            ALICE,
        )
        [response] = self.proxy.sentTo(ALICE)
        self.assertEqual(response.code, 200)
        self.assertIn("INVITE", response.header("allow"))

    def test_loopDetected(self):
        """
        A request that comes back carrying keepsip's own Via with the same
        loop hash (unchanged request) is answered 482.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        looped = atBob.copy()
        # The same request arrives again from downstream, unchanged apart
        # from a new top Via and Max-Forwards.
        looped.headers["via"].insert(0, "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKloop")
        looped.invalidate("via")
        looped.uri = atBob.uri
        looped.headers["record-route"] = []
        data = looped.toBytes()
        self.proxy.receive(data, BOB)
        self.assertIn(482, [m.code for m in self.proxy.sentTo(BOB) if isinstance(m, Response)])

    def test_spiralIsNotALoop(self):
        """
        A request that comes back with a different Request-URI (a spiral) is
        forwarded, not rejected.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        spiral = atBob.copy()
        spiral.headers["via"].insert(0, "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKspiral")
        spiral.invalidate("via")
        from keepsip.sip.uri import parseURI

        spiral.uri = parseURI("sip:carol@192.0.2.1")
        self.proxy.receive(spiral.toBytes(), BOB)
        sent = self.proxy.sent()
        self.assertNotIn(482, [m.code for m, a in sent if isinstance(m, Response)])
        self.assertEqual(
            [m.uri.toString() for m, a in sent if isinstance(m, Request) and a == BOB],
            ["sip:carol@192.0.2.1"],
        )

    def test_looseRouteToNextHop(self):
        """
        A request whose Route names keepsip and then another loose router
        loses keepsip's entry and goes to the next Route's address, keeping
        the Request-URI.
        """
        message, address = self.forwardInDialog(
            "OPTIONS",
            "sip:carol@example.org",
            "<sip:192.0.2.1:5060;lr>, <sip:203.0.113.5:5070;lr>",
            ALICE,
        )
        self.assertEqual(address, ("203.0.113.5", 5070))
        self.assertEqual(message.headers["route"], ["<sip:203.0.113.5:5070;lr>"])
        self.assertEqual(message.uri.toString(), "sip:carol@example.org")

    def test_strictRouterPreviousHop(self):
        """
        A request from a strict router carries keepsip's Record-Route URI as
        Request-URI; keepsip restores the real Request-URI from the last Route
        (RFC 3261 §16.4).
        """
        message, address = self.forwardInDialog(
            "BYE", "sip:192.0.2.1:5060;lr", "<sip:alice@192.0.2.10:5060>", BOB
        )
        self.assertEqual(message.uri.toString(), "sip:alice@192.0.2.10:5060")
        self.assertNotIn("route", message.headers)
        self.assertEqual(address, ALICE)

    def test_strictRouterNextHop(self):
        """
        When the next Route has no C{lr}, keepsip puts it into the
        Request-URI and moves the Request-URI to the end of Route (RFC 3261
        §16.6 step 7).
        """
        message, address = self.forwardInDialog(
            "OPTIONS",
            "sip:carol@example.org",
            "<sip:192.0.2.1:5060;lr>, <sip:203.0.113.5:5070>",
            ALICE,
        )
        self.assertEqual(message.uri.toString(), "sip:203.0.113.5:5070")
        self.assertEqual(message.headers["route"], ["<sip:carol@example.org>"])
        self.assertEqual(address, ("203.0.113.5", 5070))

    def test_nonSipRouteAnswered(self):
        """
        A Route whose next hop is not a SIP URI cannot be followed: the
        request gets 416, not an internal error.
        """
        request = invite(
            method="OPTIONS",
            uri="sip:carol@example.org",
            toTag="x",
            body=b"",
            route="<sip:192.0.2.1:5060;lr>, <tel:+15551234>",
        )
        self.proxy.receive(request, ALICE)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [416])

    def test_foreignDomainToRequestURIHost(self):
        """
        Without a route for it, a request for a foreign IP-literal domain goes
        to the Request-URI's host and port.
        """
        self.proxy.receive(invite(uri="sip:carol@203.0.113.9:5080"), ALICE)
        forwarded = [a for m, a in self.proxy.sent() if isinstance(m, Request)]
        self.assertEqual(forwarded, [("203.0.113.9", 5080)])

    def test_unroutableOwnDomain(self):
        """
        Without any route, a request for an unknown user of keepsip's own
        domain gets 404.
        """
        self.proxy = ProxyHarness(routes=())
        self.proxy.receive(invite(), ALICE)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [404])

    def test_unresolvableHostGets503(self):
        """
        A Request-URI host that does not resolve ends in 503 being turned
        into 500 (RFC 3261 §16.7 step 6) for the caller... keepsip answers
        the caller with a final response and forwards nothing.
        """
        from twisted.internet.defer import fail

        self.proxy.service.core.resolve = lambda host: fail(OSError("no such host"))
        self.proxy.receive(invite(uri="sip:carol@nowhere.invalid"), ALICE)
        sent = self.proxy.sent()
        self.assertEqual([a for m, a in sent if isinstance(m, Request)], [])
        self.assertEqual([m.code for m, a in sent][-1], 500)

    def test_proxyRequire(self):
        """
        An unknown Proxy-Require option gets 420 with Unsupported naming it,
        answered statelessly before any transaction exists (no 100 Trying).
        """
        self.proxy.receive(invite(extra="Proxy-Require: foo"), ALICE)
        [response] = self.proxy.sentTo(ALICE)
        self.assertEqual(response.code, 420)
        self.assertEqual(response.header("unsupported"), "foo")

    def test_unparsableViaAnsweredToSource(self):
        """
        A request whose Via cannot be parsed gets a stateless 400 sent back to
        the address it came from, and nothing is forwarded.
        """
        data = invite().replace(b"branch=z9hG4bKalice1;rport", b"branch=z9hG4bKalice1;;,;")
        self.proxy.receive(data, ("198.51.100.7", 40000))
        sent = self.proxy.sent()
        self.assertEqual([(m.code, a) for m, a in sent], [(400, ("198.51.100.7", 40000))])

    def test_responseNotForUsDropped(self):
        """
        A response whose top Via is not keepsip's is dropped (RFC 3261 §18.1.2).
        """
        response = (
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKother\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        self.proxy.receive(response, BOB)
        self.assertEqual(self.proxy.sent(), [])

    def test_stray2xxForwardedStatelessly(self):
        """
        A 2xx retransmission that no client transaction matches, whose top
        Via is keepsip's, is forwarded to the next Via.
        """
        response = (
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKksgone\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx;received=192.0.2.10;rport=5070\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        self.proxy.receive(response, BOB)
        [(message, address)] = self.proxy.sent()
        self.assertEqual(address, ("192.0.2.10", 5070))
        self.assertEqual(len(vias(message)), 1)

class RegistrarThroughProxyTests(ProxyTestCase):
    def register(self, expires=60, contact="<sip:bob@198.51.100.20:5062>", cseq=1):
        data = (
            "REGISTER sip:192.0.2.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKreg%d\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:bob@192.0.2.1>;tag=reg\r\n"
            "To: <sip:bob@192.0.2.1>\r\n"
            "Call-ID: reg-1\r\n"
            "CSeq: %d REGISTER\r\n"
            "Contact: %s\r\n"
            "Expires: %d\r\n"
            "Content-Length: 0\r\n\r\n" % (cseq, cseq, contact, expires)
        )
        self.proxy.receive(data, ("198.51.100.20", 5062))
        return self.proxy.sentTo(("198.51.100.20", 5062))

    def test_registerThenCall(self):
        """
        After Bob registers, an INVITE for his address-of-record goes to his
        registered contact (with the Request-URI rewritten to it), before any
        static route.
        """
        [ok] = self.register()
        self.assertEqual(ok.code, 200)
        self.assertEqual(ok.headers["contact"], ["<sip:bob@198.51.100.20:5062>;expires=60"])
        self.assertIsNotNone(toHeader(ok).tag)
        self.proxy.receive(invite(), ALICE)
        forwarded = [(m, a) for m, a in self.proxy.sent() if isinstance(m, Request)]
        [(request, address)] = forwarded
        self.assertEqual(address, ("198.51.100.20", 5062))
        self.assertEqual(request.uri.toString(), "sip:bob@198.51.100.20:5062")

    def test_bindingExpiresOnClock(self):
        """
        Once the registration's expiry has passed on the clock, the location
        service no longer has the binding and the static route is used again.
        """
        self.register(expires=60)
        self.proxy.clock.advance(61)
        self.proxy.receive(invite(), ALICE)
        forwarded = [a for m, a in self.proxy.sent() if isinstance(m, Request)]
        self.assertEqual(forwarded, [BOB])

    def test_intervalTooBrief(self):
        """
        An expiry below the minimum gets 423 with Min-Expires.
        """
        [response] = self.register(expires=10)
        self.assertEqual(response.code, 423)
        self.assertEqual(response.header("min-expires"), "60")

    def test_unregister(self):
        """
        Expires 0 removes the binding.
        """
        self.register()
        [ok] = self.register(expires=0, cseq=2)
        self.assertEqual(ok.code, 200)
        self.assertNotIn("contact", ok.headers)
        self.assertEqual(len(self.proxy.service.location), 0)

    def test_pathIsRouteSetTowardContact(self):
        """
        RFC 3327: a REGISTER that came through an edge carries its Path;
        keepsip echoes it in the 200 and stores it, and an INVITE for that
        address-of-record goes to the edge (the Path's host), with the
        Path as its Route and the phone's contact as Request-URI.
        """
        edge = ("203.0.113.7", 5070)
        data = (
            "REGISTER sip:192.0.2.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 203.0.113.7:5070;branch=z9hG4bKedge1\r\n"
            "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKphone1\r\n"
            "Path: <sip:203.0.113.7:5070;lr>\r\n"
            "Max-Forwards: 69\r\n"
            "From: <sip:bob@192.0.2.1>;tag=reg\r\n"
            "To: <sip:bob@192.0.2.1>\r\n"
            "Call-ID: reg-path\r\n"
            "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:bob@10.0.0.5:5060>\r\n"
            "Expires: 60\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        self.proxy.receive(data, edge)
        [ok] = self.proxy.sentTo(edge)
        self.assertEqual((ok.code, ok.headers["path"]), (200, ["<sip:203.0.113.7:5070;lr>"]))
        self.proxy.receive(invite(), ALICE)
        [(request, address)] = [(m, a) for m, a in self.proxy.sent() if isinstance(m, Request)]
        self.assertEqual(address, edge)
        self.assertEqual(request.uri.toString(), "sip:bob@10.0.0.5:5060")
        self.assertEqual(request.headers["route"], ["<sip:203.0.113.7:5070;lr>"])

    def test_purgeDropsExpiredBindings(self):
        """
        The periodic purge removes expired bindings without a lookup.
        """
        self.register()
        self.proxy.clock.advance(120)
        self.proxy.service.purgeRegistrations()
        self.assertEqual(len(self.proxy.service.location), 0)

class AddressFamilyTests(SynchronousTestCase):
    """
    A next hop of an address family keepsip has no socket for (it listens on
    IPv4 only) gets a clean SIP answer.
    """

    def setUp(self) -> None:
        self.proxy = ProxyHarness(routes=("*=sip:[2001:db8::20]:5060",))

    def test_inviteToOtherFamily(self) -> None:
        """
        An INVITE routed to an IPv6 next hop is answered 500 (the branch's
        transport failure, a 503, becomes 500 per §16.7 step 6), and no
        transaction timer but the server transaction's own is left: after
        its ACK and timers, nothing remains.
        """
        self.proxy.receive(invite(), ALICE)
        self.proxy.clock.advance(0)
        codes = [m.code for m in self.proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertEqual(codes, [100, 500])
        self.assertEqual(self.proxy.service.transactions.clientCount, 0)
        self.proxy.clock.advance(64)
        self.assertEqual(self.proxy.service.transactions.serverCount, 0)
        self.assertEqual(self.proxy.clock.getDelayedCalls(), [])

    def test_optionsToOtherFamily(self) -> None:
        """
        A non-INVITE request to an IPv6 next hop is answered 500 too.
        """
        self.proxy.receive(invite(method="OPTIONS", body=b""), ALICE)
        self.proxy.clock.advance(0)
        codes = [m.code for m in self.proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertEqual(codes, [500])
        self.assertEqual(self.proxy.service.transactions.clientCount, 0)


class FakeResolver:
    """
    A resolver standing in for C{reactor.resolve}, answering like the real
    one does for the names the tests use: a name with an empty or over-long
    label makes Twisted's resolver fail inside its thread (C{UnicodeError}
    from the IDNA codec) and the Deferred it returned never fires; C{*.fail}
    fails with C{DNSLookupError}; C{*.hang} never answers (a timeout); other
    names resolve to an address of TEST-NET-1 (never sent to: the fake
    network only records).
    """

    def __init__(self) -> None:
        self.pending: list[object] = []

    def __call__(self, name: str):
        from twisted.internet.defer import Deferred, fail, succeed
        from twisted.internet.error import DNSLookupError

        labels = name.rstrip(".").split(".")
        if any(not label or len(label) > 63 for label in labels):
            d: Deferred[str] = Deferred()
            self.pending.append(d)
            return d
        if name.endswith(".fail"):
            return fail(DNSLookupError(name))
        if name.endswith(".hang"):
            d = Deferred()
            self.pending.append(d)
            return d
        return succeed("192.0.2.20")


class SendAndResolveFailureTests(SynchronousTestCase):
    """
    Issue 8 item 3: no state from a datagram outlives its timers. Every
    trigger of a send or resolve failure is fed 2,000 times through the whole
    proxy on a clock and a fake network; after the RFC timers, every
    transaction, dialog and pending resolution is gone, and each caller got a
    final answer.
    """

    CALLS = 2000

    def run2000(self, proxy: ProxyHarness, make, source=ALICE, answered: bool = True) -> None:
        """
        Feed C{make(n)} for n in range(CALLS) from C{source}; run the clock
        past every RFC timer; check that nothing is left and (if
        C{answered}) that each call got a final response at C{source}.
        """
        for n in range(self.CALLS):
            proxy.receive(make(n), source)
        finals: dict[str, int] = {}
        for _ in range(60):
            proxy.clock.advance(5)
            for message, address in proxy.sent():
                if isinstance(message, Response) and message.code >= 200 and address == source:
                    finals[message.header("call-id")] = message.code
        service = proxy.service
        self.assertEqual(
            (
                service.transactions.serverCount,
                service.transactions.clientCount,
                len(service.store),
                getattr(service.core, "resolving", 0),
            ),
            (0, 0, 0, 0),
        )
        if answered:
            self.assertEqual(len(finals), self.CALLS)

    def test_receivedHostName(self) -> None:
        """
        A Via whose C{received} parameter is a host name (sent-by equal to the
        source, so keepsip does not stamp its own) must not send the answers
        to that name: keepsip overwrites it with the source address, and the
        caller gets its final answer (408: the callee never answers).
        """
        proxy = ProxyHarness(clock=HeapClock())
        self.run2000(
            proxy,
            lambda n: invite(
                callID=f"recv-{n}", branch=f"z9hG4bKrecv{n};received=evil.example"
            ).replace(b";rport", b""),
        )

    def test_viaMaddrHostName(self) -> None:
        """
        A Via whose C{maddr} names a host: responses cannot be sent there
        (keepsip does not resolve for responses), so the request is dropped
        before any state exists rather than leaving a transaction nobody can
        be answered from.
        """
        proxy = ProxyHarness(clock=HeapClock())
        self.run2000(
            proxy,
            lambda n: invite(callID=f"maddr-{n}", branch=f"z9hG4bKmaddr{n};maddr=evil.example"),
            answered=False,
        )
        self.assertEqual(proxy.transport.written, [])

    def test_ipv6NextHop(self) -> None:
        """
        An IPv6 Request-URI host on an IPv4-only keepsip: the branch fails as
        a 503, the caller gets 500.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        self.run2000(
            proxy, lambda n: invite(callID=f"v6-{n}", branch=f"z9hG4bKv6{n}", uri="sip:bob@[2001:db8::20]:5060")
        )

    def test_emptyLabel(self) -> None:
        """
        A Request-URI host with an empty DNS label is never handed to the
        resolver (whose Deferred would never fire): the branch fails as a
        503 at once.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        proxy.service.core.resolve = FakeResolver()
        self.run2000(proxy, lambda n: invite(callID=f"empty-{n}", branch=f"z9hG4bKempty{n}", uri="sip:bob@a..example"))

    def test_longLabel(self) -> None:
        """
        A Request-URI host with a label over 63 octets, for a non-INVITE
        (which has no timer C to end it), fails as a 503 at once.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        proxy.service.core.resolve = FakeResolver()
        self.run2000(
            proxy,
            lambda n: invite(
                callID=f"long-{n}", branch=f"z9hG4bKlong{n}", method="OPTIONS", body=b"", uri=f"sip:bob@{'x' * 64}.example"
            ),
        )

    def test_resolverFailure(self) -> None:
        """
        A resolver failure is the branch's 503.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        proxy.service.core.resolve = FakeResolver()
        self.run2000(proxy, lambda n: invite(callID=f"fail-{n}", branch=f"z9hG4bKfail{n}", uri="sip:bob@x.fail"))

    def test_resolverTimeout(self) -> None:
        """
        A resolver that never answers is given up on after the core's
        C{resolveTimeout}: the branch's 503, for INVITE and non-INVITE alike.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        proxy.service.core.resolve = FakeResolver()
        self.run2000(
            proxy,
            lambda n: invite(
                callID=f"hang-{n}", branch=f"z9hG4bKhang{n}",
                method="OPTIONS" if n % 2 else "INVITE",
                body=b"" if n % 2 else SDP,
                uri="sip:bob@x.hang",
            ),
        )

    def test_ackToUnresolvableHost(self) -> None:
        """
        A 2xx ACK forwarded statelessly to a host the resolver never answers
        for leaves no pending resolution behind.
        """
        proxy = ProxyHarness(routes=(), clock=HeapClock())
        proxy.service.core.resolve = FakeResolver()
        self.run2000(
            proxy,
            lambda n: invite(
                callID=f"ack-{n}", branch=f"z9hG4bKack{n}", method="ACK", body=b"", toTag="x", uri=f"sip:bob@a{n}.hang"
            ),
            answered=False,
        )

    def test_strayResponseToHostName(self) -> None:
        """
        A stray 2xx whose next Via names a host (or an IPv6 address) is
        dropped without an error or any state.
        """
        proxy = ProxyHarness(clock=HeapClock())
        stray = (
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKksgone{n}\r\n"
            "Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bKx\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray-{n}\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        self.run2000(
            proxy,
            lambda n: stray.format(n=n, host="evil.example" if n % 2 else "[2001:db8::1]"),
            source=BOB,
            answered=False,
        )
        self.assertEqual(proxy.transport.written, [])


class ResolvableNameTests(SynchronousTestCase):
    """
    L{keepsip.proxy.routing.isResolvableName}: which names may go to the
    resolver.
    """

    def test_names(self) -> None:
        """
        Labels of 1 to 63 octets, at most 253 in all, a trailing dot allowed;
        an empty label, a 64-octet label or an over-long name is refused, as
        is a name IDNA cannot encode.
        """
        from keepsip.proxy.routing import isResolvableName

        names = [
            "example.com",
            "example.com.",
            "a..example",
            ".example",
            "x" * 63 + ".example",
            "x" * 64 + ".example",
            ".".join(["x" * 60] * 5),
            "\u00e9t\u00e9.example",
            "\u00e9" * 60 + ".example",
        ]
        self.assertEqual(
            [isResolvableName(name) for name in names],
            [True, True, False, False, True, False, False, True, False],
        )


class DeadPeerTests(SynchronousTestCase):
    """
    Issue 8 item 4: no recursion on a dead peer.
    """

    def test_icmpOnEverySend(self) -> None:
        """
        1,000 calls from a trunk to itself through keepsip are pending when
        the trunk vanishes; from then on every datagram sent to it reports
        an ICMP port unreachable synchronously, from inside the send (as
        L{keepsip.transport.icmp.RecvErrPort.write} does when it drains a
        pending error). Failing one call answers it to the trunk, whose
        ICMP error fails the next call, and so on: delivering those
        failures must not recurse (a C{RecursionError} would be logged and
        fail this test), every call must end, and after the RFC timers no
        transaction or dialog is left.
        """
        import errno

        proxy = ProxyHarness(clock=HeapClock())
        network = proxy.transport
        protocol = proxy.service.protocols[0]
        dead: set[tuple[str, int]] = set()
        write = network.write

        def writeOrRefuse(packet: bytes, addr=None) -> None:
            write(packet, addr)
            if addr in dead:
                protocol.icmpErrorReceived(addr, errno.ECONNREFUSED)

        network.write = writeOrRefuse  # type: ignore[method-assign]
        for n in range(1000):
            proxy.receive(invite(callID=f"dead-{n}", branch=f"z9hG4bKdead{n}"), BOB)
        transactions = proxy.service.transactions
        self.assertEqual(transactions.clientCount, 1000)
        dead.add(BOB)
        protocol.icmpErrorReceived(BOB, errno.ECONNREFUSED)
        proxy.clock.advance(0)
        self.assertEqual(transactions.clientCount, 0)
        for _ in range(20):
            proxy.clock.advance(5)
        self.assertEqual(
            (transactions.serverCount, transactions.clientCount, len(proxy.service.store)),
            (0, 0, 0),
        )
