"""
L{MediaSessions}: the dialog observer that frees a call's relay ports when
the call ends, however it ends, and copies what the relay measured into the
dialog's typed fields (C{measuredBytes}, C{measuredMedia}) for accounting.

It must be told of a call's end before accounting makes the stop record
(L{keepsip.service.makeService} adds it as an observer first): a relay whose
statistics are at hand (the built-in one) then puts the final counters into
the record. An external relay (rtpengine) answers later; its record carries
the counters of the last query: when a BYE passed (the anchor asks then,
see L{keepsip.media.anchor}) or the last media-timeout check.
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
        measured = self.measure(dialog)

        def release(_: object) -> Deferred[None]:
            return self.relay.release(callID, fromTag)

        measured.addCallback(release).addErrback(
            lambda f: log.failure("releasing the media of {callID} failed", f, callID=callID)
        )


__all__ = ["IPV4_OVERHEAD", "IPV6_OVERHEAD", "MediaSessions", "recordMeasurement"]
