"""
Tests for L{keepsip.keepalive.recognition}: the recognition of keepalives (claims 3-4):
an INVITE equal to the last one, from the leg's real address, through the
whole proxy.
"""

from __future__ import annotations

from keepsip.keepalive.state import KeepaliveState
from keepsip.sip.headers import cseq, toHeader
from keepsip.sip.message import Response

from ._keepalive import ANSWER_SDP, KeepaliveTestCase, SDP_NEW_ORIGIN, SDP_OTHER_MEDIA
from keepsip.testing import ALICE, BOB, SDP, answer, invite


class RecognitionTests(KeepaliveTestCase):
    """
    A keepalive is recognised and counted; other requests are not.
    """

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
            # Answered at once: the 200 alone, no 100 Trying before it.
            self.assertEqual([m.code for m in toAlice], [200])
            ok = toAlice[0]
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

    def test_keepaliveWithNewOriginIsStillKeepalive(self):
        """
        The SDP is compared by media, not bytes: a keepalive whose o= version
        changed is still a keepalive.
        """
        self.makeProxy()
        self.establish()
        sent = self.keepalive(1, body=SDP_NEW_ORIGIN)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [200])
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
        self.assertEqual([m.code for m, a in sent if a == ALICE], [500])
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
        self.assertEqual(self.dialog.lastInviteCSeq, 2)
        self.assertEqual(self.proxy.service.keepalive.index.get(self.dialog.callKey), 110.0)
        # The old INVITE's media no longer makes a keepalive...
        sent = self.keepalive(2, body=SDP, number=2)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [500])
        # ...the new one does.
        sent = self.keepalive(3, body=SDP_OTHER_MEDIA, number=2)
        self.assertEqual([m.code for m, a in sent if a == ALICE], [200])

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

    def test_sourceCeiling(self):
        """
        A source sending keepalives beyond the per-source ceiling gets 503
        once its burst is spent (burst: twice the rate, at least 10); of
        the ones within it, only the first of the dialog counts (the
        others come too soon after it).
        """
        self.makeProxy(keepaliveRateLimit=1.0)
        self.establish()
        codes = []
        for n in range(15):
            sent = self.keepalive(n)
            codes += [m.code for m, a in sent if a == ALICE and m.code >= 200]
        self.assertEqual(codes.count(200), 10)
        self.assertEqual(codes.count(503), 5)
        self.assertEqual(self.dialog.keptAlive.count, 1)


class PerDialogLimitTests(KeepaliveTestCase):
    """
    Issue 12 item 5: flood protection per dialog, not per source. A
    dialog's keepalives count at most once per interval / 4; faster ones are
    answered 200 but neither count nor move the deadline; nobody gets 503.
    """

    def test_floodAnsweredNotCounted(self):
        """
        100 keepalives of one dialog within 7 s (interval 30: a quarter is
        7.5 s) are all answered 200 by keepsip; only the first counts, the
        deadline stays where it put it, and the call is still reaped on
        time; the manager and the dialog's state say how many were too
        soon.
        """
        self.makeProxy(reap="require")
        self.establish()
        manager = self.proxy.service.keepalive
        self.proxy.clock.advance(10)
        codes = []
        for n in range(100):
            sent = self.keepalive(n)
            codes += [m.code for m, a in sent if a == ALICE and m.code >= 200]
            self.proxy.receive(self.ack(1, branch=f"z9hG4bKkack{n}"), ALICE)
            self.proxy.clock.advance(0.07)
        self.assertEqual(codes, [200] * 100)
        self.assertEqual(self.dialog.keptAlive.count, 1)
        self.assertEqual(self.dialog.keptAlive.lastAt, 10.0)
        self.assertEqual(manager.index.get(self.dialog.callKey), 70.0)
        self.assertEqual(manager.tooFrequent, 99)
        self.assertEqual(self.dialog.attachments.get(KeepaliveState).tooFrequent, 99)
        elapsed, byes = self.reapWithin(60)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(17 + elapsed, 70 + 1)

    def test_quarterIntervalCounts(self):
        """
        A keepalive a quarter of the interval after the last counted one
        counts again; one just before does not.
        """
        self.makeProxy()
        self.establish()
        self.keepalive(1)
        self.proxy.clock.advance(7.4)
        self.keepalive(2)
        self.assertEqual(self.dialog.keptAlive.count, 1)
        self.proxy.clock.advance(0.1)
        self.keepalive(3)
        self.assertEqual(self.dialog.keptAlive.count, 2)

    def test_manyDialogsOneSourceNo503(self):
        """
        300 calls from one address, each sending its keepalive in the same
        second (a SIPp caller at 200 calls/s, an edge): with the default
        settings every keepalive is answered 200 and counts; none gets 503.
        """
        self.makeProxy()
        dialogs = []
        for n in range(300):
            self.proxy.receive(
                invite(callID=f"many{n}", branch=f"z9hG4bKm{n}"), ALICE
            )
            [atBob] = self.proxy.sentTo(BOB)
            self.proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
            self.proxy.sent()
            dialogs.append(self.observer.events[-1][1])
        codes = []
        for n in range(300):
            self.proxy.receive(
                invite(
                    callID=f"many{n}",
                    uri="sip:bob@192.0.2.20:5060",
                    branch=f"z9hG4bKmk{n}",
                    toTag="bobtag",
                    route="<sip:192.0.2.1:5060;lr>",
                ),
                ALICE,
            )
            codes += [m.code for m, a in self.proxy.sent() if a == ALICE and m.code >= 200]
        self.assertEqual(codes, [200] * 300)
        self.assertEqual([d.keptAlive.count for d in dialogs], [1] * 300)
