"""
A keepsip proxy on a L{keepsip.testing.FakeSIPNetwork} and a L{task.Clock},
for the proxy-level unit tests; the messages of the user agents around it
come from L{keepsip.testing}.

Addresses: keepsip is L{PROXY}, the caller (Alice) L{ALICE}, the callee (Bob)
L{BOB} — reached through the static route C{*}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from keepsip.config.parsers import parseRoute
from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress
from keepsip.proxyservice import ProxyService
from keepsip.service import makeService
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, PROXY, SDP, FakeSIPNetwork, answer, inDialog


class ProxyHarness:
    """
    keepsip with everything it sends recorded.

    @ivar clock: the L{Clock} keepsip runs on.
    @ivar service: the L{ProxyService}.
    @ivar transport: the L{FakeSIPNetwork} under keepsip's protocol;
        C{written} holds C{(bytes, address)} pairs.
    """

    def __init__(
        self,
        routes: tuple[str, ...] = ("*=sip:192.0.2.20:5060",),
        clock: Any = None,
        **config: Any,
    ) -> None:
        """
        @param clock: the reactor keepsip runs on (e.g. a
            L{keepsip.media.testing.FakeUDPReactor} for a media relay); a
            new L{Clock} by default.
        """
        self.clock = clock if clock is not None else Clock()
        self.config = Config(
            listen=(ListenAddress("udp", PROXY[0], PROXY[1]),),
            advertise=PROXY,
            routes=tuple(parseRoute(r) for r in routes),
            **{"dialogStore": "memory", **config},
        )
        self.service: ProxyService = makeService(self.config, self.clock)
        self.transport = FakeSIPNetwork()
        self.transport.connect(self.service.protocols[0])

    def receive(self, data: bytes | str, source: tuple[str, int]) -> None:
        """
        Deliver a datagram to keepsip as if it came from C{source}.
        """
        self.transport.receive(data, source)

    def sent(self) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        Everything keepsip sent since the last call, parsed.
        """
        return self.transport.sent()

    def sentTo(self, address: tuple[str, int]) -> list[Request | Response]:
        """
        What keepsip sent to C{address} since the last L{sent} call (the rest
        is discarded).
        """
        return self.transport.sentTo(address)


def startReapers(proxy: ProxyHarness) -> None:
    """
    Start the reaper services of C{proxy} (the UDP listeners stay down: the
    fake transport stands in for them).
    """
    for name in ("keepalive-reaper", "max-duration-reaper"):
        proxy.service.getServiceNamed(name).startService()


def stopReapers(proxy: ProxyHarness) -> None:
    for name in ("keepalive-reaper", "max-duration-reaper"):
        proxy.service.getServiceNamed(name).stopService()


def keepAliveThenFallSilent(proxy: ProxyHarness, count: int = 2, every: float = 30.0) -> None:
    """
    Alice, in the established call C{call-1}, sends C{count} keepalives
    C{every} seconds apart, then nothing; keepsip reaps the call and both
    legs answer its BYEs with 200.
    """
    for n in range(1, count + 1):
        proxy.clock.advance(every)
        proxy.receive(inDialog("INVITE", branch=f"z9hG4bKka{n}", body=SDP), ALICE)
    proxy.sent()
    byes: dict[tuple[str, int], Request] = {}
    for _ in range(int(4 * every / 0.5)):
        proxy.clock.advance(0.5)
        for message, address in proxy.sent():
            if isinstance(message, Request) and message.method == "BYE":
                byes[address] = message
        if byes:
            break
    for address, bye in byes.items():
        proxy.receive(answer(bye, 200, "OK", toTag=None), address)
