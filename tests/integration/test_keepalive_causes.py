"""
How keepsip tells WHY a call's keepalives stopped (patent WO 00/33550,
claims 6-8), end to end with real SIPp processes and a real keepsip.

When a kept-alive call falls silent keepsip sends a BYE to both legs and
classifies each BYE's outcome into the stop record's C{end_detail}
(C{keepsip/keepalive/causes.py}, docs/keepalive.md).  Each test here makes
the caller stop in a different real way and reads the verdict from the
C{jsonl} call record:

  - the caller process is killed (SIGKILL): the host answers keepsip's BYE
    with an ICMP port unreachable: C{refused};
  - the caller process is frozen (SIGSTOP): its socket stays bound, nothing
    answers and no ICMP comes: C{unreachable} after timer F;
  - the two ends hang up directly to each other, bypassing keepsip, and then
    answer keepsip's BYEs with 481: C{gone} on both sides.

keepsip runs with a 1 s interval, a tolerance of 2 and a 0.25 s reaper tick
(a silent call is reaped 2-2.25 s after its last keepalive) and with
T1 = 0.1 s, T2 = 0.4 s, so a BYE nobody answers times out (timer F,
64 x T1) after 6.4 s.
"""

from __future__ import annotations

import signal

from twisted.internet.defer import Deferred, TimeoutError, inlineCallbacks
from twisted.internet.protocol import DatagramProtocol

from tests.integration._harness import (
    HOST,
    IntegrationTestCase,
    KeepsipProcess,
    SippMessage,
    SippProcess,
    SippResult,
)
from tests.integration.test_accounting import (
    AccountedKeepsipMixin,
    Record,
    describeRecords,
    readRecords,
    stops,
    waitForRecords,
)
from tests.integration.test_keepalive import KEEPALIVE_REASON

INTERVAL = 1.0
TOLERANCE = 2.0
TICK = 0.25
T1 = 0.1
T2 = 0.4
#: RFC 3261 timer F: a BYE nobody answers is given up after this long.
TIMER_F = 64 * T1
#: Keepalives each caller sends before it stops.
KEEPALIVES = 3
#: Margin for two processes, UDP and a loaded test machine.
SLACK = 1.0

KEEPSIP_OPTIONS = (
    "--keepalive-interval",
    str(INTERVAL),
    "--keepalive-tolerance",
    str(TOLERANCE),
    "--reaper-tick",
    str(TICK),
    "--timer-t1",
    str(T1),
    "--timer-t2",
    str(T2),
)


def signalSipp(process: SippProcess, signum: int) -> None:
    """
    Send signal C{signum} (e.g. C{signal.SIGKILL}) to a SIPp started by the
    harness (a number: Twisted's C{signalProcess} knows only a few signal
    names, not C{"CONT"}).
    """
    process.signal(signum)


def interims(records: list[Record]) -> list[Record]:
    """
    The C{interim} records among C{records}: keepsip writes one per
    keepalive it accepts.
    """
    return [r for r in records if r["type"] == "interim"]


