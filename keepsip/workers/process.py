"""
A worker process of C{--workers N}: C{python -m keepsip.workers}, spawned by
L{keepsip.workers.supervisor.WorkerSupervisor}, never by hand.

It reads its L{WorkerSpec} from standard input, writes its log as JSON
events to standard output (the supervisor relays them into its own log),
builds keepsip's service tree with L{keepsip.service.makeService} on the
sockets it inherited, and runs the reactor as twistd does: services
started before the reactor runs (a start-up error ends the process with
status 1 and one line on standard error), stopped on SIGTERM or SIGINT with
their shutdown flush (once, though both may come: the supervisor sends
SIGTERM and a terminal's Ctrl-C reaches the whole process group). It also stops when its standard input closes: the
supervisor is gone. A stop that has not ended C{--shutdown-timeout} +
L{STOP_GRACE<keepsip.workers.supervisor.STOP_GRACE>} seconds after it began
ends the process (status 1): the supervisor would SIGKILL it then, and a
supervisor that is gone cannot.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from twisted.internet import abstract
from twisted.internet.main import CONNECTION_DONE
from twisted.logger import globalLogBeginner, jsonFileLogObserver

from keepsip.logs import Logger
from keepsip.workers.supervisor import READY_FIELD, STOP_GRACE, readSpec

log = Logger()


class ParentWatch(abstract.FileDescriptor):
    """
    Read the worker's standard input until it closes, then call C{lost}.
    """

    def __init__(self, reactor: Any, fd: int, lost: Any) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self.fd = fd
        self.lost = lost

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> Any:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            return CONNECTION_DONE
        return None if data else CONNECTION_DONE

    def connectionLost(self, reason: Any) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        self.lost()


def main() -> None:
    """
    Run one worker (see the module docstring).
    """
    spec = readSpec(0)
    globalLogBeginner.beginLoggingTo([jsonFileLogObserver(sys.stdout)], redirectStandardIO=False)

    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    from keepsip.service import makeService
    from keepsip.tap import processRoot

    # Before anything starts: a SIGTERM during start-up stops it cleanly too.
    stopping: list[int] = []

    def stuck() -> None:
        log.error(
            "worker {workerIndex}: not stopped {seconds} s after the stop began; exiting",
            workerIndex=spec.index,
            seconds=spec.config.shutdownTimeout + STOP_GRACE,
        )
        os._exit(1)

    def stopBounded() -> None:
        # The stop of the services (their shutdown flush) is bounded by the
        # shutdown timeout; should it hang anyway, nothing but this ends
        # the process once the supervisor is gone (seen: a worker whose
        # supervisor was SIGKILLed stayed, ignoring SIGTERM, for minutes).
        reactor.callLater(spec.config.shutdownTimeout + STOP_GRACE, stuck)
        reactor.stop()

    def stopOnce(signalNumber: int) -> None:
        # SIGTERM from the supervisor and SIGINT from a terminal (the whole
        # process group) may both come: stop once.
        if not stopping and reactor.running:
            stopping.append(signalNumber)
            log.info(
                "worker {workerIndex}: signal {signal}, stopping",
                workerIndex=spec.index,
                signal=signalNumber,
            )
            stopBounded()

    for signalNumber in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            signalNumber, lambda number, frame: reactor.callFromThread(stopOnce, number)
        )
    # The same root as the single process's: GC tuning and malloc_trim.
    root = processRoot(makeService(spec.config, reactor, spec.sockets), reactor)
    root.privilegedStartService()
    root.startService()
    reactor.addSystemEventTrigger("before", "shutdown", root.stopService)

    def parentGone() -> None:
        if not stopping and reactor.running:
            stopping.append(0)
            log.warn("worker {workerIndex}: the supervisor is gone; stopping", workerIndex=spec.index)
            stopBounded()

    os.set_blocking(0, False)
    watch = ParentWatch(reactor, 0, parentGone)
    watch.startReading()
    log.info(
        "worker {workerIndex} ready, pid {pid}",
        workerIndex=spec.index,
        pid=os.getpid(),
        **{READY_FIELD: True},
    )
    reactor.run(installSignalHandlers=False)
