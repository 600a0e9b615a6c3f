"""
L{MediaAnchor}: the proxy core's media seam (L{keepsip.interfaces.IMediaAnchor}).

The core asks it before forwarding a request and before relaying a
response; it finds the SDP offer or answer in the message, has the relay
anchor it (L{keepsip.interfaces.IMediaRelay}) and puts the rewritten body in
keepsip's copy. Which call of the relay each message takes:

  - initial INVITE with SDP: C{allocate(..., "caller", offer)}; a failure
    answers the INVITE (C{503} + C{Retry-After}, C{488}) and it is not
    forwarded;
  - 18x/2xx to an INVITE that had an offer, 2xx to an UPDATE: C{answer} from
    the responding side; to an INVITE without SDP (late offer): the 2xx's
    offer, C{allocate(..., "callee", offer)} or C{update}, and the ACK's
    answer then goes to C{answer(..., "caller", ...)};
  - re-INVITE or UPDATE with SDP from either side: C{update(..., leg, offer)};
    a failure answers it and the call keeps its media as it was;
  - PRACK with SDP (RFC 3262): the answer to a reliable 18x's offer,
    C{answer(..., "caller", ...)}, or else a new offer, C{update}, whose
    answer in the 2xx to the PRACK goes to C{answer}; a 2xx to the INVITE
    that repeats the 18x's offer gets the same rewritten body.

An answer the relay cannot anchor is relayed as it came (a proxy cannot turn
a 2xx into an error), logged, and the call's media is then not watched.

The requests and responses the core sees are the ones the endpoints sent:
the dialog tracker records their SDP as sent (so keepalives compare with
what the endpoint sent), and only keepsip's outgoing copy carries the
relay's addresses.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.dialog.model import Dialog
from keepsip.interfaces import IMediaAnchor
from keepsip.logs import Logger
from keepsip.media.model import (
    CALLEE,
    CALLER,
    MediaRelayError,
    MediaRelayUnavailable,
    Side,
    otherSide,
)
from keepsip.media.sessions import MediaSessions
from keepsip.media.state import mediaState
from keepsip.sip.headers import callID, cseq, fromHeader, toHeader
from keepsip.sip.message import Message, Request, Response

log = Logger()

#: What the core answers when the relay failed: C{(code, phrase)} by
#: C{sipStatus}.
PHRASES = {488: "Not Acceptable Here", 503: "Service Unavailable", 500: "Server Internal Error"}

#: Seconds in the C{Retry-After} of a 503 for a relay without ports or out
#: of reach.
RETRY_AFTER = 5

Rejection = tuple[int, str, dict[str, str]]


def isSDP(message: Message) -> bool:
    """
    Whether C{message} carries an SDP body.
    """
    contentType = message.header("content-type")
    return bool(message.body) and contentType is not None and (
        contentType.split(";", 1)[0].strip().lower() == "application/sdp"
    )


def rejection(failure: Failure) -> Rejection:
    """
    How to answer a request whose media the relay could not anchor.
    """
    if failure.check(MediaRelayError):
        code = getattr(failure.value, "sipStatus", 500)
    else:
        code = 500
    headers = {"retry-after": str(RETRY_AFTER)} if code == 503 else {}
    return code, PHRASES.get(code, "Server Internal Error"), headers


@implementer(IMediaAnchor)
class MediaAnchor:
    """
    Rewrites the SDP of the messages keepsip forwards through a relay.

    @param relay: the L{keepsip.interfaces.IMediaRelay}.
    @param store: the memory dialog store (its synchronous lookups).
    @param sessions: the L{MediaSessions}, asked to measure a call when a
        BYE passes (so a record of an external relay is up to date).
    @param clock: an L{IReactorTime}.

    @ivar failures: offers or answers the relay could not anchor (a metric).
    """

    def __init__(self, relay: Any, store: Any, sessions: MediaSessions, clock: Any) -> None:
        self.relay = relay
        self.store = store
        self.sessions = sessions
        self.clock = clock
        self.failures = 0

    # -- requests ----------------------------------------------------------

    def rewriteRequest(self, request: Request, outgoing: Request) -> Deferred[Any] | None:
        method = request.method
        if method == "BYE":
            return self._measureOnBye(request)
        if method not in ("INVITE", "UPDATE", "ACK", "PRACK") or not isSDP(request):
            return None
        try:
            cid = callID(request)
            fromTag = fromHeader(request).tag or ""
            toTag = toHeader(request).tag
        except ValueError:
            return None
        body = request.body
        dialog: Dialog | None = None
        offerer: Side | None = None
        if toTag is None:
            if method != "INVITE":
                return None
            d = self.relay.allocate(cid, fromTag, CALLER, body)
        else:
            dialog = self._dialogOf(method, cid, fromTag, toTag)
            if dialog is None:
                return None
            leg: Side = CALLER if fromTag == dialog.caller.tag else CALLEE
            callerTag = dialog.caller.tag or ""
            calleeTag = (toTag if leg == CALLER else fromTag) or dialog.callee.tag or ""
            if method == "ACK" or (
                method == "PRACK" and mediaState(dialog).pendingOffer == otherSide(leg)
            ):
                # SDP in an ACK is the answer to a 2xx's (late) offer; in a
                # PRACK, to a reliable 18x's offer (RFC 3262 §5).
                d = self.relay.answer(cid, callerTag, calleeTag, leg, body)
            else:
                # A re-INVITE, an UPDATE, or a PRACK with a new offer.
                offerer = leg
                d = self.relay.update(cid, callerTag, leg, body)

        def rewritten(sdp: bytes) -> None:
            outgoing.body = sdp
            if dialog is not None:
                state = mediaState(dialog)
                state.changedAt = self.clock.seconds()
                state.pendingOffer = offerer
                if offerer is None:
                    state.anchored = True
            return None

        def failed(reason: Failure) -> Rejection:
            self.failures += 1
            self._logFailure(reason, method, cid)
            if toTag is None:
                # Nothing of this call stays at the relay.
                self.relay.release(cid, fromTag)
            return rejection(reason)

        return d.addCallbacks(rewritten, failed)

    def _dialogOf(self, method: str, cid: str, fromTag: str, toTag: str) -> Dialog | None:
        """
        The dialog of an in-dialog request or its response; for a PRACK
        (or its answer) in an early dialog the store may know the call only
        by its caller's tag (another fork's To tag).
        """
        dialog: Dialog | None = self.store.getByDialogID((cid, fromTag, toTag))
        if dialog is None and method == "PRACK":
            dialog = self.store.getByCallKey((cid, fromTag))
        return dialog

    def requestAbandoned(self, request: Request) -> None:
        try:
            if toHeader(request).tag is not None or request.method != "INVITE":
                return
            cid, fromTag = callID(request), fromHeader(request).tag or ""
        except ValueError:
            return
        self.relay.release(cid, fromTag)

    def _measureOnBye(self, request: Request) -> Deferred[None] | None:
        """
        A BYE ends the call: an external relay's session is deleted and its
        final counters recorded (L{MediaSessions.finish}) before the BYE is
        forwarded, so they are in hand when its answer ends the dialog.
        """
        try:
            key = (callID(request), fromHeader(request).tag or "", toHeader(request).tag or "")
        except ValueError:
            return None
        dialog = self.store.getByDialogID(key)
        if dialog is None or not dialog.isConfirmed or not mediaState(dialog).anchored:
            return None
        if not self.sessions.external:
            return None
        return self.sessions.finish(dialog)

    # -- responses ---------------------------------------------------------

    def rewriteResponse(self, request: Request | None, response: Response) -> Deferred[None] | None:
        code = response.code
        if not 100 < code < 300 or not isSDP(response):
            return None
        try:
            method = cseq(response).method
            cid = callID(response)
            fromTag = fromHeader(response).tag or ""
            requestToTag = toHeader(request).tag if request is not None else None
            responseToTag = toHeader(response).tag
        except ValueError:
            return None
        if method not in ("INVITE", "UPDATE", "PRACK"):
            return None
        dialog: Dialog | None
        if request is not None and requestToTag is None:
            # The initial INVITE: the callee answers.
            dialog = self.store.getByCallKey((cid, fromTag))
            responder: Side = CALLEE
            callerTag, calleeTag = fromTag, responseToTag or ""
            hadOffer = isSDP(request)
        else:
            dialog = self._dialogOf(method, cid, fromTag, responseToTag or "")
            if dialog is None:
                return None
            responder = CALLEE if fromTag == dialog.caller.tag else CALLER
            callerTag = dialog.caller.tag or ""
            calleeTag = (responseToTag if responder == CALLEE else fromTag) or (
                dialog.callee.tag or ""
            )
            if request is not None:
                hadOffer = isSDP(request)
            else:
                # A stray 2xx retransmission: an answer unless the INVITE
                # was a late offer.
                hadOffer = method != "INVITE" or dialog.hasOffer
        state = mediaState(dialog) if dialog is not None else None
        body = response.body
        early = state.earlyOffer if state is not None else None
        if code >= 200 and state is not None:
            state.earlyOffer = None
        if not hadOffer and early is not None and early[0] == body:
            # The 2xx repeats the offer of a reliable 18x (RFC 3262 §5): the
            # same rewritten body, no new offer.
            response.body = early[1]
            return None
        if hadOffer:
            d = self.relay.answer(cid, callerTag, calleeTag, responder, body)
        else:
            d = self.relay.allocate(cid, callerTag, responder, body)

        def rewritten(sdp: bytes) -> None:
            response.body = sdp
            if state is not None:
                state.changedAt = self.clock.seconds()
                state.pendingOffer = None if hadOffer else responder
                if hadOffer or code >= 200:
                    state.anchored = True
                if not hadOffer and code < 200:
                    state.earlyOffer = (body, sdp)
            return None

        def failed(reason: Failure) -> None:
            self.failures += 1
            self._logFailure(reason, f"{code} to {method}", cid)
            if state is not None and code >= 200:
                state.failed = True
            return None

        return d.addCallbacks(rewritten, failed)

    def _logFailure(self, reason: Failure, what: str, cid: str) -> None:
        if reason.check(MediaRelayUnavailable):
            log.warn(
                "media relay unavailable for {what} of {callID}: {error}",
                what=what,
                callID=cid,
                error=reason.getErrorMessage(),
            )
        elif reason.check(MediaRelayError):
            log.info(
                "media relay refused {what} of {callID}: {error}",
                what=what,
                callID=cid,
                error=reason.getErrorMessage(),
            )
        else:
            log.failure("media relay failed on {what} of {callID}", reason, what=what, callID=cid)


__all__ = ["MediaAnchor", "isSDP", "rejection"]
