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
    """

    anchored: bool = False
    failed: bool = False
    changedAt: float | None = None
    quiet: str | None = None


def mediaState(dialog: Any) -> MediaState:
    """
    @return: C{dialog}'s L{MediaState}, attached now if it had none.
    """
    state: MediaState = dialog.attachments.setdefault(MediaState, MediaState)
    return state


__all__ = ["MediaState", "mediaState"]
