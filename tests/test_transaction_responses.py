"""
Tests for L{keepsip.transaction.responses}, L{keepsip.transaction.requests},
L{keepsip.transaction.destination}, L{keepsip.transaction.timers} and the
private header readers in L{keepsip.transaction._headers}.
"""

from __future__ import annotations

from twisted.protocols import sip as tsip
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction import (
    TimerSettings,
    ackForResponse,
    cancelForRequest,
    responseDestination,
    responseFromRequest,
)
from keepsip.transaction._headers import cseq, isReliable, parseVia, sentByKey, tag
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


class HopByHopRequestTests(SynchronousTestCase):
    """
    The ACK and CANCEL the transaction layer builds.
    """

    def setUp(self) -> None:
        self.request = makeRequest(
            "INVITE", extraVias=("SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKb",), cseqNumber=7
        )
        self.request.addHeader("route", "<sip:p1.example.net;lr>")
        self.request.addHeader("contact", "<sip:alice@192.0.2.10>")
        self.request.body = b"v=0\r\n"

    def test_ack(self) -> None:
        """
        The ACK has the INVITE's R-URI, top Via only, From, Call-ID, CSeq
        number, Route; To from the response; no body, no Contact.
        """
        response = responseFromRequest(self.request, 486, toTag="busy")
        ack = ackForResponse(self.request, response)
        self.assertEqual(ack.method, "ACK")
        self.assertIs(ack.uri, self.request.uri)
        self.assertEqual(ack.headers["via"], self.request.headers["via"][:1])
        self.assertEqual(ack.headers["to"], response.headers["to"])
        self.assertEqual(ack.headers["cseq"], ["7 ACK"])
        self.assertEqual(ack.headers["route"], ["<sip:p1.example.net;lr>"])
        self.assertEqual(ack.headers["max-forwards"], ["70"])
        self.assertNotIn("contact", ack.headers)
        self.assertEqual(ack.body, b"")

    def test_cancel(self) -> None:
        """
        The CANCEL keeps the INVITE's To (no tag), top Via only and CSeq number.
        """
        cancel = cancelForRequest(self.request)
        self.assertEqual(cancel.method, "CANCEL")
        self.assertEqual(cancel.headers["to"], self.request.headers["to"])
        self.assertEqual(cancel.headers["via"], self.request.headers["via"][:1])
        self.assertEqual(cancel.headers["cseq"], ["7 CANCEL"])
        self.assertTrue(cancel.toBytes().startswith(b"CANCEL sip:bob@example.com SIP/2.0\r\n"))


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


class HeaderReaderTests(SynchronousTestCase):
    """
    The transaction layer's readings on top of L{keepsip.sip.headers}.
    """

    def test_sentByKey(self) -> None:
        """
        The key's sent-by is case-insensitive, bracket-free, and has the
        transport's default port filled in (5061 for TLS).
        """
        self.assertEqual(sentByKey(parseVia("SIP/2.0/UDP Host.Example")), ("host.example", 5060))
        self.assertEqual(sentByKey(parseVia("SIP/2.0/tls h.example")), ("h.example", 5061))
        self.assertEqual(sentByKey(parseVia("SIP/2.0/UDP [2001:DB8::1]:5070")), ("2001:db8::1", 5070))

    def test_sentByKeyWithLWS(self) -> None:
        """
        A Via with linear white space around separators gives the same key.
        """
        via = parseVia("SIP / 2.0 / UDP  192.0.2.1 : 5062 ; branch = z9hG4bKx ; rport")
        self.assertEqual(sentByKey(via), ("192.0.2.1", 5062))
        self.assertEqual(via.branch, "z9hG4bKx")

    def test_isReliable(self) -> None:
        """
        TCP, TLS and the like are reliable; UDP is not, in any case.
        """
        self.assertTrue(isReliable(parseVia("SIP/2.0/TCP h.example")))
        self.assertTrue(isReliable(parseVia("SIP/2.0/tls h.example")))
        self.assertFalse(isReliable(parseVia("SIP/2.0/udp h.example")))

    def test_tag(self) -> None:
        """
        The tag is read from name-addr and addr-spec forms, not from URI params.
        """
        self.assertEqual(tag('"A" <sip:a@b;tag=uri>;tag=x1'), "x1")
        self.assertEqual(tag("<sip:a@b;tag=uri>"), None)
        self.assertEqual(tag("sip:a@b;TAG=y2"), "y2")
        self.assertEqual(tag("sip:a@b"), None)

    def test_cseq(self) -> None:
        """
        CSeq reads as number and method; malformed values raise.
        """
        request = makeRequest("OPTIONS", cseqNumber=42)
        self.assertEqual(cseq(request), (42, "OPTIONS"))
        request.setHeader("cseq", "x OPTIONS")
        self.assertRaises(ValueError, cseq, request)


class TimerSettingsTests(SynchronousTestCase):
    """
    L{TimerSettings} defaults and derived timers.
    """

    def test_defaults(self) -> None:
        """
        The defaults are RFC 3261's: T1 0.5 s, T2 4 s, T4 5 s; 64*T1 is 32 s,
        timer D 32 s.
        """
        settings = TimerSettings()
        self.assertEqual((settings.T1, settings.T2, settings.T4), (0.5, 4.0, 5.0))
        self.assertEqual(settings.transactionTimeout, 32.0)
        self.assertEqual(settings.timerD, 32.0)
        self.assertEqual(TimerSettings(T1=1.0, T2=4.0).timerD, 64.0)

    def test_invalid(self) -> None:
        """
        T1 must be positive and not above T2.
        """
        self.assertRaises(ValueError, TimerSettings, T1=0)
        self.assertRaises(ValueError, TimerSettings, T1=5.0, T2=4.0)
