"""
L{DialogObserver}: the no-op base of dialog observers.

An observer subclasses it and overrides the events it cares about; the
tracker calls every event on every observer through the interface.
"""

from __future__ import annotations

from collections.abc import Mapping

from zope.interface import implementer

from keepsip.dialog.model import Dialog
from keepsip.interfaces import IDialogObserver


@implementer(IDialogObserver)
class DialogObserver:
    """
    An L{IDialogObserver} that does nothing on every event.
    """

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        An initial INVITE for a new call was forwarded.
        """

    def dialogEarly(self, dialog: Dialog) -> None:
        """
        A tagged provisional response arrived for the call.
        """

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        A 2xx answered the call.
        """

    def dialogUpdated(self, dialog: Dialog) -> None:
        """
        A re-INVITE changed the session.
        """

    def dialogKeptAlive(self, dialog: Dialog) -> None:
        """
        A keepalive refreshed the call.
        """

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        No keepalive came within the deadline; the call is being ended.
        """

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        """
        The call ended.
        """

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        A call was loaded from a persistent store at start-up.
        """


__all__ = ["DialogObserver"]
