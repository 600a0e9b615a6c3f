"""
keepsip's Prometheus metrics: C{GET /metrics} in the text exposition format
0.0.4, and C{GET /healthz}.

Nothing is counted here on the SIP path: C{collectMetrics} reads, at scrape
time, the counters the layers already keep (transport, keepalive manager,
reapers, rate limiter, accounting deliveries) and the sizes of their tables.
The one addition is L{EndCauseCounter
<keepsip.metrics.dialog.EndCauseCounter>}, a dialog observer adding one to a
C{dict} entry per ended call.

Each layer has a reader given the objects it reads; the composition root
(L{keepsip.service.makeService}) registers them with
L{metricsSite <keepsip.metrics.site.metricsSite>} when
C{--metrics tcp:9460:interface=127.0.0.1} is given.  This package knows no
service.  Its modules:

  - L{keepsip.metrics.exposition}: the L{Metric
    <keepsip.metrics.exposition.Metric>} family, the text format and
    C{collectMetrics}.
  - L{keepsip.metrics.site}: the HTTP resource and site.
  - one module of readers per layer: L{keepsip.metrics.signalling}
    (transport, transactions, registrar), L{keepsip.metrics.dialog} (calls,
    end causes, the dialog store, legs), L{keepsip.metrics.keepalive},
    L{keepsip.metrics.accounting}, L{keepsip.metrics.media}.
"""
