"""
Tests for L{keepsip.workers.supervisor}: binding, spawning, restarting and
stopping the workers, with a fake process reactor and real loopback sockets.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.logger import LogLevel, eventAsJSON, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from keepsip.config.load import buildConfig
from keepsip.startup import StartupError
from keepsip.workers.supervisor import (
    FIRST_RESTART_DELAY,
    READY_FIELD,
    WorkerSpec,
    WorkerSupervisor,
    readSpec,
)
from tests.helpers import freeUDPPort


class _Transport:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.written = b""
        self.signals: list[int] = []

    def write(self, data: bytes) -> None:
        self.written += data

    def signalProcess(self, number: int) -> None:
        self.signals.append(number)


class _ProcessReactor(Clock):
    def __init__(self) -> None:
        Clock.__init__(self)
        self.spawned: list[tuple[Any, list[str], dict[int, Any], _Transport]] = []
        self.stopped = 0
        self.triggers: list[tuple[str, str]] = []

    def spawnProcess(self, proto: Any, executable: str, args: list[str], env: Any, childFDs: Any) -> _Transport:
        transport = _Transport(1000 + len(self.spawned))
        proto.makeConnection(transport)
        self.spawned.append((proto, args, childFDs, transport))
        return transport

    def stop(self) -> None:
        self.stopped += 1

    def addSystemEventTrigger(self, phase: str, event: str, f: Any) -> None:
        self.triggers.append((phase, event))


def _ports() -> tuple[int, int]:
    for _ in range(50):
        shared, first = freeUDPPort(), freeUDPPort()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", first + 1))
        except OSError:
            continue
        finally:
            s.close()
        if abs(shared - first) > 1:
            return shared, first
    raise RuntimeError("no free ports")


class SupervisorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.shared, self.first = _ports()
        self.config = buildConfig(
            {
                "listen": [f"udp:127.0.0.1:{self.shared}"],
                "workers": "2",
                "worker-ports": str(self.first),
                "dialog-store": "memory",
            }
        )
        self.reactor = _ProcessReactor()
        self.supervisor = WorkerSupervisor(self.config, self.reactor, argv=["python", "-m", "x"])
        self.addCleanup(self._stop)

    def _stop(self) -> None:
        if self.supervisor.running:
            d = self.supervisor.stopService()
            for proto, _, _, _ in list(self.reactor.spawned):
                if proto in self.supervisor.processes.values():
                    proto.processEnded(Failure(ProcessDone(0)))
            self.successResultOf(d)

    def spec(self, n: int) -> WorkerSpec:
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        with os.fdopen(write, "wb") as f:
            f.write(self.reactor.spawned[n][3].written)
        return readSpec(read)

    def test_startSpawnsWithSockets(self) -> None:
        """
        Starting binds the shared port once per worker (SO_REUSEPORT) and
        each worker's own port, and spawns each worker with them as
        descriptors 3 and up and its spec on standard input: its index, its
        configuration advertising its own port, which descriptor is which.
        """
        self.supervisor.startService()
        self.assertEqual(len(self.reactor.spawned), 2)
        for n, index in enumerate((1, 2)):
            _, args, childFDs, _ = self.reactor.spawned[n]
            self.assertEqual(args, ["python", "-m", "x"])
            spec = self.spec(n)
            self.assertEqual(spec.index, index)
            own = self.first + index - 1
            self.assertEqual(spec.config.advertise, ("127.0.0.1", own))
            self.assertEqual(
                spec.sockets, {("127.0.0.1", own): 3, ("127.0.0.1", self.shared): 4}
            )
            for child in (3, 4):
                sock = socket.socket(fileno=os.dup(childFDs[child]))
                self.addCleanup(sock.close)
                self.assertEqual(sock.getsockname()[1], own if child == 3 else self.shared)
                self.assertEqual(
                    sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT), int(child == 4)
                )

    def test_restartWithBackoff(self) -> None:
        """
        A worker that ends is started again after a delay that doubles
        while it keeps dying young; the other worker is left alone.
        """
        self.supervisor.startService()
        first = self.reactor.spawned[0][0]
        first.processEnded(Failure(ProcessTerminated(signal=signal.SIGKILL)))
        self.assertNotIn(1, self.supervisor.processes)
        self.reactor.advance(FIRST_RESTART_DELAY - 0.01)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.reactor.advance(0.01)
        self.assertEqual(len(self.reactor.spawned), 3)
        self.assertEqual(self.spec(2).index, 1)
        self.assertEqual(self.supervisor.pids[1], self.reactor.spawned[2][3].pid)
        self.reactor.spawned[2][0].processEnded(Failure(ProcessTerminated(exitCode=70)))
        self.reactor.advance(2 * FIRST_RESTART_DELAY - 0.01)
        self.assertEqual(len(self.reactor.spawned), 3)
        self.reactor.advance(0.01)
        self.assertEqual(len(self.reactor.spawned), 4)
        self.assertEqual(self.supervisor.restarts, {1: 2})

    def test_neverStarted(self) -> None:
        """
        A worker that ends with keepsip's start-up failure status before it
        said it was ready stops keepsip (exit status 1 once stopped)
        instead of being restarted over and over.
        """
        self.supervisor.startService()
        self.reactor.spawned[0][0].processEnded(Failure(ProcessTerminated(exitCode=1)))
        self.assertEqual(self.reactor.stopped, 1)
        self.assertEqual(self.reactor.triggers, [("after", "shutdown")])
        self.reactor.advance(60)
        self.assertEqual(len(self.reactor.spawned), 2)

    def test_readyThenFailingIsRestarted(self) -> None:
        """
        A worker that was ready once and then exits with status 1 is
        restarted; its log events are relayed with its index.
        """
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.supervisor.startService()
        worker = self.reactor.spawned[0][0]
        line = eventAsJSON(
            {
                "log_format": "ready",
                "log_level": LogLevel.info,
                "log_namespace": "n",
                "log_time": 5.0,
                READY_FIELD: True,
            }
        )
        worker.outReceived(b"\x1e" + line.encode()[:10])
        worker.outReceived(line.encode()[10:] + b"\n")
        [relayed] = [e for e in events if e.get("log_format") == "ready"]
        self.assertEqual((relayed["workerIndex"], relayed["log_system"]), (1, "w1 n#info"))
        worker.processEnded(Failure(ProcessTerminated(exitCode=1)))
        self.assertEqual(self.reactor.stopped, 0)
        self.reactor.advance(FIRST_RESTART_DELAY)
        self.assertEqual(len(self.reactor.spawned), 3)

    def test_stop(self) -> None:
        """
        Stopping sends SIGTERM to each worker, fires once all have ended,
        restarts none, and sends SIGKILL to those still running after the
        shutdown timeout and its grace.
        """
        self.supervisor.startService()
        d = self.supervisor.stopService()
        transports = [t for _, _, _, t in self.reactor.spawned]
        self.assertEqual([t.signals for t in transports], [[signal.SIGTERM]] * 2)
        self.reactor.spawned[0][0].processEnded(Failure(ProcessDone(0)))
        self.assertNoResult(d)
        self.reactor.advance(60)
        self.assertEqual(transports[1].signals, [signal.SIGTERM, signal.SIGKILL])
        self.reactor.spawned[1][0].processEnded(Failure(ProcessTerminated(signal=9)))
        self.successResultOf(d)
        self.assertEqual(len(self.reactor.spawned), 2)

    def test_portInUse(self) -> None:
        """
        A worker port already taken is a start-up error naming
        --worker-ports, and nothing stays bound.
        """
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", self.first + 1))
        e = self.assertRaises(StartupError, self.supervisor.privilegedStartService)
        self.assertEqual(e.option, "worker-ports")
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(probe.close)
        probe.bind(("127.0.0.1", self.first))
