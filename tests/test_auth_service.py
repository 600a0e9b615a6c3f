"""
Tests for L{keepsip.auth.service}: the start-up log, SIGHUP reloads, and
building the layer from a configuration.
"""

from __future__ import annotations

import signal
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from keepsip.auth.htdigest import HtdigestChecker
from keepsip.auth.service import AuthService, defaultRealm, makeAuthentication
from keepsip.config.load import buildConfig
from keepsip.transaction.testing import RecordingTransactionUser

from .test_auth_htdigest import line


class FakeSignals:
    SIGHUP = 1

    def __init__(self) -> None:
        self.handlers: dict[int, Any] = {1: None}

    def signal(self, number: int, handler: Any) -> Any:
        previous = self.handlers[number]
        self.handlers[number] = handler
        return previous


class AuthServiceTests(SynchronousTestCase):
    def capture(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    def test_openWarning(self) -> None:
        """
        Without a checker the service warns at start that registrar and
        proxy are open.
        """
        events = self.capture()
        service = AuthService(Clock(), None, "r")
        service.startService()
        service.stopService()
        self.assertTrue(any("are open" in e.get("log_format", "") for e in events))

    def test_sighupReloads(self) -> None:
        """
        SIGHUP re-reads the htdigest file and calls the handler that was
        installed before (accounting's); stopping restores it.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(line("alice", "r", "pw"))
        checker = HtdigestChecker(path)
        signals = FakeSignals()
        calls: list[int] = []
        signals.handlers[1] = lambda number, frame: calls.append(number)
        previous = signals.handlers[1]
        service = AuthService(Clock(), checker, "r")
        self.assertTrue(service.installSignalHandler(signals, lambda: True))
        with open(path, "a") as f:
            f.write(line("bob", "r", "pw"))
        signals.handlers[1](1, None)
        self.assertEqual(checker.users, 2)
        self.assertEqual(calls, [1])
        service.uninstallSignalHandler()
        self.assertIs(signals.handlers[1], previous)

    def test_noReloadWithoutChecker(self) -> None:
        """
        Nothing is installed when the checker cannot reload.
        """
        self.assertFalse(AuthService(Clock(), None, "r").installSignalHandler(FakeSignals(), lambda: True))
        self.assertFalse(AuthService(Clock(), None, "r").reload())


class BuildTests(SynchronousTestCase):
    def test_realm(self) -> None:
        """
        The realm is --auth-realm, else the first domain, else the
        advertise host.
        """
        self.assertEqual(defaultRealm(buildConfig({"auth-realm": "x", "domain": ["b", "a"]})), "x")
        self.assertEqual(defaultRealm(buildConfig({"domain": ["b", "a"]})), "a")
        self.assertEqual(defaultRealm(buildConfig({"advertise": "192.0.2.1:5060"})), "192.0.2.1")

    def test_make(self) -> None:
        """
        The layer gets the configured checker, realm, algorithms, trusted
        networks and limits.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(line("alice", "sip.test", "pw"))
        config = buildConfig(
            {
                "auth": f"htdigest:path={path}",
                "auth-realm": "sip.test",
                "auth-algorithms": "SHA-256,MD5",
                "trusted": ["10.0.0.0/8"],
                "registrar-rate-limit": "0",
            }
        )
        from keepsip.proxy.identity import ProxyIdentity

        user, service = makeAuthentication(
            config, Clock(), ProxyIdentity(("127.0.0.1", 5060)), None, RecordingTransactionUser()
        )
        self.assertIsInstance(user.checker, HtdigestChecker)
        self.assertEqual(user.settings.realm, "sip.test")
        self.assertEqual(user.settings.algorithms, ("SHA-256", "MD5"))
        self.assertIn("10.1.2.3", user.trusted)
        self.assertIsNone(user.admission.registrations)
        self.assertIsNotNone(user.admission.challenges)
        self.assertIs(service.checker, user.checker)

    def test_unreadableAtStart(self) -> None:
        """
        An unreadable credentials file is a one-line configuration error
        naming --auth.
        """
        from keepsip.config.parsers import ConfigError

        error = self.assertRaises(ConfigError, buildConfig, {"auth": "htdigest:path=/nonexistent"})
        self.assertTrue(str(error).startswith("--auth: cannot read"))
        self.assertNotIn("\n", str(error))
