"""
Tests for L{keepsip.proxy.stateless}: requests the proxy forwards without a
transaction (RFC 3261 §16.11), here a 2xx ACK.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.headers import topVia, vias
from keepsip.sip.message import Request
from keepsip.testing import ALICE, BOB, answer, inDialog, invite

from ._proxy import ProxyHarness


class StatelessForwardingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.proxy = ProxyHarness()
        self.proxy.receive(invite(), ALICE)
        [atBob] = [m for m, a in self.proxy.sent() if a == BOB and isinstance(m, Request)]
        self.proxy.receive(answer(atBob, 200, "OK"), BOB)
        self.proxy.sent()

    def forwardedAck(self) -> Request:
        self.proxy.receive(inDialog("ACK", 1, "z9hG4bKalice-ack"), ALICE)
        [ack] = [m for m, a in self.proxy.sent() if a == BOB and isinstance(m, Request)]
        return ack

    def test_ackForwarded(self) -> None:
        """
        The caller's ACK of the 2xx reaches the callee with keepsip's Via on
        top of the caller's, Max-Forwards decremented, and keepsip's own
        Route removed; no transaction is created for it.
        """
        before = self.proxy.service.transactions.serverCount
        ack = self.forwardedAck()
        self.assertEqual(ack.method, "ACK")
        self.assertEqual(len(vias(ack)), 2)
        self.assertEqual(topVia(ack).host, "192.0.2.1")
        self.assertEqual(ack.header("max-forwards"), "69")
        self.assertFalse(ack.headers.get("route"))
        self.assertEqual(self.proxy.service.transactions.serverCount, before)

    def test_retransmissionSameBranch(self) -> None:
        """
        A retransmitted ACK goes out with the same branch: it is derived
        from the incoming branch, not random.
        """
        first = self.forwardedAck()
        again = self.forwardedAck()
        self.assertEqual(topVia(first).branch, topVia(again).branch)
        self.assertTrue(topVia(first).branch.startswith("z9hG4bK"))
