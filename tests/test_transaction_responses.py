"""
Tests for L{keepsip.transaction.requests}, L{keepsip.transaction.timers} and
the private header readers in L{keepsip.transaction.headers}.
"""

from __future__ import annotations

from twisted.protocols import sip as tsip
from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.responses import responseFromRequest
from keepsip.transaction import TimerSettings, ackForResponse, cancelForRequest
from keepsip.transaction.headers import cseq, isReliable, parseVia, sentByKey
from keepsip.transaction.testing import makeRequest


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
