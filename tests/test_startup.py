"""
Tests for L{keepsip.startup}: the one-line start-up errors.
"""

from __future__ import annotations

import errno
import io

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase

from keepsip.startup import EXIT_STATUS, HINT, StartupError, exitWithError, listenError


class ListenErrorTests(SynchronousTestCase):
    def test_reasons(self) -> None:
        """
        The socket error behind a L{CannotListenError} becomes a phrase an
        operator can act on, after the option and the value it named.
        """
        cases = [
            (errno.EADDRINUSE, "address already in use"),
            (errno.EADDRNOTAVAIL, "192.0.2.1 is not an address of this machine"),
            (errno.EACCES, "permission denied (ports below 1024 need privileges)"),
            (errno.EINVAL, "invalid argument"),
        ]
        for code, phrase in cases:
            error = CannotListenError("192.0.2.1", 5060, OSError(code, "Invalid argument"))
            self.assertEqual(
                str(listenError("listen", "udp:192.0.2.1:5060", error)),
                f"--listen: udp:192.0.2.1:5060: cannot listen: {phrase}",
            )


class ExitWithErrorTests(SynchronousTestCase):
    def test_oneLineAndHint(self) -> None:
        """
        exitWithError writes the message and the hint, two lines, and exits
        with EXIT_STATUS (non-zero).
        """
        stream = io.StringIO()
        e = self.assertRaises(
            SystemExit, exitWithError, str(StartupError("metrics", "x")), stream, False
        )
        self.assertEqual(e.code, EXIT_STATUS)
        self.assertNotEqual(EXIT_STATUS, 0)
        self.assertEqual(stream.getvalue(), f"keepsip: --metrics: x\n{HINT}\n")
