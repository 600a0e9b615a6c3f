"""
The authentication layer's service: says at start whether keepsip is open to
anyone, and re-reads the credentials on SIGHUP.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service

from keepsip.logs import Logger

log = Logger()


class AuthService(Service):
    """
    @param reactor: for C{callFromThread} (the reload never runs inside a
        request).
    @param checker: the C{ICredentialsChecker}, or L{None} (C{--auth none}).
    @param realm: the digest realm, for the start-up log.
    @param trusted: how many C{--trusted} networks there are.
    """

    def __init__(self, reactor: Any, checker: Any, realm: str, trusted: int = 0) -> None:
        self.reactor = reactor
        self.checker = checker
        self.realm = realm
        self.trusted = trusted
        self._previous: Any = None
        self._signalModule: Any = None

    def startService(self) -> None:
        Service.startService(self)
        if self.checker is None:
            log.warn(
                "--auth none: the registrar and the proxy are open; anyone may register "
                "as anyone and place calls through keepsip"
            )
        else:
            log.info(
                "digest authentication on, realm {realm}, {trusted} trusted networks",
                realm=self.realm,
                trusted=self.trusted,
            )
            self.installSignalHandler()

    def stopService(self) -> None:
        Service.stopService(self)
        self.uninstallSignalHandler()

    def installSignalHandler(
        self, signalModule: Any = signal, isMainThread: Callable[[], bool] | None = None
    ) -> bool:
        """
        Make SIGHUP call L{reload} (and the handler that was there before,
        e.g. accounting's file reopening), if the checker can reload, on the
        main thread of a platform with SIGHUP.

        @return: whether a handler was installed.
        """
        if isMainThread is None:
            isMainThread = lambda: threading.current_thread() is threading.main_thread()
        if getattr(self.checker, "reload", None) is None:
            return False
        if not hasattr(signalModule, "SIGHUP") or not isMainThread():
            return False
        self._signalModule = signalModule
        self._previous = signalModule.signal(signalModule.SIGHUP, self._hangup)
        return True

    def uninstallSignalHandler(self) -> None:
        """
        Put back the SIGHUP handler found by L{installSignalHandler}.
        """
        if self._signalModule is not None:
            self._signalModule.signal(self._signalModule.SIGHUP, self._previous)
            self._signalModule = None

    def _hangup(self, signum: int, frame: Any) -> None:
        callFromThread = getattr(self.reactor, "callFromThread", None)
        if callFromThread is None:
            self.reload()
        else:
            callFromThread(self.reload)
        if callable(self._previous):
            self._previous(signum, frame)

    def reload(self) -> bool:
        """
        Re-read the credentials (the checker keeps its table if that fails).

        @return: whether the new credentials are in use.
        """
        reload = getattr(self.checker, "reload", None)
        if reload is None:
            return False
        try:
            return bool(reload())
        except Exception:
            log.failure("auth: reloading the credentials failed")
            return False


__all__ = ["AuthService"]


def defaultRealm(config: Any) -> str:
    """
    C{--auth-realm}, else the first C{--domain} (sorted), else the
    advertise host.
    """
    if config.authRealm:
        return str(config.authRealm)
    if config.domains:
        return str(sorted(config.domains)[0])
    return str(config.advertise[0])


def makeAuthentication(
    config: Any, reactor: Any, identity: Any, store: Any, inner: Any
) -> tuple[Any, AuthService]:
    """
    Build the authentication layer from the configuration, in front of
    C{inner} (the keepalive transaction user).

    @return: C{(transactionUser, service)}: the
        L{keepsip.auth.transactionuser.AuthTransactionUser} (also a dialog
        observer: add it to the tracker) and its L{AuthService}.
    @raise ValueError: the checker cannot be made (one line).
    """
    from keepsip.auth.checkers import makeChecker
    from keepsip.auth.nonces import NonceAuthority
    from keepsip.auth.peers import TrustedPeers
    from keepsip.auth.transactionuser import AuthSettings, AuthTransactionUser

    checker = makeChecker(config.auth)
    realm = defaultRealm(config)
    networks = [network for value in config.trusted for network in value]
    nonces = None
    if checker is not None:
        secret = config.authSecret.encode("utf-8", "surrogateescape") or None
        nonces = NonceAuthority(reactor, realm, config.authNonceLifetime, secret)
    user = AuthTransactionUser(
        inner,
        reactor,
        identity,
        store,
        checker,
        nonces,
        TrustedPeers(networks),
        AuthSettings(
            realm=realm,
            algorithms=tuple(config.authAlgorithms),
            fromCheck=config.authFromCheck,
            registrationRate=config.registrarRateLimit,
            challengeRate=config.authChallengeRateLimit,
        ),
    )
    service = AuthService(reactor, checker, realm, len(networks))
    service.setName("auth")
    return user, service
