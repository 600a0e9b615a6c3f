"""
Tests for L{keepsip.dialog.tracker} and L{keepsip.dialog.observer}: the
dialog states, the events observers get, termination and the store.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.model import Dialog, DialogState, EndCause
from keepsip.dialog.observer import DialogObserver
from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.interfaces import IDialogObserver
from keepsip.sip.message import Request
from keepsip.sip.sdp import offerDigest
from keepsip.testing import RecordingObserver
from keepsip.transaction.testing import makeRequest, makeResponse

RECORD_ROUTE = "<sip:192.0.2.1:5060;lr>"
ALICE = ("192.0.2.10", 5060)
BOB = ("192.0.2.20", 5060)


class Exploding(DialogObserver):
    """
    An observer that raises on confirmation.
    """

    def dialogConfirmed(self, dialog: Dialog) -> None:
        raise RuntimeError("observer broke")


class TrackerTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(100)
        self.store = MemoryDialogStore()
        self.tracker = DialogTracker(self.clock, self.store, RECORD_ROUTE)
        self.recorder = RecordingObserver()
        self.tracker.addObserver(self.recorder)
        self.invite = makeRequest("INVITE", fromTag="alicetag", callID="call-1")
        self.invite.addHeader("contact", "<sip:alice@192.0.2.10:5060>")

    def confirm(self, sessionExpires: str | None = None) -> Dialog:
        """
        Alice's INVITE passes; Bob answers 200 (with Record-Route).
        """
        dialog = self.tracker.initialInvite(self.invite, ALICE)
        assert dialog is not None
        ok = makeResponse(self.invite, 200, toTag="bobtag")
        ok.addHeader("contact", "<sip:bob@192.0.2.20:5060>")
        ok.addHeader("record-route", RECORD_ROUTE)
        if sessionExpires is not None:
            ok.addHeader("session-expires", sessionExpires)
        self.clock.advance(2)
        self.tracker.inviteResponse(self.invite, ok, source=BOB)
        return dialog

    def inDialog(self, method: str, fromTag: str, toTag: str, number: int) -> Request:
        return makeRequest(
            method, branch=f"z9hG4bK{method}{number}", cseqNumber=number,
            callID="call-1", fromTag=fromTag, toTag=toTag,
        )


class StateTests(TrackerTestCase):
    def test_initialInviteCreatesTrying(self) -> None:
        """
        An initial INVITE makes a stored dialog in state I{trying} with the
        caller's tag, CSeq and address, and raises C{dialogCreated}.
        """
        dialog = self.tracker.initialInvite(self.invite, ALICE)
        assert dialog is not None
        self.assertEqual(dialog.state, DialogState.TRYING)
        self.assertEqual((dialog.caller.tag, dialog.caller.cseq), ("alicetag", 1))
        self.assertEqual(dialog.caller.source, ALICE)
        self.assertIs(self.store.getByCallKey(("call-1", "alicetag")), dialog)
        self.assertEqual(self.recorder.events, [("created", dialog)])

    def test_provisionalMakesEarly(self) -> None:
        """
        A tagged provisional response makes the dialog I{early} with the
        callee's tag; C{dialogEarly} is raised once.
        """
        dialog = self.tracker.initialInvite(self.invite, ALICE)
        ringing = makeResponse(self.invite, 180, toTag="bobtag")
        self.tracker.inviteResponse(self.invite, ringing)
        self.tracker.inviteResponse(self.invite, ringing)
        assert dialog is not None
        self.assertEqual(dialog.state, DialogState.EARLY)
        self.assertEqual(dialog.callee.tag, "bobtag")
        self.assertEqual(self.recorder.names(), ["created", "early"])

    def test_okConfirms(self) -> None:
        """
        A 2xx confirms the dialog: answer time, callee's tag, target and
        address, the negotiated session interval; found by dialog ID in both
        orientations; C{dialogConfirmed} raised once.
        """
        dialog = self.confirm(sessionExpires="1800;refresher=uac")
        self.assertEqual(dialog.state, DialogState.CONFIRMED)
        self.assertEqual(dialog.answeredAt, 102.0)
        self.assertEqual(dialog.callee.remoteTarget, "sip:bob@192.0.2.20:5060")
        self.assertEqual(dialog.callee.source, BOB)
        self.assertEqual(dialog.sessionExpires, 1800)
        self.assertIs(self.store.getByDialogID(("call-1", "bobtag", "alicetag")), dialog)
        self.assertEqual(self.recorder.names(), ["created", "confirmed"])

    def test_noSessionExpires(self) -> None:
        """
        A 2xx without Session-Expires leaves C{sessionExpires} L{None}.
        """
        self.assertIsNone(self.confirm().sessionExpires)

    def test_rejectionTerminates(self) -> None:
        """
        A non-2xx final ends the dialog as C{rejected} and removes it from
        the store.
        """
        dialog = self.tracker.initialInvite(self.invite, ALICE)
        self.tracker.inviteResponse(self.invite, makeResponse(self.invite, 486))
        assert dialog is not None
        self.assertEqual(dialog.endCause, EndCause.REJECTED)
        self.assertEqual(dialog.endDetail, {"callee": "486"})
        self.assertEqual(len(self.store), 0)
        self.assertEqual(self.recorder.names(), ["created", "terminated"])


class ByeTests(TrackerTestCase):
    def test_byeEndsAtItsArrival(self) -> None:
        """
        A BYE from the callee marks the dialog as ending at its arrival; its
        answer ends the dialog as C{callee-bye} at that time.
        """
        dialog = self.confirm()
        bye = self.inDialog("BYE", "bobtag", "alicetag", 5)
        self.clock.advance(60)
        self.tracker.inDialogRequest(bye, BOB)
        self.assertEqual(dialog.ending, ("callee", 162.0))
        self.assertEqual(dialog.callee.cseq, 5)
        self.clock.advance(1)
        self.tracker.byeAnswered(bye, makeResponse(bye, 200, toTag=None))
        self.assertTrue(dialog.isTerminated)
        self.assertEqual(dialog.endCause, EndCause.CALLEE_BYE)
        self.assertEqual(dialog.endedAt, 162.0)
        self.assertEqual(dialog.detectedAt, 163.0)
        self.assertEqual(dialog.endDetail, {"callee": "BYE", "caller": "200"})
        self.assertEqual(len(self.store), 0)


class TerminateTests(TrackerTestCase):
    def test_terminate(self) -> None:
        """
        C{terminate} records cause, detail and times, removes the dialog
        from the store and raises C{dialogTerminated} once, even if called
        again.
        """
        dialog = self.confirm()
        self.tracker.terminate(dialog, EndCause.KEEPALIVE_TIMEOUT, {"why": "x"}, endedAt=101.0)
        self.tracker.terminate(dialog, EndCause.ERROR, {})
        self.assertEqual(dialog.endCause, EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual((dialog.endedAt, dialog.detectedAt), (101.0, 102.0))
        self.assertIsNone(self.store.getByCallKey(dialog.callKey))
        self.assertEqual(
            self.recorder.events[-1],
            ("terminated", dialog, EndCause.KEEPALIVE_TIMEOUT, {"why": "x"}),
        )
        self.assertEqual(self.recorder.names().count("terminated"), 1)


class EventTests(TrackerTestCase):
    def test_keptAliveAndExpired(self) -> None:
        """
        The events the keepalive layer raises reach every observer.
        """
        dialog = self.confirm()
        self.tracker.keptAlive(dialog)
        self.tracker.expired(dialog)
        self.assertEqual(self.recorder.names()[-2:], ["keptAlive", "expired"])

    def test_failingObserverIsLogged(self) -> None:
        """
        An observer that raises is logged and does not keep the event from
        the observers after it.
        """
        self.tracker.observers.insert(0, Exploding())
        self.confirm()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.recorder.names(), ["created", "confirmed"])

    def test_baseObserverIsComplete(self) -> None:
        """
        L{DialogObserver} provides every event of L{IDialogObserver}, so a
        subclass may override only some; each does nothing.
        """
        observer = DialogObserver()
        self.assertTrue(verifyObject(IDialogObserver, observer))
        self.tracker.addObserver(observer)
        dialog = self.confirm()
        self.tracker.keptAlive(dialog)
        self.tracker.expired(dialog)
        self.tracker.terminate(dialog, EndCause.ERROR, {})
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_removeObserver(self) -> None:
        """
        A removed observer hears nothing more.
        """
        self.tracker.removeObserver(self.recorder)
        self.confirm()
        self.assertEqual(self.recorder.events, [])


class OfferTests(TrackerTestCase):
    def test_offerDigestedWhenAnswered(self) -> None:
        """
        The offer's body is kept until the call is answered: the observers
        of the answer see it, then the dialog keeps only its digest (what
        tells a keepalive); an INVITE without SDP leaves neither.
        """
        offer = b"v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n"
        self.invite.addHeader("content-type", "application/sdp")
        self.invite.body = offer
        seen: list[tuple[bytes, bytes]] = []

        class Watcher(DialogObserver):
            def dialogCreated(self, dialog: Dialog) -> None:
                seen.append((dialog.lastOfferSDP, dialog.offerDigest))

            def dialogConfirmed(self, dialog: Dialog) -> None:
                seen.append((dialog.lastOfferSDP, dialog.offerDigest))

        self.tracker.addObserver(Watcher())
        dialog = self.confirm()
        self.assertEqual(seen, [(offer, b""), (offer, offerDigest(offer))])
        self.assertEqual(dialog.lastOfferSDP, b"")
        self.assertEqual(dialog.offerDigest, offerDigest(offer))
        self.assertTrue(dialog.hasOffer)

    def test_noOffer(self) -> None:
        """
        An INVITE without a body (a late offer) leaves no digest.
        """
        dialog = self.confirm()
        self.assertEqual((dialog.lastOfferSDP, dialog.offerDigest), (b"", b""))
        self.assertFalse(dialog.hasOffer)
