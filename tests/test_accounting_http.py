"""
Tests for L{keepsip.accounting.http}: the C{http} backend with
L{treq.testing.StubTreq} and a L{Clock}, then against a real
L{twisted.web} server on a loopback port.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.defer import CancelledError, fail, inlineCallbacks
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface.verify import verifyObject

from keepsip.accounting.http import (
    HTTPBackend,
    HTTPBackendClosed,
    HTTPRejected,
    HTTPUnavailable,
)
from keepsip.accounting.plugin import availableBackends
from keepsip.accounting.tracker import AccountingTracker
from keepsip.interfaces import IAccountingBackend, IAccountingBackendFactory
from keepsip.testing import callRecords

URL = "http://billing.example/cdr"


@dataclass
class Received:
    key: str | None
    contentType: str | None
    body: bytes
    clientPort: int


class Receiver(Resource):
    """
    Records every POST; answers with the statuses in C{statuses} first, then
    200.
    """

    isLeaf = True

    def __init__(self, statuses: list[int] | None = None) -> None:
        Resource.__init__(self)
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []

    def render_POST(self, request: Any) -> bytes:
        self.requests.append(
            Received(
                request.getHeader("idempotency-key"),
                request.getHeader("content-type"),
                request.content.read(),
                getattr(request.getClientAddress(), "port", 0),
            )
        )
        code = self.statuses.pop(0) if self.statuses else 200
        request.setResponseCode(code)
        return b"thanks" if code < 300 else b"not now"

    def accepted(self) -> list[Received]:
        """
        The requests answered 2xx, deduplicated by key as a receiver would.
        """
        return list({r.key: r for r in self.requests}.values())


class HTTPBackendTests(SynchronousTestCase):
    """
    The backend with StubTreq: what it sends, which answers it accepts,
    retries and their timing on the clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def makeBackend(self, receiver: Receiver, **kw: Any) -> tuple[HTTPBackend, StubTreq]:
        stub = StubTreq(receiver)
        backend = HTTPBackend(self.clock, URL, client=stub, **kw)
        self.successResultOf(backend.ready())
        return backend, stub

    def test_interfaces(self) -> None:
        """
        The plugin provides IAccountingBackendFactory and makes an
        IAccountingBackend.
        """
        factory = availableBackends()["http"]
        self.assertTrue(verifyObject(IAccountingBackendFactory, factory))
        self.assertTrue(
            verifyObject(IAccountingBackend, factory.makeBackend({"url": URL}, Clock()))
        )

    def test_arguments(self) -> None:
        """
        url is required and must be http(s) with a host; timeout and retries
        have defaults; bad values are refused naming the argument.
        """
        factory = availableBackends()["http"]
        self.assertEqual(factory.argumentFormat, "url=URL[,timeout=SECONDS][,retries=N]")
        backend = factory.makeBackend({"url": "https://b.example:8443/x"}, Clock())
        self.assertEqual((backend.timeout, backend.retries), (10.0, 2))
        backend = factory.makeBackend({"url": URL, "timeout": "2.5", "retries": "0"}, Clock())
        self.assertEqual((backend.timeout, backend.retries), (2.5, 0))
        for args, name in [
            ({}, "'url'"),
            ({"url": "ftp://b.example/"}, "url="),
            ({"url": "http:///nohost"}, "url="),
            ({"url": "http://b.example:99999/"}, "url="),
            ({"url": URL, "retries": "-1"}, "retries="),
            ({"url": URL, "timeout": "0"}, "timeout="),
        ]:
            e = self.assertRaises(ValueError, factory.makeBackend, args, Clock())
            self.assertIn(name, str(e))

    def test_constructorDoesNoIO(self) -> None:
        """
        Making a backend connects nowhere and schedules nothing; neither does
        ready() (connections open with the first record).
        """
        memory = MemoryReactorClock()
        backend = HTTPBackend(memory, URL)
        self.successResultOf(backend.ready())
        self.assertEqual((memory.tcpClients, memory.getDelayedCalls()), ([], []))
        self.successResultOf(backend.close())

    def test_postsJSONWithIdempotencyKey(self) -> None:
        """
        Each record is one POST of its JSON with Content-Type
        application/json and Idempotency-Key: the record_id.
        """
        receiver = Receiver()
        backend, stub = self.makeBackend(receiver)
        records = callRecords(1)
        for record in records:
            d = backend.sendRecord(record)
            stub.flush()
            self.assertIsNone(self.successResultOf(d))
        self.assertEqual([r.key for r in receiver.requests], [r["record_id"] for r in records])
        self.assertEqual([json.loads(r.body) for r in receiver.requests], records)
        self.assertEqual({r.contentType for r in receiver.requests}, {"application/json"})

    def test_any2xxAccepts(self) -> None:
        """
        201, 202 and 204 accept a record like 200.
        """
        receiver = Receiver([201, 202, 204])
        backend, stub = self.makeBackend(receiver)
        for record in callRecords(1):
            d = backend.sendRecord(record)
            stub.flush()
            self.successResultOf(d)
        self.assertEqual(len(receiver.requests), 3)

    def test_retriesTemporaryFailuresOnTheClock(self) -> None:
        """
        503 then 502 then 200: the record is retried after 0.5 s and 1 s of
        the clock (not before), with the same key and body, and accepted.
        """
        receiver = Receiver([503, 502])
        backend, stub = self.makeBackend(receiver)
        record = callRecords(1)[0]
        d = backend.sendRecord(record)
        stub.flush()
        self.assertNoResult(d)
        self.assertEqual(len(receiver.requests), 1)
        self.clock.advance(0.49)
        stub.flush()
        self.assertEqual(len(receiver.requests), 1)
        self.clock.advance(0.01)
        stub.flush()
        self.assertEqual(len(receiver.requests), 2)
        self.assertNoResult(d)
        self.clock.advance(1.0)
        stub.flush()
        self.successResultOf(d)
        self.assertEqual({r.key for r in receiver.requests}, {record["record_id"]})
        self.assertEqual(len({r.body for r in receiver.requests}), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_retries408And429(self) -> None:
        """
        408 and 429 are temporary too.
        """
        receiver = Receiver([408, 429])
        backend, stub = self.makeBackend(receiver)
        d = backend.sendRecord(callRecords(1)[0])
        for _ in range(3):
            stub.flush()
            self.clock.advance(5)
        stub.flush()
        self.successResultOf(d)
        self.assertEqual(len(receiver.requests), 3)

    def test_givesUpAfterRetries(self) -> None:
        """
        With retries=2 a receiver answering 503 gets three attempts, then the
        record fails with HTTPUnavailable (for the tracker to spool) and no
        timer is left.
        """
        receiver = Receiver([503] * 10)
        backend, stub = self.makeBackend(receiver)
        d = backend.sendRecord(callRecords(1)[0])
        for _ in range(5):
            stub.flush()
            self.clock.advance(10)
        failure = self.failureResultOf(d, HTTPUnavailable)
        self.assertEqual(failure.value.code, 503)
        self.assertEqual(len(receiver.requests), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_permanentRefusalFailsAtOnce(self) -> None:
        """
        A 400 (or 404, 409...) is not retried by the backend: the record
        fails at once with HTTPRejected, which keeps it in the tracker's
        spool rather than dropping it.
        """
        for code in (400, 404, 409, 422):
            receiver = Receiver([code])
            backend, stub = self.makeBackend(receiver)
            d = backend.sendRecord(callRecords(1)[0])
            stub.flush()
            self.assertEqual(self.failureResultOf(d, HTTPRejected).value.code, code)
            self.assertEqual(len(receiver.requests), 1)
            self.assertEqual(self.clock.getDelayedCalls(), [])
        self.flushLoggedErrors()

    def test_connectionErrorsRetried(self) -> None:
        """
        A connection error is retried like a 503.
        """
        attempts: list[bytes] = []

        class Refusing:
            def post(self, url: str, data: bytes, headers: dict) -> Any:
                attempts.append(data)
                return fail(ConnectionRefusedError())

        backend = HTTPBackend(self.clock, URL, client=Refusing(), retries=1)
        self.successResultOf(backend.ready())
        d = backend.sendRecord(callRecords(1)[0])
        self.assertEqual(len(attempts), 1)
        self.clock.advance(0.5)
        self.assertEqual(len(attempts), 2)
        self.failureResultOf(d, ConnectionRefusedError)

    def test_cancelStopsRetrying(self) -> None:
        """
        Cancelling the send (the tracker's send timeout) while waiting for a
        retry cancels the timer: no further attempt, nothing scheduled.
        """
        receiver = Receiver([503] * 10)
        backend, stub = self.makeBackend(receiver)
        d = backend.sendRecord(callRecords(1)[0])
        stub.flush()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        stub.flush()
        self.assertEqual(len(receiver.requests), 1)

    def test_timeout(self) -> None:
        """
        A request without an answer for timeout seconds is cancelled and
        counts as a temporary failure (retried, then failed).
        """

        class Silent:
            def __init__(self) -> None:
                self.cancelled = 0

            def post(self, url: str, data: bytes, headers: dict) -> Any:
                from twisted.internet.defer import Deferred

                def cancel(_: object) -> None:
                    self.cancelled += 1

                return Deferred(cancel)

        silent = Silent()
        backend = HTTPBackend(self.clock, URL, client=silent, timeout=3.0, retries=1)
        self.successResultOf(backend.ready())
        d = backend.sendRecord(callRecords(1)[0])
        self.clock.advance(3.0)
        self.assertEqual(silent.cancelled, 1)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.clock.advance(3.0)
        self.assertEqual(silent.cancelled, 2)
        self.failureResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closedBackend(self) -> None:
        """
        Records sent before ready() or after close() fail with
        HTTPBackendClosed; close() cancels a send waiting for its retry.
        """
        receiver = Receiver([503] * 10)
        stub = StubTreq(receiver)
        backend = HTTPBackend(self.clock, URL, client=stub)
        self.failureResultOf(backend.sendRecord(callRecords(1)[0]), HTTPBackendClosed)
        self.successResultOf(backend.ready())
        d = backend.sendRecord(callRecords(1)[0])
        stub.flush()
        self.successResultOf(backend.close())
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.failureResultOf(backend.sendRecord(callRecords(1)[0]), HTTPBackendClosed)


class HTTPServerTests(TestCase):
    """
    The backend against a real twisted.web server on 127.0.0.1.
    """

    timeout = 60

    def startServer(self, receiver: Receiver) -> str:
        site = Site(receiver)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}/cdr"

    @inlineCallbacks
    def test_deliversThroughAPersistentConnection(self):  # type: ignore[no-untyped-def]
        """
        Records reach the server as JSON with their Idempotency-Key; two 503s
        are retried through; all requests share one connection (one client
        port), and close() closes it (trial finds no open socket after).
        """
        receiver = Receiver([503, 503])
        url = self.startServer(receiver)
        backend = HTTPBackend(reactor, url, retryDelay=0.05)
        yield backend.ready()
        records = callRecords(1) + callRecords(2)
        for record in records:
            yield backend.sendRecord(record)
        yield backend.close()
        self.assertEqual(len(receiver.requests), len(records) + 2)
        self.assertEqual([r.key for r in receiver.requests][:3], [records[0]["record_id"]] * 3)
        self.assertEqual([json.loads(r.body) for r in receiver.accepted()], records)
        self.assertEqual(len({r.clientPort for r in receiver.requests}), 1)
        # Let the server side see the close before trial checks for sockets.
        yield deferLater(reactor, 0.05, lambda: None)

    @inlineCallbacks
    def test_trackerThroughOutage(self):  # type: ignore[no-untyped-def]
        """
        Driven by the accounting tracker, records made while the server
        answers 503 (longer than the backend's own retries) are spooled and
        delivered later, in order; counted by Idempotency-Key each record
        is there exactly once with the same body every time it was sent.
        """
        receiver = Receiver([503] * 8)
        url = self.startServer(receiver)
        backend = HTTPBackend(reactor, url, retries=1, retryDelay=0.01)
        tracker = AccountingTracker(
            [("http", backend)],
            reactor,
            self.mktemp(),
            retryInitial=0.02,
            retryMax=0.1,
            stopTimeout=2.0,
        )
        tracker.installSignalHandler = lambda *a, **k: False  # type: ignore[method-assign]
        tracker.startService()
        records = [r for n in range(5) for r in callRecords(n)]
        for record in records:
            tracker.emit(record)
        delivery = tracker.deliveries[0]
        deadline = time.monotonic() + 20
        while delivery.backlog:
            self.assertLess(time.monotonic(), deadline, f"{delivery.backlog} records stuck")
            yield deferLater(reactor, 0.02, lambda: None)
        yield tracker.stopService()
        self.assertGreater(delivery.failures, 0)
        self.assertEqual([json.loads(r.body) for r in receiver.accepted()], records)
        bodies: dict[str | None, set[bytes]] = {}
        for r in receiver.requests:
            bodies.setdefault(r.key, set()).add(r.body)
        self.assertEqual({len(b) for b in bodies.values()}, {1})
        yield deferLater(reactor, 0.05, lambda: None)
