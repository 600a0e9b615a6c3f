"""
Continue-call keepalives (patent WO 00/33550) end to end: real SIPp user
agents through a real keepsip process.

The caller (C{uac_keepalive.xml}) re-sends its initial INVITE (same Call-ID,
tags, CSeq C{1 INVITE} and SDP; a new branch) every C{-d} ms for
C{-set keepalives N} times, then falls silent and waits for keepsip's BYE.
keepsip runs with a 2 s interval, a tolerance of 2 and a 0.5 s reaper tick,
so a silent call must get its BYEs between 4 and 4.5 s after its last
keepalive.  Times are SIPp's own (its message trace), checked against
keepsip's call records (C{--accounting jsonl:path=...}, docs/cdr.md).
"""

from __future__ import annotations

import re
from datetime import datetime

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests.integration._harness import (
    IntegrationTestCase,
    KeepsipProcess,
    SippMessage,
    SippProcess,
    SippResult,
    parseSippMessages,
)
from tests.integration.test_accounting import (
    AccountedKeepsipMixin,
    describeRecords,
    readRecords,
    stops,
    waitForRecords,
)

INTERVAL = 2.0
TOLERANCE = 2.0
TICK = 0.5
#: keepsip's deadline: a silent call is over this long after its last proof
#: of life ...
WINDOW = INTERVAL * TOLERANCE
#: ... and the reaper, running every TICK, notices it at most this late.
LATEST = WINDOW + TICK
#: What we allow on top for measuring through two processes and UDP
#: (SIPp's timestamps, scheduling on a loaded test machine).
SLACK = 0.3

KEEPALIVE_OPTIONS = (
    "--keepalive-interval",
    str(INTERVAL),
    "--keepalive-tolerance",
    str(TOLERANCE),
    "--reaper-tick",
    str(TICK),
)

#: The Reason header of keepsip's keepalive-timeout BYE.
KEEPALIVE_REASON = 'SIP;cause=408;text="keepalive timeout"'

_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n", re.MULTILINE)


def timedMessages(directory: FilePath) -> list[tuple[float, SippMessage]]:
    """
    SIPp's C{-trace_msg} file with the time SIPp logged each message.

    @param directory: the SIPp run's working directory (its
        C{messages.log}).
    @return: C{(seconds, message)} in trace order; the seconds are SIPp's
        clock, comparable only within one run.
    """
    text = directory.child("messages.log").getContent().decode("utf-8", "replace")
    parts = _STAMP.split(text)
    timed = []
    for stamp, chunk in zip(parts[1::2], parts[2::2]):
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        for message in parseSippMessages("-" * 47 + " " + stamp + "\n" + chunk):
            timed.append((when, message))
    return timed


def timesOf(
    timed: list[tuple[float, SippMessage]], direction: str, what: str | int, cseq: str
) -> list[float]:
    """
    When the messages that are C{what} (method or status) with CSeq method
    C{cseq} were sent or received (C{direction}).
    """
    return [
        when
        for when, m in timed
        if m.direction == direction
        and (m.status == what if isinstance(what, int) else m.method == what)
        and m.cseqMethod == cseq
    ]


