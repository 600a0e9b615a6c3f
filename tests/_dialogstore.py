"""
The L{IDialogStore} contract: one suite every store passes (STYLE: the
in-memory and the persistent stores pass one shared contract test suite).

A test case mixes in L{DialogStoreContract} before C{SynchronousTestCase}
and provides C{makeStore()} (a new, opened, empty store) and
C{reopen(store)} (what a restart of keepsip gives: the same object for the
memory store, a new object over the same file for SQLite, a new node with
the same name over the same Redis); either may return a Deferred.

The tests are generators run by L{inlineCallbacks}: a store whose Deferreds
fire at once (memory, SQLite) runs them in a C{SynchronousTestCase} and must
have fired everything by the end of the test; a networked store (Redis) sets
C{synchronous = False} and runs them in a C{TestCase} against a real server.
"""

from __future__ import annotations

import functools
from typing import Any

from twisted.internet.defer import inlineCallbacks, maybeDeferred

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


def contract(test: Any) -> Any:
    """
    Run the generator C{test} with L{inlineCallbacks}; in a synchronous test
    case its Deferred must have succeeded by the time it returns.
    """
    run = inlineCallbacks(test)

    @functools.wraps(test)
    def wrapper(self: Any) -> Any:
        d = run(self)
        if self.synchronous:
            self.successResultOf(d)
            return None
        return d

    return wrapper


class DialogStoreContract:
    """
    Tests every L{IDialogStore} passes.
    """

    synchronous = True

    def makeStore(self) -> Any:
        raise NotImplementedError()

    def reopen(self, store: Any) -> Any:
        raise NotImplementedError()

    @contract
    def test_interface(self):
        """
        The store provides L{IDialogStore}.
        """
        store = yield maybeDeferred(self.makeStore)
        self.assertTrue(verifyObject(IDialogStore, store))

    @contract
    def test_addAndFindByCallKey(self):
        """
        A dialog added before its callee tag is known is found by its call
        key but not yet by any dialog ID.
        """
        store = yield maybeDeferred(self.makeStore)
        dialog = makeDialog()
        store.add(dialog)
        self.assertIs((yield store.byCallKey(("c1", "a"))), dialog)
        self.assertIsNone((yield store.byDialogID(("c1", "a", ""))))

    @contract
    def test_updateIndexesBothOrientations(self):
        """
        After the callee tag is set and the store updated, the dialog is
        found by its dialog ID in the caller's and in the callee's
        orientation.
        """
        store = yield maybeDeferred(self.makeStore)
        dialog = makeDialog()
        store.add(dialog)
        dialog.callee.tag = "b"
        store.update(dialog)
        self.assertIs((yield store.byDialogID(("c1", "a", "b"))), dialog)
        self.assertIs((yield store.byDialogID(("c1", "b", "a"))), dialog)

    @contract
    def test_removeForgetsEverything(self):
        """
        A removed dialog is found by no key and the count drops to zero.
        """
        store = yield maybeDeferred(self.makeStore)
        dialog = makeDialog(calleeTag="b")
        store.add(dialog)
        self.assertEqual((yield store.count()), 1)
        store.remove(dialog)
        self.assertEqual((yield store.count()), 0)
        self.assertIsNone((yield store.byCallKey(("c1", "a"))))
        self.assertIsNone((yield store.byDialogID(("c1", "b", "a"))))
        self.assertIsNone((yield store.byDialogID(("c1", "a", "b"))))

    @contract
    def test_removeKeepsNewerDialogWithSameKey(self):
        """
        Removing a dialog does not remove a different dialog that reused its
        call key.
        """
        store = yield maybeDeferred(self.makeStore)
        old = makeDialog()
        store.add(old)
        new = makeDialog()
        store.add(new)
        store.remove(old)
        self.assertIs((yield store.byCallKey(("c1", "a"))), new)

    @contract
    def test_allDialogs(self):
        """
        C{allDialogs} lists every stored dialog once, removed ones not.
        """
        store = yield maybeDeferred(self.makeStore)
        dialogs = [makeDialog(f"c{n}", calleeTag="b") for n in range(3)]
        for dialog in dialogs:
            store.add(dialog)
        store.remove(dialogs[1])
        self.assertEqual(sorted(d.callID for d in store.allDialogs()), ["c0", "c2"])

    @contract
    def test_reopenLoadsLiveDialogs(self):
        """
        After a restart (C{reopen}) C{open} hands back every dialog that was
        stored and not removed, with its state and legs, findable by both
        keys.
        """
        store = yield maybeDeferred(self.makeStore)
        kept = makeDialog("kept", calleeTag="b")
        kept.state = DialogState.CONFIRMED
        kept.caller.cseq = 7
        gone = makeDialog("gone", calleeTag="b")
        store.add(kept)
        store.add(gone)
        kept.caller.cseq = 8
        store.update(kept)
        store.remove(gone)
        again = yield maybeDeferred(self.reopen, store)
        loaded = (yield again.open())
        self.assertEqual([d.callID for d in loaded], ["kept"])
        self.assertEqual(loaded[0].state, DialogState.CONFIRMED)
        self.assertEqual(loaded[0].caller.cseq, 8)
        self.assertIs((yield again.byDialogID(("kept", "b", "a"))), loaded[0])
        self.assertEqual((yield again.count()), 1)

    @contract
    def test_closeFires(self):
        """
        C{close} fires once everything is written.
        """
        store = yield maybeDeferred(self.makeStore)
        store.add(makeDialog())
        self.assertIsNone((yield store.close()))
