"""
The transaction layer: the RFC 3261 timers (C{TIMERS}) and the limits on
transactions in progress (C{LIMITS}): the transaction rows of the option
table.  They are two groups because the table places them apart.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    positiveFloat,
    positiveInt,
)

#: The RFC 3261 timer rows, in table order.
TIMERS: tuple[Option, ...] = (
    Option(
        "timer-t1",
        positiveFloat,
        "0.5",
        "RFC 3261 timer T1, the round-trip estimate, in seconds (must be below T2).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t2",
        positiveFloat,
        "4.0",
        "RFC 3261 timer T2, the longest retransmission interval, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t4",
        positiveFloat,
        "5.0",
        "RFC 3261 timer T4, how long a message may live in the network, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
)


#: The rows limiting transactions in progress, in table order.
LIMITS: tuple[Option, ...] = (
    Option(
        "max-transactions",
        positiveInt,
        "20000",
        "Server transactions in progress at most; above it new requests (not ACK, CANCEL "
        "or BYE) are refused statelessly with 503 and Retry-After.",
        kind="integer",
        metavar="COUNT",
    ),
    Option(
        "max-transactions-per-source",
        positiveInt,
        "2000",
        "Server transactions in progress at most from one source address; above it its new "
        "requests (not ACK or CANCEL) are refused statelessly with 503 and Retry-After.",
        kind="integer",
        metavar="COUNT",
    ),
)
