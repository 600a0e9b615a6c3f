"""
Delivery of accounting records to one backend, losing none:
L{BackendDelivery}, driven by L{keepsip.accounting.tracker.AccountingTracker}.

Delivery, per backend:

  - group commit: the records made during one reactor turn (or within
    C{commitDelay} seconds) are appended to the backend's spool
    (L{keepsip.accounting.spool.Spool}) together, with one C{write} and one
    C{fsync}, at the end of that turn; only then are they sent. A record
    leaves the spool when the backend acknowledges it (its C{sendRecord}
    Deferred fires);
  - one send is in flight at a time, oldest first, so each backend sees
    records in the order they were made; a backend with an optional
    C{sendRecords(records, lines)} method gets up to C{batchSize} spooled
    records in one send (and must fire only once all are durably accepted);
    while a backend fails, new records queue behind the spooled ones;
  - a failed or timed-out send is retried after a delay that doubles from
    C{retryInitial} up to C{retryMax} seconds, on the injected clock;
  - at start-up the spools are read, so records not acknowledged before a
    restart (or a crash) are replayed first;
  - a call never waits for any of this: observer methods return at once and
    log instead of raising.

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

from keepsip.accounting.spool import Spool
from keepsip.interfaces import IAccountingBackend
from keepsip.logs import Logger

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
        self._sendMany: Callable[..., Any] | None = getattr(backend, "sendRecords", None)
        self._delay = retryInitial
        self._unspooled: list[tuple[dict[str, Any], bytes]] = []
        self._inflightCount = 0
        self._started = False
        self._ready = False
        self._stopping = False
        self._pumping = False
        self._inflight: Deferred | None = None
        self._retryCall: IDelayedCall | None = None

    @property
    def backlog(self) -> int:
        """
        Records not yet acknowledged by the backend.
        """
        return len(self.spool) + len(self._unspooled)

    def start(self) -> int:
        """
        Load the spool, then wait for the backend to be ready and deliver.

        @return: the number of records recovered from the spool.
        """
        recovered = self.spool.load()
        self._started = True
        self._spoolUnspooled()
        maybeDeferred(self.backend.ready).addCallbacks(self._becameReady, self._notReady)
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

    def submit(self, record: dict[str, Any], line: bytes) -> None:
        """
        Queue a record for the next L{commit}, which spools it (and sends it
        when its turn comes).

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
            self._spoolUnspooled()
            self._pump()

    def _spoolUnspooled(self) -> None:
        batch, self._unspooled = self._unspooled, []
        if not batch:
            return
        try:
            self.spool.appendMany(batch)
        except OSError:
            # The spool is the safety net; without it the records can still
            # reach a live backend, but only from memory.
            _log.failure(
                "Could not spool {count} records (first {recordID}) for backend {backend}",
                count=len(batch),
                recordID=batch[0][0].get("record_id"),
                backend=self.key,
            )
            for record, line in batch:
                self.spool.hold(record, line)

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
                if self._sendMany is not None:
                    batch = self.spool.peek(self.batchSize)
                    if not batch:
                        break
                    count = len(batch)
                    d = self._send(
                        self._sendMany,
                        [record for record, _ in batch],
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
            _log.warn(
                "Accounting backend {backend} failed to take record {recordID} "
                "({backlog} waiting); retrying in {delay}s: {error}",
                backend=self.key,
                recordID=(self.spool.head() or {}).get("record_id"),
                backlog=self.backlog,
                delay=self._delay,
                error=result.getErrorMessage(),
            )
            if not self._stopping:
                self._retryCall = self.clock.callLater(self._delay, self._retry)
            self._delay = min(self._delay * 2, self.retryMax)
            return
        self.sent += count
        self._delay = self.retryInitial
        self.spool.acknowledge(count)

    def _retry(self) -> None:
        self._retryCall = None
        self._pump()

    def stop(self, timeout: float) -> Deferred:
        """
        Stop sending: wait at most C{timeout} seconds for the record in
        flight, save the spool's state, close the backend (again waiting at
        most C{timeout}). Unsent records stay in the spool for the next start.

        @return: L{Deferred} firing with L{None}; it never fails.
        """
        self._stopping = True
        if self._retryCall is not None:
            self._retryCall.cancel()
            self._retryCall = None
        if self._started:
            self._spoolUnspooled()
        inflight = (
            succeed(None)
            if self._inflight is None
            else _bounded(self._inflight, timeout, self.clock)
        )

        def closeSpool(_: object) -> Deferred:
            self.spool.close()
            closing = maybeDeferred(self.backend.close)
            closing.addErrback(
                lambda f: _log.failure("Closing accounting backend {backend}", f, backend=self.key)
            )
            return _bounded(closing, timeout, self.clock)

        return inflight.addCallback(closeSpool)
