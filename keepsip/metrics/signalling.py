"""
Readers of the signalling layers: datagrams received and dropped by the
transport (L{transportMetrics}), transactions in progress, refused by
overload control and unanswerable (L{transactionMetrics}), and the registrar's bindings (L{registrarMetrics}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keepsip.metrics.exposition import Metric, Reader


def transportMetrics(protocols: Sequence[Any]) -> Reader:
    """
    Datagrams received and dropped, summed over every listening port.

    @param protocols: the L{keepsip.transport.udp.SIPDatagramProtocol}s.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_sip_datagrams_received_total",
                "counter",
                "SIP datagrams received.",
                [((), sum(p.received for p in protocols))],
            ),
            Metric(
                "keepsip_sip_datagrams_dropped_total",
                "counter",
                "SIP datagrams dropped or answered statelessly with an error: "
                "malformed, invalid, or responses not for keepsip.",
                [((), sum(p.dropped for p in protocols))],
            ),
        ]

    return read


def transactionMetrics(transactions: Any) -> Reader:
    """
    Transactions in progress.

    @param transactions: the L{keepsip.transaction.TransactionLayer}.
    """

    def read() -> list[Metric]:
        metrics = [
            Metric(
                "keepsip_transactions",
                "gauge",
                "SIP transactions in progress, by kind (server or client).",
                [
                    ((("kind", "server"),), transactions.serverCount),
                    ((("kind", "client"),), transactions.clientCount),
                ],
            ),
        ]
        admission = getattr(transactions, "admission", None)
        if admission is not None:
            metrics.append(
                Metric(
                    "keepsip_overload_refused_total",
                    "counter",
                    "New requests refused with 503 by overload control, by the limit hit "
                    "(global: --max-transactions, source: --max-transactions-per-source).",
                    [
                        ((("limit", "global"),), admission.refusedGlobal),
                        ((("limit", "source"),), admission.refusedSource),
                    ],
                )
            )
            metrics.append(
                Metric(
                    "keepsip_overload_blocked_total",
                    "counter",
                    "Requests dropped unread from sources blocked for ignoring Retry-After.",
                    [((), admission.blockedDropped)],
                )
            )
        metrics.append(
            Metric(
                "keepsip_requests_unanswerable_total",
                "counter",
                "New requests dropped because no response could be sent where their Via says.",
                [((), getattr(transactions, "unanswerable", 0))],
            )
        )
        return metrics

    return read


def registrarMetrics(location: Any) -> Reader:
    """
    Registered contacts.

    @param location: the L{keepsip.proxy.registrar.LocationService}.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_registrar_bindings",
                "gauge",
                "Registered contacts (expired ones are purged every 30 s).",
                [((), len(location))],
            ),
        ]

    return read
