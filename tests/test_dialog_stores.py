"""
Tests for L{keepsip.dialog.stores}: C{--dialog-store} values.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.serial import DialogCodec
from keepsip.dialog.sqlite import SQLiteDialogStore
from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.stores import (
    DEFAULT_DIALOG_STORE,
    isPersistent,
    makeDialogStore,
    parseDialogStoreOption,
)


class ParseTests(SynchronousTestCase):
    def test_valid(self):
        """
        Each store type parses with its arguments typed.
        """
        self.assertEqual(parseDialogStoreOption("memory"), ("memory", {}))
        path = self.mktemp()
        self.assertEqual(
            parseDialogStoreOption(f"sqlite:path={path},commit-delay=0.1"),
            ("sqlite", {"path": path, "commit-delay": 0.1}),
        )

    def test_invalid(self):
        """
        Unknown types and arguments, missing and malformed arguments each
        give one line naming the problem.
        """
        for text, words in [
            ("mongo:x=1", "unknown dialog store type"),
            ("sqlite:", "missing argument 'path'"),
            ("sqlite:path=a,nope=1", "unknown argument 'nope'"),
            ("sqlite:path=a,commit-delay=-1", "bad commit-delay"),
            ("sqlite:path", "expected key=value"),
            ("memory:x=1", "takes none"),
            ("redis:host=h", "missing argument 'port'"),
            ("redis:host=h,port=99999", "bad port"),
        ]:
            e = self.assertRaises(ValueError, parseDialogStoreOption, text)
            self.assertIn(words, str(e), text)
            self.assertNotIn("\n", str(e))

    def test_redisParsed(self):
        """
        A well-formed redis store parses with its arguments typed (a Redis
        that does not answer is not an error when the option is read; the
        checks against a real server are in test_dialog_redis).
        """
        from tests.helpers import freeTCPPort

        port = freeTCPPort()
        self.assertEqual(
            parseDialogStoreOption(f"redis:host=127.0.0.1,port={port},db=1,prefix=k"),
            ("redis", {"host": "127.0.0.1", "port": port, "db": 1, "prefix": "k"}),
        )

    def test_corruptFileRefusedAtParse(self):
        """
        An existing sqlite file that is not a dialog store fails the option
        check, naming the file.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"garbage" * 1000)
        e = self.assertRaises(ValueError, parseDialogStoreOption, f"sqlite:path={path}")
        self.assertIn(path, str(e))

    def test_default(self):
        """
        The default is SQLite in the working directory, and persistent.
        """
        self.assertEqual(DEFAULT_DIALOG_STORE, "sqlite:path=keepsip-dialogs.sqlite3")
        self.assertTrue(isPersistent(DEFAULT_DIALOG_STORE))
        self.assertFalse(isPersistent("memory"))


class MakeTests(SynchronousTestCase):
    def test_make(self):
        """
        C{makeDialogStore} builds the named store without opening it.
        """
        path = self.mktemp()
        store = makeDialogStore(f"sqlite:path={path},commit-delay=0.5", Clock(), DialogCodec())
        self.assertIsInstance(store, SQLiteDialogStore)
        self.assertEqual((store.path, store.commitDelay), (path, 0.5))
        import os

        self.assertFalse(os.path.exists(path))
        self.assertIsInstance(makeDialogStore("memory", Clock(), DialogCodec()), MemoryDialogStore)
