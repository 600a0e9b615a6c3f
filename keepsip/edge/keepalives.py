"""
Keepalives on behalf of ordinary phones, driven by their media (patent WO
00/33550 claims 9-10).

For each confirmed dialog whose caller is a local phone (its requests did
not come from the core), L{EdgeKeepalives} sends the core, every
C{interval} seconds, an INVITE equal to the phone's last INVITE as the
core saw it (L{keepsip.edge.recorder.CoreInvites}): the same Call-ID, From,
CSeq, Contact and SDP (after the edge's own rewriting), the callee's tag in
To, the dialog's Request-URI and Route toward the callee, and one Via of
the edge's with a fresh branch. The answer is handled here and never
reaches the phone: a 2xx is acknowledged; 481 or 408 (or no answer at all)
means the core ended or lost the call, so the edge ends it with a BYE to
both legs; other answers are logged and the keepalives go on.

Before each keepalive the media relay's statistics decide
(L{keepsip.media.sessions.MediaSessions.measure}): the keepalive is sent
only if the phone's last RTP/RTCP packet is less than C{mediaTimeout} old
(C{holdTimeout} while the phone's stream is on hold). Keepalives also stop
when the phone's registration expired
(L{keepsip.edge.registrations.EdgeRegistrations}) and when the dialog ends
(the phone's BYE, or the core's). Why they stopped is logged with the
measured volume and kept in the dialog's L{EdgeState}; L{EdgeEndDetail}
puts it into the end detail of the edge's own call record.

Once the keepalives stop the core ends the call within C{interval ×
tolerance} (+ its reaper tick) of the last one, and bills it until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from keepsip.dialog.model import Dialog, EndCause
from keepsip.dialog.observer import DialogObserver
from keepsip.edge.recorder import CoreInvites
from keepsip.edge.registrations import EdgeRegistrations
from keepsip.keepalive.bye import buildBye
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.reaper import Reaper
from keepsip.keepalive.termination import Terminator
from keepsip.logs import Logger
from keepsip.media.model import CALLEE, CALLER, MediaStats
from keepsip.sip.headers import newBranch
from keepsip.sip.message import Message, Request, Response
from keepsip.transaction.interfaces import IClientTransactionUser
from keepsip.transport.errors import TransportError

log = Logger()

#: The Reason header of the edge's BYEs when the core lost the call.
CORE_LOST_REASON = 'SIP;cause=481;text="the core no longer knows the call"'


@dataclass
class EdgeState:
    """
    The edge's keepalive bookkeeping for one dialog (an attachment).

    @ivar phone: which leg is the local phone: C{caller} (keepalive
        INVITEs) or C{callee} (in-dialog OPTIONS, see L{buildOptions}).
    @ivar sent: keepalives sent.
    @ivar answered: keepalives the core answered 2xx.
    @ivar lastSentAt: when the last one was sent, or L{None}.
    @ivar stopped: why the keepalives stopped, or L{None} while they go on.
    """

    phone: str = CALLER
    sent: int = 0
    answered: int = 0
    lastSentAt: float | None = None
    stopped: str | None = None


def _volume(stats: MediaStats | None) -> str:
    if stats is None:
        return "unknown"
    return (
        f"phone sent {stats.caller.packets} packets / {stats.caller.bytes} bytes, "
        f"received {stats.callee.packets} packets / {stats.callee.bytes} bytes"
    )


class EdgeKeepalives(DialogObserver):
    """
    Sends keepalives for local phones' calls while their media flows.

    @param clock: an L{IReactorTime}.
    @param store: the dialog store (its synchronous C{getByCallKey}).
    @param invites: the L{CoreInvites} the core forwards through.
    @param registrations: the phones' L{EdgeRegistrations}.
    @param request: starts a client transaction:
        C{request(message, (host, port), user)}.
    @param send: sends a message without a transaction (the ACKs).
    @param sentBy: the edge's C{host:port} for its Via.
    @param core: the core's C{(host, port)}.
    @param terminator: the L{Terminator} that ends a call the core lost.
    @param sessions: the L{keepsip.media.sessions.MediaSessions} whose
        statistics drive the keepalives, or L{None} without a media relay
        (keepalives then go on until the dialog or registration ends).
    @param interval: seconds between keepalives.
    @param mediaTimeout: seconds without a packet from the phone after
        which keepalives stop (0: never).
    @param holdTimeout: the same while the phone's stream is on hold.
    @param tick: seconds between runs of the reaper that sends them.

    @ivar sent: keepalives sent (a metric).
    @ivar stops: dialogs whose keepalives stopped before the dialog ended.
    """

    def __init__(
        self,
        clock: Any,
        store: Any,
        invites: CoreInvites,
        registrations: EdgeRegistrations,
        request: Any,
        send: Any,
        sentBy: str,
        core: tuple[str, int],
        terminator: Terminator,
        sessions: Any,
        interval: float,
        mediaTimeout: float,
        holdTimeout: float,
        tick: float = 1.0,
    ) -> None:
        self.clock = clock
        self.store = store
        self.invites = invites
        self.registrations = registrations
        self.request = request
        self.send = send
        self.sentBy = sentBy
        self.core = core
        self.terminator = terminator
        self.sessions = sessions
        self.interval = interval
        self.mediaTimeout = mediaTimeout
        self.holdTimeout = holdTimeout
        self.index: DeadlineIndex[tuple[str, str]] = DeadlineIndex()
        self.reaper = Reaper(clock, self.index, self._due, tick)
        self.sent = 0
        self.stops = 0

    # -- IDialogObserver ---------------------------------------------------

    def dialogConfirmed(self, dialog: Dialog) -> None:
        if self._isFromCore(dialog.caller.source):
            if self._isFromCore(dialog.callee.source):
                return  # neither leg is a local phone
            state = EdgeState(phone=CALLEE)  # a local callee: OPTIONS
        elif self.invites.lastInvite(dialog.callKey) is None:
            return  # not a call the edge sent to the core
        else:
            state = EdgeState()
        dialog.attachments.set(state)
        self.index.set(dialog.callKey, self.clock.seconds() + self.interval)

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        self.index.discard(dialog.callKey)
        self.invites.forget(dialog.callKey)

    def _isFromCore(self, source: tuple[str, int] | None) -> bool:
        return source is not None and (source[0], source[1]) == self.core

    # -- the keepalive tick ------------------------------------------------

    def _due(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or dialog.isTerminated or dialog.ending is not None:
            return None
        state = dialog.attachments.get(EdgeState)
        if state is None or state.stopped is not None:
            return None
        phone = dialog.caller if state.phone == CALLER else dialog.callee
        expiredAt = self.registrations.expiredAt(phone.source, now)
        if expiredAt is not None:
            self._stop(dialog, state, f"the phone's registration expired at {expiredAt:.3f}", None)
            return None
        if self.sessions is None:
            self._sendKeepalive(dialog, state)
            return None
        d: Deferred[None] = self.sessions.measure(dialog).addCallback(self._decide, dialog, state)
        return d

    def _decide(self, stats: MediaStats | None, dialog: Dialog, state: EdgeState) -> None:
        if dialog.isTerminated or dialog.ending is not None or state.stopped is not None:
            return
        now = self.clock.seconds()
        if stats is not None:
            phone = stats.side(CALLER if state.phone == CALLER else CALLEE)
            timeout = self.holdTimeout if phone.onHold else self.mediaTimeout
            since = phone.lastPacketAt
            if since is None:
                since = dialog.answeredAt if dialog.answeredAt is not None else now
            if timeout and now - since >= timeout:
                held = " (on hold)" if phone.onHold else ""
                last = "none" if phone.lastPacketAt is None else f"{phone.lastPacketAt:.3f}"
                self._stop(
                    dialog,
                    state,
                    f"media gone: no RTP/RTCP from the phone ({state.phone}){held} for "
                    f"{timeout:g} s, its last packet at {last}",
                    stats,
                )
                return
        self._sendKeepalive(dialog, state)

    def _stop(
        self, dialog: Dialog, state: EdgeState, why: str, stats: MediaStats | None
    ) -> None:
        state.stopped = why
        self.stops += 1
        self.index.discard(dialog.callKey)
        log.info(
            "edge keepalives stopped in {callID} after {sent}: {why}; {volume}",
            callID=dialog.callID,
            sent=state.sent,
            why=why,
            volume=_volume(stats),
        )

    # -- building and sending ----------------------------------------------

    def buildKeepalive(self, dialog: Dialog) -> Request | None:
        """
        The keepalive for C{dialog}: its last INVITE as the core saw it, in
        the dialog (To tag, Request-URI and Route toward the callee), with a
        fresh Via of the edge's.

        @return: the INVITE, or L{None} if the call has no INVITE recorded.
        """
        last = self.invites.lastInvite(dialog.callKey)
        if last is None or not dialog.callee.tag:
            return None
        # The in-dialog Request-URI and Route a request to the callee takes
        # (RFC 3261 §12.2.1.1), as for keepsip's own BYEs.
        bye, _ = buildBye(dialog, dialog.callee, self.sentBy, "z9hG4bKunused", 0, None)
        keepalive = last.copy()
        assert isinstance(keepalive, Request)
        keepalive.uri = bye.uri
        headers = keepalive.headers
        headers["via"] = [f"SIP/2.0/UDP {self.sentBy};branch={newBranch()}"]
        headers.move_to_end("via", last=False)
        headers["max-forwards"] = ["70"]
        headers.pop("record-route", None)
        headers.pop("route", None)
        for route in bye.headers.get("route", ()):
            keepalive.addHeader("route", route)
        to = headers["to"][0]
        if ";tag=" not in to.replace(" ", "").lower():
            headers["to"] = [f"{to};tag={dialog.callee.tag}"]
        for name in ("via", "max-forwards", "record-route", "route", "to"):
            keepalive.invalidate(name)
        return keepalive

    def buildOptions(self, dialog: Dialog) -> Request:
        """
        The keepalive for a local callee: an in-dialog OPTIONS in the
        callee's orientation toward the caller, CSeq the callee's highest so
        far (at least 1) so that none of the phone's later requests is lower
        than it at the far end (RFC 3261 §12.2.2). The core counts it from
        an edge listed in its C{--require-keepalives-from} (or with
        C{--keepalive-methods} naming OPTIONS and C{--keepalive-legs} the
        callee's) and forwards it to the caller, whose answer the edge
        absorbs.
        """
        number = max(dialog.callee.cseq, 1)
        bye, _ = buildBye(dialog, dialog.caller, self.sentBy, newBranch(), number, None)
        options = Request("OPTIONS", bye.uri)
        for name, values in bye.headers.items():
            if name != "content-length":
                options.headers[name] = list(values)
        options.headers["cseq"] = [f"{number} OPTIONS"]
        options.addHeader("content-length", "0")
        return options

    def _sendKeepalive(self, dialog: Dialog, state: EdgeState) -> None:
        now = self.clock.seconds()
        keepalive = (
            self.buildKeepalive(dialog) if state.phone == CALLER else self.buildOptions(dialog)
        )
        if keepalive is None:
            self._stop(dialog, state, "no INVITE of the phone's to repeat", None)
            return
        self.index.set(dialog.callKey, now + self.interval)
        state.sent += 1
        state.lastSentAt = now
        self.sent += 1
        try:
            self.request(keepalive, self.core, KeepaliveAnswer(self, dialog, keepalive))
        except TransportError as e:
            log.info("edge keepalive for {callID} not sent: {error}", callID=dialog.callID,
                     error=str(e))

    # -- answers -----------------------------------------------------------

    def answered(self, dialog: Dialog, keepalive: Request, response: Response) -> None:
        """
        The core answered a keepalive: acknowledge a 2xx; a 481 or 408
        means the core ended or lost the call, so end it here too.
        """
        state = dialog.attachments.get(EdgeState)
        code = response.code
        if 200 <= code < 300:
            if state is not None:
                state.answered += 1
            if keepalive.method == "INVITE":
                self._acknowledge(keepalive, response)
        elif code in (408, 481):
            self.coreLost(dialog, f"the core answered a keepalive {code}")
        elif code >= 300:
            log.info(
                "the core answered the keepalive for {callID} {code}",
                callID=dialog.callID,
                code=code,
            )

    def coreLost(self, dialog: Dialog, why: str) -> None:
        """
        The core no longer has the call: stop, and end it with a BYE to
        both legs (the phone's is the one that matters).
        """
        if dialog.isTerminated or dialog.ending is not None:
            return
        state = dialog.attachments.get(EdgeState)
        if state is not None and state.stopped is None:
            self._stop(dialog, state, why, None)
        now = self.clock.seconds()
        self.terminator.end(
            dialog, EndCause.KEEPALIVE_TIMEOUT, "none", now, now, why, CORE_LOST_REASON
        ).addErrback(lambda f: log.failure("ending {callID} failed", f, callID=dialog.callID))

    def _acknowledge(self, keepalive: Request, response: Response) -> None:
        ack = Request("ACK", keepalive.uri)
        add = ack.addHeader
        add("via", f"SIP/2.0/UDP {self.sentBy};branch={newBranch()}")
        add("max-forwards", "70")
        for route in keepalive.headers.get("route", ()):
            add("route", route)
        add("from", keepalive.headers["from"][0])
        add("to", response.headers["to"][0])
        add("call-id", keepalive.headers["call-id"][0])
        number = keepalive.headers["cseq"][0].split()[0]
        add("cseq", f"{number} ACK")
        add("content-length", "0")
        try:
            self.send(ack, self.core)
        except TransportError as e:
            log.info("edge keepalive ACK not sent: {error}", error=str(e))


@implementer(IClientTransactionUser)
class KeepaliveAnswer:
    """
    The client transaction user of one keepalive.
    """

    def __init__(self, keepalives: EdgeKeepalives, dialog: Dialog, keepalive: Request) -> None:
        self.keepalives = keepalives
        self.dialog = dialog
        self.keepalive = keepalive

    def responseReceived(self, response: Message, clientTransaction: Any) -> None:
        if isinstance(response, Response) and response.code >= 200:
            self.keepalives.answered(self.dialog, self.keepalive, response)

    def timedOut(self, clientTransaction: Any) -> None:
        self.keepalives.coreLost(self.dialog, "the core did not answer a keepalive (408)")

    def transportFailed(self, clientTransaction: Any) -> None:
        log.info("the core is unreachable for the keepalive of {callID}",
                 callID=self.dialog.callID)


class EdgeEndDetail(DialogObserver):
    """
    Puts why the edge's keepalives stopped into the end detail of the
    edge's own call record (C{end_detail.keepalives}); added before
    accounting so the stop record has it.
    """

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        state = dialog.attachments.get(EdgeState)
        if state is None:
            return
        why = state.stopped
        if why is None:
            phoneBye = EndCause.CALLER_BYE if state.phone == CALLER else EndCause.CALLEE_BYE
            why = "the phone's BYE" if cause == phoneBye else f"ended: {cause}"
        note = f"{why}; {state.sent} sent, {state.answered} answered"
        dialog.endDetail["keepalives"] = note


__all__ = [
    "CORE_LOST_REASON",
    "EdgeEndDetail",
    "EdgeKeepalives",
    "EdgeState",
    "KeepaliveAnswer",
]
