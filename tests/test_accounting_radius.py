"""
Tests for L{keepsip.accounting.radius}: packets, authenticators, identifiers
and retransmission on a fake UDP reactor and a L{Clock}; then against a real
FreeRADIUS started on a loopback port, reading what it wrote to its detail
file.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, inlineCallbacks, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from keepsip.accounting.plugin import availableBackends
from keepsip.accounting.radius import (
    NoFreeIdentifier,
    RadiusBackend,
    RadiusBackendClosed,
    RadiusTimeout,
)
from keepsip.accounting.radiuspacket import TERMINATE_CAUSES, sessionID
from keepsip.dialog.model import EndCause
from keepsip.interfaces import IAccountingBackend, IAccountingBackendFactory
from keepsip.testing import callRecords
from tests._servers import FreeRadiusServer

SECRET = "s3cret"
NOW = 1700000071.0  # ten seconds after the stop record was made


class FakeUDPPort:
    """
    A connected UDP port that keeps what is written.
    """

    def __init__(self, protocol: Any, interface: str) -> None:
        self.protocol = protocol
        self.interface = interface
        self.written: list[bytes] = []
        self.connectedTo: tuple[str, int] | None = None
        self.stopped = False

    def connect(self, host: str, port: int) -> None:
        self.connectedTo = (host, port)

    def write(self, datagram: bytes) -> None:
        self.written.append(datagram)

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", 40000)

    def stopListening(self) -> None:
        self.stopped = True


class FakeReactor(Clock):
    """
    A Clock with listenUDP (MemoryReactor has none) and resolve.
    """

    def __init__(self) -> None:
        Clock.__init__(self)
        self.ports: list[FakeUDPPort] = []
        self.resolved: list[str] = []

    def listenUDP(self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192):  # type: ignore[no-untyped-def]
        udp = FakeUDPPort(protocol, interface)
        self.ports.append(udp)
        return udp

    def resolve(self, name: str):  # type: ignore[no-untyped-def]
        self.resolved.append(name)
        return succeed("192.0.2.7")


def attributes(packet: bytes) -> dict[int, list[bytes]]:
    """
    Decode a packet's attributes (type -> values), independently of pyrad.
    """
    length = struct.unpack("!H", packet[2:4])[0]
    assert length == len(packet), (length, len(packet))
    found: dict[int, list[bytes]] = {}
    offset = 20
    while offset < length:
        kind, size = packet[offset], packet[offset + 1]
        found.setdefault(kind, []).append(packet[offset + 2 : offset + size])
        offset += size
    return found


def integer(value: bytes) -> int:
    number: int = struct.unpack("!I", value)[0]
    return number


def response(request: bytes, secret: str = SECRET, code: int = 5, identifier: int | None = None):  # type: ignore[no-untyped-def]
    """
    An Accounting-Response to C{request} with a correct Response
    Authenticator (for C{secret}).
    """
    ident = request[1] if identifier is None else identifier
    header = struct.pack("!BBH", code, ident, 20)
    authenticator = hashlib.md5(header + request[4:20] + secret.encode()).digest()
    return header + authenticator


class RadiusBackendTests(SynchronousTestCase):
    """
    The backend on a fake UDP reactor.
    """

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.reactor.advance(NOW)

    def startBackend(self, **kw: Any) -> tuple[RadiusBackend, FakeUDPPort]:
        backend = RadiusBackend(self.reactor, "127.0.0.1", 18130, SECRET, **kw)
        self.successResultOf(backend.ready())
        return backend, self.reactor.ports[-1]

    def test_interfaces(self) -> None:
        """
        The plugin provides IAccountingBackendFactory and makes an
        IAccountingBackend.
        """
        factory = availableBackends()["radius"]
        self.assertTrue(verifyObject(IAccountingBackendFactory, factory))
        backend = factory.makeBackend({"host": "h", "port": "1813", "secret": "x"}, Clock())
        self.assertTrue(verifyObject(IAccountingBackend, backend))

    def test_arguments(self) -> None:
        """
        host, port and secret are required; nasid, timeout, retries have
        defaults; bad values are refused naming the argument.
        """
        factory = availableBackends()["radius"]
        self.assertEqual(
            factory.argumentFormat,
            "host=H,port=P,secret=S[,nasid=NAME][,timeout=SECONDS][,retries=N]",
        )
        backend = factory.makeBackend({"host": "h", "port": "1813", "secret": "x"}, Clock())
        self.assertEqual(
            (backend.nasIdentifier, backend.timeout, backend.retries, backend.secret),
            ("keepsip", 2.0, 3, b"x"),
        )
        for args, name in [
            ({"host": "h", "port": "1813"}, "'secret'"),
            ({"host": "h", "port": "0", "secret": "x"}, "port="),
            ({"host": "h", "port": "1813", "secret": ""}, "secret="),
            ({"host": "h", "port": "1813", "secret": "x", "retries": "x"}, "retries="),
        ]:
            e = self.assertRaises(ValueError, factory.makeBackend, args, Clock())
            self.assertIn(name, str(e))

    def test_constructorDoesNoIO(self) -> None:
        """
        Making a backend opens no port and schedules nothing; a record sent
        before ready() fails with RadiusBackendClosed.
        """
        backend = RadiusBackend(self.reactor, "radius.example", 1813, SECRET)
        self.assertEqual((self.reactor.ports, self.reactor.getDelayedCalls()), ([], []))
        self.failureResultOf(backend.sendRecord(callRecords(1)[0]), RadiusBackendClosed)
        self.successResultOf(backend.close())

    def test_readyResolvesAndConnects(self) -> None:
        """
        ready() resolves a host name and connects an ephemeral UDP port to
        the address and port; an address literal is not resolved.
        """
        backend = RadiusBackend(self.reactor, "radius.example", 1813, SECRET)
        self.successResultOf(backend.ready())
        self.assertEqual(self.reactor.resolved, ["radius.example"])
        self.assertEqual(self.reactor.ports[0].connectedTo, ("192.0.2.7", 1813))
        self.successResultOf(backend.close())
        self.assertTrue(self.reactor.ports[0].stopped)
        backend = RadiusBackend(self.reactor, "::1", 1813, SECRET)
        self.successResultOf(backend.ready())
        self.assertEqual(self.reactor.resolved, ["radius.example"])
        self.assertEqual(self.reactor.ports[1].connectedTo, ("::1", 1813))
        self.assertEqual(self.reactor.ports[1].interface, "::")

    def test_requestAuthenticator(self) -> None:
        """
        The Request Authenticator is MD5(code + identifier + length + 16 zero
        octets + attributes + secret), computed here independently.
        """
        backend, udp = self.startBackend()
        backend.sendRecord(callRecords(1)[0])
        packet = udp.written[0]
        self.assertEqual(packet[0], 4)
        self.assertEqual(
            packet[4:20],
            hashlib.md5(packet[:4] + b"\x00" * 16 + packet[20:] + SECRET.encode()).digest(),
        )

    def test_startInterimStopAttributes(self) -> None:
        """
        Start, Interim-Update and Stop carry the status type, one session id
        for the call, the caller and called identities, NAS identification,
        the event time and delay; session time on interim and stop, the
        terminate cause on stop.
        """
        backend, udp = self.startBackend()
        records = callRecords(1, EndCause.KEEPALIVE_TIMEOUT)
        for record in records:
            d = backend.sendRecord(record)
            udp.protocol.datagramReceived(response(udp.written[-1]), ("127.0.0.1", 18130))
            self.successResultOf(d)
        start, interim, stop = (attributes(p) for p in udp.written)
        self.assertEqual([integer(a[40][0]) for a in (start, interim, stop)], [1, 3, 2])
        session = sessionID(records[0]).encode()
        self.assertEqual({a[44][0] for a in (start, interim, stop)}, {session})
        self.assertEqual(len(session), 32)
        self.assertEqual(start[50], [b"call-1@example.com"])
        self.assertEqual(start[1], [b"sip:alice@example.com"])
        self.assertEqual(start[31], [b"alice"])
        self.assertEqual(start[30], [b"4420"])
        self.assertEqual(start[32], [b"keepsip"])
        self.assertEqual(start[4], [bytes([127, 0, 0, 1])])
        self.assertEqual(integer(start[55][0]), 1700000001)
        self.assertEqual(integer(stop[55][0]), 1700000061)
        self.assertEqual(integer(start[41][0]), 70)
        self.assertEqual(integer(stop[41][0]), 10)
        self.assertNotIn(46, start)
        self.assertEqual(integer(interim[46][0]), 30)
        self.assertEqual(integer(stop[46][0]), 60)
        self.assertNotIn(49, interim)
        self.assertEqual(integer(stop[49][0]), 2)
        self.assertNotIn(42, stop)  # estimated volume is not sent as octets

    def test_terminateCauses(self) -> None:
        """
        Every end cause of the closed vocabulary has an RFC 2866 cause, as
        documented.
        """
        self.assertEqual(set(TERMINATE_CAUSES), set(EndCause.ALL))
        expected = {
            EndCause.CALLER_BYE: 1,
            EndCause.CALLEE_BYE: 1,
            EndCause.KEEPALIVE_TIMEOUT: 2,
            EndCause.MAX_DURATION: 5,
            EndCause.SHUTDOWN: 7,
            EndCause.MEDIA_TIMEOUT: 4,
        }
        backend, udp = self.startBackend()
        for cause, value in expected.items():
            backend.sendRecord(callRecords(1, cause)[2])
            self.assertEqual(integer(attributes(udp.written[-1])[49][0]), value)

    def test_measuredOctets(self) -> None:
        """
        A measured volume is sent as input and output octets adding up to
        the total, with Gigawords above 2**32.
        """
        backend, udp = self.startBackend()
        stop = callRecords(1)[2]
        total = 6 * 2**32 + 7
        stop = dict(stop, volume_bytes=total, volume=dict(stop["volume"], source="measured"))
        backend.sendRecord(stop)
        found = attributes(udp.written[-1])
        received = integer(found[42][0]) + (integer(found[52][0]) << 32)
        sent = integer(found[43][0]) + (integer(found[53][0]) << 32)
        self.assertEqual(received + sent, total)
        self.assertEqual((integer(found[52][0]), integer(found[53][0])), (3, 3))

    def test_responseVerified(self) -> None:
        """
        Responses with a wrong authenticator (wrong secret), another
        identifier or another code are ignored; the valid one delivers the
        record.
        """
        backend, udp = self.startBackend()
        d = backend.sendRecord(callRecords(1)[0])
        request = udp.written[0]
        deliver = udp.protocol.datagramReceived
        deliver(response(request, secret="other"), None)
        deliver(response(request, identifier=(request[1] + 1) % 256), None)
        deliver(response(request, code=2), None)
        deliver(response(request)[:19], None)
        self.assertNoResult(d)
        deliver(response(request) + b"padding", None)
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_retransmitsThenFails(self) -> None:
        """
        Without a response the identical packet is sent again after 2, 4 and
        8 s of the clock; 16 s after the last one the record fails with
        RadiusTimeout and no timer is left.
        """
        backend, udp = self.startBackend()
        d = backend.sendRecord(callRecords(1)[0])
        for delay, count in [(1.99, 1), (0.01, 2), (4, 3), (8, 4)]:
            self.reactor.advance(delay)
            self.assertEqual(len(udp.written), count)
        self.assertEqual(len(set(udp.written)), 1)
        self.assertNoResult(d)
        self.reactor.advance(16)
        self.failureResultOf(d, RadiusTimeout)
        self.assertEqual(len(udp.written), 4)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_lateResponseToRetransmission(self) -> None:
        """
        A response arriving after a retransmission still delivers the record
        and stops further retransmissions.
        """
        backend, udp = self.startBackend()
        d = backend.sendRecord(callRecords(1)[0])
        self.reactor.advance(2)
        udp.protocol.datagramReceived(response(udp.written[0]), None)
        self.successResultOf(d)
        self.reactor.advance(100)
        self.assertEqual(len(udp.written), 2)

    def test_identifiers(self) -> None:
        """
        Requests in flight get distinct identifiers 0..255; a 257th fails
        with NoFreeIdentifier; an answered one's identifier is free again,
        and a retried record is a new packet with a new identifier.
        """
        backend, udp = self.startBackend()
        record = callRecords(1)[0]
        pending = [backend.sendRecord(record) for _ in range(256)]
        self.assertEqual(sorted(p[1] for p in udp.written), list(range(256)))
        self.failureResultOf(backend.sendRecord(record), NoFreeIdentifier)
        udp.protocol.datagramReceived(response(udp.written[5]), None)
        self.successResultOf(pending[5])
        pending[5] = backend.sendRecord(record)
        self.assertEqual(udp.written[-1][1], 5)
        self.successResultOf(backend.close())
        for d in pending:
            self.failureResultOf(d, RadiusBackendClosed)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling a send (the tracker's timeout) stops its retransmissions.
        """
        backend, _ = self.startBackend()
        d = backend.sendRecord(callRecords(1)[0])
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

