"""
The per-source keepalive ceiling, decided before a server transaction
exists.

L{KeepaliveAdmission} is an L{IAdmission} check of the transaction layer
(L{keepsip.transaction.layer.TransactionLayer.addAdmission}). It recognises
a keepalive (L{keepsip.keepalive.recognition}: an INVITE of a known
confirmed dialog equal to its last one, from the leg's own address, that has
not passed keepsip before) and takes a token from its source's
C{--keepalive-rate-limit} bucket; an empty bucket is answered C{503} with
C{Retry-After} by the layer, statelessly: a flood of keepalives over the
ceiling costs one datagram each and creates no transaction, no timer.

The decision is the manager's (L{KeepaliveManager.withinCeiling}), made once
per keepalive: the transaction user, handed an admitted keepalive next, gets
the same decision without taking a second token. Everything else (a forged
keepalive, a re-INVITE, a keepalive of a dialog being ended, a request of a
dialog only a shared store holds) is admitted untouched and handled by the
transaction user as before.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from keepsip.keepalive.manager import KeepaliveManager
from keepsip.keepalive.recognition import KEEPALIVE, classifyInvite, isAuthentic
from keepsip.logs import Logger
from keepsip.sip.headers import maxForwards, vias
from keepsip.sip.message import Request
from keepsip.transaction.interfaces import IAdmission

log = Logger()

Refusal = tuple[int, str, tuple[tuple[str, str], ...]]

#: How often, in seconds, refusals are logged (as a count, never per packet).
LOG_EVERY = 10.0


def firstPass(request: Request, sentBy: str) -> bool:
    """
    Has C{request} Max-Forwards left and not passed keepsip before (no Via
    of C{sentBy}, lower case)? Only such a request can be a keepalive.
    """
    forwards = maxForwards(request)
    if forwards is not None and forwards <= 0:
        return False
    return all(f"{via.host}:{via.port}".lower() != sentBy for via in vias(request))


@implementer(IAdmission)
class KeepaliveAdmission:
    """
    Refuses keepalives over the per-source ceiling before any transaction.

    @param manager: the L{KeepaliveManager} (dialogs, limiter, settings).
    @param sentBy: keepsip's own Via sent-by (C{host:port}).
    @ivar refused: keepalives refused (a metric; the limiter's C{denied}
        counts these and the retransmissions the transaction user charges).
    """

    def __init__(self, manager: KeepaliveManager, sentBy: str) -> None:
        self.manager = manager
        self.sentBy = sentBy.lower()
        self.refused = 0
        self._clock: Any = manager.clock
        self._loggedAt: float | None = None
        self._logged = 0
        self._answer: Refusal = (
            503,
            "Service Unavailable",
            (("retry-after", str(max(1, int(manager.settings.interval)))),),
        )

    def refusal(self, source: tuple[str, int], request: Request) -> Refusal | None:
        if request.method != "INVITE":
            return None
        manager = self.manager
        found = manager.findDialog(request)  # None without a To tag
        if found is None:
            return None
        dialog, sender, state = found
        if state.terminating or not isAuthentic(dialog, sender, source):
            return None
        if not firstPass(request, self.sentBy):
            return None
        if classifyInvite(dialog, sender, request) != KEEPALIVE:
            return None
        if manager.withinCeiling(request, source):
            return None
        self.refused += 1
        self._log(source, dialog.callID)
        return self._answer

    def _log(self, source: tuple[str, int], callID: str) -> None:
        now = self._clock.seconds()
        if self._loggedAt is not None and now - self._loggedAt < LOG_EVERY:
            return
        log.info(
            "keepalive rate limit: refused {count} keepalives (e.g. from {peer})",
            count=self.refused - self._logged,
            peer=source,
            callID=callID,
        )
        self._loggedAt = now
        self._logged = self.refused


__all__ = ["KeepaliveAdmission", "firstPass"]
