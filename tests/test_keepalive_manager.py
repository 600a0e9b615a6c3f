"""
Tests for L{keepsip.keepalive.manager}: continue-call keepalives through the
whole proxy on a fake transport and a L{task.Clock} (patent WO 00/33550,
claims 1-8 and 12).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause
from keepsip.keepalive.manager import KeepaliveState
from keepsip.sip.headers import cseq, fromHeader, toHeader, topVia
from keepsip.sip.message import Request, Response

from ._proxy import ALICE, BOB, SDP, ProxyHarness, answer, invite, startReapers, stopReapers
from .test_proxy_core import RecordingObserver

#: The same media as L{SDP} with a new o= version: still equal media.
SDP_NEW_ORIGIN = SDP.replace(b"2890844526 2890844526", b"2890844526 2890844999")

#: Different media: another port.
SDP_OTHER_MEDIA = SDP.replace(b"49170", b"49172")

ANSWER_SDP = SDP.replace(b"192.0.2.10", b"192.0.2.20").replace(b"alice", b"bob")


class KeepaliveTestCase(SynchronousTestCase):
    """
    A call Alice -> keepsip -> Bob, answered and ACKed, on a proxy with the
    keepalive settings a test gives.
    """

    def makeProxy(self, **config):
        config.setdefault("keepaliveInterval", 30.0)
        config.setdefault("keepaliveTolerance", 2.0)
        self.proxy = ProxyHarness(**config)
        self.observer = RecordingObserver()
        self.observer.dialogKeptAlive = lambda d: self.observer.events.append(("keptAlive", d))
        self.observer.dialogExpired = lambda d: self.observer.events.append(("expired", d))
        self.proxy.service.tracker.addObserver(self.observer)
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        return self.proxy

    def establish(self, extraInvite: str = "", answerExtra: bytes = b"") -> Request:
        """
        @return: the INVITE as Bob received it.
        """
        proxy = self.proxy
        proxy.receive(invite(extra=extraInvite) if extraInvite else invite(), ALICE)
        [atBob] = [m for m in proxy.sentTo(BOB)]
        ok = answer(atBob, 200, "OK", body=ANSWER_SDP)
        if answerExtra:
            ok = ok.replace(b"Content-Type:", answerExtra + b"\r\nContent-Type:")
        proxy.receive(ok, BOB)
        proxy.receive(self.ack(1), ALICE)
        proxy.sent()
        self.assertEqual(self.observer.names()[-1], "confirmed")
        self.dialog = self.observer.events[-1][1]
        return atBob

    def fromAlice(self, method: str, number: int, branch: str) -> None:
        """
        Alice sends an in-dialog request without a body, Route'd through
        keepsip.
        """
        self.proxy.receive(
            invite(
                method=method,
                uri="sip:bob@192.0.2.20:5060",
                branch=branch,
                cseq=number,
                toTag="bobtag",
                body=b"",
                route="<sip:192.0.2.1:5060;lr>",
            ),
            ALICE,
        )

    def ack(self, number: int, branch: str = "z9hG4bKack") -> bytes:
        return invite(
            method="ACK",
            uri="sip:bob@192.0.2.20:5060",
            branch=f"{branch}{number}",
            cseq=number,
            toTag="bobtag",
            body=b"",
            route="<sip:192.0.2.1:5060;lr>",
        )

    def keepalive(
        self,
        n: int,
        body: bytes = SDP,
        number: int = 1,
        source=ALICE,
        branch: str | None = None,
    ) -> list:
        """
        Alice sends keepalive number C{n}: an INVITE equal to her last one.

        @return: what keepsip sent.
        """
        self.proxy.receive(
            invite(
                uri="sip:bob@192.0.2.20:5060",
                branch=branch or f"z9hG4bKka{n}",
                cseq=number,
                toTag="bobtag",
                body=body,
                route="<sip:192.0.2.1:5060;lr>",
            ),
            source,
        )
        return self.proxy.sent()

    def byes(self, sent):
        return {a: m for m, a in sent if isinstance(m, Request) and m.method == "BYE"}

    def reapWithin(self, seconds: float, step: float = 0.5):
        """
        Advance the clock until keepsip sends BYEs or C{seconds} pass.

        @return: (elapsed, BYEs by destination).
        """
        elapsed = 0.0
        while elapsed <= seconds:
            self.proxy.clock.advance(step)
            elapsed += step
            byes = self.byes(self.proxy.sent())
            if byes:
                return elapsed, byes
        return elapsed, {}


class InterfaceTests(SynchronousTestCase):
    def test_managerIsDialogObserver(self):
        """
        L{KeepaliveManager} provides L{IDialogObserver}, events included.
        """
        from zope.interface.verify import verifyObject

        from keepsip.interfaces import IDialogObserver

        proxy = ProxyHarness()
        self.assertTrue(verifyObject(IDialogObserver, proxy.service.keepalive))
        self.assertTrue(verifyObject(IDialogObserver, proxy.service.accounting))


class RecognitionTests(KeepaliveTestCase):
    def test_hourOfKeepalivesKeepsCallUp(self):
        """
        A caller that sends a keepalive every interval for an hour keeps the
        call up: no BYE, dialog still stored, 120 keepalives counted, each
        answered 200 by keepsip itself (absorb) with Bob's tag, Contact and
        answer SDP, and none forwarded to Bob.
        """
        self.makeProxy(reap="require")
        self.establish()
        for n in range(1, 121):
            self.proxy.clock.advance(30)
            sent = self.keepalive(n)
            self.assertEqual(self.byes(sent), {})
            toAlice = [m for m, a in sent if a == ALICE and isinstance(m, Response)]
            self.assertEqual([m.code for m in toAlice], [100, 200])
            ok = toAlice[1]
            self.assertEqual(toHeader(ok).tag, "bobtag")
            self.assertEqual(ok.header("contact"), "<sip:bob@192.0.2.20:5060>")
            self.assertEqual(ok.body, ANSWER_SDP)
            self.assertEqual([a for m, a in sent if a == BOB], [])
            self.proxy.receive(self.ack(1, branch=f"z9hG4bKkack{n}"), ALICE)
            self.assertEqual(self.proxy.sentTo(BOB), [], "the keepalive's ACK was forwarded")
        self.assertEqual(len(self.proxy.service.store), 1)
        state = self.dialog.keptAlive
        self.assertEqual(state.count, 120)
        self.assertEqual(state.lastAt, 3600.0)
        self.assertEqual(self.observer.names().count("keptAlive"), 120)

    def test_absorbedAnswerRetransmittedUntilAck(self):
        """
        keepsip retransmits its 200 to an absorbed keepalive (T1, 2T1, ...)
        until the ACK arrives, and then stops: a lost 200 cannot leave the
        caller waiting for timer B.
        """
        self.makeProxy()
        self.establish()
        self.keepalive(1)
        self.proxy.clock.advance(0.5)
        self.proxy.clock.advance(1.0)
        again = [m.code for m, a in self.proxy.sent() if a == ALICE]
        self.assertEqual(again, [200, 200])
        self.proxy.receive(self.ack(1, branch="z9hG4bKkack"), ALICE)
        self.assertEqual(self.proxy.sentTo(BOB), [])
        self.proxy.clock.advance(10)
        self.assertEqual([m for m, a in self.proxy.sent() if a == ALICE], [])

    def test_retransmittedKeepaliveAnsweredNotRecounted(self):
        """
        A retransmission of a keepalive keepsip already answered gets the 200
        again and is not counted as a second keepalive.
        """
        self.makeProxy()
        self.establish()
        self.keepalive(1)
        sent = self.keepalive(1)
        self.assertIn(200, [m.code for m, a in sent if a == ALICE])
        self.assertEqual(self.dialog.keptAlive.count, 1)

    def test_keepaliveWithNewOriginIsStillKeepalive(self):
        """
        The SDP is compared by media, not bytes: a keepalive whose o= version
        changed is still a keepalive.
        """
        self.makeProxy()
        self.establish()
        sent = self.keepalive(1, body=SDP_NEW_ORIGIN)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [100, 200])
        self.assertEqual(self.dialog.keptAlive.count, 1)

    def test_sameCSeqOtherMediaIsNeither(self):
        """
        An INVITE with the last CSeq but other media is neither a keepalive
        nor a re-INVITE: it gets 500 (RFC 3261 §12.2.2), is not forwarded, and
        does not refresh the dialog.
        """
        self.makeProxy()
        self.establish()
        sent = self.keepalive(1, body=SDP_OTHER_MEDIA)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [100, 500])
        self.assertEqual([a for m, a in sent if a == BOB], [])
        self.assertEqual(self.dialog.keptAlive.count, 0)

    def test_reinviteForwardedAndBecomesLastInvite(self):
        """
        A re-INVITE with a higher CSeq and new media is forwarded, proves the
        call alive, and becomes the dialog's last INVITE: the next keepalive
        must equal it.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(50)
        sent = self.keepalive(1, body=SDP_OTHER_MEDIA, number=2)
        [atBob] = [m for m, a in sent if a == BOB]
        self.assertEqual(cseq(atBob).number, 2)
        self.proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        self.proxy.sent()
        self.assertEqual(cseq(self.dialog.lastInvite).number, 2)
        self.assertEqual(self.proxy.service.keepalive.index.get(self.dialog.callKey), 110.0)
        # The old INVITE's media no longer makes a keepalive...
        sent = self.keepalive(2, body=SDP, number=2)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [100, 500])
        # ...the new one does.
        sent = self.keepalive(3, body=SDP_OTHER_MEDIA, number=2)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [100, 200])

    def test_retransmissionIsKeepaliveToo(self):
        """
        An equal INVITE reusing the original branch while the original server
        transaction still exists is absorbed as a retransmission and still
        counts as a keepalive.
        """
        self.makeProxy()
        self.establish()
        self.proxy.clock.advance(10)
        self.keepalive(1, branch="z9hG4bKalice1")
        self.assertEqual(self.dialog.keptAlive.count, 1)
        self.assertEqual(self.dialog.keptAlive.lastAt, 10.0)

    def test_forwardPolicy(self):
        """
        With the forward policy the keepalive travels end to end as in the
        patent's figure: Bob gets it and his answer is relayed to Alice; it
        still refreshes the deadline.
        """
        self.makeProxy(keepalivePolicy="forward")
        self.establish()
        self.proxy.clock.advance(30)
        sent = self.keepalive(1)
        [atBob] = [m for m, a in sent if a == BOB]
        self.assertEqual(atBob.method, "INVITE")
        self.assertEqual(cseq(atBob).number, 1)
        self.proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        self.assertEqual([m.code for m in self.proxy.sentTo(ALICE)], [200])
        self.assertEqual(self.proxy.service.keepalive.index.get(self.dialog.callKey), 90.0)

    def test_optionsCountsWhenConfigured(self):
        """
        With OPTIONS among the keepalive methods, an in-dialog OPTIONS from
        the caller is a keepalive (claim 12) and is still forwarded.
        """
        self.makeProxy(keepaliveMethods=frozenset({"INVITE", "OPTIONS"}))
        self.establish()
        self.fromAlice("OPTIONS", 2, "z9hG4bKopt")
        self.assertEqual([m.method for m in self.proxy.sentTo(BOB)], ["OPTIONS"])
        self.assertEqual(self.dialog.keptAlive.count, 1)

    def test_optionsIgnoredByDefault(self):
        """
        By default only INVITE keepalives count: an OPTIONS does not.
        """
        self.makeProxy()
        self.establish()
        self.fromAlice("OPTIONS", 2, "z9hG4bKopt")
        self.assertEqual(self.dialog.keptAlive.count, 0)


