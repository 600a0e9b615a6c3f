"""
What the dialog tracker reads from the messages that pass: SDP bodies,
RFC 4028 Session-Expires, Contact URIs, and the route sets a 2xx's
Record-Route gives each leg (RFC 3261 §12.1).
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.headers import contacts
from keepsip.sip.message import Request, Response


def isSDP(message: Request | Response) -> bool:
    """
    Does C{message} carry an SDP body?
    """
    contentType = message.header("content-type")
    return bool(message.body) and contentType is not None and (
        contentType.split(";", 1)[0].strip().lower() == "application/sdp"
    )


def sessionExpires(message: Request | Response) -> int | None:
    """
    The delta-seconds of an RFC 4028 Session-Expires header, if any.
    """
    value = message.header("session-expires")
    if not value:
        return None
    try:
        seconds = int(value.split(";", 1)[0].strip())
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def uriString(uri: Any) -> str:
    """
    A URI as text; C{*} for none (a REGISTER's wildcard Contact).
    """
    return uri.toString() if uri is not None else "*"


def contactURI(message: Request | Response) -> str | None:
    """
    The first Contact URI of C{message} as text, or L{None}.
    """
    try:
        found = contacts(message)
    except ValueError:
        return None
    uri = found[0].uri if found else None
    return uri.toString() if uri is not None else None


def splitRouteSets(recordRoutes: list[str], mine: str) -> tuple[list[str], list[str]]:
    """
    Split a 2xx's Record-Route around keepsip's own entry C{mine}: the
    entries above it lead to the callee (reversed, nearest first), those
    below it to the caller.

    @return: C{(calleeRouteSet, callerRouteSet)}; without keepsip's entry,
        every entry leads to the callee.
    """
    for index, value in enumerate(recordRoutes):
        if value == mine:
            return list(reversed(recordRoutes[:index])), list(recordRoutes[index + 1 :])
    return list(reversed(recordRoutes)), []
