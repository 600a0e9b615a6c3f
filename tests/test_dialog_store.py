"""
Tests for L{keepsip.dialog.store}.
"""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.model import Dialog, Leg
from keepsip.dialog.store import MemoryDialogStore
from keepsip.interfaces import IDialogStore


def makeDialog(callID="c1", callerTag="a", calleeTag=None):
    return Dialog(
        callID=callID,
        caller=Leg(uri="sip:alice@example.com", tag=callerTag),
        callee=Leg(uri="sip:bob@example.com", tag=calleeTag),
        requestURI="sip:bob@example.com",
        invitedAt=0.0,
    )


class MemoryDialogStoreTests(SynchronousTestCase):
    def test_interface(self):
        """
        L{MemoryDialogStore} provides L{IDialogStore}.
        """
        self.assertTrue(verifyObject(IDialogStore, MemoryDialogStore()))

    def test_addAndFindByCallKey(self):
        """
        A dialog added before its callee tag is known is found by its call
        key but not yet by any dialog ID.
        """
        store = MemoryDialogStore()
        dialog = makeDialog()
        store.add(dialog)
        self.assertIs(self.successResultOf(store.byCallKey(("c1", "a"))), dialog)
        self.assertIsNone(self.successResultOf(store.byDialogID(("c1", "a", ""))))

    def test_updateIndexesBothOrientations(self):
        """
        After the callee tag is set and the store updated, the dialog is found
        by its dialog ID in the caller's and in the callee's orientation.
        """
        store = MemoryDialogStore()
        dialog = makeDialog()
        store.add(dialog)
        dialog.callee.tag = "b"
        store.update(dialog)
        self.assertIs(self.successResultOf(store.byDialogID(("c1", "a", "b"))), dialog)
        self.assertIs(self.successResultOf(store.byDialogID(("c1", "b", "a"))), dialog)

    def test_removeForgetsEverything(self):
        """
        A removed dialog is found by no key and the count drops to zero:
        terminated dialogs leave memory.
        """
        store = MemoryDialogStore()
        dialog = makeDialog(calleeTag="b")
        store.add(dialog)
        self.assertEqual(self.successResultOf(store.count()), 1)
        store.remove(dialog)
        self.assertEqual(self.successResultOf(store.count()), 0)
        self.assertIsNone(self.successResultOf(store.byCallKey(("c1", "a"))))
        self.assertIsNone(self.successResultOf(store.byDialogID(("c1", "b", "a"))))
        self.assertIsNone(self.successResultOf(store.byDialogID(("c1", "a", "b"))))

    def test_removeKeepsNewerDialogWithSameKey(self):
        """
        Removing a dialog does not remove a different dialog that reused its
        call key.
        """
        store = MemoryDialogStore()
        old = makeDialog()
        store.add(old)
        new = makeDialog()
        store.add(new)
        store.remove(old)
        self.assertIs(self.successResultOf(store.byCallKey(("c1", "a"))), new)
