"""
Tests for L{keepsip.transaction.sent}: a response kept as bytes.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Response
from keepsip.transaction.sent import SentResponse
from keepsip.transaction.testing import makeRequest, makeResponse


def okWithBody() -> Response:
    response = makeResponse(makeRequest("INVITE"), 200)
    response.addHeader("content-type", "application/sdp")
    response.body = b"v=0\r\n"
    return response


class SentResponseTests(SynchronousTestCase):
    """
    L{SentResponse} keeps a sent response's status and, if asked, its bytes.
    """

    def test_bytes(self) -> None:
        """
        With its bytes kept it is sent as the original's exact encoding, and
        later changes to the original do not reach it.
        """
        original = okWithBody()
        expected = original.toBytes()
        sent = SentResponse(original, keepBytes=True)
        original.addHeader("x-later", "1")
        self.assertEqual(sent.toBytes(), expected)
        self.assertEqual((sent.code, sent.phrase, sent.version), (200, "OK", "SIP/2.0"))
        self.assertIsInstance(sent, Response)

    def test_parsedOnDemand(self) -> None:
        """
        Its headers and body, read for the first time, are parsed from the
        kept bytes and equal the original's.
        """
        original = okWithBody()
        sent = SentResponse(original, keepBytes=True)
        self.assertEqual(sent.header("call-id"), original.header("call-id"))
        self.assertEqual(sent.headers["via"], original.headers["via"])
        self.assertEqual(sent.body, b"v=0\r\n")

    def test_withoutBytes(self) -> None:
        """
        Without its bytes it still says its status, but cannot be sent or
        read: C{toBytes} raises L{ValueError}, headers L{AttributeError}.
        """
        sent = SentResponse(okWithBody(), keepBytes=False)
        self.assertEqual(sent.code, 200)
        self.assertIsNone(sent.data)
        self.assertRaises(ValueError, sent.toBytes)
        self.assertRaises(AttributeError, lambda: sent.headers)
