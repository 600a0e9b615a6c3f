"""
C{--workers 2} (issue 13 item 3) with real processes on loopback: C{twistd
-n keepsip --workers 2}, SIPp callers and a SIPp callee.

The kernel spreads the datagrams of the shared port among the workers by
the hash of the source address, so the test first finds, for each worker, a
caller port whose requests it takes: it sends OPTIONS for a domain routed
to a small responder from candidate ports and reads the worker's own port
from the Via keepsip adds; each prober gets its 200 from the shared port it
sent to (RFC 3581 symmetric response), while the forwarded OPTIONS left from
the worker's own port. Then:

  - a SIPp caller on each of the two ports places basic calls: all succeed,
    the callee sees each worker's own port in Record-Route, and each
    worker's own record file (C{cdr.w1.jsonl}, C{cdr.w2.jsonl}) bills its
    calls as ended by the caller's BYE, which therefore reached the worker
    holding the dialog;
  - a keepalive call is set up through worker 1, worker 1 is SIGKILLed, the
    supervisor starts it again on its own port and SQLite file, and the
    restarted worker ends the call when its keepalives stop (BYE to the
    caller with the keepalive Reason) and bills it once (one start and one
    stop by record id: records the killed worker had not seen delivered are
    written again, at least once);
  - SIGTERM to the supervisor stops both workers cleanly.
"""

from __future__ import annotations

import os
import re
import signal
import socket

from twisted.internet import protocol
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests.helpers import freeUDPPort
from tests.integration._harness import HOST, IntegrationTestCase, SippResult
from tests.integration.test_accounting import describeRecords, readRecords, waitForRecords
from tests.integration.test_keepalive import KEEPALIVE_REASON

PROBE_DOMAIN = "probe.invalid"
CALLS = 4


def _twoFreePorts() -> int:
    """
    A port that, with the next one, was free a moment ago.
    """
    for _ in range(50):
        first = freeUDPPort(HOST)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind((HOST, first + 1))
        except OSError:
            continue
        finally:
            probe.close()
        return first
    raise RuntimeError("no two consecutive free UDP ports")


class _Responder(protocol.DatagramProtocol):
    """
    Answer every request with 200 and tell C{waiting} the port of the top
    Via (the keepsip worker that forwarded it) and the request's source port.
    """

    def __init__(self) -> None:
        self.waiting: Deferred[tuple[int, int]] | None = None

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8", "replace")
        if text.startswith("SIP/2.0"):
            return
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [
            line for line in head[1:]
            if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]  # fmt: skip
        response = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""])
        self.transport.write(response.encode(), addr)  # type: ignore[attr-defined]
        vias = [line for line in head if line.lower().startswith("via:")]
        match = re.search(r":(\d+)", vias[0].split(None, 2)[-1]) if vias else None
        waiting, self.waiting = self.waiting, None
        if waiting is not None and match is not None:
            waiting.callback((int(match.group(1)), addr[1]))


