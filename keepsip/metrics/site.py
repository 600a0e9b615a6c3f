"""
The HTTP face of the metrics: L{MetricsResource} (C{GET /metrics} and
C{GET /healthz}), served by L{metricsSite} without an access log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from keepsip.metrics.exposition import (
    CONTENT_TYPE,
    Metric,
    Reader,
    collectMetrics,
    renderExposition,
)


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
