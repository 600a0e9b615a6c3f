"""
Tests for L{keepsip.media.ports}: C{--rtp-ports} and the port pool.
"""

from __future__ import annotations

from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase

from keepsip.media.model import PortsExhausted
from keepsip.media.ports import PortPool, parsePortRange
from keepsip.media.testing import FakeUDPReactor


class ParsePortRangeTests(SynchronousTestCase):
    def test_valid(self) -> None:
        """
        C{LOW-HIGH} gives the two ports.
        """
        self.assertEqual(parsePortRange("30000-40000"), (30000, 40000))

    def test_invalid(self) -> None:
        """
        Malformed ranges, privileged or reversed ports, or a range without a
        whole even/odd pair raise a ValueError naming C{--rtp-ports}.
        """
        for value in ["", "30000", "a-b", "40000-30000", "80-100", "30001-30002", "1-70000"]:
            e = self.assertRaises(ValueError, parsePortRange, value)
            self.assertIn("--rtp-ports", str(e))


class PortPoolTests(SynchronousTestCase):
    def test_pairsAndReuse(self) -> None:
        """
        Pairs are an even port and the one above it, starting at an even
        port in the range; an unbound port is free again.
        """
        reactor = FakeUDPReactor()
        pool = PortPool(reactor, "127.0.0.1", 30001, 30006)  # pairs 30002, 30004
        self.assertEqual(pool.capacity, 2)
        a = pool.bindPair(DatagramProtocol(), DatagramProtocol())
        b = pool.bindPair(DatagramProtocol(), DatagramProtocol())
        self.assertEqual(sorted(reactor.bound), [30002, 30003, 30004, 30005])
        self.assertRaises(PortsExhausted, pool.bindPair, DatagramProtocol(), DatagramProtocol())
        pool.unbind(a[1])
        self.assertRaises(PortsExhausted, pool.bindPair, DatagramProtocol(), DatagramProtocol())
        pool.unbind(a[0])
        self.assertEqual(pool.bindPair(DatagramProtocol(), DatagramProtocol())[0].getHost().port,
                         30002)
        self.assertEqual(pool.inUse, 4)
        del b
