"""
The L{IDialogStore} contract: one suite every store passes (STYLE: the
in-memory and the persistent stores pass one shared contract test suite).

A test case mixes in L{DialogStoreContract} before C{SynchronousTestCase}
and provides C{makeStore()} (a new, opened, empty store) and
C{reopen(store)} (what a restart of keepsip gives: the same object for the
memory store, a new object over the same file for SQLite).
"""

from __future__ import annotations

from typing import Any

from zope.interface.verify import verifyObject

from keepsip.dialog.model import Dialog, DialogState, Leg
from keepsip.interfaces import IDialogStore


def makeDialog(callID: str = "c1", callerTag: str = "a", calleeTag: str | None = None) -> Dialog:
    return Dialog(
        callID=callID,
        caller=Leg(uri="sip:alice@example.com", tag=callerTag),
        callee=Leg(uri="sip:bob@example.com", tag=calleeTag),
        requestURI="sip:bob@example.com",
        invitedAt=0.0,
    )


class DialogStoreContract:
    """
    Tests every L{IDialogStore} passes.
    """

    def makeStore(self) -> Any:
        raise NotImplementedError()

    def reopen(self, store: Any) -> Any:
        raise NotImplementedError()

    def test_interface(self):
        """
        The store provides L{IDialogStore}.
        """
        self.assertTrue(verifyObject(IDialogStore, self.makeStore()))

    def test_addAndFindByCallKey(self):
        """
        A dialog added before its callee tag is known is found by its call
        key but not yet by any dialog ID.
        """
        store = self.makeStore()
        dialog = makeDialog()
        store.add(dialog)
        self.assertIs(self.successResultOf(store.byCallKey(("c1", "a"))), dialog)
        self.assertIsNone(self.successResultOf(store.byDialogID(("c1", "a", ""))))

    def test_updateIndexesBothOrientations(self):
        """
        After the callee tag is set and the store updated, the dialog is
        found by its dialog ID in the caller's and in the callee's
        orientation.
        """
        store = self.makeStore()
        dialog = makeDialog()
        store.add(dialog)
        dialog.callee.tag = "b"
        store.update(dialog)
        self.assertIs(self.successResultOf(store.byDialogID(("c1", "a", "b"))), dialog)
        self.assertIs(self.successResultOf(store.byDialogID(("c1", "b", "a"))), dialog)

    def test_removeForgetsEverything(self):
        """
        A removed dialog is found by no key and the count drops to zero.
        """
        store = self.makeStore()
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
        store = self.makeStore()
        old = makeDialog()
        store.add(old)
        new = makeDialog()
        store.add(new)
        store.remove(old)
        self.assertIs(self.successResultOf(store.byCallKey(("c1", "a"))), new)

    def test_allDialogs(self):
        """
        C{allDialogs} lists every stored dialog once, removed ones not.
        """
        store = self.makeStore()
        dialogs = [makeDialog(f"c{n}", calleeTag="b") for n in range(3)]
        for dialog in dialogs:
            store.add(dialog)
        store.remove(dialogs[1])
        self.assertEqual(sorted(d.callID for d in store.allDialogs()), ["c0", "c2"])

    def test_reopenLoadsLiveDialogs(self):
        """
        After a restart (C{reopen}) C{open} hands back every dialog that was
        stored and not removed, with its state and legs, findable by both
        keys.
        """
        store = self.makeStore()
        kept = makeDialog("kept", calleeTag="b")
        kept.state = DialogState.CONFIRMED
        kept.caller.cseq = 7
        gone = makeDialog("gone", calleeTag="b")
        store.add(kept)
        store.add(gone)
        kept.caller.cseq = 8
        store.update(kept)
        store.remove(gone)
        again = self.reopen(store)
        loaded = self.successResultOf(again.open())
        self.assertEqual([d.callID for d in loaded], ["kept"])
        self.assertEqual(loaded[0].state, DialogState.CONFIRMED)
        self.assertEqual(loaded[0].caller.cseq, 8)
        self.assertIs(self.successResultOf(again.byDialogID(("kept", "b", "a"))), loaded[0])
        self.assertEqual(self.successResultOf(again.count()), 1)

    def test_closeFires(self):
        """
        C{close} fires once everything is written.
        """
        store = self.makeStore()
        store.add(makeDialog())
        self.assertIsNone(self.successResultOf(store.close()))
