"""
The reader of the media layer (L{mediaMetrics}): the relay's sessions,
streams, ports, packets and bytes, anchor failures, and the media timeout.
"""

from __future__ import annotations

from typing import Any

from keepsip.metrics.exposition import Metric, Reader


def mediaMetrics(media: Any) -> Reader:
    """
    The media relay's traffic and tables, and the calls the media timeout
    ended. Packets, bytes, streams and ports are the built-in relay's
    (rtpengine exports its own); the rest holds for both.

    @param media: the L{keepsip.media.service.MediaService}.
    """

    def read() -> list[Metric]:
        relay = media.relay
        metrics = [
            Metric(
                "keepsip_media_timeouts_total",
                "counter",
                "Calls ended because one end sent no RTP/RTCP for the media (or hold) timeout.",
                [((), media.timeouts.timeouts)],
            ),
            Metric(
                "keepsip_media_watched_calls",
                "gauge",
                "Answered calls whose media the media timeout watches.",
                [((), len(media.timeouts.index))],
            ),
            Metric(
                "keepsip_media_anchor_failures_total",
                "counter",
                "Offers or answers the media relay could not anchor (answered 488/503, or relayed unchanged).",
                [((), media.anchor.failures)],
            ),
        ]
        totals = getattr(relay, "totals", None)
        if totals is not None:
            counted = totals()
            metrics += [
                Metric(
                    "keepsip_media_relayed_packets_total",
                    "counter",
                    "RTP and RTCP datagrams the built-in relay received and relayed.",
                    [((), counted["packets"])],
                ),
                Metric(
                    "keepsip_media_relayed_bytes_total",
                    "counter",
                    "UDP payload octets of those datagrams.",
                    [((), counted["bytes"])],
                ),
                Metric(
                    "keepsip_media_dropped_packets_total",
                    "counter",
                    "Datagrams dropped because they came from another address than the latched one.",
                    [((), counted["dropped"])],
                ),
                Metric(
                    "keepsip_media_streams",
                    "gauge",
                    "Media streams (m-lines) the built-in relay relays now.",
                    [((), relay.streamCount())],
                ),
                Metric(
                    "keepsip_media_sessions",
                    "gauge",
                    "Calls holding media sessions in the built-in relay now.",
                    [((), relay.sessions)],
                ),
                Metric(
                    "keepsip_media_ports_in_use",
                    "gauge",
                    "UDP ports the built-in relay holds for calls now.",
                    [((), relay.portsInUse)],
                ),
            ]
        return metrics

    return read
