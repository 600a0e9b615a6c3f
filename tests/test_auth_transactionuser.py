"""
Tests for L{keepsip.auth.transactionuser}: challenges, authorization,
dialog binding and per-source limits, on a L{Clock}, with C{twisted.cred}
checkers and a recording inner transaction user.
"""

from __future__ import annotations

import hashlib
from typing import Any

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet.defer import fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.auth.digest import parseDigest
from keepsip.auth.nonces import NonceAuthority
from keepsip.auth.peers import TrustedPeers, parseNetworks
from keepsip.auth.transactionuser import AuthSettings, AuthTransactionUser
from keepsip.dialog.model import Dialog, DialogState, Leg
from keepsip.dialog.store import MemoryDialogStore
from keepsip.proxy.identity import ProxyIdentity
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram
from keepsip.transaction.interfaces import ITransactionUser
from keepsip.transaction.testing import RecordingTransactionUser

REALM = "sip.test"
PHONE = ("192.0.2.10", 5060)


class FakeServerTransaction:
    def __init__(self, source: tuple[str, int] = PHONE) -> None:
        self.source = source
        self.lastResponse: Response | None = None

    def respond(self, response: Response) -> None:
        self.lastResponse = response


def request(
    method: str = "INVITE",
    uri: str = "sip:bob@sip.test",
    fromUser: str = "alice",
    toUser: str = "bob",
    toTag: str | None = None,
    headers: tuple[str, ...] = (),
    via: str = "192.0.2.10:5060",
    callID: str = "c1",
) -> Request:
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {via};branch=z9hG4bK{hashlib.md5(repr(headers).encode()).hexdigest()[:8]}",
        "Max-Forwards: 70",
        f"From: <sip:{fromUser}@sip.test>;tag=ft",
        f"To: <sip:{toUser}@sip.test>" + (f";tag={toTag}" if toTag else ""),
        f"Call-ID: {callID}",
        f"CSeq: 1 {method}",
        "Contact: <sip:x@192.0.2.10>",
        *headers,
        "Content-Length: 0",
    ]
    parsed = parseDatagram(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(parsed, Request)
    return parsed


def answerChallenge(
    challenge: str,
    user: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    realm: str | None = None,
    algorithm: str | None = None,
) -> str:
    """
    What a client answers to C{challenge}, computed here independently.
    """
    params = parseDigest(challenge)
    algorithm = algorithm or params["algorithm"]
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    realm = realm or params["realm"]
    a1 = h(f"{user}:{realm}:{password}".encode()).hexdigest()
    a2 = h(f"{method}:{uri}".encode()).hexdigest()
    ncText = f"{nc:08x}"
    response = h(f"{a1}:{params['nonce']}:{ncText}:cn0nce:auth:{a2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{params["nonce"]}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}, qop=auth, nc={ncText}, cnonce="cn0nce"'
    )


class AuthTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = MemoryDialogStore()
        self.inner = RecordingTransactionUser()
        self.checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"wonderland", bob=b"builder")
        self.user = self.makeUser()

    def makeUser(self, checker: Any = "default", trusted: str = "", **settings: Any) -> AuthTransactionUser:
        identity = ProxyIdentity(("192.0.2.1", 5060), [("192.0.2.1", 5060)], [REALM])
        settings.setdefault("algorithms", ("SHA-256", "MD5"))
        return AuthTransactionUser(
            self.inner,
            self.clock,
            identity,
            self.store,
            self.checker if checker == "default" else checker,
            NonceAuthority(self.clock, REALM, lifetime=60),
            TrustedPeers(parseNetworks(trusted) if trusted else ()),
            AuthSettings(realm=REALM, **settings),
        )

    def send(self, message: Request, source: tuple[str, int] = PHONE) -> FakeServerTransaction:
        transaction = FakeServerTransaction(source)
        self.user.requestReceived(message, transaction)
        return transaction

    def passed(self) -> list[Request]:
        return [event[1] for event in self.inner.events if event[0] == "requestReceived"]

    def challengeOf(self, transaction: FakeServerTransaction, header: str) -> list[str]:
        response = transaction.lastResponse
        assert response is not None
        return response.headers.get(header, [])

    def login(
        self,
        method: str = "INVITE",
        user: str = "alice",
        password: str = "wonderland",
        algorithm: str = "MD5",
        **kwargs: Any,
    ) -> FakeServerTransaction:
        """
        Send C{method}, answer the challenge, return the second transaction.
        """
        registrar = method == "REGISTER"
        uri = "sip:sip.test" if registrar else "sip:bob@sip.test"
        first = self.send(request(method, uri, **kwargs))
        header = "www-authenticate" if registrar else "proxy-authenticate"
        [offer] = [c for c in self.challengeOf(first, header) if f"algorithm={algorithm}" in c]
        credentials = answerChallenge(offer, user, password, method, uri)
        name = "Authorization" if registrar else "Proxy-Authorization"
        return self.send(request(method, uri, headers=(f"{name}: {credentials}",), **kwargs))