class KeepaliveCauseTestCase(AccountedKeepsipMixin, IntegrationTestCase):
    """
    A SIPp callee, keepsip routing every call to it with the short timers
    above and recording calls in a jsonl file, and one SIPp caller.
    """

    timeout = 60

    @inlineCallbacks
    def startCall(self, calleeScenario: str, callerScenario: str):  # type: ignore[no-untyped-def]
        """
        Start a callee running C{calleeScenario} for one call, keepsip, and
        a caller running C{callerScenario} that sends L{KEEPALIVES}
        keepalives L{INTERVAL} apart.

        @return: a Deferred firing with C{(keepsip, callee, caller, cdr)}.
        """
        callee = self.startSipp(calleeScenario, "-m", "1", timeout=50)
        yield callee.whenListening()
        keepsip, cdr = yield self.startAccountedKeepsip(
            "--route", f"*=sip:{callee.address}", *KEEPSIP_OPTIONS
        )
        caller = self.startSipp(
            callerScenario,
            "-timeout",
            "40s",
            "-timeout_error",
            "-s",
            "bob",
            "-m",
            "1",
            "-recv_timeout",
            "15s",
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            str(KEEPALIVES),
            remote=keepsip.address,
            timeout=45,
        )
        return keepsip, callee, caller, cdr

    def waitForKeepalives(self, cdr):  # type: ignore[no-untyped-def]
        """
        Wait until keepsip has recorded all L{KEEPALIVES} keepalives (one
        C{interim} record each): the caller is now silent, waiting for
        keepsip's BYE, and keepsip will reap the call L{INTERVAL} x
        L{TOLERANCE} after the last one.
        """
        return waitForRecords(
            self.reactor,
            lambda: readRecords(cdr),
            lambda rs: len(interims(rs)) >= KEEPALIVES,
            KEEPALIVES * INTERVAL + 10,
            f"{KEEPALIVES} interim records (keepalives)",
        )

    @inlineCallbacks
    def waitForStop(self, cdr, timeout: float):  # type: ignore[no-untyped-def]
        """
        Wait for the call's stop record.

        @return: a Deferred firing with C{(stop record, seconds from its
            C{detected_epoch} to its C{record_epoch})}: how long keepsip
            waited for the answers to its BYEs.
        """
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: bool(stops(rs)), timeout, "stop"
        )
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["answered"], stop["keepalive"]["count"]),
            ("keepalive-timeout", True, KEEPALIVES),
            describeRecords(records) + f"\n{stop}",
        )
        # Reaped on time after the last keepalive.
        silence = stop["detected_epoch"] - stop["keepalive"]["last_epoch"]
        self.assertTrue(
            INTERVAL * TOLERANCE - 0.1 <= silence <= INTERVAL * TOLERANCE + TICK + SLACK,
            f"reaped {silence:.3f}s after the last keepalive",
        )
        return stop, stop["record_epoch"] - stop["detected_epoch"]

    def assertDetail(self, stop: Record, caller: str, callee: str, whyMentions: str) -> None:
        """
        Assert the stop record's C{end_detail}: the caller's and callee's
        verdicts, the caller as the silent leg, and a C{why} naming the
        caller's verdict (C{whyMentions}).
        """
        detail = stop["end_detail"]
        self.assertEqual(
            {k: detail.get(k) for k in ("caller", "callee", "silent")},
            {"caller": caller, "callee": callee, "silent": "caller"},
            f"end_detail: {detail}",
        )
        self.assertEqual(sorted(detail), ["callee", "caller", "silent", "why"], detail)
        self.assertIn(whyMentions, detail["why"], detail)

    def assertKeepsipBye(self, bye: SippMessage, keepsip: KeepsipProcess) -> None:
        """
        Assert that C{bye} is keepsip's keepalive-timeout BYE: its only Via
        is keepsip's and it gives the keepalive-timeout Reason.
        """
        vias = [v for line in bye.headers("Via") for v in line.split(",")]
        self.assertEqual(len(vias), 1, bye.text)
        self.assertIn(keepsip.address, vias[0], bye.text)
        self.assertEqual(bye.headers("Reason"), [KEEPALIVE_REASON], bye.text)

    @inlineCallbacks
    def assertStillAnswers(self, keepsip: KeepsipProcess):  # type: ignore[no-untyped-def]
        """
        Assert that keepsip's UDP port still works: an OPTIONS with
        C{Max-Forwards: 0} sent to it gets a SIP response within 2 s.
        """
        answered: Deferred[bytes] = Deferred()

        class Probe(DatagramProtocol):
            def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
                if data.startswith(b"SIP/2.0 ") and not answered.called:
                    answered.callback(data)

        probe = Probe()
        port = self.reactor.listenUDP(0, probe, interface=HOST)  # type: ignore[attr-defined]
        local = port.getHost().port
        port.write(
            (
                f"OPTIONS sip:{keepsip.address} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK-alive-{local}\r\n"
                f"Max-Forwards: 0\r\n"
                f"From: <sip:probe@{HOST}:{local}>;tag=alive{local}\r\n"
                f"To: <sip:{keepsip.address}>\r\n"
                f"Call-ID: alive-{local}@{HOST}\r\n"
                f"CSeq: 1 OPTIONS\r\n"
                f"Content-Length: 0\r\n\r\n"
            ).encode("ascii"),
            (HOST, keepsip.port),
        )
        answered.addTimeout(2, self.reactor)
        try:
            yield answered
        except TimeoutError:
            self.fail(
                "keepsip no longer answers on its UDP port after the ICMP error:\n"
                + keepsip.output()[-3000:]
            )
        finally:
            yield port.stopListening()

    def assertCalleeAnsweredKeepsipBye(self, answered: SippResult, keepsip: KeepsipProcess) -> None:
        """
        Assert that the callee (C{uas_keepalive.xml}) completed its call
        without error and that the BYE it answered 200 was keepsip's.
        """
        self.assertAllCallsSucceeded(answered, 1)
        [bye] = answered.received("BYE")
        self.assertKeepsipBye(bye, keepsip)


