"""
Tests for L{keepsip.config}: value parsers, defaults, routing and own-domain
decisions, and the documentation generated from the option table.
"""

from __future__ import annotations

import io
import socket
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip import config
from keepsip.config import (
    OPTIONS,
    Config,
    ConfigError,
    ListenAddress,
    Route,
    buildConfig,
    defaultAdvertise,
    parseAdvertise,
    parseListen,
    parseMetricsEndpoint,
    parseRoute,
)

ROOT = Path(__file__).resolve().parent.parent


class FakeUDPSocket:
    """
    A socket double for L{config.primaryIPv4}: it records what was done to
    it and has no C{send}/C{sendto}, so any attempt to send fails the test.
    """

    def __init__(self, address: str = "10.1.2.3", connectError: OSError | None = None) -> None:
        self.address = address
        self.connectError = connectError
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, family: int, kind: int) -> FakeUDPSocket:
        self.calls.append(("socket", (family, kind)))
        return self

    def connect(self, address: tuple[str, int]) -> None:
        self.calls.append(("connect", address))
        if self.connectError is not None:
            raise self.connectError

    def getsockname(self) -> tuple[str, int]:
        return (self.address, 40000)

    def close(self) -> None:
        self.calls.append(("close", None))


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


class DefaultAdvertiseTests(SynchronousTestCase):
    """
    L{defaultAdvertise} picks the advertised address without guessing names.
    """

    def setUp(self) -> None:
        def noFQDN(*args: object) -> str:
            raise AssertionError("socket.getfqdn must not be called")

        self.patch(socket, "getfqdn", noFQDN)

    def test_specificListenAddress(self) -> None:
        """
        A non-wildcard first listen address is advertised as it is, without
        touching a socket.
        """
        fake = FakeUDPSocket()
        self.assertEqual(
            defaultAdvertise([ListenAddress("udp", "192.0.2.7", 5070)], fake), ("192.0.2.7", 5070)
        )
        self.assertEqual(fake.calls, [])

    def test_wildcardUsesConnectTrick(self) -> None:
        """
        For a wildcard, a UDP socket is connected to 192.0.2.1:9 (which sends
        nothing), its local address is advertised with the listen port, and
        the socket is closed.
        """
        fake = FakeUDPSocket("10.1.2.3")
        result = defaultAdvertise([ListenAddress("udp", "0.0.0.0", 5062)], fake)
        self.assertEqual(result, ("10.1.2.3", 5062))
        self.assertEqual(
            fake.calls,
            [
                ("socket", (socket.AF_INET, socket.SOCK_DGRAM)),
                ("connect", ("192.0.2.1", 9)),
                ("close", None),
            ],
        )

    def test_wildcardIPv6(self) -> None:
        """
        The IPv6 wildcard C{::} is a wildcard too.
        """
        fake = FakeUDPSocket("10.9.9.9")
        self.assertEqual(
            defaultAdvertise([ListenAddress("udp", "::", 5060)], fake), ("10.9.9.9", 5060)
        )

    def test_noRoute(self) -> None:
        """
        Without a route (connect fails) or with an unbound answer, the
        fallback is 127.0.0.1.
        """
        fake = FakeUDPSocket(connectError=OSError(101, "Network is unreachable"))
        self.assertEqual(
            defaultAdvertise([ListenAddress("udp", "0.0.0.0", 5060)], fake), ("127.0.0.1", 5060)
        )
        self.assertIn(("close", None), fake.calls)
        self.assertEqual(config.primaryIPv4(FakeUDPSocket("0.0.0.0")), "127.0.0.1")

    def test_realSocket(self) -> None:
        """
        With the real socket module (and getfqdn forbidden) the result is an
        IPv4 address literal.
        """
        host, port = defaultAdvertise([ListenAddress("udp", "0.0.0.0", 5060)])
        socket.inet_aton(host)
        self.assertEqual(port, 5060)


