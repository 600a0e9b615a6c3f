"""
The accounting tracker: a dialog observer that turns call events into
records (L{keepsip.accounting.cdr}) and delivers every record to every
backend, losing none.

How records reach each backend (spool, group commit, order, retries, replay
at start-up, at-least-once) is L{keepsip.accounting.delivery}.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from keepsip.logs import Logger

from keepsip.accounting.callstate import accountingState, noteMedia
from keepsip.accounting.cdr import INTERIM, START, STOP, RecordBuilder
from keepsip.accounting.delivery import BackendDelivery
from keepsip.accounting.interimline import recordLine
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.spool import Spool
from keepsip.accounting.wire import wireSafe
from keepsip.dialog.model import Dialog
from keepsip.dialog.observer import DialogObserver
from keepsip.interfaces import IAccountingBackend

_log = Logger()


class AccountingTracker(DialogObserver, Service):
    """
    Makes call records from dialog events and fans them out to backends.

    An L{IDialogObserver}, plus C{dialogKeptAlive(dialog)} for the keepalive
    layer. Records: C{start} when a call is answered, C{interim} on each
    keepalive (if C{interimOnKeepalive}) and/or every C{interimInterval}
    seconds of a call, C{stop} when any call ends, answered or not.
    """

    name = "accounting"

    def __init__(
        self,
        backends: Iterable[tuple[str, IAccountingBackend]],
        reactor: IReactorTime,
        spoolDirectory: str,
        tariffs: Tariffs | None = None,
        interimInterval: float | None = None,
        interimOnKeepalive: bool = True,
        sendTimeout: float = 30.0,
        retryInitial: float = 1.0,
        retryMax: float = 60.0,
        stopTimeout: float = 5.0,
        commitDelay: float = 0.0,
        batchSize: int = 100,
    ) -> None:
        """
        @param backends: C{(key, backend)} pairs as made by
            L{keepsip.accounting.plugin.makeBackends}; the key names the
            backend's spool, so it must be stable across restarts.
        @param reactor: the clock for timestamps, interim timers and retries
            (also used for C{callFromThread} by the SIGHUP handler).
        @param spoolDirectory: where the spools live.
        @param tariffs: prices; default all zero.
        @param interimInterval: seconds between periodic interim records of
            an answered call, or L{None} for none.
        @param interimOnKeepalive: make an interim record on each keepalive.
        @param sendTimeout: seconds before a send counts as failed.
        @param retryInitial: first retry delay after a failure, doubled on
            each further failure up to C{retryMax}.
        @param stopTimeout: how long C{stopService} goes on delivering the
            records waiting for each backend (then closes it, waiting at
            most what is left of that time, and at least a second); the
            rest stays spooled (C{--shutdown-timeout}).
        @param commitDelay: seconds after the first record of a batch before
            the batch is spooled (one write and one fsync per backend) and
            sent; 0 (the default) means at the end of the current reactor
            turn (C{callLater(0)}). A longer window batches more under load,
            at the price of more records lost if keepsip crashes inside it.
        @param batchSize: the most records handed at once to a backend that
            has C{sendRecords}.
        """
        if commitDelay < 0:
            raise ValueError(f"commitDelay must be >= 0, got {commitDelay!r}")
        if batchSize < 1:
            raise ValueError(f"batchSize must be >= 1, got {batchSize!r}")
        self.reactor = reactor
        self.builder = RecordBuilder(tariffs if tariffs is not None else Tariffs())
        self.interimInterval = interimInterval
        self.interimOnKeepalive = interimOnKeepalive
        self.stopTimeout = stopTimeout
        self.commitDelay = commitDelay
        self._commitCall: IDelayedCall | None = None
        self.deliveries: list[BackendDelivery] = []
        for key, backend in backends:
            if any(delivery.key == key for delivery in self.deliveries):
                raise ValueError(f"accounting backend key {key!r} is used twice")
            self.deliveries.append(
                BackendDelivery(
                    key,
                    backend,
                    Spool(spoolDirectory, key, reactor),
                    reactor,
                    sendTimeout,
                    retryInitial,
                    retryMax,
                    batchSize,
                )
            )
        self._interimCalls: dict[tuple[str, str], IDelayedCall] = {}
        #: Records whose fast line (L{recordLine}) raised and that were made
        #: the slow way instead; only the first is logged.
        self.fastPathFailures = 0
        self._previousHandler: Any = None
        self._installedHandler = False

    # -- service -----------------------------------------------------------

    def startService(self) -> None:
        """
        Read every backend's spool and start delivering; install the SIGHUP
        handler that reopens files (see L{reopenBackends}).
        """
        Service.startService(self)
        for delivery in self.deliveries:
            recovered = delivery.start()
            if recovered:
                _log.info(
                    "Replaying {count} spooled records to accounting backend {backend}",
                    count=recovered,
                    backend=delivery.key,
                )
        self.installSignalHandler()

    def stopService(self) -> Deferred:
        """
        Cancel interim timers, commit the records not yet spooled, stop every
        delivery after delivering what waits (bounded by C{stopTimeout}),
        close the backends and restore
        the SIGHUP handler.

        @return: L{Deferred} firing when done; it never fails.
        """
        Service.stopService(self)
        for call in self._interimCalls.values():
            if call.active():
                call.cancel()
        self._interimCalls.clear()
        self.uninstallSignalHandler()
        # Spool and start sending what this turn made before stopping.
        self.commit()
        stopping = [delivery.stop(self.stopTimeout) for delivery in self.deliveries]
        return DeferredList(stopping, consumeErrors=True).addCallback(lambda _: None)

    def installSignalHandler(
        self, signalModule: Any = signal, isMainThread: Callable[[], bool] | None = None
    ) -> bool:
        """
        Make SIGHUP call L{reopenBackends} (through C{callFromThread}, so the
        reopen never runs in the middle of a write), if on the main thread
        and the platform has SIGHUP.

        @return: whether a handler was installed.
        """
        if isMainThread is None:
            isMainThread = lambda: threading.current_thread() is threading.main_thread()
        if not hasattr(signalModule, "SIGHUP") or not isMainThread():
            return False
        if not any(hasattr(d.backend, "reopen") for d in self.deliveries):
            return False
        self._signalModule = signalModule
        self._previousHandler = signalModule.signal(signalModule.SIGHUP, self._hangup)
        self._installedHandler = True
        return True

    def uninstallSignalHandler(self) -> None:
        """
        Put back the SIGHUP handler that was there before
        L{installSignalHandler}.
        """
        if self._installedHandler:
            self._signalModule.signal(self._signalModule.SIGHUP, self._previousHandler)
            self._installedHandler = False

    def _hangup(self, signum: int, frame: object) -> None:
        callFromThread = getattr(self.reactor, "callFromThread", None)
        if callFromThread is None:
            self.reopenBackends()
        else:
            callFromThread(self.reopenBackends)

    def reopenBackends(self) -> None:
        """
        Call C{reopen()} on every backend that has it (files after
        logrotate).
        """
        for delivery in self.deliveries:
            reopen = getattr(delivery.backend, "reopen", None)
            if reopen is not None:
                try:
                    reopen()
                except Exception:
                    _log.failure("Reopening accounting backend {backend}", backend=delivery.key)

    def backlog(self) -> dict[str, int]:
        """
        @return: backend key -> records waiting for it (for metrics).
        """
        return {delivery.key: delivery.backlog for delivery in self.deliveries}

    # -- records -----------------------------------------------------------

    def emit(self, record: dict[str, Any]) -> None:
        """
        Hand one record to every backend: it is spooled with the other
        records of this reactor turn (or C{commitDelay}) by L{commit}, then
        sent.
        """
        # Backends get the wire-safe form too: a RADIUS attribute or a Redis
        # field cannot carry a non-UTF-8 octet either.
        record, line = wireSafe(record)
        for delivery in self.deliveries:
            delivery.submit(record, line)
        self._scheduleCommit()

    def emitLine(self, line: bytes) -> None:
        """
        Like L{emit}, for a record already written as its wire-safe JSON
        line (L{keepsip.accounting.interimline.recordLine}, how the tracker
        makes its records): a backend that takes records gets the line
        decoded.
        """
        for delivery in self.deliveries:
            delivery.submit(None, line)
        self._scheduleCommit()

    def _scheduleCommit(self) -> None:
        if self._commitCall is None:
            self._commitCall = self.reactor.callLater(self.commitDelay, self.commit)

    def commit(self) -> None:
        """
        Spool the records emitted since the last commit, one write and one
        fsync per backend, and start sending them. Called by the clock after
        L{emit}; callable directly to flush at once.
        """
        call, self._commitCall = self._commitCall, None
        if call is not None and call.active():
            call.cancel()
        for delivery in self.deliveries:
            try:
                delivery.commit()
            except Exception:
                _log.failure("Committing records for backend {backend}", backend=delivery.key)

    def _record(self, dialog: Dialog, kind: str, **kw: Any) -> None:
        now = self.reactor.seconds()
        try:
            line = recordLine(self.builder, dialog, kind, now, **kw)
        except Exception:
            # A bug in the fast path: the slow path below makes the same
            # record, but the fault must not pass silently (it once made
            # every record take the slow path unnoticed). Logged with its
            # traceback the first time, counted always.
            self.fastPathFailures += 1
            if self.fastPathFailures == 1:
                _log.failure(
                    "The fast {kind} record line of call {callID} failed; records"
                    " are made the slow way (a bug: please report it)",
                    kind=kind,
                    callID=dialog.callID,
                )
            line = None
        if line is not None:
            self.emitLine(line)
            return
        try:
            record = self.builder.build(dialog, kind, now, **kw)
            self.emit(record)
        except Exception:
            _log.failure(
                "Could not make the {kind} record of call {callID}",
                kind=kind,
                callID=dialog.callID,
            )

    # -- IDialogObserver ---------------------------------------------------

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Nothing to record until the call is answered or ends.
        """

    def dialogEarly(self, dialog: Dialog) -> None:
        """
        Nothing to record until the call is answered or ends.
        """

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        Make the C{start} record (once per call) and arm the interim timer.
        """
        state = accountingState(dialog)
        if state.started:
            return
        state.started = True
        answeredAt = dialog.answeredAt
        noteMedia(dialog, answeredAt if answeredAt is not None else self.reactor.seconds())
        self._record(dialog, START)
        if self.interimInterval:
            self._armInterim(dialog)

    def dialogUpdated(self, dialog: Dialog) -> None:
        """
        A re-INVITE may change the media: volume is estimated per media
        session from now on.
        """
        if dialog.answeredAt is not None:
            try:
                noteMedia(dialog, self.reactor.seconds())
            except Exception:
                _log.failure("Media change of call {callID}", callID=dialog.callID)

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        A call loaded at start-up: its start record was made before (never
        twice); only the interim timer is armed again.
        """
        if self.interimInterval and dialog.answeredAt is not None:
            self._armInterim(dialog)

    def dialogKeptAlive(self, dialog: Dialog) -> None:
        """
        A keepalive proved the call alive: make an C{interim} record if
        configured.
        """
        if self.interimOnKeepalive and dialog.answeredAt is not None:
            self._interim(dialog)

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Nothing to write yet: the stop record follows with C{dialogTerminated}.
        """

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, Any]) -> None:
        """
        Make the C{stop} record, for every call, answered or not.
        """
        call = self._interimCalls.pop(dialog.callKey, None)
        if call is not None and call.active():
            call.cancel()
        self._record(dialog, STOP, cause=cause, detail=detail)

    # -- interims ----------------------------------------------------------

    def _interim(self, dialog: Dialog) -> None:
        state = accountingState(dialog)
        state.interims = sequence = state.interims + 1
        self._record(dialog, INTERIM, sequence=sequence)

    def _armInterim(self, dialog: Dialog) -> None:
        assert self.interimInterval
        self._interimCalls[dialog.callKey] = self.reactor.callLater(
            self.interimInterval, self._interimDue, dialog
        )

    def _interimDue(self, dialog: Dialog) -> None:
        self._interimCalls.pop(dialog.callKey, None)
        if dialog.isTerminated:
            return
        self._interim(dialog)
        self._armInterim(dialog)
