"""
A keepsip proxy on a fake datagram transport and a L{task.Clock}, and SIP
messages for the user agents around it, for the proxy-level unit tests.

Addresses: keepsip is 192.0.2.1:5060, the caller (Alice) 192.0.2.10:5060,
the callee (Bob) 192.0.2.20:5060 — reached through the static route C{*}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport

from keepsip.config import Config, ListenAddress, parseRoute
from keepsip.service import ProxyService, makeService
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram

PROXY = ("192.0.2.1", 5060)
ALICE = ("192.0.2.10", 5060)
BOB = ("192.0.2.20", 5060)

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


class ProxyHarness:
    """
    keepsip with everything it sends recorded.

    @ivar clock: the L{Clock} keepsip runs on.
    @ivar service: the L{ProxyService}.
    @ivar transport: the L{FakeDatagramTransport}; C{written} holds
        C{(bytes, address)} pairs.
    """

    def __init__(self, routes: tuple[str, ...] = ("*=sip:192.0.2.20:5060",), **config: Any) -> None:
        self.clock = Clock()
        self.config = Config(
            listen=(ListenAddress("udp", PROXY[0], PROXY[1]),),
            advertise=PROXY,
            routes=tuple(parseRoute(r) for r in routes),
            **config,
        )
        self.service: ProxyService = makeService(self.config, self.clock)
        self.transport = FakeDatagramTransport()
        self.service.protocols[0].makeConnection(self.transport)
        self._seen = 0

    def receive(self, data: bytes | str, source: tuple[str, int]) -> None:
        """
        Deliver a datagram to keepsip as if it came from C{source}.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.service.protocols[0].datagramReceived(data, source)

    def sent(self) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        Everything keepsip sent since the last call, parsed.
        """
        new = self.transport.written[self._seen :]
        self._seen = len(self.transport.written)
        return [(parseDatagram(data), address) for data, address in new]

    def sentTo(self, address: tuple[str, int]) -> list[Request | Response]:
        """
        What keepsip sent to C{address} since the last L{sent} call (the rest
        is discarded).
        """
        return [message for message, to in self.sent() if to == address]


def invite(
    callID: str = "call-1",
    cseq: int = 1,
    branch: str = "z9hG4bKalice1",
    uri: str = "sip:bob@192.0.2.1",
    toTag: str | None = None,
    body: bytes = SDP,
    maxForwards: int | None = 70,
    extra: str = "",
    method: str = "INVITE",
    route: str | None = None,
) -> bytes:
    """
    A request from Alice (INVITE by default).
    """
    to = "<sip:bob@192.0.2.1>" + (f";tag={toTag}" if toTag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport",
    ]
    if maxForwards is not None:
        lines.append(f"Max-Forwards: {maxForwards}")
    if route:
        lines.append(f"Route: {route}")
    lines += [
        "From: Alice <sip:alice@example.com>;tag=alicetag",
        f"To: {to}",
        f"Call-ID: {callID}",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:alice@192.0.2.10:5060>",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer(
    request: Request,
    code: int,
    phrase: str,
    toTag: str | None = "bobtag",
    body: bytes = b"",
    contact: str = "<sip:bob@192.0.2.20:5060>",
) -> bytes:
    """
    A response from a user agent to C{request} as it received it (Via,
    Record-Route, From, To, Call-ID, CSeq copied).
    """
    headers = request.headers
    lines = [f"SIP/2.0 {code} {phrase}"]
    lines += [f"Via: {v}" for v in headers["via"]]
    lines += [f"Record-Route: {v}" for v in headers.get("record-route", [])]
    to = headers["to"][0]
    if toTag and ";tag=" not in to:
        to += f";tag={toTag}"
    lines += [
        f"From: {headers['from'][0]}",
        f"To: {to}",
        f"Call-ID: {headers['call-id'][0]}",
        f"CSeq: {headers['cseq'][0]}",
    ]
    if code < 300 and request.method == "INVITE":
        lines.append(f"Contact: {contact}")
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


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
        proxy.receive(
            invite(
                uri="sip:bob@192.0.2.20:5060",
                branch=f"z9hG4bKka{n}",
                toTag="bobtag",
                route="<sip:192.0.2.1:5060;lr>",
            ),
            ALICE,
        )
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
