"""
Tests for L{keepsip.transaction.server}: server transactions driven through
L{keepsip.transaction.layer.TransactionLayer.requestReceived}.
"""

from __future__ import annotations

import weakref

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction import TimerSettings, TransactionLayer
from keepsip.transaction.testing import (
    RecordingSender,
    RecordingTransactionUser,
    advanceTo,
    makeAck,
    makeCancel,
    makeRequest,
    makeResponse,
)

SOURCE = ("192.0.2.10", 5060)


class ServerTestMixin:
    """
    A layer on a L{Clock} with a recording sender and user.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.sender = RecordingSender(self.clock)
        self.user = RecordingTransactionUser()
        self.layer = TransactionLayer(self.clock, self.sender, self.user)

    def receive(self, request, source=SOURCE):
        """
        Deliver C{request}; return the server transaction the user got, if any.
        """
        before = len(self.user.events)
        self.layer.requestReceived(request, source)
        if len(self.user.events) > before and self.user.events[-1][0] == "requestReceived":
            return self.user.events[-1][2]
        return None

    def advanceTo(self, when):
        """
        Advance the clock to C{when} seconds, firing each timer at its time.
        """
        advanceTo(self.clock, when)

    def assertNoTransactions(self):
        self.assertEqual(self.layer.serverCount, 0)
        self.assertEqual(self.layer.clientCount, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class InviteServerTests(ServerTestMixin, SynchronousTestCase):
    """
    INVITE server transactions (RFC 3261 §17.2.1, RFC 6026).
    """

    def test_trying(self) -> None:
        """
        A new INVITE is answered at once with 100 Trying built from it (all
        Vias, From, To without a tag, Call-ID, CSeq), sent to the top Via's
        sent-by, and handed to the user once.
        """
        invite = makeRequest("INVITE", extraVias=("SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKup",))
        txn = self.receive(invite)
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertIs(self.user.events[0][1], invite)
        self.assertEqual(txn.state, "proceeding")
        self.assertTrue(txn.isInvite)
        self.assertEqual(len(self.sender.sent), 1)
        trying, destination = self.sender.sent[0]
        self.assertEqual(destination, ("192.0.2.10", 5060))
        self.assertEqual(trying.code, 100)
        self.assertEqual(self.sender.times, [0.0])
        for name in ("via", "from", "to", "call-id", "cseq"):
            self.assertEqual(trying.headers[name], invite.headers[name])
        self.assertNotIn("tag=", trying.headers["to"][0])
        self.assertNotIn("max-forwards", trying.headers)
        self.assertIs(txn.lastResponse, trying)

    def test_tryingCopiesTimestamp(self) -> None:
        """
        The 100 Trying carries the request's Timestamp (RFC 3261 §8.2.6.1).
        """
        invite = makeRequest("INVITE")
        invite.addHeader("timestamp", "54.3")
        self.receive(invite)
        self.assertEqual(self.sender.sent[0][0].headers["timestamp"], ["54.3"])

    def test_retransmissionBeforeTUAnswers(self) -> None:
        """
        A retransmitted INVITE before the user answered re-sends the 100
        Trying and is not passed to the user again.
        """
        invite = makeRequest("INVITE")
        self.receive(invite)
        self.receive(makeRequest("INVITE"))
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertEqual(self.sender.startLines(), ["SIP/2.0 100 Trying"] * 2)

    def test_retransmissionResendsLastProvisional(self) -> None:
        """
        In Proceeding a retransmitted INVITE re-sends the last provisional the
        user sent, the very same message.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        ringing = makeResponse(invite, 180)
        txn.respond(ringing)
        self.receive(makeRequest("INVITE"))
        self.assertEqual(txn.state, "proceeding")
        self.assertIs(self.sender.sent[-1][0], ringing)
        self.assertIs(self.sender.sent[-2][0], ringing)
        self.assertEqual(len(self.user.events), 1)

    def test_retransmissionAfterFinalResendsFinal(self) -> None:
        """
        In Completed a retransmitted INVITE re-sends the non-2xx final.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        busy = makeResponse(invite, 486)
        txn.respond(busy)
        self.assertEqual(txn.state, "completed")
        self.sender.clear()
        self.receive(makeRequest("INVITE"))
        self.assertEqual(self.sender.messages(), [busy])
        self.assertEqual(len(self.user.events), 1)

    def test_timerGSchedule(self) -> None:
        """
        After a non-2xx final, timer G retransmits it at T1, 2*T1, 4*T1 ...
        capped at T2 until timer H (64*T1) ends the transaction and tells the
        user C{serverTimedOut}.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        self.clock.advance(1.0)
        txn.respond(makeResponse(invite, 486))
        self.sender.clear()
        self.advanceTo(1.0 + 40)
        expected = [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
        self.assertEqual([round(t, 6) for t in self.sender.times], expected)
        self.assertEqual(self.user.names(), ["requestReceived", "serverTimedOut"])
        self.assertIs(self.user.events[1][1], txn)
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_timerHExactly(self) -> None:
        """
        Timer H fires at 64*T1 after the final response, not before.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 404))
        self.advanceTo(31.9)
        self.assertEqual(txn.state, "completed")
        self.assertNotIn("serverTimedOut", self.user.names())
        self.advanceTo(32.0)
        self.assertEqual(txn.state, "terminated")
        self.assertIn("serverTimedOut", self.user.names())

    def test_timerGUsesSettings(self) -> None:
        """
        The G schedule follows the configured T1 and T2.
        """
        self.layer = TransactionLayer(
            self.clock, self.sender, self.user, TimerSettings(T1=1.0, T2=2.0)
        )
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 486))
        self.sender.clear()
        self.advanceTo(9.0)
        self.assertEqual([round(t, 6) for t in self.sender.times], [1.0, 3.0, 5.0, 7.0, 9.0])

    def test_ackAbsorbedConfirmedTimerI(self) -> None:
        """
        The ACK for a non-2xx final is absorbed (the user is not told): the
        transaction is Confirmed, stops retransmitting, absorbs further ACKs
        and INVITEs, and ends after timer I (T4) without C{serverTimedOut}.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        busy = makeResponse(invite, 486)
        txn.respond(busy)
        self.clock.advance(0.2)
        self.receive(makeAck(invite, busy))
        self.assertEqual(txn.state, "confirmed")
        self.sender.clear()
        self.receive(makeAck(invite, busy))
        self.receive(makeRequest("INVITE"))
        self.advanceTo(0.2 + 4.9)
        self.assertEqual(txn.state, "confirmed")
        self.assertEqual(self.sender.sent, [])
        self.advanceTo(0.2 + 5.0)
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertNoTransactions()

    def test_accepted(self) -> None:
        """
        A 2xx moves the transaction to Accepted (RFC 6026): retransmitted
        INVITEs are absorbed without any response, further 2xx from the user
        are still sent, and timer L (64*T1) ends it.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        ok = makeResponse(invite, 200)
        txn.respond(ok)
        self.assertEqual(txn.state, "accepted")
        self.sender.clear()
        self.receive(makeRequest("INVITE"))
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(self.user.names(), ["requestReceived"])
        okAgain = makeResponse(invite, 200, toTag="other")
        txn.respond(okAgain)
        self.assertEqual(self.sender.messages(), [okAgain])
        self.advanceTo(31.9)
        self.assertEqual(txn.state, "accepted")
        self.advanceTo(32.0)
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_afterTimerLNewTransaction(self) -> None:
        """
        Once timer L ended the transaction, the same INVITE is new again and
        reaches the user.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 200))
        self.advanceTo(32.0)
        again = self.receive(makeRequest("INVITE"))
        self.assertIsNot(again, None)
        self.assertIsNot(again, txn)

    def test_acceptedNoNon2xx(self) -> None:
        """
        After a 2xx, a non-2xx from the user is dropped.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 200))
        self.sender.clear()
        txn.respond(makeResponse(invite, 486))
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(txn.state, "accepted")

    def test_secondNon2xxFinalDropped(self) -> None:
        """
        After a non-2xx final, another non-2xx final or a provisional from the
        user is dropped.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 486))
        self.sender.clear()
        txn.respond(makeResponse(invite, 500))
        txn.respond(makeResponse(invite, 180))
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(txn.state, "completed")

    def test_late2xxForwardedStatelessly(self) -> None:
        """
        A 2xx from the user after a non-2xx final (timer C's 408 raced the
        answer) or after the transaction ended is still sent to the response
        destination, without changing the state (RFC 3261 §16.7 step 10).
        """
        invite = makeRequest("INVITE", viaParams=";received=203.0.113.5")
        txn = self.receive(invite)
        txn.respond(makeResponse(invite, 408))
        self.sender.clear()
        ok = makeResponse(invite, 200)
        txn.respond(ok)
        self.assertEqual(self.sender.sent, [(ok, ("203.0.113.5", 5060))])
        self.assertEqual(txn.state, "completed")
        advanceTo(self.clock, 40)
        self.assertEqual(txn.state, "terminated")
        self.sender.clear()
        txn.respond(ok)
        self.assertEqual(self.sender.sent, [(ok, ("203.0.113.5", 5060))])
        self.assertNoTransactions()

    def test_ackForAcceptedGoesToUser(self) -> None:
        """
        An ACK with the INVITE's branch while the transaction is Accepted is
        handed to the user's C{ackReceived} (RFC 6026), not absorbed.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        ok = makeResponse(invite, 200)
        txn.respond(ok)
        ack = makeAck(invite, ok)
        self.receive(ack, ("192.0.2.99", 5062))
        self.assertEqual(self.user.events[-1], ("ackReceived", ack, ("192.0.2.99", 5062)))
        self.assertEqual(txn.state, "accepted")

    def test_ackFor2xxNewBranchGoesToUser(self) -> None:
        """
        The end-to-end ACK for a 2xx (new branch) matches no transaction and
        goes to C{ackReceived} with its source.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        ok = makeResponse(invite, 200)
        txn.respond(ok)
        ack = makeAck(invite, ok, branch="z9hG4bKack2xx")
        before = self.layer.serverCount
        self.receive(ack)
        self.assertEqual(self.user.events[-1], ("ackReceived", ack, SOURCE))
        self.assertEqual(self.layer.serverCount, before)

    def test_ackBeforeFinalDropped(self) -> None:
        """
        An ACK matching an INVITE still in Proceeding acknowledges nothing: it
        is dropped and changes nothing.
        """
        invite = makeRequest("INVITE")
        txn = self.receive(invite)
        self.receive(makeAck(invite, makeResponse(invite, 486)))
        self.assertEqual(txn.state, "proceeding")
        self.assertEqual(self.user.names(), ["requestReceived"])

    def test_responseDestinationReceivedRport(self) -> None:
        """
        Responses go to the Via's C{received} address and C{rport} port.
        """
        invite = makeRequest("INVITE", viaParams=";received=203.0.113.5;rport=40000")
        txn = self.receive(invite)
        self.assertEqual(self.sender.sent[0][1], ("203.0.113.5", 40000))
        self.assertEqual(txn.destination, ("203.0.113.5", 40000))

    def test_responseDestinationEmptyRport(self) -> None:
        """
        An C{rport} without a value (nobody stamped it) sends responses back
        to the source address and port.
        """
        invite = makeRequest("INVITE", viaParams=";rport")
        self.receive(invite, ("203.0.113.7", 61000))
        self.assertEqual(self.sender.sent[0][1], ("203.0.113.7", 61000))

    def test_reliableTransport(self) -> None:
        """
        Over TCP the non-2xx final is not retransmitted and the ACK ends the
        transaction at once (timer I is zero).
        """
        invite = makeRequest("INVITE", transport="TCP")
        txn = self.receive(invite)
        self.assertTrue(txn.reliable)
        busy = makeResponse(invite, 486)
        txn.respond(busy)
        self.sender.clear()
        self.advanceTo(10)
        self.assertEqual(self.sender.sent, [])
        self.receive(makeAck(invite, busy))
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_cancelMatchesInvite(self) -> None:
        """
        A CANCEL with the INVITE's branch gets its own non-INVITE server
        transaction; the user's C{cancelReceived} gets both and the INVITE
        transaction is marked C{cancelled}. A retransmitted CANCEL is
        answered from its transaction.
        """
        invite = makeRequest("INVITE")
        inviteTxn = self.receive(invite)
        cancel = makeCancel(invite)
        self.receive(cancel)
        name, got, cancelTxn, matched = self.user.events[-1]
        self.assertEqual(name, "cancelReceived")
        self.assertIs(got, cancel)
        self.assertIs(matched, inviteTxn)
        self.assertTrue(inviteTxn.cancelled)
        self.assertIsNot(cancelTxn, inviteTxn)
        self.assertFalse(cancelTxn.isInvite)
        self.assertEqual(cancelTxn.state, "trying")
        ok = makeResponse(cancel, 200)
        cancelTxn.respond(ok)
        self.assertEqual(cancelTxn.state, "completed")
        self.receive(makeCancel(invite))
        self.assertEqual(self.sender.sent[-1][0].toBytes(), ok.toBytes())
        self.assertEqual(self.user.names(), ["requestReceived", "cancelReceived"])
        self.assertEqual(inviteTxn.state, "proceeding")

    def test_cancelWithoutInvite(self) -> None:
        """
        A CANCEL matching no INVITE reaches the user with L{None} as the
        INVITE transaction, and an unrelated INVITE is not marked.
        """
        invite = makeRequest("INVITE", branch="z9hG4bKother")
        inviteTxn = self.receive(invite)
        self.receive(makeCancel(makeRequest("INVITE", branch="z9hG4bKnone")))
        self.assertEqual(self.user.events[-1][0], "cancelReceived")
        self.assertIs(self.user.events[-1][3], None)
        self.assertFalse(inviteTxn.cancelled)