class ChallengeTests(AuthTestCase):
    def test_interface(self) -> None:
        """
        The wrapper is an L{ITransactionUser}, like what it wraps.
        """
        self.assertTrue(verifyObject(ITransactionUser, self.user))

    def test_inviteChallenged(self) -> None:
        """
        An INVITE without credentials gets 407 with a Proxy-Authenticate per
        algorithm, qop=auth, and a To tag; nothing reaches the core.
        """
        transaction = self.send(request())
        response = transaction.lastResponse
        assert response is not None
        self.assertEqual(response.code, 407)
        offers = [parseDigest(c) for c in self.challengeOf(transaction, "proxy-authenticate")]
        self.assertEqual([o["algorithm"] for o in offers], ["SHA-256", "MD5"])
        self.assertEqual({o["realm"] for o in offers}, {REALM})
        self.assertEqual({o["qop"] for o in offers}, {"auth"})
        self.assertIn(";tag=", response.header("to"))
        self.assertEqual(self.passed(), [])

    def test_registerChallenged(self) -> None:
        """
        A REGISTER for keepsip's domain gets 401 with WWW-Authenticate.
        """
        transaction = self.send(request("REGISTER", "sip:sip.test", toUser="alice"))
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 401)
        self.assertEqual(len(self.challengeOf(transaction, "www-authenticate")), 2)

    def test_md5AndSha256(self) -> None:
        """
        Right credentials with either algorithm pass the request on, with
        keepsip's own Proxy-Authorization removed.
        """
        for algorithm in ("MD5", "SHA-256"):
            transaction = self.login(algorithm=algorithm, callID=algorithm)
            self.assertIsNone(transaction.lastResponse)
            self.assertIsNone(self.passed()[-1].header("proxy-authorization"))
        self.assertEqual(len(self.passed()), 2)

    def test_registerOwnAOR(self) -> None:
        """
        An authenticated user registers its own AOR; another AOR gets 403.
        """
        self.assertIsNone(self.login("REGISTER", toUser="alice").lastResponse)
        refused = self.login("REGISTER", toUser="bob", callID="c2")
        assert refused.lastResponse is not None
        self.assertEqual(refused.lastResponse.code, 403)
        self.assertEqual(len(self.passed()), 1)

    def test_fromCheck(self) -> None:
        """
        With the From check an authenticated user may not call as someone
        else; without it, it may.
        """
        refused = self.login(fromUser="bob")
        assert refused.lastResponse is not None
        self.assertEqual(refused.lastResponse.code, 403)
        self.user = self.makeUser(fromCheck=False)
        self.assertIsNone(self.login(fromUser="bob", callID="c2").lastResponse)

    def test_wrongPasswordTwiceThen403(self) -> None:
        """
        A wrong password is challenged once more, then answered 403.
        """
        first = self.login(password="wrong")
        assert first.lastResponse is not None
        self.assertEqual(first.lastResponse.code, 407)
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        again = answerChallenge(offer, "alice", "wrong", "INVITE", "sip:bob@sip.test")
        second = self.send(request(headers=(f"Proxy-Authorization: {again}",)))
        assert second.lastResponse is not None
        self.assertEqual(second.lastResponse.code, 403)
        self.assertEqual(self.passed(), [])

    def test_replay(self) -> None:
        """
        The same credentials (same nonce and nc) sent again are challenged;
        the next nc passes.
        """
        first = self.send(request())
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        value = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test")
        self.assertIsNone(self.send(request(headers=(f"Proxy-Authorization: {value}",))).lastResponse)
        replay = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
        assert replay.lastResponse is not None
        self.assertEqual(replay.lastResponse.code, 407)
        following = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test", nc=2)
        self.assertIsNone(self.send(request(headers=(f"Proxy-Authorization: {following}",))).lastResponse)
        self.assertEqual(len(self.passed()), 2)

    def test_stale(self) -> None:
        """
        Right credentials on an expired nonce get a new challenge with
        stale=true; wrong ones on it do not.
        """
        first = self.send(request())
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        self.clock.advance(61)
        value = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test")
        stale = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
        self.assertEqual(
            {parseDigest(c).get("stale") for c in self.challengeOf(stale, "proxy-authenticate")},
            {"true"},
        )
        wrong = answerChallenge(offer, "alice", "nope", "INVITE", "sip:bob@sip.test")
        notStale = self.send(request(headers=(f"Proxy-Authorization: {wrong}",)))
        self.assertEqual(
            {parseDigest(c).get("stale") for c in self.challengeOf(notStale, "proxy-authenticate")},
            {None},
        )
        self.assertEqual(self.passed(), [])

    def test_forgedNonce(self) -> None:
        """
        Credentials on a nonce keepsip did not make are challenged, even
        with the right password.
        """
        other = NonceAuthority(self.clock, REALM).issue()
        forged = f'Digest realm="{REALM}", nonce="{other}", algorithm=MD5, qop="auth"'
        value = answerChallenge(forged, "alice", "wonderland", "INVITE", "sip:bob@sip.test")
        transaction = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 407)
        self.assertEqual(self.passed(), [])

    def test_wrongRealm(self) -> None:
        """
        Credentials for another realm are not keepsip's: challenged, and
        kept for the proxy of that realm (never consumed).
        """
        first = self.send(request())
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        value = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test", realm="evil")
        transaction = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 407)

    def test_otherRealmKept(self) -> None:
        """
        When keepsip's credentials pass, another realm's Proxy-Authorization
        is forwarded unchanged and keepsip's is removed.
        """
        first = self.send(request())
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        ours = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test")
        theirs = answerChallenge(offer, "alice", "x", "INVITE", "sip:bob@sip.test", realm="far")
        headers = (f"Proxy-Authorization: {theirs}", f"Proxy-Authorization: {ours}")
        self.assertIsNone(self.send(request(headers=headers)).lastResponse)
        self.assertEqual(self.passed()[0].headers["proxy-authorization"], [theirs])

    def test_malformed(self) -> None:
        """
        Malformed credentials for keepsip get 400, never a traceback.
        """
        for value in (
            'Digest username="alice',
            "Digest username",
            f'Digest username="alice", realm="{REALM}"',
            f'Digest username="a", realm="{REALM}", nonce="n", uri="u", response="x", qop=auth',
        ):
            transaction = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
            assert transaction.lastResponse is not None
            self.assertEqual(transaction.lastResponse.code, 400, value)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_unknownAlgorithm(self) -> None:
        """
        An unknown algorithm, or one keepsip did not offer, gets a fresh
        challenge.
        """
        self.user = self.makeUser(algorithms=("MD5",))
        first = self.send(request())
        [offer] = self.challengeOf(first, "proxy-authenticate")
        sha = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test", algorithm="SHA-256")
        for value in (sha, sha.replace("algorithm=SHA-256", "algorithm=SHA-512-256")):
            transaction = self.send(request(headers=(f"Proxy-Authorization: {value}",)))
            assert transaction.lastResponse is not None
            self.assertEqual(transaction.lastResponse.code, 407)
        self.assertEqual(self.passed(), [])

    def test_checkerBroken(self) -> None:
        """
        A checker that fails (its database is down) gives 503, logged.
        """

        class Broken:
            def requestAvatarId(self, credentials: Any) -> Any:
                return fail(RuntimeError("database down"))

        self.user = self.makeUser(checker=Broken())
        transaction = self.login()
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 503)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PassTests(AuthTestCase):
    def test_noChecker(self) -> None:
        """
        Without a checker (--auth none) everything passes.
        """
        self.user = self.makeUser(checker=None)
        self.send(request())
        self.send(request("REGISTER", "sip:sip.test"))
        self.assertEqual(len(self.passed()), 2)

    def test_trusted(self) -> None:
        """
        Requests from trusted networks pass unchallenged and unlimited.
        """
        self.user = self.makeUser(trusted="198.51.100.0/24", registrationRate=1.0)
        for n in range(30):
            self.send(request("REGISTER", "sip:sip.test", callID=f"r{n}"), ("198.51.100.7", 5060))
        self.send(request(), ("198.51.100.7", 5060))
        self.assertEqual(len(self.passed()), 31)

    def test_spiralAndPing(self) -> None:
        """
        A request already carrying keepsip's Via (a spiral) and an OPTIONS
        ping of keepsip itself pass unchallenged.
        """
        self.send(request(via="192.0.2.1:5060"))
        self.send(request("OPTIONS", "sip:192.0.2.1:5060"))
        self.assertEqual(len(self.passed()), 2)

    def test_ackCancelRetransmissions(self) -> None:
        """
        ACK, CANCEL, stray responses, timeouts and retransmissions go
        straight through (ACK and CANCEL cannot be challenged).
        """
        ack = request("ACK")
        self.user.ackReceived(ack, PHONE)
        self.user.cancelReceived(request("CANCEL"), FakeServerTransaction(), None)
        self.user.requestRetransmitted(ack, None)
        self.user.serverTimedOut(None)
        self.user.strayResponse(Response(200), PHONE)
        self.assertEqual(
            [event[0] for event in self.inner.events],
            ["ackReceived", "cancelReceived", "serverTimedOut", "strayResponse"],
        )
        self.assertEqual(len(self.inner.retransmissions), 1)


