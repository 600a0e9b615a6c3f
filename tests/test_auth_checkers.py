"""
Tests for L{keepsip.auth.checkers}: C{--auth TYPE:ARGS} found as plugins,
keepsip's own, Twisted's, and an operator's (C{tests/custom_auth}).
"""

from __future__ import annotations

import json
import os
import sys

from twisted.cred.strcred import ICheckerFactory
from twisted.plugin import pluginPackagePaths
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import keepsip.plugins
from keepsip.auth.checkers import CheckerFactory, availableCheckers, helpText, makeChecker
from keepsip.auth.digest import DigestCredentials
from keepsip.auth.htdigest import HtdigestChecker

from .test_auth_digest import respond
from .test_auth_htdigest import line

HERE = os.path.dirname(os.path.abspath(__file__))
CUSTOM = os.path.join(HERE, "custom_auth")


def credentials(user: str, password: str) -> DigestCredentials:
    return DigestCredentials.fromHeader(respond(user, password, "r", "n", "INVITE"), "INVITE")


class DiscoveryTests(SynchronousTestCase):
    def test_found(self) -> None:
        """
        keepsip's htdigest and Twisted's file checkers are found; Twisted's
        unix checker (plain passwords only, no digest) and memory checker
        (str user names) are not.
        """
        found = availableCheckers()
        self.assertIn("htdigest", found)
        self.assertIn("file", found)
        self.assertNotIn("unix", found)
        self.assertNotIn("memory", found)
        self.assertTrue(verifyObject(ICheckerFactory, found["htdigest"]))

    def test_helpText(self) -> None:
        """
        C{--help-auth} lists each type with its argument format.
        """
        text = helpText()
        self.assertIn("htdigest:path=VALUE", text)
        self.assertIn("file:", text)

    def test_none(self) -> None:
        """
        C{none} is no checker.
        """
        self.assertIsNone(makeChecker("none"))
        self.assertRaises(ValueError, makeChecker, "none:x")

    def test_htdigest(self) -> None:
        """
        C{htdigest:path=FILE} reads the file.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(line("alice", "r", "pw"))
        checker = makeChecker(f"htdigest:path={path}")
        self.assertIsInstance(checker, HtdigestChecker)
        self.assertEqual(self.successResultOf(checker.requestAvatarId(credentials("alice", "pw"))), "alice")

    def test_twistedFile(self) -> None:
        """
        Twisted's C{file:FILE} checker (C{user:password} lines) works with
        digest credentials.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("alice:pw\n")
        checker = makeChecker(f"file:{path}")
        self.assertEqual(
            self.successResultOf(checker.requestAvatarId(credentials("alice", "pw"))), b"alice"
        )
        self.failureResultOf(checker.requestAvatarId(credentials("alice", "no")))

    def test_errors(self) -> None:
        """
        Unknown types, unknown, missing or repeated arguments, and an
        unreadable file are one-line L{ValueError}s naming the problem.
        """
        for spec, fragment in (
            ("ldap:x=y", "unknown checker 'ldap'"),
            ("htdigest", "missing argument 'path'"),
            ("htdigest:path=a,path=b", "given twice"),
            ("htdigest:file=a", "unknown argument 'file'"),
            ("htdigest:path", "expected key=value"),
            ("htdigest:path=/nonexistent/users", "cannot read"),
            ("memory:alice:pw", "unknown checker 'memory'"),
        ):
            error = self.assertRaises(ValueError, makeChecker, spec)
            self.assertIn(fragment, str(error), spec)
            self.assertNotIn("\n", str(error))


class CustomCheckerTests(SynchronousTestCase):
    """
    An operator's package (C{tests/custom_auth}) with its own
    C{keepsip/plugins/acme_auth.py} adds the C{acme} type.
    """

    def test_inProcess(self) -> None:
        """
        With the package's directory on sys.path when keepsip.plugins
        computes its path (simulated by recomputing it), the acme type is
        found, made from its arguments, and checks digest credentials
        against its own user database.
        """
        self.assertNotIn("acme", availableCheckers())
        self.patch(sys, "path", [CUSTOM] + sys.path)
        self.patch(
            keepsip.plugins,
            "__path__",
            [keepsip.plugins.__path__[0]] + pluginPackagePaths("keepsip.plugins"),
        )
        self.addCleanup(sys.modules.pop, "acme_auth.checker", None)
        self.addCleanup(sys.modules.pop, "acme_auth", None)
        self.addCleanup(sys.modules.pop, "keepsip.plugins.acme_auth", None)
        found = availableCheckers()
        self.assertIsInstance(found["acme"], CheckerFactory)
        directory = self.mktemp()
        with open(directory, "w") as f:
            json.dump({"alice": "pw"}, f)
        checker = makeChecker(f"acme:directory={directory},tenant=t1")
        self.assertEqual(checker.tenant, "t1")
        self.assertEqual(self.successResultOf(checker.requestAvatarId(credentials("alice", "pw"))), "alice")
        self.failureResultOf(checker.requestAvatarId(credentials("alice", "no")))
        error = self.assertRaises(ValueError, makeChecker, "acme:directory=/nonexistent")
        self.assertIn("cannot read", str(error))
