"""
Tests for L{keepsip.config.settings}: L{Config}'s routing and own-domain
decisions, and the keepalive settings it feeds.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config.load import buildConfig
from keepsip.config.settings import Config
from keepsip.keepalive.manager import KeepaliveSettings

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


class KeepaliveArgumentsTests(SynchronousTestCase):
    """
    L{Config.keepaliveArguments} builds the keepalive settings from the
    option table.
    """

    def test_defaults(self) -> None:
        """
        The default configuration gives the default keepalive settings.
        """
        self.assertEqual(KeepaliveSettings(**Config().keepaliveArguments()), KeepaliveSettings())

    def test_everyKeepaliveOption(self) -> None:
        """
        Each keepalive option, set away from its default, reaches its own
        field of L{KeepaliveSettings}.
        """
        config = buildConfig(
            {
                "listen": ["udp:127.0.0.1:5060"],
                "keepalive-interval": "12",
                "keepalive-tolerance": "3.5",
                "reaper-tick": "0.25",
                "keepalive-policy": "forward",
                "keepalive-legs": "either",
                "reap": "require",
                "max-duration": "0",
                "keepalive-methods": "invite,OPTIONS",
                "session-timer-assist": True,
                "end-time": "detection",
                "keepalive-rate-limit": "7",
            }
        )
        self.assertEqual(
            KeepaliveSettings(**config.keepaliveArguments()),
            KeepaliveSettings(
                interval=12.0,
                tolerance=3.5,
                reaperTick=0.25,
                policy="forward",
                reap="require",
                legs="either",
                maxDuration=0.0,
                methods=frozenset({"INVITE", "OPTIONS"}),
                sessionTimerAssist=True,
                endTime="detection",
                rateLimit=7.0,
            ),
        )

    def test_onlyKeepaliveOptions(self) -> None:
        """
        Options the keepalive engine does not use are not passed to it.
        """
        arguments = Config().keepaliveArguments()
        for name in ("listen", "timerT1", "keepaliveInterval", "logLevel", "interimOnKeepalive"):
            self.assertNotIn(name, arguments)
        self.assertIn("interval", arguments)
