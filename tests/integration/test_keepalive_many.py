"""
Many calls kept alive from one source address (issue 12 item 5): an edge
proxy, an SBC or a PBX sends the keepalives of all its calls from one
address, and keepsip's flood protection is per dialog, so with its default
limits none of them is refused.

One SIPp caller (one address) sets up 5,000 calls through keepsip to a SIPp
callee, each sending a keepalive every 20 s and hanging up itself after
the third; all 5,000 are up at once, and their keepalives arrive at about
250/s from that one address.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks

from tests.integration._harness import SippResult
from tests.integration.test_accounting import describeRecords, readRecords, stops, waitForRecords
from tests.integration.test_keepalive import KeepaliveTestCase

CALLS = 5000
RATE = 50
INTERVAL = 30
KEEPALIVES = 3


class OneSourceManyCallsTests(KeepaliveTestCase):
    """
    One source keeps 5,000 calls alive through keepsip with its default
    rate limits.
    """

    timeout = 480

    @inlineCallbacks
    def test_fiveThousandCallsFromOneSource(self):  # type: ignore[no-untyped-def]
        """
        5,000 calls from one SIPp address at 50 calls/s (all 5,000 up at
        once for a while), each with three keepalives 30 s apart, then the
        caller's BYE 30 s after the last (keepsip: --keepalive-interval 30, every other keepalive setting its
        default, so the per-source ceiling and the reap mode are the
        defaults): every call succeeds on both sides with no 503, keepsip sends no BYE of its own (the callers' BYEs
        are the only ones the callee sees), and the records say caller-bye
        with three counted keepalives for each of the 5,000 Call-IDs.
        Today's (old) per-source limit of 100/s refuses most of them with
        503.
        """
        callee = self.startSipp("uas_keepalive.xml", "-m", str(CALLS), timeout=440)
        yield callee.whenListening()
        keepsip, cdr = yield self.startAccountedKeepsip(
            "--route",
            f"*=sip:{callee.address}",
            "--keepalive-interval",
            str(INTERVAL),
            "--dialog-store",
            "memory",
        )
        caller: SippResult = yield self.startCaller(
            "uac_keepalive_bye_direct.xml",
            keepsip,
            CALLS,
            "-r",
            str(RATE),
            "-l",
            str(CALLS + 100),
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            str(KEEPALIVES),
            timeout=420,
        ).result()
        answered: SippResult = yield callee.result()
        # Under this load a few messages may be retransmitted (a 200 to a
        # BYE late by 500 ms on a busy machine); no call may fail.
        for result in (caller, answered):
            self.assertEqual(
                (result.exitCode, result.successfulCalls, result.failedCalls),
                (0, CALLS, 0),
                result.describe()[:3000] + "\n--- keepsip ---\n" + keepsip.output()[-3000:],
            )
            self.assertEqual(result.unexpectedMessages, 0, result.describe())
        self.assertTrue(keepsip.running, keepsip.output()[-3000:])
        self.assertEqual(caller.received(503), [])
        # One BYE per call (a late 200 may have made the caller repeat one).
        self.assertEqual(
            len({tuple(bye.headers("Call-ID")) for bye in answered.received("BYE")}), CALLS
        )
        self.assertEqual(caller.received("BYE"), [])
        records = yield waitForRecords(
            self.reactor,
            lambda: readRecords(cdr),
            lambda rs: len(stops(rs)) >= CALLS,
            30,
            f"{CALLS} stop records",
        )
        stopRecords = stops(records)
        self.assertEqual(len({r["call_id"] for r in stopRecords}), CALLS)
        wrong = [
            r
            for r in stopRecords
            if (r["end_cause"], r["keepalive"]["count"]) != ("caller-bye", KEEPALIVES)
        ]
        self.assertEqual(wrong, [], describeRecords(wrong[:5]))
        self.assertTrue(keepsip.running, keepsip.output()[-3000:])
