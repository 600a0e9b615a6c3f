"""
Session-timer assist (RFC 4028): keepsip inserts Session-Expires into
initial INVITEs that have none, so that capable user agents refresh the
session by themselves, and keeps a requested interval at least Min-SE.
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.message import Request
from keepsip.sip.responses import responseFromRequest

#: keepsip's own Min-SE (RFC 4028 §5: never below 90 seconds).
MIN_SE = 90


def assistSessionTimer(request: Request, serverTransaction: Any, assisted: int) -> bool:
    """
    Look at an initial INVITE before it is forwarded: add
    C{Session-Expires: assisted} (at least the Min-SE) if it has none; raise
    a too-small interval to the Min-SE if the caller does not support
    timers; answer 422 if it does.

    @param request: the INVITE; its headers may be changed.
    @param serverTransaction: where a 422 goes.
    @param assisted: the Session-Expires keepsip inserts.
    @return: L{True} if keepsip answered it (422) and it must not be
        forwarded.
    """
    headers = request.headers
    supported = {v.strip().lower() for v in headers.get("supported", ())}
    try:
        minSE = max(MIN_SE, int((headers.get("min-se") or ["0"])[0].split(";")[0]))
    except ValueError:
        minSE = MIN_SE
    values = headers.get("session-expires")
    if values:
        try:
            requested = int(values[0].split(";")[0])
        except ValueError:
            return False
        if requested >= minSE:
            return False
        if "timer" in supported:
            response = responseFromRequest(request, 422, "Session Interval Too Small")
            response.addHeader("min-se", str(minSE))
            serverTransaction.respond(response)
            return True
        # RFC 4028 §8.1: without timer support, raise it instead.
        request.setHeader("session-expires", str(minSE))
        request.setHeader("min-se", str(minSE))
        return False
    request.setHeader("session-expires", str(max(minSE, assisted)))
    return False


__all__ = ["MIN_SE", "assistSessionTimer"]
