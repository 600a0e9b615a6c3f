"""
Tests for L{keepsip.dialog.shared}: two keepsip nodes over one real
C{redis-server} on a loopback port; a call set up through one node is loaded
from Redis by the other when an in-dialog request of it reaches that node,
and handled there (keepalive absorbed, BYE forwarded).
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.interfaces import IReactorPluggableNameResolver, IReactorTCP, IReactorTime
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, BOB, SDP, answer, bye, inDialog, invite
from tests._proxy import ProxyHarness
from tests._servers import RedisServer

_prefixes = itertools.count()

ANSWER_SDP = SDP.replace(b"192.0.2.10", b"192.0.2.20").replace(b"alice", b"bob")


@implementer(IReactorTime, IReactorTCP, IReactorPluggableNameResolver)
class ClockOverTCP(Clock):
    """
    Timers on a L{Clock} the test advances; TCP (the connection to Redis)
    and name resolution on the real reactor.
    """

    def connectTCP(self, *args: Any, **kw: Any) -> Any:
        return reactor.connectTCP(*args, **kw)  # type: ignore[attr-defined]

    def listenTCP(self, *args: Any, **kw: Any) -> Any:
        return reactor.listenTCP(*args, **kw)  # type: ignore[attr-defined]

    @property
    def nameResolver(self) -> Any:
        return reactor.nameResolver  # type: ignore[attr-defined]

    def installNameResolver(self, resolver: Any) -> Any:
        raise NotImplementedError()


class LoadOnDemandTests(TestCase):
    """
    Nodes A and B on one Redis; Alice's call set up through A.
    """

    timeout = 60

    def setUp(self) -> Any:
        self.server = RedisServer(self.mktemp())
        self.server.start()
        self.addCleanup(self.server.stop)
        self.value = f"redis:host=127.0.0.1,port={self.server.port},prefix=s{next(_prefixes)}"
        return self._open()

    @inlineCallbacks
    def _open(self):  # type: ignore[no-untyped-def]
        self.a = self.node()
        self.b = self.node()
        for node in (self.a, self.b):
            yield node.service.store.open()
            self.addCleanup(node.service.store.close)

    def node(self) -> ProxyHarness:
        return ProxyHarness(
            clock=ClockOverTCP(),
            dialogStore=self.value,
            keepaliveInterval=30.0,
            keepaliveTolerance=2.0,
        )

    @inlineCallbacks
    def establishThroughA(self):  # type: ignore[no-untyped-def]
        """
        Alice calls Bob through A; Bob answers, Alice ACKs; A writes the
        call to Redis.
        """
        a = self.a
        a.receive(invite(), ALICE)
        [atBob] = a.sentTo(BOB)
        a.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        a.receive(inDialog("ACK", 1, "z9hG4bKack1"), ALICE)
        a.sent()
        yield a.service.store.flush()
        self.assertEqual(len(a.service.store), 1)

    @inlineCallbacks
    def sentByB(self):  # type: ignore[no-untyped-def]
        """
        What B sent until it sent a final response or a request (B handles
        the request after Redis answers).
        """
        sent: list[Any] = []
        for _ in range(500):
            sent += self.b.sent()
            if any(isinstance(m, Request) or m.code >= 200 for m, _ in sent):
                break
            yield deferLater(reactor, 0.01, lambda: None)
        return sent

    @inlineCallbacks
    def test_keepaliveLoadedAndAbsorbed(self):  # type: ignore[no-untyped-def]
        """
        Alice's keepalive (an INVITE equal to her first) reaching B, which
        never saw the call, is recognised as a keepalive of the call loaded
        from Redis: B answers it 200 itself with the call's answer and does
        not forward it to Bob; B holds the call from then on.
        """
        yield self.establishThroughA()
        self.assertIsNone(self.b.service.store.getByCallKey(("call-1", "alicetag")))
        self.b.receive(inDialog("INVITE", 1, "z9hG4bKka1", body=SDP), ALICE)
        sent = yield self.sentByB()
        self.assertEqual(
            [(m.code, to) for m, to in sent if isinstance(m, Response) and m.code >= 200],
            [(200, ALICE)],
        )
        self.assertEqual([m for m, _ in sent if isinstance(m, Request)], [])
        held = self.b.service.store.getByCallKey(("call-1", "alicetag"))
        self.assertIsNotNone(held)
        self.assertTrue(held.isConfirmed)

    @inlineCallbacks
    def test_byeLoadedAndForwarded(self):  # type: ignore[no-untyped-def]
        """
        Alice's BYE reaching B is routed to Bob as a request of the loaded
        call (not refused as unknown), and Bob's 200 ends the call in Redis.
        """
        yield self.establishThroughA()
        self.b.receive(bye(), ALICE)
        sent = yield self.sentByB()
        byes = [(m, to) for m, to in sent if isinstance(m, Request) and m.method == "BYE"]
        self.assertEqual([to for _, to in byes], [BOB])
        self.assertEqual([m for m, _ in sent if isinstance(m, Response) and m.code >= 400], [])
        self.b.receive(answer(byes[0][0], 200, "OK", toTag=None), BOB)
        yield self.b.service.store.flush()
        self.assertEqual(self.server.command("KEYS", "*:dialog:*"), [])