class RoutingTests(SynchronousTestCase):
    """
    L{Config.routeFor} and L{Config.isOwnDomain}.
    """

    def makeConfig(self, *routes: str, **kw: Any) -> Config:
        values: dict[str, Any] = {
            "listen": ["udp:0.0.0.0:5060"],
            "advertise": "proxy.example.com",
            "route": list(routes),
        }
        values.update(kw)
        return buildConfig(values)

    def test_longestPrefixWins(self) -> None:
        """
        Of the user-prefix routes, the longest prefix of the user part wins;
        C{*} catches the rest.
        """
        c = self.makeConfig(
            "*=sip:10.0.0.1", "49=sip:10.0.0.2", "4930=sip:10.0.0.3:5070", "+1=sip:10.0.0.4"
        )
        self.assertEqual(c.routeFor("4930123", "proxy.example.com"), ("10.0.0.3", 5070))
        self.assertEqual(c.routeFor("4940123", "proxy.example.com"), ("10.0.0.2", 5060))
        self.assertEqual(c.routeFor("+15551234", "proxy.example.com"), ("10.0.0.4", 5060))
        self.assertEqual(c.routeFor("alice", "proxy.example.com"), ("10.0.0.1", 5060))
        self.assertEqual(c.routeFor("4", "proxy.example.com"), ("10.0.0.1", 5060))
        self.assertEqual(c.routeFor(None, "proxy.example.com"), ("10.0.0.1", 5060))

    def test_noCatchAll(self) -> None:
        """
        Without C{*}, a user no prefix matches has no static route.
        """
        c = self.makeConfig("49=sip:10.0.0.2")
        self.assertIsNone(c.routeFor("33", "proxy.example.com"))
        self.assertIsNone(c.routeFor(None, "proxy.example.com"))

    def test_domainRoutes(self) -> None:
        """
        A C{@DOMAIN} route serves Request-URIs whose host is that domain,
        whatever the user; a foreign host without one has no route (user
        routes, C{*} included, are for the own domain only).
        """
        c = self.makeConfig(
            "*=sip:10.0.0.1", "@example.org=sip:10.0.0.9:5062", "@2001:db8::5=sip:10.0.0.8"
        )
        self.assertEqual(c.routeFor("bob", "example.org"), ("10.0.0.9", 5062))
        self.assertEqual(c.routeFor(None, "example.org"), ("10.0.0.9", 5062))
        self.assertEqual(c.routeFor("bob", "[2001:db8::5]"), ("10.0.0.8", 5060))
        self.assertIsNone(c.routeFor("bob", "example.net"))
        self.assertEqual(c.routeFor("bob", "localhost"), ("10.0.0.1", 5060))

    def test_ownDomain(self) -> None:
        """
        The advertise host, non-wildcard listen hosts, localhost, 127.0.0.1,
        ::1 and configured domains are the own domain, on any port keepsip
        listens on or advertises or without a port; wildcards are not.
        """
        c = self.makeConfig(
            listen=["udp:0.0.0.0:5060", "udp:192.0.2.10:5070"],
            advertise="proxy.example.com:5080",
            domain=["Example.COM"],
        )
        for host in [
            "proxy.example.com",
            "192.0.2.10",
            "localhost",
            "127.0.0.1",
            "example.com",
            "[::1]",
            "::1",
        ]:
            self.assertTrue(c.isOwnDomain(host, None), host)
        for port in [5060, 5070, 5080]:
            self.assertTrue(c.isOwnDomain("example.com", port))
        self.assertFalse(c.isOwnDomain("example.com", 5061))
        self.assertFalse(c.isOwnDomain("example.org", None))
        self.assertFalse(c.isOwnDomain("0.0.0.0", None))

    def test_duplicateRoute(self) -> None:
        """
        Two routes for the same key are a configuration error naming --route.
        """
        e = self.assertRaises(ConfigError, self.makeConfig, "49=sip:10.0.0.1", "49=sip:10.0.0.2")
        self.assertTrue(str(e).startswith("--route: "), str(e))


