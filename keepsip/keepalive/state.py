"""
What the keepalive layer keeps about each dialog: a L{KeepaliveState}
attached to it (C{dialog.attachments.get(KeepaliveState)}).

The count and time of the last keepalive, which accounting reads, are not
here but in the dialog's typed C{keptAlive} field
(L{keepsip.dialog.model.ProofOfLife}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keepsip.keepalive.absorb import AbsorbedAnswer


@dataclass(slots=True)
class KeepaliveState:
    """
    Per-dialog keepalive bookkeeping.

    @ivar window: seconds the dialog may stay silent.
    @ivar subject: the dialog has a keepalive deadline (it is reaped when
        its keepalives stop).
    @ivar pendingAck: the CSeq number of the absorbed keepalive whose ACK
        keepsip waits for, or L{None}.
    @ivar answer: the L{AbsorbedAnswer} being retransmitted, or L{None}.
    @ivar terminating: keepsip is ending the dialog.
    @ivar forged: forged keepalives seen for the dialog.
    @ivar countedAt: when the dialog's last counted keepalive arrived, or
        L{None}: keepalives closer together than a quarter of the interval
        are answered but not counted (per-dialog flood protection).
    @ivar tooFrequent: keepalives answered but not counted for that reason.
    """

    window: float = 0.0
    subject: bool = False
    pendingAck: int | None = None
    answer: "AbsorbedAnswer | None" = None
    terminating: bool = False
    forged: int = 0
    countedAt: float | None = None
    tooFrequent: int = 0


__all__ = ["KeepaliveState"]