class CallerProcessKilledTests(KeepaliveCauseTestCase):
    """
    The caller's SIP endpoint process dies; its host stays up.
    """

    @inlineCallbacks
    def test_killedCallerIsRefused(self):  # type: ignore[no-untyped-def]
        """
        A caller sends 3 keepalives, then is killed with SIGKILL (its UDP
        port closes).  keepsip's BYE to it gets an ICMP port unreachable
        from the local host, which keepsip's RecvErrPort ties to the
        caller's address: the caller's verdict is C{refused}, learnt at once
        (the stop record is made within 1 s of detection, not after timer
        F), and C{why} blames the caller's vanished endpoint.  The callee
        answers keepsip's BYE 200 (C{answered}, left out of C{why}).  keepsip
        still answers an OPTIONS afterwards: the ICMP error did not close its
        port.
        """
        keepsip, callee, caller, cdr = yield self.startCall(
            "uas_keepalive.xml", "uac_keepalive.xml"
        )
        yield self.waitForKeepalives(cdr)
        signalSipp(caller, signal.SIGKILL)
        yield caller.whenEnded()

        stop, waited = yield self.waitForStop(cdr, INTERVAL * TOLERANCE + TIMER_F + 10)
        self.assertDetail(stop, "refused", "answered", "caller host up")
        self.assertIn("ICMP port unreachable", stop["end_detail"]["why"])
        self.assertNotIn("callee", stop["end_detail"]["why"])
        self.assertTrue(
            waited < SLACK,
            f"stop record made {waited:.3f}s after detection: the ICMP error did not "
            f"end the caller's BYE at once (timer F is {TIMER_F}s)",
        )
        answered: SippResult = yield callee.result()
        self.assertCalleeAnsweredKeepsipBye(answered, keepsip)
        yield self.assertStillAnswers(keepsip)


def _udpReceiveQueue(port: int) -> int | None:
    """
    Bytes waiting in the receive queue of the UDP socket bound to
    C{127.0.0.1:port} (Linux C{/proc/net/udp}), or L{None} if unknown.
    """
    needle = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[1] == needle:
            return int(fields[4].split(":")[1], 16)
    return None


