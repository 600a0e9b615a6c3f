"""
The in-memory L{IDialogStore}.

It keeps two indexes: by call key C{(Call-ID, caller tag)}, which identifies a
call from its initial INVITE on, and by dialog ID C{(Call-ID, tag, tag)} once
the callee's tag is known, in both orientations so that requests from either
side find their dialog with one dictionary lookup.
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
        self._byDialogID: dict[DialogID, Dialog] = {}

    # Synchronous accessors, for callers that know they hold a memory store
    # (tests, the keepalive fast path).

    def getByDialogID(self, dialogID: DialogID) -> Dialog | None:
        return self._byDialogID.get(dialogID)

    def getByCallKey(self, callKey: tuple[str, str]) -> Dialog | None:
        return self._byCallKey.get(callKey)

    def __len__(self) -> int:
        return len(self._byCallKey)

    def allDialogs(self) -> list[Dialog]:
        """
        Every stored dialog (for shutdown; never on the message path).
        """
        return list(self._byCallKey.values())

    def _index(self, dialog: Dialog) -> None:
        callID, callerTag, calleeTag = dialog.dialogID
        if calleeTag:
            self._byDialogID[(callID, callerTag, calleeTag)] = dialog
            self._byDialogID[(callID, calleeTag, callerTag)] = dialog

    # IDialogStore

    def add(self, dialog: Dialog) -> Deferred[None]:
        self._byCallKey[dialog.callKey] = dialog
        self._index(dialog)
        return succeed(None)

    def byCallKey(self, callKey: tuple[str, str]) -> Deferred[Dialog | None]:
        return succeed(self._byCallKey.get(callKey))

    def byDialogID(self, dialogID: DialogID) -> Deferred[Dialog | None]:
        return succeed(self._byDialogID.get(dialogID))

    def update(self, dialog: Dialog) -> Deferred[None]:
        self._index(dialog)
        return succeed(None)

    def remove(self, dialog: Dialog) -> Deferred[None]:
        if self._byCallKey.get(dialog.callKey) is dialog:
            del self._byCallKey[dialog.callKey]
        callID, callerTag, calleeTag = dialog.dialogID
        if calleeTag:
            for key in ((callID, callerTag, calleeTag), (callID, calleeTag, callerTag)):
                if self._byDialogID.get(key) is dialog:
                    del self._byDialogID[key]
        return succeed(None)

    def count(self) -> Deferred[int]:
        return succeed(len(self._byCallKey))

    def open(self) -> Deferred[list[Dialog]]:
        return succeed(self.allDialogs())

    def close(self) -> Deferred[None]:
        return succeed(None)
