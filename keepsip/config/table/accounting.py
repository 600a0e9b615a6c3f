"""
Billing: the accounting backends, their spool, commit delay and interim
records: the accounting rows of the option table.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    accountingSpec,
    nonEmpty,
    nonNegativeFloat,
    parseFlag,
)

#: The accounting rows, in table order.
ACCOUNTING: tuple[Option, ...] = (
    Option(
        "accounting",
        accountingSpec,
        [],
        "Where call records go, TYPE:key=value,...: jsonl:path=FILE, "
        "redis:host=H,port=P[,db=N][,stream=KEY], http:url=URL, "
        "radius:host=H,port=P,secret=S (see --help-accounting); repeatable, every "
        "backend gets every record. Default: jsonl:path=keepsip-cdr.jsonl.",
        multiple=True,
        metavar="TYPE:ARGS",
        example=["jsonl:path=/var/log/keepsip/cdr.jsonl", "redis:host=127.0.0.1,port=6379"],
    ),
    Option(
        "accounting-spool",
        nonEmpty,
        "keepsip-spool",
        "Directory where records wait, in order, while a backend is down; replayed "
        "when it is back, also after a restart.",
        metavar="DIR",
    ),
    Option(
        "accounting-commit-delay",
        nonNegativeFloat,
        "0.005",
        "Seconds records wait to be written to the spool together with one fsync "
        "(group commit); 0 commits at the end of each reactor turn. A crash loses "
        "at most this window.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-interval",
        nonNegativeFloat,
        "0",
        "Seconds between interim records of an answered call (0: none on a timer).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-on-keepalive",
        parseFlag,
        True,
        "Write an interim record on every keepalive.",
        kind="boolean",
        flag=True,
    ),
)
