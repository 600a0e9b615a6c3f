"""
The edge's transaction user: what makes a keepsip an edge in front of its
local phones, in the manner of Twisted's C{ProtocolWrapper}.

L{EdgeTransactionUser} looks at each new request before the rest of the
stack (authentication, keepalive, the proxy core) and:

  - REGISTER from a local phone: adds a C{Path} naming the edge (RFC
    3327), so the core's registrar routes requests for that phone through
    the edge (one addressed to the edge itself is readdressed to the
    core), and notes the expiry asked for
    (L{keepsip.edge.registrations.EdgeRegistrations});
  - any other request outside a dialog from a local phone: appends a
    loose C{Route} to the core, its outbound proxy (after any Route naming
    the edge itself, which the core removes as its own);
  - requests from the core, requests in a dialog (they follow their route
    set) and requests for the edge itself (an OPTIONS ping) pass as they
    are.

Everything is then delegated unchanged.
"""

from __future__ import annotations

from typing import Any

from keepsip.edge.registrations import EdgeRegistrations
from keepsip.sip.address import formatHost, hostPort
from keepsip.sip.headers import toHeader
from keepsip.sip.message import Request
from keepsip.sip.uri import URI
from keepsip.transaction.interfaces import IServerTransaction
from keepsip.transaction.wrapper import TransactionUserWrapper


class EdgeTransactionUser(TransactionUserWrapper):
    """
    Adds Path and the route to the core, then delegates to C{user}.

    @param user: the wrapped L{ITransactionUser}.
    @param clock: an L{IReactorTime}.
    @param identity: the edge's L{keepsip.proxy.identity.ProxyIdentity}.
    @param core: the core's C{(host, port)}.
    @param registrations: where REGISTER expiries are noted.
    """

    def __init__(
        self,
        user: Any,
        clock: Any,
        identity: Any,
        core: tuple[str, int],
        registrations: EdgeRegistrations,
    ) -> None:
        TransactionUserWrapper.__init__(self, user)
        self.clock = clock
        self.identity = identity
        self.core = core
        self.registrations = registrations
        self.path = identity.recordRoute
        self.coreRoute = f"<sip:{hostPort(*core)};lr>"

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        source = serverTransaction.source
        if source[0] != self.core[0] or source[1] != self.core[1]:
            self._fromPhone(request, source)
        self.wrapped.requestReceived(request, serverTransaction)

    def _fromPhone(self, request: Request, source: tuple[str, int]) -> None:
        try:
            inDialog = toHeader(request).tag is not None
        except ValueError:
            return  # the core answers it
        if inDialog:
            return
        uri = request.uri
        forMe = isinstance(uri, URI) and not uri.user and self.identity.isMe(uri.host, uri.port)
        if request.method == "REGISTER":
            if forMe:
                # A phone that takes the edge for its registrar: the
                # registrar is the core's.
                request.uri = URI(formatHost(self.core[0]), port=self.core[1])
            request.headers["path"] = [self.path, *request.headers.get("path", ())]
            request.invalidate("path")
            self.registrations.registered(request, source, self.clock.seconds())
        elif forMe:
            return  # e.g. an OPTIONS ping: the edge answers it
        routes = request.headers.get("route", [])
        if self.coreRoute not in routes:
            request.headers["route"] = [*routes, self.coreRoute]
            request.invalidate("route")


__all__ = ["EdgeTransactionUser"]
