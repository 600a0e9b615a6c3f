"""
Running the service: log level, the metrics endpoint and the shutdown
timeout: the operational rows of the option table.
"""

from __future__ import annotations

from keepsip.config.cores import parseWorkers, workerPort
from keepsip.config.option import Option
from keepsip.config.parsers import (
    choice,
    nonNegativeFloat,
    parseMetricsEndpoint,
)

#: The operation rows, in table order.
OPERATION: tuple[Option, ...] = (
    Option(
        "log-level",
        choice("debug", "info", "warn", "error"),
        "info",
        "Lowest level of log events emitted: debug, info, warn or error.",
        metavar="LEVEL",
    ),
    Option(
        "metrics",
        parseMetricsEndpoint,
        "",
        "Serve Prometheus metrics (GET /metrics) and a health check (GET /healthz) "
        "over HTTP on this Twisted endpoint, e.g. tcp:9460:interface=127.0.0.1 or "
        "unix:/run/keepsip/metrics.sock; off when empty.",
        metavar="ENDPOINT",
        example="tcp:9460:interface=127.0.0.1",
    ),
    Option(
        "shutdown-timeout",
        nonNegativeFloat,
        "10",
        "Seconds keepsip may take, once told to stop, to deliver the records still "
        "waiting (the stop records of the calls it ends) before it exits; what is "
        "left stays in the spool for the next start.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "workers",
        parseWorkers,
        "1",
        "Processes sharing the SIP port (SO_REUSEPORT), each with its own port for "
        "the transactions and calls it holds; auto: one per core; 1: one process "
        "(see docs/architecture.md, Workers).",
        kind="count",
        metavar="N|auto",
    ),
    Option(
        "worker-ports",
        workerPort,
        None,
        "With --workers N: worker i (1..N) also listens on FIRST+i-1 on every listen "
        "host and advertises that port in Via and Record-Route. Default: the first "
        "listen port + 1.",
        kind="integer",
        metavar="FIRST",
        example=5061,
    ),
)
