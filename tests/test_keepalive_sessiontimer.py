"""
Tests for L{keepsip.keepalive.sessiontimer}: the session-timer assist (RFC 4028)
through the whole proxy.
"""

from __future__ import annotations

from ._keepalive import KeepaliveTestCase
from keepsip.testing import ALICE, BOB, invite


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
        self.assertEqual([m.code for m in sent], [422])
        self.assertEqual(sent[0].header("min-se"), "90")

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
