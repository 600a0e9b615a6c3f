"""
Tests for L{keepsip.service}: the service tree wired together — proxy,
keepalive, reapers and accounting — on a fake transport and a clock.
"""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause

from keepsip.testing import ALICE, BOB, SDP, answer, invite

from ._proxy import ProxyHarness, keepAliveThenFallSilent, startReapers, stopReapers


class AccountingWiringTests(SynchronousTestCase):
    """
    A call through the service produces rated records in the configured
    backend, whatever way it ends.
    """

    def setUp(self):
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={self.cdr},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            reap="require",
            tariffs={
                "currency": "EUR",
                "default": {"fixed": "0.10", "per_minute": "0.60", "increments": "60/60"},
            },
        )
        self.proxy.service.accounting.startService()
        startReapers(self.proxy)

    def tearDown(self):
        stopReapers(self.proxy)
        self.proxy.service.accounting.stopService()

    def records(self):
        # Past the group-commit window.
        self.proxy.clock.advance(0.01)
        with open(self.cdr) as f:
            return [json.loads(line) for line in f]

    def callUp(self):
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.sent()
        return atBob

    def test_keepaliveTimeoutRecords(self):
        """
        A call kept alive twice and then silent yields start, two interims
        and a stop with end cause keepalive-timeout, billed until the last
        keepalive (60 s: two minutes at 60/60 plus the fixed fee).
        """
        self.callUp()
        keepAliveThenFallSilent(self.proxy)
        records = self.records()
        self.assertEqual([r["type"] for r in records], ["start", "interim", "interim", "stop"])
        stop = records[-1]
        self.assertEqual(stop["end_cause"], EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual(stop["duration_ms"], 60000)
        self.assertEqual(stop["keepalive"]["count"], 2)
        self.assertEqual(stop["charge"]["currency"], "EUR")
        self.assertEqual(stop["charge"]["fixed"], "0.10")
        self.assertEqual(stop["charge"]["time"], "0.60")
        self.assertEqual(len({r["record_id"] for r in records}), 4)

    def test_rejectedAttemptHasStopOnly(self):
        """
        An unanswered attempt (486) yields exactly one stop record, cause
        rejected, charge zero.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 486, "Busy Here"), BOB)
        [stop] = self.records()
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.REJECTED))
        self.assertEqual(stop["charge"]["total"], "0.00")

    def test_shutdownEndsOpenCalls(self):
        """
        Stopping keepsip ends the calls still up with cause shutdown, and
        their stop records reach the backend.
        """
        self.callUp()
        self.proxy.clock.advance(90)
        self.assertEqual(self.proxy.service.endAllDialogs(EndCause.SHUTDOWN), 1)
        stop = self.records()[-1]
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.SHUTDOWN))
        self.assertEqual(stop["duration_ms"], 90000)
        self.assertEqual(len(self.proxy.service.store), 0)
