"""
Tests for L{keepsip.media.mux}: the built-in relay's reader on real
loopback sockets and the real reactor.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial import unittest

from keepsip.media.builtin import BuiltinRelay
from keepsip.media.model import CALLEE, CALLER
from keepsip.media.mux import available
from keepsip.media.sdp import relayStreams

from .integration.test_media_relay import freeRange, sdp

HOST = "127.0.0.1"


class RelayMuxTests(unittest.TestCase):
    """
    A call through a L{BuiltinRelay} on the real reactor, whose sockets a
    L{keepsip.media.mux.RelayMux} reads.
    """

    def setUp(self) -> Any:
        if not available(reactor):
            raise unittest.SkipTest("the relay mux needs epoll and a reactor with addReader")
        low, high = freeRange(20)
        self.relay = BuiltinRelay(reactor, HOST, low, high)
        self.addCleanup(self.relay.close)
        self.phones = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            s.setblocking(False)
            self.addCleanup(s.close)
            self.phones.append(s)

    @inlineCallbacks
    def received(self, s: socket.socket, count: int) -> Any:
        got: list[tuple[bytes, Any]] = []
        for _ in range(250):
            try:
                got.append(s.recvfrom(2048))
            except BlockingIOError:
                if len(got) >= count:
                    return got
                yield deferLater(reactor, 0.01, lambda: None)
        return got

    @inlineCallbacks
    def test_relayLatchDrop(self) -> None:
        """
        Datagrams from the caller reach the callee and back, counted per
        side; once the caller is latched, datagrams from another address on
        its port are dropped and counted, not relayed; the reader's
        wake-ups are counted, and the relay leaves no reader behind on
        close (trial fails a test that leaves the reactor dirty).
        """
        alice, bob, mallory = self.phones
        toBob = yield self.relay.allocate("c", "a", CALLER, sdp(HOST, alice.getsockname()[1]))
        toAlice = yield self.relay.answer("c", "a", "b", CALLEE, sdp(HOST, bob.getsockname()[1]))
        forAlice, forBob = relayStreams(toAlice)[0].port, relayStreams(toBob)[0].port
        for n in range(5):
            alice.sendto(b"A%d" % n, (HOST, forAlice))
        got = yield self.received(bob, 5)
        self.assertEqual(sorted(d for d, _ in got), [b"A%d" % n for n in range(5)])
        self.assertEqual({a for _, a in got}, {(HOST, forBob)})
        bob.sendto(b"B", (HOST, forBob))
        mallory.sendto(b"M", (HOST, forAlice))
        got = yield self.received(alice, 1)
        self.assertEqual([d for d, _ in got], [b"B"])
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((yield self.received(bob, 0)), [])
        stats = yield self.relay.statistics("c", "a")
        self.assertEqual((stats.caller.packets, stats.callee.packets), (5, 1))
        self.assertEqual(stats.streams[0].dropped, 1)
        self.assertEqual(self.relay.totals(), {"packets": 6, "bytes": 11, "dropped": 1})
        self.assertGreater(self.relay.wakeups, 0)
        yield self.relay.release("c", "a")
        self.assertEqual(self.relay.portsInUse, 0)
