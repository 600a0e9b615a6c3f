"""
Tests for L{keepsip.sip.headers}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.headers import (
    MAGIC_COOKIE,
    CSeq,
    callID,
    contacts,
    cseq,
    fromHeader,
    maxForwards,
    newBranch,
    newTag,
    parseCSeq,
    parseNameAddr,
    routes,
    sharedNameAddr,
    sharedVia,
    toHeader,
    topVia,
    vias,
)
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram
from keepsip.sip.uri import URI, AbsoluteURI
from keepsip.sip.via import parseVia


class NameAddrTests(SynchronousTestCase):
    """
    L{parseNameAddr} and L{NameAddr}.
    """

    def test_forms(self) -> None:
        """
        Quoted and token display names, no LWS before C{<}, bare addr-specs
        whose parameters are header parameters, and other schemes.
        """
        cases = [
            ('"Alice A." <sip:alice@example.com>;tag=1',
             "Alice A.", "sip:alice@example.com", {"tag": "1"}),
            ("Bob <sip:bob@example.com;transport=tcp>",
             "Bob", "sip:bob@example.com;transport=tcp", {}),
            ("caller<sip:caller@example.com>;tag=323",  # RFC 4475 lwsdisp
             "caller", "sip:caller@example.com", {"tag": "323"}),
            ("sip:+19725552222@gw1.example.net;unknownparam",  # cparam01
             None, "sip:+19725552222@gw1.example.net", {"unknownparam": None}),
            ("<sip:+19725552222@gw1.example.net;unknownparam>",  # cparam02
             None, "sip:+19725552222@gw1.example.net;unknownparam", {}),
            ("sip:u@h ;   tag    = 1918181833n", None, "sip:u@h", {"tag": "1918181833n"}),
            ("<http://www.example.com>;tag=3234233",
             None, "http://www.example.com", {"tag": "3234233"}),
            ("isbn:2983792873", None, "isbn:2983792873", {}),
            ('"" <sip:a@b>', "", "sip:a@b", {}),
            ('"J Rosenberg \\\\\\"" <sip:j@example.com> ; tag = 98',
             'J Rosenberg \\"', "sip:j@example.com", {"tag": "98"}),
        ]
        for text, display, uri, params in cases:
            value = parseNameAddr(text)
            self.assertEqual(value.displayName, display, text)
            self.assertEqual(value.uri.toString(), uri, text)
            self.assertEqual(value.params, params, text)
            self.assertEqual(parseNameAddr(value.toString()), value, text)

    def test_uriKinds(self) -> None:
        """
        SIP URIs become L{URI}s, others L{AbsoluteURI}s.
        """
        self.assertIsInstance(parseNameAddr("<sips:a@b>").uri, URI)
        self.assertIsInstance(parseNameAddr("<tel:+1>").uri, AbsoluteURI)

    def test_tagAndQuotedParams(self) -> None:
        """
        C{tag} is read from the header parameters; quoted values keep their
        quotes and may contain C{;}.
        """
        value = parseNameAddr('<sip:a@b>;tag=xyz;+sip.instance="<urn:uuid:1;2>"')
        self.assertEqual(value.tag, "xyz")
        self.assertEqual(value.params["+sip.instance"], '"<urn:uuid:1;2>"')
        self.assertIsNone(parseNameAddr("<sip:a@b;tag=no>").tag)

    def test_wildcard(self) -> None:
        """
        C{*} is the Contact wildcard.
        """
        value = parseNameAddr(" * ")
        self.assertTrue(value.isWildcard)
        self.assertIsNone(value.uri)
        self.assertEqual(value.toString(), "*")
        self.assertFalse(parseNameAddr("<sip:a@b>").isWildcard)

    def test_errors(self) -> None:
        """
        Malformed name-addrs raise L{ValueError}.
        """
        for text in [
            "",
            '"Mr. J. User <sip:j.user@example.com>',  # quotbal
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # baddn
            '"Watson, Thomas" < sip:t.watson@example.org >',  # badaspec
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regbadct
            '"Joe" <sip:joe@example.org>;;;;',  # badinv01
            "<sip:a@b",
            "<sip:a@b> junk",
            '"x" sip:a@b',
            "<sip:a@b>;tag=",
            "<sip:a@b>;=x",
            "*x",
            "sip:a@b,sip:c@d",
        ]:
            self.assertRaises(ValueError, parseNameAddr, text)


class CSeqTests(SynchronousTestCase):
    """
    L{parseCSeq}.
    """

    def test_valid(self) -> None:
        """
        Leading zeros and LWS are fine; the range is 0 to 2**32 - 1.
        """
        self.assertEqual(parseCSeq("0009  INVITE"), CSeq(9, "INVITE"))
        self.assertEqual(parseCSeq("4294967295 BYE").number, 2**32 - 1)
        self.assertEqual(parseCSeq("0 OPTIONS").toString(), "0 OPTIONS")
        self.assertEqual(parseCSeq("00000000000000000001 ACK").number, 1)

    def test_errors(self) -> None:
        """
        Too large, negative, non-numeric, missing or extra parts raise.
        """
        for text in ["4294967296 INVITE", "36893488147419103232 REGISTER", "-1 INVITE",
                     "1", "INVITE", "1 INVITE x", "a INVITE", "1 IN<VITE", "", "１ INVITE"]:
            self.assertRaises(ValueError, parseCSeq, text)
        self.assertRaises(ValueError, CSeq, -1, "INVITE")


def request(extra: bytes = b"") -> Request:
    return parseDatagram(  # type: ignore[return-value]
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1, SIP/2.0/TCP p.example.com\r\n"
        b"From: Alice <sip:alice@example.com>;tag=a1\r\n"
        b"To: <sip:bob@example.com>\r\n"
        b"Call-ID:  c1@x \r\n"
        b"CSeq: 7 INVITE\r\n"
        b"Contact: <sip:alice@192.0.2.1>;expires=60, <sip:alice@192.0.2.2>\r\n"
        b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
        b"Record-Route: <sip:rr.example.com;lr>\r\n" + extra + b"\r\n"
    )


class AccessorTests(SynchronousTestCase):
    """
    The cached accessors.
    """

    def test_values(self) -> None:
        """
        Each accessor returns the parsed header.
        """
        msg = request(b"Max-Forwards: 0068\r\n")
        self.assertEqual(topVia(msg).branch, "z9hG4bK1")
        self.assertEqual([v.transport for v in vias(msg)], ["UDP", "TCP"])
        self.assertEqual(cseq(msg), CSeq(7, "INVITE"))
        self.assertEqual(fromHeader(msg).tag, "a1")
        self.assertIsNone(toHeader(msg).tag)
        self.assertEqual(callID(msg), "c1@x")
        self.assertEqual(maxForwards(msg), 68)
        self.assertEqual([c.params.get("expires") for c in contacts(msg)], ["60", None])
        self.assertEqual([r.uri.host for r in routes(msg)], ["p1.example.com", "p2.example.com"])
        self.assertEqual([r.uri.host for r in routes(msg, "record-route")], ["rr.example.com"])

    def test_cachedAndInvalidated(self) -> None:
        """
        A value is parsed once; changing the header through the message API
        gives the new value.
        """
        msg = request()
        self.assertIs(topVia(msg), topVia(msg))
        self.assertIs(cseq(msg), cseq(msg))
        self.assertIs(fromHeader(msg), fromHeader(msg))
        msg.setHeader("cseq", "8 INVITE")
        self.assertEqual(cseq(msg).number, 8)
        msg.headers["via"].pop(0)
        msg.invalidate("via")
        self.assertEqual(topVia(msg).host, "p.example.com")
        msg.setHeader("from", "<sip:carol@example.com>;tag=c")
        self.assertEqual(fromHeader(msg).tag, "c")

    def test_topViaLazy(self) -> None:
        """
        L{topVia} does not parse the other Vias: a malformed second Via only
        shows in L{vias}.
        """
        msg = request()
        msg.headers["via"].append("garbage")
        msg.invalidate("via")
        self.assertEqual(topVia(msg).branch, "z9hG4bK1")
        self.assertRaises(ValueError, vias, msg)

    def test_missing(self) -> None:
        """
        Missing mandatory headers raise L{ValueError}; a missing Max-Forwards
        is L{None}; missing Contact or Route give empty lists.
        """
        msg = request()
        for name in ("via", "cseq", "from", "to", "call-id", "contact", "route"):
            msg.removeHeader(name)
        for accessor in (topVia, cseq, fromHeader, toHeader, callID):
            self.assertRaises(ValueError, accessor, msg)
        self.assertEqual(vias(msg), [])
        self.assertIsNone(maxForwards(msg))
        self.assertEqual(contacts(msg), [])
        self.assertEqual(routes(msg), [])

    def test_maxForwardsErrors(self) -> None:
        """
        Max-Forwards above 255 or not a number raises L{ValueError}.
        """
        for value in ("256", "300", "abc", "-1", "", "1 2"):
            msg = request(b"Max-Forwards: " + value.encode() + b"\r\n")
            self.assertRaises(ValueError, maxForwards, msg)
        self.assertEqual(maxForwards(request(b"Max-Forwards: 255\r\n")), 255)


class SharedNameAddrTests(SynchronousTestCase):
    """
    L{sharedNameAddr}: one parse per distinct string, shared between
    messages.
    """

    def test_sameAsParse(self) -> None:
        """
        It gives what L{parseNameAddr} gives, for a name-addr, an addr-spec
        and a wildcard.
        """
        for value in ['"A" <sip:a@x;lr>;tag=1', "sip:b@y;expires=5", "*"]:
            self.assertEqual(sharedNameAddr(value), parseNameAddr(value))

    def test_shared(self) -> None:
        """
        The same string gives the same object, also through the accessors
        of two different messages; a different string another object.
        """
        first, second = request(), request()
        self.assertIs(fromHeader(first), fromHeader(second))
        self.assertIs(sharedNameAddr("<sip:c@z>;tag=9"), sharedNameAddr("<sip:c@z>;tag=9"))
        self.assertIsNot(sharedNameAddr("<sip:c@z>;tag=9"), sharedNameAddr("<sip:c@z>;tag=8"))

    def test_malformed(self) -> None:
        """
        A malformed value raises L{ValueError} every time it is asked for.
        """
        for _ in range(2):
            self.assertRaises(ValueError, sharedNameAddr, '"unterminated <sip:a@b>')

    def test_bounded(self) -> None:
        """
        Many distinct values do not pile up: after more values than the
        bound, the first is parsed again (a new object, equal to the old).
        """
        first = sharedNameAddr("<sip:bound-0@x>")
        for i in range(1, 5000):
            sharedNameAddr(f"<sip:bound-{i}@x>")
        again = sharedNameAddr("<sip:bound-0@x>")
        self.assertIsNot(again, first)
        self.assertEqual(again, first)


class IdentifierTests(SynchronousTestCase):
    """
    L{newBranch} and L{newTag}.
    """

    def test_branch(self) -> None:
        """
        Branches start with the magic cookie, are tokens, and differ.
        """
        branches = {newBranch() for _ in range(1000)}
        self.assertEqual(len(branches), 1000)
        for branch in branches:
            self.assertTrue(branch.startswith(MAGIC_COOKIE))
            self.assertGreater(len(branch), len(MAGIC_COOKIE) + 8)
            self.assertEqual(parseVia(f"SIP/2.0/UDP h;branch={branch}").branch, branch)

    def test_tag(self) -> None:
        """
        Tags are distinct tokens of at least 32 bits.
        """
        tags = {newTag() for _ in range(1000)}
        self.assertEqual(len(tags), 1000)
        for tag in tags:
            self.assertEqual(parseNameAddr(f"<sip:a@b>;tag={tag}").tag, tag)
            self.assertGreaterEqual(len(tag), 8)


def response(vias: bytes) -> Response:
    return parseDatagram(  # type: ignore[return-value]
        b"SIP/2.0 180 Ringing\r\n" + vias + b"From: <sip:alice@example.com>;tag=a1\r\n"
        b"To: <sip:bob@example.com>;tag=b1\r\nCall-ID: c1@x\r\nCSeq: 7 INVITE\r\n\r\n"
    )


class SharedViaTests(SynchronousTestCase):
    """
    L{sharedVia}: one parse per distinct Via string, shared between
    responses; a request's top Via stays its own.
    """

    VIAS = b"Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKshared\r\nVia: SIP/2.0/UDP c.example;rport=5\r\n"

    def test_sameAsParse(self) -> None:
        """
        It gives what L{parseVia} gives, parameters and their order kept.
        """
        for value in ["SIP/2.0/UDP h:5060;branch=z9hG4bKx;rport;x=1", "SIP/2.0/TCP [2001:db8::1]"]:
            self.assertEqual(sharedVia(value).toString(), parseVia(value).toString())
        self.assertRaises(ValueError, sharedVia, "garbage")

    def test_responsesShare(self) -> None:
        """
        Two responses with the same Via values get the same parsed objects.
        """
        first, second = response(self.VIAS), response(self.VIAS)
        self.assertIs(topVia(first), topVia(second))
        self.assertEqual([v.host for v in vias(first)], ["192.0.2.7", "c.example"])
        self.assertIs(vias(first)[1], vias(second)[1])

    def test_requestTopViaIsItsOwn(self) -> None:
        """
        Changing a request's top Via in place (as the transport does when it
        notes the source address) changes neither a response's Via of the
        same string nor another request's.
        """
        value = "SIP/2.0/UDP 192.0.2.8:5060;branch=z9hG4bKown;rport"
        ringing = response(b"Via: " + value.encode() + b"\r\n")
        one, other = request(), request()
        for msg in (one, other):
            msg.setHeader("via", value)
        fixed = topVia(one)
        fixed.received = "198.51.100.1"
        fixed.rportValue = 4000
        self.assertEqual(topVia(ringing).toString(), value)
        self.assertEqual(topVia(other).toString(), value)
        self.assertEqual(sharedVia(value).toString(), value)
        self.assertIs(topVia(one), fixed)


class MaxForwardsCacheTests(SynchronousTestCase):
    """
    L{maxForwards} is parsed once per message and follows header changes.
    """

    def test_followsChanges(self) -> None:
        """
        A value set through C{setHeader}, or changed in place and
        invalidated, is what L{maxForwards} gives next; removing the header
        gives L{None}.
        """
        msg = request(b"Max-Forwards: 70\r\n")
        self.assertEqual(maxForwards(msg), 70)
        msg.setHeader("max-forwards", "69")
        self.assertEqual(maxForwards(msg), 69)
        msg.headers["max-forwards"] = ["12"]
        msg.invalidate("max-forwards")
        self.assertEqual(maxForwards(msg), 12)
        copy = msg.copy()
        copy.setHeader("max-forwards", "3")
        self.assertEqual((maxForwards(msg), maxForwards(copy)), (12, 3))
        msg.removeHeader("max-forwards")
        self.assertIsNone(maxForwards(msg))
