"""
Real phones behind an edge (issue 12, test b): two C{baresip} instances on
loopback, Alice behind a keepsip edge (her outbound proxy), Bob at the core.
Alice is killed with SIGKILL mid-call: the edge's keepalives stop once her
media is gone, and Bob must get the core's BYE within media-timeout +
interval × tolerance + the ticks; the core's record bills until the last
keepalive.
"""

from __future__ import annotations

import random
import time

from twisted.internet.defer import inlineCallbacks

from tests.integration._baresip import BaresipPhones
from tests.integration._harness import HOST, IntegrationTestCase
from tests.integration.test_accounting import AccountedKeepsipMixin, readRecords, stops

INTERVAL = 2.0
TOLERANCE = 2.0
TICK = 0.5
MEDIA_TIMEOUT = 3.0


class BaresipBehindEdgeTests(BaresipPhones, AccountedKeepsipMixin, IntegrationTestCase):
    timeout = 90

    @inlineCallbacks
    def test_killedPhoneBehindEdge(self):  # type: ignore[no-untyped-def]
        """
        Alice (behind the edge) calls Bob (at the core); after 4 s of audio
        both ways (twice the core's interval: at least one keepalive) Alice
        is SIGKILLed. Bob's call closes within media-timeout + interval ×
        tolerance + both ticks (+1 s scheduling slack) of the kill; the
        core's record says keepalive-timeout and bills until the edge's
        last keepalive, which came after the answer and no later than
        media-timeout + the edge's tick after the kill; the edge's own
        record says the phone's media was gone, with measured volume.
        """
        base = random.randrange(42000, 58000, 200)
        bob, bobControl, bobPort = yield self.startPhone(
            "bob", base + 100, f"<sip:bob@{HOST}>;regint=0;answermode=auto"
        )
        timers = ("--keepalive-interval", str(INTERVAL), "--keepalive-tolerance",
                  str(TOLERANCE), "--reaper-tick", str(TICK))
        core, coreCdr = yield self.startAccountedKeepsip(
            "--route", f"*=sip:{HOST}:{bobPort}", *timers, "--domain", "example.com",
            "--require-keepalives-from", HOST, "--dialog-store", "memory",
        )
        edge, edgeCdr = yield self.startAccountedKeepsip(
            "--role", "edge", "--core", f"sip:{core.address}", *timers,
            "--media-timeout", str(MEDIA_TIMEOUT), "--rtp-address", HOST,
            "--rtp-ports", f"{base}-{base + 99}", "--dialog-store", "memory",
        )
        alice, aliceControl, _ = yield self.startPhone(
            "alice",
            base + 140,
            f'<sip:alice@example.com>;outbound="sip:{edge.address}";regint=0;answermode=manual',
        )
        aliceControl.command("dial", "sip:bob@example.com")
        answered = yield aliceControl.waitFor("CALL_ESTABLISHED")
        yield bobControl.waitFor("CALL_ESTABLISHED")
        yield self.sleep(4)
        killedAt = time.time()
        alice.signal("KILL")
        closedAt = yield bobControl.waitFor("CALL_CLOSED")
        yield self.sleep(0.5)
        output = (core.output()[-3000:], edge.output()[-3000:])
        self.assertLessEqual(
            closedAt - killedAt, MEDIA_TIMEOUT + INTERVAL * TOLERANCE + 2 * TICK + 1.0, output
        )
        [stop] = stops(readRecords(coreCdr))
        self.assertEqual(stop["end_cause"], "keepalive-timeout", stop)
        last = stop["keepalive"]["last_epoch"]
        self.assertGreaterEqual(stop["keepalive"]["count"], 2, stop)
        self.assertEqual(stop["end_epoch"], last, stop)
        self.assertGreater(last, answered)
        self.assertLessEqual(last, killedAt + MEDIA_TIMEOUT + TICK + 0.5, stop)
        [edgeStop] = stops(readRecords(edgeCdr))
        self.assertIn("media gone", edgeStop["end_detail"]["keepalives"], edgeStop)
        measured = edgeStop["volume"]["measured"]["audio"]
        self.assertGreater(measured["caller-to-callee"]["packets"], 100, edgeStop)
        self.assertGreater(measured["callee-to-caller"]["packets"], 100, edgeStop)
