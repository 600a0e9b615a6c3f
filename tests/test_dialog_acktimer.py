"""
Tests for L{keepsip.dialog.acktimer}: a 2xx never ACKed ends the call after
64 x T1 with BYEs to both legs and cause C{ack-timeout} (issue 8 item 9), on
the proxy with a fake network and a clock.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause
from keepsip.sip.message import Request
from keepsip.testing import ALICE, BOB, SDP, ack, answer, invite

from ._proxy import ProxyHarness


class AckTimeoutTests(SynchronousTestCase):
    """
    The whole proxy: a call answered by Bob whose ACK from Alice never
    comes, or comes.
    """

    def setUp(self) -> None:
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={self.cdr},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            timerT1=0.5,
        )
        self.proxy.service.accounting.startService()
        self.addCleanup(self.proxy.service.accounting.stopService)

    def records(self) -> list[dict[str, Any]]:
        self.proxy.clock.advance(0.01)
        with open(self.cdr) as f:
            return [json.loads(line) for line in f]

    def answered(self) -> None:
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.sent()

    def byesWithin(self, seconds: float) -> dict[tuple[str, int], Request]:
        byes: dict[tuple[str, int], Request] = {}
        for _ in range(int(seconds / 0.5)):
            self.proxy.clock.advance(0.5)
            for message, address in self.proxy.sent():
                if isinstance(message, Request) and message.method == "BYE":
                    byes[address] = message
        return byes

    def test_noAckEndsTheCall(self) -> None:
        """
        Without the ACK, nothing happens for 64 x T1 (32 s), then keepsip
        sends BYE to both legs and, once they answer, writes a stop record
        with cause ack-timeout and no talk time; the dialog is gone.
        """
        self.answered()
        self.assertEqual(self.byesWithin(31.5), {})
        self.assertEqual(len(self.proxy.service.ackTimer), 1)
        byes = self.byesWithin(1.0)
        self.assertEqual(set(byes), {ALICE, BOB})
        for address, bye in byes.items():
            self.assertIn("ACK timeout", bye.headers["reason"][0])
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        stop = self.records()[-1]
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.ACK_TIMEOUT))
        self.assertEqual(stop["duration_ms"], 0)
        self.assertEqual(len(self.proxy.service.store), 0)
        self.assertEqual(len(self.proxy.service.ackTimer), 0)
        self.assertEqual(self.proxy.service.ackTimer.expired, 1)

    def test_ackStopsTheTimer(self) -> None:
        """
        With the ACK, the timer is cancelled: no BYE after 64 x T1, the
        call stays up.
        """
        self.answered()
        self.proxy.clock.advance(1.0)
        self.proxy.receive(ack(), ALICE)
        self.assertEqual(len(self.proxy.service.ackTimer), 0)
        self.assertEqual(self.byesWithin(40.0), {})
        self.assertEqual(len(self.proxy.service.store), 1)

    def test_otherAckDoesNotCount(self) -> None:
        """
        An ACK of another dialog (another Call-ID) leaves the timer armed.
        """
        self.answered()
        self.proxy.receive(ack().replace(b"Call-ID: ", b"Call-ID: other-"), ALICE)
        self.assertEqual(len(self.proxy.service.ackTimer), 1)

    def test_byeBeforeAckCancels(self) -> None:
        """
        A call ended otherwise before its ACK (keepsip stops) leaves no
        timer behind.
        """
        self.answered()
        self.proxy.service.endAllDialogs(EndCause.SHUTDOWN)
        self.assertEqual(len(self.proxy.service.ackTimer), 0)
        # Ending the calls at a stop sends its own BYEs (Reason "keepsip
        # stopped"); none comes from the ACK timer afterwards.
        shutdownByes = [
            m for m, _ in self.proxy.sent() if isinstance(m, Request) and m.method == "BYE"
        ]
        self.assertEqual(len(shutdownByes), 2)
        self.assertTrue(all("keepsip stopped" in m.header("reason") for m in shutdownByes))
        # What follows are those BYEs' retransmissions (nobody answers here),
        # never an ACK-timeout BYE.
        later = self.byesWithin(40.0)
        self.assertTrue(all("keepsip stopped" in m.header("reason") for m in later.values()))
