"""
The BYE keepsip sends to a leg when a call's keepalives stopped.

keepsip is a proxy, not a party to the dialog, so it impersonates the other
party: the BYE sent to a leg is the request that leg would have received had
the other leg hung up (RFC 3261 §12.2.1.1), built from the dialog state:

  - From: the other leg's URI and tag; To: this leg's URI and tag;
  - Call-ID of the dialog; CSeq above anything the other leg sent
    (L{nextCSeq});
  - Request-URI: this leg's remote target (its Contact), or its URI if none
    is known;
  - Route: this leg's route set, loose (C{;lr}) or strict (RFC 3261
    §12.2.1.1, §16.12.1.2);
  - one Via of keepsip's own, for a client transaction of keepsip's own.

L{buildBye} also says where to send it: the first route's address, else the
remote target's.
"""

from __future__ import annotations

from keepsip.dialog.model import Dialog, Leg
from keepsip.sip.headers import parseNameAddr
from keepsip.sip.message import Request
from keepsip.sip.uri import URI, AbsoluteURI, parseURI

#: The default C{Reason} header value (RFC 3326) of a keepalive BYE.
KEEPALIVE_TIMEOUT_REASON = 'SIP;cause=408;text="keepalive timeout"'

#: URI parameters that RFC 3261 §19.1.1 does not allow in a Request-URI.
_NOT_IN_REQUEST_URI = ("method",)


def nextCSeq(dialog: Dialog, toLeg: Leg) -> int:
    """
    The CSeq number for a BYE keepsip sends to C{toLeg}.

    The BYE impersonates the other leg, so C{toLeg}'s user agent checks its
    number against the other leg's: RFC 3261 §12.2.2 lets it reject (500) a
    request whose CSeq is lower than the last one it received from its
    peer, and every request the other leg sent passed through keepsip, so
    C{otherLeg.cseq} (the highest keepsip saw from it) is at least what
    C{toLeg} saw. One above is new to C{toLeg} and, if the other leg is in
    fact still alive and sends the same number later, that is harmless:
    keepsip's transaction has its own branch and the dialog is over.

    @param dialog: the dialog.
    @param toLeg: the leg the BYE goes to (C{dialog.caller} or
        C{dialog.callee}).
    @return: C{otherLeg.cseq + 1}.
    """
    return dialog.otherLeg(toLeg).cseq + 1


def _nameAddrURI(value: str) -> URI | AbsoluteURI:
    uri = parseNameAddr(value).uri
    if uri is None:
        raise ValueError(f"wildcard where a URI was expected: {value!r}")
    return uri


def _address(uri: URI | AbsoluteURI) -> tuple[str, int] | None:
    """
    The C{(host, port)} to send to for C{uri}: IPv6 without brackets, the
    default port of the scheme if absent; L{None} if it has no host.
    """
    if not isinstance(uri, URI):
        return None
    port = uri.port
    if port is None:
        port = 5061 if uri.scheme == "sips" else 5060
    return uri.hostAddress, port


def buildBye(
    dialog: Dialog,
    toLeg: Leg,
    viaSentBy: str,
    branch: str,
    cseq: int,
    reason: str | None = KEEPALIVE_TIMEOUT_REASON,
) -> tuple[Request, tuple[str, int] | None]:
    """
    Build the in-dialog BYE keepsip sends to C{toLeg}, in that leg's
    orientation (RFC 3261 §12.2.1.1).

    @param dialog: a dialog whose legs both have tags.
    @param toLeg: C{dialog.caller} or C{dialog.callee}: the leg to send to.
    @param viaSentBy: keepsip's C{host[:port]} for the Via (IPv6 bracketed).
    @param branch: the Via branch of keepsip's client transaction, with the
        C{z9hG4bK} cookie (see L{keepsip.sip.headers.newBranch}).
    @param cseq: the CSeq number; L{nextCSeq} gives the right one.
    @param reason: the C{Reason} header value (RFC 3326), or L{None} for none.
    @return: C{(request, destination)}: the BYE and the C{(host, port)} to
        send it to (host without IPv6 brackets, maybe a name to resolve);
        C{destination} is L{None} if the next hop is not a C{sip}/C{sips}
        URI (e.g. a C{tel:} remote target), so it cannot be sent.
    @raise ValueError: if C{toLeg} is not a leg of C{dialog}, a leg has no
        tag yet, or a URI in the leg state is malformed.
    """
    if toLeg is not dialog.caller and toLeg is not dialog.callee:
        raise ValueError("toLeg is not a leg of this dialog")
    fromLeg = dialog.otherLeg(toLeg)
    if not toLeg.tag or not fromLeg.tag:
        raise ValueError(f"dialog {dialog.callID!r} has a leg without a tag")

    remoteTarget = parseURI(toLeg.remoteTarget or toLeg.uri)
    routeSet = toLeg.routeSet
    routes: list[str]
    if not routeSet:
        requestURI = remoteTarget
        routes = []
        nextHop = remoteTarget
    else:
        first = _nameAddrURI(routeSet[0])
        nextHop = first
        if isinstance(first, URI) and "lr" in first.params:
            requestURI = remoteTarget
            routes = list(routeSet)
        else:
            # A strict router: it expects itself in the Request-URI and the
            # remote target as the last route (RFC 3261 §12.2.1.1).
            if isinstance(first, URI):
                first = first.copy()
                first.uriHeaders = []
                for name in _NOT_IN_REQUEST_URI:
                    first.params.pop(name, None)
            requestURI = first
            routes = list(routeSet[1:])
            routes.append(f"<{remoteTarget.toString()}>")

    bye = Request("BYE", requestURI)
    add = bye.addHeader
    add("via", f"SIP/2.0/UDP {viaSentBy};branch={branch}")
    add("max-forwards", "70")
    for route in routes:
        add("route", route)
    add("from", f"<{fromLeg.uri}>;tag={fromLeg.tag}")
    add("to", f"<{toLeg.uri}>;tag={toLeg.tag}")
    add("call-id", dialog.callID)
    add("cseq", f"{cseq} BYE")
    if reason is not None:
        add("reason", reason)
    return bye, _address(nextHop)


__all__ = ["KEEPALIVE_TIMEOUT_REASON", "buildBye", "nextCSeq"]
