"""
The reader of the keepalive layer (L{keepaliveMetrics}): calls watched,
keepalives seen, forged, expired and rate-limited, and the reapers' ticks,
reaped calls and failures.
"""

from __future__ import annotations

from typing import Any

from keepsip.metrics.exposition import Metric, Reader


def keepaliveMetrics(keepalive: Any) -> Reader:
    """
    The keepalive manager's counters and its reapers'.

    @param keepalive: the L{keepsip.keepalive.manager.KeepaliveManager}.
    """

    def read() -> list[Metric]:
        reapers = (("keepalive", keepalive.reaper), ("max-duration", keepalive.maxReaper))
        return [
            Metric(
                "keepsip_keepalive_dialogs",
                "gauge",
                "Calls with a keepalive deadline: these are reaped when their keepalives stop.",
                [((), len(keepalive.index))],
            ),
            Metric(
                "keepsip_keepalives_total",
                "counter",
                "Keepalives that refreshed a call.",
                [((), keepalive.keepalives)],
            ),
            Metric(
                "keepsip_keepalive_forged_total",
                "counter",
                "Keepalives refused or ignored because they did not come from the call's leg.",
                [((), keepalive.forged)],
            ),
            Metric(
                "keepsip_keepalive_expired_total",
                "counter",
                "Calls whose keepalives stopped and that keepsip ended with BYE.",
                [((), keepalive.expired)],
            ),
            Metric(
                "keepsip_keepalive_rate_limited_total",
                "counter",
                "Keepalives refused with 503 by the per-source rate limit.",
                [((), keepalive.limiter.denied)],
            ),
            Metric(
                "keepsip_keepalive_too_frequent_total",
                "counter",
                "Keepalives answered but not counted: within interval/4 of their dialog's last.",
                [((), keepalive.tooFrequent)],
            ),
            Metric(
                "keepsip_reaper_ticks_total",
                "counter",
                "Runs of a reaper (keepalive or max-duration).",
                [((("reaper", name),), reaper.ticks) for name, reaper in reapers],
            ),
            Metric(
                "keepsip_reaper_reaped_total",
                "counter",
                "Expired deadlines a reaper handled.",
                [((("reaper", name),), reaper.reaped) for name, reaper in reapers],
            ),
            Metric(
                "keepsip_reaper_failures_total",
                "counter",
                "Expired deadlines whose handling failed (logged).",
                [((("reaper", name),), reaper.failures) for name, reaper in reapers],
            ),
        ]

    return read
