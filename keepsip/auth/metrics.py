"""
Authentication's metrics reader, in the shape of the readers in
L{keepsip.metrics}: it reads, at scrape time, the counters the
authentication transaction user and its admission check keep anyway.
"""

from __future__ import annotations

from typing import Any

from keepsip.metrics.exposition import Metric, Reader

#: C{kind} label of challenges, by the header that carries them.
_CHALLENGE_KINDS = (("registrar", "www-authenticate"), ("proxy", "proxy-authenticate"))


def authMetrics(user: Any) -> Reader:
    """
    Challenges, authenticated requests, refusals and rate limiting.

    @param user: the L{keepsip.auth.transactionuser.AuthTransactionUser}
        (with its C{admission}, the L{keepsip.auth.admission.AuthAdmission}).
    """

    def read() -> list[Metric]:
        limited = user.admission.limited
        return [
            Metric(
                "keepsip_auth_challenges_total",
                "counter",
                "Digest challenges sent: 401 by the registrar, 407 by the proxy.",
                [((("kind", kind),), user.challenged[header]) for kind, header in _CHALLENGE_KINDS],
            ),
            Metric(
                "keepsip_auth_authenticated_total",
                "counter",
                "Requests passed on with good credentials.",
                [((), user.authenticated)],
            ),
            Metric(
                "keepsip_auth_rejected_total",
                "counter",
                "Requests refused 403 (wrong password again, not your AOR, From or dialog).",
                [((), user.rejected)],
            ),
            Metric(
                "keepsip_auth_stale_nonces_total",
                "counter",
                "Challenges with stale=true (good credentials on an expired nonce).",
                [((), user.stale)],
            ),
            Metric(
                "keepsip_auth_rate_limited_total",
                "counter",
                "Requests refused 503 by --registrar-rate-limit (register) or"
                " --auth-challenge-rate-limit (challenge).",
                [((("kind", kind),), limited[kind]) for kind in ("register", "challenge")],
            ),
        ]

    return read


__all__ = ["authMetrics"]
