"""
Tests for L{keepsip.keepalive.admission}: keepalives over the per-source
ceiling are refused statelessly, before the transaction layer keeps any
state for them (issue 8 item 5).
"""

from __future__ import annotations

from zope.interface.verify import verifyObject

from keepsip.keepalive.admission import KeepaliveAdmission
from keepsip.sip.message import Response
from keepsip.sip.parser import parseDatagram
from keepsip.transaction.interfaces import IAdmission

from ._keepalive import KeepaliveTestCase
from keepsip.testing import ALICE, invite


class CeilingTests(KeepaliveTestCase):
    """
    A source over C{--keepalive-rate-limit} gets a stateless C{503}.
    """

    def rawKeepalive(self, n: int) -> bytes:
        """Alice's keepalive number C{n} as a datagram."""
        return invite(
            uri="sip:bob@192.0.2.20:5060",
            branch=f"z9hG4bKka{n}",
            cseq=1,
            toTag="bobtag",
            route="<sip:192.0.2.1:5060;lr>",
        )

    def test_interface(self) -> None:
        """
        The check provides L{IAdmission}.
        """
        self.makeProxy()
        check = KeepaliveAdmission(self.proxy.service.keepalive, "192.0.2.1:5060")
        self.assertTrue(verifyObject(IAdmission, check))

    def test_overCeilingNoTransaction(self) -> None:
        """
        With a ceiling of 1/s (a burst of 10), 30 keepalives at once: the
        first 10 are admitted (a server transaction each, answered through
        it), the other 20 create no server transaction and each gets exactly
        one datagram, a C{503} with C{Retry-After}, never retransmitted; a
        retransmission of a refused keepalive gets the identical bytes; the
        limiter is asked once per keepalive (30 decisions, not more).
        """
        self.makeProxy(keepaliveRateLimit=1.0)
        self.establish()
        transactions = self.proxy.service.transactions
        limiter = self.proxy.service.keepalive.limiter
        before = transactions.serverCount
        decisionsBefore = limiter.allowed + limiter.denied
        written = self.proxy.transport.written
        for n in range(10):
            self.keepalive(n)
        admitted = transactions.serverCount
        self.assertEqual(admitted, before + 10)
        refused: list[bytes] = []
        for n in range(10, 30):
            start = len(written)
            self.proxy.receive(self.rawKeepalive(n), ALICE)
            datagrams = written[start:]
            self.assertEqual(len(datagrams), 1, f"keepalive {n}: {datagrams!r}")
            data, address = datagrams[0]
            self.assertEqual(address, ALICE)
            refused.append(data)
        self.assertEqual(transactions.serverCount, admitted)
        self.assertEqual(limiter.allowed + limiter.denied - decisionsBefore, 30)
        self.assertEqual(limiter.denied, 20)
        self.proxy.sent()
        for data in refused:
            response = parseDatagram(data)
            assert isinstance(response, Response)
            self.assertEqual(response.code, 503)
            self.assertEqual(response.header("retry-after"), "30")
        # A retransmission of a refused keepalive: the same answer, still no state.
        start = len(written)
        self.proxy.receive(self.rawKeepalive(29), ALICE)
        self.assertEqual([d for d, _ in written[start:]], [refused[-1]])
        self.assertEqual(transactions.serverCount, admitted)
        # Nothing is retransmitted later for the refused ones.
        self.proxy.sent()
        self.proxy.clock.advance(40)
        later = [
            m
            for m, a in self.proxy.sent()
            if a == ALICE and isinstance(m, Response) and m.code == 503
        ]
        self.assertEqual(later, [])

    def test_otherRequestsUnaffected(self) -> None:
        """
        Only keepalives take tokens and are refused: once Alice's bucket is
        empty, a new INVITE of another call from her is still admitted (a
        server transaction) and takes no token.
        """
        self.makeProxy(keepaliveRateLimit=1.0)
        self.establish()
        for n in range(12):
            self.keepalive(n)
        self.assertEqual(self.proxy.service.keepalive.limiter.denied, 2)
        # A new INVITE of another call from Alice is not a keepalive: admitted.
        before = self.proxy.service.transactions.serverCount
        self.proxy.receive(invite(callID="call-2", branch="z9hG4bKother"), ALICE)
        self.assertEqual(self.proxy.service.transactions.serverCount, before + 1)
        self.assertEqual(self.proxy.service.keepalive.limiter.denied, 2)

    def test_forgeryNotChargedToCeiling(self) -> None:
        """
        A keepalive from an address that is not the leg's is not the
        ceiling's business: it reaches the transaction user, which answers
        403, and takes no token.
        """
        self.makeProxy(keepaliveRateLimit=1.0)
        self.establish()
        limiter = self.proxy.service.keepalive.limiter
        sent = self.keepalive(1, source=("198.51.100.66", 5060))
        self.assertIn(403, [m.code for m, a in sent if isinstance(m, Response)])
        self.assertEqual(limiter.allowed + limiter.denied, 0)