class CallerFrozenTests(KeepaliveCauseTestCase):
    """
    The caller stops answering without its host telling anybody: a hung
    endpoint, a dead link.
    """

    timeout = 60

    @inlineCallbacks
    def test_frozenCallerIsUnreachable(self):  # type: ignore[no-untyped-def]
        """
        A caller sends 3 keepalives, then is frozen with SIGSTOP: its socket
        stays bound, so keepsip's BYE (and its retransmissions) pile up
        unread in the socket's queue, and no ICMP comes back.  keepsip's BYE
        transaction to the caller times out (timer F, 6.4 s with T1 0.1 s):
        the caller's verdict is C{unreachable}, in a stop record made
        timer F (to 1 s) after detection; the callee answers its BYE 200
        (C{answered}).  The frozen caller is killed in cleanup.
        """
        keepsip, callee, caller, cdr = yield self.startCall(
            "uas_keepalive.xml", "uac_keepalive.xml"
        )

        def thawAndKill() -> None:
            signalSipp(caller, signal.SIGKILL)
            signalSipp(caller, signal.SIGCONT)

        self.addCleanup(thawAndKill)
        yield self.waitForKeepalives(cdr)
        signalSipp(caller, signal.SIGSTOP)

        stop, waited = yield self.waitForStop(cdr, INTERVAL * TOLERANCE + TIMER_F + 10)
        self.assertDetail(stop, "unreachable", "answered", "caller unreachable")
        self.assertNotIn("callee", stop["end_detail"]["why"])
        self.assertTrue(
            TIMER_F - 0.05 <= waited <= TIMER_F + SLACK,
            f"stop record made {waited:.3f}s after detection, expected timer F "
            f"({TIMER_F}s): keepsip gave up on the caller's BYE too early or too late",
        )
        queued = _udpReceiveQueue(caller.port)
        if queued is not None:
            self.assertTrue(queued > 0, "keepsip's BYE never reached the frozen caller's socket")
        answered: SippResult = yield callee.result()
        self.assertCalleeAnsweredKeepsipBye(answered, keepsip)


class EndsHungUpDirectlyTests(KeepaliveCauseTestCase):
    """
    The two ends end the call between themselves, bypassing keepsip.
    """

    @inlineCallbacks
    def test_directByeIsGoneOnBothSides(self):  # type: ignore[no-untyped-def]
        """
        A caller (C{uac_keepalive_cause_direct_bye.xml}) sends 3 keepalives
        through keepsip, then sends its BYE straight to the callee's
        Contact; the callee (C{uas_keepalive_cause_481.xml}) answers it 200
        straight back.  keepsip saw none of it, so for keepsip the caller
        fell silent: it reaps the call and sends its BYEs, which both ends
        answer 481.  Both verdicts are C{gone}, C{why} says the caller (and
        the callee) ended the call directly, and the end cause is
        keepalive-timeout, not caller-bye.  Both SIPps complete without
        error; the callee got the caller's BYE with the caller's Via only
        and then keepsip's.
        """
        keepsip, callee, callerProcess, cdr = yield self.startCall(
            "uas_keepalive_cause_481.xml", "uac_keepalive_cause_direct_bye.xml"
        )
        caller: SippResult = yield callerProcess.result()
        answered: SippResult = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)

        # The callee got two BYEs: the caller's, directly (one Via: the
        # caller's; no Reason), then keepsip's.
        direct, fromKeepsip = answered.received("BYE")
        self.assertEqual(
            (direct.headers("Via")[0].split(";")[0], direct.headers("Reason")),
            (f"SIP/2.0/UDP {HOST}:{callerProcess.port}", []),
            direct.text,
        )
        self.assertEqual(len(direct.headers("Via")), 1, direct.text)
        self.assertKeepsipBye(fromKeepsip, keepsip)
        # The caller got the callee's 200 for its BYE and keepsip's BYE.
        self.assertEqual(len(caller.received(200, cseq="BYE")), 1, caller.describe())
        [bye] = caller.received("BYE")
        self.assertKeepsipBye(bye, keepsip)

        stop, _ = yield self.waitForStop(cdr, 10)
        self.assertDetail(stop, "gone", "gone", "caller ended the call directly")
        self.assertIn("callee ended the call directly", stop["end_detail"]["why"])
