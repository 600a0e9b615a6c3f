"""
When each local phone's registration expires, as the edge forwarded it.

The edge is not the registrar: it forwards REGISTERs to the core with a
Path. It remembers the expiry each phone asked for (the largest of its
contacts': the C{expires} parameter, else the C{Expires} header, else 3600
s), keyed by the address the REGISTER came from, so the keepalive
generator can stop a call's keepalives once the phone's registration ran
out. A registrar may grant less than asked; a phone refreshes by then
anyway, so the edge's view errs on the long side.
"""

from __future__ import annotations

from keepsip.sip.headers import contacts
from keepsip.sip.message import Request

#: RFC 3261 §10.2.1.1's suggested default when a REGISTER names no expiry.
DEFAULT_EXPIRES = 3600


class EdgeRegistrations:
    """
    Registration expiry per phone address.
    """

    def __init__(self) -> None:
        self._expiresAt: dict[tuple[str, int], float] = {}

    def __len__(self) -> int:
        return len(self._expiresAt)

    def registered(self, request: Request, source: tuple[str, int], now: float) -> None:
        """
        A REGISTER from C{source} passed the edge: remember its expiry. An
        unparsable one changes nothing (the core answers it).
        """
        try:
            bindings = contacts(request)
            header = request.header("expires")
            default = int(header) if header is not None else DEFAULT_EXPIRES
            asked = [
                int(c.params.get("expires") or default) for c in bindings if not c.isWildcard
            ]
            if any(c.isWildcard for c in bindings):
                asked = [0]
        except (ValueError, KeyError):
            return
        if not asked:
            return  # a query: changes no binding
        self._expiresAt[source] = now + max(0, max(asked))

    def expiredAt(self, source: tuple[str, int] | None, now: float) -> float | None:
        """
        @return: when the registration from C{source} expired, if it has;
            L{None} while it holds or if C{source} never registered through
            this edge.
        """
        if source is None:
            return None
        expiresAt = self._expiresAt.get(source)
        if expiresAt is None or expiresAt > now:
            return None
        return expiresAt


__all__ = ["DEFAULT_EXPIRES", "EdgeRegistrations"]