class DialogTests(AuthTestCase):
    def addDialog(self, authUser: str | None = "alice") -> Dialog:
        dialog = Dialog(
            "c1",
            Leg("sip:alice@sip.test", tag="ft", source=PHONE),
            Leg("sip:bob@sip.test", tag="tt", source=("192.0.2.20", 5060)),
            "sip:bob@sip.test",
            0.0,
            state=DialogState.CONFIRMED,
            authUser=authUser,
        )
        self.store.add(dialog)
        return dialog

    def test_authUserOnDialog(self) -> None:
        """
        The dialog created while an authenticated INVITE is handed on is
        bound to that user; one created otherwise is not.
        """
        created: list[Dialog] = []

        class Core(RecordingTransactionUser):
            def requestReceived(inner, request: Request, serverTransaction: Any) -> None:
                fromTag = request.header("from").rpartition("tag=")[2]
                dialog = Dialog(
                    request.header("call-id"),
                    Leg("sip:alice@sip.test", tag=fromTag),
                    Leg("sip:bob@sip.test"),
                    "x",
                    0.0,
                )
                self.user.dialogCreated(dialog)
                created.append(dialog)

        self.inner = Core()
        self.user = self.makeUser()
        self.login()
        self.assertEqual(created[0].authUser, "alice")
        other = Dialog("c2", Leg("a", tag="other"), Leg("b"), "x", 0.0)
        self.user.dialogCreated(other)
        self.assertIsNone(other.authUser)

    def test_inDialogFromLeg(self) -> None:
        """
        A request inside a known dialog from its leg's address passes
        unchallenged.
        """
        self.addDialog()
        self.send(request("BYE", toTag="tt"))
        self.assertEqual(len(self.passed()), 1)

    def test_inDialogUnknown(self) -> None:
        """
        A request with a To tag for a dialog keepsip does not know is
        challenged (no bypass by inventing a To tag).
        """
        transaction = self.send(request("INVITE", toTag="invented"))
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 407)
        self.assertEqual(self.passed(), [])

    def test_boundToIdentity(self) -> None:
        """
        From another address, the caller side of a dialog is challenged and
        must be the user that set the dialog up.
        """
        self.addDialog()
        elsewhere = ("203.0.113.9", 5060)
        transaction = self.send(request("BYE", toTag="tt"), elsewhere)
        assert transaction.lastResponse is not None
        self.assertEqual(transaction.lastResponse.code, 407)
        [offer] = [c for c in self.challengeOf(transaction, "proxy-authenticate") if "MD5" in c]
        bob = answerChallenge(offer, "bob", "builder", "BYE", "sip:bob@sip.test")
        refused = self.send(request("BYE", toTag="tt", headers=(f"Proxy-Authorization: {bob}",)), elsewhere)
        assert refused.lastResponse is not None
        self.assertEqual(refused.lastResponse.code, 403)
        # Bob's answer spent nc 1 of the nonce (his password was right).
        alice = answerChallenge(offer, "alice", "wonderland", "BYE", "sip:bob@sip.test", nc=2)
        ok = self.send(request("BYE", toTag="tt", headers=(f"Proxy-Authorization: {alice}",)), elsewhere)
        self.assertIsNone(ok.lastResponse)
        self.assertEqual(len(self.passed()), 1)


