"""
Helpers shared by keepsip's tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import unittest

from twisted.trial.unittest import FailTest


def externalRequired() -> bool:
    """
    Whether missing external programs must fail tests instead of skipping
    them: the environment variable C{KEEPSIP_REQUIRE_EXTERNAL} is C{"1"} (set
    by C{scripts/test} under CI or with C{--require-external}).
    """
    return os.environ.get("KEEPSIP_REQUIRE_EXTERNAL") == "1"


def skipOrFail(reason: str) -> None:
    """
    Skip the running test with C{reason}, or fail it if
    L{externalRequired}.

    @raise unittest.SkipTest: normally.
    @raise FailTest: (an L{AssertionError}) when external programs are
        required, so trial counts a failure.
    """
    if externalRequired():
        raise FailTest(f"{reason} (KEEPSIP_REQUIRE_EXTERNAL=1)")
    raise unittest.SkipTest(reason)


def requireExternal(binaryName: str) -> str:
    """
    Find an external program a test needs.

    @param binaryName: the program's name, e.g. C{"sipp"}.
    @return: its path, as found by L{shutil.which}.
    @raise unittest.SkipTest: if it is missing.
    @raise FailTest: if it is missing and C{KEEPSIP_REQUIRE_EXTERNAL=1}.
    """
    path = shutil.which(binaryName)
    if path is None:
        skipOrFail(f"{binaryName} is not installed (scripts/test installs it)")
    assert path is not None
    return path


def _freePort(kind: socket.SocketKind, host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def freeUDPPort(host: str = "127.0.0.1") -> int:
    """
    A UDP port that was free on C{host} a moment ago (the system picked it
    for a socket that is closed again).  Another process may take it before
    the caller binds it; prefer listening on port 0 where possible.
    """
    return _freePort(socket.SOCK_DGRAM, host)


def freeTCPPort(host: str = "127.0.0.1") -> int:
    """
    A TCP port that was free on C{host} a moment ago; see L{freeUDPPort}.
    """
    return _freePort(socket.SOCK_STREAM, host)
