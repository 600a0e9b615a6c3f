"""
Tests for L{keepsip.sip.uri}.
"""

from __future__ import annotations

from twisted.protocols import sip as tsip
from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.uri import (
    URI,
    AbsoluteURI,
    UnparsedURI,
    parsePort,
    parseURI,
    splitHostPort,
)


class ParseURITests(SynchronousTestCase):
    """
    L{parseURI} on well-formed input.
    """

    def test_parts(self) -> None:
        """
        Every part of a full SIPS URI lands in its attribute, escaped as on
        the wire.
        """
        uri = parseURI("SIPS:al%69ce:secret@Example.COM:5061;transport=tcp;lr;Foo=Bar"
                       "?Subject=hi%20there&Priority=urgent")
        assert isinstance(uri, URI)
        self.assertEqual(uri.scheme, "sips")
        self.assertEqual(uri.user, "al%69ce")
        self.assertEqual(uri.password, "secret")
        self.assertEqual(uri.host, "Example.COM")
        self.assertEqual(uri.port, 5061)
        self.assertEqual(uri.params, {"transport": "tcp", "lr": None, "foo": "Bar"})
        self.assertEqual(uri.headers, [("Subject", "hi%20there"), ("Priority", "urgent")])

    def test_roundTrip(self) -> None:
        """
        C{toString} gives back the text for URIs already in canonical form
        (lower-case scheme and parameter names).
        """
        for text in [
            "sip:example.com",
            "sip:alice@example.com",
            "sip:alice:pw@example.com:5070;transport=udp;lr",
            "sip:user;par=u%40example.net@example.com",
            "sip:%00%00@host5.example.com",
            "sip:[2001:db8::10]:5070;maddr=[2001:db8::1]",
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            "sips:bob@192.0.2.4;unknown-no-value;x=y?a=b&c=",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
            "weird!*pas$wo~d_too.(doesn't-it)@example.com",
        ]:
            self.assertEqual(parseURI(text).toString(), text)

    def test_userWithSemicolonAndQuestionMark(self) -> None:
        """
        The user part may contain C{;}, C{?} and C{,} (they are user-unreserved),
        and the password starts at the first colon.
        """
        uri = parseURI(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
            "weird!*pas$wo~d_too.(doesn't-it)@example.com"
        )
        self.assertEqual(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        self.assertEqual(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        self.assertEqual(uri.host, "example.com")
        self.assertEqual(uri.params, {})

    def test_ipv6(self) -> None:
        """
        IPv6 references keep their brackets; the port after the bracket is the
        port, a number inside is part of the address.
        """
        self.assertEqual(splitHostPort("[2001:db8::10]:5070"), ("[2001:db8::10]", 5070))
        self.assertEqual(splitHostPort("[2001:db8::10:5070]"), ("[2001:db8::10:5070]", None))
        uri = parseURI("sip:[::ffff:192.0.2.10]:19823")
        self.assertEqual(uri.hostAddress, "::ffff:192.0.2.10")
        self.assertEqual(parseURI("sip:example.com").hostAddress, "example.com")

    def test_otherSchemes(self) -> None:
        """
        Other schemes become opaque L{AbsoluteURI}s without host.
        """
        for text in ["tel:+1-201-555-0123", "soap.beep://192.0.2.103:3002",
                     "nobodyKnowsThisScheme:totallyopaquecontent", "isbn:2983792873",
                     "http://www.example.com"]:
            uri = parseURI(text)
            self.assertIsInstance(uri, AbsoluteURI)
            colon = text.index(":")
            self.assertEqual(uri.toString(), text[:colon].lower() + text[colon:])
            self.assertFalse(hasattr(uri, "host"))
        self.assertEqual(parseURI("TEL:+1").scheme, "tel")

    def test_rawAtInHeaders(self) -> None:
        """
        The first C{@} ends the userinfo; a raw C{@} in a header value after
        it is tolerated.
        """
        uri = parseURI("sip:bob@biloxi.com?to=sip:carol@chicago.com")
        self.assertEqual((uri.user, uri.host), ("bob", "biloxi.com"))
        self.assertEqual(uri.headers, [("to", "sip:carol@chicago.com")])

    def test_ports(self) -> None:
        """
        Ports 0 to 65535 are accepted, with or without leading zeros.
        """
        self.assertEqual(parsePort("65535"), 65535)
        self.assertEqual(parsePort("05060"), 5060)
        self.assertEqual(parseURI("sip:h:1").port, 1)


class ParseURIErrorTests(SynchronousTestCase):
    """
    L{parseURI} rejects malformed URIs with L{ValueError}.
    """

    def test_errors(self) -> None:
        """
        Unbracketed IPv6, bad ports, empty hosts and users, whitespace,
        brackets, empty parameters and bad schemes are rejected.
        """
        for text in [
            "sip:2001:db8::10",  # RFC 5118 ipv6-bad
            "sip:[2001:db8::10",
            "sip:[2001:db8::10]x",
            "sip:[]",
            "sip:[zz::1]",
            "sip:host:65536",
            "sip:host:",
            "sip:host:-1",
            "sip:host:123456",
            "sip:",
            "sip:alice@",
            "sip:@host",
            "sip:alice@host;",
            "sip:host;;lr",
            "sip:host;maddr=",
            "sip:host?",
            "sip:host?noequals",
            "sip:user@example.com; lr",  # RFC 4475 lwsruri
            "<sip:user@example.com>",  # RFC 4475 ltgtruri
            " sip:a@b",
            "sip:a@b\x00",
            "sip:a b@c",
            "sip:a@b@c",
            "sip:host.example.com/path",
            "sip:ho st",
            "1sip:host",
            "nocolon",
            ":opaque",
            "tel:",
            'tel:"x"',
        ]:
            self.assertRaises(ValueError, parseURI, text)


class URIBehaviourTests(SynchronousTestCase):
    """
    Comparison, Twisted compatibility and copying.
    """

    def test_key(self) -> None:
        """
        Equality follows RFC 3261 §19.1.4: host and parameter values
        case-insensitive, user case-sensitive but compared unescaped, an
        absent port differs from 5060, parameter order ignored.
        """
        same = [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com;security=on;lr", "sip:carol@chicago.com;lr;security=on"),
            ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
             "sip:biloxi.com;method=REGISTER;transport=tcp?To=sip%3Abob%40biloxi.com"),
        ]
        for a, b in same:
            self.assertEqual(parseURI(a), parseURI(b))
            self.assertEqual(hash(parseURI(a)), hash(parseURI(b)))
        different = [
            ("sip:ALICE@AtLanTa.CoM", "sip:alice@atlanta.com"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com?Subject=x"),
        ]
        for a, b in different:
            self.assertNotEqual(parseURI(a), parseURI(b))
        self.assertEqual(len({parseURI(a) for a, _ in same} | {parseURI(b) for _, b in same}), 3)
        self.assertEqual(parseURI("tel:+1"), AbsoluteURI("tel", "+1"))
        self.assertNotEqual(parseURI("tel:+1"), parseURI("sip:+1@h"))

    def test_twistedCompatibility(self) -> None:
        """
        A L{URI} is a Twisted C{URL} and its Twisted attribute names map onto
        C{user} and C{params}.
        """
        uri = parseURI("sip:bob@example.com;transport=tcp;ttl=5;maddr=239.0.0.1;user=phone;lr")
        self.assertIsInstance(uri, tsip.URL)
        self.assertEqual(uri.username, "bob")
        self.assertEqual(uri.transport, "tcp")
        self.assertEqual(uri.ttl, 5)
        self.assertEqual(uri.maddr, "239.0.0.1")
        self.assertEqual(uri.usertype, "phone")
        self.assertIsNone(uri.tag)
        self.assertEqual(uri.other, ["lr"])
        uri.transport = None
        uri.maddr = None
        uri.ttl = None
        uri.username = "carol"
        self.assertEqual(uri.toString(), "sip:carol@example.com;user=phone;lr")
        uri.transport = "udp"
        self.assertEqual(uri.toString(), "sip:carol@example.com;user=phone;lr;transport=udp")
        self.assertEqual(str(uri), uri.toString())

    def test_copy(self) -> None:
        """
        A copy's parameters and headers change independently.
        """
        uri = parseURI("sip:a@b;lr?x=1")
        clone = uri.copy()
        self.assertEqual(clone, uri)
        clone.params["maddr"] = "h"
        clone.headers.append(("y", "2"))
        self.assertEqual(uri.toString(), "sip:a@b;lr?x=1")
        self.assertEqual(clone.toString(), "sip:a@b;lr;maddr=h?x=1&y=2")

    def test_build(self) -> None:
        """
        A URI built from parts serialises as expected.
        """
        uri = URI("[2001:db8::1]", user="alice", port=5062, params={"transport": "udp"})
        self.assertEqual(uri.toString(), "sip:alice@[2001:db8::1]:5062;transport=udp")

    def test_unparsed(self) -> None:
        """
        L{UnparsedURI} only carries its text.
        """
        uri = UnparsedURI("<sip:x>")
        self.assertEqual((uri.toString(), uri.scheme), ("<sip:x>", ""))