class BuildConfigTests(SynchronousTestCase):
    """
    L{buildConfig} merges and validates.
    """

    def test_defaults(self) -> None:
        """
        With no values at all, every field has its documented default and the
        advertised address is computed from the wildcard listen address.
        """
        self.patch(config, "primaryIPv4", lambda socketFactory=None: "192.0.2.55")
        c = buildConfig({})
        self.assertEqual(c, Config(advertise=("192.0.2.55", 5060)))
        self.assertEqual(c.listen, (ListenAddress("udp", "0.0.0.0", 5060),))
        self.assertEqual(
            (c.registrarMinExpires, c.registrarMaxExpires, c.registrarDefaultExpires),
            (60, 3600, 3600),
        )
        self.assertEqual((c.timerT1, c.timerT2, c.timerT4), (0.5, 4.0, 5.0))
        self.assertEqual((c.routes, c.domains, c.logLevel), ((), frozenset(), "info"))
        self.assertEqual(c.advertiseHostPort, "192.0.2.55:5060")

    def test_advertisePortDefaultsToListenPort(self) -> None:
        """
        An advertised host without a port gets the first listen port; an
        IPv6 one is bracketed in L{Config.advertiseHostPort}.
        """
        c = buildConfig({"listen": ["udp:[::1]:5072"], "advertise": "2001:db8::1"})
        self.assertEqual(c.advertise, ("2001:db8::1", 5072))
        self.assertEqual(c.advertiseHostPort, "[2001:db8::1]:5072")

    def test_emptyListen(self) -> None:
        """
        An empty listen list (possible from TOML) is an error naming --listen.
        """
        e = self.assertRaises(ConfigError, buildConfig, {}, {"listen": []}, "k.toml")
        self.assertTrue(str(e).startswith("--listen: "), str(e))

    def test_tableMatchesConfig(self) -> None:
        """
        Every row of the option table sets a field of L{Config}, and every
        field but C{configFile} comes from a row.
        """
        self.assertEqual(
            {o.attribute for o in OPTIONS},
            {f.name for f in fields(Config)} - {"configFile"} - set(config.TABLES),
        )

    def test_rowDefaultsMatchConfigDefaults(self) -> None:
        """
        The table's defaults and the dataclass defaults agree, so C{Config()}
        means the same as an empty command line (apart from C{advertise}).
        """
        plain = Config()
        for option in OPTIONS:
            value = option.defaultValue()
            if value is None:
                continue
            if option.attribute == "domains":
                value = frozenset(value)
            self.assertEqual(getattr(plain, option.attribute), value, option.name)


class GeneratedDocumentationTests(SynchronousTestCase):
    """
    The README table and etc/keepsip.toml are generated from the table.
    """

    def test_tomlTemplateIsShipped(self) -> None:
        """
        etc/keepsip.toml is exactly C{python -m keepsip.config --toml}.
        """
        self.assertEqual((ROOT / "etc" / "keepsip.toml").read_text(), config.tomlTemplate())

    def test_tomlTemplateUncommented(self) -> None:
        """
        Uncommenting every option line of the template gives a file that
        loads, names every option, and yields the defaults (examples aside).
        """
        text = "\n".join(
            line[2:]
            for line in config.tomlTemplate().splitlines()
            if line.startswith("# ") and " = " in line
        )
        table = tomllib.loads(text)
        self.assertEqual(set(table), {o.name for o in OPTIONS})
        c = buildConfig({}, table, "template")
        self.assertEqual(c.registrarMinExpires, 60)
        self.assertEqual(c.advertise, ("203.0.113.5", 5060))
        self.assertEqual(len(c.routes), 3)

    def test_documentedTables(self) -> None:
        """
        The option tables of README.md and docs/configuration.md are exactly
        C{python -m keepsip.config --markdown}, between their markers.
        """
        begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
        for document in (ROOT / "README.md", ROOT / "docs" / "configuration.md"):
            text = document.read_text()
            self.assertIn(begin, text, document)
            table = text.split(begin, 1)[1].split(end, 1)[0]
            self.assertEqual(table, config.markdownTable(), document)

    def test_main(self) -> None:
        """
        C{main} writes the table or the template and refuses anything else.
        """
        out = io.StringIO()
        self.assertEqual(config.main(["--markdown"], out), 0)
        self.assertEqual(out.getvalue(), config.markdownTable())
        out = io.StringIO()
        self.assertEqual(config.main(["--toml"], out), 0)
        self.assertEqual(out.getvalue(), config.tomlTemplate())
        self.patch(config.sys, "stderr", io.StringIO())
        self.assertEqual(config.main([], out), 2)
