"""
The C{radius} accounting backend: RFC 2866 Accounting-Requests over UDP.

C{--accounting radius:host=H,port=P,secret=S[,nasid=NAME][,timeout=S][,retries=N]}

Each record becomes one Accounting-Request (C{start} -> Start,
C{interim} -> Interim-Update, C{stop} -> Stop), sent from a connected UDP
port opened by L{RadiusBackend.ready}. It counts as delivered when an
Accounting-Response with the same Identifier and a valid Response
Authenticator comes back; until then the identical packet is retransmitted
after C{timeout} seconds (default 2), doubling, C{retries} times (default
3), on the injected clock; then the record fails and the accounting tracker
retries it later as a new packet (new Identifier, new Acct-Delay-Time, as
RFC 2866 section 5.2 requires).

The packets themselves (which attributes a record gives, the Request and
Response Authenticators, the pyrad dictionary) are made and checked in
L{keepsip.accounting.radiuspacket}.
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import DatagramProtocol
from keepsip.logs import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.accounting.radiuspacket import (
    ACCOUNTING_RESPONSE,
    encodeRequest,
    recordAttributes,
    verifyResponse,
)
from keepsip.interfaces import IAccountingBackend

_log = Logger()

class RadiusTimeout(Exception):
    """
    No valid Accounting-Response arrived after all retransmissions.
    """


class RadiusBackendClosed(Exception):
    """
    A record was sent before L{RadiusBackend.ready} or after
    L{RadiusBackend.close}, or was in flight when it closed.
    """


class NoFreeIdentifier(Exception):
    """
    All 256 Identifiers are waiting for responses.
    """


class _Request:
    """
    One Accounting-Request waiting for its response.
    """

    def __init__(self, identifier: int, packet: bytes, result: Deferred) -> None:
        self.identifier = identifier
        self.packet = packet
        self.authenticator = packet[4:20]
        self.result = result
        self.sent = 0
        self.timer: IDelayedCall | None = None


class _AccountingProtocol(DatagramProtocol):
    """
    The UDP seam: datagrams in go to the backend.
    """

    def __init__(self, backend: RadiusBackend) -> None:
        self.backend = backend

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.backend.datagramReceived(datagram)

    def connectionRefused(self) -> None:
        _log.debug(
            "RADIUS server {host}:{port} refused a datagram (ICMP port unreachable)",
            host=self.backend.host,
            port=self.backend.port,
        )


@implementer(IAccountingBackend)
class RadiusBackend:
    """
    Sends records as RFC 2866 Accounting-Requests and waits for their
    Accounting-Responses.

    @ivar host: the server's name or address.
    @ivar port: its UDP port.
    @ivar secret: the shared secret.
    @ivar nasIdentifier: the NAS-Identifier sent.
    @ivar timeout: seconds before the first retransmission (doubling).
    @ivar retries: retransmissions before a record fails.
    """

    name = "radius"

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        secret: str,
        nasid: str = "keepsip",
        timeout: float = 2.0,
        retries: int = 3,
    ) -> None:
        if not host:
            raise ValueError("radius: host: must not be empty")
        if not 0 < port < 65536:
            raise ValueError(f"radius: port: not a port number, got {port!r}")
        if not secret:
            raise ValueError("radius: secret: must not be empty")
        if not nasid:
            raise ValueError("radius: nasid: must not be empty")
        if not timeout > 0:
            raise ValueError(f"radius: timeout: must be > 0, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"radius: retries: must be >= 0, got {retries!r}")
        self.reactor = reactor
        self.host = host
        self.port = port
        self.secret = secret.encode("utf-8")
        self.nasIdentifier = nasid
        self.timeout = timeout
        self.retries = retries
        self._udpPort: Any = None
        self._address: str | None = None
        self._starting: Deferred | None = None
        self._closed = False
        self._pending: dict[int, _Request] = {}
        self._nextIdentifier = 0

    # -- life --------------------------------------------------------------

    def ready(self) -> Deferred:
        """
        Resolve the server's name and open a UDP port connected to it.

        @return: L{Deferred} firing with L{None}, or failing if the name
            does not resolve or the port cannot be opened.
        """
        if self._closed:
            return fail(RadiusBackendClosed())
        if self._udpPort is not None:
            return succeed(None)
        if self._starting is None:
            if isIPAddress(self.host) or isIPv6Address(self.host):
                resolved = succeed(self.host)
            else:
                resolved = maybeDeferred(self.reactor.resolve, self.host)
            self._starting = resolved.addCallback(self._listen)
        d: Deferred = Deferred()
        self._starting.addBoth(self._relay, d)
        return d

    @staticmethod
    def _relay(result: object, d: Deferred) -> object:
        if isinstance(result, Failure):
            d.errback(result)
            return None
        d.callback(None)
        return result

    def _listen(self, address: str) -> None:
        self._starting = None
        if self._closed:
            raise RadiusBackendClosed()
        interface = "::" if isIPv6Address(address) else "0.0.0.0"
        udpPort = self.reactor.listenUDP(0, _AccountingProtocol(self), interface=interface)
        try:
            udpPort.connect(address, self.port)
        except BaseException:
            udpPort.stopListening()
            raise
        self._udpPort = udpPort
        self._address = address
        _log.info(
            "RADIUS accounting to {host}:{port} ({address}) from UDP port {local}",
            host=self.host,
            port=self.port,
            address=address,
            local=udpPort.getHost().port,
        )

    def close(self) -> Deferred:
        """
        Stop retransmitting, fail what is in flight with
        L{RadiusBackendClosed}, close the UDP port.

        @return: L{Deferred} firing with L{None}.
        """
        self._closed = True
        pending, self._pending = self._pending, {}
        for request in pending.values():
            if request.timer is not None and request.timer.active():
                request.timer.cancel()
            if not request.result.called:
                request.result.errback(RadiusBackendClosed())
        udpPort, self._udpPort = self._udpPort, None
        if udpPort is None:
            return succeed(None)
        return maybeDeferred(udpPort.stopListening).addCallback(lambda _: None)

    # -- sending -----------------------------------------------------------

    def _nasAddress(self) -> str | None:
        if self._udpPort is None:
            return None
        host = self._udpPort.getHost().host
        if isIPAddress(host) and host != "0.0.0.0":
            return str(host)
        return None

    def _allocateIdentifier(self) -> int:
        for offset in range(256):
            identifier = (self._nextIdentifier + offset) % 256
            if identifier not in self._pending:
                self._nextIdentifier = (identifier + 1) % 256
                return identifier
        raise NoFreeIdentifier("all 256 RADIUS identifiers are waiting for responses")

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        """
        Send C{record} as an Accounting-Request and wait for its response.

        @return: L{Deferred} firing with L{None} on a valid
            Accounting-Response; failing with L{RadiusTimeout} after the
            retransmissions, L{RadiusBackendClosed}, L{NoFreeIdentifier}, or
            L{ValueError} for a record that cannot be encoded. Cancelling it
            stops the retransmissions and frees the Identifier.
        """
        if self._udpPort is None or self._closed:
            return fail(RadiusBackendClosed())
        try:
            identifier = self._allocateIdentifier()
            attributes = recordAttributes(
                record, self.reactor.seconds(), self.nasIdentifier, self._nasAddress()
            )
            packet, _ = encodeRequest(attributes, identifier, self.secret)
        except (NoFreeIdentifier, ValueError, TypeError, KeyError):
            return fail()

        def cancel(_: Deferred) -> None:
            self._forget(request)

        request = _Request(identifier, packet, Deferred(cancel))
        self._pending[identifier] = request
        self._transmit(request)
        return request.result

    def _transmit(self, request: _Request) -> None:
        request.timer = None
        if self._pending.get(request.identifier) is not request:
            return
        if request.sent > self.retries:
            self._forget(request)
            request.result.errback(
                RadiusTimeout(
                    f"no Accounting-Response from {self.host}:{self.port} "
                    f"after {request.sent} transmissions"
                )
            )
            return
        try:
            self._udpPort.write(request.packet)
        except OSError as e:
            # e.g. ECONNREFUSED surfacing on write: retransmit later anyway.
            _log.debug("Sending a RADIUS request failed: {error}", error=e)
        delay = self.timeout * 2**request.sent
        request.sent += 1
        request.timer = self.reactor.callLater(delay, self._transmit, request)

    def _forget(self, request: _Request) -> None:
        if self._pending.get(request.identifier) is request:
            del self._pending[request.identifier]
        if request.timer is not None and request.timer.active():
            request.timer.cancel()
        request.timer = None

    def datagramReceived(self, data: bytes) -> None:
        """
        A datagram from the server: if it is a valid Accounting-Response to
        a request in flight, that record is delivered; anything else is
        logged and dropped.
        """
        if len(data) < 20:
            _log.warn("Dropped a RADIUS datagram of {size} octets", size=len(data))
            return
        code, identifier, length = struct.unpack("!BBH", data[:4])
        if length < 20 or length > len(data):
            _log.warn("Dropped a RADIUS packet with a bad length {length}", length=length)
            return
        data = data[:length]
        request = self._pending.get(identifier)
        if request is None:
            _log.debug("Dropped a RADIUS response to identifier {id}", id=identifier)
            return
        if code != ACCOUNTING_RESPONSE:
            _log.warn("Dropped a RADIUS packet of code {code}", code=code)
            return
        if not verifyResponse(data, request.authenticator, self.secret):
            _log.warn(
                "Dropped an Accounting-Response from {host}:{port} with a wrong "
                "Response Authenticator (is the shared secret the same?)",
                host=self.host,
                port=self.port,
            )
            return
        self._forget(request)
        request.result.callback(None)