class KeepaliveTestCase(AccountedKeepsipMixin, IntegrationTestCase):
    """
    A SIPp callee, keepsip routing every call to it and recording calls in a
    jsonl file, and SIPp callers run against keepsip.
    """

    @inlineCallbacks
    def startCallee(self, scenario: str, calls: int, *keepsipArgs: str):  # type: ignore[no-untyped-def]
        """
        Start a SIPp callee for C{calls} calls and keepsip routing every call
        to it, with L{KEEPALIVE_OPTIONS} and C{keepsipArgs}.

        @return: a Deferred firing with C{(keepsip, callee, cdr path)}.
        """
        callee = self.startSipp(scenario, "-m", str(calls), timeout=150)
        yield callee.whenListening()
        keepsip, cdr = yield self.startAccountedKeepsip(
            "--route", f"*=sip:{callee.address}", *KEEPALIVE_OPTIONS, *keepsipArgs
        )
        return keepsip, callee, cdr

    def startCaller(
        self, scenario: str, keepsip: KeepsipProcess, calls: int, *args: str, timeout: float = 60
    ) -> SippProcess:
        """
        Start a SIPp caller of C{calls} calls to C{bob} through keepsip,
        bounded like L{IntegrationTestCase.runSipp} (SIPp's own C{-timeout}
        a little under C{timeout}); the returned process keeps its directory
        for L{timedMessages}.
        """
        return self.startSipp(
            scenario,
            "-timeout",
            f"{int(timeout) - 5}s",
            "-timeout_error",
            "-s",
            "bob",
            "-m",
            str(calls),
            "-recv_timeout",
            "10s",
            *args,
            remote=keepsip.address,
            timeout=timeout,
        )

    def assertKeepsipBye(self, bye: SippMessage, keepsip: KeepsipProcess) -> None:
        """
        Assert that C{bye} was made by keepsip's keepalive reaper: its only
        Via is keepsip's and it gives the keepalive-timeout Reason.
        """
        vias = [v for line in bye.headers("Via") for v in line.split(",")]
        self.assertEqual(len(vias), 1, bye.text)
        self.assertIn(keepsip.address, vias[0], bye.text)
        self.assertEqual(bye.headers("Reason"), [KEEPALIVE_REASON], bye.text)

    def assertOnTime(self, silentSince: float, byeAt: float, what: str) -> None:
        """
        Assert that a BYE came between L{WINDOW} and L{LATEST} (+ L{SLACK})
        seconds after the last proof of life.
        """
        late = byeAt - silentSince
        self.assertTrue(
            WINDOW - SLACK <= late <= LATEST + SLACK,
            f"{what}: BYE {late:.3f}s after the last proof of life, expected "
            f"{WINDOW}..{LATEST}s (+-{SLACK}s)",
        )


class KeptAliveCallTests(KeepaliveTestCase):
    """
    One call kept alive for 10 s, then silent: keepsip ends it.
    """

    timeout = 60

    @inlineCallbacks
    def _keptAliveThenSilent(self, policy: str):  # type: ignore[no-untyped-def]
        """
        Run one call with 5 keepalives 2 s apart under C{--keepalive-policy
        policy} and check what both sides and the CDR show.

        @return: a Deferred firing with C{(caller result, callee result)}.
        """
        keepsip, callee, cdr = yield self.startCallee(
            "uas_keepalive.xml", 1, "--keepalive-policy", policy
        )
        callerProcess = self.startCaller(
            "uac_keepalive.xml",
            keepsip,
            1,
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            "5",
        )
        caller: SippResult = yield callerProcess.result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)

        # The caller sent the initial INVITE and 5 keepalives, each answered
        # 200 and ACKed, all with CSeq 1 and the same Call-ID and tags.
        invites = [m for m in caller.messages if m.direction == "sent" and m.method == "INVITE"]
        self.assertEqual(len(invites), 6, caller.describe())
        for header in ("Call-ID", "CSeq", "From"):
            self.assertEqual(len({tuple(m.headers(header)) for m in invites}), 1, header)
        self.assertEqual(invites[0].headers("CSeq"), ["1 INVITE"])
        self.assertEqual(len(caller.received(200, cseq="INVITE")), 6, caller.describe())

        # keepsip's BYE reached both sides, within the deadline counted from
        # the caller's last keepalive (SIPp's clock).
        [byeToCaller] = caller.received("BYE")
        [byeToCallee] = answered.received("BYE")
        self.assertKeepsipBye(byeToCaller, keepsip)
        self.assertKeepsipBye(byeToCallee, keepsip)
        timed = timedMessages(callerProcess.directory)
        lastKeepalive = timesOf(timed, "sent", "INVITE", "INVITE")[-1]
        [byeAt] = timesOf(timed, "received", "BYE", "BYE")
        self.assertOnTime(lastKeepalive, byeAt, "caller")

        # keepsip's record: one call, ended by the keepalive timeout, billed
        # until the last keepalive, noticed within the deadline.
        records = yield waitForRecords(
            self.reactor,
            lambda: readRecords(cdr),
            lambda rs: len(stops(rs)) >= 1,
            10,
            "stop record",
        )
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["answered"], stop["keepalive"]["count"]),
            ("keepalive-timeout", True, 5),
            describeRecords(records),
        )
        self.assertOnTime(stop["keepalive"]["last_epoch"], stop["detected_epoch"], "CDR")
        self.assertTrue(stop["end_epoch"] < stop["detected_epoch"], stop)
        return caller, answered

    @inlineCallbacks
    def test_absorbedKeepalivesThenTimeout(self):  # type: ignore[no-untyped-def]
        """
        With the default absorb policy keepsip answers the 5 keepalive
        INVITEs itself (200 with the callee's tag, Contact and SDP; it also
        absorbs their ACKs): the callee receives only the initial INVITE and
        its ACK.  When the caller falls silent keepsip sends BYE to both
        sides 4-4.5 s after the last keepalive; both answer 200 and complete
        without error; the CDR says keepalive-timeout with 5 keepalives.
        """
        caller, answered = yield self._keptAliveThenSilent("absorb")
        self.assertEqual(len(answered.received("INVITE")), 1, answered.describe())
        self.assertEqual(len(answered.received("ACK")), 1, answered.describe())
        [initialOk, *keepaliveOks] = caller.received(200, cseq="INVITE")
        for ok in keepaliveOks:
            # The 200 keepsip made from the dialog state is the callee's.
            self.assertEqual(ok.headers("To"), initialOk.headers("To"), ok.text)
            self.assertEqual(ok.headers("Contact"), initialOk.headers("Contact"), ok.text)
            self.assertIn("m=audio", ok.text.split("\n\n", 1)[1], ok.text)

    @inlineCallbacks
    def test_forwardedKeepalivesThenTimeout(self):  # type: ignore[no-untyped-def]
        """
        With C{--keepalive-policy forward} the 5 keepalives travel end to
        end: the callee receives 6 INVITEs with CSeq 1 (through keepsip),
        answers each and gets each ACK; the silent call still ends with
        keepsip's BYEs on time and a keepalive-timeout record.
        """
        _, answered = yield self._keptAliveThenSilent("forward")
        invites = answered.received("INVITE")
        self.assertEqual(len(invites), 6, answered.describe())
        self.assertEqual({tuple(m.headers("CSeq")) for m in invites}, {("1 INVITE",)})
        self.assertEqual(len(answered.received("ACK")), 6, answered.describe())


