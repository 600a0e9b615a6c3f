"""
Real phones through keepsip's built-in relay: two C{baresip} instances on
loopback, Alice calling Bob through keepsip (C{--media-relay builtin
--media-timeout 3}). Alice is killed with SIGKILL mid-call: Bob must get
keepsip's BYE within the media timeout and one reaper tick, and the record
must bill until Alice's last packet.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath

from keepsip.media.model import MediaRelayUnavailable
from keepsip.media.rtpengine import NgClient
from tests.helpers import freeUDPPort, requireExternal

from ._baresip import BaresipPhones
from ._harness import HOST, IntegrationTestCase

MEDIA_TIMEOUT = 3.0
REAPER_TICK = 0.5


class BaresipMediaTimeoutTests(BaresipPhones, IntegrationTestCase):
    """
    Two baresips through keepsip with the built-in relay.
    """

    @inlineCallbacks
    def killCaller(self, relay: list[str], base: int):  # type: ignore[no-untyped-def]
        """
        Alice (baresip) calls Bob (baresip, auto-answer) through keepsip
        with the relay options C{relay}; after 3 s of audio both ways Alice
        is SIGKILLed; wait for Bob's call to close.

        @return: C{(stop record, answered, killed, closed)} times.
        """
        cdr = os.path.abspath(self.mktemp())
        bob, bobControl, bobPort = yield self.startPhone("bob", base + 100)
        alice, aliceControl, _ = yield self.startPhone("alice", base + 140)
        keepsip = yield self.startKeepsip(
            "--route", f"*=sip:{HOST}:{bobPort}",
            *relay,
            "--media-timeout", str(MEDIA_TIMEOUT),
            "--reaper-tick", str(REAPER_TICK),
            "--accounting", f"jsonl:path={cdr},fsync=never",
            "--accounting-spool", os.path.abspath(self.mktemp()),
        )  # fmt: skip
        self.keepsip = keepsip
        aliceControl.command("dial", f"sip:bob@{keepsip.address}")
        answered = yield aliceControl.waitFor("CALL_ESTABLISHED")
        yield bobControl.waitFor("CALL_ESTABLISHED")
        yield self.sleep(3)
        killedAt = time.time()
        alice.signal("KILL")
        closedAt = yield bobControl.waitFor("CALL_CLOSED")
        yield self.sleep(0.5)
        self.assertEqual(bob.exitCode, None)
        with open(cdr) as f:
            records = [json.loads(line) for line in f]
        [stop] = [r for r in records if r["type"] == "stop"]
        return stop, answered, killedAt, closedAt

    def checkRecord(self, stop: dict[str, Any], answered: float, killedAt: float, granularity: float) -> None:
        self.assertEqual(stop["end_cause"], "media-timeout", stop)
        detail = stop["end_detail"]
        self.assertEqual(detail["silent"], "caller", detail)
        self.assertEqual(detail["callee"], "answered", detail)
        self.assertIn(detail["caller"], ("refused", "unreachable"), detail)
        self.assertLessEqual(stop["end_epoch"], killedAt + 0.05)
        self.assertGreater(stop["end_epoch"], killedAt - 0.5 - granularity)
        self.assertGreaterEqual(stop["detected_epoch"] - stop["end_epoch"], MEDIA_TIMEOUT)
        self.assertGreater(stop["duration_ms"], 2500 - 1000 * granularity)
        self.assertLess(abs(stop["answer_epoch"] - answered), 1.0)
        measured = stop["volume"]["measured"]["audio"]
        self.assertEqual(stop["volume"]["source"], "measured")
        self.assertGreater(measured["caller-to-callee"]["packets"], 100)
        self.assertGreater(measured["callee-to-caller"]["packets"], 100)

    @inlineCallbacks
    def test_killedPhoneEndsCall(self):  # type: ignore[no-untyped-def]
        """
        With the built-in relay: Bob gets keepsip's BYE (his call closes)
        within media-timeout + one reaper tick (+ 1 s for process
        scheduling on a loaded machine) of Alice's kill; the stop record
        says media-timeout, caller quiet, bills until Alice's last packet
        (within 0.5 s before the kill) and carries measured volume both
        ways.
        """
        base = random.randrange(42000, 58000, 200)
        stop, answered, killedAt, closedAt = yield self.killCaller(
            ["--media-relay", "builtin", "--rtp-address", HOST, "--rtp-ports", f"{base}-{base + 99}"],
            base,
        )
        self.assertLessEqual(
            closedAt - killedAt, MEDIA_TIMEOUT + REAPER_TICK + 1.0, self.keepsip.output()
        )
        self.checkRecord(stop, answered, killedAt, 0.0)

    test_killedPhoneEndsCall.timeout = 60  # type: ignore[attr-defined]

    @inlineCallbacks
    def test_killedPhoneEndsCallRtpengine(self):  # type: ignore[no-untyped-def]
        """
        The same through a real rtpengine (userspace, on loopback), whose
        statistics give whole seconds: Bob's call closes within
        media-timeout + tick + 1 s (rtpengine's granularity) + 1 s, and the
        record bills until Alice's last packet to the second.
        """
        binary = shutil.which("rtpengine") or (
            "/usr/sbin/rtpengine" if os.path.exists("/usr/sbin/rtpengine") else None
        )
        if binary is None:
            requireExternal("rtpengine")
        assert binary is not None
        base = random.randrange(42000, 58000, 200)
        ngPort = freeUDPPort(HOST)
        workdir = FilePath(self.mktemp())
        workdir.makedirs()
        engine = self._spawn(
            "rtpengine",
            [
                binary, "--foreground", "--log-stderr", "--config-file=none",
                "--table=-1",  # no kernel forwarding: userspace only
                f"--interface={HOST}", f"--listen-ng={HOST}:{ngPort}",
                f"--port-min={base}", f"--port-max={base + 99}",
                "--num-threads=1", "--delete-delay=0", "--log-level=5",
            ],
            workdir.path,
            60,
        )  # fmt: skip
        client = NgClient(self.reactor, HOST, ngPort, timeout=0.5)
        self.addCleanup(client.close)
        for _ in range(40):
            try:
                yield client.command({"command": "ping"})
                break
            except MediaRelayUnavailable:
                if not engine.running:
                    break
        else:
            self.fail("rtpengine did not answer ping")
        if not engine.running:
            self.fail(f"rtpengine exited: {engine.output()[-2000:]!r}")
        stop, answered, killedAt, closedAt = yield self.killCaller(
            ["--media-relay", f"rtpengine:host={HOST},port={ngPort}"], base
        )
        self.assertLessEqual(
            closedAt - killedAt, MEDIA_TIMEOUT + REAPER_TICK + 2.0, self.keepsip.output()
        )
        self.checkRecord(stop, answered, killedAt, 1.0)

    test_killedPhoneEndsCallRtpengine.timeout = 60  # type: ignore[attr-defined]
