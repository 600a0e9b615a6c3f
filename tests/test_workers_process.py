"""
Tests for L{keepsip.workers.process}: the worker notices that its
supervisor is gone. (The whole worker runs in
tests/integration/test_workers.py.)
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from keepsip.workers.process import ParentWatch


class ParentWatchTests(TestCase):
    def test_closedInputCallsLost(self) -> None:
        """
        Data on standard input is ignored; its end (the supervisor's side
        closed) calls C{lost} once.
        """
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.addCleanup(lambda: os.close(read) if _isOpen(read) else None)
        lost: Deferred[None] = Deferred()
        watch = ParentWatch(reactor, read, lambda: lost.callback(None))
        watch.startReading()
        os.write(write, b"ignored")
        reactor.callLater(0.05, os.close, write)  # type: ignore[attr-defined]
        lost.addTimeout(5, reactor)
        return lost


def _isOpen(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
