"""
Several keepsip nodes on one real C{redis-server} (issue 10): calls set up
through one node, that node killed with SIGKILL; a surviving node claims
the calls once their keepalives stop and BYEs both legs of each, and every
call gets exactly one stop record.

keepsip runs with a 4 s keepalive interval, tolerance 2 (an 8 s window), a
0.5 s reaper tick and a 2 s claim lease. The callers (C{uac_keepalive.xml},
one keepalive) send their keepalive at 4 s and then wait for keepsip's BYE.
Node A is killed at 5 s; the calls' deadline is 12 s; a survivor takes them
from 14 s (deadline + lease) on, within a tick.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests._servers import RedisServer
from tests.integration._harness import IntegrationTestCase, SippResult
from tests.integration.test_accounting import describeRecords, readRecords, stops, waitForRecords
from tests.integration.test_keepalive import KEEPALIVE_REASON

INTERVAL = 4.0
CALLS = 3
OPTIONS = ("--keepalive-interval", str(INTERVAL), "--keepalive-tolerance", "2",
           "--reaper-tick", "0.5")


class NodeKilledTests(IntegrationTestCase):
    timeout = 120

    def setUp(self):  # type: ignore[no-untyped-def]
        super().setUp()
        self.redis = RedisServer(self.mktemp())
        self.redis.start()
        self.addCleanup(self.redis.stop)

    def startNode(self, directory: FilePath, calleeAddress: str):  # type: ignore[no-untyped-def]
        directory.makedirs()
        return self.startKeepsip(
            "--route",
            f"*=sip:{calleeAddress}",
            "--dialog-store",
            f"redis:host=127.0.0.1,port={self.redis.port},prefix=cluster,lease=2",
            "--accounting",
            f"jsonl:path={directory.child('cdr.jsonl').path}",
            "--accounting-spool",
            directory.child("spool").path,
            *OPTIONS,
        )

    @inlineCallbacks
    def test_survivorsEndCallsOfKilledNode(self):  # type: ignore[no-untyped-def]
        """
        Three calls through node A of three; A is killed with SIGKILL after
        the calls' keepalive: every caller and the callee get a
        keepalive-timeout BYE from a survivor for each call, and across the
        nodes' record files each call has exactly one start and one stop
        record, ended at its last keepalive, written by a survivor.
        """
        root = FilePath(self.mktemp())
        callee = self.startSipp("uas_keepalive.xml", "-m", str(CALLS), timeout=100)
        yield callee.whenListening()
        nodes = []
        for name in "abc":
            nodes.append((yield self.startNode(root.child(name), callee.address)))
        first = nodes[0]
        callers = [
            self.startSipp(
                "uac_keepalive.xml", "-timeout", "80s", "-timeout_error", "-s", "bob",
                "-m", "1", "-recv_timeout", "40s", "-d", str(int(INTERVAL * 1000)),
                "-set", "keepalives", "1", remote=first.address, timeout=90,
            )
            for _ in range(CALLS)
        ]
        yield deferLater(self.reactor, INTERVAL + 1.0, lambda: None)
        self.assertEqual(len(self.redis.command("ZRANGE", "cluster:keepalive", 0, -1)), CALLS)
        yield first.kill()

        results: list[SippResult] = []
        for caller in callers:
            results.append((yield caller.result()))
        calleeResult: SippResult = yield callee.result()
        for result in results:
            self.assertEqual((result.exitCode, result.successfulCalls), (0, 1), result.describe())
            # One BYE transaction (a retransmission has the same Via).
            byes = {tuple(b.headers("Via")): b for b in result.received("BYE")}
            self.assertEqual(len(byes), 1, "\n\n".join(b.text for b in byes.values()))
            [bye] = byes.values()
            self.assertEqual(bye.headers("Reason"), [KEEPALIVE_REASON], bye.text)
        byesAtCallee = {tuple(b.headers("Via")) for b in calleeResult.received("BYE")}
        self.assertEqual(len(byesAtCallee), CALLS, calleeResult.describe())

        files = [root.child(name).child("cdr.jsonl") for name in "abc"]

        def allRecords():  # type: ignore[no-untyped-def]
            return [r for f in files for r in readRecords(f)]

        records = yield waitForRecords(
            self.reactor, allRecords, lambda rs: len(stops(rs)) >= CALLS, 15, "stops"
        )
        yield deferLater(self.reactor, 1.0, lambda: None)
        records = allRecords()
        kinds: dict[str, list[str]] = {}
        for record in {r["record_id"]: r for r in records}.values():
            kinds.setdefault(record["call_id"], []).append(record["type"])
        self.assertEqual(len(kinds), CALLS, describeRecords(records))
        for types in kinds.values():
            self.assertEqual(
                (types.count("start"), types.count("stop")), (1, 1), describeRecords(records)
            )
        self.assertEqual(len(stops(records)), CALLS, describeRecords(records))
        self.assertEqual(stops(readRecords(files[0])), [], "the killed node wrote a stop")
        for stop in stops(records):
            self.assertEqual(stop["end_cause"], "keepalive-timeout", stop)
            self.assertEqual(stop["end_epoch"], stop["keepalive"]["last_epoch"], stop)
        self.assertEqual(self.redis.command("KEYS", "cluster:dialog:*"), [])
        for node in nodes[1:]:
            yield node.stop()


class RedisRestartedTests(IntegrationTestCase):
    """
    One keepsip on C{--dialog-store redis:...}; redis-server (without
    persistence, so it comes back empty) is killed with SIGKILL while calls
    are being set up and kept alive, and started again on the same port
    while they are still up.
    """

    timeout = 120

    @inlineCallbacks
    def storeErrors(self, port: int):  # type: ignore[no-untyped-def]
        """
        keepsip's C{keepsip_dialog_store_errors_total}, read from its
        metrics endpoint.
        """
        from twisted.web.client import Agent, readBody

        response = yield Agent(self.reactor).request(
            b"GET", f"http://127.0.0.1:{port}/metrics".encode()
        )
        body = (yield readBody(response)).decode()
        for line in body.splitlines():
            if line.startswith("keepsip_dialog_store_errors_total"):
                return float(line.split()[-1])
        self.fail(f"no store error metric in:\n{body}")

    @inlineCallbacks
    def test_nothingLostAcrossRedisRestart(self):  # type: ignore[no-untyped-def]
        """
        Calls set up, kept alive (two keepalives each) and ended by the
        caller's BYE while Redis is down and after it is back are all
        routed (every SIPp call succeeds, none is ended by keepsip); calls
        that fell silent while Redis was down (their expiry cannot be
        claimed) are ended by keepsip with one BYE each once it is back;
        the store errors are counted; every call has exactly one start and
        one stop record (caller-bye or keepalive-timeout); and once the
        calls ended Redis holds none of them.
        """
        redis = RedisServer(self.mktemp())
        redis.start()
        self.addCleanup(redis.stop)
        from tests.helpers import freeTCPPort

        metricsPort = freeTCPPort()
        directory = FilePath(self.mktemp())
        directory.makedirs()
        talking, silent = 12, 3
        calls = talking + silent
        callee = self.startSipp("uas_keepalive.xml", "-m", str(calls), timeout=100)
        yield callee.whenListening()
        node = yield self.startKeepsip(
            "--route", f"*=sip:{callee.address}",
            "--dialog-store", f"redis:host=127.0.0.1,port={redis.port},prefix=outage",
            "--accounting", f"jsonl:path={directory.child('cdr.jsonl').path}",
            "--accounting-spool", directory.child("spool").path,
            "--metrics", f"tcp:{metricsPort}:interface=127.0.0.1",
            "--keepalive-interval", "2", "--keepalive-tolerance", "3", "--reaper-tick", "0.5",
        )
        self.assertEqual((yield self.storeErrors(metricsPort)), 0)
        # Calls 0-3 s after the start, keepalives at +3 s and +6 s, BYE at +9 s.
        caller = self.startSipp(
            "uac_keepalive_bye_direct.xml", "-timeout", "60s", "-timeout_error", "-s", "bob",
            "-m", str(talking), "-r", "4", "-l", str(talking), "-recv_timeout", "20s",
            "-d", "3000", "-set", "keepalives", "2", remote=node.address, timeout=90,
        )
        # One keepalive at +1 s, then silence: deadline about 7.5 s.
        quiet = self.startSipp(
            "uac_keepalive.xml", "-timeout", "60s", "-timeout_error", "-s", "bob",
            "-m", str(silent), "-r", "10", "-l", str(silent), "-recv_timeout", "30s",
            "-d", "1000", "-set", "keepalives", "1", remote=node.address, timeout=90,
        )
        yield deferLater(self.reactor, 1.5, lambda: None)
        redis.kill()
        yield deferLater(self.reactor, 8.5, lambda: None)
        redis.start()
        result: SippResult = yield caller.result()
        self.assertEqual(
            (result.exitCode, result.successfulCalls), (0, talking), result.describe()
        )
        self.assertEqual(result.received("BYE"), [], "keepsip ended a call")
        quietResult: SippResult = yield quiet.result()
        self.assertEqual(
            (quietResult.exitCode, quietResult.successfulCalls), (0, silent),
            quietResult.describe(),
        )
        byes = {tuple(b.headers("Via")) for b in quietResult.received("BYE")}
        self.assertEqual(len(byes), silent, quietResult.describe())
        yield callee.result()
        self.assertGreater((yield self.storeErrors(metricsPort)), 0)

        cdr = directory.child("cdr.jsonl")
        yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: len(stops(rs)) >= calls, 15,
            "stops",
        )
        yield deferLater(self.reactor, 1.0, lambda: None)
        records = readRecords(cdr)
        kinds: dict[str, list[str]] = {}
        for record in {r["record_id"]: r for r in records}.values():
            kinds.setdefault(record["call_id"], []).append(record["type"])
        self.assertEqual(len(kinds), calls, describeRecords(records))
        for types in kinds.values():
            self.assertEqual(
                (types.count("start"), types.count("stop")), (1, 1), describeRecords(records)
            )
        causes = sorted(stop["end_cause"] for stop in stops(records))
        self.assertEqual(
            causes, ["caller-bye"] * talking + ["keepalive-timeout"] * silent,
            describeRecords(records),
        )
        yield deferLater(self.reactor, 1.0, lambda: None)
        self.assertEqual(redis.command("KEYS", "outage:dialog:*"), [])
        yield node.stop()
