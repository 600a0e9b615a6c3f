"""
Tests for L{keepsip.config.parsers}: the parsers of single values.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config.parsers import (
    ConfigError,
    choice,
    methodList,
    nonNegativeFloat,
    parseAdvertise,
    parseListen,
    parseMetricsEndpoint,
    parseRoute,
    positiveFloat,
    positiveInt,
)
from keepsip.config.values import ListenAddress, Route


class ParserTests(SynchronousTestCase):
    """
    The parsers of single values.
    """

    def test_listenIPv4(self) -> None:
        """
        C{udp:HOST:PORT} with an IPv4 host parses into a L{ListenAddress}.
        """
        self.assertEqual(parseListen("udp:192.0.2.1:5070"), ListenAddress("udp", "192.0.2.1", 5070))

    def test_listenIPv6(self) -> None:
        """
        A bracketed IPv6 host parses and is stored without brackets; its
        C{str} puts them back.
        """
        address = parseListen("udp:[::1]:5060")
        self.assertEqual(address, ListenAddress("udp", "::1", 5060))
        self.assertEqual(str(address), "udp:[::1]:5060")

    def test_listenPortZero(self) -> None:
        """
        Port 0 (let the system choose) is accepted for listening.
        """
        self.assertEqual(parseListen("udp:127.0.0.1:0").port, 0)

    def test_listenRejects(self) -> None:
        """
        Other transports, missing ports, host names, unbracketed IPv6 and
        out-of-range ports are rejected.
        """
        for bad in [
            "tcp:127.0.0.1:5060",
            "udp:127.0.0.1",
            "udp:localhost:5060",
            "udp:::1:5060",
            "udp:127.0.0.1:70000",
            "udp:127.0.0.1:x",
            "127.0.0.1:5060",
            "udp:[::1:5060",
        ]:
            self.assertRaises(ConfigError, parseListen, bad)

    def test_advertise(self) -> None:
        """
        C{HOST[:PORT]}: names are lower-cased, IPv6 may be bracketed (with a
        port) or bare (without), and the port is optional.
        """
        self.assertEqual(parseAdvertise("Proxy.Example.COM:5070"), ("proxy.example.com", 5070))
        self.assertEqual(parseAdvertise("192.0.2.1"), ("192.0.2.1", None))
        self.assertEqual(parseAdvertise("[2001:db8::1]:5060"), ("2001:db8::1", 5060))
        self.assertEqual(parseAdvertise("2001:db8::1"), ("2001:db8::1", None))
        for bad in ["", "bad_host", "1.2.3.999", "host:0", "host:port", "[::1]x"]:
            self.assertRaises(ConfigError, parseAdvertise, bad)

    def test_metricsEndpoint(self) -> None:
        """
        C{--metrics} takes empty (off) or a stream server endpoint
        description, returned unchanged; other strings are rejected.
        """
        for good in ["", "tcp:9460:interface=127.0.0.1", "tcp6:0", "unix:/run/k.sock"]:
            self.assertEqual(parseMetricsEndpoint(good), good)
        for bad in ["9460", "udp:9460", "tcp:", "tcp:x", "tcp:9460:nope=1", "tcp:99999"]:
            self.assertRaises(ConfigError, parseMetricsEndpoint, bad)

    def test_route(self) -> None:
        """
        The three kinds of route key parse; the target port defaults to 5060.
        """
        self.assertEqual(parseRoute("*=sip:10.0.0.2"), Route("", None, "10.0.0.2", 5060))
        self.assertEqual(
            parseRoute("+4930=sip:gw.example.net:5080"),
            Route("+4930", None, "gw.example.net", 5080),
        )
        self.assertEqual(
            parseRoute("@Example.ORG=sip:[2001:db8::2]:5062"),
            Route("", "example.org", "2001:db8::2", 5062),
        )
        self.assertEqual(
            str(parseRoute("@example.org=sip:10.0.0.3")), "@example.org=sip:10.0.0.3:5060"
        )

    def test_routeRejects(self) -> None:
        """
        Routes without C{=}, with another scheme, with a bad prefix or a bad
        target are rejected.
        """
        for bad in [
            "*",
            "*=10.0.0.2",
            "*=sips:10.0.0.2",
            "12 3=sip:10.0.0.2",
            "=sip:10.0.0.2",
            "@=sip:10.0.0.2",
            "*=sip:",
            "*=sip:10.0.0.2:99999",
        ]:
            self.assertRaises(ConfigError, parseRoute, bad)

    def test_numbers(self) -> None:
        """
        Positive integers and numbers refuse 0 and non-numbers; positive
        numbers refuse infinity; numbers >= 0 take 0 and refuse nan.
        """
        self.assertEqual(positiveInt("7"), 7)
        self.assertEqual(positiveFloat("0.5"), 0.5)
        self.assertEqual(nonNegativeFloat("0"), 0.0)
        for parse, bad in [
            (positiveInt, "0"),
            (positiveInt, "1.5"),
            (positiveFloat, "0"),
            (positiveFloat, "inf"),
            (nonNegativeFloat, "-1"),
            (nonNegativeFloat, "nan"),
            (nonNegativeFloat, "x"),
        ]:
            self.assertRaises(ConfigError, parse, bad)

    def test_methodsAndChoices(self) -> None:
        """
        Keepalive methods are upper-cased and checked; a choice takes only
        its own words.
        """
        self.assertEqual(methodList(" invite, Options "), frozenset({"INVITE", "OPTIONS"}))
        self.assertRaises(ConfigError, methodList, "BYE")
        self.assertRaises(ConfigError, methodList, ",")
        self.assertEqual(choice("a", "b")("b"), "b")
        e = self.assertRaises(ConfigError, choice("a", "b"), "c")
        self.assertEqual(str(e), "expected one of a|b, got 'c'")

    def test_coreAddress(self) -> None:
        """
        C{--core} takes C{sip:HOST[:PORT]} with an IP literal (IPv6 in
        brackets), port 5060 by default, empty for none; a host name or
        another scheme is refused.
        """
        from keepsip.config.parsers import coreAddress

        self.assertEqual(coreAddress("sip:192.0.2.1"), ("192.0.2.1", 5060))
        self.assertEqual(coreAddress("sip:[2001:db8::1]:5070"), ("2001:db8::1", 5070))
        self.assertIsNone(coreAddress(""))
        for bad in ("sip:core.example.com", "sips:192.0.2.1", "192.0.2.1", "sip:"):
            self.assertRaises(ConfigError, coreAddress, bad)

    def test_optionalNetworks(self) -> None:
        """
        C{--require-keepalives-from} takes a CIDR list, or nothing.
        """
        import ipaddress

        from keepsip.config.parsers import optionalNetworks

        self.assertEqual(optionalNetworks(""), ())
        self.assertEqual(
            optionalNetworks("10.0.0.0/8, ::1"),
            (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1")),
        )
        self.assertRaises(ConfigError, optionalNetworks, "10.0.0.0/33")