class NonInviteServerTests(ServerTestMixin, SynchronousTestCase):
    """
    Non-INVITE server transactions (RFC 3261 §17.2.2).
    """

    def test_noTrying(self) -> None:
        """
        A non-INVITE request is handed to the user in Trying; nothing is sent
        for it.
        """
        txn = self.receive(makeRequest("OPTIONS"))
        self.assertEqual(txn.state, "trying")
        self.assertFalse(txn.isInvite)
        self.assertEqual(self.sender.sent, [])

    def test_retransmissionInTryingAbsorbed(self) -> None:
        """
        A retransmission before any response is absorbed silently.
        """
        self.receive(makeRequest("OPTIONS"))
        self.receive(makeRequest("OPTIONS"))
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(self.user.names(), ["requestReceived"])

    def test_provisionalThenRetransmission(self) -> None:
        """
        A provisional moves the transaction to Proceeding, and a
        retransmission re-sends it.
        """
        request = makeRequest("REGISTER")
        txn = self.receive(request)
        trying = makeResponse(request, 100)
        txn.respond(trying)
        self.assertEqual(txn.state, "proceeding")
        self.receive(makeRequest("REGISTER"))
        self.assertEqual(self.sender.messages(), [trying, trying])

    def test_finalTimerJ(self) -> None:
        """
        A final response moves to Completed; retransmissions re-send it; timer
        J (64*T1) ends the transaction and nothing is retransmitted on its own.
        """
        request = makeRequest("OPTIONS")
        txn = self.receive(request)
        ok = makeResponse(request, 200)
        txn.respond(ok)
        self.assertEqual(txn.state, "completed")
        self.receive(makeRequest("OPTIONS"))
        self.assertEqual([m.toBytes() for m in self.sender.messages()], [ok.toBytes()] * 2)
        self.advanceTo(31.9)
        self.assertEqual(txn.state, "completed")
        self.assertEqual(len(self.sender.sent), 2)
        self.advanceTo(32.0)
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertNoTransactions()

    def test_finalReliable(self) -> None:
        """
        Over TCP timer J is zero: the final response ends the transaction.
        """
        request = makeRequest("OPTIONS", transport="TCP")
        txn = self.receive(request)
        txn.respond(makeResponse(request, 200))
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_secondFinalDropped(self) -> None:
        """
        A second final response from the user is not sent.
        """
        request = makeRequest("OPTIONS")
        txn = self.receive(request)
        txn.respond(makeResponse(request, 200))
        txn.respond(makeResponse(request, 500))
        self.assertEqual([m.code for m in self.sender.messages()], [200])


