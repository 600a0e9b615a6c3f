"""
Run real keepsip and SIPp processes for integration tests.

Everything here uses the global reactor on purpose: these tests talk to other
processes over real UDP sockets.  Every process is started by a test case
method, bounded by a hard timeout and stopped in the test's cleanup.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from twisted.internet import error, protocol
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial import unittest

from tests.helpers import freeUDPPort, requireExternal

REPO_ROOT = FilePath(__file__).parent().parent().parent()
SCENARIOS = FilePath(__file__).sibling("scenarios")
HOST = "127.0.0.1"

# SIPp options every run gets: no stdin; an unexpected message fails the call
# at once (abortunexp) but SIPp sends nothing on its own (no automatic BYE or
# CANCEL for aborted calls, no OPTIONS answers) that could hide a proxy bug;
# statistics every second, per-message counts, errors and the message trace.
_SIPP_COMMON = (
    "-nostdin",
    "-default_behaviors",
    "abortunexp",
    "-trace_stat",
    "-fd",
    "1",
    "-trace_counts",
    "-trace_err",
    "-trace_msg",
)


def _tail(data: bytes, limit: int = 4000) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "..." + text[-limit:]


class ProcessTimedOut(Exception):
    """
    A child process outlived its hard timeout and was killed.
    """


class ProcessFailed(Exception):
    """
    A child process ended before it was ready, or with an unexpected status.
    """


class _CollectingProtocol(protocol.ProcessProtocol):
    """
    Collect a child's stdout and stderr and tell every L{whenEnded} waiter
    its exit code (or C{-signal} when a signal ended it).
    """

    def __init__(self) -> None:
        self.stdoutChunks: list[bytes] = []
        self.stderrChunks: list[bytes] = []
        self.exitCode: int | None = None
        self._waiters: list[Deferred[int]] = []

    def outReceived(self, data: bytes) -> None:
        self.stdoutChunks.append(data)

    def errReceived(self, data: bytes) -> None:
        self.stderrChunks.append(data)

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        code = getattr(value, "exitCode", None)
        if code is None:
            code = -(getattr(value, "signal", None) or 0)
        self.exitCode = code
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(code)

    def whenEnded(self) -> Deferred[int]:
        """
        @return: a new Deferred firing with the exit code once the child has
            ended (at once if it has).
        """
        if self.exitCode is not None:
            return succeed(self.exitCode)
        waiter: Deferred[int] = Deferred()
        self._waiters.append(waiter)
        return waiter

    @property
    def running(self) -> bool:
        return self.exitCode is None

    def output(self) -> bytes:
        """
        @return: everything the child wrote so far, stdout then stderr.
        """
        return b"".join(self.stdoutChunks) + b"".join(self.stderrChunks)


class _ChildProcess:
    """
    A spawned child with a hard timeout: when the timeout expires the child is
    killed and L{ended} fails with L{ProcessTimedOut}.
    """

    def __init__(
        self,
        reactor: IReactorProcess,
        name: str,
        argv: Sequence[str],
        cwd: str,
        env: dict[str, str],
        timeout: float,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._reactor = reactor
        self._protocol = _CollectingProtocol()
        self.transport = reactor.spawnProcess(self._protocol, argv[0], self.argv, env=env, path=cwd)
        self.pid: int = self.transport.pid
        self.timedOut = False
        self._killer = reactor.callLater(timeout, self._timeoutExpired)  # type: ignore[attr-defined]
        self._protocol.whenEnded().addCallback(self._cancelKiller)

    def _cancelKiller(self, code: int) -> None:
        if self._killer.active():
            self._killer.cancel()

    def _timeoutExpired(self) -> None:
        self.timedOut = True
        self.signal("KILL")

    @property
    def running(self) -> bool:
        return self._protocol.running

    @property
    def exitCode(self) -> int | None:
        return self._protocol.exitCode

    def output(self) -> bytes:
        """
        @return: the child's stdout and stderr so far.
        """
        return self._protocol.output()

    def signal(self, name: str | int) -> None:
        """
        Send signal C{name} (C{"TERM"}, C{"KILL"}, C{"USR1"}..., or a signal
        number) if the child still runs.
        """
        try:
            self.transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    def waitForExit(self) -> Deferred[int]:
        """
        @return: a Deferred firing with the exit code, or failing with
            L{ProcessTimedOut} if the hard timeout killed the child.
        """

        def ended(code: int) -> int:
            if self.timedOut:
                raise ProcessTimedOut(
                    f"{self.name} killed after its timeout; output:\n{_tail(self.output())}"
                )
            return code

        return self._protocol.whenEnded().addCallback(ended)

    def stop(self, grace: float = 5.0, signalName: str | int = "TERM") -> Deferred[int]:
        """
        End the child: signal C{signalName}, then SIGKILL if it is still
        running after C{grace} seconds.

        @return: a Deferred firing with the exit code once it has ended.
        """
        d = self._protocol.whenEnded()
        if not self.running:
            return d
        self.signal(signalName)
        killer = self._reactor.callLater(grace, self.signal, "KILL")  # type: ignore[attr-defined]

        def done(code: int) -> int:
            if killer.active():
                killer.cancel()
            return code

        return d.addCallback(done)


@dataclass
class SippMessage:
    """
    One message from SIPp's C{-trace_msg} file.

    @ivar direction: C{"sent"} or C{"received"}.
    @ivar text: the message as SIPp logged it.
    """

    direction: str
    text: str

    @property
    def firstLine(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        """
        The request method, or L{None} for a response.
        """
        first = self.firstLine
        return None if first.startswith("SIP/2.0") else first.split(" ", 1)[0]

    @property
    def status(self) -> int | None:
        """
        The response status code, or L{None} for a request.
        """
        first = self.firstLine
        return int(first.split(" ")[1]) if first.startswith("SIP/2.0") else None

    @property
    def cseqMethod(self) -> str | None:
        """
        The method of the CSeq header, or L{None} if there is none.
        """
        values = self.headers("CSeq")
        return values[0].split()[-1] if values else None

    def headers(self, name: str) -> list[str]:
        """
        Every value of header C{name} (long form, case-insensitive), one
        element per header line, comma-separated values not split.
        """
        head = self.text.split("\n\n", 1)[0].replace("\r", "")
        prefix = name.lower() + ":"
        return [
            line.split(":", 1)[1].strip()
            for line in head.split("\n")[1:]
            if line.lower().startswith(prefix)
        ]


_MESSAGE_SEPARATOR = re.compile(r"^-{20,} \d{4}-\d\d-\d\d [\d:.]+\n", re.MULTILINE)
_DIRECTION = re.compile(r"^\w+ message (sent|received)[^\n]*\n\n?")


def parseSippMessages(text: str) -> list[SippMessage]:
    """
    Parse SIPp's C{-trace_msg} file.

    @param text: the file's content.
    @return: the messages in the order SIPp logged them.
    """
    messages = []
    for chunk in _MESSAGE_SEPARATOR.split(text):
        match = _DIRECTION.match(chunk)
        if match is None:
            continue
        body = chunk[match.end() :].strip("\n")
        messages.append(SippMessage(match.group(1), body.replace("\r\n", "\n")))
    return messages


@dataclass
class SippResult:
    """
    What one SIPp run did, from its final C{-trace_stat} row, its
    C{-trace_counts} file and its message trace.

    @ivar exitCode: SIPp's exit status (0: all calls succeeded, 1: some
        failed, 97/99: ended by command or with no calls, negative: fatal).
    @ivar successfulCalls: C{SuccessfulCall(C)}.
    @ivar failedCalls: C{FailedCall(C)}.
    @ivar retransmissions: C{Retransmissions(C)}: messages SIPp had to send
        again because no answer came in time.
    @ivar receivedRetransmissions: retransmissions SIPp received (the
        C{Retrans} counters of the scenario's receive steps), i.e. messages
        the peer sent again because SIPp's answer did not reach it.
    @ivar unexpectedMessages: C{FailedUnexpectedMessage(C)}.
    @ivar outOfCallMessages: C{OutOfCallMsgs(C)}: messages matching no call.
    @ivar deadCallMessages: C{DeadCallMsgs(C)}: messages for finished calls.
    @ivar stats: the whole final statistics row, by column name.
    @ivar counts: the final per-message counters, by column name.
    @ivar messages: the message trace.
    @ivar errors: the C{-trace_err} log (unexpected messages, failures).
    @ivar output: SIPp's stdout and stderr.
    """

    exitCode: int
    successfulCalls: int
    failedCalls: int
    retransmissions: int
    receivedRetransmissions: int
    unexpectedMessages: int
    outOfCallMessages: int
    deadCallMessages: int
    stats: dict[str, str] = field(repr=False)
    counts: dict[str, str] = field(repr=False)
    messages: list[SippMessage] = field(repr=False)
    errors: str = field(repr=False)
    output: str = field(repr=False)

    def received(self, what: str | int, cseq: str | None = None) -> list[SippMessage]:
        """
        @param what: a method name or a status code.
        @param cseq: if given, only messages whose CSeq has this method.
        @return: the received messages that are that request or response.
        """
        return [
            m
            for m in self.messages
            if m.direction == "received"
            and (m.status == what if isinstance(what, int) else m.method == what)
            and (cseq is None or m.cseqMethod == cseq)
        ]

    def describe(self) -> str:
        """
        A summary for assertion messages: counters, errors and output tails.
        """
        return (
            f"exit={self.exitCode} successful={self.successfulCalls} "
            f"failed={self.failedCalls} retrans={self.retransmissions} "
            f"receivedRetrans={self.receivedRetransmissions} "
            f"unexpected={self.unexpectedMessages} "
            f"outOfCall={self.outOfCallMessages} dead={self.deadCallMessages}\n"
            f"--- errors ---\n{self.errors[-3000:]}\n"
            f"--- output ---\n{self.output[-2000:]}"
        )


def _lastRow(path: FilePath) -> dict[str, str]:
    with open(path.path, newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def _int(row: dict[str, str], name: str) -> int:
    return int(row.get(name) or 0)


def parseSippRun(directory: FilePath, exitCode: int, output: bytes) -> SippResult:
    """
    Read the files of one SIPp run (started by L{IntegrationTestCase.runSipp}
    with C{directory} as its working directory).

    @raise ProcessFailed: if SIPp wrote no statistics (it did not start).
    """
    statFile = directory.child("stat.csv")
    stats = _lastRow(statFile) if statFile.exists() else {}
    if not stats:
        raise ProcessFailed(f"SIPp (exit {exitCode}) wrote no statistics; output:\n{_tail(output)}")
    counts: dict[str, str] = {}
    for child in directory.globChildren("*_counts.csv"):
        counts = _lastRow(child)
    # Columns are <index>_<message>_<counter>; a receive step has a Recv
    # counter and its Retrans counter counts retransmissions received.
    received = {k.rsplit("_", 1)[0] for k in counts if k.endswith("_Recv")}
    receivedRetrans = sum(
        int(counts[k] or 0)
        for k in counts
        if k.endswith("_Retrans") and k.rsplit("_", 1)[0] in received
    )
    messageFile = directory.child("messages.log")
    messages = (
        parseSippMessages(messageFile.getContent().decode("utf-8", "replace"))
        if messageFile.exists()
        else []
    )
    errorFile = directory.child("errors.log")
    errors = errorFile.getContent().decode("utf-8", "replace") if errorFile.exists() else ""
    return SippResult(
        exitCode=exitCode,
        successfulCalls=_int(stats, "SuccessfulCall(C)"),
        failedCalls=_int(stats, "FailedCall(C)"),
        retransmissions=_int(stats, "Retransmissions(C)"),
        receivedRetransmissions=receivedRetrans,
        unexpectedMessages=_int(stats, "FailedUnexpectedMessage(C)"),
        outOfCallMessages=_int(stats, "OutOfCallMsgs(C)"),
        deadCallMessages=_int(stats, "DeadCallMsgs(C)"),
        stats=stats,
        counts=counts,
        messages=messages,
        errors=errors,
        output=output.decode("utf-8", "replace"),
    )


class SippProcess:
    """
    A SIPp running in the background (a UAS, typically).

    @ivar port: the local UDP port it uses.
    """

    def __init__(self, child: _ChildProcess, directory: FilePath, port: int) -> None:
        self._child = child
        self.directory = directory
        self.port = port
        self.address = f"{HOST}:{port}"

    @property
    def pid(self) -> int:
        return self._child.pid

    def signal(self, signum: int | str) -> None:
        """
        Send signal C{signum} (a number such as C{signal.SIGKILL}, or a name
        Twisted's C{signalProcess} knows, e.g. C{"TERM"}) to SIPp through its
        process transport, unless it has already ended (so a recycled pid is
        never hit).
        """
        self._child.signal(signum)

    def whenEnded(self) -> Deferred[int]:
        """
        @return: a Deferred firing with SIPp's exit code once it has ended
            (however it was ended), or failing with L{ProcessTimedOut} if the
            harness's hard timeout killed it.
        """
        return self._child.waitForExit()

    def whenListening(self, timeout: float = 10.0) -> Deferred[SippProcess]:
        """
        Wait until SIPp has bound its UDP port, so that a caller started now
        does not race it.  Polls C{/proc/net/udp} every 20 ms (Linux); where
        that file does not exist, waits half a second instead.

        @return: a Deferred firing with this L{SippProcess}, failing with
            L{ProcessFailed} if SIPp exits or does not bind within
            C{timeout} seconds.
        """
        reactor = self._child._reactor
        d: Deferred[SippProcess] = Deferred()
        deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
        needle = f":{self.port:04X}"

        def check() -> None:
            if not self._child.running:
                d.errback(
                    ProcessFailed(
                        f"{self._child.name} exited ({self._child.exitCode}) before "
                        f"binding port {self.port}:\n{_tail(self._child.output())}"
                    )
                )
                return
            try:
                with open("/proc/net/udp") as f:
                    table = f.read()
            except OSError:
                reactor.callLater(0.5, d.callback, self)  # type: ignore[attr-defined]
                return
            if any(
                line.split()[1:2] and line.split()[1].endswith(needle)
                for line in table.splitlines()[1:]
            ):
                d.callback(self)
            elif reactor.seconds() > deadline:  # type: ignore[attr-defined]
                d.errback(
                    ProcessFailed(
                        f"{self._child.name} did not bind port {self.port} within {timeout}s:\n"
                        f"{_tail(self._child.output())}"
                    )
                )
            else:
                reactor.callLater(0.02, check)  # type: ignore[attr-defined]

        check()
        return d

    def result(self) -> Deferred[SippResult]:
        """
        Wait for SIPp to exit by itself (give it C{-m N}).

        @return: a Deferred firing with its L{SippResult}, or failing with
            L{ProcessTimedOut}.
        """
        return self._child.waitForExit().addCallback(
            lambda code: parseSippRun(self.directory, code, self._child.output())
        )

    def stop(self) -> Deferred[SippResult]:
        """
        Ask SIPp to finish (SIGUSR1: stop placing calls and quit, as pressing
        C{q}), killing it if it lingers, and collect its result.
        """
        # A number: Twisted's signalProcess knows only TERM, KILL and INT by name.
        return self._child.stop(grace=10.0, signalName=signal.SIGUSR1).addCallback(
            lambda code: parseSippRun(self.directory, code, self._child.output())
        )


class KeepsipProcess:
    """
    A keepsip proxy running as C{python -m twisted keepsip ...}.

    @ivar port: the UDP port it listens on (at C{127.0.0.1}).
    @ivar address: C{"127.0.0.1:port"}, what a SIPp UAC calls.
    """

    def __init__(self, child: _ChildProcess, port: int) -> None:
        self._child = child
        self.port = port
        self.address = f"{HOST}:{port}"

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def running(self) -> bool:
        return self._child.running

    def output(self) -> str:
        """
        @return: keepsip's log so far.
        """
        return self._child.output().decode("utf-8", "replace")

    def stop(self) -> Deferred[int]:
        """
        SIGTERM, SIGKILL after 5 seconds.

        @return: a Deferred firing with the exit code.
        """
        return self._child.stop()

    def kill(self) -> Deferred[int]:
        """
        SIGKILL at once, as a crash would end keepsip (nothing flushed,
        nothing stopped).

        @return: a Deferred firing with the exit code once it has ended.
        """
        self._child.signal("KILL")
        return self._child.waitForExit()


class _OptionsProbe(protocol.DatagramProtocol):
    """
    Send an OPTIONS with C{Max-Forwards: 0} to keepsip every 100 ms until any
    SIP response comes back: keepsip answers it itself (200, or 483 Too Many
    Hops) whatever its routes are.
    """

    def __init__(self, clock: IReactorTime, target: tuple[str, int]) -> None:
        self._clock = clock
        self._target = target
        self.answered: Deferred[bytes] = Deferred()
        self._call = None
        self._sent = 0

    def startProtocol(self) -> None:
        self._send()

    def _send(self) -> None:
        port = self.transport.getHost().port  # type: ignore[attr-defined]
        self._sent += 1
        message = (
            f"OPTIONS sip:{self._target[0]}:{self._target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-probe-{port}-{self._sent}\r\n"
            f"Max-Forwards: 0\r\n"
            f"From: <sip:probe@{HOST}:{port}>;tag=probe{port}\r\n"
            f"To: <sip:{self._target[0]}:{self._target[1]}>\r\n"
            f"Call-ID: probe-{port}@{HOST}\r\n"
            f"CSeq: {self._sent} OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        ).encode("ascii")
        self.transport.write(message, self._target)  # type: ignore[attr-defined]
        self._call = self._clock.callLater(0.1, self._send)  # type: ignore[assignment]

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"SIP/2.0 ") and not self.answered.called:
            self.stopProbing()
            self.answered.callback(data)

    def stopProbing(self) -> None:
        if self._call is not None and self._call.active():  # type: ignore[attr-defined]
            self._call.cancel()  # type: ignore[attr-defined]


class IntegrationTestCase(unittest.TestCase):
    """
    A trial test case (real reactor) that starts keepsip and SIPp processes,
    each bounded by a timeout and stopped in cleanup.
    """

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.reactor = reactor
        self.sipp = requireExternal("sipp")

    def _spawn(self, name: str, argv: Sequence[str], cwd: str, timeout: float) -> _ChildProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [REPO_ROOT.path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        child = _ChildProcess(self.reactor, name, argv, cwd, env, timeout)  # type: ignore[arg-type]
        self.addCleanup(child.stop)
        return child

    @inlineCallbacks
    def startKeepsip(
        self,
        *args: str,
        port: int | None = None,
        timeout: float = 300.0,
        readyTimeout: float = 20.0,
        twistd: bool = False,
    ):  # type: ignore[no-untyped-def]
        """
        Start keepsip listening on C{udp:127.0.0.1:port} (advertising that
        address) with the extra command line C{args}, and wait until it
        answers an OPTIONS.

        @param args: more keepsip options, e.g. C{"--route", "*=sip:..."}.
        @param port: the UDP port; a free one if L{None}.
        @param timeout: hard limit of keepsip's life in this test.
        @param readyTimeout: how long it may take to answer the probe.
        @param twistd: run it as C{twistd -n keepsip} rather than C{twist}.
        @return: a Deferred firing with a L{KeepsipProcess}; failing with
            L{ProcessFailed} (with keepsip's output) if it exits or does not
            answer in time.
        """
        port = port or freeUDPPort(HOST)
        workdir = FilePath(self.mktemp())
        workdir.makedirs()
        runner = [sys.executable, "-m", "twisted", "--log-format=text", "--log-file=-"]
        if twistd:
            runner = [
                sys.executable,
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "--pidfile=",
                "--logfile=-",
            ]
        argv = [
            *runner,
            "keepsip",
            "--listen",
            f"udp:{HOST}:{port}",
            "--advertise",
            f"{HOST}:{port}",
            *args,
        ]
        child = self._spawn("keepsip", argv, workdir.path, timeout)
        keepsip = KeepsipProcess(child, port)
        probe = _OptionsProbe(self.reactor, (HOST, port))
        listening = self.reactor.listenUDP(0, probe, interface=HOST)
        outcome: Deferred[object] = Deferred()

        def settle(value: object) -> None:
            if not outcome.called:
                outcome.callback(value)

        probe.answered.addCallback(settle)
        child._protocol.whenEnded().addCallback(
            lambda code: settle(
                ProcessFailed(
                    f"keepsip exited ({code}) before answering OPTIONS:\n{_tail(child.output())}"
                )
            )
        )
        giveUp = self.reactor.callLater(
            readyTimeout,
            lambda: settle(
                ProcessFailed(
                    f"keepsip did not answer OPTIONS within {readyTimeout}s:\n"
                    f"{_tail(child.output())}"
                )
            ),
        )
        try:
            result = yield outcome
        finally:
            probe.stopProbing()
            if giveUp.active():
                giveUp.cancel()
            yield listening.stopListening()
        if isinstance(result, Exception):
            raise result
        return keepsip

    def _sippArgv(
        self, scenario: str, args: Iterable[str], port: int, remote: str | None
    ) -> list[str]:
        scenarioPath = SCENARIOS.child(scenario) if "/" not in scenario else FilePath(scenario)
        argv = [
            self.sipp,
            "-sf",
            scenarioPath.path,
            "-i",
            HOST,
            "-p",
            str(port),
            *_SIPP_COMMON,
            "-stf",
            "stat.csv",
            "-message_file",
            "messages.log",
            "-error_file",
            "errors.log",
            *args,
        ]
        if remote is not None:
            argv.append(remote)
        return argv

    def startSipp(
        self,
        scenario: str,
        *args: str,
        port: int | None = None,
        remote: str | None = None,
        timeout: float = 120.0,
    ) -> SippProcess:
        """
        Start SIPp in the background, e.g. a UAS before the UAC calls it.

        @param scenario: a file name in C{tests/integration/scenarios}, or a
            path.
        @param args: more SIPp options (give a UAS C{-m N} so that it exits
            by itself after N calls).
        @param port: its local UDP port; a free one if L{None}.
        @param remote: C{host:port} to send to (a UAC), or L{None}.
        @param timeout: hard limit after which it is killed.
        @return: the running L{SippProcess}.
        """
        port = port or freeUDPPort(HOST)
        workdir = FilePath(self.mktemp())
        workdir.makedirs()
        child = self._spawn(
            f"sipp {scenario}",
            self._sippArgv(scenario, args, port, remote),
            workdir.path,
            timeout,
        )
        return SippProcess(child, workdir, port)

    def runSipp(
        self,
        scenario: str,
        *args: str,
        remote: str | None = None,
        port: int | None = None,
        timeout: float = 60.0,
    ) -> Deferred[SippResult]:
        """
        Run SIPp in the foreground until it exits, e.g. a UAC placing calls.
        SIPp's own C{-timeout} is set a little under C{timeout} (with
        C{-timeout_error}) so that it normally ends first and reports.

        @return: a Deferred firing with its L{SippResult}, failing with
            L{ProcessTimedOut} if the hard timeout had to kill it.
        """
        sippTimeout = max(1, int(timeout) - 5)
        proc = self.startSipp(
            scenario,
            "-timeout",
            f"{sippTimeout}s",
            "-timeout_error",
            *args,
            port=port,
            remote=remote,
            timeout=timeout,
        )
        return proc.result()

    def assertAllCallsSucceeded(self, result: SippResult, calls: int) -> None:
        """
        Assert that a SIPp run completed C{calls} calls and nothing else
        went wrong: no failed call, no retransmission either way, no
        unexpected, out-of-call or dead-call message, exit status 0.
        """
        self.assertEqual(
            (
                result.exitCode,
                result.successfulCalls,
                result.failedCalls,
                result.retransmissions,
                result.receivedRetransmissions,
                result.unexpectedMessages,
                result.outOfCallMessages,
                result.deadCallMessages,
            ),
            (0, calls, 0, 0, 0, 0, 0, 0),
            "(exit, successful, failed, retrans, receivedRetrans, unexpected, "
            "outOfCall, dead)\n" + result.describe(),
        )


__all__ = [
    "REPO_ROOT",
    "SCENARIOS",
    "IntegrationTestCase",
    "KeepsipProcess",
    "ProcessFailed",
    "ProcessTimedOut",
    "SippMessage",
    "SippProcess",
    "SippResult",
    "parseSippMessages",
    "parseSippRun",
]
