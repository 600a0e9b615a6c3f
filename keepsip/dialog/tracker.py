"""
The dialog tracker: turns what the proxy core forwards into dialog state and
lifecycle events.

The proxy core tells the tracker what passed through it (an initial INVITE, a
response to it, an in-dialog request, an ACK, a transaction timeout); the
tracker keeps each call's L{Dialog} in an L{IDialogStore} and tells every
L{IDialogObserver}. Keepalive handling and accounting are such observers, so
neither touches the proxy core.

The tracker never blocks forwarding: the core calls it after it has decided
what to send, and store Deferreds that fail are logged.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from twisted.internet.defer import Deferred

from keepsip.dialog.legs import fromLeg, mayRebind, sharedAddress, sharedRouteSet
from keepsip.dialog.messages import contactURI, isSDP, sessionExpires, splitRouteSets, uriString
from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.dialog.suspects import SuspectLog
from keepsip.interfaces import IDialogObserver, IDialogStore
from keepsip.logs import Logger
from keepsip.sip.message import Request, Response
from keepsip.sip.sdp import offerDigest

log = Logger()


class DialogTracker:
    """
    Keeps L{Dialog}s for the calls keepsip forwards.

    @param clock: an L{IReactorTime}.
    @param store: the L{IDialogStore}.
    @param recordRoute: the exact Record-Route value keepsip inserts, to find
        its own position in a route set.

    @ivar suspects: the L{SuspectLog} of requests from addresses that are
        not their leg's (the keepalive layer reports its forgeries there
        too, so a source gets one line per window for all it tried).
    @ivar untrusted: in-dialog requests that were not from their leg's
        address and did not move it (a metric).
    @ivar rebound: legs moved to another address (a metric).
    """

    def __init__(self, clock, store: IDialogStore, recordRoute: str) -> None:
        self.clock = clock
        self.store = store
        self.recordRoute = recordRoute
        self.observers: list[IDialogObserver] = []
        self.suspects = SuspectLog(clock)
        self.untrusted = 0
        self.rebound = 0
        # Re-INVITEs forwarded although not from their leg, until answered:
        # their answer must not make them the dialog's last INVITE.
        self._untrustedInvites: weakref.WeakSet[Request] = weakref.WeakSet()

    def addObserver(self, observer: IDialogObserver) -> None:
        """
        Tell C{observer} every event from now on; it should subclass
        L{keepsip.dialog.observer.DialogObserver} so that it has them all.
        """
        self.observers.append(observer)

    def removeObserver(self, observer: IDialogObserver) -> None:
        self.observers.remove(observer)

    def _notify(
        self, dialog: Dialog, event: str, deliver: Callable[[IDialogObserver], object]
    ) -> None:
        """
        Call C{deliver(observer)} for every observer; failures are logged.

        @param event: the event's name, for the log only.
        """
        for observer in list(self.observers):
            try:
                deliver(observer)
            except Exception:
                log.failure(
                    "dialog observer {observer!r} failed on {event}",
                    observer=observer,
                    event=event,
                    callID=dialog.callID,
                )

    # -- events raised by the layers above ----------------------------------

    def keptAlive(self, dialog: Dialog) -> None:
        """
        A keepalive refreshed C{dialog}: tell the observers, then have the
        store keep its new proof of life (and what the observers changed).
        """
        self._notify(dialog, "dialogKeptAlive", lambda o: o.dialogKeptAlive(dialog))
        self._logStoreFailure(self.store.update(dialog), "update")

    def expired(self, dialog: Dialog) -> None:
        """
        C{dialog}'s keepalives stopped and it is being ended: tell the
        observers.
        """
        self._notify(dialog, "dialogExpired", lambda o: o.dialogExpired(dialog))

    def rebind(self, dialog: Dialog, leg: Leg, source: tuple[str, int]) -> None:
        """
        C{leg} of C{dialog} is now at C{source}: the seam for a layer that
        authenticated a request from the leg (a digest challenge answered)
        after its address changed. Requests from C{source} are from the leg
        from now on, and those from its old address are not.
        """
        if leg.source == source:
            return
        log.info(
            "{who} of {callID} moved from {old} to {peer}",
            who="caller" if leg is dialog.caller else "callee",
            callID=dialog.callID,
            old=leg.source,
            peer=source,
        )
        leg.source = sharedAddress(source)
        self.rebound += 1
        self._logStoreFailure(self.store.update(dialog), "update")

    @staticmethod
    def _logStoreFailure(d: Deferred[Any], what: str) -> None:
        d.addErrback(lambda f: log.failure("dialog store failed to {what}", f, what=what))

    def lookup(self, dialogID: tuple[str, str, str]) -> Deferred[Dialog | None]:
        """
        The dialog of an in-dialog request (L{keepsip.dialog.shared.lookup}:
        loaded from a shared store if this node does not hold it).
        """
        from keepsip.dialog.shared import lookup

        return lookup(self, dialogID)

    # -- what the proxy tells us ----------------------------------------

    def initialInvite(self, request: Request, source: tuple[str, int]) -> Dialog | None:
        """
        An initial INVITE (no To tag) is being forwarded: a new call.
        """
        from keepsip.sip.headers import callID, cseq, fromHeader, toHeader

        try:
            caller = fromHeader(request)
            callee = toHeader(request)
            number = cseq(request).number
            cid = callID(request)
        except ValueError:
            return None
        now = self.clock.seconds()
        calleeURI = uriString(callee.uri)
        requestURI = request.uri.toString()
        if requestURI == calleeURI:
            # Often so (a call to the address-of-record): one string.
            requestURI = calleeURI
        dialog = Dialog(
            callID=cid,
            caller=Leg(
                uri=uriString(caller.uri),
                tag=caller.tag,
                cseq=number,
                remoteTarget=contactURI(request),
                source=sharedAddress(source),
                lastRequestAt=now,
            ),
            callee=Leg(uri=calleeURI),
            requestURI=requestURI,
            invitedAt=now,
            lastInviteCSeq=number,
            lastInviteSender=caller.tag,
            lastOfferSDP=request.body if isSDP(request) else b"",
        )
        self._logStoreFailure(self.store.add(dialog), "add")
        self._notify(dialog, "dialogCreated", lambda o: o.dialogCreated(dialog))
        return dialog

    def inviteResponse(
        self,
        request: Request,
        response: Response,
        cancelled: bool = False,
        source: tuple[str, int] | None = None,
    ) -> None:
        """
        A response to an INVITE is being relayed upstream.

        @param request: the INVITE as keepsip received it.
        @param cancelled: the caller had sent CANCEL for it.
        @param source: the address the response came from (the callee side).
        """
        from keepsip.sip.headers import callID, fromHeader, toHeader

        try:
            key = (callID(request), fromHeader(request).tag or "")
            toTag = toHeader(response).tag
            requestToTag = toHeader(request).tag
        except ValueError:
            return
        if requestToTag:
            # A re-INVITE inside an existing dialog.
            if 200 <= response.code < 300:
                self._reinviteAnswered(request, response, key[0], key[1], requestToTag)
            return
        self.store.byCallKey(key).addCallback(
            self._initialInviteResponse, request, response, toTag, cancelled, source
        ).addErrback(lambda f: log.failure("dialog tracking failed", f))

    def _initialInviteResponse(
        self,
        dialog: Dialog | None,
        request: Request,
        response: Response,
        toTag: str | None,
        cancelled: bool,
        source: tuple[str, int] | None,
    ) -> None:
        if dialog is None or dialog.isTerminated:
            return
        code = response.code
        now = self.clock.seconds()
        if code < 200:
            if toTag and dialog.state == DialogState.TRYING:
                dialog.state = DialogState.EARLY
                dialog.callee.tag = toTag
                dialog.callee.remoteTarget = contactURI(response)
                self._logStoreFailure(self.store.update(dialog), "update")
                self._notify(dialog, "dialogEarly", lambda o: o.dialogEarly(dialog))
            return
        if code < 300:
            if dialog.state == DialogState.CONFIRMED:
                # A 2xx retransmission or a second fork's answer; the first
                # 2xx made the dialog.
                return
            dialog.finalStatus = code
            dialog.state = DialogState.CONFIRMED
            dialog.answeredAt = now
            dialog.callee.tag = toTag
            dialog.callee.remoteTarget = contactURI(response)
            dialog.callee.lastRequestAt = now
            dialog.callee.source = sharedAddress(source)
            dialog.lastAnswerSDP = response.body if isSDP(response) else b""
            negotiated = sessionExpires(response)
            if negotiated:
                dialog.sessionExpires = negotiated
            self._setRouteSets(dialog, response)
            dialog.offerDigest = offerDigest(dialog.lastOfferSDP)
            self._logStoreFailure(self.store.update(dialog), "update")
            self._notify(dialog, "dialogConfirmed", lambda o: o.dialogConfirmed(dialog))
            # Answered: what its observers needed of the offer they have;
            # a keepalive is told by the digest (~230 bytes less a call).
            dialog.lastOfferSDP = b""
            return
        dialog.finalStatus = code
        if cancelled or code == 487:
            self.terminate(
                dialog, EndCause.CANCELLED, {"caller": "CANCEL", "callee": str(code)}, endedAt=now
            )
        else:
            self.terminate(dialog, EndCause.REJECTED, {"callee": str(code)}, endedAt=now)

    def _setRouteSets(self, dialog: Dialog, response: Response) -> None:
        calleeRoutes, callerRoutes = splitRouteSets(
            response.headers.get("record-route", []), self.recordRoute
        )
        # The hops are mostly the same few proxies for every call: one copy.
        dialog.callee.routeSet = sharedRouteSet(calleeRoutes)
        dialog.caller.routeSet = sharedRouteSet(callerRoutes)

    def _reinviteAnswered(
        self, request: Request, response: Response, cid: str, fromTag: str, toTag: str
    ) -> None:
        from keepsip.sip.headers import cseq

        def update(dialog: Dialog | None) -> None:
            if dialog is None or dialog.isTerminated:
                return
            if request in self._untrustedInvites:
                # Not from the leg: the callee may have accepted it, but
                # keepsip's idea of the dialog follows only its own legs.
                self._untrustedInvites.discard(request)
                return
            try:
                number = cseq(request).number
            except ValueError:
                return
            dialog.noteInvite(number, fromTag)
            offer = request.body if isSDP(request) else b""
            dialog.lastOfferSDP = offer
            dialog.offerDigest = offerDigest(offer)
            if isSDP(response):
                dialog.lastAnswerSDP = response.body
            sender = dialog.legFor(fromTag)
            if sender is not None:
                target = contactURI(request)
                if target:
                    sender.remoteTarget = target
            receiver = dialog.legFor(toTag)
            if receiver is not None:
                target = contactURI(response)
                if target:
                    receiver.remoteTarget = target
            self._logStoreFailure(self.store.update(dialog), "update")
            self._notify(dialog, "dialogUpdated", lambda o: o.dialogUpdated(dialog))
            dialog.lastOfferSDP = b""

        self.lookup((cid, fromTag, toTag)).addCallback(update).addErrback(
            lambda f: log.failure("dialog tracking failed", f)
        )

    def inDialogRequest(self, request: Request, source: tuple[str, int]) -> None:
        """
        A request with a To tag passed keepsip; refresh its sender's leg and
        end the dialog on BYE.

        Only a request from the leg (L{keepsip.dialog.legs.fromLeg}) moves
        its CSeq and last request time or marks the call as ending; an
        in-sequence one from another port of the leg's host moves the leg
        there first (L{keepsip.dialog.legs.mayRebind}). Any other is counted
        and logged (once per source and window) and changes nothing.
        """
        from keepsip.sip.headers import callID, cseq, fromHeader, toHeader

        try:
            cid = callID(request)
            fromTag = fromHeader(request).tag or ""
            toTag = toHeader(request).tag or ""
            number = cseq(request).number
        except ValueError:
            return

        def update(dialog: Dialog | None) -> None:
            if dialog is None or dialog.isTerminated:
                return
            sender = dialog.legFor(fromTag)
            if sender is None:
                return
            method = request.method
            if not fromLeg(sender, source):
                if mayRebind(sender, source, method, number):
                    self.rebind(dialog, sender, source)
                else:
                    self._untrusted(dialog, sender, request, source)
                    return
            now = self.clock.seconds()
            if method != "ACK" and method != "CANCEL":
                sender.cseq = max(sender.cseq, number)
            sender.lastRequestAt = now
            if method == "BYE" and dialog.ending is None:
                # The call ended now; the dialog ends when the other side
                # answers the BYE (byeAnswered), so the record can say how.
                who = "caller" if sender is dialog.caller else "callee"
                dialog.ending = (who, now)
            self._logStoreFailure(self.store.update(dialog), "update")

        self.lookup((cid, fromTag, toTag)).addCallback(update).addErrback(
            lambda f: log.failure("dialog tracking failed", f)
        )

    def _untrusted(
        self, dialog: Dialog, sender: Leg, request: Request, source: tuple[str, int]
    ) -> None:
        """
        An in-dialog request claiming to be from C{sender} came from
        elsewhere: it is forwarded (the far end decides about it), but
        changes nothing keepsip knows of the leg.
        """
        self.untrusted += 1
        if request.method == "INVITE":
            self._untrustedInvites.add(request)
        self.suspects.report(
            source,
            "{method} in {callID} as the {who} came from {peer}, not from"
            " the leg's address {known}: it changes nothing keepsip knows of the leg",
            method=request.method,
            callID=dialog.callID,
            who="caller" if sender is dialog.caller else "callee",
            known=sender.source,
        )

    def byeAnswered(self, request: Request, response: Response) -> None:
        """
        The final answer to a BYE that passed keepsip is being relayed: the
        dialog ends, at the time the BYE arrived, with the answer as the
        other leg's detail (C{{"caller": "BYE", "callee": "200"}}).
        """
        from keepsip.sip.headers import callID, fromHeader, toHeader

        try:
            key = (callID(request), fromHeader(request).tag or "", toHeader(request).tag or "")
        except ValueError:
            return

        def end(dialog: Dialog | None) -> None:
            if dialog is None or dialog.isTerminated:
                return
            ending = dialog.ending
            if ending is None:
                sender = dialog.legFor(key[1])
                ending = ("caller" if sender is dialog.caller else "callee", self.clock.seconds())
            who, endedAt = ending
            other = "callee" if who == "caller" else "caller"
            cause = EndCause.CALLER_BYE if who == "caller" else EndCause.CALLEE_BYE
            self.terminate(dialog, cause, {who: "BYE", other: str(response.code)}, endedAt=endedAt)

        self.lookup(key).addCallback(end).addErrback(
            lambda f: log.failure("dialog tracking failed", f)
        )

    def inviteTimedOut(self, request: Request) -> None:
        """
        The initial INVITE got no final response at all.
        """
        from keepsip.sip.headers import callID, fromHeader, toHeader

        try:
            if toHeader(request).tag:
                return
            key = (callID(request), fromHeader(request).tag or "")
        except ValueError:
            return

        def end(dialog: Dialog | None) -> None:
            if dialog is not None and not dialog.isTerminated and not dialog.isConfirmed:
                self.terminate(dialog, EndCause.NO_ANSWER, {"callee": "408"})

        self.store.byCallKey(key).addCallback(end)

    def restore(self, dialogs: list[Dialog]) -> int:
        """
        Resume the calls a persistent store loaded at start-up: a confirmed
        call is handed to the observers (C{dialogRestored}) to re-arm what
        they keep for it; a call whose BYE had passed ends now, at the time
        of that BYE; a call not answered yet ends at once (its INVITE
        transaction died with the previous process).

        @return: how many calls are up after it.
        """
        restored = 0
        for dialog in dialogs:
            if dialog.isTerminated:
                self._logStoreFailure(self.store.remove(dialog), "remove")
            elif dialog.ending is not None:
                who, endedAt = dialog.ending
                other = "callee" if who == "caller" else "caller"
                cause = EndCause.CALLER_BYE if who == "caller" else EndCause.CALLEE_BYE
                self.terminate(
                    dialog, cause, {who: "BYE", other: "unknown"}, endedAt=endedAt
                )
            elif not dialog.isConfirmed:
                self.terminate(
                    dialog,
                    EndCause.ERROR,
                    {"why": "keepsip restarted before the call was answered"},
                )
            else:
                restored += 1
                self._notify(dialog, "dialogRestored", lambda o: o.dialogRestored(dialog))
        return restored

    def terminate(
        self,
        dialog: Dialog,
        cause: str,
        detail: dict[str, str],
        endedAt: float | None = None,
        detectedAt: float | None = None,
    ) -> None:
        """
        End C{dialog}: record why and when, drop it from the store, tell the
        observers.

        @param endedAt: the end time for billing; defaults to now.
        @param detectedAt: when keepsip noticed the end; defaults to now.
        """
        if dialog.isTerminated:
            return
        now = self.clock.seconds()
        dialog.state = DialogState.TERMINATED
        dialog.endedAt = now if endedAt is None else endedAt
        dialog.detectedAt = now if detectedAt is None else detectedAt
        dialog.endCause = cause
        dialog.endDetail = dict(detail)
        self._logStoreFailure(self.store.remove(dialog), "remove")
        # Per call, so debug: the counts by cause are in the metrics
        # (keepsip_dialogs_ended_total).
        log.debug(
            "dialog ended: {callID} cause={cause}", callID=dialog.callID, cause=cause, detail=detail
        )
        detail = dialog.endDetail
        self._notify(
            dialog, "dialogTerminated", lambda o: o.dialogTerminated(dialog, cause, detail)
        )

