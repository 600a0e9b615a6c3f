"""
Tests for L{keepsip.sip.via}.
"""

from __future__ import annotations

from twisted.protocols import sip as tsip
from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.headers import newBranch
from keepsip.sip.via import Via, parseVia


class ViaTests(SynchronousTestCase):
    """
    L{parseVia} and L{Via}.
    """

    def test_basic(self) -> None:
        """
        Every part of a Via lands in its Twisted-named attribute.
        """
        via = parseVia(
            "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK776;received=192.0.2.9;"
            "rport=5070;maddr=239.1.1.1;ttl=16;x-foo=bar;flag"
        )
        self.assertIsInstance(via, tsip.Via)
        self.assertEqual(via.protocol, "SIP/2.0")
        self.assertEqual(via.transport, "UDP")
        self.assertEqual(via.sentBy(), ("192.0.2.1", 5062))
        self.assertEqual(via.branch, "z9hG4bK776")
        self.assertEqual(via.received, "192.0.2.9")
        self.assertEqual((via.rportRequested, via.rportValue, via.rport), (False, 5070, 5070))
        self.assertEqual((via.maddr, via.ttl), ("239.1.1.1", 16))
        self.assertEqual(via.otherParams, {"x-foo": "bar", "flag": None})

    def test_lws(self) -> None:
        """
        LWS around C{/}, C{:}, C{;} and C{=} is allowed (RFC 4475 wsinv).
        """
        via = parseVia("SIP  /   2.0 /UDP   host.example.com : 5060 ; branch  =  z9hG4bK1 ; rport")
        self.assertEqual(via.toString(), "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1;rport")
        self.assertTrue(via.rportRequested)
        self.assertIs(via.rport, True)

    def test_orderPreserved(self) -> None:
        """
        C{toString} keeps the received parameter order and appends parameters
        set later; changed values show.
        """
        text = "SIP/2.0/TCP [2001:db8::1]:5060;rport;x=\"a;b\";branch=z9hG4bKx;hidden"
        via = parseVia(text)
        self.assertEqual(via.toString(), text)
        self.assertEqual(via.otherParams, {"x": '"a;b"'})
        via.received = "192.0.2.7"
        via.rport = 6000  # what Twisted's _fixupNAT does
        self.assertEqual(
            via.toString(),
            "SIP/2.0/TCP [2001:db8::1]:5060;rport=6000;x=\"a;b\";branch=z9hG4bKx;hidden"
            ";received=192.0.2.7",
        )

    def test_build(self) -> None:
        """
        A Via built from parts serialises with its port omitted when None.
        """
        via = Via("192.0.2.1", transport="UDP", branch=newBranch(), rportRequested=True)
        self.assertTrue(via.toString().startswith("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK"))
        self.assertTrue(via.toString().endswith(";rport"))
        self.assertEqual(parseVia(via.toString()).branch, via.branch)

    def test_ipv6AndReceived(self) -> None:
        """
        IPv6 sent-by keeps brackets; C{received} is accepted with or without
        them (RFC 5118 §4.5).
        """
        via = parseVia("SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255]")
        self.assertEqual(
            (via.host, via.hostAddress, via.port), ("[2001:db8::9:1]", "2001:db8::9:1", 6050)
        )
        self.assertEqual(via.receivedAddress, "2001:db8::9:255")
        via = parseVia("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255")
        self.assertEqual(via.receivedAddress, "2001:db8::9:255")
        self.assertIsNone(parseVia("SIP/2.0/UDP h").receivedAddress)

    def test_errors(self) -> None:
        """
        Malformed Vias raise L{ValueError}.
        """
        for text in [
            "SIP/2.0/UDP 192.0.2.15;;",  # RFC 4475 badinv01
            ";",
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 host",
            "SIP/2.0/UDP 2001:db8::1",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;branch",
            "SIP/2.0/UDP host;branch=",
            "SIP/2.0/UDP host;rport=abc",
            "SIP/2.0/UDP host;ttl=256",
            "SIP/2.0/UDP host;received=",
            "SIP/2.0/UDP host;received=not a host",
            "SIP/2.0/UDP host;received=[::1",
            "SIP/2.0/UDP host;x=\"unterminated",
            "SIP/2.0/UDP host;x=a b",
            "SIP/2.0/UDP ho st",
        ]:
            self.assertRaises(ValueError, parseVia, text)


class CommonFormTests(SynchronousTestCase):
    """
    The common Via form (C{SIP/2.0/UDP host:port;branch=...;rport}) is read
    by one match; it must give what the general parser gives for the same
    value written with LWS (which only the general parser accepts).
    """

    def assertSameVia(self, tight: str, loose: str) -> None:
        one, other = parseVia(tight), parseVia(loose)
        self.assertEqual(one.toString(), tight)
        self.assertEqual(one.toString(), other.toString())
        for name in (
            "protocol", "transport", "host", "port", "branch", "received",
            "rportRequested", "rportValue", "maddr", "ttl", "hidden", "otherParams",
        ):
            self.assertEqual(getattr(one, name), getattr(other, name), name)

    def test_sameAsGeneral(self) -> None:
        """
        Host with and without port, branch and rport in either order or
        absent: equal to the general parser's result, order kept.
        """
        for tight in (
            "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0",
            "SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK.x!%*_+`'~",
            "SIP/2.0/TCP pc33.example.com;branch=z9hG4bKa",
            "SIP/2.0/UDP h_1:1",
            "SIP/2.0/UDP h",
        ):
            self.assertSameVia(tight, tight.replace(";", " ; ").replace(" h", "  h"))

    def test_duplicates(self) -> None:
        """
        The first of duplicate branch parameters wins, and a repeated rport
        appears once, as in the general parser.
        """
        via = parseVia("SIP/2.0/UDP h:5060;branch=z9hG4bKa;rport;branch=z9hG4bKb;rport")
        self.assertEqual(via.branch, "z9hG4bKa")
        self.assertEqual(via.toString(), "SIP/2.0/UDP h:5060;branch=z9hG4bKa;rport")

    def test_refusedAsBefore(self) -> None:
        """
        A port above 65535 and a bad host are refused though they look
        like the common form.
        """
        for bad in ("SIP/2.0/UDP h:65536;branch=z9hG4bKa", "SIP/2.0/UDP -h:5060;branch=z"):
            self.assertRaises(ValueError, parseVia, bad)
