"""
Tests for the termination of a reaped call (patent claim 6): the BYEs to
both legs, the end they lead to, and what happens when ending fails.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.keepalive.manager import KeepaliveManager, KeepaliveSettings
from keepsip.keepalive.termination import BYES_FAILED, Terminator
from keepsip.sip.headers import cseq, fromHeader, toHeader, topVia
from keepsip.sip.message import Request, Response

from ._keepalive import KeepaliveTestCase
from keepsip.testing import ALICE, BOB, answer


class RecordingTransactions:
    """
    Starts no real client transaction: records each request and its user,
    and raises L{failWith} for the first L{failures} requests.
    """

    def __init__(self, failures: int = 0) -> None:
        self.started: list[tuple[Request, tuple[str, int], Any]] = []
        self.failures = failures

    def request(self, message: Request, address: tuple[str, int], user: Any) -> object:
        if self.failures:
            self.failures -= 1
            raise ValueError("the transport refused the BYE")
        self.started.append((message, address, user))
        return object()

    def answerAll(self, code: int = 200) -> None:
        """
        Give every started BYE the final answer C{code}.
        """
        started, self.started = self.started, []
        for message, address, user in started:
            user.responseReceived(Response(code), None)


class FailingTracker(DialogTracker):
    """
    A dialog tracker whose C{terminate} raises the first C{failures} times.
    """

    def __init__(self, clock: Clock, store: MemoryDialogStore, failures: int) -> None:
        DialogTracker.__init__(self, clock, store, "<sip:192.0.2.1:5060;lr>")
        self.failures = failures

    def terminate(self, dialog: Dialog, cause: str, detail: dict[str, str], **kw: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("ending the dialog failed")
        DialogTracker.terminate(self, dialog, cause, detail, **kw)


class ExpiryFailureTests(SynchronousTestCase):
    """
    A reaped call always ends, and the reaper hears when ending it failed.
    """

    def makeManager(
        self, trackerFailures: int = 0, sendFailures: int = 0, **settings: Any
    ) -> tuple[KeepaliveManager, Dialog]:
        self.clock = Clock()
        self.store = MemoryDialogStore()
        self.tracker = FailingTracker(self.clock, self.store, trackerFailures)
        self.transactions = RecordingTransactions(sendFailures)
        settings.setdefault("reap", "require")
        manager = KeepaliveManager(
            self.clock,
            KeepaliveSettings(**settings),
            self.store,
            self.tracker,
            Terminator(self.tracker, self.transactions.request, "192.0.2.1:5060"),
        )
        self.tracker.addObserver(manager)
        dialog = Dialog(
            callID="call-1",
            caller=Leg("sip:alice@example.com", tag="a", cseq=1,
                       remoteTarget="sip:alice@192.0.2.10:5060", source=("192.0.2.10", 5060)),
            callee=Leg("sip:bob@example.com", tag="b", cseq=0,
                       remoteTarget="sip:bob@192.0.2.20:5060", source=("192.0.2.20", 5060)),
            requestURI="sip:bob@example.com",
            invitedAt=0.0,
            state=DialogState.CONFIRMED,
            answeredAt=0.0,
        )
        self.store.add(dialog)
        manager.dialogConfirmed(dialog)
        return manager, dialog

    def test_terminateFailureIsCountedAndRetried(self) -> None:
        """
        When ending the dialog raises once, the reaper's Deferred fails (its
        failure counter counts it), the end is retried, and the call ends
        with cause C{keepalive-timeout} and leaves the store.
        """
        manager, dialog = self.makeManager(trackerFailures=1)
        tick = manager.reaper.reapExpired(61.0)
        self.transactions.answerAll()
        # The retry sent the BYEs again.
        self.transactions.answerAll()
        self.successResultOf(tick)
        self.assertEqual(manager.reaper.failures, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertTrue(dialog.isTerminated)
        self.assertEqual(dialog.endCause, EndCause.KEEPALIVE_TIMEOUT)
        self.assertIsNone(self.store.getByCallKey(dialog.callKey))

    def test_persistentFailureForceEnds(self) -> None:
        """
        When every attempt to send the BYEs fails, the call is still ended,
        with a stop detail saying the BYEs could not be completed; the
        reaper counts the failure.
        """
        manager, dialog = self.makeManager(sendFailures=10)
        tick = manager.reaper.reapExpired(61.0)
        self.successResultOf(tick)
        self.assertEqual(manager.reaper.failures, 1)
        self.flushLoggedErrors(ValueError)
        self.assertTrue(dialog.isTerminated)
        self.assertEqual(dialog.endCause, EndCause.KEEPALIVE_TIMEOUT)
        self.assertIn(BYES_FAILED, dialog.endDetail["why"])
        self.assertIsNone(self.store.getByCallKey(dialog.callKey))

    def test_maxDurationFailureForceEnds(self) -> None:
        """
        The maximum-duration reaper gets the same treatment: a failed end is
        counted and the call ends with cause C{max-duration}.
        """
        manager, dialog = self.makeManager(sendFailures=10, reap="off", maxDuration=100.0)
        tick = manager.maxReaper.reapExpired(100.0)
        self.successResultOf(tick)
        self.assertEqual(manager.maxReaper.failures, 1)
        self.flushLoggedErrors(ValueError)
        self.assertTrue(dialog.isTerminated)
        self.assertEqual(dialog.endCause, EndCause.MAX_DURATION)
        self.assertIn(BYES_FAILED, dialog.endDetail["why"])
        self.assertIsNone(self.store.getByCallKey(dialog.callKey))

    def test_successIsNoFailure(self) -> None:
        """
        A termination whose BYEs are answered is not a reaper failure, and
        the tick's Deferred waits for the answers.
        """
        manager, dialog = self.makeManager()
        tick = manager.reaper.reapExpired(61.0)
        self.assertNoResult(tick)
        self.assertEqual(len(self.transactions.started), 2)
        self.transactions.answerAll()
        self.successResultOf(tick)
        self.assertEqual(manager.reaper.failures, 0)
        self.assertEqual(dialog.endCause, EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual(dialog.endDetail["callee"], "answered")


class ByeTests(KeepaliveTestCase):
    """
    The BYEs keepsip sends when a call's keepalives stopped, and the causes
    their answers give.
    """

    def causeFor(self, answerCaller, answerCallee):
        self.makeProxy(reap="require")
        self.establish()
        _, byes = self.reapWithin(70)
        for address, how in ((ALICE, answerCaller), (BOB, answerCallee)):
            if isinstance(how, int):
                self.proxy.receive(answer(byes[address], how, "X", toTag=None), address)
            elif how == "icmp":
                self.proxy.service.transactions.transportError(address)
        self.proxy.clock.advance(40)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual(name, "terminated")
        self.assertEqual(cause, EndCause.KEEPALIVE_TIMEOUT)
        return detail

    def test_byeHeadersFieldByField(self):
        """
        Each BYE is a new in-dialog request in its leg's orientation: to Bob
        From Alice's URI and tag, To Bob's, CSeq above Alice's last; to Alice
        the reverse with CSeq above Bob's; Request-URI the leg's Contact;
        keepsip's Via with a fresh branch; a Reason header.
        """
        self.makeProxy(reap="require")
        self.establish()
        _, byes = self.reapWithin(70)
        toBob, toAlice = byes[BOB], byes[ALICE]
        self.assertEqual(toBob.uri.toString(), "sip:bob@192.0.2.20:5060")
        self.assertEqual(fromHeader(toBob).tag, "alicetag")
        self.assertEqual(toHeader(toBob).tag, "bobtag")
        self.assertEqual(cseq(toBob).number, 2)
        self.assertEqual(cseq(toBob).method, "BYE")
        self.assertEqual(toBob.header("call-id"), "call-1")
        self.assertEqual(toAlice.uri.toString(), "sip:alice@192.0.2.10:5060")
        self.assertEqual(fromHeader(toAlice).tag, "bobtag")
        self.assertEqual(toHeader(toAlice).tag, "alicetag")
        self.assertEqual(cseq(toAlice).number, 1)
        for bye in (toBob, toAlice):
            via = topVia(bye)
            self.assertEqual((via.host, via.port), ("192.0.2.1", 5060))
            self.assertTrue(via.branch.startswith("z9hG4bK"))
            self.assertEqual(len(bye.headers["via"]), 1)
            self.assertNotIn("route", bye.headers)
            self.assertIn("keepalive", bye.header("reason"))
        self.assertNotEqual(topVia(toBob).branch, topVia(toAlice).branch)

    def test_byeRetransmittedOverUDP(self):
        """
        keepsip's BYE is a non-INVITE client transaction: unanswered, it is
        retransmitted (timer E) until timer F.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.reapWithin(70)
        self.proxy.clock.advance(0.5)
        again = self.byes(self.proxy.sent())
        self.assertEqual(set(again), {ALICE, BOB})

    def test_causeCallerEndedDirectly(self):
        """
        481 from the caller: it had already ended the call (e.g. a BYE sent
        directly to the callee) — claims 7-8.
        """
        detail = self.causeFor(481, 200)
        self.assertEqual(detail["caller"], "gone")
        self.assertEqual(detail["callee"], "answered")
        self.assertIn("481", detail["why"])

    def test_causeCallerUnreachable(self):
        """
        No answer from the caller at all (timer F): unreachable, crashed or
        link down.
        """
        detail = self.causeFor(None, 200)
        self.assertEqual(detail["caller"], "unreachable")
        self.assertIn("unreachable", detail["why"])

    def test_causeCallerRefused(self):
        """
        An ICMP port unreachable for the caller's address: the host is up but
        the endpoint process is gone.
        """
        detail = self.causeFor("icmp", 200)
        self.assertEqual(detail["caller"], "refused")

    def test_causeCallerStillUp(self):
        """
        200 from both: the caller is still up, its keepalives got lost.
        """
        detail = self.causeFor(200, 200)
        self.assertEqual(detail["caller"], "answered")
        self.assertIn("still up", detail["why"])
