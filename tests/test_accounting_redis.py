"""
Tests for L{keepsip.accounting.redis}: the C{redis} backend against a real
C{redis-server} started on a loopback port, and driven by the accounting
tracker through a Redis crash.
"""

from __future__ import annotations

import json
import time
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from keepsip.accounting.plugin import availableBackends
from keepsip.accounting.redis import RedisBackend, RedisUnavailable
from keepsip.accounting.spool import encodeRecord
from keepsip.accounting.tracker import AccountingTracker
from keepsip.dialog.model import EndCause
from keepsip.interfaces import IAccountingBackend, IAccountingBackendFactory
from keepsip.testing import answerDialog, callRecords, endDialog, makeDialog
from tests._servers import RedisServer


class RedisBackendTests(SynchronousTestCase):
    """
    The backend and its plugin without a server.
    """

    def test_interfaces(self) -> None:
        """
        The plugin provides IAccountingBackendFactory and makes an
        IAccountingBackend.
        """
        factory = availableBackends()["redis"]
        self.assertTrue(verifyObject(IAccountingBackendFactory, factory))
        backend = factory.makeBackend({"host": "127.0.0.1", "port": "6379"}, Clock())
        self.assertTrue(verifyObject(IAccountingBackend, backend))

    def test_arguments(self) -> None:
        """
        host and port are required, db, stream and timeout have defaults,
        and a bad value is refused naming the argument.
        """
        factory = availableBackends()["redis"]
        self.assertEqual(
            factory.argumentFormat, "host=H,port=P[,db=N][,stream=KEY][,timeout=SECONDS]"
        )
        backend = factory.makeBackend({"host": "redis.example", "port": "6380"}, Clock())
        self.assertEqual(
            (backend.host, backend.port, backend.db, backend.stream, backend.timeout),
            ("redis.example", 6380, 0, "keepsip:cdr", 10.0),
        )
        backend = factory.makeBackend(
            {"host": "h", "port": "1", "db": "3", "stream": "cdr:x"}, Clock()
        )
        self.assertEqual((backend.db, backend.stream), (3, "cdr:x"))
        self.assertEqual(backend.recordsKey, "cdr:x:records")
        self.assertEqual(backend.callKey("c1@h"), "cdr:x:call:c1@h")
        for args, name in [
            ({"host": "h"}, "'port'"),
            ({"host": "h", "port": "70000"}, "port="),
            ({"host": "h", "port": "1", "db": "-1"}, "db="),
            ({"host": "h", "port": "1", "colour": "red"}, "'colour'"),
        ]:
            e = self.assertRaises(ValueError, factory.makeBackend, args, Clock())
            self.assertIn(name, str(e))

    def test_constructorDoesNoIO(self) -> None:
        """
        Making a backend (as option validation does) connects nowhere and
        schedules nothing; closing a never-started backend succeeds.
        """
        memory = MemoryReactorClock()
        backend = RedisBackend(memory, "127.0.0.1", 6379)
        self.assertEqual((memory.tcpClients, memory.getDelayedCalls()), ([], []))
        self.successResultOf(backend.close())

    def test_sendBeforeReady(self) -> None:
        """
        A record sent before ready() fails at once (the tracker keeps it).
        """
        backend = RedisBackend(Clock(), "127.0.0.1", 6379)
        self.failureResultOf(backend.sendRecord(callRecords(1)[0]), RedisUnavailable)


