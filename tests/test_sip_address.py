"""
Tests for L{keepsip.sip.address}: host text and IPv6 brackets.
"""

from __future__ import annotations

import socket

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.address import (
    addressFamily,
    formatHost,
    hostPort,
    isIPLiteral,
    sameAddress,
    stripBrackets,
)


class AddressTests(SynchronousTestCase):
    """
    The one place that knows IPv6 brackets.
    """

    def test_stripBrackets(self) -> None:
        """
        Brackets go; anything else stays as it is.
        """
        self.assertEqual(stripBrackets("[2001:db8::1]"), "2001:db8::1")
        self.assertEqual(stripBrackets("2001:db8::1"), "2001:db8::1")
        self.assertEqual(stripBrackets("example.com"), "example.com")

    def test_formatHost(self) -> None:
        """
        An IPv6 literal is bracketed once; IPv4 and names are not.
        """
        self.assertEqual(formatHost("::1"), "[::1]")
        self.assertEqual(formatHost("[::1]"), "[::1]")
        self.assertEqual(formatHost("192.0.2.1"), "192.0.2.1")
        self.assertEqual(formatHost("example.com"), "example.com")

    def test_hostPort(self) -> None:
        """
        C{host:port} text, or the host alone without a port.
        """
        self.assertEqual(hostPort("::1", 5060), "[::1]:5060")
        self.assertEqual(hostPort("192.0.2.1", 5070), "192.0.2.1:5070")
        self.assertEqual(hostPort("example.com", None), "example.com")

    def test_addressFamily(self) -> None:
        """
        The family of an IP literal, brackets allowed; L{None} for a name.
        """
        self.assertEqual(addressFamily("192.0.2.1"), socket.AF_INET)
        self.assertEqual(addressFamily("[2001:db8::1]"), socket.AF_INET6)
        self.assertEqual(addressFamily("::ffff:192.0.2.1"), socket.AF_INET6)
        self.assertIsNone(addressFamily("example.com"))
        self.assertTrue(isIPLiteral("[::1]"))
        self.assertFalse(isIPLiteral("example.com"))

    def test_sameAddress(self) -> None:
        """
        Brackets and host case do not matter, the port does; L{None} matches
        nothing.
        """
        self.assertTrue(sameAddress(("[2001:DB8::1]", 5060), ("2001:db8::1", 5060)))
        self.assertFalse(sameAddress(("192.0.2.1", 5060), ("192.0.2.1", 5062)))
        self.assertFalse(sameAddress(None, ("192.0.2.1", 5060)))
