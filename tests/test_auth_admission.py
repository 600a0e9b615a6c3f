"""
Tests for L{keepsip.auth.admission}: authentication's per-source rate limits
applied by the transaction layer before any server transaction exists, with
a real L{TransactionLayer}, a real L{AuthTransactionUser} and a L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.auth.admission import RETRY_AFTER, AuthAdmission
from keepsip.auth.nonces import NonceAuthority
from keepsip.auth.peers import TrustedPeers, parseNetworks
from keepsip.auth.transactionuser import AuthSettings, AuthTransactionUser
from keepsip.dialog.store import MemoryDialogStore
from keepsip.proxy.identity import ProxyIdentity
from keepsip.sip.message import Response
from keepsip.transaction import IAdmission, TransactionLayer
from keepsip.transaction.testing import RecordingSender, RecordingTransactionUser

from .test_auth_transactionuser import PHONE, REALM, request

OTHER = ("192.0.2.99", 5060)


class AdmissionTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.sender = RecordingSender()
        self.inner = RecordingTransactionUser()

    def build(self, checker: Any = None, trusted: str = "", **settings: Any) -> None:
        identity = ProxyIdentity(("192.0.2.1", 5060), [("192.0.2.1", 5060)], [REALM])
        self.auth = AuthTransactionUser(
            self.inner,
            self.clock,
            identity,
            MemoryDialogStore(),
            checker,
            NonceAuthority(self.clock, REALM, lifetime=60),
            TrustedPeers(parseNetworks(trusted) if trusted else ()),
            AuthSettings(realm=REALM, **settings),
        )
        self.layer = TransactionLayer(self.clock, self.sender, self.auth)
        self.layer.addAdmission(self.auth.admission)

    def responses(self) -> list[Response]:
        return [m for m in self.sender.messages() if isinstance(m, Response)]

    def codes(self) -> list[int]:
        return [r.code for r in self.responses()]


class RegistrationRateTests(AdmissionTestCase):
    def test_interface(self) -> None:
        """
        L{AuthAdmission} provides L{IAdmission}.
        """
        self.build()
        self.assertTrue(verifyObject(IAdmission, self.auth.admission))
        self.assertIsInstance(self.auth.admission, AuthAdmission)

    def test_floodCreatesNoTransactions(self) -> None:
        """
        25 REGISTERs from one source at 1/s (burst 10): the first 10 create
        server transactions, the other 15 none, and are answered 503 with
        Retry-After by the layer; the transaction user never sees them.
        """
        self.build(registrationRate=1.0)
        for n in range(25):
            self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID=f"r{n}"), PHONE)
        self.assertEqual(self.layer.serverCount, 10)
        self.assertEqual(len(self.inner.events), 10)
        self.assertEqual(self.codes(), [503] * 15)
        for response in self.responses():
            self.assertEqual(response.header("retry-after"), str(RETRY_AFTER))
        self.assertEqual(self.layer.refusedByChecks, 15)
        self.assertEqual(self.auth.admission.limited["register"], 15)

    def test_retransmissionSameAnswer(self) -> None:
        """
        A retransmission of a refused REGISTER, while the source is still
        over its rate, gets the same stateless answer (same To tag) and
        still creates no transaction.
        """
        self.build(registrationRate=1.0)
        for n in range(10):
            self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID=f"r{n}"), PHONE)
        self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID="x"), PHONE)
        self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID="x"), PHONE)
        first, second = self.responses()
        self.assertEqual((first.code, second.code), (503, 503))
        self.assertEqual(first.header("to"), second.header("to"))
        self.assertEqual(self.layer.serverCount, 10)

    def test_otherSourceAndRefill(self) -> None:
        """
        Another source has its own bucket; time refills a source's bucket.
        """
        self.build(registrationRate=1.0)
        for n in range(11):
            self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID=f"r{n}"), PHONE)
        self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID="o"), OTHER)
        self.clock.advance(2)
        self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID="later"), PHONE)
        self.assertEqual(self.codes(), [503])
        self.assertEqual(self.layer.serverCount, 12)

    def test_trustedExempt(self) -> None:
        """
        A trusted source is not rate-limited.
        """
        self.build(registrationRate=1.0, trusted="192.0.2.0/24")
        for n in range(25):
            self.layer.requestReceived(request("REGISTER", "sip:sip.test", callID=f"r{n}"), PHONE)
        self.assertEqual(self.layer.serverCount, 25)
        self.assertEqual(self.codes(), [])


class ChallengeRateTests(AdmissionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.build(
            checker=InMemoryUsernamePasswordDatabaseDontUse(alice=b"wonderland"),
            challengeRate=1.0,
            registrationRate=0,
        )

    def test_uncredentialedFlood(self) -> None:
        """
        INVITEs without credentials beyond the challenge rate (burst 10)
        create no transaction: 10 are challenged through their transactions
        (100 Trying, 407), the other 5 refused 503 statelessly.
        """
        for n in range(15):
            self.layer.requestReceived(request(callID=f"i{n}"), PHONE)
        self.assertEqual(self.layer.serverCount, 10)
        codes = self.codes()
        self.assertEqual(codes.count(407), 10)
        self.assertEqual(codes.count(503), 5)
        self.assertEqual(self.auth.challenged["proxy-authenticate"], 10)
        self.assertEqual(self.auth.admission.limited["challenge"], 5)

    def test_forgedNonceFlood(self) -> None:
        """
        Requests with credentials whose nonce keepsip never issued are
        certain to be challenged, so they are limited statelessly too.
        """
        forged = (
            'Proxy-Authorization: Digest username="alice", realm="sip.test", nonce="bogus", '
            'uri="sip:bob@sip.test", response="00", algorithm=MD5, qop=auth, nc=00000001, '
            'cnonce="c"'
        )
        for n in range(15):
            self.layer.requestReceived(request(callID=f"f{n}", headers=(forged,)), PHONE)
        self.assertEqual(self.layer.serverCount, 10)
        self.assertEqual(self.codes().count(503), 5)

    def test_trustedNotChallenged(self) -> None:
        """
        Trusted peers are neither challenged nor limited.
        """
        self.build(
            checker=InMemoryUsernamePasswordDatabaseDontUse(alice=b"wonderland"),
            challengeRate=1.0,
            trusted="192.0.2.10",
        )
        for n in range(15):
            self.layer.requestReceived(request(callID=f"i{n}"), PHONE)
        self.assertEqual(self.layer.serverCount, 15)
        self.assertNotIn(503, self.codes())
        self.assertNotIn(407, self.codes())


def registerDatagram(n: int, host: str = "198.51.100.66") -> bytes:
    """
    A REGISTER of user C{u<n>} at keepsip's domain from C{host}.
    """
    return (
        "REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bKreg{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:u{n}@example.com>;tag=f{n}\r\n"
        f"To: <sip:u{n}@example.com>\r\n"
        f"Call-ID: reg{n}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:u{n}@{host}:5060>\r\n"
        "Expires: 600\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class ThroughTheProxyTests(SynchronousTestCase):
    """
    The whole proxy as L{keepsip.service.makeService} builds it: the rate
    limits sit in its transaction layer; the binding caps, answered by the
    registrar, leave nothing behind but their transactions' own timers.
    """

    FLOODER = ("198.51.100.66", 5060)

    def proxy(self, **config: Any) -> Any:
        from ._proxy import ProxyHarness

        return ProxyHarness(domains=frozenset({"example.com"}), **config)

    def codes(self, proxy: Any) -> list[int]:
        return [m.code for m in proxy.sentTo(self.FLOODER) if isinstance(m, Response)]

    def test_rateLimitInLayer(self) -> None:
        """
        makeService puts the REGISTER rate limit in front of the transaction
        layer: 30 REGISTERs at 1/s (burst 10) leave 10 server transactions,
        the other 20 get a stateless 503 with Retry-After.
        """
        proxy = self.proxy(registrarRateLimit=1.0)
        for n in range(30):
            proxy.receive(registerDatagram(n), self.FLOODER)
        self.assertEqual(proxy.service.transactions.serverCount, 10)
        self.assertEqual(self.codes(proxy), [200] * 10 + [503] * 20)

    def test_bindingCapLeavesNothing(self) -> None:
        """
        REGISTERs beyond C{--registrar-max-source-bindings} get 403 and,
        once their transactions' timer J has run, leave no transaction, no
        binding and no share of the source's count behind.
        """
        proxy = self.proxy(registrarRateLimit=0, registrarMaxSourceBindings=3)
        for n in range(50):
            proxy.receive(registerDatagram(n), self.FLOODER)
        self.assertEqual(self.codes(proxy), [200] * 3 + [403] * 47)
        proxy.clock.advance(40)
        location = proxy.service.location
        self.assertEqual(proxy.service.transactions.serverCount, 0)
        self.assertEqual(len(location), 3)
        self.assertEqual(location.fromSource(self.FLOODER[0]), 3)
        now = proxy.clock.seconds()
        held = [n for n in range(50) if location.lookup(f"u{n}@example.com", now)]
        self.assertEqual(held, [0, 1, 2])
