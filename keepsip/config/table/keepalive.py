"""
The keepalive ("continue call") method: interval, tolerance, policy, legs,
methods, session-timer assist, end time and rate limit; the rows that feed
L{keepsip.keepalive.manager.KeepaliveSettings}.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    choice,
    methodList,
    nonNegativeFloat,
    optionalNetworks,
    parseFlag,
    positiveFloat,
)

#: The keepalive rows, in table order.
KEEPALIVE: tuple[Option, ...] = (
    Option(
        "keepalive-interval",
        positiveFloat,
        "30",
        "Seconds between the keepalives (INVITEs equal to the last one) endpoints send.",
        kind="float",
        metavar="SECONDS",
        keepalive="interval",
    ),
    Option(
        "keepalive-tolerance",
        positiveFloat,
        "2",
        "Missed keepalive intervals before a call is considered over (may be "
        "fractional): the deadline is last proof of life + interval x tolerance.",
        kind="float",
        metavar="N",
        keepalive="tolerance",
    ),
    Option(
        "reaper-tick",
        positiveFloat,
        "1",
        "Seconds between two runs of the reaper that ends expired calls.",
        kind="float",
        metavar="SECONDS",
        keepalive="reaperTick",
    ),
    Option(
        "keepalive-policy",
        choice("absorb", "forward"),
        "absorb",
        "absorb: keepsip answers keepalives itself from the dialog state; forward: "
        "they travel end to end and the callee answers.",
        metavar="absorb|forward",
        keepalive="policy",
    ),
    Option(
        "keepalive-legs",
        choice("caller", "callee", "either"),
        "caller",
        "Whose keepalives keep a call alive: caller, callee or either.",
        metavar="caller|callee|either",
        keepalive="legs",
    ),
    Option(
        "reap",
        choice("require", "opportunistic", "off"),
        "opportunistic",
        "require: every answered call must be kept alive; opportunistic: a call is "
        "reaped only once it has sent a keepalive; off: never reap on keepalives.",
        metavar="require|opportunistic|off",
        keepalive="reap",
    ),
    Option(
        "max-duration",
        nonNegativeFloat,
        "14400",
        "End any answered call after this many seconds, keepalives or not (0: never).",
        kind="float",
        metavar="SECONDS",
        keepalive="maxDuration",
    ),
    Option(
        "keepalive-methods",
        methodList,
        "INVITE",
        "Comma-separated requests that count as keepalives: INVITE, OPTIONS, UPDATE, "
        "INFO, SESSION-REFRESH (RFC 4028 refreshes).",
        metavar="INVITE,OPTIONS,...",
        keepalive="methods",
    ),
    Option(
        "session-timer-assist",
        parseFlag,
        False,
        "Insert an RFC 4028 Session-Expires (2 x interval, at least 90 s) into INVITEs "
        "that have none, so capable user agents refresh the call by themselves.",
        kind="boolean",
        flag=True,
        keepalive="sessionTimerAssist",
    ),
    Option(
        "end-time",
        choice("last-proof", "detection"),
        "last-proof",
        "The billed end of a reaped call: its last proof of life, or the moment "
        "keepsip noticed. Both are recorded.",
        metavar="last-proof|detection",
        keepalive="endTime",
    ),
    Option(
        "keepalive-rate-limit",
        positiveFloat,
        "1000",
        "Ceiling on keepalives per second from one source address (burst: twice "
        "that); more get 503. Above it, each dialog's keepalives count at most once "
        "per interval/4. The default lets one edge or PBX keep 30,000 calls alive.",
        kind="float",
        metavar="PER-SECOND",
        keepalive="rateLimit",
    ),
    Option(
        "require-keepalives-from",
        optionalNetworks,
        "",
        "Calls with a leg through these sources (keepsip edges, CIDR[,CIDR...]) are reaped "
        "like --reap require under opportunistic; their in-dialog OPTIONS count as keepalives.",
        metavar="CIDR[,CIDR...]",
        example="192.0.2.0/24",
        keepalive="requireFrom",
    ),
)