class FreeRadiusTests(TestCase):
    """
    The backend against a real FreeRADIUS.
    """

    timeout = 60

    def setUp(self) -> None:
        self.server = FreeRadiusServer(self.mktemp(), SECRET)
        self.server.start()
        self.addCleanup(self.server.stop)

    @inlineCallbacks
    def startBackend(self, secret: str = SECRET, **kw: Any):  # type: ignore[no-untyped-def]
        backend = RadiusBackend(reactor, "127.0.0.1", self.server.port, secret, **kw)
        self.addCleanup(backend.close)
        yield backend.ready()
        return backend

    @inlineCallbacks
    def test_startInterimStopArrive(self):  # type: ignore[no-untyped-def]
        """
        FreeRADIUS accepts (answers, and writes to its detail file) the
        Start, Interim-Update and Stop of two calls with the attribute values
        keepsip sent: the authenticators are right, the server checks them.
        """
        backend = yield self.startBackend()
        sent = callRecords(1) + callRecords(2, EndCause.KEEPALIVE_TIMEOUT)
        for record in sent:
            yield backend.sendRecord(record)
        details = self.server.detailRecords()
        self.assertEqual(
            [d["Acct-Status-Type"] for d in details],
            ["Start", "Interim-Update", "Stop"] * 2,
        )
        for detail, record in zip(details, sent, strict=True):
            self.assertEqual(detail["Acct-Session-Id"], sessionID(record))
            self.assertEqual(detail["Acct-Multi-Session-Id"], record["call_id"])
            self.assertEqual(detail["User-Name"], "sip:alice@example.com")
            self.assertEqual(detail["Calling-Station-Id"], "alice")
            self.assertEqual(detail["Called-Station-Id"], "4420")
            self.assertEqual(detail["NAS-Identifier"], "keepsip")
            self.assertEqual(detail["NAS-IP-Address"], "127.0.0.1")
            self.assertIn("2023", detail["Event-Timestamp"])
        self.assertEqual([d.get("Acct-Session-Time") for d in details], [None, "30", "60"] * 2)
        self.assertEqual(details[2]["Acct-Terminate-Cause"], "User-Request")
        self.assertEqual(details[5]["Acct-Terminate-Cause"], "Lost-Carrier")
        self.assertNotEqual(details[0]["Acct-Session-Id"], details[3]["Acct-Session-Id"])

    @inlineCallbacks
    def test_wrongSecretNotAccepted(self):  # type: ignore[no-untyped-def]
        """
        With another secret FreeRADIUS drops the requests (their Request
        Authenticator does not verify): the record fails with RadiusTimeout
        after the retransmissions and nothing reaches the detail file.
        """
        backend = yield self.startBackend(secret="not-the-secret", timeout=0.2, retries=1)
        yield self.assertFailure(backend.sendRecord(callRecords(1)[0]), RadiusTimeout)
        self.assertEqual(self.server.detailRecords(), [])
        backend = yield self.startBackend()
        yield backend.sendRecord(callRecords(1)[0])
        self.assertEqual(len(self.server.detailRecords()), 1)