class KeptAfterFinalTests(ServerTestMixin, SynchronousTestCase):
    """
    A server transaction that only absorbs or answers retransmissions keeps
    no parsed message: the request and the response given to C{respond}
    are freed while it waits out its timer (issue 13: memory per call).
    """

    def respondThenForget(self, request, code: int):
        """
        Create the transaction for C{request}, answer it C{code}, and drop
        the references the test, the recording user and the recording
        sender hold.

        @return: the transaction and weak references to the request and the
            response.
        """
        txn = self.receive(request)
        response = makeResponse(request, code)
        txn.respond(response)
        refs = weakref.ref(request), weakref.ref(response)
        self.user.events.clear()
        self.sender.clear()
        return txn, refs

    def test_acceptedKeepsNoMessage(self) -> None:
        """
        An INVITE in Accepted frees its request and its 2xx, keeps the
        status code (users ask whether a final went out), and absorbs a
        retransmitted INVITE.
        """
        txn, (request, response) = self.respondThenForget(makeRequest("INVITE"), 200)
        self.assertEqual(txn.state, "accepted")
        self.assertIsNone(txn.request)
        self.assertIsNone(request())
        self.assertIsNone(response())
        self.assertEqual(txn.lastResponse.code, 200)
        self.receive(makeRequest("INVITE"))
        self.assertEqual(self.sender.sent, [])

    def test_acceptedSendsLater2xx(self) -> None:
        """
        A 2xx the user sends in Accepted (a fork's) is sent, and not kept.
        """
        invite = makeRequest("INVITE")
        txn, _ = self.respondThenForget(invite, 200)
        fork = makeResponse(invite, 200, toTag="fork2")
        txn.respond(fork)
        [(sent, _)] = self.sender.sent
        self.assertIs(sent, fork)
        self.assertIsNot(txn.lastResponse, fork)
        self.assertEqual(txn.lastResponse.code, 200)

    def test_completedAnswersWithBytes(self) -> None:
        """
        A non-INVITE in Completed frees its request and its response and
        answers a retransmitted request with the bytes that went out.
        """
        request = makeRequest("BYE")
        expected = makeResponse(request, 200).toBytes()
        txn, (requestRef, response) = self.respondThenForget(request, 200)
        del request
        self.assertEqual(txn.state, "completed")
        self.assertIsNone(requestRef())
        self.assertIsNone(response())
        self.receive(makeRequest("BYE"))
        [(again, destination)] = self.sender.sent
        self.assertEqual(again.toBytes(), expected)
        self.assertEqual(again.code, 200)
        self.assertEqual(destination, SOURCE)

    def test_confirmedKeepsNoMessage(self) -> None:
        """
        An INVITE in Confirmed (a non-2xx ACKed) frees its request and its
        response.
        """
        invite = makeRequest("INVITE")
        txn, (request, response) = self.respondThenForget(invite, 486)
        self.receive(makeAck(invite, makeResponse(invite, 486)))
        del invite
        self.assertEqual(txn.state, "confirmed")
        self.assertIsNone(request())
        self.assertIsNone(response())
        self.assertEqual(txn.lastResponse.code, 486)
