"""
Media relays on loopback with real sockets: RTP from a small Twisted sender
and receiver through the built-in relay, and through a real C{rtpengine}
(userspace forwarding) started by the test.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from keepsip.media.builtin import BuiltinRelay
from keepsip.media.model import CALLEE, CALLER, MediaRelayUnavailable, UnknownMediaSession
from keepsip.media.rtpengine import NgClient, RtpengineRelay
from keepsip.media.sdp import relayStreams
from tests.helpers import freeUDPPort, requireExternal, skipOrFail

HOST = "127.0.0.1"


def freeRange(count: int, host: str = HOST) -> tuple[int, int]:
    """
    C{count} consecutive UDP ports, starting even, that were all free on
    C{host} a moment ago.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(20000, 60000 - count) & ~1
        sockets = []
        try:
            for port in range(low, low + count):
                s = socket.socket(family, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind((host, port))
            return low, low + count - 1
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


def rtp(seq: int, payload: bytes = b"\xff" * 160) -> bytes:
    """
    A PCMU RTP packet (version 2, payload type 0).
    """
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x1234) + payload


class Endpoint(DatagramProtocol):
    """
    A phone's RTP socket: records what it receives.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))


def sdp(host: str, port: int) -> bytes:
    family = "IP6" if ":" in host else "IP4"
    return (
        f"v=0\r\no=- 1 1 IN {family} {host}\r\ns=-\r\nc=IN {family} {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode("ascii")


class RelayCase(unittest.TestCase):
    timeout = 30

    def endpoint(self, host: str = HOST) -> tuple[Endpoint, Any, int]:
        protocol = Endpoint()
        port = reactor.listenUDP(0, protocol, interface=host)
        self.addCleanup(port.stopListening)
        return protocol, port, port.getHost().port

    @inlineCallbacks
    def waitFor(self, condition: Any, seconds: float = 5.0) -> Any:
        for _ in range(int(seconds / 0.02)):
            if condition():
                return
            yield deferLater(reactor, 0.02, lambda: None)
        self.fail("timed out waiting")

    @inlineCallbacks
    def exchange(self, relay: Any, host: str, count: int = 20, back: int = 10) -> Any:
        """
        Offer/answer through C{relay}, then C{count} RTP packets from the
        caller and C{back} from the callee between two loopback endpoints; return the two endpoints and the
        relay's addresses facing the caller and the callee.
        """
        alice, alicePort, aliceNumber = self.endpoint(host)
        bob, bobPort, bobNumber = self.endpoint(host)
        toBob = yield relay.allocate("call-1", "tag-a", CALLER, sdp(host, aliceNumber))
        toAlice = yield relay.answer("call-1", "tag-a", "tag-b", CALLEE, sdp(host, bobNumber))
        (forBob,), (forAlice,) = relayStreams(toBob), relayStreams(toAlice)
        self.assertNotEqual(forBob.port, bobNumber)
        for seq in range(count):
            alicePort.write(rtp(seq), (forAlice.address, forAlice.port))
            if seq < back:
                bobPort.write(rtp(1000 + seq), (forBob.address, forBob.port))
            yield deferLater(reactor, 0.002, lambda: None)
        yield self.waitFor(lambda: len(alice.received) >= back and len(bob.received) >= count)
        return alice, bob, forAlice, forBob


class BuiltinRelayLoopbackTests(RelayCase):
    def relay(self, host: str) -> BuiltinRelay:
        low, high = freeRange(40, host)
        relay = BuiltinRelay(reactor, host, low, high)
        self.addCleanup(relay.close)
        return relay

    @inlineCallbacks
    def test_rtpBothWays(self) -> None:
        """
        RTP sent by each endpoint to the relay's advertised address reaches
        the other from the relay's port, is counted per direction, and every
        port is freed on release.
        """
        relay = self.relay(HOST)
        alice, bob, forAlice, forBob = yield self.exchange(relay, HOST)
        self.assertEqual(bob.received[0][0], rtp(0))
        self.assertEqual(bob.received[0][1], (HOST, forBob.port))
        self.assertEqual(alice.received[0][1], (HOST, forAlice.port))
        stats = yield relay.statistics("call-1", "tag-a")
        self.assertEqual(stats.caller.packets, 20)
        self.assertEqual(stats.callee.packets, 10)
        self.assertEqual(stats.callee.bytes, 10 * 172)
        self.assertIsNotNone(stats.caller.lastPacketAt)
        yield relay.release("call-1", "tag-a")
        self.assertEqual(relay.portsInUse, 0)

    @inlineCallbacks
    def test_ipv6(self) -> None:
        """
        The same over IPv6 loopback.
        """
        if not socket.has_ipv6:
            skipOrFail("no IPv6")
        try:
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))
        except OSError:
            skipOrFail("no IPv6 loopback")
        relay = self.relay("::1")
        alice, bob, _, _ = yield self.exchange(relay, "::1", count=5, back=5)
        self.assertEqual(bob.received[0][0], rtp(0))


def _rtpengineArgs(binary: str, ngPort: int, low: int, high: int) -> list[str]:
    return [
        binary,
        "--foreground",
        "--log-stderr",
        "--config-file=none",
        "--table=-1",  # no kernel forwarding: userspace only
        f"--interface={HOST}",
        f"--listen-ng={HOST}:{ngPort}",
        f"--port-min={low}",
        f"--port-max={high}",
        "--num-threads=1",
        "--delete-delay=0",
        "--log-level=5",
    ]


class RtpengineTests(RelayCase):
    @inlineCallbacks
    def setUp(self) -> Any:
        binary = shutil.which("rtpengine") or (
            "/usr/sbin/rtpengine" if os.path.exists("/usr/sbin/rtpengine") else None
        )
        if binary is None:
            requireExternal("rtpengine")
        assert binary is not None
        self.ngPort = freeUDPPort(HOST)
        low, high = freeRange(40)
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            _rtpengineArgs(binary, self.ngPort, low, high),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.addCleanup(self.stopEngine)
        client = NgClient(reactor, HOST, self.ngPort, timeout=0.5)
        self.addCleanup(client.close)
        for _ in range(40):
            if self.process.poll() is not None:
                break
            try:
                yield client.command({"command": "ping"})
                break
            except MediaRelayUnavailable:
                continue
        else:
            self.fail("rtpengine did not answer ping")
        if self.process.poll() is not None:
            self.log.seek(0)
            self.fail(f"rtpengine exited: {self.log.read()[-2000:]!r}")

    def stopEngine(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    @inlineCallbacks
    def test_offerAnswerRtpQueryDelete(self) -> None:
        """
        Through a real rtpengine: offer and answer are rewritten to its
        ports, RTP flows both ways, C{query} counts each side's packets, and
        after release rtpengine no longer knows the call.
        """
        relay = RtpengineRelay(reactor, HOST, self.ngPort, timeout=2.0)
        self.addCleanup(relay.close)
        alice, bob, forAlice, forBob = yield self.exchange(relay, HOST)
        self.assertEqual(bob.received[0][0][12:], rtp(0)[12:])
        stats = yield relay.statistics("call-1", "tag-a")
        self.assertEqual((stats.caller.packets, stats.callee.packets), (20, 10))
        self.assertEqual(stats.caller.bytes, 20 * 172)
        self.assertIsNotNone(stats.caller.lastPacketAt)
        self.assertEqual(stats.streams[0].mediaType, "audio")
        self.assertFalse(stats.caller.onHold)
        yield relay.release("call-1", "tag-a")
        yield self.assertFailure(
            relay.client.command({"command": "query", "call-id": "call-1"}),
            UnknownMediaSession,
        )

    @inlineCallbacks
    def test_finalStatisticsFromDelete(self) -> None:
        """
        Through a real rtpengine: packets sent after the last C{query} are
        in the final counters, read from the answer to C{delete}; the call
        is gone at rtpengine after it, and a later release sends nothing.
        """
        relay = RtpengineRelay(reactor, HOST, self.ngPort, timeout=2.0)
        self.addCleanup(relay.close)
        alice, bob, forAlice, forBob = yield self.exchange(relay, HOST)
        polled = yield relay.statistics("call-1", "tag-a")
        self.assertEqual((polled.caller.packets, polled.callee.packets), (20, 10))
        # More from Alice's latched address, her endpoint's port.
        for seq in range(20, 27):
            alice.transport.write(rtp(seq), (forAlice.address, forAlice.port))
            yield deferLater(reactor, 0.002, lambda: None)
        yield self.waitFor(lambda: len(bob.received) >= 27)
        final = yield relay.finalStatistics("call-1", "tag-a")
        self.assertEqual((final.caller.packets, final.callee.packets), (27, 10))
        self.assertEqual(final.caller.bytes, 27 * 172)
        self.assertEqual(final.volume()["audio"]["caller-to-callee"]["packets"], 27)
        yield self.assertFailure(
            relay.client.command({"command": "query", "call-id": "call-1"}),
            UnknownMediaSession,
        )
        yield relay.release("call-1", "tag-a")

    @inlineCallbacks
    def test_engineStopped(self) -> None:
        """
        With rtpengine gone, an offer fails with L{MediaRelayUnavailable}
        within the timeout.
        """
        self.stopEngine()
        self.log = tempfile.TemporaryFile()
        relay = RtpengineRelay(reactor, HOST, self.ngPort, timeout=1.0)
        self.addCleanup(relay.close)
        started = reactor.seconds()
        yield self.assertFailure(
            relay.allocate("call-2", "tag-a", CALLER, sdp(HOST, 5000)), MediaRelayUnavailable
        )
        self.assertLess(reactor.seconds() - started, 2.0)
