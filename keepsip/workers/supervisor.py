"""
The supervisor of C{--workers N}: L{WorkerSupervisor}, the service the
C{twistd keepsip} process runs instead of the proxy.

It binds every socket the workers listen on (in C{privilegedStartService},
so ports below 1024 work before twistd sheds its privileges), spawns each
worker as C{python -m keepsip.workers} with its sockets as inherited
descriptors and its L{WorkerSpec} on its standard input, relays each
worker's log events into its own log, restarts a worker that ends (after
0.5 s, doubling up to L{MAX_RESTART_DELAY} while it keeps dying young), and
on stop sends each worker SIGTERM and waits until all have flushed and ended.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any

from twisted.application import service
from twisted.internet import error, protocol
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.logger import LogLevel, eventFromJSON, globalLogPublisher
from twisted.python.failure import Failure

from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress
from keepsip.logs import Logger
from keepsip.startup import EXIT_STATUS, listenError
from keepsip.transport.listener import bindUDPSocket
from keepsip.workers.settings import privateAddresses, workerConfig

log = Logger()

#: Seconds before the first restart of a worker that ended.
FIRST_RESTART_DELAY = 0.5
#: The longest wait before a restart.
MAX_RESTART_DELAY = 10.0
#: A worker that ran this long before it ended is restarted at once again
#: (after L{FIRST_RESTART_DELAY}).
STABLE_AFTER = 30.0
#: Seconds a worker may take beyond C{--shutdown-timeout} to end on SIGTERM.
STOP_GRACE = 5.0
#: The worker log event field saying it has started.
READY_FIELD = "keepsipWorkerReady"

_LENGTH = struct.Struct("!Q")


@dataclass(frozen=True)
class WorkerSpec:
    """
    What a worker process is told on its standard input.

    @ivar index: 1..N.
    @ivar config: its configuration (L{workerConfig}).
    @ivar sockets: its bound sockets' descriptors by C{(host, port)}.
    """

    index: int
    config: Config
    sockets: dict[tuple[str, int], int]

    def encode(self) -> bytes:
        """
        This spec as a length-prefixed pickle (it goes from the supervisor to
        the worker it spawned, nowhere else).
        """
        data = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return _LENGTH.pack(len(data)) + data


def readSpec(fd: int) -> WorkerSpec:
    """
    Read a L{WorkerSpec} written by L{WorkerSpec.encode} from C{fd}.

    @raise EOFError: if C{fd} ends first.
    """

    def read(count: int) -> bytes:
        chunks = []
        while count:
            chunk = os.read(fd, count)
            if not chunk:
                raise EOFError("the supervisor closed the worker's standard input")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    (length,) = _LENGTH.unpack(read(_LENGTH.size))
    spec = pickle.loads(read(length))
    assert isinstance(spec, WorkerSpec)
    return spec


class WorkerProtocol(protocol.ProcessProtocol):
    """
    One worker process: sends its spec, relays its log lines (JSON events
    on stdout, anything else on stderr), tells the supervisor when it is
    ready and when it ended.
    """

    def __init__(self, supervisor: WorkerSupervisor, spec: WorkerSpec) -> None:
        self.supervisor = supervisor
        self.spec = spec
        self.index = spec.index
        self.ready = False
        self._out = b""
        self._err = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        # Standard input stays open: the worker stops when it closes.
        self.transport.write(self.spec.encode())

    def outReceived(self, data: bytes) -> None:
        self._out += data
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            self._relay(line.strip(b"\x1e \r"))

    def errReceived(self, data: bytes) -> None:
        self._err += data
        *lines, self._err = self._err.split(b"\n")
        for line in lines:
            if line.strip():
                log.warn(
                    "worker {workerIndex}: {line}",
                    workerIndex=self.index,
                    line=line.decode("utf-8", "replace"),
                )

    def _relay(self, line: bytes) -> None:
        if not line:
            return
        try:
            event = eventFromJSON(line.decode("utf-8", "replace"))
        except ValueError:
            log.info("worker {workerIndex}: {line}", workerIndex=self.index, line=line)
            return
        if not isinstance(event, dict):
            return
        event.setdefault("log_time", self.supervisor.reactor.seconds())
        level = event.get("log_level")
        levelName = level.name if isinstance(level, type(LogLevel.info)) else "-"
        event["log_system"] = f"w{self.index} {event.get('log_namespace', '-')}#{levelName}"
        event["workerIndex"] = self.index
        if event.get(READY_FIELD) and not self.ready:
            self.ready = True
            self.supervisor.workerReady(self)
        globalLogPublisher(event)

    def processEnded(self, reason: Failure) -> None:
        if self._out:
            self.outReceived(b"\n")
        if self._err:
            self.errReceived(b"\n")
        self.supervisor.workerEnded(self, reason)


class WorkerSupervisor(service.Service):
    """
    Run C{config.workers} keepsip worker processes sharing the C{--listen}
    ports, each with its own port (L{keepsip.workers.settings}).

    @param config: the validated configuration, C{workers} > 1.
    @param reactor: an C{IReactorProcess} and C{IReactorTime}.
    @param argv: the worker command line (its standard input gives the rest).
    @ivar processes: the running L{WorkerProtocol} by index.
    @ivar pids: each worker's current process id, by index.
    @ivar restarts: how many times each worker was restarted, by index.
    """

    def __init__(
        self,
        config: Config,
        reactor: Any,
        argv: list[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.argv = argv or [sys.executable, "-m", "keepsip.workers"]
        self.environ = dict(os.environ if environ is None else environ)
        self.processes: dict[int, WorkerProtocol] = {}
        self.pids: dict[int, int] = {}
        self.restarts: dict[int, int] = {}
        self._sockets: dict[int, list[tuple[ListenAddress, socket.socket]]] = {}
        self._started: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._pending: dict[int, Any] = {}
        self._everReady: set[int] = set()
        self._stopping = False
        self._stopped: Deferred[None] | None = None
        self.fatal: str | None = None

    def privilegedStartService(self) -> None:
        """
        Bind every worker's sockets: one C{SO_REUSEPORT} socket per worker
        and C{--listen} address, and each worker's own port on every listen
        host.

        @raise keepsip.startup.StartupError: naming C{--listen} or
            C{--worker-ports}.
        """
        service.Service.privilegedStartService(self)
        if self._sockets:
            return
        try:
            for index in range(1, self.config.workers + 1):
                bound = self._sockets.setdefault(index, [])
                for address in privateAddresses(self.config, index):
                    bound.append((address, self._bind(address, False, "worker-ports")))
                for address in self.config.listen:
                    bound.append((address, self._bind(address, True, "listen")))
        except Exception:
            self._closeSockets()
            raise

    @staticmethod
    def _bind(address: ListenAddress, reusePort: bool, option: str) -> socket.socket:
        try:
            sock = bindUDPSocket(address.host, address.port, reusePort)
        except CannotListenError as e:
            raise listenError(option, str(address), e) from e
        sock.set_inheritable(True)
        return sock

    def _closeSockets(self) -> None:
        for bound in self._sockets.values():
            for _, sock in bound:
                sock.close()
        self._sockets.clear()

    def startService(self) -> None:
        self.privilegedStartService()
        service.Service.startService(self)
        log.info(
            "keepsip supervisor starting {count} workers on {listen}",
            count=self.config.workers,
            listen=", ".join(str(a) for a in self.config.listen),
        )
        for index in range(1, self.config.workers + 1):
            self.spawn(index)

    def spawn(self, index: int) -> WorkerProtocol:
        """
        Start worker C{index} with its sockets as descriptors 3, 4, ...
        """
        self._pending.pop(index, None)
        childFDs: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        sockets: dict[tuple[str, int], int] = {}
        for n, (address, sock) in enumerate(self._sockets[index], 3):
            childFDs[n] = sock.fileno()
            sockets[(address.host, address.port)] = n
        spec = WorkerSpec(index, workerConfig(self.config, index), sockets)
        worker = WorkerProtocol(self, spec)
        transport = self.reactor.spawnProcess(
            worker, self.argv[0], self.argv, env=self.environ, childFDs=childFDs
        )
        self.processes[index] = worker
        self.pids[index] = transport.pid
        self._started[index] = self.reactor.seconds()
        log.info(
            "worker {workerIndex} started: pid {pid}, advertising {advertise}",
            workerIndex=index,
            pid=transport.pid,
            advertise=spec.config.advertiseHostPort,
        )
        return worker

    def workerReady(self, worker: WorkerProtocol) -> None:
        """
        Worker C{worker} started its services.
        """
        self._everReady.add(worker.index)

    def workerEnded(self, worker: WorkerProtocol, reason: Failure) -> None:
        """
        A worker process ended: restart it after a delay, unless keepsip is
        stopping; if it never started (a start-up error) stop keepsip.
        """
        index = worker.index
        if self.processes.get(index) is worker:
            del self.processes[index]
            self.pids.pop(index, None)
        code = getattr(reason.value, "exitCode", None)
        signalNumber = getattr(reason.value, "signal", None)
        how = f"signal {signalNumber}" if signalNumber else f"status {code}"
        if self._stopping:
            log.info("worker {workerIndex} ended ({how})", workerIndex=index, how=how)
            if not self.processes and self._stopped is not None and not self._stopped.called:
                self._stopped.callback(None)
            return
        if index not in self._everReady and code == EXIT_STATUS:
            self.fatal = f"worker {index} could not start (see its error above)"
            log.critical("{error}; stopping", error=self.fatal)
            stop = getattr(self.reactor, "stop", None)
            if stop is not None:
                # Exit with keepsip's start-up failure status once stopped.
                self.reactor.addSystemEventTrigger("after", "shutdown", self._exitFatal)
                stop()
            return
        ran = self.reactor.seconds() - self._started.get(index, 0.0)
        failures = 0 if ran >= STABLE_AFTER else self._failures.get(index, 0)
        self._failures[index] = failures + 1
        delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2**failures)
        self.restarts[index] = self.restarts.get(index, 0) + 1
        log.error(
            "worker {workerIndex} ended ({how}) after {ran:.1f}s; restarting it in {delay}s",
            workerIndex=index,
            how=how,
            ran=ran,
            delay=delay,
        )
        self._pending[index] = self.reactor.callLater(delay, self.spawn, index)

    def stopService(self) -> Deferred[None]:
        """
        SIGTERM to every worker; fires once all have ended (SIGKILL after
        C{--shutdown-timeout} + L{STOP_GRACE} seconds).
        """
        service.Service.stopService(self)
        self._stopping = True
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        self._stopped = Deferred()
        if not self.processes:
            self._stopped.callback(None)
        self._signalAll(signal.SIGTERM)
        killer = self.reactor.callLater(
            self.config.shutdownTimeout + STOP_GRACE, self._signalAll, signal.SIGKILL
        )

        def stopped(result: object) -> None:
            if killer.active():
                killer.cancel()
            self._closeSockets()

        return self._stopped.addCallback(stopped)

    def _exitFatal(self) -> None:
        try:
            stream = sys.__stderr__ or sys.stderr
            stream.write(f"keepsip: {self.fatal}\n")
            stream.flush()
        finally:
            os._exit(EXIT_STATUS)

    def _signalAll(self, signalNumber: int) -> None:
        for worker in list(self.processes.values()):
            transport = worker.transport
            if transport is None:
                continue
            try:
                transport.signalProcess(signalNumber)
            except error.ProcessExitedAlready:
                pass
