"""
Who may keep a call alive: the rule that ties a dialog's leg to an address.

A leg's address (L{Leg.source}) is learned from the transaction that created
the dialog: the caller's from where the initial INVITE came from, the
callee's from where its 2xx came from. A request is I{from the leg}
(L{fromLeg}) when it comes from that address, or from the first hop of the
leg's route set (a proxy between keepsip and the leg). Only such requests
count as proof of life, move the leg's CSeq or its last request time.

The address changes only

  - when an authentication layer vouches for a request from the leg
    (L{keepsip.dialog.tracker.DialogTracker.rebind}), or
  - with an in-sequence request (L{mayRebind}): not ACK or CANCEL, a CSeq
    above the leg's highest, the leg's tags (the dialog lookup checks
    those), and from the same host as before, only another port: a NAT
    that re-mapped a phone's port. A new host needs authentication.

See docs/keepalive.md, "Who may keep a call alive", for why.
"""

from __future__ import annotations

from collections.abc import Iterable
from sys import intern
from typing import Any, TypeVar

from keepsip.dialog.model import Leg
from keepsip.sip.address import DEFAULT_PORT, sameAddress, stripBrackets
from keepsip.sip.headers import parseNameAddr
from keepsip.sip.uri import URI

Address = tuple[str, int]
T = TypeVar("T")


def sameHost(a: Address | None, b: Address | None) -> bool:
    """
    Are C{a} and C{b} on the same host (any ports), ignoring IPv6 brackets
    and case? L{None} is nobody's address.
    """
    if a is None or b is None:
        return False
    return stripBrackets(a[0]).lower() == stripBrackets(b[0]).lower()


def routeHop(leg: Leg) -> Address | None:
    """
    The address of the first hop of C{leg}'s route set, if it has one with
    a SIP URI.
    """
    if not leg.routeSet:
        return None
    try:
        hop = parseNameAddr(leg.routeSet[0]).uri
    except ValueError:
        return None
    if not isinstance(hop, URI):
        return None
    return (hop.host, hop.port or DEFAULT_PORT)


def fromLeg(leg: Leg, source: Address) -> bool:
    """
    Is a request from C{source} from C{leg}: from its known address, or
    from the next hop of its route set?
    """
    if sameAddress(leg.source, source):
        return True
    return len(leg.routeSet) > 0 and sameAddress(routeHop(leg), source)


def mayRebind(leg: Leg, source: Address, method: str, number: int) -> bool:
    """
    May a request with CSeq C{number} and C{method} from C{source}, not
    from C{leg}'s address, move the leg there? Only an in-sequence request
    (a CSeq above the leg's highest; ACK and CANCEL repeat their INVITE's)
    from another port of the host the leg was learned on.
    """
    return (
        method != "ACK"
        and method != "CANCEL"
        and number > leg.cseq
        and sameHost(leg.source, source)
    )


#: What legs share, by content: addresses and route sets (bounded: all
#: forgotten when full, as sip.headers' memos).
_shared: dict[Any, Any] = {}
_SHARED_MAX = 4096


def _remembered(value: T) -> T:
    found = _shared.get(value)
    if found is None:
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()
        found = _shared[value] = value
    return found


def sharedAddress(source: Address | None) -> Address | None:
    """
    C{source} for keeping in a leg: the same tuple as every other leg's at
    that address, its host string shared with every leg at that host (many
    calls come from one SBC or proxy).
    """
    if source is None:
        return None
    host = source[0]
    if type(host) is not str:
        return source
    return _remembered((intern(host), source[1]))


def sharedRouteSet(routes: Iterable[str]) -> tuple[str, ...]:
    """
    A route set for keeping in a leg: a tuple, the same as every other
    leg's with these hops (every call through the same proxies has the same
    route set), each hop's string shared.
    """
    return _remembered(tuple([intern(route) for route in routes]))


__all__ = ["fromLeg", "mayRebind", "routeHop", "sameHost", "sharedAddress", "sharedRouteSet"]
