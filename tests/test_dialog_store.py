"""
Tests for L{keepsip.dialog.store}: the memory store passes the
L{IDialogStore} contract.
"""

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.store import MemoryDialogStore
from tests._dialogstore import DialogStoreContract, makeDialog


class MemoryDialogStoreTests(DialogStoreContract, SynchronousTestCase):
    def makeStore(self):
        store = MemoryDialogStore()
        self.successResultOf(store.open())
        return store

    def reopen(self, store):
        return store

    def test_notPersistent(self):
        """
        The memory store says it does not outlive the process, so a graceful
        stop ends its calls.
        """
        self.assertFalse(MemoryDialogStore.persistent)

    def test_openHandsBackHeldDialogs(self):
        """
        C{open} on a fresh memory store loads nothing.
        """
        store = MemoryDialogStore()
        self.assertEqual(self.successResultOf(store.open()), [])
        store.add(makeDialog())
        self.assertEqual(len(self.successResultOf(store.open())), 1)

    def test_lookupByDialogIDFollowsCalleeTag(self):
        """
        A dialog ID finds its dialog from either side through the call key
        alone: once the 2xx replaced an early callee tag, the old tag finds
        nothing; an ID with an empty tag finds nothing.
        """
        store = MemoryDialogStore()
        dialog = makeDialog(calleeTag="early")
        store.add(dialog)
        self.assertIs(store.getByDialogID(("c1", "early", "a")), dialog)
        dialog.callee.tag = "answered"
        store.update(dialog)
        self.assertIsNone(store.getByDialogID(("c1", "a", "early")))
        self.assertIs(store.getByDialogID(("c1", "a", "answered")), dialog)
        self.assertIs(store.getByDialogID(("c1", "answered", "a")), dialog)
        self.assertIsNone(store.getByDialogID(("c1", "a", "")))
        self.assertIsNone(store.getByDialogID(("c1", "", "a")))
