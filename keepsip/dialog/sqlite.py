"""
The SQLite L{IDialogStore}: calls that outlive keepsip on one machine.

The live dialogs stay in memory, indexed exactly as in
L{keepsip.dialog.store.MemoryDialogStore}, so the message path never waits
for the disk: lookups are dictionary lookups, and C{add}, C{update} and
C{remove} only note the call as changed. The changes are written together,
in one transaction, at the end of a short window (C{commitDelay}, 0 for the
end of the reactor turn) — a group commit like the accounting spool's — so
ten keepalives in a window cost one row write and one fsync, not ten. A
crash loses at most the changes of that window; the database itself, in
WAL mode with C{synchronous=FULL}, is never left half-written.

Layout (see C{docs/state.md}): C{meta(key, value)} holding C{schema}, and
C{dialogs(callid, callertag, data)}, one row per dialog, C{data} the JSON of
L{keepsip.dialog.serial.DialogCodec}.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from keepsip.dialog.model import Dialog
from keepsip.dialog.serial import SCHEMA_VERSION, DialogCodec, SchemaError
from keepsip.dialog.store import MemoryDialogStore
from keepsip.interfaces import IDialogStore
from keepsip.logs import Logger

log = Logger()

#: Seconds before a failed write is tried again.
RETRY_DELAY = 1.0

#: SQLite's page cache, KiB. The store only writes while keepsip runs (it
#: reads once, at start), so a page cache saves little: SQLite's default of
#: 2,000 KiB cost 400 bytes per call with 5,000 calls held
#: (benchmarks/heldcalls.py) and the same CPU per write as 256 KiB.
CACHE_KIB = 256

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dialogs ("
    " callid TEXT NOT NULL, callertag TEXT NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (callid, callertag))",
)


def checkStoreFile(path: str) -> None:
    """
    Check that C{path}, if it exists, is a dialog store this keepsip can
    read (for the option check, before anything starts). A file that does
    not exist yet is fine: it is created on start.

    @raise SchemaError: it is not an SQLite database, not a keepsip dialog
        store, or from a newer schema.
    """
    import os

    if not os.path.exists(path):
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise SchemaError(f"{path}: cannot open the dialog store ({e})") from e
    try:
        _schemaVersion(db, path)
    finally:
        db.close()


def _schemaVersion(db: sqlite3.Connection, path: str) -> int | None:
    """
    @return: the schema version stored in C{db}, or L{None} for an empty
        database.
    @raise SchemaError: as L{checkStoreFile}.
    """
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return None
        if "meta" not in tables or "dialogs" not in tables:
            raise SchemaError(f"{path}: not a keepsip dialog store (tables {sorted(tables)})")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError as e:
        raise SchemaError(f"{path}: not a keepsip dialog store ({e})") from e
    try:
        version = int(row[0]) if row is not None else 0
    except ValueError:
        version = 0
    if version < 1:
        raise SchemaError(f"{path}: dialog store without a valid schema version")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: dialog store schema version {version} is newer than this "
            f"keepsip's {SCHEMA_VERSION}; refusing to start"
        )
    return version


@implementer(IDialogStore)
class SQLiteDialogStore(MemoryDialogStore):
    """
    Dialogs in memory, written through to an SQLite file in groups.

    @param path: the database file.
    @param clock: an L{IReactorTime} for the commit window.
    @param codec: the L{DialogCodec} (with the attachment codecs).
    @param commitDelay: seconds changes wait to be written together; 0 for
        the end of the reactor turn.

    @ivar operations: rows written or deleted (a metric).
    @ivar errors: failed commits (a metric).
    @ivar loaded: dialogs loaded by L{open}.
    """

    persistent = True

    def __init__(
        self, path: str, clock: IReactorTime, codec: DialogCodec, commitDelay: float = 0.005
    ) -> None:
        MemoryDialogStore.__init__(self)
        self.path = path
        self.clock = clock
        self.codec = codec
        self.commitDelay = commitDelay
        self.operations = 0
        self.errors = 0
        self.loaded = 0
        self._db: sqlite3.Connection | None = None
        self._pending: dict[tuple[str, str], Dialog | None] = {}
        self._flushCall: Any = None

    # -- opening and closing -------------------------------------------------

    def open(self) -> Deferred[list[Dialog]]:
        """
        Open (or create) the file and load every dialog in it.

        @return: a Deferred, already fired, with the dialogs, or failed with
            L{SchemaError} naming the file.
        """
        try:
            return succeed(self._open())
        except SchemaError as e:
            return fail(e)

    def _open(self) -> list[Dialog]:
        path = self.path
        try:
            # A lock held by another writer fails the commit at once (it is
            # retried): the reactor never waits for the file.
            db = sqlite3.connect(path, isolation_level=None, timeout=0.05)
        except sqlite3.Error as e:
            raise SchemaError(f"{path}: cannot open the dialog store ({e})") from e
        try:
            version = _schemaVersion(db, path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            if version is None:
                db.execute("BEGIN")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
                db.execute("COMMIT")
            # Migrations from older versions go here (there are none yet).
            dialogs = []
            decode = self.codec.decode
            for callID, data in db.execute("SELECT callid, data FROM dialogs"):
                try:
                    dialog = decode(data)
                except SchemaError as e:
                    raise SchemaError(f"{path}: dialog {callID!r}: {e}") from e
                MemoryDialogStore.add(self, dialog)
                dialogs.append(dialog)
        except sqlite3.DatabaseError as e:
            db.close()
            raise SchemaError(f"{path}: not a keepsip dialog store ({e})") from e
        except SchemaError:
            db.close()
            raise
        self._db = db
        self.loaded = len(dialogs)
        log.info("dialog store {path}: {count} dialogs loaded", path=path, count=len(dialogs))
        return dialogs

    def close(self) -> Deferred[None]:
        """
        Write what is pending and close the file.
        """
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
        return succeed(None)

    # -- IDialogStore ----------------------------------------------------------

    def add(self, dialog: Dialog) -> Deferred[None]:
        MemoryDialogStore.add(self, dialog)
        self._changed(dialog.callKey, dialog)
        return succeed(None)

    def update(self, dialog: Dialog) -> Deferred[None]:
        MemoryDialogStore.update(self, dialog)
        if self.getByCallKey(dialog.callKey) is dialog:
            self._changed(dialog.callKey, dialog)
        return succeed(None)

    def remove(self, dialog: Dialog) -> Deferred[None]:
        if self.getByCallKey(dialog.callKey) is dialog:
            self._changed(dialog.callKey, None)
        return MemoryDialogStore.remove(self, dialog)

    # -- group commit ----------------------------------------------------------

    def _changed(self, key: tuple[str, str], dialog: Dialog | None) -> None:
        self._pending[key] = dialog
        if self._flushCall is None:
            self._flushCall = self.clock.callLater(self.commitDelay, self.flush)

    def flush(self) -> int:
        """
        Write every pending change in one transaction.

        @return: how many rows were written or deleted.
        """
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        pending, self._pending = self._pending, {}
        db = self._db
        if not pending:
            return 0
        if db is None:
            # Not open (yet, or any more): keep the changes for open/close.
            self._pending = pending
            return 0
        rows = []
        deletes = []
        for key, dialog in pending.items():
            if dialog is None:
                deletes.append(key)
                continue
            try:
                rows.append((key[0], key[1], self.codec.encodeText(dialog)))
            except Exception:
                self.errors += 1
                log.failure("dialog store cannot serialise {callID}", callID=key[0])
        try:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO dialogs (callid, callertag, data) VALUES (?, ?, ?)", rows
            )
            db.executemany("DELETE FROM dialogs WHERE callid = ? AND callertag = ?", deletes)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self.errors += 1
            if db.in_transaction:
                db.execute("ROLLBACK")
            log.error(
                "dialog store {path}: write failed, retrying: {error}",
                path=self.path,
                error=str(e),
            )
            for key, dialog in pending.items():
                self._pending.setdefault(key, dialog)
            if self._flushCall is None:
                self._flushCall = self.clock.callLater(RETRY_DELAY, self.flush)
            return 0
        self.operations += len(rows) + len(deletes)
        return len(rows) + len(deletes)

    def pendingCount(self) -> int:
        """
        @return: changes not yet written.
        """
        return len(self._pending)


__all__ = ["SQLiteDialogStore", "checkStoreFile"]