class _Prober(protocol.DatagramProtocol):
    """
    Send one OPTIONS to C{target}; C{answered} fires with the source port
    of the first response (RFC 3581 §4: it must be C{target}'s port).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.answered: Deferred[int] = Deferred()

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"SIP/2.0 ") and not self.answered.called:
            self.answered.callback(addr[1])

    def startProtocol(self) -> None:
        port = self.transport.getHost().port  # type: ignore[attr-defined]
        message = (
            f"OPTIONS sip:probe@{PROBE_DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-wprobe-{port}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:prober@{HOST}:{port}>;tag=p{port}\r\n"
            f"To: <sip:probe@{PROBE_DOMAIN}>\r\n"
            f"Call-ID: wprobe-{port}@{HOST}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        )
        self.transport.write(message.encode(), self.target)  # type: ignore[attr-defined]


class WorkersTests(IntegrationTestCase):
    timeout = 90

    @inlineCallbacks
    def waitForOutput(self, keepsip, pattern: str, count: int = 1, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        """
        Wait until keepsip's log matches C{pattern} C{count} times.

        @return: the matches.
        """
        deadline = self.reactor.seconds() + timeout
        while True:
            found = re.findall(pattern, keepsip.output())
            if len(found) >= count:
                return found
            if self.reactor.seconds() > deadline or not keepsip.running:
                self.fail(f"no {count} x {pattern!r} in keepsip's log:\n{keepsip.output()[-4000:]}")
            yield deferLater(self.reactor, 0.1, lambda: None)

    @inlineCallbacks
    def callerPorts(self, shared: int, responderPort: int, workerPorts: dict[int, int]):  # type: ignore[no-untyped-def]
        """
        For each worker, a free port whose datagrams to C{shared} the
        kernel gives to that worker.

        @return: C{{worker index: caller port}}.
        """
        responder = _Responder()
        listening = self.reactor.listenUDP(responderPort, responder, interface=HOST)
        found: dict[int, int] = {}
        try:
            for _ in range(40):
                candidate = freeUDPPort(HOST)
                responder.waiting = Deferred()
                waiting = responder.waiting
                waiting.addTimeout(3, self.reactor)
                probe = _Prober((HOST, shared))
                probe.answered.addTimeout(3, self.reactor)
                prober = self.reactor.listenUDP(candidate, probe, interface=HOST)
                try:
                    viaPort, sourcePort = yield waiting
                    # The answer leaves from the port the OPTIONS went to
                    # (the shared one), not the worker's own port the
                    # OPTIONS was forwarded from.
                    answeredFrom = yield probe.answered
                finally:
                    yield prober.stopListening()
                self.assertEqual((sourcePort, answeredFrom), (viaPort, shared))
                self.assertIn(viaPort, workerPorts)
                found.setdefault(workerPorts[viaPort], candidate)
                if len(found) == len(workerPorts):
                    return found
        finally:
            yield listening.stopListening()
        self.fail(f"the kernel gave 40 probes to workers {sorted(found)} only")

    @inlineCallbacks
    def test_twoWorkersAndARestart(self):  # type: ignore[no-untyped-def]
        """
        Calls through both workers succeed with their in-dialog requests at
        the worker holding the dialog (each worker bills its own calls as
        ended by the caller); a SIGKILLed worker is restarted and ends and
        bills its held call whose keepalives stopped; SIGTERM stops all.
        """
        directory = FilePath(self.mktemp())
        directory.makedirs()
        shared = freeUDPPort(HOST)
        first = _twoFreePorts()
        workerPorts = {first: 1, first + 1: 2}
        responderPort = freeUDPPort(HOST)
        callee = self.startSipp("uas_keepalive.xml", timeout=80)
        yield callee.whenListening()
        keepsip = yield self.startKeepsip(
            "--workers", "2",
            "--worker-ports", str(first),
            "--route", f"*=sip:{callee.address}",
            "--route", f"@{PROBE_DOMAIN}=sip:{HOST}:{responderPort}",
            "--dialog-store", f"sqlite:path={directory.child('dialogs.sqlite3').path}",
            "--accounting", f"jsonl:path={directory.child('cdr.jsonl').path}",
            "--accounting-spool", directory.child("spool").path,
            "--keepalive-interval", "2",
            "--keepalive-tolerance", "2",
            "--reaper-tick", "0.5",
            port=shared,
            timeout=80,
            twistd=True,
        )  # fmt: skip
        yield self.waitForOutput(keepsip, r"worker \d ready", 2)
        callers = yield self.callerPorts(shared, responderPort, workerPorts)

        # Basic calls through each worker.
        runs = [
            self.runSipp(
                "uac.xml", "-s", "bob", "-m", str(CALLS), "-r", "20",
                port=callers[index], remote=keepsip.address, timeout=30,
            )
            for index in (1, 2)
        ]  # fmt: skip
        for run in runs:
            result: SippResult = yield run
            self.assertAllCallsSucceeded(result, CALLS)
        files = {index: directory.child(f"cdr.w{index}.jsonl") for index in (1, 2)}
        for index, path in files.items():
            records = yield waitForRecords(
                self.reactor,
                lambda path=path: readRecords(path),
                lambda rs: sum(r["type"] == "stop" for r in rs) >= CALLS,
                10,
                f"worker {index}'s stops",
            )
            causes = [r["end_cause"] for r in records if r["type"] == "stop"]
            self.assertEqual(causes, ["caller-bye"] * CALLS, describeRecords(records))

        # Worker 1 is killed while it holds a keepalive call.
        held = self.startSipp(
            "uac_keepalive.xml", "-s", "bob", "-m", "1", "-d", "2000",
            "-set", "keepalives", "1", "-recv_timeout", "30s",
            "-timeout", "40s", "-timeout_error",
            port=callers[1], remote=keepsip.address, timeout=50,
        )  # fmt: skip
        records = yield waitForRecords(
            self.reactor,
            lambda: readRecords(files[1]),
            lambda rs: sum(r["type"] == "start" for r in rs) > CALLS,
            10,
            "the held call's start",
        )
        [heldCall] = {r["call_id"] for r in records} - {
            r["call_id"] for r in records if r["type"] == "stop"
        }
        yield deferLater(self.reactor, 0.5, lambda: None)  # its row committed
        [firstPid] = re.findall(r"worker 1 started: pid (\d+)", keepsip.output())
        os.kill(int(firstPid), signal.SIGKILL)
        started = yield self.waitForOutput(keepsip, r"worker 1 started: pid (\d+)", 2)
        self.assertNotEqual(started[1], firstPid)
        yield self.waitForOutput(keepsip, r"worker 1 ready", 2)

        heldResult: SippResult = yield held.result()
        self.assertEqual(
            (heldResult.exitCode, heldResult.successfulCalls), (0, 1), heldResult.describe()
        )
        [bye] = heldResult.received("BYE")
        self.assertEqual(bye.headers("Reason"), [KEEPALIVE_REASON], bye.text)
        records = yield waitForRecords(
            self.reactor,
            lambda: readRecords(files[1]),
            lambda rs: any(r["type"] == "stop" and r["call_id"] == heldCall for r in rs),
            10,
            "the held call's stop",
        )
        mine = {r["record_id"]: r for r in records if r["call_id"] == heldCall}.values()
        self.assertEqual(
            sorted((r["type"], r.get("end_cause")) for r in mine if r["type"] != "interim"),
            [("start", None), ("stop", "keepalive-timeout")],
            describeRecords(records),
        )
        self.assertNotIn(heldCall, {r["call_id"] for r in readRecords(files[2])})

        calleeResult: SippResult = yield callee.stop()
        routes = {
            port
            for message in calleeResult.received("INVITE")
            for value in message.headers("Record-Route")
            for port in map(int, re.findall(rf"{re.escape(HOST)}:(\d+)", value))
        }
        self.assertEqual(routes, set(workerPorts), calleeResult.describe())

        code = yield keepsip.stop()
        # twistd ends itself with the signal that stopped it, once stopped.
        self.assertIn(code, (0, -signal.SIGTERM), keepsip.output()[-3000:])
        for index in (1, 2):
            self.assertIn(f"worker {index} ended (status 0)", keepsip.output())
