"""
Stateless forwarding (RFC 3261 §16.11): the 2xx ACKs and other requests
L{keepsip.proxy.core.ProxyCore} forwards without a transaction, with a branch
derived from the incoming one so that retransmissions map to the same
branch. A mixin of the core: it uses the core's identity, sender, resolver
and media anchor, declared here for the type checker.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from twisted.internet.defer import Deferred

from keepsip.logs import Logger
from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.routing import (
    DEFAULT_MAX_FORWARDS,
    LOOP_MAGIC,
    uriAddress,
)
from keepsip.sip.address import isIPLiteral
from keepsip.sip.headers import maxForwards, sharedNameAddr, topVia
from keepsip.sip.message import Message, Request
from keepsip.sip.uri import URI, AbsoluteURI, UnparsedURI
from keepsip.transport.errors import TransportError

log = Logger()


class StatelessForwarding:
    """
    The core's stateless forwarding of requests that need no transaction.
    """

    identity: ProxyIdentity
    send: Callable[[Message, tuple[str, int]], None]
    resolve: Callable[[str], Any] | None
    media: Any

    def _removeOwnRoutes(self, request: Request) -> None:
        raise NotImplementedError()

    def _resolveHost(self, host: str) -> Deferred[str]:
        raise NotImplementedError()

    def _forwardStatelessly(self, request: Request) -> None:
        """
        §16.11: forward a 2xx ACK (or other request that needs no state).
        Its branch is derived from the incoming one so retransmissions map
        to the same branch.
        """
        identity = self.identity
        fwd = request.copy()
        assert isinstance(fwd, Request)
        headers = fwd.headers
        self._removeOwnRoutes(fwd)
        forwards = maxForwards(request)
        if forwards is not None and forwards <= 0:
            return
        headers["max-forwards"] = [str(DEFAULT_MAX_FORWARDS if forwards is None else forwards - 1)]
        fwd.invalidate("max-forwards")
        if headers.get("route"):
            first = sharedNameAddr(headers["route"][0])
            destinationURI: URI | AbsoluteURI | UnparsedURI | None = first.uri
            if isinstance(first.uri, URI) and "lr" not in first.uri.params:
                del headers["route"][0]
                headers["route"].append(f"<{fwd.uri.toString()}>")
                fwd.uri = first.uri
        else:
            destinationURI = fwd.uri
            if isinstance(fwd.uri, URI) and identity.isMe(fwd.uri.host, fwd.uri.port):
                return
        if not isinstance(destinationURI, URI):
            return
        incoming = topVia(request).branch or ""
        digest = hashlib.blake2s(
            (incoming + request.uri.toString()).encode("utf-8", "surrogateescape"),
            digest_size=8,
        ).hexdigest()
        headers["via"] = [
            f"SIP/2.0/UDP {identity.sentBy};branch={LOOP_MAGIC}sl{digest}"
        ] + headers.get("via", [])
        headers.move_to_end("via", last=False)
        fwd.invalidate("via")
        host, port = uriAddress(destinationURI)
        media = self.media
        rewriting = media.rewriteRequest(request, fwd) if media is not None else None
        if rewriting is not None:
            # The answer of a late offer: forwarded once rewritten; an ACK
            # the relay refused is dropped (its 2xx is retransmitted).
            def rewritten(rejection: object) -> None:
                if rejection is None:
                    self._sendAck(fwd, host, port)

            rewriting.addCallback(rewritten)
            return
        self._sendAck(fwd, host, port)

    def _sendAck(self, fwd: Request, host: str, port: int) -> None:
        if isIPLiteral(host) or self.resolve is None:
            self._sendStatelessly(fwd, (host, port))
        else:
            self._resolveHost(host).addCallbacks(
                lambda address: self._sendStatelessly(fwd, (address, port)),
                lambda f: log.info("cannot resolve {host} for ACK", host=host),
            )

    def _sendStatelessly(self, message: Message, destination: tuple[str, int]) -> None:
        """
        Send without a transaction: a message that cannot be sent is
        dropped (its sender retransmits, or the transaction it belongs to
        ends on its own timer).
        """
        try:
            self.send(message, destination)
        except TransportError as e:
            log.info("dropping a stateless message: {error}", error=str(e))
