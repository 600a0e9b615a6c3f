"""
The media timeout: calls whose media stopped are ended like silent ones.

L{MediaTimeouts} is a dialog observer with a deadline index and a reaper,
as the keepalive layer has (L{keepsip.keepalive.deadlines.DeadlineIndex},
L{keepsip.keepalive.reaper.Reaper}): an anchored call gets a check time when
it is confirmed; at that time (and only then: a tick costs O(expired), not a
scan of all calls) the relay's statistics say when each end last sent a
packet (RTP or RTCP). An end is quiet when that is at least its timeout ago:
C{--media-timeout}, or C{--hold-timeout} for an end on hold
(L{keepsip.media.model.SideStats.onHold}). If neither end is quiet the call
is checked again when the first of them could be; if one is, keepsip sends
BYE to both legs (L{keepsip.keepalive.termination.Terminator.end}) and ends
the call with cause C{media-timeout}, billed until the quiet end's last
packet (both quiet: the later of the two), with an end detail saying which
end went quiet and what each BYE got back. Media from the other end alone
does not keep a call alive.

A call is detected at most C{timeout + tick} after the quiet end's last
packet (plus the relay's answer time; rtpengine reports whole seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred

from keepsip.dialog.model import Dialog, EndCause
from keepsip.dialog.observer import DialogObserver
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.reaper import Reaper
from keepsip.keepalive.termination import Terminator, beingEnded
from keepsip.logs import Logger
from keepsip.media.model import CALLEE, CALLER, MediaStats
from keepsip.media.sessions import MediaSessions
from keepsip.media.state import mediaState

log = Logger()

#: The Reason header of keepsip's BYEs for a call whose media stopped.
MEDIA_TIMEOUT_REASON = 'SIP;cause=408;text="media timeout"'

#: Seconds before a call whose statistics could not be read is checked
#: again (at most its timeout).
RETRY = 10.0


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class MediaEndDetail:
    """
    The dialog tracker as the media timeout's L{Terminator} sees it: the end
    detail's C{why} says which end's media stopped, then what each BYE got
    back. Everything else goes to the real tracker.

    @param tracker: the L{keepsip.dialog.tracker.DialogTracker}.
    """

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def terminate(
        self,
        dialog: Dialog,
        cause: str,
        detail: dict[str, str],
        endedAt: float | None = None,
        detectedAt: float | None = None,
    ) -> None:
        detail = dict(detail)
        quiet = mediaState(dialog).quiet or "media stopped"
        outcomes = [
            f"BYE to {leg}: {detail[leg]}" for leg in (CALLER, CALLEE) if leg in detail
        ]
        why = "; ".join([quiet] + outcomes)
        if "why" in detail and detail["why"].endswith("could not be completed"):
            why = f"{why}; the BYEs could not be completed"
        detail["why"] = why
        self.tracker.terminate(dialog, cause, detail, endedAt=endedAt, detectedAt=detectedAt)


class MediaTimeouts(DialogObserver):
    """
    Ends calls whose media stopped; see the module docstring.

    @param clock: an L{IReactorTime}.
    @param store: the memory dialog store (synchronous lookups).
    @param sessions: the L{MediaSessions} that query the relay (and record
        what it measured on the way).
    @param terminator: a L{Terminator} built on a L{MediaEndDetail}.
    @param mediaTimeout: C{--media-timeout}, seconds; 0 for off.
    @param holdTimeout: C{--hold-timeout}, seconds; 0 for never.
    @param tick: seconds between reaper runs.

    @ivar timeouts: calls ended for their media (a metric).
    @ivar checks: statistics queries made (a metric).
    """

    def __init__(
        self,
        clock: Any,
        store: Any,
        sessions: MediaSessions,
        terminator: Terminator,
        mediaTimeout: float,
        holdTimeout: float,
        tick: float = 1.0,
    ) -> None:
        self.clock = clock
        self.store = store
        self.sessions = sessions
        self.terminator = terminator
        self.mediaTimeout = mediaTimeout
        self.holdTimeout = holdTimeout
        self.index: DeadlineIndex[tuple[str, str]] = DeadlineIndex()
        self.reaper = Reaper(clock, self.index, self._check, tick)
        self.timeouts = 0
        self.checks = 0

    @property
    def enabled(self) -> bool:
        return bool(self.mediaTimeout or self.holdTimeout)

    def _first(self) -> float:
        return min(t for t in (self.mediaTimeout, self.holdTimeout) if t)

    # -- IDialogObserver ---------------------------------------------------

    def dialogConfirmed(self, dialog: Dialog) -> None:
        if not self.enabled:
            return
        state = mediaState(dialog)
        if not state.anchored or state.failed:
            return
        self.index.set(dialog.callKey, self.clock.seconds() + self._first())

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        self.index.discard(dialog.callKey)

    # -- the check ---------------------------------------------------------

    def _check(self, key: Any, when: float, now: float) -> Deferred[None] | None:
        dialog = self.store.getByCallKey(key)
        if dialog is None or beingEnded(dialog) or dialog.ending is not None:
            return None
        if mediaState(dialog).failed:
            return None
        self.checks += 1
        d = self.sessions.measure(dialog)
        return d.addCallback(self._decide, dialog, key)

    def _decide(self, stats: MediaStats | None, dialog: Dialog, key: Any) -> Deferred[None] | None:
        if beingEnded(dialog) or dialog.ending is not None:
            # Ended meanwhile: by a BYE, or by the keepalive reaper.
            return None
        now = self.clock.seconds()
        if stats is None:
            self.index.set(key, now + min(RETRY, self._first()))
            return None
        state = mediaState(dialog)
        since = max(t for t in (dialog.answeredAt, state.changedAt, dialog.invitedAt) if t is not None)
        quiet: list[tuple[str, float, float, bool]] = []
        nextCheck: float | None = None
        for name in (CALLER, CALLEE):
            side = stats.side(name)
            timeout = self.holdTimeout if side.onHold else self.mediaTimeout
            if not timeout:
                continue
            last = side.lastPacketAt
            due = max(last if last is not None else since, since) + timeout
            if due <= now:
                quiet.append((name, last if last is not None else since, timeout, side.onHold))
            elif nextCheck is None or due < nextCheck:
                nextCheck = due
        if not quiet:
            if nextCheck is not None:
                self.index.set(key, nextCheck)
            return None
        return self._end(dialog, quiet, now)

    def _end(
        self, dialog: Dialog, quiet: list[tuple[str, float, float, bool]], now: float
    ) -> Deferred[None]:
        self.timeouts += 1
        self.index.discard(dialog.callKey)
        parts = []
        for name, last, timeout, onHold in quiet:
            held = " (on hold)" if onHold else ""
            parts.append(
                f"no RTP/RTCP from the {name}{held} for {timeout:g} s, "
                f"its last packet at {_when(last)}"
            )
        mediaState(dialog).quiet = "; ".join(parts)
        silent = quiet[0][0] if len(quiet) == 1 else "both"
        endedAt = max(last for _, last, _, _ in quiet)
        log.info(
            "media stopped in {callID}: {quiet}, ending it",
            callID=dialog.callID,
            quiet=mediaState(dialog).quiet,
        )
        # An external relay's final counters, before the BYEs go out.
        finished = self.sessions.finish(dialog)
        return finished.addCallback(
            lambda _: self.terminator.end(
                dialog,
                EndCause.MEDIA_TIMEOUT,
                silent,
                endedAt,
                now,
                "media stopped",
                MEDIA_TIMEOUT_REASON,
            )
        )


__all__ = ["MEDIA_TIMEOUT_REASON", "MediaEndDetail", "MediaTimeouts"]
