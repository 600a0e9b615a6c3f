"""
Tests for L{keepsip.auth.peers}: C{--trusted} networks.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.auth.peers import TrustedPeers, parseNetworks


class PeersTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        CIDRs and bare addresses, IPv4 and IPv6 (bracketed or not), comma
        separated; host bits are allowed.
        """
        networks = parseNetworks("10.1.2.3/8, 192.0.2.1,[2001:db8::1],2001:db8:1::/48")
        self.assertEqual([str(n) for n in networks], ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128", "2001:db8:1::/48"])

    def test_parseErrors(self) -> None:
        """
        A host name, garbage or nothing is a one-line error naming it.
        """
        for bad in ("example.com", "10.0.0.0/33", ",", ""):
            error = self.assertRaises(ValueError, parseNetworks, bad)
            self.assertNotIn("\n", str(error))

    def test_contains(self) -> None:
        """
        Addresses in a network or equal to a listed address are trusted;
        others, host names and IPv4-mapped forms of untrusted ones are not.
        """
        peers = TrustedPeers(parseNetworks("10.0.0.0/8,192.0.2.1,2001:db8::/32"))
        for host in ("10.9.8.7", "192.0.2.1", "2001:db8::5", "[2001:db8::5]", "::ffff:10.0.0.1"):
            self.assertIn(host, peers)
        for host in ("192.0.2.2", "11.0.0.1", "2001:db9::1", "example.com", "", "::ffff:192.0.2.2"):
            self.assertNotIn(host, peers)
        self.assertFalse(TrustedPeers())
        self.assertNotIn("10.0.0.1", TrustedPeers())