class RedisServerTests(TestCase):
    """
    The backend against a real redis-server.
    """

    timeout = 60

    def setUp(self) -> None:
        self.server = RedisServer(self.mktemp())
        self.server.start()
        self.addCleanup(self.server.stop)

    @inlineCallbacks
    def startBackend(self, **kw: Any):  # type: ignore[no-untyped-def]
        backend = RedisBackend(reactor, "127.0.0.1", self.server.port, timeout=5.0, **kw)
        self.addCleanup(backend.close)
        yield backend.ready()
        return backend

    def streamRecords(self, stream: str = "keepsip:cdr") -> list[tuple[str, str]]:
        """
        The stream as C{(field, value)} of each entry, oldest first.
        """
        entries = self.server.command("XRANGE", stream, "-", "+")
        return [(fields[0], fields[1]) for _, fields in entries]

    @inlineCallbacks
    def test_recordsInOrderWithTheSameJSON(self):  # type: ignore[no-untyped-def]
        """
        Records arrive in the stream in the order sent, each as one field
        C{record} holding the jsonl line's JSON byte for byte; the call hash
        holds the call's start, latest interim and stop.
        """
        backend = yield self.startBackend()
        records = callRecords(1) + callRecords(2)
        for record in records:
            yield backend.sendRecord(record)
        self.assertEqual(
            self.streamRecords(),
            [("record", encodeRecord(r)[:-1].decode("utf-8")) for r in records],
        )
        call = self.server.command("HGETALL", "keepsip:cdr:call:call-1@example.com")
        fields = dict(zip(call[::2], call[1::2], strict=True))
        self.assertEqual(sorted(fields), ["interim", "start", "stop"])
        self.assertEqual(json.loads(fields["stop"]), records[2])

    @inlineCallbacks
    def test_replayedRecordNotDuplicated(self):  # type: ignore[no-untyped-def]
        """
        Sending a record_id again succeeds without adding a second entry;
        the records hash maps the id to the one entry.
        """
        backend = yield self.startBackend(stream="s")
        start, interim, stop = callRecords(7)
        yield backend.sendRecord(start)
        yield backend.sendRecord(interim)
        yield backend.sendRecord(start)
        yield backend.sendRecord(interim)
        yield backend.sendRecord(stop)
        ids = [json.loads(v)["record_id"] for _, v in self.streamRecords("s")]
        self.assertEqual(ids, [start["record_id"], interim["record_id"], stop["record_id"]])
        entry = self.server.command("HGET", "s:records", start["record_id"])
        self.assertEqual(self.server.command("XRANGE", "s", "-", "+")[0][0], entry)

    @inlineCallbacks
    def test_database(self):  # type: ignore[no-untyped-def]
        """
        db=N selects that database: the stream is there, not in db 0.
        """
        backend = yield self.startBackend(db=3)
        yield backend.sendRecord(callRecords(1)[0])
        self.assertEqual(self.server.command("XLEN", "keepsip:cdr"), 0)
        self.assertEqual(self.server.command("XLEN", "keepsip:cdr", db=3), 1)

    @inlineCallbacks
    def test_reconnects(self):  # type: ignore[no-untyped-def]
        """
        While redis-server is down records fail at once; after it is back on
        the same port the backend reconnects by itself and records go in.
        """
        backend = yield self.startBackend()
        start, interim, stop = callRecords(1)
        yield backend.sendRecord(start)
        self.server.kill()
        yield deferLater(reactor, 0.1, lambda: None)
        failure = yield backend.sendRecord(interim).addCallbacks(lambda _: None, lambda f: f.value)
        self.assertIsNotNone(failure, "a record was accepted while Redis was down")
        self.server.start()
        deadline = time.monotonic() + 20
        while True:
            result = yield backend.sendRecord(interim).addCallbacks(lambda _: True, lambda _: False)
            if result:
                break
            self.assertLess(time.monotonic(), deadline, "the backend did not reconnect in 20 s")
            yield deferLater(reactor, 0.1, lambda: None)
        yield backend.sendRecord(stop)
        # Nothing persisted across the crash in this server: only what came after.
        ids = [json.loads(v)["record_id"] for _, v in self.streamRecords()]
        self.assertEqual(ids, [interim["record_id"], stop["record_id"]])


class RedisCrashTests(TestCase):
    """
    The issue's test: redis-server dies in the middle of 200 calls and comes
    back; every record arrives exactly once.
    """

    timeout = 120

    @inlineCallbacks
    def test_exactlyOnceAcrossACrash(self):  # type: ignore[no-untyped-def]
        """
        The tracker delivers 200 calls' start and stop records to Redis;
        redis-server is SIGKILLed after call 100 (with appendfsync always,
        so what it acknowledged survives) and restarted on the same port
        after call 150. In the end the stream holds all 400 records, each
        once, in the order made, and the tracker saw failures in between
        (the outage really happened) and has nothing left to send.
        """
        server = RedisServer(self.mktemp(), persistent=True)
        server.start()
        self.addCleanup(server.stop)
        backend = RedisBackend(reactor, "127.0.0.1", server.port, timeout=2.0)
        tracker = AccountingTracker(
            [("redis", backend)],
            reactor,
            self.mktemp(),
            sendTimeout=5.0,
            retryInitial=0.05,
            retryMax=0.5,
            stopTimeout=2.0,
        )
        tracker.installSignalHandler = lambda *a, **k: False  # type: ignore[method-assign]
        tracker.startService()
        self.addCleanup(tracker.stopService)
        delivery = tracker.deliveries[0]
        expected: list[str] = []
        original = tracker.emit

        def emit(record: dict[str, Any]) -> None:
            expected.append(record["record_id"])
            original(record)

        tracker.emit = emit  # type: ignore[method-assign]
        originalLine = tracker.emitLine

        def emitLine(line: bytes) -> None:
            # Records the tracker makes straight as their lines.
            expected.append(json.loads(line)["record_id"])
            originalLine(line)

        tracker.emitLine = emitLine  # type: ignore[method-assign]
        deliveredBeforeCrash = 0
        for number in range(200):
            dialog = makeDialog(number, reactor.seconds())
            tracker.dialogCreated(dialog)
            answerDialog(dialog, reactor.seconds())
            tracker.dialogConfirmed(dialog)
            endDialog(dialog, reactor.seconds())
            tracker.dialogTerminated(dialog, EndCause.CALLER_BYE, {"caller": "BYE"})
            if number == 100:
                deliveredBeforeCrash = delivery.sent
                server.kill()
            elif number == 150:
                server.start()
            yield deferLater(reactor, 0.005, lambda: None)
        deadline = time.monotonic() + 60
        while delivery.backlog:
            self.assertLess(time.monotonic(), deadline, f"{delivery.backlog} records stuck")
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(len(expected), 400)
        self.assertGreater(deliveredBeforeCrash, 0)
        self.assertLess(deliveredBeforeCrash, 400)
        self.assertGreater(delivery.failures, 0)
        entries = server.command("XRANGE", "keepsip:cdr", "-", "+")
        ids = [json.loads(fields[1])["record_id"] for _, fields in entries]
        self.assertEqual(len(ids), len(set(ids)), "a record is in the stream twice")
        self.assertEqual(ids, expected)
        self.assertEqual(server.command("HLEN", "keepsip:cdr:records"), 400)