class KeptAliveCallerHangsUpTests(KeepaliveTestCase):
    """
    A kept-alive call that the caller ends itself.
    """

    timeout = 60

    @inlineCallbacks
    def test_callerByeAfterKeepalives(self):  # type: ignore[no-untyped-def]
        """
        A caller sends 3 keepalives 2 s apart and then, 2 s later, BYE
        (C{uac_keepalive_bye_direct.xml}): keepsip forwards the BYE (the
        callee gets the caller's CSeq 2 BYE, no keepalive Reason), both
        sides complete, and the call is not reaped afterwards: waiting past
        the keepalive deadline leaves exactly one stop record, caller-bye
        with 3 keepalives, and keepsip never logged a keepalive expiry.
        """
        keepsip, callee, cdr = yield self.startCallee("uas_keepalive.xml", 1)
        caller: SippResult = yield self.startCaller(
            "uac_keepalive_bye_direct.xml",
            keepsip,
            1,
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            "3",
        ).result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)
        self.assertEqual(len(caller.received(200, cseq="INVITE")), 4, caller.describe())
        self.assertEqual(caller.received("BYE"), [])
        [bye] = answered.received("BYE")
        self.assertEqual((bye.headers("CSeq"), bye.headers("Reason")), (["2 BYE"], []), bye.text)
        # The last keepalive was 2 s before the BYE: its deadline has passed
        # LATEST + 1 s after it.
        yield deferLater(self.reactor, LATEST + 1 - INTERVAL, lambda: None)
        records = readRecords(cdr)
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["keepalive"]["count"]),
            ("caller-bye", 3),
            describeRecords(records),
        )
        self.assertNotIn("keepalives stopped", keepsip.output())


