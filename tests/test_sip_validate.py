"""
Tests for L{keepsip.sip.validate.checkRequest}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request
from keepsip.sip.parser import parseDatagram
from keepsip.sip.validate import KNOWN_METHODS, checkRequest

HEADERS = [
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc"),
    ("From", "<sip:alice@example.com>;tag=1"),
    ("To", "<sip:bob@example.com>"),
    ("Call-ID", "call1@192.0.2.1"),
    ("CSeq", "1 OPTIONS"),
    ("Max-Forwards", "70"),
]


def build(
    method: str = "OPTIONS",
    uri: str = "sip:bob@example.com",
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Request:
    """
    Parse a request made of L{HEADERS}, minus C{drop}, with C{replace}d
    values and C{extra} lines.
    """
    replace = replace or {}
    lines = [f"{method} {uri} SIP/2.0"]
    for name, value in HEADERS:
        if name in drop:
            continue
        lines.append(f"{name}: {replace.get(name, value)}")
    for name, value in extra or []:
        lines.append(f"{name}: {value}")
    msg = parseDatagram(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


class CheckRequestTests(SynchronousTestCase):
    """
    Each rule of L{checkRequest}, on requests that differ from a good one in
    one place.
    """

    def assertStatus(self, request: Request, status: int) -> None:
        problem = checkRequest(request)
        self.assertIsNotNone(problem, request.toBytes())
        assert problem is not None
        self.assertEqual(problem[0], status, problem)

    def test_good(self) -> None:
        """
        A well-formed request passes, with and without Max-Forwards (RFC 2543
        requests have none), and with Max-Forwards 0 (the 483 is the proxy
        core's).
        """
        self.assertIsNone(checkRequest(build()))
        self.assertIsNone(checkRequest(build(drop=("Max-Forwards",))))
        self.assertIsNone(checkRequest(build(replace={"Max-Forwards": "0"})))
        self.assertIsNone(checkRequest(build(replace={"Max-Forwards": "255"})))
        self.assertIsNone(checkRequest(build(uri="sips:bob@example.com")))

    def test_missingMandatory(self) -> None:
        """
        Missing Via, From, To, Call-ID or CSeq is a 400 naming the header.
        """
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            problem = checkRequest(build(drop=(name,)))
            self.assertEqual(problem, (400, f"Missing {name} Header", {}))

    def test_emptyCallID(self) -> None:
        """
        An empty Call-ID is a 400.
        """
        self.assertStatus(build(replace={"Call-ID": ""}), 400)

    def test_duplicates(self) -> None:
        """
        Two values of Call-ID, To, From, CSeq or Max-Forwards are a 400
        (RFC 4475 multi01); two Vias are fine.
        """
        for name, value in HEADERS:
            request = build(extra=[(name, value)])
            if name == "Via":
                self.assertIsNone(checkRequest(request))
            else:
                self.assertStatus(request, 400)

    def test_badVia(self) -> None:
        """
        A malformed Via anywhere in the list is a 400; so is a branch that is
        only the magic cookie (badbranch); a branch without the cookie is RFC
        2543 style and fine.
        """
        self.assertStatus(build(extra=[("Via", "SIP/2.0/UDP 192.0.2.15;;")]), 400)
        self.assertStatus(build(replace={"Via": "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK"}), 400)
        self.assertIsNone(checkRequest(build(replace={"Via": "SIP/2.0/UDP 192.0.2.1;branch=1"})))
        self.assertIsNone(checkRequest(build(replace={"Via": "SIP/2.0/UDP 192.0.2.1"})))

    def test_cseq(self) -> None:
        """
        A CSeq number above 2**32 - 1 or a malformed CSeq is a 400.
        """
        self.assertStatus(build(replace={"CSeq": "4294967296 OPTIONS"}), 400)
        self.assertStatus(build(replace={"CSeq": "OPTIONS"}), 400)
        self.assertIsNone(checkRequest(build(replace={"CSeq": "4294967295 OPTIONS"})))

    def test_methodMismatch(self) -> None:
        """
        A CSeq method different from a known request method is a 400
        (mismatch01, and ACK or CANCEL carrying the INVITE's method); on an
        unknown method a 501 (mismatch02).
        """
        self.assertStatus(build(replace={"CSeq": "1 INVITE"}), 400)
        self.assertStatus(build("ACK", replace={"CSeq": "1 INVITE"}), 400)
        self.assertStatus(build("CANCEL", replace={"CSeq": "1 INVITE"}), 400)
        self.assertStatus(build("NEWMETHOD", replace={"CSeq": "1 INVITE"}), 501)
        self.assertIsNone(checkRequest(build("ACK", replace={"CSeq": "1 ACK"})))
        self.assertIsNone(checkRequest(build("CANCEL", replace={"CSeq": "1 CANCEL"})))

    def test_unknownMethod(self) -> None:
        """
        An unknown method with a matching CSeq is fine: a proxy forwards it.
        """
        self.assertIsNone(checkRequest(build("NEWMETHOD", replace={"CSeq": "1 NEWMETHOD"})))
        self.assertNotIn("NEWMETHOD", KNOWN_METHODS)

    def test_maxForwards(self) -> None:
        """
        Max-Forwards above 255 or not a number is a 400.
        """
        for value in ("256", "300", "abc", "-1", ""):
            self.assertStatus(build(replace={"Max-Forwards": value}), 400)

    def test_nameAddrs(self) -> None:
        """
        Malformed From, To, Contact or Route values are 400s; a From or To
        wildcard is a 400.
        """
        self.assertStatus(build(replace={"From": '"Open <sip:a@b>;tag=1'}), 400)
        self.assertStatus(build(replace={"To": "Bell, Alexander <sip:a@b>"}), 400)
        self.assertStatus(build(replace={"To": "*"}), 400)
        self.assertStatus(build(extra=[("Contact", '"Joe" <sip:joe@example.org>;;;;')]), 400)
        self.assertStatus(build(extra=[("Contact", "<sip:a@b>, sip:c@d?x=y")]), 400)
        self.assertStatus(build(extra=[("Route", "<sip:p1;lr>, <sip:2001:db8::1;lr>")]), 400)
        self.assertIsNone(checkRequest(build(extra=[("Contact", "*")])))
        self.assertIsNone(checkRequest(build(extra=[("Route", "<sip:p1.example.com;lr>")])))

    def test_uriScheme(self) -> None:
        """
        Request-URIs of schemes other than sip and sips are 416 (unkscm,
        novelsc, and tel, which keepsip does not route).
        """
        for uri in ("tel:+15551234", "nobodyKnowsThisScheme:x", "soap.beep://192.0.2.103:3002"):
            self.assertEqual(checkRequest(build(uri=uri)), (416, "Unsupported URI Scheme", {}))

    def test_syntaxBeforeScheme(self) -> None:
        """
        A syntax problem is reported before an unsupported scheme (RFC 3261
        §16.3 step 1 before step 2).
        """
        self.assertStatus(build(uri="tel:+1", drop=("From",)), 400)

    def test_uriHeaders(self) -> None:
        """
        Escaped headers in the Request-URI are a 400 (escruri).
        """
        self.assertStatus(build(uri="sip:user@example.com?Route=%3Csip:example.com%3E"), 400)

    def test_proxyRequire(self) -> None:
        """
        Proxy-Require tags the proxy does not support give a 420 whose
        Unsupported lists just those tags, once each, in order; Require is
        not the proxy's business.
        """
        request = build(extra=[("Proxy-Require", "foo, bar"), ("Proxy-Require", "baz, foo")])
        self.assertEqual(
            checkRequest(request, supportedExtensions=frozenset({"bar"})),
            (420, "Bad Extension", {"unsupported": "foo, baz"}),
        )
        self.assertIsNone(
            checkRequest(request, supportedExtensions=frozenset({"foo", "bar", "baz"}))
        )
        self.assertIsNone(checkRequest(build(extra=[("Require", "nothingSupportsThis")])))
