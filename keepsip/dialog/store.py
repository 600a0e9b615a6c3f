"""
The in-memory L{IDialogStore}.

It keeps one index, by call key C{(Call-ID, caller tag)}, which identifies a
call from its initial INVITE on; the key is the dialog's own
(L{Dialog.callKey}), shared with the deadline indexes. A dialog ID
C{(Call-ID, tag, tag)} from either side is found with at most two lookups
in it: its From tag is the caller's (a request from the caller) or its To
tag is (from the callee), and the other tag must be the callee's.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from keepsip.dialog.model import Dialog, DialogID
from keepsip.interfaces import IDialogStore


@implementer(IDialogStore)
class MemoryDialogStore:
    """
    Dialogs in dictionaries; every Deferred has already fired.

    Nothing outlives the process: L{open} hands back only the dialogs this
    very object already holds (a service restarted in the same process).
    """

    persistent = False
    #: What the persistent stores count (see L{keepsip.metrics.dialog}); always 0.
    operations = 0
    errors = 0
    loaded = 0

    def __init__(self) -> None:
        self._byCallKey: dict[tuple[str, str], Dialog] = {}

    # Synchronous accessors, for callers that know they hold a memory store
    # (tests, the keepalive fast path).

    def getByDialogID(self, dialogID: DialogID) -> Dialog | None:
        callID, one, other = dialogID
        if not one or not other:
            return None
        byCallKey = self._byCallKey
        dialog = byCallKey.get((callID, one))
        if dialog is not None and dialog.callee.tag == other:
            return dialog
        dialog = byCallKey.get((callID, other))
        if dialog is not None and dialog.callee.tag == one:
            return dialog
        return None

    def getByCallKey(self, callKey: tuple[str, str]) -> Dialog | None:
        return self._byCallKey.get(callKey)

    def __len__(self) -> int:
        return len(self._byCallKey)

    def allDialogs(self) -> list[Dialog]:
        """
        Every stored dialog (for shutdown; never on the message path).
        """
        return list(self._byCallKey.values())

    # IDialogStore

    def add(self, dialog: Dialog) -> Deferred[None]:
        self._byCallKey[dialog.callKey] = dialog
        return succeed(None)

    def byCallKey(self, callKey: tuple[str, str]) -> Deferred[Dialog | None]:
        return succeed(self._byCallKey.get(callKey))

    def byDialogID(self, dialogID: DialogID) -> Deferred[Dialog | None]:
        return succeed(self.getByDialogID(dialogID))

    def update(self, dialog: Dialog) -> Deferred[None]:
        # Indexed by its call key, which never changes: nothing to do.
        return succeed(None)

    def remove(self, dialog: Dialog) -> Deferred[None]:
        if self._byCallKey.get(dialog.callKey) is dialog:
            del self._byCallKey[dialog.callKey]
        return succeed(None)

    def count(self) -> Deferred[int]:
        return succeed(len(self._byCallKey))

    def open(self) -> Deferred[list[Dialog]]:
        return succeed(self.allDialogs())

    def close(self) -> Deferred[None]:
        return succeed(None)
