"""
The edge tests' common ground: keepsip in the edge role (C{--role edge
--core sip:192.0.2.20:5060}) with the built-in relay on an in-memory UDP
reactor; Alice is a local phone, the "core" is played by the test at Bob's
address (L{BOB}), which answers like the core keepsip would.
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.headers import vias
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, ANSWER_SDP, BOB, answer

from ._media import MediaProxyTestCase
from ._proxy import ProxyHarness

#: The core keepsip, as the edge is configured: the test answers for it.
CORE = BOB


class EdgeTestCase(MediaProxyTestCase):
    """
    An edge with interval 30 s, tolerance 2, media timeout 3 s, hold
    timeout 20 s, reaper tick 1 s, routing nothing statically: everything
    from Alice goes to the core.
    """

    def makeProxy(self, **config: Any) -> ProxyHarness:
        config.setdefault("role", "edge")
        config.setdefault("core", CORE)
        config.setdefault("keepaliveInterval", 30.0)
        proxy = super().makeProxy(routes=(), **config)
        service = proxy.service
        for child in service:
            if child.name == "edge":
                child.startService()
                self.addCleanup(child.stopService)
        return proxy

    def invitesTo(
        self, sent: list[tuple[Request | Response, tuple[str, int]]], address: tuple[str, int]
    ) -> list[Request]:
        """
        The INVITEs among C{sent} that went to C{address}.
        """
        return [m for m, a in sent if a == address and isinstance(m, Request) and m.method == "INVITE"]

    def coreAnswers(self, keepalive: Request, code: int = 200) -> None:
        """
        The core answers C{keepalive} (with Bob's tag, Contact and SDP on a
        2xx, as keepsip's absorb does).
        """
        body = ANSWER_SDP if code == 200 else b""
        self.proxy.receive(answer(keepalive, code, "OK", body=body), CORE)


def singleVia(message: Request | Response) -> bool:
    return len(vias(message)) == 1