class SecurityTests(KeepaliveTestCase):
    def test_forgedKeepaliveDoesNotRefresh(self):
        """
        A keepalive from an address that is not the caller's is refused with
        403, counted as forged, and does not move the deadline: the call still
        ends on time.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(50)
        sent = self.keepalive(1, source=("198.51.100.66", 5060))
        self.assertIn(403, [m.code for m, a in sent if isinstance(m, Response)])
        self.assertEqual(self.dialog.keptAlive.count, 0)
        self.assertEqual(self.dialog.attachments.get(KeepaliveState).forged, 1)
        self.assertEqual(self.proxy.service.keepalive.index.get(self.dialog.callKey), 60.0)

    def test_rateLimited(self):
        """
        A source sending keepalives far faster than allowed gets 503 once its
        burst is spent, and those keepalives do not count.
        """
        self.makeProxy(keepaliveRateLimit=1.0)
        self.establish()
        codes = []
        for n in range(15):
            sent = self.keepalive(n)
            codes += [m.code for m, a in sent if a == ALICE and m.code >= 200]
        self.assertEqual(codes.count(200), 10)
        self.assertEqual(codes.count(503), 5)
        self.assertEqual(self.dialog.keptAlive.count, 10)


class ReapingTests(KeepaliveTestCase):
    def test_missedIntervalEndsCallWithinDeadline(self):
        """
        After the last keepalive at t=60, the call is reaped within interval x
        tolerance + one tick (by t=121), a BYE goes to each leg, and with both
        answering 200 the dialog ends with cause keepalive-timeout and end
        time t=60, its last proof of life.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(30)
        self.keepalive(1)
        self.proxy.clock.advance(30)
        self.keepalive(2)
        elapsed, byes = self.reapWithin(70)
        self.assertLessEqual(60 + elapsed, 60 + 60 + 1)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertEqual(self.observer.names()[-1], "expired")
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.KEEPALIVE_TIMEOUT))
        self.assertEqual(dialog.endedAt, 60.0)
        self.assertGreaterEqual(dialog.detectedAt, 120.0)
        self.assertEqual(detail["caller"], "answered")
        self.assertEqual(detail["callee"], "answered")
        self.assertEqual(detail["silent"], "caller")
        self.assertEqual(len(self.proxy.service.store), 0)
        self.assertNotIn(self.dialog.callKey, self.proxy.service.keepalive.index)

    def test_byeHeadersFieldByField(self):
        """
        Each BYE is a new in-dialog request in its leg's orientation: to Bob
        From Alice's URI and tag, To Bob's, CSeq above Alice's last; to Alice
        the reverse with CSeq above Bob's; Request-URI the leg's Contact;
        keepsip's Via with a fresh branch; a Reason header.
        """
        self.makeProxy(reap="require")
        self.establish()
        _, byes = self.reapWithin(70)
        toBob, toAlice = byes[BOB], byes[ALICE]
        self.assertEqual(toBob.uri.toString(), "sip:bob@192.0.2.20:5060")
        self.assertEqual(fromHeader(toBob).tag, "alicetag")
        self.assertEqual(toHeader(toBob).tag, "bobtag")
        self.assertEqual(cseq(toBob).number, 2)
        self.assertEqual(cseq(toBob).method, "BYE")
        self.assertEqual(toBob.header("call-id"), "call-1")
        self.assertEqual(toAlice.uri.toString(), "sip:alice@192.0.2.10:5060")
        self.assertEqual(fromHeader(toAlice).tag, "bobtag")
        self.assertEqual(toHeader(toAlice).tag, "alicetag")
        self.assertEqual(cseq(toAlice).number, 1)
        for bye in (toBob, toAlice):
            via = topVia(bye)
            self.assertEqual((via.host, via.port), ("192.0.2.1", 5060))
            self.assertTrue(via.branch.startswith("z9hG4bK"))
            self.assertEqual(len(bye.headers["via"]), 1)
            self.assertNotIn("route", bye.headers)
            self.assertIn("keepalive", bye.header("reason"))
        self.assertNotEqual(topVia(toBob).branch, topVia(toAlice).branch)

    def test_byeRetransmittedOverUDP(self):
        """
        keepsip's BYE is a non-INVITE client transaction: unanswered, it is
        retransmitted (timer E) until timer F.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.reapWithin(70)
        self.proxy.clock.advance(0.5)
        again = self.byes(self.proxy.sent())
        self.assertEqual(set(again), {ALICE, BOB})

    def causeFor(self, answerCaller, answerCallee):
        self.makeProxy(reap="require")
        self.establish()
        _, byes = self.reapWithin(70)
        for address, how in ((ALICE, answerCaller), (BOB, answerCallee)):
            if isinstance(how, int):
                self.proxy.receive(answer(byes[address], how, "X", toTag=None), address)
            elif how == "icmp":
                self.proxy.service.transactions.transportError(address)
        self.proxy.clock.advance(40)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual(name, "terminated")
        self.assertEqual(cause, EndCause.KEEPALIVE_TIMEOUT)
        return detail

    def test_causeCallerEndedDirectly(self):
        """
        481 from the caller: it had already ended the call (e.g. a BYE sent
        directly to the callee) — claims 7-8.
        """
        detail = self.causeFor(481, 200)
        self.assertEqual(detail["caller"], "gone")
        self.assertEqual(detail["callee"], "answered")
        self.assertIn("481", detail["why"])

    def test_causeCallerUnreachable(self):
        """
        No answer from the caller at all (timer F): unreachable, crashed or
        link down.
        """
        detail = self.causeFor(None, 200)
        self.assertEqual(detail["caller"], "unreachable")
        self.assertIn("unreachable", detail["why"])

    def test_causeCallerRefused(self):
        """
        An ICMP port unreachable for the caller's address: the host is up but
        the endpoint process is gone.
        """
        detail = self.causeFor("icmp", 200)
        self.assertEqual(detail["caller"], "refused")

    def test_causeCallerStillUp(self):
        """
        200 from both: the caller is still up, its keepalives got lost.
        """
        detail = self.causeFor(200, 200)
        self.assertEqual(detail["caller"], "answered")
        self.assertIn("still up", detail["why"])

    def test_opportunisticSparesCallsWithoutKeepalives(self):
        """
        In the default opportunistic mode a call whose endpoints never send a
        keepalive is not reaped, even long past the deadline.
        """
        self.makeProxy()
        self.establish()
        self.proxy.clock.advance(3600)
        self.assertEqual(self.byes(self.proxy.sent()), {})
        self.assertEqual(len(self.proxy.service.store), 1)

    def test_opportunisticReapsAfterFirstKeepalive(self):
        """
        In opportunistic mode the first keepalive makes the call subject to
        reaping; when they stop, it is ended.
        """
        self.makeProxy()
        self.establish()
        self.proxy.clock.advance(100)
        self.keepalive(1)
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 61)

    def test_requireReapsCallsWithoutKeepalives(self):
        """
        In require mode a call that never sends a keepalive ends one deadline
        after its answer.
        """
        self.makeProxy(reap="require")
        self.establish()
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 61)

    def test_offNeverReapsOnKeepalives(self):
        """
        With reap off, keepalives are still answered but nothing is reaped.
        """
        self.makeProxy(reap="off")
        self.establish()
        self.keepalive(1)
        self.proxy.clock.advance(600)
        self.assertEqual(self.byes(self.proxy.sent()), {})

    def test_maxDuration(self):
        """
        Any answered call, kept alive or not, ends at max-duration with cause
        max-duration and that moment as its end.
        """
        self.makeProxy(reap="off", maxDuration=300.0)
        self.establish()
        self.proxy.clock.advance(299)
        self.assertEqual(self.byes(self.proxy.sent()), {})
        elapsed, byes = self.reapWithin(3)
        self.assertEqual(set(byes), {ALICE, BOB})
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual(cause, EndCause.MAX_DURATION)
        self.assertEqual(dialog.endedAt, 300.0)

    def test_byeInFlightIsNotReaped(self):
        """
        A BYE that passed keepsip but is not answered yet ends the call: the
        reaper does not send its own BYEs meanwhile, and the BYE's timeout
        (408) ends the dialog as caller-bye at the BYE's time.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(50)
        self.fromAlice("BYE", 2, "z9hG4bKbye")
        for _ in range(80):
            self.proxy.clock.advance(0.5)
        sent = self.proxy.sent()
        byes = [m for m, a in sent if isinstance(m, Request) and m.method == "BYE"]
        self.assertEqual({fromHeader(m).tag for m in byes}, {"alicetag"})
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.CALLER_BYE))
        self.assertEqual(detail, {"caller": "BYE", "callee": "408"})
        self.assertEqual(dialog.endedAt, 50.0)

    def test_endTimeDetection(self):
        """
        With end-time detection, the billed end is the moment keepsip noticed,
        not the last keepalive.
        """
        self.makeProxy(reap="require", endTime="detection")
        self.establish()
        self.proxy.clock.advance(30)
        self.keepalive(1)
        _, byes = self.reapWithin(70)
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        dialog = self.observer.events[-1][1]
        self.assertGreaterEqual(dialog.endedAt, 90.0)
        self.assertEqual(dialog.endedAt, dialog.detectedAt)

    def test_normalByeLeavesIndex(self):
        """
        A normal BYE through keepsip ends the dialog as usual and removes it
        from the deadline index: no reaping later.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.fromAlice("BYE", 2, "z9hG4bKbye")
        [forwarded] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(forwarded, 200, "OK", toTag=None), BOB)
        self.assertEqual(self.observer.events[-1][2], EndCause.CALLER_BYE)
        self.assertEqual(len(self.proxy.service.keepalive.index), 0)
        self.proxy.sent()
        self.proxy.clock.advance(600)
        self.assertEqual(
            [m for m, a in self.proxy.sent() if isinstance(m, Request) and m.method == "BYE"], []
        )


class SessionTimerTests(KeepaliveTestCase):
    def test_assistInsertsSessionExpires(self):
        """
        With session-timer assist, an INVITE without Session-Expires is
        forwarded with one of 2 x interval.
        """
        self.makeProxy(sessionTimerAssist=True)
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.assertEqual(atBob.header("session-expires"), "90")

    def test_tooSmallWithTimerSupportGets422(self):
        """
        A timer-capable UAC asking for less than Min-SE gets 422 with Min-SE
        (RFC 4028 §8.1).
        """
        self.makeProxy(sessionTimerAssist=True)
        self.proxy.receive(invite(extra="Session-Expires: 30\r\nSupported: timer"), ALICE)
        sent = self.proxy.sentTo(ALICE)
        self.assertEqual([m.code for m in sent], [100, 422])
        self.assertEqual(sent[1].header("min-se"), "90")

    def test_tooSmallWithoutTimerSupportIsRaised(self):
        """
        Without timer support the proxy raises Session-Expires to Min-SE
        instead of rejecting.
        """
        self.makeProxy(sessionTimerAssist=True)
        self.proxy.receive(invite(extra="Session-Expires: 30"), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.assertEqual(atBob.header("session-expires"), "90")
        self.assertEqual(atBob.header("min-se"), "90")

    def test_negotiatedSessionExpiresSetsDeadline(self):
        """
        A Session-Expires in the 2xx makes the dialog subject to reaping with
        that interval, whatever the reap mode says for other calls.
        """
        self.makeProxy()
        self.establish(answerExtra=b"Session-Expires: 120;refresher=uac")
        self.assertEqual(self.proxy.service.keepalive.index.get(self.dialog.callKey), 120.0)
        elapsed, byes = self.reapWithin(130)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 121)
