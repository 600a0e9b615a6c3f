"""
L{MediaSessions}: the dialog observer that frees a call's relay ports when
the call ends, however it ends, and copies what the relay measured into the
dialog's typed fields (C{measuredBytes}, C{measuredMedia}) for accounting.

It must be told of a call's end before accounting makes the stop record
(L{keepsip.service.makeService} adds it as an observer first): a relay whose
statistics are at hand (the built-in one) then puts the final counters into
the record. An external relay (rtpengine) answers later, so its call is
deleted, and its final counters (the C{delete} answer's) recorded, before
the call's end is known: when a BYE passes (the anchor forwards it once
rtpengine answered, see L{keepsip.media.anchor}), when the keepalive reaper
finds the call expired (before its BYEs go out), or when the media timeout
ends it (before its BYEs go out). L{MediaSessions.finish} does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from keepsip.dialog.model import Dialog
from keepsip.dialog.observer import DialogObserver
from keepsip.logs import Logger
from keepsip.media.model import MediaRelayError, MediaStats

log = Logger()

#: IPv4 (20) + UDP (8) header octets per packet, added to the relay's
#: payload octets for C{measuredBytes} (which counts octets on the wire).
IPV4_OVERHEAD = 28
#: IPv6 (40) + UDP (8).
IPV6_OVERHEAD = 48


def recordMeasurement(dialog: Dialog, stats: MediaStats, overhead: int) -> None:
    """
    Put C{stats} into C{dialog}'s typed fields: C{measuredMedia} (packets
    and payload octets per media type and direction) and C{measuredBytes}
    (octets on the wire per media type, both directions).

    @param overhead: IP + UDP header octets per packet.
    """
    volume = stats.volume()
    if not volume:
        return
    dialog.measuredMedia = volume
    dialog.measuredBytes = {
        mediaType: sum(d["bytes"] + overhead * d["packets"] for d in directions.values())
        for mediaType, directions in volume.items()
    }


class MediaSessions(DialogObserver):
    """
    Measures and releases the relay's media sessions of calls.

    @param relay: the L{keepsip.interfaces.IMediaRelay}.
    @param overhead: IP + UDP header octets per packet (L{IPV4_OVERHEAD} or
        L{IPV6_OVERHEAD}).

    @ivar released: calls whose media sessions were released (a metric).
    """

    def __init__(self, relay: Any, overhead: int = IPV4_OVERHEAD) -> None:
        self.relay = relay
        self.overhead = overhead
        self.released = 0
        # Calls whose session finish() deleted, until they end.
        self._finished: set[tuple[str, str]] = set()

    @property
    def external(self) -> bool:
        """
        Whether the relay's final counters come from deleting the call
        (rtpengine: C{finalStatistics}) rather than at once.
        """
        return callable(getattr(self.relay, "finalStatistics", None))

    def finish(self, dialog: Dialog) -> Deferred[None]:
        """
        The call is ending: for an external relay, delete its session now
        and record the final counters the relay answers with; its end then
        releases nothing. Nothing for the built-in relay, whose counters
        are final when the call ends.

        @return: a Deferred firing when the counters are recorded (or the
            relay failed, logged); it does not fail.
        """
        key = dialog.callKey
        if not self.external or key in self._finished:
            return succeed(None)
        self._finished.add(key)
        callID, fromTag = key
        d: Deferred[MediaStats] = self.relay.finalStatistics(callID, fromTag)

        def got(stats: MediaStats) -> None:
            recordMeasurement(dialog, stats, self.overhead)

        def failed(reason: Failure) -> None:
            log.info(
                "no final media statistics for {callID}: {error}",
                callID=callID,
                error=reason.getErrorMessage(),
            )

        return d.addCallbacks(got, failed)

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        The keepalive reaper ends the call: its BYEs follow, so take the
        final counters now.
        """
        self.finish(dialog)

    def measure(self, dialog: Dialog) -> Deferred[MediaStats | None]:
        """
        Ask the relay for the call's statistics and record them in the
        dialog (L{recordMeasurement}).

        @return: a Deferred firing with the L{MediaStats}, or L{None} if the
            relay holds no session for the call or could not answer
            (logged); it does not fail.
        """
        callID, fromTag = dialog.callKey
        try:
            d: Deferred[MediaStats] = self.relay.statistics(callID, fromTag)
        except Exception:
            log.failure("media statistics of {callID} failed", callID=callID)
            return succeed(None)

        def got(stats: MediaStats) -> MediaStats:
            recordMeasurement(dialog, stats, self.overhead)
            return stats

        def failed(reason: Failure) -> None:
            if reason.check(MediaRelayError):
                log.info(
                    "no media statistics for {callID}: {error}",
                    callID=callID,
                    error=reason.getErrorMessage(),
                )
            else:
                log.failure("media statistics of {callID} failed", reason, callID=callID)
            return None

        result: Deferred[MediaStats | None] = d.addCallbacks(got, failed)
        return result

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        """
        The call ended: take the final counters (at once for the built-in
        relay), then release its ports.
        """
        callID, fromTag = dialog.callKey
        self.released += 1
        if dialog.callKey in self._finished:
            # Deleted already (finish), its final counters recorded.
            self._finished.discard(dialog.callKey)
            return
        measured = self.measure(dialog)

        def release(_: object) -> Deferred[None]:
            return self.relay.release(callID, fromTag)

        measured.addCallback(release).addErrback(
            lambda f: log.failure("releasing the media of {callID} failed", f, callID=callID)
        )


__all__ = ["IPV4_OVERHEAD", "IPV6_OVERHEAD", "MediaSessions", "recordMeasurement"]
