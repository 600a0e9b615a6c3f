"""
L{MediaState}: what the media layer keeps about one call, as a dialog
attachment (C{dialog.attachments.get(MediaState)}), so the dialog layer
stores it without knowing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class MediaState:
    """
    The media layer's per-call state.

    @ivar anchored: an answer (or a late offer) of the call went through
        the relay, so its media flows through it and can be watched.
    @ivar failed: the relay could not anchor an answer: the response was
        relayed unchanged and the call's media is not watched.
    @ivar changedAt: clock time the last offer or answer went through the
        relay (a side that comes back from hold is measured from then).
    @ivar quiet: set when the media timeout ends the call: the sentence
        that says which end went quiet and since when, for the end detail.
    @ivar pendingOffer: the side (C{caller}/C{callee}) whose offer went
        through the relay and awaits its answer, or L{None}: tells whether
        the SDP of a PRACK (RFC 3262) answers a reliable 18x's offer or
        makes a new offer.
    @ivar earlyOffer: C{(as sent, as rewritten)}: the offer of a
        provisional response to an INVITE without SDP, so the 2xx that
        repeats it (RFC 3262 §5) gets the same rewritten body; dropped once
        a 2xx passed.
    """

    anchored: bool = False
    failed: bool = False
    changedAt: float | None = None
    quiet: str | None = None
    pendingOffer: str | None = None
    earlyOffer: tuple[bytes, bytes] | None = None


def mediaState(dialog: Any) -> MediaState:
    """
    @return: C{dialog}'s L{MediaState}, attached now if it had none.
    """
    state: MediaState = dialog.attachments.setdefault(MediaState, MediaState)
    return state


__all__ = ["MediaState", "mediaState"]
