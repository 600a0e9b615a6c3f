"""
keepsip's shutdown, end to end (issue 8 item 9): calls placed by a real SIPp
through a real keepsip process, which is sent SIGTERM with them all up; its
jsonl file must hold a stop record for every call when it has exited.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks

from tests.integration._harness import IntegrationTestCase
from tests.integration.test_accounting import (
    AccountedKeepsipMixin,
    describeRecords,
    readRecords,
    waitForRecords,
)

#: Calls held up when keepsip is stopped, and how fast SIPp places them.
CALLS = 1000
RATE = 250


class ShutdownTests(AccountedKeepsipMixin, IntegrationTestCase):
    timeout = 120

    @inlineCallbacks
    def test_sigtermWritesEveryStopRecord(self):  # type: ignore[no-untyped-def]
        """
        With L{CALLS} answered calls up (SIPp holds each for ten minutes),
        SIGTERM makes keepsip end them all with cause C{shutdown} and exit
        within its --shutdown-timeout; after the exit the jsonl file holds
        exactly one start and one stop record per call (before the fix only
        the 100 records of the batch in flight were delivered, the rest
        waited in the spool for the next start).
        """
        callee = self.startSipp("uas.xml", timeout=100)
        yield callee.whenListening()
        keepsip, cdr = yield self.startAccountedKeepsip(
            "--route", f"*=sip:{callee.address}", "--shutdown-timeout", "20",
            # Calls kept in a persistent dialog store (the default) have no
            # stop record at a stop: with memory they are ended and billed.
            "--dialog-store", "memory",
        )
        caller = self.startSipp(
            "uac.xml",
            "-m",
            str(CALLS),
            "-r",
            str(RATE),
            "-l",
            str(CALLS),
            "-d",
            "600000",
            remote=keepsip.address,
            timeout=100,
        )
        yield waitForRecords(
            self.reactor,
            lambda: readRecords(cdr),
            lambda rs: sum(r["type"] == "start" for r in rs) >= CALLS,
            60,
            f"{CALLS} start records",
        )
        started = self.reactor.seconds()
        code = yield keepsip.stop()
        took = self.reactor.seconds() - started
        caller.signal("KILL")
        callee.signal("KILL")
        records = readRecords(cdr)
        stops = [r for r in records if r["type"] == "stop"]
        # Ended by its SIGTERM (twist re-raises it: -15), not by the
        # SIGKILL the harness sends after 5 s.
        self.assertIn(code, (0, -15), keepsip.output()[-3000:])
        self.assertEqual(len(stops), CALLS, describeRecords(records[-20:]))
        self.assertEqual({r["end_cause"] for r in stops}, {"shutdown"})
        self.assertEqual(len({r["call_id"] for r in stops}), CALLS)
        self.assertLess(took, 20)
