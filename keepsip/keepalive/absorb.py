"""
Absorbing a keepalive: keepsip answers it itself, from the dialog's state,
and the far end never sees it.

The 200 is the one the other leg gave (its tag, its Contact, the last
answer SDP); it is retransmitted as a UAS core does until the caller's ACK
comes, and that ACK is consumed too.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from keepsip.dialog.model import Dialog, Leg
from keepsip.keepalive.state import KeepaliveState
from keepsip.sip.message import Request, Response
from keepsip.sip.responses import responseFromRequest
from keepsip.transaction.interfaces import IServerTransaction


class AbsorbedAnswer:
    """
    The 200 keepsip gave an absorbed keepalive, retransmitted as a UAS core
    does (RFC 3261 §13.3.1.4): after T1, doubling up to T2, until the ACK
    comes or 64 × T1 have passed. Without it a lost 200 would leave the
    caller waiting for timer B, once a 100 Trying (keepsip's to an INVITE it
    retransmitted, or another hop's) has stopped its INVITE retransmissions.
    """

    def __init__(
        self,
        clock: IReactorTime,
        transaction: Any,
        response: Response,
        t1: float,
        t2: float,
    ) -> None:
        self.clock = clock
        self.transaction = transaction
        self.response = response
        self.interval = t1
        self.t2 = t2
        self.giveUpAt = clock.seconds() + 64 * t1
        self._call: IDelayedCall | None = clock.callLater(t1, self._retransmit)

    def _retransmit(self) -> None:
        self._call = None
        if self.clock.seconds() >= self.giveUpAt:
            return
        self.transaction.respond(self.response)
        self.interval = min(2 * self.interval, self.t2)
        self._call = self.clock.callLater(self.interval, self._retransmit)

    def resend(self) -> None:
        """
        The caller retransmitted its keepalive: answer it again now.
        """
        self.transaction.respond(self.response)

    def stop(self) -> None:
        """
        Stop retransmitting.
        """
        if self._call is not None:
            self._call.cancel()
            self._call = None


def answerFromState(dialog: Dialog, sender: Leg, request: Request) -> Response:
    """
    The 200 OK the other leg gave, rebuilt from the dialog: its tag, its
    Contact, the last answer SDP.
    """
    other = dialog.otherLeg(sender)
    response = responseFromRequest(request, 200, "OK")
    if other.remoteTarget:
        response.addHeader("contact", f"<{other.remoteTarget}>")
    if dialog.lastAnswerSDP:
        response.addHeader("content-type", "application/sdp")
        response.body = dialog.lastAnswerSDP
    return response


def stopAnswer(state: KeepaliveState) -> None:
    """
    Stop retransmitting the dialog's absorbed answer, if any.
    """
    if state.answer is not None:
        state.answer.stop()
        state.answer = None


def absorb(
    state: KeepaliveState,
    clock: IReactorTime,
    serverTransaction: IServerTransaction,
    answer: Response,
    number: int,
    t1: float,
    t2: float,
) -> None:
    """
    Answer a keepalive with C{answer} and retransmit it until the ACK for
    CSeq C{number} comes.
    """
    serverTransaction.respond(answer)
    stopAnswer(state)
    state.pendingAck = number
    state.answer = AbsorbedAnswer(clock, serverTransaction, answer, t1, t2)


def acknowledge(state: KeepaliveState, number: int) -> bool:
    """
    An authentic ACK with CSeq C{number} arrived in the dialog.

    @return: L{True} if it acknowledges the absorbed keepalive (it is
        consumed, and the retransmissions stop).
    """
    if state.pendingAck is None or number != state.pendingAck:
        return False
    state.pendingAck = None
    stopAnswer(state)
    return True


__all__ = ["AbsorbedAnswer", "absorb", "acknowledge", "answerFromState", "stopAnswer"]
