"""
The edge role's pieces, built for the composition root
(L{keepsip.service.makeService}) when C{--role edge}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred

from keepsip.edge.keepalives import EdgeKeepalives
from keepsip.edge.recorder import CoreInvites
from keepsip.edge.registrations import EdgeRegistrations
from keepsip.edge.transactionuser import EdgeTransactionUser


class EdgeService(Service):
    """
    Runs the keepalive generator's reaper while keepsip runs.

    @param keepalives: the L{EdgeKeepalives}.
    """

    name = "edge"

    def __init__(self, keepalives: EdgeKeepalives) -> None:
        self.keepalives = keepalives

    def startService(self) -> None:
        Service.startService(self)
        self.keepalives.reaper.start()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return self.keepalives.reaper.stop()


def wrapEdge(
    user: Any, clock: Any, identity: Any, core: tuple[str, int], registrations: EdgeRegistrations
) -> EdgeTransactionUser:
    """
    @return: the edge's transaction user in front of C{user}.
    """
    return EdgeTransactionUser(user, clock, identity, core, registrations)


__all__ = ["CoreInvites", "EdgeRegistrations", "EdgeService", "wrapEdge"]
