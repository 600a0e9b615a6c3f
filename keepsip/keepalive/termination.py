"""
Ending a call whose keepalives stopped (patent claim 6): a BYE to each leg,
their outcomes gathered into the end detail (claims 7-8), then the end.

L{Terminator} needs only what sending the BYEs takes: a way to start a
client transaction, keepsip's sent-by address and a resolver. It never
leaves a call behind: L{Terminator.end}, what the reapers call, retries a
failed termination once and then ends the dialog without the BYEs.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.dialog.model import Dialog, Leg
from keepsip.keepalive.bye import KEEPALIVE_TIMEOUT_REASON, buildBye, nextCSeq
from keepsip.keepalive.causes import classifyByeOutcome, summariseEnd
from keepsip.logs import Logger
from keepsip.sip.address import isIPLiteral
from keepsip.sip.headers import newBranch
from keepsip.sip.message import Request, Response
from keepsip.transaction.interfaces import IClientTransaction, IClientTransactionUser

log = Logger()

#: C{request(message, (host, port), user)}: start a client transaction
#: (L{keepsip.transaction.layer.TransactionLayer.request}).
StartTransaction = Callable[[Request, tuple[str, int], IClientTransactionUser], object]

#: The end detail's C{why} when a call was ended without its BYEs.
BYES_FAILED = "the BYEs could not be completed"


class Ending:
    """
    A dialog attachment: keepsip is ending this call with its own BYEs
    (L{Terminator.end}), for C{cause}. A second reaper that finds the call
    due before the BYEs are answered (the keepalive reaper and the media
    timeout in one tick) leaves it alone, so a call gets one pair of BYEs
    and one stop record. It is not persisted: the BYEs it guards are client
    transactions, which do not outlive the process, so a call restored
    after a restart is rightly ended again.
    """

    __slots__ = ("cause", "silent", "endedAt", "detectedAt", "why")

    def __init__(
        self, cause: str, silent: str = "none", endedAt: float | None = None,
        detectedAt: float | None = None, why: str = "",
    ) -> None:
        self.cause = cause
        self.silent = silent
        self.endedAt = endedAt
        self.detectedAt = detectedAt
        self.why = why


def beingEnded(dialog: Dialog) -> bool:
    """
    Whether keepsip is already ending C{dialog} with its own BYEs (or it
    ended).
    """
    return dialog.isTerminated or dialog.attachments.get(Ending) is not None


@implementer(IClientTransactionUser)
class ByeOutcome:
    """
    Waits for the final answer to one of keepsip's BYEs and classifies it.

    @ivar result: a Deferred firing with the outcome (see
        L{keepsip.keepalive.causes.classifyByeOutcome}), or failing if the
        BYE could not be sent.
    """

    def __init__(self) -> None:
        self.result: Deferred[str] = Deferred()

    def done(self, detail: str) -> None:
        """
        The BYE's outcome is C{detail} (first one wins).
        """
        if not self.result.called:
            self.result.callback(detail)

    def failed(self, failure: Failure) -> None:
        """
        The BYE could not be sent: the termination fails (and is retried).
        """
        if not self.result.called:
            self.result.errback(failure)

    def responseReceived(self, response: Response, clientTransaction: IClientTransaction) -> None:
        if response.code >= 200:
            self.done(classifyByeOutcome(response.code, False, False))

    def timedOut(self, clientTransaction: IClientTransaction) -> None:
        self.done(classifyByeOutcome(None, True, False))

    def transportFailed(self, clientTransaction: IClientTransaction) -> None:
        self.done(classifyByeOutcome(None, False, True))


class Terminator:
    """
    Ends dialogs with a BYE to both legs.

    @param tracker: the L{keepsip.dialog.tracker.DialogTracker} that ends
        the dialog.
    @param request: starts the BYEs' client transactions (L{StartTransaction}).
    @param sentBy: keepsip's C{host:port} for the BYEs' Via.
    @param resolve: C{resolve(hostname) -> Deferred[str]} for next hops that
        are not IP literals, or L{None}.
    """

    def __init__(
        self,
        tracker: Any,
        request: StartTransaction,
        sentBy: str,
        resolve: Callable[[str], Deferred[str]] | None = None,
    ) -> None:
        self.tracker = tracker
        self.request = request
        self.sentBy = sentBy
        self.resolve = resolve

    def terminate(
        self,
        dialog: Dialog,
        cause: str,
        silent: str,
        endedAt: float,
        detectedAt: float,
        reasonText: str = "neither leg kept the call alive",
        reasonHeader: str = KEEPALIVE_TIMEOUT_REASON,
    ) -> Deferred[dict[str, str]]:
        """
        Send BYE to both legs (claim 6), wait for both outcomes, and end the
        dialog with a per-leg detail of why (claims 7-8).

        @param silent: the leg whose keepalives stopped (C{caller},
            C{callee}), C{both}, or C{none}.
        @return: a L{Deferred} firing with the end detail.
        """
        outcomes = [
            self._sendBye(dialog, leg, reasonHeader) for leg in (dialog.caller, dialog.callee)
        ]

        def finish(results: list[str]) -> dict[str, str]:
            callerDetail, calleeDetail = results
            if silent in ("caller", "callee"):
                detail = summariseEnd(callerDetail, calleeDetail, silent)
            else:
                detail = {
                    "caller": callerDetail,
                    "callee": calleeDetail,
                    "silent": silent,
                    "why": reasonText,
                }
            self.tracker.terminate(dialog, cause, detail, endedAt=endedAt, detectedAt=detectedAt)
            return detail

        return gatherResults(outcomes).addCallback(finish)

    def end(
        self,
        dialog: Dialog,
        cause: str,
        silent: str,
        endedAt: float,
        detectedAt: float,
        reasonText: str = "neither leg kept the call alive",
        reasonHeader: str = KEEPALIVE_TIMEOUT_REASON,
    ) -> Deferred[None]:
        """
        L{terminate} the dialog for a reaper, which waits for the returned
        Deferred and counts it as failed if ending the call went wrong.

        An attempt that fails (a BYE that cannot be built or sent, a tracker
        that raises) is retried once; if the retry fails too, the dialog is
        ended without the BYEs' outcomes, with a detail saying so. Either
        way the call never lingers in the store.

        A dialog already being ended (L{beingEnded}) is left alone: its
        first ending sends the BYEs and writes the record.

        @return: a Deferred firing with L{None} once the dialog ended, or
            failing with the first failure (after the dialog ended).
        """
        if beingEnded(dialog):
            log.debug(
                "{callID} is already being ended: not ending it for {cause}",
                callID=dialog.callID,
                cause=cause,
            )
            return succeed(None)
        dialog.attachments.set(Ending(cause, silent, endedAt, detectedAt, reasonText))

        def attempt() -> Deferred[dict[str, str]]:
            return maybeDeferred(
                self.terminate,
                dialog,
                cause,
                silent,
                endedAt,
                detectedAt,
                reasonText,
                reasonHeader,
            )

        def forceEnd(failure: Failure) -> object:
            log.failure(
                "retry of ending {callID} failed too: ending it without the BYEs",
                failure,
                callID=dialog.callID,
            )
            self.tracker.terminate(
                dialog,
                cause,
                {"silent": silent, "why": f"{reasonText}; {BYES_FAILED}"},
                endedAt=endedAt,
                detectedAt=detectedAt,
            )
            return None

        def retry(failure: Failure) -> object:
            if dialog.isTerminated:
                return failure
            log.failure("ending {callID} failed: retrying once", failure, callID=dialog.callID)
            again: Deferred[object] = attempt().addErrback(forceEnd)
            return again.addCallback(lambda _: failure)

        done: Deferred[object] = attempt().addErrback(retry)
        return done.addCallback(lambda _: None)

    def _sendBye(self, dialog: Dialog, leg: Leg, reason: str) -> Deferred[str]:
        try:
            bye, destination = buildBye(
                dialog,
                leg,
                self.sentBy,
                newBranch(),
                nextCSeq(dialog, leg),
                reason,
            )
        except ValueError as e:
            log.info("cannot build BYE for {callID}: {error}", callID=dialog.callID, error=str(e))
            return maybeDeferred(lambda: "unknown")
        if destination is None:
            return maybeDeferred(lambda: "unknown")
        outcome = ByeOutcome()
        host, port = destination

        def send(address: str) -> None:
            self.request(bye, (address, port), outcome)

        if isIPLiteral(host) or self.resolve is None:
            send(host)
        else:
            maybeDeferred(self.resolve, host).addCallbacks(
                send, lambda f: outcome.done("unreachable")
            ).addErrback(outcome.failed)
        return outcome.result


__all__ = ["BYES_FAILED", "ByeOutcome", "StartTransaction", "Terminator"]
