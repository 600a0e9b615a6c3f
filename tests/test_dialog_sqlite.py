"""
Tests for L{keepsip.dialog.sqlite}: the SQLite store passes the
L{IDialogStore} contract, groups its writes, and refuses files it cannot
read.
"""

import sqlite3

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import DialogState
from keepsip.dialog.serial import SCHEMA_VERSION, DialogCodec, SchemaError
from keepsip.dialog.sqlite import SQLiteDialogStore, checkStoreFile
from tests._dialogstore import DialogStoreContract, makeDialog


def storedCallIDs(path):
    """
    The Call-IDs in the file as another process would read them now.
    """
    db = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in db.execute("SELECT callid FROM dialogs"))
    finally:
        db.close()


class SQLiteStoreMixin:
    def setUp(self):
        self.clock = Clock()
        self.path = self.mktemp()
        self.stores = []
        self.addCleanup(self.closeAll)

    def closeAll(self):
        for store in self.stores:
            store.close()

    def newStore(self, commitDelay=0.0):
        store = SQLiteDialogStore(self.path, self.clock, DialogCodec(), commitDelay=commitDelay)
        self.stores.append(store)
        return store


class SQLiteContractTests(SQLiteStoreMixin, DialogStoreContract, SynchronousTestCase):
    def makeStore(self):
        store = self.newStore()
        self.successResultOf(store.open())
        return store

    def reopen(self, store):
        # A crash after the commit window: what was written is all there is.
        self.clock.advance(0)
        return self.newStore()


