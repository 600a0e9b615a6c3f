"""
Tests for L{keepsip.transaction.overload.Admission}, and for overload control
through the whole proxy (issue 8 item 5).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, BOB, answer, invite
from keepsip.transaction.overload import Admission
from keepsip.transaction.testing import HeapClock

from ._proxy import ProxyHarness

FLOODER = ("198.51.100.66", 5060)


class AdmissionTests(SynchronousTestCase):
    """
    L{Admission} counts transactions per source and in all.
    """

    def test_perSource(self) -> None:
        """
        A source at its limit is refused (counted as C{source}); another
        source is not; a closed transaction makes room again.
        """
        admission = Admission(10, 2)
        for _ in range(2):
            self.assertIsNone(admission.refusal("a", "INVITE"))
            admission.opened("a")
        self.assertEqual(admission.refusal("a", "INVITE"), "source")
        self.assertIsNone(admission.refusal("b", "INVITE"))
        admission.closed("a")
        self.assertIsNone(admission.refusal("a", "INVITE"))
        self.assertEqual((admission.refusedSource, admission.refusedGlobal), (1, 0))

    def test_global(self) -> None:
        """
        At the global limit every source is refused (C{global}) except for
        BYE; ACK and CANCEL are never refused, not even by the source limit.
        """
        admission = Admission(2, 2)
        admission.opened("a")
        admission.opened("b")
        self.assertEqual(admission.refusal("c", "INVITE"), "global")
        self.assertIsNone(admission.refusal("c", "BYE"))
        admission.opened("a")
        self.assertEqual(admission.refusal("a", "BYE"), "source")
        self.assertIsNone(admission.refusal("a", "ACK"))
        self.assertIsNone(admission.refusal("a", "CANCEL"))
        self.assertEqual((admission.refusedSource, admission.refusedGlobal), (1, 1))

    def test_forgetsIdleSources(self) -> None:
        """
        A source with nothing in progress takes no memory.
        """
        admission = Admission(10, 2)
        admission.opened("a")
        admission.closed("a")
        self.assertEqual((admission.sources(), admission.total), (0, 0))

    def test_blockAfterIgnoredRetryAfter(self) -> None:
        """
        A source refused more than C{blockAfter} times within a second is
        blocked for C{retryAfter} seconds, then free again; a source refused
        less often is never blocked; without a clock nothing is blocked.
        """
        from twisted.internet.task import Clock

        clock = Clock()
        admission = Admission(10, 1, retryAfter=5, clock=clock, blockAfter=3)
        admission.opened("a")
        admission.opened("b")
        for _ in range(3):
            admission.refusal("a", "INVITE")
        self.assertFalse(admission.blocks("a"))
        admission.refusal("a", "INVITE")
        self.assertTrue(admission.blocks("a"))
        clock.advance(1.5)
        for _ in range(3):
            admission.refusal("b", "INVITE")
            clock.advance(0.5)
        self.assertFalse(admission.blocks("b"))
        clock.advance(4)
        self.assertFalse(admission.blocks("a"))
        self.assertEqual(admission.blockedDropped, 1)
        unclocked = Admission(10, 1, blockAfter=1)
        unclocked.opened("a")
        for _ in range(5):
            unclocked.refusal("a", "INVITE")
        self.assertFalse(unclocked.blocks("a"))

    def test_limits(self) -> None:
        """
        Limits below 1 are refused.
        """
        self.assertRaises(ValueError, Admission, 0, 1)
        self.assertRaises(ValueError, Admission, 1, 0)


class FloodTests(SynchronousTestCase):
    """
    A flood through the whole proxy is refused before it creates state.
    """

    def setUp(self) -> None:
        self.proxy = ProxyHarness(clock=HeapClock(), maxTransactions=300, maxTransactionsPerSource=100)

    def test_floodFromOneSource(self) -> None:
        """
        1,000 INVITEs from one source over 20 s (to a callee that never
        answers): the
        first 100 are admitted, the other 900 get a 503 with Retry-After and
        create nothing (no transaction, no dialog, nothing forwarded); a
        retransmission of an admitted one is still absorbed (its 100 again,
        no 503); a call from another source goes through; once the
        admitted ones have ended (timers B and H), the source is admitted
        again.
        """
        proxy = self.proxy
        for n in range(1000):
            # 50 a second: refused, not yet blocked (see BlockedSourceTests).
            proxy.receive(invite(callID=f"flood-{n}", branch=f"z9hG4bKflood{n}"), FLOODER)
            proxy.clock.advance(0.02)
        sent = proxy.sent()
        refused = [m for m, a in sent if isinstance(m, Response) and m.code == 503]
        forwarded = {m.header("call-id") for m, a in sent if isinstance(m, Request)}
        self.assertEqual((len(refused), len(forwarded)), (900, 100))
        self.assertEqual({m.header("retry-after") for m in refused}, {"5"})
        self.assertEqual(proxy.service.transactions.serverCount, 100)
        self.assertEqual(len(proxy.service.store), 100)
        proxy.receive(invite(callID="flood-0", branch="z9hG4bKflood0"), FLOODER)
        self.assertEqual([m.code for m, a in proxy.sent()], [100])
        proxy.receive(invite(callID="legit", branch="z9hG4bKlegit"), ALICE)
        [atBob] = [m for m, a in proxy.sent() if a == BOB]
        proxy.receive(answer(atBob, 200, "OK"), BOB)
        self.assertEqual([m.code for m in proxy.sentTo(ALICE)], [200])
        for _ in range(30):
            proxy.clock.advance(5)
        self.assertEqual(proxy.service.transactions.serverCount, 0)
        proxy.sent()
        proxy.receive(invite(callID="again", branch="z9hG4bKagain"), FLOODER)
        self.assertEqual([m.code for m in proxy.sentTo(FLOODER)], [100])

    def test_answeredCallsDoNotCount(self) -> None:
        """
        Only transactions still in progress count: 300 answered calls from
        one source (their INVITE transactions kept for their RFC timers
        after the 200, RFC 6026) do not hold it below a per-source limit of
        100, as an edge keeping thousands of calls alive must not be.
        """
        proxy = self.proxy
        for n in range(300):
            proxy.receive(invite(callID=f"busy-{n}", branch=f"z9hG4bKbusy{n}"), FLOODER)
            [atBob] = [m for m, a in proxy.sent() if a == BOB and isinstance(m, Request)]
            proxy.receive(answer(atBob, 200, "OK"), BOB)
            proxy.clock.advance(0.01)
        codes = [m.code for m, a in proxy.sent() if a == FLOODER and isinstance(m, Response)]
        self.assertNotIn(503, codes)
        self.assertEqual(len(proxy.service.store), 300)
        self.assertGreaterEqual(proxy.service.transactions.serverCount, 300)

    def test_globalLimit(self) -> None:
        """
        Three sources at 100 each fill the global limit of 300: a fourth
        source's INVITE is refused, its BYE is not (a refused BYE would keep
        a call up and billed), and ACK or CANCEL never are.
        """
        proxy = self.proxy
        for host in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            for n in range(100):
                proxy.receive(invite(callID=f"{host}-{n}", branch=f"z9hG4bK{host}.{n}"), (host, 5060))
        self.assertEqual(proxy.service.transactions.serverCount, 300)
        proxy.sent()
        other = ("198.51.100.4", 5060)
        proxy.receive(invite(callID="x", branch="z9hG4bKx"), other)
        self.assertEqual([m.code for m in proxy.sentTo(other)], [503])
        proxy.receive(invite(method="BYE", toTag="t", body=b"", callID="y", branch="z9hG4bKy"), other)
        self.assertNotIn(503, [m.code for m, a in proxy.sent() if isinstance(m, Response)])
        proxy.receive(invite(method="CANCEL", body=b"", callID="z", branch="z9hG4bKz"), other)
        self.assertNotIn(503, [m.code for m, a in proxy.sent() if isinstance(m, Response)])
        self.assertEqual(proxy.service.transactions.serverCount, 302)

    def test_metrics(self) -> None:
        """
        Refusals are exported per limit.
        """
        from keepsip.metrics.exposition import collectMetrics

        proxy = self.proxy
        for n in range(101):
            proxy.receive(invite(callID=f"m-{n}", branch=f"z9hG4bKm{n}"), FLOODER)
        metrics = {m.name: m for m in collectMetrics(proxy.service.metricsReaders)}
        samples = dict(metrics["keepsip_overload_refused_total"].samples)
        self.assertEqual(samples, {(("limit", "global"),): 0, (("limit", "source"),): 1})


class BlockedSourceTests(SynchronousTestCase):
    """
    A source that ignores Retry-After is dropped unread by the transport.
    """

    def test_floodBlocked(self) -> None:
        """
        With 10 admitted and a block after 100 refusals a second, a source
        sending 1,000 INVITEs within the same second gets 10 forwarded, 101
        refused with 503 and the rest dropped without an answer (counted);
        its ACKs, CANCELs and responses still pass; another source is not
        affected; after Retry-After it is answered again.
        """
        proxy = ProxyHarness(clock=HeapClock(), maxTransactionsPerSource=10)
        for n in range(1000):
            proxy.receive(invite(callID=f"b-{n}", branch=f"z9hG4bKb{n}"), FLOODER)
        sent = proxy.sent()
        self.assertEqual(len([m for m, a in sent if isinstance(m, Request)]), 10)
        self.assertEqual(len([m for m, a in sent if isinstance(m, Response) and m.code == 503]), 101)
        admission = proxy.service.transactions.admission
        self.assertEqual(admission.blockedDropped, 889)
        proxy.receive(invite(method="CANCEL", body=b"", callID="b-0", branch="z9hG4bKb0"), FLOODER)
        self.assertIn(200, [m.code for m in proxy.sentTo(FLOODER)])
        proxy.receive(invite(callID="ok", branch="z9hG4bKok"), ALICE)
        self.assertEqual([m.code for m in proxy.sentTo(ALICE)], [100])
        proxy.clock.advance(5)
        proxy.receive(invite(callID="later", branch="z9hG4bKlater"), FLOODER)
        self.assertEqual([m.code for m in proxy.sentTo(FLOODER)], [503])
