"""
The media tests' common ground: keepsip with the built-in relay on an
in-memory UDP reactor (L{keepsip.media.testing.FakeUDPReactor}), a JSON-lines
accounting backend to read records from, and a call Alice -> keepsip -> Bob
whose RTP the tests send through the relay.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip.media.testing import FakeUDPReactor
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, ANSWER_SDP, BOB, SDP, answer, inDialog, invite

from ._proxy import ProxyHarness

#: Where Alice and Bob receive RTP (their SDP).
ALICE_RTP = ("192.0.2.10", 49170)
BOB_RTP = ("192.0.2.20", 49170)

#: One G.711 packet: 12 octets of RTP header and 160 of payload.
PACKET = b"\x80\x00" + b"\x00" * 170


def mediaPort(body: bytes) -> int:
    """
    @return: the port of the first m-line of an SDP body.
    """
    found = re.search(rb"m=audio (\d+) ", body)
    assert found is not None, body
    return int(found.group(1))


def connection(body: bytes) -> bytes:
    found = re.search(rb"c=IN IP[46] (\S+)", body)
    assert found is not None, body
    return found.group(1)


class MediaProxyTestCase(SynchronousTestCase):
    """
    keepsip with C{--media-relay builtin} on C{192.0.2.1}, ports
    30000-39999, media timeout 3 s, hold timeout 20 s, reaper tick 1 s.
    """

    def makeProxy(self, **config: Any) -> ProxyHarness:
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        config.setdefault("mediaRelay", "builtin")
        config.setdefault("rtpAddress", "192.0.2.1")
        config.setdefault("rtpPorts", (30000, 39999))
        config.setdefault("mediaTimeout", 3.0)
        config.setdefault("holdTimeout", 20.0)
        config.setdefault("accounting", (f"jsonl:path={self.cdr},fsync=never",))
        config.setdefault("accountingSpool", os.path.join(base, "spool"))
        self.reactor = FakeUDPReactor()
        self.reactor.advance(1_700_000_000)
        self.proxy = ProxyHarness(clock=self.reactor, **config)
        service = self.proxy.service
        service.accounting.startService()
        self.addCleanup(service.accounting.stopService)
        if service.media is not None:
            service.media.startService()
            self.addCleanup(service.media.stopService)
        self.relay: Any = service.media.relay if service.media is not None else None
        return self.proxy

    def records(self) -> list[dict[str, Any]]:
        self.proxy.clock.advance(0.01)
        if not os.path.exists(self.cdr):
            return []
        with open(self.cdr) as f:
            return [json.loads(line) for line in f]

    def establish(self, callID: str = "call-1", offer: bytes = SDP) -> tuple[Request, Response]:
        """
        Alice calls Bob, Bob answers with L{ANSWER_SDP}, Alice ACKs.

        @return: the INVITE as Bob got it and the 200 as Alice got it.
        """
        proxy = self.proxy
        proxy.receive(invite(callID=callID, body=offer), ALICE)
        [atBob] = [m for m in proxy.sentTo(BOB) if isinstance(m, Request)]
        proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        [ok] = [m for m in proxy.sentTo(ALICE) if isinstance(m, Response) and m.code == 200]
        proxy.receive(inDialog("ACK", 1, "z9hG4bKack", callID=callID), ALICE)
        proxy.sent()
        return atBob, ok

    def rtp(self, relayPort: int, source: tuple[str, int], count: int = 1) -> None:
        """
        C{count} packets from C{source} to the relay's C{relayPort}.
        """
        for _ in range(count):
            self.reactor.deliver(relayPort, PACKET, source)

    def byes(self) -> dict[tuple[str, int], Request]:
        return {
            address: m
            for m, address in self.proxy.sent()
            if isinstance(m, Request) and m.method == "BYE"
        }

    def answerByes(self, byes: dict[tuple[str, int], Request], code: int = 200) -> None:
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, code, "OK", toTag=None), address)