class LimitTests(AuthTestCase):
    def test_registrationRate(self) -> None:
        """
        REGISTERs from one source beyond the rate (burst 10 at 1/s) get 503
        with Retry-After; another source is not affected; time refills.
        """
        self.user = self.makeUser(checker=None, registrationRate=1.0)
        codes = []
        for n in range(15):
            transaction = self.send(request("REGISTER", "sip:sip.test", callID=f"r{n}"))
            codes.append(transaction.lastResponse.code if transaction.lastResponse else None)
        self.assertEqual(codes, [None] * 10 + [503] * 5)
        last = self.send(request("REGISTER", "sip:sip.test"))
        assert last.lastResponse is not None
        self.assertEqual(last.lastResponse.header("retry-after"), "1")
        self.send(request("REGISTER", "sip:sip.test"), ("192.0.2.99", 5060))
        self.clock.advance(2)
        self.send(request("REGISTER", "sip:sip.test"))
        self.assertEqual(len(self.passed()), 12)

    def test_challengeRate(self) -> None:
        """
        Challenges to one source beyond the rate become 503s.
        """
        self.user = self.makeUser(challengeRate=1.0)
        codes = [self.send(request(callID=f"i{n}")).lastResponse.code for n in range(12)]  # type: ignore[union-attr]
        self.assertEqual(codes, [407] * 10 + [503] * 2)
