"""
The ACK timer: a call whose 2xx is never acknowledged is ended, instead of
staying up (and billed) until C{--max-duration}.

RFC 3261 §13.3.1.4: a UAS that gets no ACK for its 2xx within 64 x T1
should consider the session over and send BYE. keepsip sits between the two
user agents and sees both the 2xx and the ACK, so it does the same for the
call: L{AckTimer} arms one timer on the injected clock when a dialog is
confirmed, cancels it when the ACK passes, and if it fires ends the call
with the documented C{ack-timeout} cause through a callable it is given
(the keepalive terminator's BYE to both legs).

The billed end of such a call is its answer time: the caller never
confirmed the session, so no talk time is charged.

The dialog store is in memory, so the tracker reports a confirmation
before the ACK that follows it can arrive; a store answering later would
need the ACK remembered until then (not done).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from keepsip.dialog.model import Dialog, DialogID, EndCause
from keepsip.dialog.observer import DialogObserver
from keepsip.logs import Logger
from keepsip.sip.message import Request

log = Logger()

#: C{end(dialog, cause, endedAt)}: end the call with a BYE to both legs.
EndCall = Callable[[Dialog, str, float], object]


class AckTimer(DialogObserver):
    """
    Ends confirmed dialogs whose 2xx is not acknowledged within C{timeout}
    seconds.

    @ivar timeout: seconds from the 2xx to the end (64 x T1).
    @ivar expired: calls ended for want of their ACK so far.
    """

    def __init__(self, clock: IReactorTime, timeout: float, end: EndCall) -> None:
        self.clock = clock
        self.timeout = timeout
        self.end = end
        self.expired = 0
        self._pending: dict[DialogID, tuple[Dialog, IDelayedCall]] = {}

    def __len__(self) -> int:
        """
        The dialogs waiting for their ACK.
        """
        return len(self._pending)

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        The 2xx passed: wait for its ACK.
        """
        key = dialog.dialogID
        if key in self._pending:
            return
        self._pending[key] = (dialog, self.clock.callLater(self.timeout, self._expire, key))

    def ackReceived(self, request: Request) -> None:
        """
        An ACK passed (any ACK matching no server transaction): if it
        acknowledges a 2xx that is waited for, stop waiting.
        """
        from keepsip.sip.headers import callID, fromHeader, toHeader

        if not self._pending:
            return
        try:
            key = (callID(request), fromHeader(request).tag or "", toHeader(request).tag or "")
        except ValueError:
            return
        pending = self._pending.pop(key, None)
        if pending is not None and pending[1].active():
            pending[1].cancel()

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, Any]) -> None:
        """
        The call ended otherwise (a BYE, a CANCEL race, shutdown): stop
        waiting.
        """
        pending = self._pending.pop(dialog.dialogID, None)
        if pending is not None and pending[1].active():
            pending[1].cancel()

    def _expire(self, key: DialogID) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        dialog = pending[0]
        if dialog.isTerminated:
            return
        self.expired += 1
        log.info(
            "no ACK for the 2xx of {callID} within {timeout}s: ending the call",
            callID=dialog.callID,
            timeout=self.timeout,
        )
        answeredAt = dialog.answeredAt
        try:
            self.end(
                dialog,
                EndCause.ACK_TIMEOUT,
                answeredAt if answeredAt is not None else self.clock.seconds(),
            )
        except Exception:
            log.failure("ending {callID} after its ACK timeout failed", callID=dialog.callID)

    def stop(self) -> None:
        """
        Cancel every timer (at shutdown: the calls are ended otherwise).
        """
        pending, self._pending = self._pending, {}
        for _, call in pending.values():
            if call.active():
                call.cancel()