class SQLiteDialogStoreTests(SQLiteStoreMixin, SynchronousTestCase):
    def test_persistent(self):
        """
        The SQLite store says it outlives the process.
        """
        self.assertTrue(SQLiteDialogStore.persistent)

    def test_groupCommit(self):
        """
        Changes are written together once the commit window has passed: ten
        updates of one dialog and the add of another are one transaction of
        two rows, and nothing is in the file before the window ends.
        """
        store = self.newStore(commitDelay=0.05)
        self.successResultOf(store.open())
        one = makeDialog("one", calleeTag="b")
        store.add(one)
        for n in range(10):
            one.caller.cseq = n
            store.update(one)
        store.add(makeDialog("two"))
        self.assertEqual(storedCallIDs(self.path), [])
        self.clock.advance(0.05)
        self.assertEqual(storedCallIDs(self.path), ["one", "two"])
        self.assertEqual(store.operations, 2)
        self.assertEqual(store.pendingCount(), 0)

    def test_crashLosesOnlyTheWindow(self):
        """
        A crash (the file read by a new store without close) after a window
        has the last written state, not the changes made after it.
        """
        store = self.newStore(commitDelay=1.0)
        self.successResultOf(store.open())
        dialog = makeDialog("c", calleeTag="b")
        store.add(dialog)
        dialog.caller.cseq = 5
        store.update(dialog)
        self.clock.advance(1.0)
        dialog.caller.cseq = 6
        store.update(dialog)
        loaded = self.successResultOf(self.newStore().open())
        self.assertEqual([d.caller.cseq for d in loaded], [5])

    def test_closeWritesPending(self):
        """
        C{close} writes what is pending and leaves no delayed call behind.
        """
        store = self.newStore(commitDelay=10.0)
        self.successResultOf(store.open())
        store.add(makeDialog("c"))
        store.close()
        self.assertEqual(storedCallIDs(self.path), ["c"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_removeDeletesRow(self):
        """
        A removed dialog's row is deleted at the next commit.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        dialog = makeDialog("c", calleeTag="b")
        store.add(dialog)
        self.clock.advance(0)
        dialog.state = DialogState.TERMINATED
        store.remove(dialog)
        self.clock.advance(0)
        self.assertEqual(storedCallIDs(self.path), [])

    def test_corruptFileRefused(self):
        """
        A file that is not an SQLite database is refused with a
        L{SchemaError} naming it, by the option check and by C{open}: never
        an empty store.
        """
        with open(self.path, "wb") as f:
            f.write(b"this is not a database" * 100)
        e = self.assertRaises(SchemaError, checkStoreFile, self.path)
        self.assertIn(self.path, str(e))
        failure = self.failureResultOf(self.newStore().open(), SchemaError)
        self.assertIn(self.path, str(failure.value))

    def test_otherDatabaseRefused(self):
        """
        An SQLite database that is not a dialog store is refused.
        """
        db = sqlite3.connect(self.path)
        db.execute("CREATE TABLE something (x)")
        db.commit()
        db.close()
        self.assertRaises(SchemaError, checkStoreFile, self.path)
        self.failureResultOf(self.newStore().open(), SchemaError)

    def test_newerSchemaRefused(self):
        """
        A store written by a newer schema is refused, with both versions in
        the message.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        store.close()
        db = sqlite3.connect(self.path)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
        db.commit()
        db.close()
        e = self.assertRaises(SchemaError, checkStoreFile, self.path)
        self.assertIn(f"version {SCHEMA_VERSION + 1}", str(e))
        self.failureResultOf(self.newStore().open(), SchemaError)

    def test_corruptRowRefused(self):
        """
        A row that does not decode makes C{open} fail naming the file and
        the call, rather than start without it.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        store.close()
        db = sqlite3.connect(self.path)
        db.execute("INSERT INTO dialogs VALUES ('bad', 'a', '{not json')")
        db.commit()
        db.close()
        failure = self.failureResultOf(self.newStore().open(), SchemaError)
        self.assertIn("'bad'", str(failure.value))
        self.assertIn(self.path, str(failure.value))

    def test_missingFileIsFine(self):
        """
        A store file that does not exist yet passes the option check (it is
        created on start).
        """
        checkStoreFile(self.path)

    def test_writeFailureRetried(self):
        """
        A commit that fails (the database is locked by another writer) is
        counted and retried later; nothing is lost.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        blocker = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        store.add(makeDialog("c"))
        self.clock.advance(0)
        self.assertEqual(store.errors, 1)
        self.assertEqual(store.pendingCount(), 1)
        blocker.execute("ROLLBACK")
        blocker.close()
        self.clock.advance(1.0)
        self.assertEqual(storedCallIDs(self.path), ["c"])


class SQLiteTouchTests(SQLiteStoreMixin, SynchronousTestCase):
    """
    An update marked with C{touchNext} (a keepalive's) writes only the
    members a keepalive changes, and the file still holds the same dialog.
    """

    def newStore(self, commitDelay=0.0):
        from keepsip.persistence import dialogCodec

        store = SQLiteDialogStore(self.path, self.clock, dialogCodec(), commitDelay=commitDelay)
        self.stores.append(store)
        return store

    def confirmed(self, store):
        """
        An answered call with SDP, keepalive and accounting state, written.
        """
        from keepsip.accounting.cdr import AccountingState
        from keepsip.keepalive.state import KeepaliveState

        dialog = makeDialog("touched", calleeTag="b")
        dialog.state = DialogState.CONFIRMED
        dialog.answeredAt = 1764461234.123456
        dialog.caller.source = ("192.0.2.1", 5060)
        dialog.lastOfferSDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
        dialog.lastAnswerSDP = b"v=0\r\no=- 2 2 IN IP4 192.0.2.2\r\ns=-\r\n"
        dialog.attachments.set(KeepaliveState(window=60.0))
        dialog.attachments.set(AccountingState(started=True))
        store.add(dialog)
        self.clock.advance(0)
        return dialog

    def keepalive(self, store, dialog, now):
        """
        What a keepalive changes (as the keepalive manager and the
        accounting observer do), then the store's update inside touchNext.
        """
        from keepsip.accounting.cdr import AccountingState
        from keepsip.keepalive.state import KeepaliveState

        dialog.caller.lastRequestAt = now
        dialog.keptAlive.count += 1
        dialog.keptAlive.lastAt = now
        dialog.attachments.get(KeepaliveState).subject = True
        dialog.attachments.get(AccountingState).interims += 1
        store.touchNext(dialog)
        store.update(dialog)
        store.touchNext(None)

    def storedText(self, callID):
        db = sqlite3.connect(self.path)
        try:
            return db.execute("SELECT data FROM dialogs WHERE callid = ?", (callID,)).fetchone()[0]
        finally:
            db.close()

    def test_touchWritesTheSameDocument(self):
        """
        After a keepalive's touch the stored document is the very text a
        full encoding of the dialog gives (same members, order and number
        formats), and it was written as a touch, not whole.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        self.keepalive(store, dialog, 1764461294.987654)
        self.clock.advance(0)
        self.assertEqual(store.touches, 1)
        self.assertEqual(self.storedText("touched"), store.codec.encodeText(dialog))

    def test_crashRestoresTheSameDialog(self):
        """
        Keepalives written as touches, then a crash (the file opened by a
        new store without closing the first): the restored dialog encodes
        exactly as the live one.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        for n in range(3):
            self.keepalive(store, dialog, 1764461300.5 + 30 * n)
            self.clock.advance(0)
        self.assertEqual(store.touches, 3)
        restarted = self.newStore()
        [loaded] = self.successResultOf(restarted.open())
        self.assertEqual(restarted.codec.toDict(loaded), store.codec.toDict(dialog))
        self.assertEqual(loaded.keptAlive.count, 3)

    def test_fullUpdateWins(self):
        """
        A full update in the same window as a touch, before or after it,
        writes the whole dialog: the change only it carries is in the file.
        """
        store = self.newStore(commitDelay=1.0)
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        self.clock.advance(1.0)
        self.keepalive(store, dialog, 1764461300.0)
        dialog.caller.cseq = 7
        store.update(dialog)
        self.clock.advance(1.0)
        dialog.callee.cseq = 9
        store.update(dialog)
        self.keepalive(store, dialog, 1764461330.0)
        self.clock.advance(1.0)
        self.assertEqual(store.touches, 0)
        [loaded] = self.successResultOf(self.newStore().open())
        self.assertEqual((loaded.caller.cseq, loaded.callee.cseq), (7, 9))
        self.assertEqual(loaded.keptAlive.count, 2)

    def test_touchOfARemovedDialog(self):
        """
        A dialog touched and then removed in the same window is deleted,
        and an update outside touchNext is written whole.
        """
        store = self.newStore(commitDelay=1.0)
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        self.clock.advance(1.0)
        self.keepalive(store, dialog, 1764461300.0)
        store.remove(dialog)
        self.clock.advance(1.0)
        self.assertEqual(storedCallIDs(self.path), [])
        self.assertEqual(store.touches, 0)

    def test_touchRetried(self):
        """
        A touch whose commit fails (the file locked by another writer) is
        kept and written by the retry, whole (so a stored document json_set
        cannot read could never block the retries).
        """
        store = self.newStore()
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        blocker = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        self.keepalive(store, dialog, 1764461300.0)
        self.clock.advance(0)
        self.assertEqual((store.errors, store.pendingCount()), (1, 1))
        blocker.execute("ROLLBACK")
        blocker.close()
        self.clock.advance(1.0)
        self.assertEqual((store.touches, store.pendingCount()), (0, 0))
        self.assertEqual(self.storedText("touched"), store.codec.encodeText(dialog))

    def test_touchOfAMissingRow(self):
        """
        A touch of a dialog whose row is not in the file (deleted by
        another writer) writes the whole dialog.
        """
        store = self.newStore()
        self.successResultOf(store.open())
        dialog = self.confirmed(store)
        other = sqlite3.connect(self.path, isolation_level=None)
        other.execute("DELETE FROM dialogs")
        other.close()
        self.keepalive(store, dialog, 1764461300.0)
        self.clock.advance(0)
        self.assertEqual(self.storedText("touched"), store.codec.encodeText(dialog))
