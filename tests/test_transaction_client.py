"""
Tests for L{keepsip.transaction.client}: client transactions started with
L{keepsip.transaction.layer.TransactionLayer.request}.
"""

from __future__ import annotations

import weakref

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.transaction import TransactionLayer
from keepsip.transaction.testing import (
    RecordingClientUser,
    RecordingSender,
    RecordingTransactionUser,
    advanceTo,
    makeRequest,
    makeResponse,
)

DESTINATION = ("198.51.100.20", 5060)
OUR_VIA = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkeep1"


def outgoing(method: str, **kw):
    """
    A request as the proxy forwards it: our Via on top of the caller's.
    """
    request = makeRequest(method, **kw)
    request.headers["via"].insert(0, OUR_VIA)
    request.addHeader("route", "<sip:next.example.net;lr>")
    request.addHeader("route", "<sip:last.example.net;lr>")
    return request


def answer(request, code, toTag="callee1"):
    """
    The response the next hop sends back (all Vias, ours on top).
    """
    return makeResponse(request, code, toTag=toTag)


class ClientTestMixin:
    def setUp(self) -> None:
        self.clock = Clock()
        self.sender = RecordingSender(self.clock)
        self.serverUser = RecordingTransactionUser()
        self.layer = TransactionLayer(self.clock, self.sender, self.serverUser)
        self.user = RecordingClientUser()

    def start(self, method="INVITE", **kw):
        self.request = outgoing(method, **kw)
        return self.layer.request(self.request, DESTINATION, self.user, **self.options())

    def options(self):
        return {}

    def deliver(self, response):
        self.layer.responseReceived(response, DESTINATION)

    def assertNoTransactions(self):
        self.assertEqual(self.layer.clientCount, 0)
        self.assertEqual(self.layer.clientTransactionsTo(DESTINATION), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def sentAt(self):
        return [round(t, 6) for t in self.sender.times]


class InviteClientTests(ClientTestMixin, SynchronousTestCase):
    """
    INVITE client transactions (RFC 3261 §17.1.1, RFC 6026).
    """

    def test_timerADoublesUntilTimerB(self) -> None:
        """
        Timer A retransmits the INVITE at T1, 2*T1, 4*T1 ... with no cap;
        timer B (64*T1) ends the transaction and tells the user C{timedOut}.
        """
        txn = self.start()
        self.assertEqual(txn.state, "calling")
        advanceTo(self.clock, 40)
        self.assertEqual(self.sentAt(), [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
        self.assertTrue(all(m is self.request for m in self.sender.messages()))
        self.assertEqual(set(d for _, d in self.sender.sent), {DESTINATION})
        self.assertEqual(self.user.events, [("timedOut", txn)])
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_timerBExactly(self) -> None:
        """
        Timer B fires at 64*T1, not before.
        """
        txn = self.start()
        advanceTo(self.clock, 31.99)
        self.assertEqual(self.user.events, [])
        advanceTo(self.clock, 32.0)
        self.assertEqual(self.user.events, [("timedOut", txn)])

    def test_provisionalStopsRetransmission(self) -> None:
        """
        A provisional moves to Proceeding, reaches the user, stops timer A and
        disarms timer B (the proxy's timer C takes over).
        """
        txn = self.start()
        advanceTo(self.clock, 0.7)
        ringing = answer(self.request, 180)
        self.deliver(ringing)
        self.assertEqual(txn.state, "proceeding")
        self.assertEqual(self.user.events, [("responseReceived", ringing, txn)])
        advanceTo(self.clock, 100)
        self.assertEqual(self.sentAt(), [0.0, 0.5])
        self.assertEqual(txn.state, "proceeding")
        self.assertEqual(self.user.codes(), [180])

    def test_non2xxFinalAck(self) -> None:
        """
        A 486 reaches the user once and is acknowledged by the transaction
        itself: same Request-URI, Call-ID, From, CSeq number, only the top
        Via, To from the response, the original's Route values.
        """
        txn = self.start()
        busy = answer(self.request, 486)
        self.deliver(busy)
        self.assertEqual(txn.state, "completed")
        self.assertEqual(self.user.codes(), [486])
        ack, destination = self.sender.sent[-1]
        self.assertEqual(destination, DESTINATION)
        self.assertEqual(ack.method, "ACK")
        self.assertIs(ack.uri, self.request.uri)
        self.assertEqual(ack.headers["via"], [OUR_VIA])
        self.assertEqual(ack.headers["call-id"], self.request.headers["call-id"])
        self.assertEqual(ack.headers["from"], self.request.headers["from"])
        self.assertEqual(ack.headers["to"], busy.headers["to"])
        self.assertIn("tag=callee1", ack.headers["to"][0])
        self.assertEqual(ack.headers["cseq"], ["1 ACK"])
        self.assertEqual(ack.headers["route"], self.request.headers["route"])
        self.assertIs(txn.ack, ack)

    def test_timerDAbsorbsAndReacks(self) -> None:
        """
        In Completed a retransmitted final is not passed up but re-ACKed; timer
        D (32 s) ends the transaction.
        """
        txn = self.start()
        busy = answer(self.request, 486)
        self.deliver(busy)
        ack = self.sender.messages()[-1]
        self.sender.clear()
        self.deliver(answer(self.request, 486))
        self.assertEqual(self.sender.messages(), [ack])
        self.assertEqual(self.user.codes(), [486])
        advanceTo(self.clock, 31.9)
        self.assertEqual(txn.state, "completed")
        self.assertEqual(len(self.sender.sent), 1)
        advanceTo(self.clock, 32.0)
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(self.user.names(), ["responseReceived"])
        self.assertNoTransactions()

    def test_acceptedTimerM(self) -> None:
        """
        A 2xx goes to the user and moves to Accepted; a retransmitted 2xx is
        passed up too; no ACK is sent by the transaction; timer M (64*T1)
        ends it, after which a 2xx is a stray response.
        """
        txn = self.start()
        ok = answer(self.request, 200)
        self.deliver(ok)
        self.assertEqual(txn.state, "accepted")
        self.deliver(ok)
        self.assertEqual(self.user.codes(), [200, 200])
        self.assertEqual(self.sender.messages(), [self.request])
        advanceTo(self.clock, 31.9)
        self.assertEqual(txn.state, "accepted")
        advanceTo(self.clock, 32.0)
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()
        self.deliver(ok)
        self.assertEqual(self.serverUser.events, [("strayResponse", ok, DESTINATION)])
        self.assertEqual(self.user.codes(), [200, 200])

    def test_forking(self) -> None:
        """
        Several 2xx with different To tags (a downstream proxy forked) all
        reach the user; a late 486 or 180 in Accepted does not.
        """
        txn = self.start()
        self.deliver(answer(self.request, 180, toTag="a"))
        first = answer(self.request, 200, toTag="a")
        second = answer(self.request, 200, toTag="b")
        self.deliver(first)
        self.deliver(second)
        self.deliver(answer(self.request, 486, toTag="c"))
        self.deliver(answer(self.request, 180, toTag="d"))
        received = [e[1] for e in self.user.events]
        self.assertEqual(received[1:], [first, second])
        self.assertEqual(txn.state, "accepted")

    def test_cancelAfterProvisional(self) -> None:
        """
        C{cancel()} after a 1xx sends a CANCEL at once as its own client
        transaction: same Request-URI, branch (only the top Via), Call-ID,
        From, To, CSeq number and Route. Its 200 does not reach the INVITE's
        user; the 487 does and is ACKed.
        """
        txn = self.start()
        self.deliver(answer(self.request, 180))
        self.sender.clear()
        txn.cancel()
        self.assertEqual(len(self.sender.sent), 1)
        cancel, destination = self.sender.sent[0]
        self.assertEqual(destination, DESTINATION)
        self.assertEqual(cancel.method, "CANCEL")
        self.assertIs(cancel.uri, self.request.uri)
        self.assertEqual(cancel.headers["via"], [OUR_VIA])
        for name in ("call-id", "from", "to", "route"):
            self.assertEqual(cancel.headers[name], self.request.headers[name])
        self.assertEqual(cancel.headers["cseq"], ["1 CANCEL"])
        cancelTxn = txn.cancelTransaction
        self.assertIs(cancelTxn.request, cancel)
        self.assertFalse(cancelTxn.isInvite)
        self.deliver(answer(cancel, 200))
        self.assertEqual(cancelTxn.state, "completed")
        self.assertEqual(self.user.codes(), [180])
        self.deliver(answer(self.request, 487))
        self.assertEqual(self.user.codes(), [180, 487])
        self.assertEqual(self.sender.messages()[-1].method, "ACK")
        self.assertEqual(txn.state, "completed")
        advanceTo(self.clock, 100)
        self.assertNotIn("timedOut", self.user.names())
        self.assertNoTransactions()

    def test_cancelRetransmitted(self) -> None:
        """
        The CANCEL is retransmitted by its own timer E until answered.
        """
        txn = self.start()
        self.deliver(answer(self.request, 180))
        self.sender.clear()
        txn.cancel()
        advanceTo(self.clock, 1.6)
        self.assertEqual([m.method for m in self.sender.messages()], ["CANCEL"] * 3)

    def test_cancelBeforeProvisional(self) -> None:
        """
        C{cancel()} before any 1xx sends nothing yet; the CANCEL goes out
        when the first 1xx arrives, and only once.
        """
        txn = self.start()
        txn.cancel()
        self.assertEqual(self.sender.messages(), [self.request])
        self.assertIs(txn.cancelTransaction, None)
        advanceTo(self.clock, 0.6)
        self.assertEqual([m.method for m in self.sender.messages()], ["INVITE"] * 2)
        self.deliver(answer(self.request, 100, toTag=None))
        self.deliver(answer(self.request, 180))
        methods = [m.method for m in self.sender.messages()]
        self.assertEqual(methods, ["INVITE", "INVITE", "CANCEL"])
        self.assertIsNot(txn.cancelTransaction, None)
        self.assertEqual(self.user.codes(), [100, 180])

    def test_cancelBeforeProvisionalThenFinal(self) -> None:
        """
        If the final response arrives before any 1xx, no CANCEL is sent.
        """
        txn = self.start()
        txn.cancel()
        self.deliver(answer(self.request, 486))
        self.assertEqual([m.method for m in self.sender.messages()], ["INVITE", "ACK"])
        advanceTo(self.clock, 100)
        self.assertNotIn("CANCEL", [m.method for m in self.sender.messages()])
        self.assertNotIn("timedOut", self.user.names())
        self.assertNoTransactions()

    def test_cancelGuard(self) -> None:
        """
        If no final response follows the CANCEL within 64*T1, the INVITE
        transaction ends and the user is told C{timedOut} (RFC 3261 §9.1).
        """
        txn = self.start()
        self.deliver(answer(self.request, 180))
        advanceTo(self.clock, 10)
        txn.cancel()
        self.deliver(answer(txn.cancelTransaction.request, 200))
        advanceTo(self.clock, 41.9)
        self.assertEqual(txn.state, "proceeding")
        advanceTo(self.clock, 42)
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(self.user.events[-1], ("timedOut", txn))
        advanceTo(self.clock, 100)
        self.assertNoTransactions()

    def test_cancelOnce(self) -> None:
        """
        A second C{cancel()} sends nothing more.
        """
        txn = self.start()
        self.deliver(answer(self.request, 180))
        txn.cancel()
        txn.cancel()
        self.assertEqual(
            [m.method for m in self.sender.messages()], ["INVITE", "CANCEL"]
        )

    def test_cancelAfterFinal(self) -> None:
        """
        C{cancel()} after a final response does nothing.
        """
        txn = self.start()
        self.deliver(answer(self.request, 200))
        txn.cancel()
        self.assertEqual(self.sender.messages(), [self.request])
        self.assertEqual(txn.state, "accepted")

    def test_responseToOtherMethodNotMatched(self) -> None:
        """
        A response with the INVITE's branch but CSeq method CANCEL does not
        reach the INVITE transaction (§17.1.3 matches branch and method).
        """
        txn = self.start()
        response = answer(self.request, 200)
        response.setHeader("cseq", "1 CANCEL")
        self.deliver(response)
        self.assertEqual(self.user.events, [])
        self.assertEqual(self.serverUser.names(), ["strayResponse"])
        self.assertEqual(txn.state, "calling")


class ReliableInviteClientTests(ClientTestMixin, SynchronousTestCase):
    """
    The C{reliable} seam: no retransmission, timer D zero.
    """

    def options(self):
        return {"reliable": True}

    def test_noRetransmission(self) -> None:
        """
        Over a reliable transport the INVITE is sent once; timer B still ends it.
        """
        txn = self.start()
        advanceTo(self.clock, 40)
        self.assertEqual(self.sentAt(), [0.0])
        self.assertEqual(self.user.events, [("timedOut", txn)])

    def test_non2xxEndsAtOnce(self) -> None:
        """
        Over a reliable transport the ACK is sent and the transaction ends.
        """
        txn = self.start()
        self.deliver(answer(self.request, 486))
        self.assertEqual(self.sender.messages()[-1].method, "ACK")
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_non2xxReachesUser(self) -> None:
        """
        The final response that ends a transaction at once still reaches
        its user (the transaction forgets its user when it ends).
        """
        self.start()
        self.deliver(answer(self.request, 486))
        self.assertEqual(self.user.codes(), [486])


class NonInviteClientTests(ClientTestMixin, SynchronousTestCase):
    """
    Non-INVITE client transactions (RFC 3261 §17.1.2).
    """

    def test_timerEDoublesToT2UntilTimerF(self) -> None:
        """
        Timer E retransmits at T1, 2*T1, ... capped at T2; timer F (64*T1)
        ends the transaction with C{timedOut}.
        """
        txn = self.start("OPTIONS")
        self.assertEqual(txn.state, "trying")
        advanceTo(self.clock, 40)
        self.assertEqual(
            self.sentAt(),
            [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
        )
        self.assertEqual(self.user.events, [("timedOut", txn)])
        self.assertNoTransactions()

    def test_timerFExactly(self) -> None:
        """
        Timer F fires at 64*T1, also in Proceeding.
        """
        txn = self.start("OPTIONS")
        self.deliver(answer(self.request, 100, toTag=None))
        advanceTo(self.clock, 31.99)
        self.assertEqual(txn.state, "proceeding")
        advanceTo(self.clock, 32.0)
        self.assertEqual(self.user.events[-1], ("timedOut", txn))

    def test_proceedingRetransmitsEveryT2(self) -> None:
        """
        After a 1xx the request is still retransmitted, every T2.
        """
        txn = self.start("OPTIONS")
        advanceTo(self.clock, 0.25)
        self.deliver(answer(self.request, 100, toTag=None))
        self.assertEqual(txn.state, "proceeding")
        advanceTo(self.clock, 13)
        self.assertEqual(self.sentAt(), [0.0, 0.5, 4.5, 8.5, 12.5])
        self.assertEqual(self.user.codes(), [100])

    def test_finalTimerK(self) -> None:
        """
        A final goes to the user once; retransmitted finals are absorbed;
        retransmission stops; timer K (T4) ends the transaction.
        """
        txn = self.start("OPTIONS")
        ok = answer(self.request, 200)
        self.deliver(ok)
        self.deliver(ok)
        self.assertEqual(self.user.codes(), [200])
        self.assertEqual(txn.state, "completed")
        advanceTo(self.clock, 4.9)
        self.assertEqual(txn.state, "completed")
        self.assertEqual(self.sentAt(), [0.0])
        advanceTo(self.clock, 5.0)
        self.assertEqual(txn.state, "terminated")
        self.assertNoTransactions()

    def test_cancelDoesNothing(self) -> None:
        """
        C{cancel()} on a non-INVITE transaction sends nothing (RFC 3261 §9.1).
        """
        txn = self.start("OPTIONS")
        self.deliver(answer(self.request, 100, toTag=None))
        txn.cancel()
        self.assertEqual(self.sender.messages(), [self.request])


class ReliableNonInviteClientTests(ClientTestMixin, SynchronousTestCase):
    """
    Non-INVITE over a reliable transport: timer K zero.
    """

    def options(self):
        return {"reliable": True}

    def test_finalEndsAtOnce(self) -> None:
        """
        The final response ends the transaction at once and nothing was
        retransmitted.
        """
        txn = self.start("OPTIONS")
        advanceTo(self.clock, 10)
        self.deliver(answer(self.request, 200))
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(self.sentAt(), [0.0])
        self.assertNoTransactions()
        self.assertEqual(self.user.codes(), [200])


class KeptAfterFinalTests(ClientTestMixin, SynchronousTestCase):
    """
    After a final response a client transaction keeps neither the request
    nor, in Completed, its user: they are freed while it waits out its
    timer (issue 13: memory per call).
    """

    def finalThenForget(self, method: str, code: int):
        """
        Start C{method}, deliver a C{code} final response, and drop every
        reference the test and the recording sender hold to the request.

        @return: the transaction and a weak reference to its request.
        """
        txn = self.start(method)
        self.deliver(answer(self.request, code))
        request = weakref.ref(self.request)
        del self.request
        self.sender.clear()
        return txn, request

    def test_acceptedForgetsRequest(self) -> None:
        """
        An INVITE in Accepted frees its request, and still hands a further
        2xx (a fork) to its user.
        """
        txn, request = self.finalThenForget("INVITE", 200)
        self.assertEqual(txn.state, "accepted")
        self.assertIsNone(txn.request)
        self.assertIsNone(request())
        fork = makeResponse(outgoing("INVITE"), 200, toTag="callee2")
        self.deliver(fork)
        self.assertEqual(self.user.codes(), [200, 200])

    def test_completedInviteForgetsRequestKeepsAck(self) -> None:
        """
        An INVITE in Completed frees its request and its user, and answers a
        retransmitted non-2xx with the same ACK.
        """
        txn, request = self.finalThenForget("INVITE", 486)
        user = weakref.ref(self.user)
        del self.user
        self.assertEqual(txn.state, "completed")
        self.assertIsNone(request())
        self.assertIsNone(user())
        self.deliver(answer(outgoing("INVITE"), 486))
        [(ack, _)] = self.sender.sent
        self.assertIs(ack, txn.ack)
        self.assertEqual(ack.method, "ACK")

    def test_completedNonInviteForgetsRequestAndUser(self) -> None:
        """
        A non-INVITE in Completed frees its request and its user; a
        retransmitted final is absorbed.
        """
        txn, request = self.finalThenForget("BYE", 200)
        user = weakref.ref(self.user)
        del self.user
        self.assertEqual(txn.state, "completed")
        self.assertIsNone(request())
        self.assertIsNone(user())
        self.deliver(answer(outgoing("BYE"), 200))
        self.assertEqual(self.sender.sent, [])
        advanceTo(self.clock, 10)
        self.assertNoTransactions()
