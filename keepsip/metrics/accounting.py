"""
The reader of the accounting layer (L{accountingMetrics}): records waiting,
sent and failed per backend, write errors and outages.
"""

from __future__ import annotations

from typing import Any

from keepsip.metrics.exposition import Metric, Reader


def accountingMetrics(accounting: Any) -> Reader:
    """
    Each accounting backend's backlog, deliveries and failures.

    @param accounting: the L{keepsip.accounting.tracker.AccountingTracker}.
    """

    def read() -> list[Metric]:
        deliveries = accounting.deliveries
        return [
            Metric(
                "keepsip_accounting_backlog_records",
                "gauge",
                "Call records not yet acknowledged by an accounting backend.",
                [((("backend", d.key),), d.backlog) for d in deliveries],
            ),
            Metric(
                "keepsip_accounting_records_sent_total",
                "counter",
                "Call records an accounting backend acknowledged.",
                [((("backend", d.key),), d.sent) for d in deliveries],
            ),
            Metric(
                "keepsip_accounting_send_failures_total",
                "counter",
                "Failed or timed-out sends to an accounting backend (each is retried).",
                [((("backend", d.key),), d.failures) for d in deliveries],
            ),
            Metric(
                "keepsip_accounting_write_errors_total",
                "counter",
                "Failed writes of an accounting backend's spool (disk full): the records "
                "were held in memory instead.",
                [((("backend", d.key),), d.spoolErrors) for d in deliveries],
            ),
            Metric(
                "keepsip_accounting_outage",
                "gauge",
                "1 while an accounting backend fails or its spool cannot be written.",
                [((("backend", d.key),), int(d.inOutage)) for d in deliveries],
            ),
        ]

    return read
