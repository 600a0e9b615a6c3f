"""
The Redis L{IDialogStore}: calls shared by several keepsip nodes.

Like the SQLite store, the dialogs a node handles live in its memory, indexed
as in L{keepsip.dialog.store.MemoryDialogStore}, so the message path never
waits for Redis for a call the node holds; C{add}, C{update} and C{remove}
note the call as changed, and the changes are written together at the end of
a short window (C{commitDelay}), each as one Lua script
(L{keepsip.dialog.redislayout}) that keeps the dialog's hash, its deadlines
in the shared sorted sets and the node's set in step.

What a node does not hold it finds in Redis: C{byCallKey} and C{byDialogID}
look there on a miss (the caller decides whether to hold what they found,
L{RedisDialogStore.hold}). Expired calls are claimed atomically
(L{RedisDialogStore.claim}, L{RedisDialogStore.claimExpired}) so exactly one
node ends each.

While Redis is unreachable every change stays pending (counted in
C{errors}, logged once per outage) and is written when it is back; if Redis
came back empty (restarted without persistence) the node writes every call
it holds again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.dialog import redislayout as scripts
from keepsip.dialog.model import Dialog, DialogID
from keepsip.dialog.redisclaims import RedisClaims
from keepsip.dialog.serial import SCHEMA_VERSION, DialogCodec, SchemaError
from keepsip.dialog.store import MemoryDialogStore
from keepsip.interfaces import IDialogStore
from keepsip.logs import Logger
from keepsip.redisclient import RedisClient, RedisUnavailable

log = Logger()

#: Seconds before failed writes are tried again.
RETRY_DELAY = 1.0

#: Dialogs fetched per script when a node loads the calls it owns.
LOAD_BATCH = 500

#: C{deadlines(dialog) -> (keepalive deadline, maximum-duration deadline)},
#: either L{None}: what the shared sorted sets hold for the dialog.
Deadlines = Callable[[Dialog], "tuple[float | None, float | None]"]


def _noDeadlines(dialog: Dialog) -> tuple[float | None, float | None]:
    return (None, None)


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


@implementer(IDialogStore)
class RedisDialogStore(MemoryDialogStore, RedisClaims):
    """
    Dialogs in memory, written through to Redis in groups, shared by nodes.

    @param clock: an L{IReactorTime} (the commit window, timeouts).
    @param codec: the L{DialogCodec}.
    @param host: Redis host.
    @param port: Redis port.
    @param db: database number.
    @param prefix: the prefix of every key (several keepsip clusters can
        share one Redis under different prefixes).
    @param nodeID: this node's name in Redis (its set of calls; its claims).
        Stable across restarts, so a node loads again the calls it had.
    @param deadlines: the L{Deadlines} function (the keepalive layer's rule).
    @param commitDelay: seconds changes wait to be written together.
    @param timeout: seconds to wait for Redis at start and for each reply.
    @param lease: seconds a claim holds before another node may take over.

    @ivar operations: dialogs written or deleted (a metric).
    @ivar errors: failed writes, reads and claims (a metric).
    @ivar loaded: calls loaded at start.
    @ivar claimsWon: expired calls this node claimed (a metric).
    @ivar claimsLost: expired calls another node had claimed or ended, or
        that another node had seen alive (a metric).
    @ivar reapedForOthers: expired calls claimed here that this node did not
        hold (their node died or let them go; a metric).
    """

    persistent = True
    shared = True

    def __init__(
        self,
        clock: Any,
        codec: DialogCodec,
        host: str,
        port: int,
        db: int = 0,
        prefix: str = scripts.DEFAULT_PREFIX,
        nodeID: str = "keepsip",
        deadlines: Deadlines = _noDeadlines,
        commitDelay: float = 0.005,
        timeout: float = 5.0,
        lease: float = 10.0,
    ) -> None:
        MemoryDialogStore.__init__(self)
        self.clock = clock
        self.codec = codec
        self.host = host
        self.port = port
        self.db = db
        self.layout = scripts.Layout(prefix)
        self.nodeID = nodeID
        self.deadlines = deadlines
        self.commitDelay = commitDelay
        self.timeout = timeout
        self.lease = lease
        self.operations = 0
        self.errors = 0
        self.loaded = 0
        self.claimsWon = 0
        self.claimsLost = 0
        self.reapedForOthers = 0
        self._client: RedisClient | None = None
        self._pending: dict[tuple[str, str], tuple[Dialog | None, bool]] = {}
        self._flushCall: Any = None
        self._inFlight: Deferred[Any] | None = None
        self._checked = False
        self._down = False
        self._closed = False

    @property
    def where(self) -> str:
        """
        The store as the user named it, for messages.
        """
        return f"redis {self.host}:{self.port}/{self.db} prefix {self.layout.prefix!r}"

    def _execute(self, *args: Any) -> Deferred[Any]:
        if self._client is None:
            return fail(RedisUnavailable(f"{self.where}: not open"))
        return self._client.execute(*args)

    # -- opening and closing -------------------------------------------------

    def open(self) -> Deferred[list[Dialog]]:
        """
        Connect, check the schema, and load the calls this node wrote last.

        @return: a Deferred with the loaded dialogs (held in memory);
            failing with L{SchemaError} if the keys are another program's or
            from a newer schema. If Redis cannot be reached within
            C{timeout} it fires with no dialogs (they are found on demand
            once Redis is back).
        """
        if self._client is None:
            self._client = RedisClient(self.clock, self.host, self.port, self.db, self.timeout)
            self._client.start()
        d = self._client.whenConnected().addTimeout(self.timeout, self.clock)
        d.addCallback(lambda _: self._checkSchema())
        d.addCallback(lambda _: self._loadOwned())

        def unreachable(reason: Failure) -> list[Dialog]:
            reason.trap(Exception)
            if reason.check(SchemaError):
                reason.raiseException()
            self._noteDown(reason)
            return []

        return d.addErrback(unreachable)

    def _checkSchema(self) -> Deferred[None]:
        def checked(found: Any) -> None:
            scripts.checkSchema(found, self.where, SCHEMA_VERSION)
            self._checked = True
            if found[0] == "created" and len(self):
                # Redis came back empty: write again every call held here.
                log.warn(
                    "{where} came back empty: writing {count} calls again",
                    where=self.where,
                    count=len(self),
                )
                for dialog in self.allDialogs():
                    self._pending[dialog.callKey] = (dialog, True)

        return self._execute(
            "EVAL", scripts.INIT, 1, self.layout.meta, scripts.STORE_NAME, SCHEMA_VERSION
        ).addCallback(checked)

    def _loadOwned(self) -> Deferred[list[Dialog]]:
        layout = self.layout

        def fetch(ids: list[str]) -> Deferred[list[Dialog]]:
            batches = [ids[i : i + LOAD_BATCH] for i in range(0, len(ids), LOAD_BATCH)]
            dialogs: list[Dialog] = []

            def loadBatch(_: Any = None) -> Any:
                if not batches:
                    return dialogs
                batch = batches.pop(0)
                keys = [layout.dialogPrefix + i for i in batch]
                d = self._execute("EVAL", scripts.FETCH, len(keys), *keys)
                return d.addCallback(decodeBatch).addCallback(loadBatch)

            def decodeBatch(found: list[Any]) -> None:
                for data in found:
                    if data is None:
                        continue
                    try:
                        dialog = self.codec.decode(data)
                    except SchemaError as e:
                        raise SchemaError(f"{self.where}: {e}") from e
                    if self.getByCallKey(dialog.callKey) is None:
                        self.hold(dialog)
                        dialogs.append(dialog)

            return loadBatch()

        def done(dialogs: list[Dialog]) -> list[Dialog]:
            self.loaded = len(dialogs)
            log.info("{where}: {count} dialogs loaded", where=self.where, count=len(dialogs))
            return dialogs

        d = self._execute("SMEMBERS", layout.node(self.nodeID))
        return d.addCallback(lambda ids: fetch(sorted(ids or []))).addCallback(done)

    def close(self) -> Deferred[None]:
        """
        Write what is pending (if Redis answers) and disconnect.
        """
        self._closed = True
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        d = self.flush() if self._client is not None else succeed(0)

        def disconnect(_: Any) -> Deferred[None]:
            client, self._client = self._client, None
            if client is None:
                return succeed(None)
            return client.stop().addCallback(lambda _: None)

        return d.addBoth(disconnect)

    # -- what is held in memory ----------------------------------------------

    def hold(self, dialog: Dialog) -> None:
        """
        Keep C{dialog} (found in Redis) in memory without writing it.
        """
        MemoryDialogStore.add(self, dialog)

    def forget(self, dialog: Dialog) -> None:
        """
        Stop holding C{dialog} (another node ended it) without writing.
        """
        MemoryDialogStore.remove(self, dialog)

    # -- IDialogStore --------------------------------------------------------

    def add(self, dialog: Dialog) -> Deferred[None]:
        MemoryDialogStore.add(self, dialog)
        self._changed(dialog.callKey, dialog, True)
        return succeed(None)

    def update(self, dialog: Dialog) -> Deferred[None]:
        MemoryDialogStore.update(self, dialog)
        if self.getByCallKey(dialog.callKey) is dialog:
            self._changed(dialog.callKey, dialog, False)
        return succeed(None)

    def remove(self, dialog: Dialog) -> Deferred[None]:
        if self.getByCallKey(dialog.callKey) is dialog:
            self._changed(dialog.callKey, None, False)
        return MemoryDialogStore.remove(self, dialog)

    def byCallKey(self, callKey: tuple[str, str]) -> Deferred[Dialog | None]:
        held = self.getByCallKey(callKey)
        if held is not None or callKey in self._pending:
            return succeed(held)
        return self._fetch([callKey], None)

    def byDialogID(self, dialogID: DialogID) -> Deferred[Dialog | None]:
        held = self.getByDialogID(dialogID)
        if held is not None:
            return succeed(held)
        callID, one, other = dialogID
        if not one or not other:
            return succeed(None)
        candidates = [k for k in ((callID, one), (callID, other)) if k not in self._pending]
        if not candidates:
            return succeed(None)
        return self._fetch(candidates, dialogID)

    def _fetch(
        self, callKeys: list[tuple[str, str]], dialogID: DialogID | None
    ) -> Deferred[Dialog | None]:
        """
        Read calls not held here from Redis.

        @return: the first found (matching C{dialogID} in either orientation
            if given), not held; failing with the Redis error (counted).
        """
        keys = [self.layout.dialog(k) for k in callKeys]

        def decode(found: list[Any]) -> Dialog | None:
            for data in found or []:
                if data is None:
                    continue
                dialog = self.codec.decode(data)
                if dialogID is None or set(dialog.dialogID) == set(dialogID):
                    return dialog
            return None

        d = self._execute("EVAL", scripts.FETCH, len(keys), *keys).addCallback(decode)
        return d.addErrback(self._readFailed)

    def _readFailed(self, reason: Failure) -> Failure:
        self.errors += 1
        self._noteDown(reason)
        return reason

    def count(self) -> Deferred[int]:
        """
        @return: the number of calls held by this node.
        """
        return succeed(len(self))

    # -- claims ----------------------------------------------------------------

    # -- group commit ----------------------------------------------------------

    def _changed(self, key: tuple[str, str], dialog: Dialog | None, create: bool) -> None:
        previous = self._pending.get(key)
        if previous is not None and previous[1] and dialog is not None:
            create = True
        self._pending[key] = (dialog, create)
        self._schedule(self.commitDelay)

    def _schedule(self, delay: float) -> None:
        if self._flushCall is None and not self._closed:
            self._flushCall = self.clock.callLater(delay, self.flush)

    def _noteDown(self, reason: Failure) -> None:
        self._checked = False
        if not self._down:
            self._down = True
            log.error(
                "{where} unreachable or failing, calls are routed from memory and"
                " changes kept until it is back: {error}",
                where=self.where,
                error=reason.getErrorMessage(),
            )

    def flush(self) -> Deferred[int]:
        """
        Write every pending change, each in one script.

        @return: a Deferred firing with how many were written (failures are
            kept pending, counted and retried after L{RETRY_DELAY}).
        """
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        if not self._pending and self._checked:
            # (Unchecked since Redis failed: check it, and write the held
            # calls again if it came back empty.)
            return succeed(0)
        if self._inFlight is not None:
            # One group at a time, so the changes reach Redis in order.
            waiting = self._inFlight
            return waiting.addBoth(lambda _: self.flush())
        d: Deferred[int]
        if not self._checked:
            d = self._checkSchema().addCallback(lambda _: self._write())
        else:
            d = self._write()
        d.addErrback(self._flushFailed)
        self._inFlight = d

        def finished(result: Any) -> Any:
            if self._inFlight is d:
                self._inFlight = None
            return result

        return d.addBoth(finished)

    def _write(self) -> Deferred[int]:
        pending, self._pending = self._pending, {}
        layout = self.layout
        writes = []
        keys = []
        for key, (dialog, create) in pending.items():
            id = layout.id(key)
            if dialog is None:
                d = self._execute(
                    "EVAL",
                    scripts.REMOVE,
                    4,
                    layout.dialog(key),
                    layout.keepalive,
                    layout.maxDuration,
                    layout.claims,
                    id,
                    layout.nodePrefix,
                )
            else:
                try:
                    data = self.codec.encode(dialog).decode("ascii")
                    keepaliveAt, maxAt = self.deadlines(dialog)
                except Exception:
                    self.errors += 1
                    log.failure("dialog store cannot serialise {callID}", callID=key[0])
                    continue
                d = self._execute(
                    "EVAL",
                    scripts.WRITE,
                    4,
                    layout.dialog(key),
                    layout.keepalive,
                    layout.maxDuration,
                    layout.node(self.nodeID),
                    id,
                    data,
                    self.nodeID,
                    _number(keepaliveAt),
                    _number(maxAt),
                    "1" if create else "0",
                    layout.nodePrefix,
                )
            writes.append(d)
            keys.append((key, dialog, create))

        def done(results: list[tuple[bool, Any]]) -> int:
            written = 0
            failure = None
            for (ok, value), (key, dialog, create) in zip(results, keys, strict=True):
                if ok:
                    written += 1
                else:
                    failure = value
                    self._pending.setdefault(key, (dialog, create))
            self.operations += written
            if failure is not None:
                return self._flushFailed(failure, written)
            if self._down:
                self._down = False
                log.info("{where} is back: pending changes written", where=self.where)
            return written

        return DeferredList(writes, consumeErrors=True).addCallback(done)

    def _flushFailed(self, reason: Failure, written: int = 0) -> int:
        if reason.check(SchemaError):
            log.error("{where}: {error}", where=self.where, error=reason.getErrorMessage())
        self.errors += 1
        self._noteDown(reason)
        self._schedule(RETRY_DELAY)
        return written

    def pendingCount(self) -> int:
        """
        @return: changes not yet written.
        """
        return len(self._pending)


__all__ = ["Deadlines", "RedisDialogStore"]
