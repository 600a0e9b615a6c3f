"""
Tests for L{keepsip.keepalive.absorb}: absorbed keepalives, the 200 answered from
dialog state and retransmitted until the ACK, through the whole proxy.
"""

from __future__ import annotations

from keepsip.sip.headers import cseq

from ._keepalive import ANSWER_SDP, KeepaliveTestCase
from keepsip.testing import ALICE, BOB, answer


class AbsorbTests(KeepaliveTestCase):
    """
    An absorbed keepalive is answered by keepsip and never reaches Bob.
    """

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
