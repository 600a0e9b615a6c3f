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

A keepalive changes a few members of the stored document (the legs' last
request times, C{keptAlive}, the attachments its observers update): an
update the keepalive manager marks as such (L{SQLiteDialogStore.touchNext})
writes only those, with SQLite's C{json_set} in the same group commit,
instead of encoding the whole dialog again. The document and the restore
path stay as they are; a full update of the dialog in the same window wins.

Layout (see C{docs/state.md}): C{meta(key, value)} holding C{schema}, and
C{dialogs(callid, callertag, data)}, one row per dialog, C{data} the JSON of
L{keepsip.dialog.serial.DialogCodec}.
"""

from __future__ import annotations

import json
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

#: Compact JSON, as the codec writes it.
_encodeJSON = json.JSONEncoder(separators=(",", ":")).encode

#: What a keepalive changes in a stored document (see L{_touchRow}): the
#: values come as one JSON array, each taken out with C{->}, which keeps its
#: JSON text (numbers keep Python's exact repr; C{json_extract} would not).
_TOUCH = (
    "UPDATE dialogs SET data = json_set(data,"
    " '$.caller.lastRequestAt', ?1 -> '$[0]', '$.callee.lastRequestAt', ?1 -> '$[1]',"
    " '$.keptAlive', ?1 -> '$[2]', '$.attachments', ?1 -> '$[3]')"
    " WHERE callid = ?2 AND callertag = ?3"
)

#: C{->} is SQLite 3.38's; with an older library every update is whole.
_CAN_TOUCH = sqlite3.sqlite_version_info >= (3, 38, 0)


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
    @ivar touches: rows of which only a keepalive's members were written
        (L{touchNext}; counted in C{operations} too).
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
        self.touches = 0
        self.loaded = 0
        self._db: sqlite3.Connection | None = None
        self._pending: dict[tuple[str, str], Dialog | None] = {}
        # Dialogs whose only changes are a keepalive's (written by _TOUCH).
        self._touched: dict[tuple[str, str], Dialog] = {}
        self._touchOnly: Dialog | None = None
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
        key = dialog.callKey
        if self._byCallKey.get(key) is dialog:
            if dialog is self._touchOnly:
                if key not in self._pending:
                    self._touched[key] = dialog
                    if self._flushCall is None:
                        self._flushCall = self.clock.callLater(self.commitDelay, self.flush)
            else:
                self._changed(key, dialog)
        return succeed(None)

    def touchNext(self, dialog: Dialog | None) -> None:
        """
        The updates of C{dialog} until C{touchNext(None)} change only what
        a keepalive changes: the legs' C{lastRequestAt}, C{keptAlive} and
        the attachments. They are written as those members alone; a full
        update of the dialog in the same commit window wins. (The keepalive
        manager marks the tracker's update after C{dialogKeptAlive}: an
        observer of that event must change nothing else of the dialog.)
        """
        if _CAN_TOUCH:
            self._touchOnly = dialog

    def remove(self, dialog: Dialog) -> Deferred[None]:
        if self.getByCallKey(dialog.callKey) is dialog:
            self._changed(dialog.callKey, None)
        return MemoryDialogStore.remove(self, dialog)

    # -- group commit ----------------------------------------------------------

    def _changed(self, key: tuple[str, str], dialog: Dialog | None) -> None:
        self._pending[key] = dialog
        self._touched.pop(key, None)
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
        touched, self._touched = self._touched, {}
        db = self._db
        if not pending and not touched:
            return 0
        if db is None:
            # Not open (yet, or any more): keep the changes for open/close.
            self._pending = pending
            self._touched = touched
            return 0
        touches = []
        for key, live in touched.items():
            try:
                touches.append(self._touchRow(key, live))
            except Exception:
                # Written whole instead (and logged there if that fails too).
                pending[key] = live
        rows = []
        deletes: list[tuple[str, str]] = []
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
            if touches and db.executemany(_TOUCH, touches).rowcount != len(touches):
                # A row that is not there (yet): written whole.
                for key, live in touched.items():
                    if key not in pending:
                        rows.append((key[0], key[1], self.codec.encodeText(live)))
                        db.execute(
                            "INSERT OR IGNORE INTO dialogs (callid, callertag, data)"
                            " VALUES (?, ?, ?)",
                            rows[-1],
                        )
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
            # Touches are retried as whole rows: nothing then depends on the
            # stored document being readable by json_set.
            for key, live in touched.items():
                self._pending.setdefault(key, live)
            if self._flushCall is None:
                self._flushCall = self.clock.callLater(RETRY_DELAY, self.flush)
            return 0
        written = len(rows) + len(deletes) + len(touches)
        self.touches += len(touches)
        self.operations += written
        return written

    def _touchRow(self, key: tuple[str, str], dialog: Dialog) -> tuple[str, str, str]:
        """
        The parameters of L{_TOUCH} for C{dialog}: its members a keepalive
        changes, as the codec writes them.
        """
        attached: dict[str, Any] = {}
        for codec in self.codec.attachments:
            value = dialog.attachments.get(codec.kind)
            if value is not None:
                attached[codec.name] = codec.toDict(value)
        kept = dialog.keptAlive
        values = [
            dialog.caller.lastRequestAt,
            dialog.callee.lastRequestAt,
            {"count": kept.count, "lastAt": kept.lastAt},
            attached,
        ]
        return (_encodeJSON(values), key[0], key[1])

    def pendingCount(self) -> int:
        """
        @return: changes not yet written.
        """
        return len(self._pending) + len(self._touched)


__all__ = ["SQLiteDialogStore", "checkStoreFile"]
