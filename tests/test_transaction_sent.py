"""
Tests for L{keepsip.transaction.sent}: a response, and a request, kept as bytes.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request, Response
from keepsip.transaction.sent import KeptRequest, SentResponse
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

    def test_statusOnlyShared(self) -> None:
        """
        Without bytes, responses with the same status line share one object
        (held calls each keep one for 32 s); a different reason phrase gets
        another, kept ones are never shared, and past the memo's bound (a
        peer's phrases are arbitrary) each is still right.
        """
        first = SentResponse(okWithBody(), keepBytes=False)
        second = SentResponse(okWithBody(), keepBytes=False)
        self.assertIs(first, second)
        other = okWithBody()
        other.phrase = "Fine"
        self.assertIsNot(SentResponse(other, keepBytes=False), first)
        self.assertIsNot(
            SentResponse(okWithBody(), keepBytes=True),
            SentResponse(okWithBody(), keepBytes=True),
        )
        for n in range(200):
            response = okWithBody()
            response.phrase = f"phrase {n}"
            sent = SentResponse(response, keepBytes=False)
            self.assertEqual((sent.code, sent.phrase), (200, f"phrase {n}"))
        self.assertEqual(first.phrase, "OK")


def inviteWithBody() -> Request:
    request = makeRequest("INVITE")
    request.addHeader("content-type", "application/sdp")
    request.body = b"v=0\r\n"
    request.source = ("192.0.2.7", 5062)
    return request


class KeptRequestTests(SynchronousTestCase):
    """
    L{KeptRequest} keeps a request as bytes and is the parsed request again
    when read.
    """

    def test_bytes(self) -> None:
        """
        It keeps the original's method, version, source and exact encoding;
        later changes to the original do not reach it.
        """
        original = inviteWithBody()
        expected = original.toBytes()
        kept = KeptRequest(original)
        original.addHeader("x-later", "1")
        self.assertEqual(kept.toBytes(), expected)
        self.assertEqual(
            (kept.method, kept.version, kept.source),
            ("INVITE", "SIP/2.0", ("192.0.2.7", 5062)),
        )
        self.assertIsInstance(kept, Request)
        self.assertNotIn("headers", vars(kept))

    def test_parsedOnDemand(self) -> None:
        """
        Its headers, body and Request-URI, read for the first time, are
        parsed from the kept bytes and equal the original's; an attribute a
        request does not have is still an L{AttributeError}.
        """
        original = inviteWithBody()
        kept = KeptRequest(original)
        self.assertEqual(kept.uri.toString(), original.uri.toString())
        self.assertEqual(kept.header("call-id"), original.header("call-id"))
        self.assertEqual(kept.headers["via"], original.headers["via"])
        self.assertEqual(kept.body, b"v=0\r\n")
        self.assertEqual(kept.toBytes(), original.toBytes())
        self.assertRaises(AttributeError, lambda: kept.nothingLikeThis)  # type: ignore[attr-defined]
