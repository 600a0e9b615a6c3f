"""
keepsip's Prometheus metrics: C{GET /metrics} in the text exposition format
0.0.4, and C{GET /healthz}.

Nothing is counted here on the SIP path: L{collectMetrics} reads, at scrape
time, the counters the layers already keep (transport, keepalive manager,
reapers, rate limiter, accounting deliveries) and the sizes of their tables.
The one addition is L{EndCauseCounter}, a dialog observer adding one to a
C{dict} entry per ended call.

The exposition is written by hand (L{renderExposition}) rather than with
C{prometheus_client}: keepsip's values already live in its objects, so a
registry of its own would only mirror them, and the format is a few lines.

Each layer has a reader (L{transportMetrics}, L{transactionMetrics}, ...)
given the objects it reads; the composition root (L{keepsip.service.makeService})
registers them with L{metricsSite} when C{--metrics tcp:9460:interface=127.0.0.1}
is given. This module knows no service.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from keepsip.dialog.model import Dialog, EndCause
from keepsip.dialog.observer import DialogObserver

#: The C{Content-Type} of the exposition (Prometheus text format 0.0.4).
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

#: C{(label name, label value)} pairs, in the order they are written.
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Metric:
    """
    One metric family and its samples, ready to be written.

    @ivar name: the family name, which is also every sample's name; a
        counter's ends in C{_total}.
    @ivar kind: C{"counter"} or C{"gauge"}.
    @ivar help: one line saying what is measured.
    @ivar samples: C{(labels, value)} pairs.
    """

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[Labels, float]]

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind not in ("counter", "gauge"):
            raise ValueError(f"invalid metric type {self.kind!r} for {self.name}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        for labels, _ in self.samples:
            for labelName, _value in labels:
                if not _LABEL_NAME.match(labelName) or labelName.startswith("__"):
                    raise ValueError(f"invalid label name {labelName!r} in {self.name}")


def escapeLabelValue(value: str) -> str:
    """
    Escape a label value for the text format: backslash, double quote and
    line feed.
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escapeHelp(text: str) -> str:
    """
    Escape C{# HELP} text: backslash and line feed.
    """
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def formatValue(value: float) -> str:
    """
    Write a sample value: integers without a fraction, C{NaN}, C{+Inf} and
    C{-Inf} as the format spells them.
    """
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def renderExposition(metrics: Iterable[Metric]) -> bytes:
    """
    Write metric families in the Prometheus text exposition format 0.0.4:
    for each, C{# HELP}, C{# TYPE}, then one line per sample.

    @return: UTF-8 text ending in a line feed.
    """
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {escapeHelp(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            if labels:
                text = ",".join(f'{name}="{escapeLabelValue(v)}"' for name, v in labels)
                lines.append(f"{metric.name}{{{text}}} {formatValue(value)}")
            else:
                lines.append(f"{metric.name} {formatValue(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


class EndCauseCounter(DialogObserver):
    """
    Counts ended calls by end cause: a dialog observer whose only work is
    one C{dict} update per C{dialogTerminated}.

    @ivar counts: end cause -> calls ended with it; every cause of
        L{EndCause.ALL} is present from the start (with 0), so each series
        exists before its first call ends.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(sorted(EndCause.ALL), 0)

    def dialogCreated(self, dialog: Dialog) -> None:
        pass

    def dialogEarly(self, dialog: Dialog) -> None:
        pass

    def dialogConfirmed(self, dialog: Dialog) -> None:
        pass

    def dialogUpdated(self, dialog: Dialog) -> None:
        pass

    def dialogKeptAlive(self, dialog: Dialog) -> None:
        pass

    def dialogExpired(self, dialog: Dialog) -> None:
        pass

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, Any]) -> None:
        """
        Count one call ended with C{cause}.
        """
        counts = self.counts
        counts[cause] = counts.get(cause, 0) + 1


#: A reader: called at each scrape, returns some metric families.
Reader = Callable[[], Iterable[Metric]]


def collectMetrics(readers: Iterable[Reader]) -> list[Metric]:
    """
    Read keepsip's counters and table sizes.

    @param readers: the readers the composition root registered, in the
        order their families are written.
    @return: the metric families.
    """
    return [metric for reader in readers for metric in reader()]


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


def dialogMetrics(store: Any, endCauses: EndCauseCounter) -> Reader:
    """
    Calls held and calls ended by cause.

    @param store: the L{keepsip.interfaces.IDialogStore}.
    @param endCauses: the L{EndCauseCounter} observing the dialogs.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialogs",
                "gauge",
                "Calls keepsip holds state for (early or confirmed).",
                [((), len(store))],
            ),
            Metric(
                "keepsip_dialogs_ended_total",
                "counter",
                "Calls ended, by end cause.",
                [((("cause", cause),), count) for cause, count in endCauses.counts.items()],
            ),
        ]

    return read


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
                "In-dialog requests refused because they did not come from the call's leg.",
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
        ]

    return read


class MetricsResource(Resource):
    """
    The whole HTTP tree: C{/metrics} (the exposition), C{/healthz} (C{ok}),
    404 for any other path.

    @param collect: returns the metric families at each scrape.
    """

    isLeaf = True

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        Resource.__init__(self)
        self.collect = collect

    def render_GET(self, request: Request) -> bytes:
        """
        Answer C{GET} (and C{HEAD}) by path.
        """
        path = request.path
        if path == b"/metrics":
            request.setHeader(b"content-type", CONTENT_TYPE)
            return renderExposition(self.collect())
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        if path == b"/healthz":
            return b"ok"
        request.setResponseCode(404)
        return b"not found\n"


class QuietSite(Site):
    """
    A L{Site} without an access log: a scrape every few seconds would bury
    keepsip's own log lines.
    """

    noisy = False

    def log(self, request: Any) -> None:
        pass


def metricsSite(readers: Sequence[Reader], reactor: Any) -> Site:
    """
    The HTTP site serving the metrics of C{readers}.

    @param readers: what to read at each scrape, in order.
    @param reactor: the reactor for the site's timeouts.
    """
    readers = list(readers)
    return QuietSite(MetricsResource(lambda: collectMetrics(readers)), reactor=reactor)
