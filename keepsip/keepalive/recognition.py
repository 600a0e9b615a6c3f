"""
Recognising a keepalive (patent claims 3-4): an in-dialog INVITE equal to
the dialog's last one, from the leg that sent it, and from where that leg
really is.

An INVITE is a keepalive when its CSeq number is that of the last INVITE
and it comes from the same leg with the same media (L{sameMedia}: the SDP
origin version may change); with the same CSeq but other media it is a
conflict; with a higher CSeq a re-INVITE; anything else is stale.
"""

from __future__ import annotations

from typing import Any

from keepsip.dialog.legs import fromLeg
from keepsip.dialog.model import Dialog, Leg
from keepsip.sip.headers import cseq, fromHeader, toHeader
from keepsip.sip.message import Request
from keepsip.sip.sdp import matchesOffer, sameMedia

#: What L{classifyInvite} says about an in-dialog INVITE.
KEEPALIVE = "keepalive"
REINVITE = "reinvite"
CONFLICT = "conflict"
STALE = "stale"


def findDialog(store: Any, request: Request) -> tuple[Dialog, Leg] | None:
    """
    The confirmed dialog of an in-dialog request and the leg that sent it.

    @param store: a memory dialog store (its synchronous C{getByDialogID}).
    @return: C{(dialog, sender)}, or L{None}.
    """
    try:
        key = (
            request.header("call-id") or "",
            fromHeader(request).tag or "",
            toHeader(request).tag or "",
        )
    except ValueError:
        return None
    dialog = store.getByDialogID(key)
    if dialog is None or not dialog.isConfirmed:
        return None
    sender = dialog.legFor(key[1])
    if sender is None:
        return None
    return dialog, sender


def classifyInvite(dialog: Dialog, sender: Leg, request: Request) -> str:
    """
    @return: L{KEEPALIVE}, L{REINVITE}, L{CONFLICT} or L{STALE}.
    """
    lastNumber = dialog.lastInviteCSeq
    if lastNumber is None:
        return STALE
    try:
        number = cseq(request).number
    except ValueError:
        return STALE
    if number == lastNumber and dialog.lastInviteSender == sender.tag:
        digest = dialog.offerDigest
        if (
            matchesOffer(request.body, digest)
            if digest
            else sameMedia(request.body, dialog.lastOfferSDP)
        ):
            return KEEPALIVE
        return CONFLICT
    if number > sender.cseq:
        return REINVITE
    return STALE


def isAuthentic(dialog: Dialog, sender: Leg, source: tuple[str, int]) -> bool:
    """
    A proof of life counts only from the leg's known address, or from the
    next hop of its route set (a proxy between keepsip and it): the rule of
    L{keepsip.dialog.legs.fromLeg}.
    """
    return fromLeg(sender, source)


__all__ = [
    "CONFLICT",
    "KEEPALIVE",
    "REINVITE",
    "STALE",
    "classifyInvite",
    "findDialog",
    "isAuthentic",
]
