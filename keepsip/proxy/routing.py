"""
Routing decisions of the proxy core (RFC 3261 §16.3 - §16.5): the
loop-detection hash, loop detection, and target selection.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.registrar import Registrar, aorKey
from keepsip.sip.address import DEFAULT_PORT, stripBrackets
from keepsip.sip.headers import vias
from keepsip.sip.message import Request
from keepsip.sip.uri import URI, parseURI

#: The RFC 3261 branch prefix; keepsip's own branches go on with C{ks}.
LOOP_MAGIC = "z9hG4bK"

DEFAULT_MAX_FORWARDS = 70


def loopHash(request: Request) -> str:
    """
    The loop-detection hash of RFC 3261 §16.6 step 8 over the fields that
    §16.3 step 4 names, taken from the request as received.
    """
    headers = request.headers
    parts = [
        request.uri.toString(),
        headers.get("call-id", [""])[0],
        headers.get("from", [""])[0],
        headers.get("to", [""])[0],
        headers.get("cseq", [""])[0].split(None, 1)[0] if headers.get("cseq") else "",
        ",".join(headers.get("route", ())),
        ",".join(headers.get("proxy-require", ())),
        ",".join(headers.get("proxy-authorization", ())),
    ]
    return hashlib.blake2s("\x00".join(parts).encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()


def uriAddress(uri: URI) -> tuple[str, int]:
    maddr = uri.params.get("maddr") if uri.params else None
    host = maddr or uri.host
    return stripBrackets(host), uri.port or DEFAULT_PORT


def isResolvableName(host: str) -> bool:
    """
    Could C{host} (not an IP literal) be looked up in the DNS at all? Every
    label 1 to 63 octets once IDNA-encoded, the whole name at most 253 (RFC
    1035 §2.3.4; a trailing dot allowed). Twisted's resolver fails on any
    other name inside its thread (C{UnicodeError} from the IDNA codec) and
    the Deferred C{reactor.resolve} returned never fires, so such a name is
    refused before it gets there.
    """
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        return False
    try:
        encoded = name.encode("idna")
    except UnicodeError:
        return False
    if len(encoded) > 253:
        return False
    return all(0 < len(label) <= 63 for label in encoded.split(b"."))


def isLoop(request: Request, sentBy: str) -> bool:
    """
    §16.3 step 4: a Via of ours (C{sentBy}) whose loop hash equals this
    request's means the request came back unchanged (a loop, not a spiral).
    """
    prefix = LOOP_MAGIC + "ks"
    mine = [
        value
        for value in request.headers.get("via", ())
        if sentBy in value and prefix in value
    ]
    if not mine:
        return False
    expected = loopHash(request)
    for via in vias(request):
        branch = via.branch or ""
        if branch.startswith(prefix) and f"{via.host}:{via.port}".lower() == sentBy.lower():
            if branch[len(prefix) :].split(".", 1)[0] == expected:
                return True
    return False

def selectTargets(
    request: Request,
    identity: ProxyIdentity,
    registrar: Registrar | None,
    routeFor: Callable[[str | None, str], tuple[str, int] | None],
    now: float,
) -> list[tuple[Any, tuple[str, int] | None, tuple[str, ...]]] | tuple[int, str]:
    """
    §16.5: the targets as C{(Request-URI, next hop or None, Route values)}
    triples, or C{(status, phrase)} if there is none: the registrar's
    bindings (with the Path they were registered through as their Route,
    RFC 3327), then the static routes (C{routeFor}), then the Request-URI
    itself.

    @param now: the time (for the bindings' expiry).
    """
    uri = request.uri
    if request.headers.get("route"):
        return [(None, None, ())]
    if not isinstance(uri, URI) or uri.scheme not in ("sip",):
        if getattr(uri, "scheme", None) == "sips":
            return (480, "Temporarily Unavailable (no TLS transport for sips)")
        return (416, "Unsupported URI Scheme")
    ownDomain = identity.isOwnDomain(uri.host, uri.port)
    if ownDomain and registrar is not None and uri.user is not None:
        contacts = registrar.location.routes(aorKey(uri), now)
        if contacts:
            targets: list[tuple[Any, tuple[str, int] | None, tuple[str, ...]]] = []
            for contact, path in contacts:
                try:
                    targets.append((parseURI(contact), None, path))
                except ValueError:
                    continue
            if targets:
                return targets
    host = stripBrackets(uri.host).lower()
    # Static routes cover keepsip's own domain (user prefixes) and
    # foreign domains (@DOMAIN routes); a URI naming one of keepsip's
    # hosts on another port is some user agent's contact on this machine.
    if ownDomain or host not in identity.hosts:
        hop = routeFor(uri.user, host)
        if hop is not None:
            return [(None, hop, ())]
    if ownDomain:
        return (404, "Not Found")
    # A foreign domain, or an in-dialog request to the peer's Contact.
    return [(None, None, ())]

