"""
Tests for L{tests.helpers}, the helpers shared by keepsip's tests.
"""

from __future__ import annotations

import os
import socket
import sys
import unittest

from twisted.trial.unittest import FailTest, SynchronousTestCase

from tests import helpers


class RequireExternalTests(SynchronousTestCase):
    """
    L{helpers.requireExternal} finds a program, or skips, or fails.
    """

    def setUp(self) -> None:
        self.patch(os, "environ", dict(os.environ))
        os.environ.pop("KEEPSIP_REQUIRE_EXTERNAL", None)

    def test_found(self) -> None:
        """
        A program on PATH is returned as its path.
        """
        path = helpers.requireExternal(os.path.basename(sys.executable))
        self.assertTrue(os.access(path, os.X_OK), path)

    def test_missingSkips(self) -> None:
        """
        A missing program skips the test, naming the program.
        """
        e = self.assertRaises(unittest.SkipTest, helpers.requireExternal, "keepsip-no-such-program")
        self.assertIn("keepsip-no-such-program", str(e))

    def test_missingFailsWhenRequired(self) -> None:
        """
        With KEEPSIP_REQUIRE_EXTERNAL=1 a missing program fails the test
        instead (FailTest, not SkipTest), with the same reason.
        """
        os.environ["KEEPSIP_REQUIRE_EXTERNAL"] = "1"
        e = self.assertRaises(FailTest, helpers.requireExternal, "keepsip-no-such-program")
        self.assertIn("keepsip-no-such-program is not installed", str(e))

    def test_otherValuesDoNotRequire(self) -> None:
        """
        Only the value "1" turns skips into failures.
        """
        os.environ["KEEPSIP_REQUIRE_EXTERNAL"] = "0"
        self.assertRaises(unittest.SkipTest, helpers.requireExternal, "keepsip-no-such-program")


class FreePortTests(SynchronousTestCase):
    """
    L{helpers.freeUDPPort} and L{helpers.freeTCPPort} return bindable ports.
    """

    def assertBindable(self, kind: socket.SocketKind, port: int) -> None:
        self.assertTrue(0 < port < 65536, port)
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))

    def test_udp(self) -> None:
        """
        The UDP port can be bound on 127.0.0.1 right after.
        """
        self.assertBindable(socket.SOCK_DGRAM, helpers.freeUDPPort())

    def test_tcp(self) -> None:
        """
        The TCP port can be bound on 127.0.0.1 right after.
        """
        self.assertBindable(socket.SOCK_STREAM, helpers.freeTCPPort())
