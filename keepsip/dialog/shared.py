"""
Finding the dialog of an in-dialog request when several keepsip nodes share
one dialog store (Redis).

A node holds the calls set up through it; a request of a call set up through
another node (a shared name moved, that node died) finds nothing in memory,
so the call is read from the store and held from then on, resumed like a
call loaded at restart (C{dialogRestored}). With the memory and SQLite
stores nothing changes: the lookup stays synchronous.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed

from keepsip.dialog.model import Dialog, DialogID
from keepsip.logs import Logger

log = Logger()


def lookup(tracker: Any, dialogID: DialogID) -> Deferred[Dialog | None]:
    """
    @param tracker: the L{keepsip.dialog.tracker.DialogTracker}.
    @return: a Deferred with the held dialog of C{dialogID} (adopted if it
        was loaded), or L{None}; already fired unless the store is shared and
        the call is not held.
    """
    store = tracker.store
    if not getattr(store, "shared", False):
        return store.byDialogID(dialogID)
    held = store.getByDialogID(dialogID)
    if held is not None:
        return succeed(held)
    d: Deferred[Dialog | None] = store.byDialogID(dialogID)
    return d.addCallback(lambda found: adopt(tracker, found))


def adopt(tracker: Any, dialog: Dialog | None) -> Dialog | None:
    """
    Hold a confirmed call another node set up and resume it here; a call not
    confirmed, ending or ended stays with its node.

    @return: the held dialog, or L{None}.
    """
    if dialog is None:
        return None
    store = tracker.store
    held: Dialog | None = store.getByCallKey(dialog.callKey)
    if held is not None:
        return held if set(held.dialogID) == set(dialog.dialogID) else None
    if not dialog.isConfirmed or dialog.ending is not None:
        return None
    store.hold(dialog)
    log.info("{callID}: loaded from the shared dialog store", callID=dialog.callID)
    tracker.restore([dialog])
    return dialog


__all__ = ["adopt", "lookup"]
