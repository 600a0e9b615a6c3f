"""
Tests for L{keepsip.auth.htdigest}: the htdigest file checker, its reload,
and its errors.
"""

from __future__ import annotations

import os

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.auth.digest import DigestCredentials, ha1
from keepsip.auth.htdigest import HtdigestChecker, readHtdigest

from .test_auth_digest import respond


def line(user: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    return f"{user}:{realm}:{ha1(algorithm, user, realm, password)}\n"


class HtdigestTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = self.mktemp()
        self.write(
            "# users\n\n"
            + line("alice", "sip.test", "wonderland")
            + line("alice", "sip.test", "wonderland", "SHA-256")
            + line("bob", "other.realm", "builder")
        )

    def write(self, text: str) -> None:
        with open(self.path, "w") as f:
            f.write(text)

    def check(self, checker: HtdigestChecker, value: str) -> object:
        return checker.requestAvatarId(DigestCredentials.fromHeader(value, "REGISTER"))

    def test_interface(self) -> None:
        """
        The checker is an L{ICredentialsChecker}.
        """
        self.assertTrue(verifyObject(ICredentialsChecker, HtdigestChecker(self.path)))

    def test_read(self) -> None:
        """
        32 hex digits are an MD5 HA1, 64 a SHA-256 one; comments and blank
        lines are skipped.
        """
        table = readHtdigest(self.path)
        self.assertEqual(
            sorted(table),
            [
                ("alice", "sip.test", "MD5"),
                ("alice", "sip.test", "SHA-256"),
                ("bob", "other.realm", "MD5"),
            ],
        )

    def test_authenticates(self) -> None:
        """
        The right password with MD5 or SHA-256 gives the user name; a wrong
        password, an unknown user, and a realm the user has no line for
        fail with L{UnauthorizedLogin}.
        """
        checker = HtdigestChecker(self.path)
        for algorithm in ("MD5", "SHA-256"):
            value = respond("alice", "wonderland", "sip.test", "n", algorithm=algorithm)
            self.assertEqual(self.successResultOf(self.check(checker, value)), "alice")
        for value in (
            respond("alice", "wrong", "sip.test", "n"),
            respond("carol", "wonderland", "sip.test", "n"),
            respond("bob", "builder", "sip.test", "n"),
        ):
            self.failureResultOf(self.check(checker, value), UnauthorizedLogin)

    def test_sha256NeedsItsLine(self) -> None:
        """
        A user with only an MD5 line (all that htdigest writes) cannot use
        SHA-256.
        """
        checker = HtdigestChecker(self.path)
        value = respond("bob", "builder", "other.realm", "n", algorithm="SHA-256")
        self.failureResultOf(self.check(checker, value), UnauthorizedLogin)
        value = respond("bob", "builder", "other.realm", "n")
        self.assertEqual(self.successResultOf(self.check(checker, value)), "bob")

    def test_unreadable(self) -> None:
        """
        A missing file is a one-line L{ValueError} naming it.
        """
        error = self.assertRaises(ValueError, HtdigestChecker, self.path + ".missing")
        self.assertIn(".missing", str(error))
        self.assertNotIn("\n", str(error))

    def test_malformed(self) -> None:
        """
        A malformed line is a one-line error naming the file and line.
        """
        for bad in ("alice:sip.test\n", "alice:sip.test:xyz\n", ":r:" + "0" * 32 + "\n"):
            self.write("# ok\n" + bad)
            error = self.assertRaises(ValueError, readHtdigest, self.path)
            self.assertIn(f"{self.path}:2", str(error))

    def test_reload(self) -> None:
        """
        A reload reads the new users; a reload of an unreadable or
        malformed file keeps the old ones.
        """
        checker = HtdigestChecker(self.path)
        self.write(line("carol", "sip.test", "pw"))
        self.assertTrue(checker.reload())
        self.assertEqual(
            self.successResultOf(self.check(checker, respond("carol", "pw", "sip.test", "n"))),
            "carol",
        )
        self.write("garbage\n")
        self.assertFalse(checker.reload())
        os.remove(self.path)
        self.assertFalse(checker.reload())
        self.assertEqual(checker.users, 1)
        self.assertEqual(
            self.successResultOf(self.check(checker, respond("carol", "pw", "sip.test", "n"))),
            "carol",
        )
        self.assertEqual(len(self.flushLoggedErrors()), 0)
