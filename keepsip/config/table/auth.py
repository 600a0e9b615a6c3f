"""
Who may use the proxy: digest authentication, its nonces and rate limit, and
the trusted peers: the authentication rows of the option table.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    anyText,
    authSpec,
    digestAlgorithms,
    nonEmpty,
    nonNegativeFloat,
    parseFlag,
    positiveFloat,
    trustedNetworks,
)

#: The auth rows, in table order.
AUTH: tuple[Option, ...] = (
    Option(
        "auth",
        authSpec,
        "none",
        "Digest authentication with a twisted.cred checker, TYPE:ARGS, e.g. "
        "htdigest:path=FILE (see --help-auth and docs/auth.md); none: registrar and proxy "
        "are open to anyone.",
        metavar="TYPE:ARGS",
        example="htdigest:path=/etc/keepsip/users.htdigest",
    ),
    Option(
        "auth-realm",
        nonEmpty,
        None,
        "Digest realm. Default: the first --domain (sorted), else the advertise host.",
        metavar="REALM",
        example="sip.example.com",
    ),
    Option(
        "auth-algorithms",
        digestAlgorithms,
        "MD5",
        "Digest algorithms offered, most preferred first: SHA-256, MD5 (RFC 8760).",
        metavar="SHA-256,MD5",
    ),
    Option(
        "auth-nonce-lifetime",
        positiveFloat,
        "300",
        "Seconds a nonce stays fresh; an older one is answered with stale=true.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "auth-secret",
        anyText,
        "",
        "Key of the nonces' HMAC-SHA256 (several nodes: the same key); empty: random per process.",
        metavar="TEXT",
    ),
    Option(
        "auth-from-check",
        parseFlag,
        True,
        "An authenticated user may only place calls whose From user is its own user name.",
        kind="boolean",
        flag=True,
    ),
    Option(
        "auth-challenge-rate-limit",
        nonNegativeFloat,
        "20",
        "Challenges per second to one source address (burst: 2x, min 10); then 503 (0: no limit).",
        kind="float",
        metavar="PER-SECOND",
    ),
    Option(
        "trusted",
        trustedNetworks,
        [],
        "Peers (CIDR[,CIDR...]) neither challenged nor rate-limited (carriers); repeatable.",
        multiple=True,
        metavar="CIDR[,CIDR...]",
        example=["192.0.2.0/24", "2001:db8::1"],
    ),
)
