"""
Real phones for the integration tests: a client of C{baresip}'s
C{ctrl_tcp}, its configuration on loopback, and a mixin that starts a
baresip and connects to its control port. Used by the media-timeout and the
edge tests (two baresips each).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import NetstringReceiver
from twisted.python.filepath import FilePath

from tests.helpers import freeTCPPort, freeUDPPort, requireExternal

from ._harness import HOST


class BaresipControl(NetstringReceiver):
    """
    A client of baresip's C{ctrl_tcp}: JSON commands and events in
    netstrings.

    @ivar events: every event received, decoded.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._waiting: list[tuple[str, Deferred[float]]] = []

    def command(self, command: str, params: str = "") -> None:
        self.sendString(json.dumps({"command": command, "params": params, "token": command}).encode())

    def stringReceived(self, data: bytes) -> None:
        message = json.loads(data)
        if not message.get("event"):
            return
        now = self.clock.seconds()
        self.events.append((now, message))
        for kind, waiter in list(self._waiting):
            if message.get("type") == kind:
                self._waiting.remove((kind, waiter))
                waiter.callback(now)

    def waitFor(self, kind: str) -> Deferred[float]:
        """
        @return: a Deferred firing with the time event C{kind} arrived (now
            if it already did).
        """
        for when, message in self.events:
            if message.get("type") == kind:
                d: Deferred[float] = Deferred()
                d.callback(when)
                return d
        waiter: Deferred[float] = Deferred()
        self._waiting.append((kind, waiter))
        return waiter


def baresipConfig(directory: FilePath, user: str, sipPort: int, ctrlPort: int, rtp: int) -> None:
    directory.makedirs()
    directory.child("config").setContent(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen {HOST}:{sipPort}",
                f"net_interface {HOST}",
                f"rtp_ports {rtp}-{rtp + 19}",
                "audio_player aufile,/dev/null",
                "audio_alert aufile,/dev/null",
                "audio_source ausine,440",
                "ausrc_srate 48000",
                "ausrc_channels 2",
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module ausine.so",
                "module aufile.so",
                "module_app account.so",
                "module_app menu.so",
                "module_app ctrl_tcp.so",
                f"ctrl_tcp_listen {HOST}:{ctrlPort}",
                "",
            ]
        ).encode()
    )
    answer = "auto" if user == "bob" else "manual"
    directory.child("accounts").setContent(
        f"<sip:{user}@{HOST}>;regint=0;answermode={answer}\n".encode()
    )
    directory.child("contacts").setContent(b"")


def sipPorts() -> int:
    """
    A free UDP port whose next two are free too (baresip also listens for
    TCP and TLS on them).
    """
    for _ in range(50):
        port = freeUDPPort(HOST)
        if port < 65000 and port % 3 == 0:
            return port
    return freeUDPPort(HOST)


class BaresipPhones:
    """
    A mixin for an L{IntegrationTestCase}: start baresips and wait.

    @ivar baresip: the path of the C{baresip} binary (the test is skipped,
        or fails under CI, without it).
    """

    reactor: Any
    _spawn: Any
    addCleanup: Any
    mktemp: Any

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.baresip = requireExternal("baresip")

    def sleep(self, seconds: float) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.reactor.callLater(seconds, d.callback, None)
        return d

    @inlineCallbacks
    def startPhone(  # type: ignore[no-untyped-def]
        self, user: str, rtp: int, account: str | None = None, timeout: float = 120
    ):
        """
        Start baresip as C{user}, with RTP ports from C{rtp} and the account
        line C{account} (by default a loopback account answering
        automatically as Bob, manually otherwise), and connect to its
        C{ctrl_tcp}.

        @return: a Deferred firing with C{(child, control, sipPort)}.
        """
        # The ports are free when picked, but baresip also binds TCP on
        # sipPort + 1 and another test may take one meanwhile: a phone that
        # exits with "Address already in use" is started again on others.
        for attempt in range(5):
            sipPort, ctrlPort = sipPorts(), freeTCPPort(HOST)
            directory = FilePath(self.mktemp()).child(user)
            baresipConfig(directory, user, sipPort, ctrlPort, rtp)
            if account is not None:
                directory.child("accounts").setContent(account.encode() + b"\n")
            child = self._spawn(user, [self.baresip, "-f", directory.path], directory.path, timeout)
            control = BaresipControl(self.reactor)
            endpoint = TCP4ClientEndpoint(self.reactor, HOST, ctrlPort)
            for _ in range(50):
                try:
                    yield connectProtocol(endpoint, control)
                    break
                except Exception:
                    if not child.running:
                        break
                    yield self.sleep(0.1)
            else:
                raise AssertionError(f"baresip {user} ctrl_tcp never listened:\n{child.output()!r}")
            if child.running:
                break
            output = child.output()
            if b"Address already in use" not in output or attempt == 4:
                raise AssertionError(f"baresip {user} exited:\n{output!r}")
        self.addCleanup(lambda: control.transport.loseConnection())
        return child, control, sipPort

