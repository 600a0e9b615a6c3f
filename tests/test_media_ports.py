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


def pair() -> tuple[DatagramProtocol, DatagramProtocol]:
    return DatagramProtocol(), DatagramProtocol()


class PortPoolTests(SynchronousTestCase):
    def test_pairsAndReuse(self) -> None:
        """
        Pairs are an even port and the one above it, starting at an even
        port in the range; an unbound port is free again.
        """
        reactor = FakeUDPReactor()
        pool = PortPool(reactor, "127.0.0.1", 30001, 30006)  # pairs 30002, 30004
        self.assertEqual(pool.capacity, 2)
        a = pool.bindPair(pair)
        pool.bindPair(pair)
        self.assertEqual(sorted(reactor.bound), [30002, 30003, 30004, 30005])
        self.assertRaises(PortsExhausted, pool.bindPair, pair)
        pool.unbind(a[3])
        self.assertRaises(PortsExhausted, pool.bindPair, pair)
        pool.unbind(a[2])
        self.assertEqual(pool.bindPair(pair)[2].getHost().port, 30002)
        self.assertEqual(pool.inUse, 4)

    def test_busyOddPort(self) -> None:
        """
        When the odd port of a pair is held by another program, the even
        one is let go and the next pair is bound with fresh protocols (a
        stopped port's protocol is not free until the reactor has run).
        """
        reactor = FakeUDPReactor()
        reactor.busy.add(30001)
        pool = PortPool(reactor, "127.0.0.1", 30000, 30003)
        made: list[DatagramProtocol] = []

        def makePair() -> tuple[DatagramProtocol, DatagramProtocol]:
            made.extend([DatagramProtocol(), DatagramProtocol()])
            return made[-2], made[-1]

        rtp, rtcp, first, second = pool.bindPair(makePair)
        self.assertEqual((first.getHost().port, second.getHost().port), (30002, 30003))
        self.assertIs(rtp, made[2])
        self.assertEqual(pool.inUse, 2)
