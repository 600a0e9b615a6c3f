"""
The registrar (RFC 3261 §10) and its location service.

Twisted's L{twisted.protocols.sip.RegisterProxy} and C{InMemoryRegistry} keep
one contact per user and expire it with C{reactor.callLater} on the global
reactor. Here the idea is the same (an L{ILocationService} the proxy consults
to route requests for its own domain) but bindings are many per
address-of-record, expire on the injected clock, and expiry is lazy: a binding
is dropped when it is looked at after its time, and a min-heap of expiry times
lets L{LocationService.purgeExpired} remove stale bindings in
O(expired × log n) without scanning every user.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from email.utils import formatdate

from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.interfaces import ILocationService
from keepsip.sip.message import Request, Response

log = Logger()


def aorKey(uri) -> str:
    """
    The address-of-record key of a SIP URI: C{user@host}, host lower-cased,
    without port or parameters (RFC 3261 §10.3 step 5 canonicalisation).
    """
    user = uri.user or ""
    return f"{user}@{uri.host.lower()}"


@dataclass
class Binding:
    contact: str
    expiresAt: float
    callID: str
    cseq: int


@implementer(ILocationService)
class LocationService:
    """
    In-memory bindings from address-of-record to contacts.
    """

    def __init__(self) -> None:
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._expiries: list[tuple[float, str, str]] = []

    def register(
        self, aor: str, contact: str, expires: int, callID: str, cseq: int, now: float
    ) -> None:
        contacts = self._bindings.setdefault(aor, {})
        if expires <= 0:
            contacts.pop(contact, None)
            if not contacts:
                del self._bindings[aor]
            return
        expiresAt = now + expires
        contacts[contact] = Binding(contact, expiresAt, callID, cseq)
        heapq.heappush(self._expiries, (expiresAt, aor, contact))

    def removeAll(self, aor: str) -> None:
        """
        Remove every binding of C{aor} (C{Contact: *} with C{Expires: 0}).
        """
        self._bindings.pop(aor, None)

    def existing(self, aor: str, contact: str) -> Binding | None:
        return self._bindings.get(aor, {}).get(contact)

    def bindings(self, aor: str, now: float) -> list[tuple[str, int]]:
        contacts = self._bindings.get(aor)
        if not contacts:
            return []
        live = []
        for binding in list(contacts.values()):
            left = binding.expiresAt - now
            if left <= 0:
                del contacts[binding.contact]
            else:
                live.append((binding.contact, int(left + 0.5)))
        if not contacts:
            del self._bindings[aor]
        return live

    def lookup(self, aor: str, now: float) -> list[str]:
        return [contact for contact, _ in self.bindings(aor, now)]

    def purgeExpired(self, now: float) -> int:
        """
        Drop every binding whose time has passed; O(expired × log n).

        @return: how many bindings were dropped.
        """
        dropped = 0
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expiresAt, aor, contact = heapq.heappop(heap)
            contacts = self._bindings.get(aor)
            if contacts is None:
                continue
            binding = contacts.get(contact)
            # A refreshed binding left a stale heap entry behind: skip it.
            if binding is not None and binding.expiresAt == expiresAt:
                del contacts[contact]
                dropped += 1
                if not contacts:
                    del self._bindings[aor]
        return dropped

    def __len__(self) -> int:
        return sum(len(c) for c in self._bindings.values())


class Registrar:
    """
    Answers REGISTER requests for keepsip's own domain.

    @param clock: an L{IReactorTime}.
    @param location: the L{LocationService} to update.
    """

    def __init__(
        self,
        clock,
        location: LocationService,
        minExpires: int = 60,
        maxExpires: int = 3600,
        defaultExpires: int = 3600,
    ) -> None:
        self.clock = clock
        self.location = location
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.defaultExpires = defaultExpires

    def handleRegister(self, request: Request) -> Response:
        """
        Apply a REGISTER and return the response to send (RFC 3261 §10.3).
        """
        from keepsip.sip.headers import contacts, cseq, toHeader
        from keepsip.sip.responses import responseFromRequest

        now = self.clock.seconds()
        try:
            to = toHeader(request)
            bindingsRequested = contacts(request)
            sequence = cseq(request).number
        except ValueError as e:
            return responseFromRequest(request, 400, f"Bad Request ({e})")
        if getattr(to.uri, "scheme", None) not in ("sip", "sips") or not getattr(
            to.uri, "host", None
        ):
            return responseFromRequest(request, 400, "Bad Request (address-of-record must be a SIP URI)")
        aor = aorKey(to.uri)
        callID = request.header("call-id") or ""
        expiresHeader = request.header("expires")
        try:
            defaultForRequest = (
                int(expiresHeader) if expiresHeader is not None else self.defaultExpires
            )
        except ValueError:
            return responseFromRequest(request, 400, "Bad Request (Expires)")

        if any(c.isWildcard for c in bindingsRequested):
            if len(bindingsRequested) != 1 or defaultForRequest != 0:
                return responseFromRequest(request, 400, "Bad Request (Contact: *)")
            self.location.removeAll(aor)
            log.info("registrar: removed all bindings of {aor}", aor=aor)
            return self._ok(request, aor, now)

        changes = []
        for contact in bindingsRequested:
            expiresParam = contact.params.get("expires")
            try:
                expires = int(expiresParam) if expiresParam else defaultForRequest
            except ValueError:
                return responseFromRequest(request, 400, "Bad Request (contact expires)")
            if expires < 0:
                return responseFromRequest(request, 400, "Bad Request (contact expires)")
            if 0 < expires < self.minExpires:
                response = responseFromRequest(request, 423, "Interval Too Brief")
                response.addHeader("min-expires", str(self.minExpires))
                return response
            expires = min(expires, self.maxExpires)
            if contact.uri is None:  # a "*" among other contacts
                return responseFromRequest(request, 400, "Bad Request (Contact: *)")
            uri = contact.uri.toString()
            old = self.location.existing(aor, uri)
            if old is not None and old.callID == callID and old.cseq >= sequence:
                # Out of order or replayed REGISTER (RFC 3261 §10.3 step 7).
                return responseFromRequest(request, 500, "Server Internal Error (stale CSeq)")
            changes.append((uri, expires))
        for uri, expires in changes:
            self.location.register(aor, uri, expires, callID, sequence, now)
            log.debug(
                "registrar: {aor} -> {contact} for {expires}s",
                aor=aor,
                contact=uri,
                expires=expires,
            )
        return self._ok(request, aor, now)

    def _ok(self, request: Request, aor: str, now: float) -> Response:
        from keepsip.sip.responses import responseFromRequest

        response = responseFromRequest(request, 200, "OK")
        for contact, left in self.location.bindings(aor, now):
            response.addHeader("contact", f"<{contact}>;expires={left}")
        response.addHeader("date", formatdate(now, usegmt=True))
        return response