class KeepaliveLoadTests(KeepaliveTestCase):
    """
    Many kept-alive calls at once.
    """

    timeout = 120

    @inlineCallbacks
    def test_200CallsAt20PerSecondAllReaped(self):  # type: ignore[no-untyped-def]
        """
        200 calls at 20 calls/s, each with 5 keepalives 2 s apart then
        silent (about 290 calls up at once, 100 keepalives/s from one
        address: keepsip's per-source keepalive rate limit is raised to
        allow that): no call fails on either side, with no retransmission,
        every caller and callee receives keepsip's BYE, and the CDR file
        has exactly 200 stop records, one per Call-ID, each
        keepalive-timeout with 5 keepalives, each noticed within the
        deadline (+1 s under this load) after its last keepalive.
        """
        calls = 200
        keepsip, callee, cdr = yield self.startCallee(
            "uas_keepalive.xml", calls, "--keepalive-rate-limit", "1000"
        )
        callerProcess = self.startCaller(
            "uac_keepalive.xml",
            keepsip,
            calls,
            "-r",
            "20",
            "-rp",
            "1000",
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            "5",
            timeout=90,
        )
        caller: SippResult = yield callerProcess.result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, calls)
        self.assertAllCallsSucceeded(answered, calls)
        self.assertEqual(len(caller.received("BYE")), calls)
        self.assertEqual(len(answered.received("BYE")), calls)
        self.assertEqual(len(answered.received("INVITE")), calls)
        records = yield waitForRecords(
            self.reactor,
            lambda: readRecords(cdr),
            lambda rs: len(stops(rs)) >= calls,
            15,
            f"{calls} stop records",
        )
        stopRecords = stops(records)
        self.assertEqual(len(stopRecords), calls, describeRecords(stopRecords))
        self.assertEqual(len({r["call_id"] for r in stopRecords}), calls)
        self.assertEqual(
            [
                r
                for r in stopRecords
                if (r["end_cause"], r["keepalive"]["count"]) != ("keepalive-timeout", 5)
            ],
            [],
        )
        late = [
            (r["call_id"], round(r["detected_epoch"] - r["keepalive"]["last_epoch"], 3))
            for r in stopRecords
            if not WINDOW - SLACK
            <= r["detected_epoch"] - r["keepalive"]["last_epoch"]
            <= LATEST + 1
        ]
        self.assertEqual(late, [], f"noticed outside {WINDOW}..{LATEST + 1}s")
        self.assertTrue(keepsip.running, keepsip.output()[-3000:])


class CallsWithoutKeepalivesTests(KeepaliveTestCase):
    """
    Callers that never send a keepalive, under both reap modes.
    """

    timeout = 60

    @inlineCallbacks
    def test_opportunisticLeavesSilentCallAlone(self):  # type: ignore[no-untyped-def]
        """
        With C{--reap opportunistic} (the default) a call that never sent a
        keepalive is not reaped: the plain caller holds it 8 s (twice the
        4 s window) and hangs up itself; both sides complete (a BYE from
        keepsip during the caller's pause would fail its call), the callee's
        only BYE is the caller's (CSeq 2, no keepalive Reason), and the CDR
        says caller-bye with no keepalives and about 8 s of talk.
        """
        keepsip, callee, cdr = yield self.startCallee("uas.xml", 1)
        caller: SippResult = yield self.startCaller("uac.xml", keepsip, 1, "-d", "8000").result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)
        self.assertEqual(caller.received("BYE"), [])
        [bye] = answered.received("BYE")
        self.assertEqual(bye.headers("CSeq"), ["2 BYE"], bye.text)
        self.assertEqual(bye.headers("Reason"), [], bye.text)
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: bool(stops(rs)), 10, "stop record"
        )
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["keepalive"]["count"]),
            ("caller-bye", 0),
            describeRecords(records),
        )
        self.assertTrue(7500 <= stop["duration_ms"] <= 9500, stop["duration_ms"])

    @inlineCallbacks
    def test_requireReapsCallWithoutKeepalives(self):  # type: ignore[no-untyped-def]
        """
        With C{--reap require} every answered call must keep alive: a caller
        that sends no keepalive (C{-set keepalives 0}) gets keepsip's BYE,
        and so does the callee, 4-4.5 s after the answer; both answer it
        and complete; the CDR says keepalive-timeout with 0 keepalives.
        """
        keepsip, callee, cdr = yield self.startCallee("uas_keepalive.xml", 1, "--reap", "require")
        callerProcess = self.startCaller("uac_keepalive.xml", keepsip, 1, "-set", "keepalives", "0")
        caller: SippResult = yield callerProcess.result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)
        self.assertEqual(len(answered.received("INVITE")), 1)
        [byeToCaller] = caller.received("BYE")
        [byeToCallee] = answered.received("BYE")
        self.assertKeepsipBye(byeToCaller, keepsip)
        self.assertKeepsipBye(byeToCallee, keepsip)
        timed = timedMessages(callerProcess.directory)
        [answeredAt] = timesOf(timed, "received", 200, "INVITE")
        [byeAt] = timesOf(timed, "received", "BYE", "BYE")
        self.assertOnTime(answeredAt, byeAt, "caller")
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: bool(stops(rs)), 10, "stop record"
        )
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["answered"], stop["keepalive"]["count"]),
            ("keepalive-timeout", True, 0),
            describeRecords(records),
        )
