"""
Tests for L{keepsip.auth.digest}: reading digest responses and checking
them, with the RFC's own arithmetic and against C{twisted.cred} checkers.
"""

from __future__ import annotations

import hashlib

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernameDigestHash, IUsernameHashedPassword
from twisted.cred.error import UnauthorizedLogin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.auth.digest import (
    DigestCredentials,
    MalformedCredentials,
    UnknownAlgorithm,
    challenge,
    ha1,
    parseDigest,
)


def respond(
    user: str,
    password: str,
    realm: str,
    nonce: str,
    method: str = "REGISTER",
    uri: str = "sip:example.com",
    algorithm: str = "MD5",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    qop: bool = True,
) -> str:
    """
    An Authorization value computed independently of keepsip, as a client
    would (RFC 2617 §3.2.2 / RFC 8760).
    """
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    a1 = h(f"{user}:{realm}:{password}".encode()).hexdigest()
    a2 = h(f"{method}:{uri}".encode()).hexdigest()
    if qop:
        response = h(f"{a1}:{nonce}:{nc}:{cnonce}:auth:{a2}".encode()).hexdigest()
        tail = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = h(f"{a1}:{nonce}:{a2}".encode()).hexdigest()
        tail = ""
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}{tail}'
    )


class ParseTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        Parameters come back by lower-case name, quotes and quoted-pairs
        removed, commas inside quotes kept.
        """
        params = parseDigest('Digest Username="a\\"b", realm="x,y", nc=00000001')
        self.assertEqual(params, {"username": 'a"b', "realm": "x,y", "nc": "00000001"})

    def test_malformed(self) -> None:
        """
        Each malformed value raises L{MalformedCredentials}, never anything
        else.
        """
        for value in (
            'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
            'Digest username="alice',
            "Digest username",
            'Digest username="a", username="b"',
            'Digest username=a"b',
            "",
        ):
            self.assertRaises(MalformedCredentials, parseDigest, value)

    def test_missingParameters(self) -> None:
        """
        A response without username, realm, nonce, uri or response, with a
        non-hex response, a qop other than auth, a bad nc or no cnonce is
        malformed.
        """
        good = respond("alice", "pw", "r", "n")
        self.assertIsInstance(DigestCredentials.fromHeader(good, "REGISTER"), DigestCredentials)
        for value in (
            good.replace('username="alice", ', ""),
            good.replace('realm="r", ', ""),
            good.replace('nonce="n", ', ""),
            good.replace('uri="sip:example.com", ', ""),
            'Digest username="a", realm="r", nonce="n", uri="u", response="zz"',
            good.replace("qop=auth", "qop=auth-int"),
            good.replace("nc=00000001", "nc=1"),
            good.replace(', cnonce="0a4f113b"', ""),
        ):
            self.assertRaises(MalformedCredentials, DigestCredentials.fromHeader, value, "INVITE")

    def test_unknownAlgorithm(self) -> None:
        """
        An algorithm keepsip does not verify raises L{UnknownAlgorithm}
        naming it; the names are case-insensitive.
        """
        value = respond("alice", "pw", "r", "n").replace("algorithm=MD5", "algorithm=MD5-sess")
        error = self.assertRaises(UnknownAlgorithm, DigestCredentials.fromHeader, value, "INVITE")
        self.assertIn("MD5-sess", str(error))
        lower = respond("alice", "pw", "r", "n", algorithm="SHA-256").replace("SHA-256", "sha-256")
        self.assertEqual(DigestCredentials.fromHeader(lower, "REGISTER").algorithm, "SHA-256")


class CheckTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """
        The credentials provide both interfaces checkers accept.
        """
        credentials = DigestCredentials.fromHeader(respond("a", "p", "r", "n"), "REGISTER")
        self.assertTrue(verifyObject(IUsernameDigestHash, credentials))
        self.assertTrue(verifyObject(IUsernameHashedPassword, credentials))

    def test_md5AndSha256(self) -> None:
        """
        A response computed by a client with MD5 or SHA-256, with qop=auth or
        without qop, checks against the right password or HA1 and not
        against a wrong one.
        """
        for algorithm in ("MD5", "SHA-256"):
            for qop in (True, False):
                value = respond("alice", "pw", "sip.test", "abc", algorithm=algorithm, qop=qop)
                credentials = DigestCredentials.fromHeader(value, "REGISTER")
                self.assertTrue(credentials.checkPassword("pw"))
                self.assertTrue(credentials.checkHash(ha1(algorithm, "alice", "sip.test", "pw")))
                self.assertFalse(credentials.checkPassword("wrong"))
                self.assertFalse(credentials.checkHash(ha1(algorithm, "alice", "other", "pw")))

    def test_methodBound(self) -> None:
        """
        The method is part of the digest: a REGISTER's response does not
        authenticate an INVITE.
        """
        value = respond("alice", "pw", "r", "n", method="REGISTER")
        self.assertFalse(DigestCredentials.fromHeader(value, "INVITE").checkPassword("pw"))

    def test_twistedChecker(self) -> None:
        """
        Twisted's own in-memory checker accepts the credentials with the
        right password and refuses them with a wrong one.
        """
        checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"pw")
        good = DigestCredentials.fromHeader(respond("alice", "pw", "r", "n"), "REGISTER")
        bad = DigestCredentials.fromHeader(respond("alice", "nope", "r", "n"), "REGISTER")
        self.assertEqual(self.successResultOf(checker.requestAvatarId(good)), b"alice")
        self.failureResultOf(checker.requestAvatarId(bad), UnauthorizedLogin)


class ChallengeTests(SynchronousTestCase):
    def test_challenge(self) -> None:
        """
        A challenge offers qop=auth and says stale only when asked; the realm
        is quoted.
        """
        value = challenge('a"b', "n1", "SHA-256")
        self.assertEqual(
            parseDigest(value),
            {"realm": 'a"b', "nonce": "n1", "algorithm": "SHA-256", "qop": "auth"},
        )
        self.assertEqual(parseDigest(challenge("r", "n", "MD5", stale=True))["stale"], "true")
