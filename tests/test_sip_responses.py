"""
Tests for L{keepsip.sip.responses}: responses built from requests, their
destination, and the lenient To/From tag reader.
"""

from __future__ import annotations

from twisted.protocols import sip as tsip
from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.headers import parseVia
from keepsip.sip.responses import lenientTag, responseDestination, responseFromRequest
from keepsip.transaction.testing import makeRequest


class ResponseFromRequestTests(SynchronousTestCase):
    """
    L{responseFromRequest} follows RFC 3261 §8.2.6.
    """

    def setUp(self) -> None:
        self.request = makeRequest(
            "INVITE",
            extraVias=(
                "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKb",
                "SIP/2.0/TCP 198.51.100.2;branch=z9hG4bKc",
            ),
        )
        self.request.addHeader("contact", "<sip:alice@192.0.2.10>")
        self.request.addHeader("timestamp", "1.5")

    def test_copiesHeaders(self) -> None:
        """
        Via (every value, in order), From, To, Call-ID and CSeq are copied and
        nothing else (no Max-Forwards, Contact, Route).
        """
        response = responseFromRequest(self.request, 486)
        self.assertEqual(response.code, 486)
        self.assertEqual(response.phrase, "Busy Here")
        self.assertEqual(
            list(response.headers), ["via", "from", "to", "call-id", "cseq"]
        )
        for name in response.headers:
            self.assertEqual(response.headers[name], self.request.headers[name])
        self.assertEqual(len(response.headers["via"]), 3)

    def test_independentLists(self) -> None:
        """
        Changing the response's headers leaves the request unchanged.
        """
        response = responseFromRequest(self.request, 200, toTag="x")
        response.headers["via"].pop(0)
        self.assertEqual(len(self.request.headers["via"]), 3)
        self.assertNotIn("tag=", self.request.headers["to"][0])

    def test_toTagAdded(self) -> None:
        """
        A given tag is added to a To without one.
        """
        response = responseFromRequest(self.request, 200, toTag="abc")
        self.assertEqual(response.headers["to"], ["Bob <sip:bob@example.com>;tag=abc"])

    def test_toTagKept(self) -> None:
        """
        A To that has a tag already keeps it (in-dialog request).
        """
        request = makeRequest("BYE", toTag="old")
        response = responseFromRequest(request, 200, toTag="new")
        self.assertEqual(response.headers["to"], ["Bob <sip:bob@example.com>;tag=old"])

    def test_timestampOnlyFor100(self) -> None:
        """
        Timestamp is copied into a 100 and into no other response.
        """
        self.assertEqual(responseFromRequest(self.request, 100).headers["timestamp"], ["1.5"])
        self.assertNotIn("timestamp", responseFromRequest(self.request, 180).headers)

    def test_phrase(self) -> None:
        """
        An explicit reason phrase is used; the wire form carries it.
        """
        response = responseFromRequest(self.request, 503, "Overloaded")
        self.assertTrue(response.toBytes().startswith(b"SIP/2.0 503 Overloaded\r\n"))


class ResponseDestinationTests(SynchronousTestCase):
    """
    L{responseDestination}: RFC 3261 §18.2.2 with RFC 3581.
    """

    def test_sentBy(self) -> None:
        """
        Without received/rport the sent-by host and port are used.
        """
        self.assertEqual(
            responseDestination("SIP/2.0/UDP host.example.com:5070;branch=z9hG4bK1"),
            ("host.example.com", 5070),
        )

    def test_defaultPort(self) -> None:
        """
        A sent-by without port means 5060.
        """
        self.assertEqual(responseDestination("SIP/2.0/UDP 192.0.2.1"), ("192.0.2.1", 5060))

    def test_received(self) -> None:
        """
        C{received} replaces the host, the sent-by port stays.
        """
        self.assertEqual(
            responseDestination("SIP/2.0/UDP a.example:5070;received=192.0.2.9"),
            ("192.0.2.9", 5070),
        )

    def test_rport(self) -> None:
        """
        An C{rport} value replaces the port.
        """
        self.assertEqual(
            responseDestination("SIP/2.0/UDP a.example:5070;rport=9999;received=192.0.2.9"),
            ("192.0.2.9", 9999),
        )

    def test_emptyRport(self) -> None:
        """
        An empty C{rport} uses the source if known, else the sent-by.
        """
        via = "SIP/2.0/UDP a.example:5070;rport"
        self.assertEqual(responseDestination(via, ("192.0.2.3", 1234)), ("192.0.2.3", 1234))
        self.assertEqual(responseDestination(via), ("a.example", 5070))

    def test_maddr(self) -> None:
        """
        C{maddr} wins over C{received}, with the sent-by port.
        """
        self.assertEqual(
            responseDestination("SIP/2.0/UDP a.example:5070;maddr=239.1.1.1;received=192.0.2.9"),
            ("239.1.1.1", 5070),
        )

    def test_ipv6(self) -> None:
        """
        IPv6 references lose their brackets, in sent-by and in C{received}.
        """
        self.assertEqual(
            responseDestination("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bK1"),
            ("2001:db8::9:1", 5070),
        )
        self.assertEqual(
            responseDestination("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]"),
            ("2001:db8::9:255", 5060),
        )

    def test_twistedVia(self) -> None:
        """
        A parsed Via object with C{received}/C{rportValue} attributes (Twisted's)
        is accepted too.
        """
        via = tsip.parseViaHeader("SIP/2.0/UDP a.example:5070;received=192.0.2.9;rport=4444")
        self.assertEqual(responseDestination(via), ("192.0.2.9", 4444))
        via = tsip.parseViaHeader("SIP/2.0/UDP a.example:5070;rport")
        self.assertEqual(responseDestination(via, ("192.0.2.3", 1)), ("192.0.2.3", 1))


class LenientTagTests(SynchronousTestCase):
    """
    L{lenientTag} reads a tag without ever raising.
    """

    def test_test_tag(self) -> None:
        """
        The tag is read from name-addr and addr-spec forms, not from URI params.
        """
        self.assertEqual(lenientTag('"A" <sip:a@b;tag=uri>;tag=x1'), "x1")
        self.assertEqual(lenientTag("<sip:a@b;tag=uri>"), None)
        self.assertEqual(lenientTag("sip:a@b;TAG=y2"), "y2")
        self.assertEqual(lenientTag("sip:a@b"), None)
