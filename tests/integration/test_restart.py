"""
Calls that outlive keepsip (issue 10): real SIPp calls through a real
keepsip process that is killed with SIGKILL while they are up and started
again on the same SQLite dialog store, the same port and the same call
record file.

  - call A (C{uac_keepalive_bye_direct.xml}) keeps sending keepalives
    through the outage (its INVITE retransmissions reach the new keepsip)
    and ends with its own BYE: it must continue and end normally;
  - call B (C{uac_keepalive.xml}, one keepalive) falls silent before the
    kill; its deadline passes while keepsip is down: the new keepsip must
    BYE both legs at once and bill it once, until its last keepalive.

keepsip runs with a 4 s keepalive interval, tolerance 2 (an 8 s window) and
a 0.5 s reaper tick; the callers send a keepalive every 4 s. Timeline (s):
both calls up at 0; keepalives of A at 4, 8, 12...; B's only one at 4, so
B's deadline is 12. keepsip is killed at 8.5 (A's deadline then 16) and
started again at about 12.5: B has expired while keepsip was down, A has
not, and A's keepalive of 12 reaches the new keepsip as a retransmission.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests.helpers import freeUDPPort
from tests.integration._harness import HOST, IntegrationTestCase, SippResult
from tests.integration.test_accounting import (
    describeRecords,
    readRecords,
    stops,
    waitForRecords,
)
from tests.integration.test_keepalive import KEEPALIVE_REASON

INTERVAL = 4.0
WINDOW = 2 * INTERVAL
OPTIONS = (
    "--keepalive-interval",
    str(INTERVAL),
    "--keepalive-tolerance",
    "2",
    "--reaper-tick",
    "0.5",
)


class KilledAndRestartedTests(IntegrationTestCase):
    timeout = 120

    def startNode(self, directory: FilePath, port: int, calleeAddress: str):  # type: ignore[no-untyped-def]
        return self.startKeepsip(
            "--route",
            f"*=sip:{calleeAddress}",
            "--dialog-store",
            f"sqlite:path={directory.child('dialogs.sqlite3').path}",
            "--accounting",
            f"jsonl:path={directory.child('cdr.jsonl').path}",
            "--accounting-spool",
            directory.child("spool").path,
            *OPTIONS,
            port=port,
        )

    def caller(self, scenario: str, keepsip, keepalives: int):  # type: ignore[no-untyped-def]
        return self.startSipp(
            scenario,
            "-timeout",
            "80s",
            "-timeout_error",
            "-s",
            "bob",
            "-m",
            "1",
            "-recv_timeout",
            "40s",
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            str(keepalives),
            remote=keepsip.address,
            timeout=90,
        )

    def assertCompleted(self, result: SippResult, calls: int = 1) -> None:
        self.assertEqual(
            (result.exitCode, result.successfulCalls, result.failedCalls),
            (0, calls, 0),
            result.describe(),
        )

    @inlineCallbacks
    def test_sigkillThenRestart(self):  # type: ignore[no-untyped-def]
        """
        After SIGKILL and a restart on the same store: the call that keeps
        sending keepalives gets every one answered and ends with its own
        BYE (caller-bye); the call that fell silent gets keepsip's
        keepalive-timeout BYE on both legs right after the restart, and its
        record ends at its last keepalive; each call has exactly one start
        and one stop record (by record id).
        """
        directory = FilePath(self.mktemp())
        directory.makedirs()
        port = freeUDPPort(HOST)
        callee = self.startSipp("uas_keepalive.xml", "-m", "2", timeout=100)
        yield callee.whenListening()
        first = yield self.startNode(directory, port, callee.address)
        living = self.caller("uac_keepalive_bye_direct.xml", first, 5)
        silent = self.caller("uac_keepalive.xml", first, 1)
        yield deferLater(self.reactor, 2 * INTERVAL + 0.5, lambda: None)
        yield first.kill()
        self.assertFalse(first.running)
        # Down until B's deadline (its keepalive at INTERVAL + WINDOW) passed.
        yield deferLater(self.reactor, INTERVAL, lambda: None)
        second = yield self.startNode(directory, port, callee.address)

        livingResult: SippResult = yield living.result()
        silentResult: SippResult = yield silent.result()
        calleeResult: SippResult = yield callee.result()
        self.assertCompleted(livingResult)
        self.assertCompleted(silentResult)
        self.assertCompleted(calleeResult, 2)

        # A: its 5 keepalives all answered 200 (some by the new keepsip),
        # no BYE from keepsip, its own BYE answered.
        self.assertEqual(
            len(livingResult.received(200, cseq="INVITE")), 6, livingResult.describe()
        )
        self.assertEqual(livingResult.received("BYE"), [])
        # B: keepsip's keepalive-timeout BYE on both legs.
        [byeToSilent] = silentResult.received("BYE")
        self.assertEqual(byeToSilent.headers("Reason"), [KEEPALIVE_REASON], byeToSilent.text)
        byesAtCallee = calleeResult.received("BYE")
        self.assertEqual(len(byesAtCallee), 2, calleeResult.describe())
        self.assertEqual(
            sorted(tuple(b.headers("Reason")) for b in byesAtCallee),
            [(), (KEEPALIVE_REASON,)],
        )

        cdr = directory.child("cdr.jsonl")
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: len(stops(rs)) >= 2, 10, "stops"
        )
        unique = {r["record_id"]: r for r in records}.values()
        byCall: dict[str, dict[str, int]] = {}
        for record in unique:
            kinds = byCall.setdefault(record["call_id"], {})
            kinds[record["type"]] = kinds.get(record["type"], 0) + 1
        self.assertEqual(len(byCall), 2, describeRecords(records))
        for kinds in byCall.values():
            self.assertEqual((kinds.get("start"), kinds.get("stop")), (1, 1), describeRecords(records))
        causes = sorted(r["end_cause"] for r in stops(list(unique)))
        self.assertEqual(causes, ["caller-bye", "keepalive-timeout"], describeRecords(records))
        [timedOut] = [r for r in stops(list(unique)) if r["end_cause"] == "keepalive-timeout"]
        self.assertEqual(timedOut["keepalive"]["count"], 1, timedOut)
        self.assertEqual(timedOut["end_epoch"], timedOut["keepalive"]["last_epoch"], timedOut)
        self.assertIn("calls loaded", second.output())
        yield second.stop()
