"""
Test doubles for code that uses keepsip, shipped with it (like
C{treq.testing}).

L{RecordingBackend} is an accounting backend that keeps records in a list and
can be told to fail, to hold records in flight, or to fail to start::

    backend = RecordingBackend()
    tracker = AccountingTracker([("test", backend)], clock, spoolDir)
    ...
    assert [r["type"] for r in backend.records] == ["start", "stop"]
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from keepsip.interfaces import IAccountingBackend


class BackendUnavailable(Exception):
    """
    The failure a L{RecordingBackend} told to fail gives.
    """


@implementer(IAccountingBackend)
class RecordingBackend:
    """
    An L{IAccountingBackend} that records what it accepts.

    @ivar records: the accepted records, in order of acceptance.
    @ivar attempts: every record offered to L{sendRecord}, accepted or not.
    @ivar failing: when true, L{sendRecord} fails with L{BackendUnavailable}.
    @ivar holding: when true, L{sendRecord} returns a Deferred kept in
        L{held} until L{release} (or L{releaseFailing}).
    @ivar held: C{(record, Deferred)} pairs of records in flight.
    @ivar readyResult: what L{ready} gives: L{None} to succeed, an exception
        to fail with.
    @ivar closed: whether L{close} was called.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.records: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.failing = False
        self.holding = False
        self.held: list[tuple[dict[str, Any], Deferred]] = []
        self.readyResult: BaseException | None = None
        self.closed = False

    @property
    def recordIDs(self) -> list[str]:
        """
        The C{record_id} of each accepted record, in order.
        """
        return [record["record_id"] for record in self.records]

    def fail(self) -> None:
        """
        Fail every record from now on (the destination is down).
        """
        self.failing = True

    def recover(self) -> None:
        """
        Accept records again.
        """
        self.failing = False

    def ready(self) -> Deferred:
        if self.readyResult is not None:
            return fail(self.readyResult)
        return succeed(None)

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        self.attempts.append(record)
        if self.failing:
            return fail(BackendUnavailable("recording backend told to fail"))
        if self.holding:
            d: Deferred = Deferred()
            self.held.append((record, d))
            return d
        self.records.append(record)
        return succeed(None)

    def release(self) -> None:
        """
        Accept every held record, oldest first.
        """
        held, self.held = self.held, []
        for record, d in held:
            if not d.called:
                self.records.append(record)
                d.callback(None)

    def releaseFailing(self) -> None:
        """
        Fail every held record.
        """
        held, self.held = self.held, []
        for _, d in held:
            if not d.called:
                d.errback(BackendUnavailable("held record failed"))

    def close(self) -> Deferred:
        self.closed = True
        return succeed(None)
