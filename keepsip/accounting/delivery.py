"""
Delivery of accounting records to one backend, losing none:
L{BackendDelivery}, driven by L{keepsip.accounting.tracker.AccountingTracker}.

Delivery, per backend:

  - group commit: the records made during one reactor turn (or within
    C{commitDelay} seconds) are appended to the backend's spool
    (L{keepsip.accounting.spool.Spool}) together, with one C{write} and one
    C{fsync}, at the end of that turn; only then are they sent. A record
    leaves the spool when the backend acknowledges it (its C{sendRecord}
    Deferred fires). A backend that is itself a durable local file (jsonl:
    C{writeLinesNow(lines)} writes and fsyncs before returning) takes the
    batch directly when nothing else waits for it, past the spool; the
    spool takes it only if that write fails;
  - one send is in flight at a time, oldest first, so each backend sees
    records in the order they were made; a backend with an optional
    C{sendRecords(records, lines)} method gets up to C{batchSize} spooled
    records in one send (and must fire only once all are durably accepted),
    and one with C{sendLines(lines)} (the JSON lines backend) gets only the
    encoded lines, so a record submitted as its line alone is never decoded;
    while a backend fails, new records queue behind the spooled ones;
  - a failed or timed-out send is retried after a delay that doubles from
    C{retryInitial} up to C{retryMax} seconds, on the injected clock;
  - at start-up the spools are read, so records not acknowledged before a
    restart (or a crash) are replayed first;
  - a call never waits for any of this: observer methods return at once and
    log instead of raising.

Outages are logged twice, not per record: when a backend first fails (or
the spool first cannot be written, e.g. the disk is full), and when it works
again, with how long it lasted and how many sends or writes failed meanwhile
(L{BackendDelivery.failures}, L{BackendDelivery.spoolErrors},
L{BackendDelivery.inOutage} for metrics).

Delivery is at least once: a crash between a backend's acceptance and the
spool noting it (the spool writes its acknowledged offset only now and then)
replays that record; its C{record_id} is the same, so the duplicate is
harmless downstream. A crash within the commit window (the rest of the
reactor turn, or C{commitDelay}) loses the records made in it, as a crash
just before they were made would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from keepsip.accounting.spool import Spool, decodeLine
from keepsip.interfaces import IAccountingBackend
from keepsip.logs import Logger
from keepsip.startup import StartupError

_log = Logger()


def _bounded(d: Deferred, seconds: float, clock: IReactorTime) -> Deferred:
    """
    A Deferred that fires with L{None} when C{d} fires or after C{seconds},
    whichever is first; C{d}'s result is left alone.
    """
    result: Deferred = Deferred()

    def expired() -> None:
        if not result.called:
            result.callback(None)

    timer = clock.callLater(seconds, expired)

    def finished(outcome: object) -> object:
        if timer.active():
            timer.cancel()
        if not result.called:
            result.callback(None)
        return outcome

    d.addBoth(finished)
    return result


class BackendDelivery:
    """
    Delivers records to one backend through its spool, in order, retrying.

    @ivar key: the backend's stable key (its spool's name).
    @ivar backend: the L{IAccountingBackend}.
    @ivar spool: its L{Spool}.
    @ivar sent: records acknowledged by the backend since start.
    @ivar failures: failed or timed-out sends since start.
    @ivar spoolErrors: failed spool writes since start (records then held
        in memory only).
    """

    def __init__(
        self,
        key: str,
        backend: IAccountingBackend,
        spool: Spool,
        clock: IReactorTime,
        sendTimeout: float,
        retryInitial: float,
        retryMax: float,
        batchSize: int = 100,
    ) -> None:
        self.key = key
        self.backend = backend
        self.spool = spool
        self.clock = clock
        self.sendTimeout = sendTimeout
        self.retryInitial = retryInitial
        self.retryMax = retryMax
        self.batchSize = batchSize
        self.sent = 0
        self.failures = 0
        self.spoolErrors = 0
        #: When the current backend outage / spool outage began (clock
        #: seconds), and the failures counted since.
        self._backendDownSince: float | None = None
        self._backendDownFailures = 0
        self._spoolDownSince: float | None = None
        self._spoolDownErrors = 0
        self._spoolDownHeld = 0
        self._sendMany: Callable[..., Any] | None = getattr(backend, "sendRecords", None)
        self._sendLines: Callable[..., Any] | None = getattr(backend, "sendLines", None)
        self._writeNow: Callable[[list[bytes]], None] | None = getattr(
            backend, "writeLinesNow", None
        )
        self._delay = retryInitial
        self._unspooled: list[tuple[dict[str, Any] | None, bytes]] = []
        self._inflightCount = 0
        self._started = False
        self._ready = False
        self._stopping = False
        self._pumping = False
        self._inflight: Deferred | None = None
        #: While stopping: fires when delivery is done or its time is up.
        self._drained: Deferred | None = None
        self._retryCall: IDelayedCall | None = None

    @property
    def backlog(self) -> int:
        """
        Records not yet acknowledged by the backend.
        """
        return len(self.spool) + len(self._unspooled)

    @property
    def inOutage(self) -> bool:
        """
        Whether the backend is failing or the spool cannot be written.
        """
        return self._backendDownSince is not None or self._spoolDownSince is not None

    def start(self) -> int:
        """
        Load the spool, then wait for the backend to be ready and deliver.

        @return: the number of records recovered from the spool.
        @raise OSError: if the spool cannot be read or opened.
        @raise StartupError: if the backend's C{ready()} failed at once with
            one (it names an option whose resource is unusable).
        """
        recovered = self.spool.load()
        ready = maybeDeferred(self.backend.ready)
        fatal: list[Failure] = []
        ready.addErrback(lambda f: fatal.append(f) if f.check(StartupError) else f)
        if fatal:
            fatal[0].raiseException()
        self._started = True
        self._spoolUnspooled()
        ready.addCallbacks(self._becameReady, self._notReady)
        return recovered

    def _becameReady(self, _: object) -> None:
        self._ready = True
        self._pump()

    def _notReady(self, reason: Failure) -> None:
        _log.failure(
            "Accounting backend {backend} did not start; sending anyway, with retries",
            reason,
            backend=self.key,
        )
        self._becameReady(None)

    def submit(self, record: dict[str, Any] | None, line: bytes) -> None:
        """
        Queue a record for the next L{commit}, which spools it (and sends it
        when its turn comes).

        @param record: the record, or L{None} when only its line was made
            (it is decoded from the line for a backend that takes records).
        @param line: C{record} encoded by
            L{keepsip.accounting.spool.encodeRecord}.
        """
        self._unspooled.append((record, line))

    def commit(self) -> None:
        """
        Spool the records submitted since the last commit (one write, one
        fsync) and send what can be sent. Before L{start}, records wait.
        """
        if self._started and self._unspooled:
            if self._writeNow is not None and self._idle() and self._writeDirectly():
                return
            self._spoolUnspooled()
            self._pump()

    def _idle(self) -> bool:
        """
        Whether nothing waits for the backend: no record spooled or in
        flight, no retry, no outage, not stopping.
        """
        return (
            self._ready
            and not self._stopping
            and self._drained is None
            and self._inflight is None
            and self._retryCall is None
            and self._backendDownSince is None
            and self._spoolDownSince is None
            and not len(self.spool)
        )

    def _writeDirectly(self) -> bool:
        """
        Give the submitted records to a backend that writes them durably
        before returning (jsonl): they are then where the spool would have
        kept them, so they skip it (one write and one fsync fewer per
        commit). Order is kept: only used when nothing else waits.

        @return: L{True} if the backend took them; L{False} if it failed
            (they stay submitted, to be spooled and sent as usual, which
            logs the outage and retries).
        """
        assert self._writeNow is not None
        batch = self._unspooled
        try:
            self._writeNow([line for _, line in batch])
        except Exception:
            return False
        self._unspooled = []
        self.sent += len(batch)
        return True

    def _spoolUnspooled(self) -> None:
        batch, self._unspooled = self._unspooled, []
        if not batch:
            return
        try:
            self.spool.appendMany(batch)
        except OSError as e:
            # The spool is the safety net; without it the records can still
            # reach a live backend, but only from memory.
            self.spoolErrors += 1
            self._spoolDownErrors += 1
            self._spoolDownHeld += len(batch)
            if self._spoolDownSince is None:
                self._spoolDownSince = self.clock.seconds()
                _log.error(
                    "Cannot write spool {path} for accounting backend {backend}: {error}; "
                    "holding records in memory until it can be written",
                    path=self.spool.path,
                    backend=self.key,
                    error=e,
                )
            for record, line in batch:
                self.spool.hold(record, line)
            return
        if self._spoolDownSince is not None:
            _log.info(
                "Spool {path} for accounting backend {backend} written again after "
                "{seconds:.1f}s: {errors} writes failed, {held} records were held in memory",
                path=self.spool.path,
                backend=self.key,
                seconds=self.clock.seconds() - self._spoolDownSince,
                errors=self._spoolDownErrors,
                held=self._spoolDownHeld,
            )
            self._spoolDownSince = None
            self._spoolDownErrors = self._spoolDownHeld = 0

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while (
                self._ready
                and not self._stopping
                and self._inflight is None
                and self._retryCall is None
            ):
                if self._sendLines is not None:
                    batch = self.spool.peek(self.batchSize)
                    if not batch:
                        break
                    count = len(batch)
                    d = self._send(self._sendLines, [line for _, line in batch])
                elif self._sendMany is not None:
                    batch = self.spool.peek(self.batchSize)
                    if not batch:
                        break
                    count = len(batch)
                    d = self._send(
                        self._sendMany,
                        [decodeLine(line) if record is None else record for record, line in batch],
                        [line for _, line in batch],
                    )
                else:
                    record = self.spool.head()
                    if record is None:
                        break
                    count = 1
                    d = self._send(self.backend.sendRecord, record)
                outcome: list[object] = []

                def finished(
                    result: object, d: Deferred = d, outcome: list = outcome, count: int = count
                ) -> None:
                    if self._inflight is d:
                        self._inflight = None
                        self._handle(result, count)
                        self._pump()
                    else:
                        outcome.append(result)

                d.addBoth(finished)
                if outcome:
                    self._handle(outcome[0], count)
                else:
                    self._inflight = d
        finally:
            self._pumping = False
        self._checkDrained()

    def _send(self, method: Callable[..., Any], *args: Any) -> Deferred:
        inner = maybeDeferred(method, *args)
        outer: Deferred = Deferred(lambda _: inner.cancel())

        def relay(result: object) -> None:
            if not outer.called:
                if isinstance(result, Failure):
                    outer.errback(result)
                else:
                    outer.callback(result)

        inner.addBoth(relay)
        if self.sendTimeout and not outer.called:
            outer.addTimeout(self.sendTimeout, self.clock)
        return outer

    def _handle(self, result: object, count: int) -> None:
        if isinstance(result, Failure):
            self.failures += 1
            self._backendDownFailures += 1
            if self._backendDownSince is None:
                self._backendDownSince = self.clock.seconds()
                _log.warn(
                    "Accounting backend {backend} failed to take record {recordID} "
                    "({backlog} waiting); retrying every {delay}s to {retryMax}s until "
                    "it does: {error}",
                    backend=self.key,
                    recordID=(self.spool.head() or {}).get("record_id"),
                    backlog=self.backlog,
                    delay=self._delay,
                    retryMax=self.retryMax,
                    error=result.getErrorMessage(),
                )
            else:
                _log.debug(
                    "Accounting backend {backend} still failing: {error}",
                    backend=self.key,
                    error=result.getErrorMessage(),
                )
            if self._drained is not None:
                # Shutting down: no retries; the rest stays spooled.
                self._stopping = True
            elif not self._stopping:
                self._retryCall = self.clock.callLater(self._delay, self._retry)
            self._delay = min(self._delay * 2, self.retryMax)
            return
        self.sent += count
        self._delay = self.retryInitial
        self.spool.acknowledge(count)
        if self._backendDownSince is not None:
            _log.info(
                "Accounting backend {backend} takes records again after {seconds:.1f}s: "
                "{failures} sends failed meanwhile, {backlog} records waiting",
                backend=self.key,
                seconds=self.clock.seconds() - self._backendDownSince,
                failures=self._backendDownFailures,
                backlog=self.backlog,
            )
            self._backendDownSince = None
            self._backendDownFailures = 0

    def _retry(self) -> None:
        self._retryCall = None
        self._pump()

    def stop(self, timeout: float) -> Deferred:
        """
        Deliver what is waiting, for at most C{timeout} seconds, then stop
        sending, save the spool's state and close the backend (waiting at
        most what is left of C{timeout}, and at least a second). A backend
        that is failing is not retried meanwhile. What was not acknowledged
        stays in the spool for the next start.

        @return: L{Deferred} firing with L{None}; it never fails.
        """
        deadline = self.clock.seconds() + timeout
        if self._started:
            self._spoolUnspooled()
        if self._retryCall is not None:
            self._retryCall.cancel()
            self._retryCall = None
            self._stopping = True
        drained: Deferred = Deferred()
        self._drained = drained
        if not self._ready:
            self._stopping = True
        self._pump()
        self._checkDrained()
        timer = self.clock.callLater(timeout, self._finishDrain)

        def closeSpool(_: object) -> Deferred:
            if timer.active():
                timer.cancel()
            self._stopping = True
            left = self.backlog
            if left:
                _log.warn(
                    "{count} records for accounting backend {backend} stay in its spool "
                    "until the next start",
                    count=left,
                    backend=self.key,
                )
            self.spool.close()
            closing = maybeDeferred(self.backend.close)
            closing.addErrback(
                lambda f: _log.failure("Closing accounting backend {backend}", f, backend=self.key)
            )
            return _bounded(closing, max(deadline - self.clock.seconds(), 1.0), self.clock)

        return drained.addCallback(closeSpool)

    def _checkDrained(self) -> None:
        """
        While stopping: end the drain once nothing is in flight and either
        nothing is left or sending has stopped (a failure).
        """
        if self._drained is None or self._inflight is not None or self._pumping:
            return
        if self._stopping or not len(self.spool):
            self._finishDrain()

    def _finishDrain(self) -> None:
        drained, self._drained = self._drained, None
        self._stopping = True
        if drained is not None:
            drained.callback(None)
