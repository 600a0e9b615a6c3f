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
        return [
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


def dialogStoreMetrics(store: Any) -> Reader:
    """
    The dialog store's writes, its failed writes and the calls it loaded at
    start (all 0 for the memory store).

    @param store: the L{keepsip.interfaces.IDialogStore}.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialog_store_operations_total",
                "counter",
                "Dialogs written to or deleted from the persistent dialog store.",
                [((), store.operations)],
            ),
            Metric(
                "keepsip_dialog_store_errors_total",
                "counter",
                "Failed writes of the dialog store (retried) and dialogs it could not serialise.",
                [((), store.errors)],
            ),
            Metric(
                "keepsip_dialog_store_loaded",
                "gauge",
                "Calls the dialog store loaded when keepsip started.",
                [((), store.loaded)],
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


def legMetrics(tracker: Any) -> Reader:
    """
    In-dialog requests from addresses that are not their leg's, and legs
    that moved (docs/keepalive.md, "Who may keep a call alive").

    @param tracker: the L{keepsip.dialog.tracker.DialogTracker}.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialog_untrusted_requests_total",
                "counter",
                "In-dialog requests not from their leg's address; they changed nothing keepsip"
                " knows of the leg.",
                [((), tracker.untrusted)],
            ),
            Metric(
                "keepsip_dialog_legs_rebound_total",
                "counter",
                "Legs moved to another address (an in-sequence request from another port of"
                " their host, or an authenticated request).",
                [((), tracker.rebound)],
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
