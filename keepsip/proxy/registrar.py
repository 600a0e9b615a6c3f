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

from zope.interface import implementer

from keepsip.interfaces import ILocationService
from keepsip.logs import Logger
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
    #: The host the REGISTER came from, or L{None} if not known.
    source: str | None = None
    #: The REGISTER's Path header values (RFC 3327), nearest the registrar
    #: first: the route set of requests to this contact.
    path: tuple[str, ...] = ()


@implementer(ILocationService)
class LocationService:
    """
    In-memory bindings from address-of-record to contacts, counted per
    source host (so one source's share can be capped).
    """

    def __init__(self) -> None:
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._expiries: list[tuple[float, str, str]] = []
        self._perSource: dict[str, int] = {}

    def _count(self, source: str | None, delta: int) -> None:
        if source is None:
            return
        left = self._perSource.get(source, 0) + delta
        if left > 0:
            self._perSource[source] = left
        else:
            self._perSource.pop(source, None)

    def _drop(self, contacts: dict[str, Binding], contact: str) -> None:
        binding = contacts.pop(contact, None)
        if binding is not None:
            self._count(binding.source, -1)

    def fromSource(self, source: str) -> int:
        """
        How many bindings the REGISTERs from host C{source} hold.
        """
        return self._perSource.get(source, 0)

    def register(
        self,
        aor: str,
        contact: str,
        expires: int,
        callID: str,
        cseq: int,
        now: float,
        source: str | None = None,
        path: tuple[str, ...] = (),
    ) -> None:
        contacts = self._bindings.setdefault(aor, {})
        if expires <= 0:
            self._drop(contacts, contact)
            if not contacts:
                del self._bindings[aor]
            return
        expiresAt = now + expires
        self._drop(contacts, contact)
        contacts[contact] = Binding(contact, expiresAt, callID, cseq, source, path)
        self._count(source, 1)
        heapq.heappush(self._expiries, (expiresAt, aor, contact))

    def removeAll(self, aor: str) -> None:
        """
        Remove every binding of C{aor} (C{Contact: *} with C{Expires: 0}).
        """
        for binding in self._bindings.pop(aor, {}).values():
            self._count(binding.source, -1)

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
                self._drop(contacts, binding.contact)
            else:
                live.append((binding.contact, int(left + 0.5)))
        if not contacts:
            del self._bindings[aor]
        return live

    def lookup(self, aor: str, now: float) -> list[str]:
        return [contact for contact, _ in self.bindings(aor, now)]

    def routes(self, aor: str, now: float) -> list[tuple[str, tuple[str, ...]]]:
        """
        The live contacts of C{aor} with their Path (RFC 3327): C{(contact,
        route set)} pairs, the route set empty for a REGISTER without Path.
        """
        live = {contact for contact, _ in self.bindings(aor, now)}
        contacts = self._bindings.get(aor, {})
        return [(c, contacts[c].path) for c in contacts if c in live]

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
                self._drop(contacts, contact)
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
    @param maxContacts: the most contacts one address-of-record may have
        (C{--registrar-max-contacts}); 0 for no limit.
    @param maxPerSource: the most bindings the REGISTERs from one source
        host may hold; 0 for no limit.
    """

    def __init__(
        self,
        clock,
        location: LocationService,
        minExpires: int = 60,
        maxExpires: int = 3600,
        defaultExpires: int = 3600,
        maxContacts: int = 0,
        maxPerSource: int = 0,
    ) -> None:
        self.clock = clock
        self.maxContacts = maxContacts
        self.maxPerSource = maxPerSource
        self.location = location
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.defaultExpires = defaultExpires

    def handleRegister(self, request: Request, source: tuple[str, int] | None = None) -> Response:
        """
        Apply a REGISTER and return the response to send (RFC 3261 §10.3).
        A REGISTER that would give its address-of-record more than
        C{maxContacts} contacts, or its source host more than
        C{maxPerSource} bindings, changes nothing and gets 403.

        @param source: C{(host, port)} the REGISTER came from, if known.
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
            changes.append((uri, expires, old))
        refused = self._overLimits(aor, changes, source, now)
        if refused is not None:
            log.info(
                "registrar: refused {aor} from {peer}: {why}", aor=aor, peer=source, why=refused
            )
            return responseFromRequest(request, 403, f"Forbidden ({refused})")
        host = None if source is None else source[0]
        # RFC 3327 §5.3: store the Path as the contacts' route set.
        path = tuple(request.headers.get("path", ()))
        for uri, expires, _ in changes:
            self.location.register(aor, uri, expires, callID, sequence, now, host, path)
            log.debug(
                "registrar: {aor} -> {contact} for {expires}s",
                aor=aor,
                contact=uri,
                expires=expires,
            )
        return self._ok(request, aor, now)

    def _overLimits(
        self,
        aor: str,
        changes: list[tuple[str, int, Binding | None]],
        source: tuple[str, int] | None,
        now: float,
    ) -> str | None:
        """
        @return: why C{changes} would break a limit, or L{None}.
        """
        location = self.location
        live = len(location.bindings(aor, now))  # drops this AOR's expired ones
        added = sum(
            1 for uri, expires, _ in changes if expires > 0 and location.existing(aor, uri) is None
        )
        if not added:
            return None
        if self.maxContacts:
            removed = sum(
                1 for uri, expires, _ in changes if expires == 0 and location.existing(aor, uri)
            )
            if live - removed + added > self.maxContacts:
                return "too many contacts"
        if self.maxPerSource and source is not None:
            if self.location.fromSource(source[0]) + added > self.maxPerSource:
                return "too many bindings from your address"
        return None

    def _ok(self, request: Request, aor: str, now: float) -> Response:
        from keepsip.sip.responses import responseFromRequest

        response = responseFromRequest(request, 200, "OK")
        for value in request.headers.get("path", ()):
            # RFC 3327 §5.3: the Path stored is echoed.
            response.addHeader("path", value)
        for contact, left in self.location.bindings(aor, now):
            response.addHeader("contact", f"<{contact}>;expires={left}")
        response.addHeader("date", formatdate(now, usegmt=True))
        return response
