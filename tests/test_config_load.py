"""
Tests for L{keepsip.config.load}: the advertised address found without
guessing names, and L{buildConfig}'s merge and cross-option validation.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config import load
from keepsip.config.load import buildConfig, defaultAdvertise
from keepsip.config.parsers import ConfigError
from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress


class FakeUDPSocket:
    """
    A socket double for L{load.primaryIPv4}: it records what was done to
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
        self.assertEqual(load.primaryIPv4(FakeUDPSocket("0.0.0.0")), "127.0.0.1")

    def test_realSocket(self) -> None:
        """
        With the real socket module (and getfqdn forbidden) the result is an
        IPv4 address literal.
        """
        host, port = defaultAdvertise([ListenAddress("udp", "0.0.0.0", 5060)])
        socket.inet_aton(host)
        self.assertEqual(port, 5060)


class BuildConfigTests(SynchronousTestCase):
    """
    L{buildConfig} merges and validates.
    """

    def test_defaults(self) -> None:
        """
        With no values at all, every field has its documented default and the
        advertised address is computed from the wildcard listen address.
        """
        self.patch(load, "primaryIPv4", lambda socketFactory=None: "192.0.2.55")
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

    def test_duplicateRoute(self) -> None:
        """
        Two routes for the same key are a configuration error naming --route.
        """
        e = self.assertRaises(
            ConfigError,
            buildConfig,
            {"listen": ["udp:0.0.0.0:5060"], "route": ["49=sip:10.0.0.1", "49=sip:10.0.0.2"]},
        )
        self.assertTrue(str(e).startswith("--route: "), str(e))


class EdgeRoleTests(SynchronousTestCase):
    """
    C{--role edge} needs C{--core} and anchors media by default.
    """

    LISTEN = {"listen": ["udp:127.0.0.1:5080"]}

    def test_edgeNeedsCore(self) -> None:
        """
        An edge without a core is a one-line error naming C{--core}.
        """
        e = self.assertRaises(ConfigError, buildConfig, {**self.LISTEN, "role": "edge"})
        self.assertEqual(str(e), "--core: --role edge needs --core sip:HOST[:PORT]")

    def test_edgeAnchorsMediaByDefault(self) -> None:
        """
        The edge role's media relay is C{builtin} unless one is given on the
        command line or in the file; the core role keeps C{none}.
        """
        edge = {**self.LISTEN, "role": "edge", "core": "sip:127.0.0.2"}
        self.assertEqual(buildConfig(edge).mediaRelay, "builtin")
        self.assertEqual(buildConfig(edge).core, ("127.0.0.2", 5060))
        self.assertEqual(buildConfig({**edge, "media-relay": "none"}).mediaRelay, "none")
        self.assertEqual(buildConfig(self.LISTEN, {"role": "edge", "core": "sip:127.0.0.2",
                                                   "media-relay": "none"}).mediaRelay, "none")
        self.assertEqual(buildConfig(self.LISTEN).mediaRelay, "none")
