"""
The dialog data model: what keepsip knows about each call passing through it.

A L{Dialog} is created when keepsip forwards an initial INVITE (a call
attempt, so unanswered attempts are tracked too), becomes I{early} with the
first tagged provisional, I{confirmed} with the 2xx, and I{terminated} on BYE,
a non-2xx final, CANCEL, or a timeout. Each side of the call is a L{Leg}, seen
from keepsip: the caller leg is the UAC that sent the initial INVITE, the
callee leg the UAS that answered it.

Terminated dialogs leave the store; observers get the final object.

State that crosses layers is typed, never a string key in a shared mapping:

  - what one layer writes and another reads is a field of L{Dialog}:
    C{sessionExpires} (the dialog tracker writes it from the 2xx, keepalive
    reads it), C{ending} (a BYE passed; tracker, read by keepalive),
    C{keptAlive} (keepalive's proof-of-life record, read by accounting) and
    C{measuredBytes} (what a media relay measured, read by accounting);
  - what one layer keeps for itself about a dialog is an I{attachment} of
    its own type in L{Dialog.attachments}, found by that type
    (C{dialog.attachments.get(KeepaliveState)}): the dialog layer stores it
    without knowing it, so it never imports the layers above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Callable, TypeVar

T = TypeVar("T")


class DialogState:
    """
    The states of a dialog, in order. A dialog only moves forward.
    """

    TRYING = "trying"  # INVITE forwarded, no tagged response yet
    EARLY = "early"  # a tagged provisional response arrived
    CONFIRMED = "confirmed"  # a 2xx arrived
    TERMINATED = "terminated"


class EndCause:
    """
    The closed vocabulary of why a call ended (shared with accounting).
    """

    CALLER_BYE = "caller-bye"
    CALLEE_BYE = "callee-bye"
    KEEPALIVE_TIMEOUT = "keepalive-timeout"
    MEDIA_TIMEOUT = "media-timeout"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    NO_ANSWER = "no-answer"  # the INVITE transaction timed out
    ACK_TIMEOUT = "ack-timeout"  # 2xx never acknowledged
    MAX_DURATION = "max-duration"
    SHUTDOWN = "shutdown"
    ERROR = "error"

    ALL = frozenset(
        {
            CALLER_BYE,
            CALLEE_BYE,
            KEEPALIVE_TIMEOUT,
            MEDIA_TIMEOUT,
            CANCELLED,
            REJECTED,
            NO_ANSWER,
            ACK_TIMEOUT,
            MAX_DURATION,
            SHUTDOWN,
            ERROR,
        }
    )


@dataclass(slots=True)
class Leg:
    """
    One side of a dialog as keepsip sees it.

    @ivar uri: the address-of-record of this side (From URI for the caller,
        To URI for the callee), as a string.
    @ivar tag: this side's tag (From tag of the caller, To tag of the callee);
        L{None} for the callee until it answers with a tag.
    @ivar cseq: the highest CSeq number seen in a request sent by this side.
    @ivar remoteTarget: this side's Contact URI (where requests to it go), as a
        string, or L{None} if not known yet.
    @ivar routeSet: the Route header values a request sent I{to} this side
        must carry (RFC 3261 §12.1), nearest hop first, as strings: a tuple
        the dialog tracker shares between legs with the same hops (replace
        it, never change it).
    @ivar source: C{(host, port)} this side's requests arrive from (the
        address keepsip received them from), or L{None}.
    @ivar lastRequestAt: clock time of the last in-dialog request received
        from this side, or L{None}.
    """

    uri: str
    tag: str | None = None
    cseq: int = 0
    remoteTarget: str | None = None
    routeSet: Sequence[str] = ()
    source: tuple[str, int] | None = None
    lastRequestAt: float | None = None


DialogID = tuple[str, str, str]


@dataclass(slots=True)
class ProofOfLife:
    """
    The keepalives seen for a dialog, as the keepalive layer records them
    for the layers that bill the call.

    @ivar count: keepalives (and other configured proofs of life) counted.
    @ivar lastAt: clock time of the last one, or L{None}.
    """

    count: int = 0
    lastAt: float | None = None


class Attachments(list):
    """
    Per-dialog state of the layers above the dialog layer, one object per
    type, found by its type.

    A short list, searched by type (a call has two or three attachments):
    half the memory of a mapping, as fast to search at this size.
    """

    __slots__ = ()

    def get(self, kind: type[T]) -> T | None:
        """
        @return: the attachment of type C{kind}, or L{None}.
        """
        for found in self:
            if type(found) is kind:
                return found
        return None

    def set(self, value: object) -> None:
        """
        Attach C{value}, replacing any attachment of its type.
        """
        kind = type(value)
        for position, found in enumerate(self):
            if type(found) is kind:
                self[position] = value
                return
        self.append(value)

    def setdefault(self, kind: type[T], factory: Callable[[], T]) -> T:
        """
        @return: the attachment of type C{kind}, made with C{factory()} and
            attached if there is none.
        """
        found = self.get(kind)
        if found is None:
            found = factory()
            self.set(found)
        return found

    def __contains__(self, kind: object) -> bool:
        return any(type(found) is kind for found in self)


class _NoDetail(dict):
    """
    The end detail of a call not ended: one empty mapping shared by every
    dialog (a call's own is made when it ends), read-only.
    """

    __slots__ = ()

    def _readOnly(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a dialog's end detail is set when it ends")

    __setitem__ = __delitem__ = update = setdefault = _readOnly
    pop = popitem = clear = __ior__ = _readOnly  # type: ignore[assignment]


#: The L{Dialog.endDetail} of a call not ended (shared, read-only).
NO_DETAIL: dict[str, str] = _NoDetail()


@dataclass(eq=False, slots=True)
class Dialog:
    """
    A call through keepsip.

    @ivar callID: the Call-ID.
    @ivar caller: the caller L{Leg}.
    @ivar callee: the callee L{Leg}.
    @ivar requestURI: the Request-URI of the initial INVITE, as received.
    @ivar state: a L{DialogState} value.
    @ivar invitedAt: clock time the initial INVITE was received.
    @ivar answeredAt: clock time the 2xx was relayed, or L{None}.
    @ivar endedAt: clock time the call ended (for billing: the last proof of
        life where that is known), or L{None}.
    @ivar detectedAt: clock time keepsip noticed the end, or L{None}.
    @ivar lastInviteCSeq: the CSeq number of the last INVITE (initial or
        re-INVITE) that passed, or L{None} (what a keepalive repeats).
    @ivar lastInviteSender: the From tag of that INVITE (its sender's tag),
        or L{None}.
    @ivar lastOfferSDP: the body of the last INVITE if it is SDP, else
        C{b""}; only until the call is answered (or the re-INVITE
        answered): the dialog tracker drops it once the observers of the
        answer have seen it, and keeps C{offerDigest} instead.
    @ivar offerDigest: the L{keepsip.sip.sdp.offerDigest} of the last
        INVITE's SDP body once it was answered (what tells a keepalive),
        else C{b""}.
    @ivar lastAnswerSDP: the SDP body of the last 2xx to an INVITE, else C{b""}.
    @ivar finalStatus: the status code of the final response to the initial
        INVITE, or L{None}.
    @ivar endCause: an L{EndCause} value once terminated.
    @ivar endDetail: a mapping with per-leg detail about the end, e.g.
        C{{"caller": "200", "callee": "408"}} or the status of a rejection;
        until the call ends, the shared read-only L{NO_DETAIL} (replace it,
        never change it).
    @ivar sessionExpires: the RFC 4028 session interval the 2xx negotiated,
        in seconds, or L{None}.
    @ivar ending: C{(who, when)} once a BYE passed keepsip: C{"caller"} or
        C{"callee"} and the clock time it arrived; the dialog ends when the
        BYE is answered.
    @ivar keptAlive: the L{ProofOfLife} the keepalive layer records.
    @ivar measuredBytes: media type -> octets a media relay relayed for the
        call (both directions, IP headers included), or L{None} if nothing
        was measured.
    @ivar measuredMedia: what the media relay counted, by media type and
        direction (C{"caller-to-callee"}, C{"callee-to-caller"}):
        C{{"packets": N, "bytes": N}} with UDP payload octets, or L{None}.
    @ivar attachments: the per-dialog state of higher layers, by type (see
        L{Attachments}).
    @ivar authUser: the user whose credentials authenticated the initial
        INVITE (the auth layer writes it, accounting reads it), or L{None}
        when the caller was not challenged (no C{--auth}, a trusted peer).
    """

    callID: str
    caller: Leg
    callee: Leg
    requestURI: str
    invitedAt: float
    state: str = DialogState.TRYING
    answeredAt: float | None = None
    endedAt: float | None = None
    detectedAt: float | None = None
    lastInviteCSeq: int | None = None
    lastInviteSender: str | None = None
    lastOfferSDP: bytes = b""
    offerDigest: bytes = b""
    lastAnswerSDP: bytes = b""
    finalStatus: int | None = None
    endCause: str | None = None
    endDetail: dict[str, str] = field(default_factory=lambda: NO_DETAIL)
    sessionExpires: int | None = None
    ending: tuple[str, float] | None = None
    keptAlive: ProofOfLife = field(default_factory=ProofOfLife)
    measuredBytes: dict[str, int] | None = None
    measuredMedia: dict[str, dict[str, dict[str, int]]] | None = None
    attachments: Attachments = field(default_factory=Attachments)
    authUser: str | None = None
    _callKey: tuple[str, str] | None = field(default=None, init=False, repr=False)

    def noteInvite(self, number: int, sender: str | None) -> None:
        """
        An INVITE with CSeq C{number} from the leg tagged C{sender} is now
        the dialog's last one (what its keepalives repeat).
        """
        self.lastInviteCSeq = number
        self.lastInviteSender = sender

    @property
    def dialogID(self) -> DialogID:
        """
        C{(Call-ID, caller tag, callee tag)}; the callee tag is C{""} until
        known.
        """
        return (self.callID, self.caller.tag or "", self.callee.tag or "")

    @property
    def callKey(self) -> tuple[str, str]:
        """
        C{(Call-ID, caller tag)}: identifies the call from its initial INVITE
        on, before the callee's tag is known.
        """
        # One tuple per dialog, shared by the store and the deadline
        # indexes keyed by it; made again only if the Call-ID or the
        # caller's tag was replaced.
        key = self._callKey
        tag = self.caller.tag or ""
        if key is None or key[0] is not self.callID or key[1] is not tag:
            key = self._callKey = (self.callID, tag)
        return key

    @property
    def hasOffer(self) -> bool:
        """
        Whether the last INVITE carried an SDP offer (its body, or its
        digest once answered).
        """
        return bool(self.lastOfferSDP or self.offerDigest)

    @property
    def isConfirmed(self) -> bool:
        return self.state == DialogState.CONFIRMED

    @property
    def isTerminated(self) -> bool:
        return self.state == DialogState.TERMINATED

    def legFor(self, tag: str | None) -> Leg | None:
        """
        Return the leg whose tag is C{tag}, or L{None}.
        """
        if tag is not None:
            if tag == self.caller.tag:
                return self.caller
            if tag == self.callee.tag:
                return self.callee
        return None

    def otherLeg(self, leg: Leg) -> Leg:
        """
        Return the leg that is not C{leg}.
        """
        return self.callee if leg is self.caller else self.caller

    @property
    def setupMilliseconds(self) -> int | None:
        """
        Milliseconds from INVITE to answer, or L{None} if unanswered.
        """
        if self.answeredAt is None:
            return None
        return int(round((self.answeredAt - self.invitedAt) * 1000))

    @property
    def talkMilliseconds(self) -> int:
        """
        Milliseconds from answer to end (0 if unanswered or not ended).
        """
        if self.answeredAt is None or self.endedAt is None:
            return 0
        return max(0, int(round((self.endedAt - self.answeredAt) * 1000)))
