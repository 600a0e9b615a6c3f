"""
Tests for L{keepsip.transaction.layer.TransactionLayer}: matching rules,
stray messages, transport errors, shutdown and the absence of leaks.
"""

from __future__ import annotations

import gc

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.transaction import (
    IClientTransaction,
    IClientTransactionUser,
    ClientTransaction,
    IServerTransaction,
    ITransactionUser,
    ServerTransaction,
    TransactionLayer,
)
from keepsip.transport.errors import TransportError
from keepsip.transaction.testing import (
    RecordingClientUser,
    RecordingSender,
    RecordingTransactionUser,
    advanceTo,
    makeAck,
    makeCancel,
    makeRequest,
    makeResponse,
)

SOURCE = ("192.0.2.10", 5060)
PEER_A = ("198.51.100.1", 5060)
PEER_B = ("198.51.100.2", 5060)


def outgoing(method: str, branch: str, **kw):
    request = makeRequest(method, **kw)
    request.headers["via"].insert(0, f"SIP/2.0/UDP 192.0.2.1;branch={branch}")
    return request


class LayerTestMixin:
    def setUp(self) -> None:
        self.clock = Clock()
        self.sender = RecordingSender(self.clock)
        self.user = RecordingTransactionUser()
        self.layer = TransactionLayer(self.clock, self.sender, self.user)

    def serverTxn(self, request, source=SOURCE):
        self.layer.requestReceived(request, source)
        event = self.user.events[-1]
        self.assertEqual(event[0], "requestReceived")
        return event[2]

    def assertNoClients(self, layer=None) -> None:
        """
        C{layer} (by default the test's) holds no client transaction, in
        its index by branch or in its index by destination.
        """
        layer = layer or self.layer
        self.assertEqual(layer.clientCount, 0)
        for peer in (PEER_A, PEER_B):
            self.assertEqual(layer.clientTransactionsTo(peer), [])


class InterfaceTests(LayerTestMixin, SynchronousTestCase):
    """
    The transactions and the test doubles provide their interfaces.
    """

    def test_verifyObjects(self) -> None:
        """
        Server and client transactions and the recording users provide the
        interfaces the proxy core relies on.
        """
        server = self.serverTxn(makeRequest("INVITE"))
        client = self.layer.request(
            outgoing("OPTIONS", "z9hG4bKv"), PEER_A, RecordingClientUser()
        )
        self.assertTrue(verifyObject(IServerTransaction, server))
        self.assertTrue(verifyObject(IClientTransaction, client))
        self.assertTrue(verifyObject(ITransactionUser, RecordingTransactionUser()))
        self.assertTrue(verifyObject(IClientTransactionUser, RecordingClientUser()))


class ServerMatchingTests(LayerTestMixin, SynchronousTestCase):
    """
    RFC 3261 §17.2.3 matching of requests to server transactions.
    """

    def test_sameBranchOtherSentBy(self) -> None:
        """
        The same branch from another sent-by is another transaction.
        """
        first = self.serverTxn(makeRequest("INVITE", sentBy="192.0.2.10:5060"))
        second = self.serverTxn(makeRequest("INVITE", sentBy="192.0.2.11:5060"))
        self.assertIsNot(first, second)
        self.assertEqual(self.layer.serverCount, 2)

    def test_sameBranchOtherMethod(self) -> None:
        """
        The same branch and sent-by with another method (not ACK, not a
        CANCEL's match) is another transaction.
        """
        first = self.serverTxn(makeRequest("INVITE"))
        second = self.serverTxn(makeRequest("OPTIONS"))
        self.assertIsNot(first, second)

    def test_reusedBranchOtherCall(self) -> None:
        """
        The same branch, sent-by and method from another call (Call-ID), a
        later CSeq, or another From tag is not a retransmission: each is a
        new transaction the user sees, answered on its own; the CANCEL and
        the non-2xx ACK of each reach their own INVITE.
        """
        first = self.serverTxn(makeRequest("INVITE", branch="z9hG4bKsame"))
        others = [
            self.serverTxn(makeRequest("INVITE", branch="z9hG4bKsame", **change))
            for change in ({"callID": "other@x"}, {"cseqNumber": 2}, {"fromTag": "other"})
        ]
        self.assertEqual(len({id(t) for t in [first] + others}), 4)
        self.assertEqual(self.user.names(), ["requestReceived"] * 4)
        self.assertEqual(self.user.retransmissions, [])
        cancel = makeCancel(others[0].request)
        self.layer.requestReceived(cancel, SOURCE)
        self.assertEqual(self.user.events[-1][3], others[0])
        final = makeResponse(others[1].request, 486)
        others[1].respond(final)
        first.respond(makeResponse(first.request, 486))
        self.layer.requestReceived(makeAck(others[1].request, final), SOURCE)
        self.assertEqual((others[1].state, first.state), ("confirmed", "completed"))

    def test_retransmissionStillAbsorbed(self) -> None:
        """
        A true retransmission (same branch, sent-by, method, Call-ID, CSeq
        and From tag) is still absorbed by its transaction.
        """
        first = self.serverTxn(makeRequest("INVITE", branch="z9hG4bKsame"))
        again = makeRequest("INVITE", branch="z9hG4bKsame")
        self.layer.requestReceived(again, SOURCE)
        self.assertEqual(self.user.retransmissions, [(again, first)])

    def test_defaultPortEqualsExplicit(self) -> None:
        """
        A sent-by without port equals the same host with 5060.
        """
        self.serverTxn(makeRequest("INVITE", sentBy="192.0.2.10:5060"))
        self.layer.requestReceived(makeRequest("INVITE", sentBy="192.0.2.10"), SOURCE)
        self.assertEqual(self.user.names(), ["requestReceived"])

    def test_rfc2543Retransmission(self) -> None:
        """
        A request whose branch lacks the magic cookie is matched by Request-URI,
        tags, Call-ID, CSeq number and top Via: its retransmission is absorbed,
        a different CSeq is new.
        """
        first = self.serverTxn(makeRequest("INVITE", branch=None))
        retransmission = makeRequest("INVITE", branch=None)
        self.layer.requestReceived(retransmission, SOURCE)
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertEqual(self.user.retransmissions, [(retransmission, first)])
        self.assertEqual(len(self.sender.sent), 2)
        self.serverTxn(makeRequest("INVITE", branch=None, cseqNumber=2))
        self.assertEqual(self.user.names(), ["requestReceived"] * 2)

    def test_retransmissionSourceKept(self) -> None:
        """
        A retransmission is matched by its Via wherever it comes from; the
        transaction says where its latest copy came from
        (C{latestSource}), so a user can tell a replay from elsewhere, and
        C{source} stays the first copy's.
        """
        self.layer.requestReceived(makeRequest("INVITE"), SOURCE)
        txn = self.user.events[-1][2]
        self.assertEqual(txn.latestSource, SOURCE)
        self.layer.requestReceived(makeRequest("INVITE"), PEER_A)
        [(_, same)] = self.user.retransmissions
        self.assertIs(same, txn)
        self.assertEqual((txn.source, txn.latestSource), (SOURCE, PEER_A))

    def test_rfc2543OldStyleBranch(self) -> None:
        """
        A branch without the magic cookie is treated like no branch: two such
        requests with equal branch but different Call-IDs are different.
        """
        self.serverTxn(makeRequest("OPTIONS", branch="1", callID="a"))
        self.serverTxn(makeRequest("OPTIONS", branch="1", callID="b"))
        self.assertEqual(self.user.names(), ["requestReceived"] * 2)

    def test_rfc2543Ack(self) -> None:
        """
        An RFC 2543 ACK matches the INVITE transaction when its To tag is the
        tag of the final response; with another tag it goes to the user.
        """
        invite = makeRequest("INVITE", branch=None)
        txn = self.serverTxn(invite)
        busy = makeResponse(invite, 486, toTag="t486")
        txn.respond(busy)
        other = makeAck(invite, makeResponse(invite, 486, toTag="zzz"))
        self.layer.requestReceived(other, SOURCE)
        self.assertEqual(self.user.names(), ["requestReceived", "ackReceived"])
        self.assertEqual(txn.state, "completed")
        self.layer.requestReceived(makeAck(invite, busy), SOURCE)
        self.assertEqual(txn.state, "confirmed")
        self.assertEqual(self.user.names(), ["requestReceived", "ackReceived"])
        advanceTo(self.clock, 10)
        self.assertEqual(self.layer.serverCount, 0)

    def test_rfc2543Cancel(self) -> None:
        """
        An RFC 2543 CANCEL finds its INVITE by the same fields.
        """
        invite = makeRequest("INVITE", branch=None)
        txn = self.serverTxn(invite)
        self.layer.requestReceived(makeCancel(invite), SOURCE)
        self.assertIs(self.user.events[-1][3], txn)
        self.assertTrue(txn.cancelled)

    def test_malformedRequestDropped(self) -> None:
        """
        A request without Via, with an unreadable Via or without CSeq is
        dropped without reaching the user or raising.
        """
        noVia = makeRequest("OPTIONS")
        noVia.removeHeader("via")
        badVia = makeRequest("OPTIONS")
        badVia.setHeader("via", "garbage")
        noCSeq = makeRequest("OPTIONS")
        noCSeq.removeHeader("cseq")
        for request in (noVia, badVia, noCSeq):
            self.layer.requestReceived(request, SOURCE)
        self.assertEqual(self.user.events, [])
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(self.layer.serverCount, 0)

    def test_trying(self) -> None:
        """
        An INVITE the user does not answer at once gets a 100 Trying, sent
        after the user has seen the request; one it answers at once (an
        absorbed keepalive's 200) gets its answer alone, and a non-INVITE
        none at all.
        """
        self.layer.requestReceived(makeRequest("INVITE"), SOURCE)
        self.assertEqual(self.user.names(), ["requestReceived"])
        self.assertEqual(self.sender.startLines(), ["SIP/2.0 100 Trying"])

        def answer(request, txn):
            txn.respond(makeResponse(request, 200))

        self.user.requestReceived = answer
        self.layer.requestReceived(makeRequest("INVITE", branch="z9hG4bKanswered"), SOURCE)
        self.layer.requestReceived(makeRequest("OPTIONS", branch="z9hG4bKoptions"), SOURCE)
        self.assertEqual(
            self.sender.startLines(), ["SIP/2.0 100 Trying", "SIP/2.0 200 OK", "SIP/2.0 200 OK"]
        )

    def test_userFailureLogged(self) -> None:
        """
        A user raising from C{requestReceived} is logged; the transaction
        exists and absorbs the retransmission.
        """

        def broken(request, txn):
            raise RuntimeError("user bug")

        self.user.requestReceived = broken
        self.layer.requestReceived(makeRequest("INVITE"), SOURCE)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.layer.requestReceived(makeRequest("INVITE"), SOURCE)
        self.assertEqual(self.sender.startLines(), ["SIP/2.0 100 Trying"] * 2)
        self.assertEqual(self.layer.serverCount, 1)


class ClientMatchingTests(LayerTestMixin, SynchronousTestCase):
    """
    Matching responses to client transactions (§17.1.3) and starting them.
    """

    def test_strayResponse(self) -> None:
        """
        A response with an unknown branch goes to C{strayResponse} with its
        source.
        """
        response = makeResponse(makeRequest("INVITE", branch="z9hG4bKnobody"), 200)
        self.layer.responseReceived(response, PEER_A)
        self.assertEqual(self.user.events, [("strayResponse", response, PEER_A)])

    def test_malformedResponseDropped(self) -> None:
        """
        A response without Via or CSeq is dropped without raising.
        """
        response = makeResponse(makeRequest("INVITE"), 200)
        response.removeHeader("via")
        self.layer.responseReceived(response, PEER_A)
        response = makeResponse(makeRequest("INVITE"), 200)
        response.setHeader("cseq", "x")
        self.layer.responseReceived(response, PEER_A)
        self.assertEqual(self.user.events, [])

    def test_requestRejectsAck(self) -> None:
        """
        An ACK cannot start a client transaction.
        """
        self.assertRaises(
            ValueError,
            self.layer.request,
            outgoing("ACK", "z9hG4bKa"),
            PEER_A,
            RecordingClientUser(),
        )
        self.assertEqual(self.sender.sent, [])

    def test_requestRejectsDuplicate(self) -> None:
        """
        A second request with the same branch and method is refused; the
        first transaction is untouched.
        """
        first = self.layer.request(outgoing("OPTIONS", "z9hG4bKd"), PEER_A, RecordingClientUser())
        self.assertRaises(
            ValueError,
            self.layer.request,
            outgoing("OPTIONS", "z9hG4bKd"),
            PEER_B,
            RecordingClientUser(),
        )
        self.assertEqual(self.layer.clientCount, 1)
        self.assertEqual(self.layer.clientTransactionsTo(PEER_A), [first])
        self.assertEqual(self.layer.clientTransactionsTo(PEER_B), [])
        # Responses to that branch still reach the first transaction.
        self.layer.responseReceived(makeResponse(first.request, 200), PEER_A)
        self.assertEqual(first.state, "completed")

    def test_sendFailureLeavesNothing(self) -> None:
        """
        If the send seam raises while starting, the error propagates and the
        transaction leaves no entry and no timer behind.
        """

        def failing(message, destination):
            raise OSError("network down")

        layer = TransactionLayer(self.clock, failing, self.user)
        self.assertRaises(
            OSError, layer.request, outgoing("INVITE", "z9hG4bKf"), PEER_A, RecordingClientUser()
        )
        self.assertNoClients(layer)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class TransportErrorTests(LayerTestMixin, SynchronousTestCase):
    """
    L{TransactionLayer.transportError}: the ICMP-unreachable seam.
    """

    def test_unsendableFailsTransaction(self) -> None:
        """
        A send seam raising L{TransportError} (no socket for the address
        family, a refused address) fails the client transaction through
        C{transportFailed} on the next turn of the clock, after its user
        holds it, and leaves no timer behind.
        """

        def unsendable(message, destination):
            raise TransportError(destination, "no IPv6 socket to send from")

        layer = TransactionLayer(self.clock, unsendable, self.user)
        user = RecordingClientUser()
        txn = layer.request(outgoing("INVITE", "z9hG4bKv6"), ("2001:db8::1", 5060), user)
        self.assertEqual(user.events, [])
        self.clock.advance(0)
        self.assertEqual(user.events, [("transportFailed", txn)])
        self.assertEqual(txn.state, "terminated")
        self.assertEqual(layer.clientCount, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failsTransactionsToDestination(self) -> None:
        """
        Every client transaction to the unreachable address still waiting for a
        final response ends and its user is told C{transportFailed}; those to
        other addresses and those already answered are untouched.
        """
        users = [RecordingClientUser() for _ in range(4)]
        inviteA = self.layer.request(outgoing("INVITE", "z9hG4bK1"), PEER_A, users[0])
        optionsA = self.layer.request(outgoing("OPTIONS", "z9hG4bK2"), PEER_A, users[1])
        answeredA = self.layer.request(outgoing("OPTIONS", "z9hG4bK3"), PEER_A, users[2])
        inviteB = self.layer.request(outgoing("INVITE", "z9hG4bK4"), PEER_B, users[3])
        self.layer.responseReceived(makeResponse(answeredA.request, 200), PEER_A)
        self.layer.transportError(PEER_A)
        self.assertEqual(users[0].events, [("transportFailed", inviteA)])
        self.assertEqual(users[1].events, [("transportFailed", optionsA)])
        self.assertEqual(users[2].names(), ["responseReceived"])
        self.assertEqual(users[3].events, [])
        self.assertEqual(inviteA.state, "terminated")
        self.assertEqual(optionsA.state, "terminated")
        self.assertEqual(answeredA.state, "completed")
        self.assertEqual(inviteB.state, "calling")
        self.assertEqual(self.layer.clientTransactionsTo(PEER_A), [answeredA])
        advanceTo(self.clock, 100)
        self.assertEqual(users[0].events, [("transportFailed", inviteA)])
        self.assertNoClients()

    def test_unknownDestination(self) -> None:
        """
        An error for an address with no transaction changes nothing.
        """
        txn = self.layer.request(outgoing("INVITE", "z9hG4bK1"), PEER_A, RecordingClientUser())
        self.layer.transportError(PEER_B)
        self.assertEqual(txn.state, "calling")


class LifetimeTests(LayerTestMixin, SynchronousTestCase):
    """
    Shutdown and the absence of leaks.
    """

    def populate(self):
        """
        Transactions in many states on both sides.
        """
        invite = makeRequest("INVITE", branch="z9hG4bKs1")
        self.serverTxn(invite)
        busyInvite = makeRequest("INVITE", branch="z9hG4bKs2")
        self.serverTxn(busyInvite).respond(makeResponse(busyInvite, 486))
        okInvite = makeRequest("INVITE", branch="z9hG4bKs3")
        self.serverTxn(okInvite).respond(makeResponse(okInvite, 200))
        options = makeRequest("OPTIONS", branch="z9hG4bKs4")
        self.serverTxn(options).respond(makeResponse(options, 200))
        self.layer.requestReceived(makeCancel(invite), SOURCE)
        user = RecordingClientUser()
        calling = self.layer.request(outgoing("INVITE", "z9hG4bKc1"), PEER_A, user)
        proceeding = self.layer.request(outgoing("INVITE", "z9hG4bKc2"), PEER_A, user)
        self.layer.responseReceived(makeResponse(proceeding.request, 180), PEER_A)
        proceeding.cancel()
        completed = self.layer.request(outgoing("INVITE", "z9hG4bKc3"), PEER_B, user)
        self.layer.responseReceived(makeResponse(completed.request, 486), PEER_B)
        accepted = self.layer.request(outgoing("INVITE", "z9hG4bKc4"), PEER_B, user)
        self.layer.responseReceived(makeResponse(accepted.request, 200), PEER_B)
        self.layer.request(outgoing("REGISTER", "z9hG4bKc5"), PEER_B, user)
        return calling

    def test_stop(self) -> None:
        """
        C{stop()} cancels every timer and forgets every transaction.
        """
        calling = self.populate()
        self.assertTrue(self.clock.getDelayedCalls())
        self.layer.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.layer.serverCount, 0)
        self.assertNoClients()
        self.assertEqual(calling.state, "terminated")

    def test_noLeaks(self) -> None:
        """
        Once every timer has run, no transaction and no timer remains, even
        for transactions nobody answered to the end.
        """
        self.populate()
        self.assertTrue(self.layer.serverCount)
        self.assertTrue(self.layer.clientCount)
        # The first server INVITE was never answered; the proxy's timer C
        # would do it. Answer it so that its lifetime is bounded.
        first = self.user.events[0][2]
        first.respond(makeResponse(first.request, 487))
        cancelTxn = self.user.events[-1][2]
        cancelTxn.respond(makeResponse(cancelTxn.request, 200))
        advanceTo(self.clock, 200)
        self.assertEqual(self.layer.serverCount, 0)
        self.assertNoClients()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ContextUser(RecordingClientUser):
    """
    A client transaction user that also holds its transactions, and is the
    user context of a server transaction, as the proxy's response context
    is: each side refers to the other.
    """

    def __init__(self) -> None:
        super().__init__()
        self.branches: list[object] = []
        self.serverTransaction: object = None


def collectableSIPObjects() -> list[object]:
    """
    Run a full collection with C{DEBUG_SAVEALL} and return the transactions,
    messages, dialogs and response contexts it found unreachable: objects that
    reference counting alone did not free (they were in reference cycles).
    """
    from keepsip.dialog.model import Dialog
    from keepsip.proxy.context import ResponseContext
    from keepsip.sip.message import Message

    kinds = (ServerTransaction, ClientTransaction, Message, Dialog, ResponseContext, ContextUser)
    old = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, kinds)]
    finally:
        gc.set_debug(old)
        del gc.garbage[:]


class CyclicGarbageMixin:
    """
    Runs a test with the cyclic garbage collector off, after a full
    collection has cleared what earlier tests left.
    """

    def setUp(self) -> None:
        gc.collect()
        if gc.isenabled():
            gc.disable()
            self.addCleanup(gc.enable)
        super().setUp()  # type: ignore[misc]


class ReferenceCycleTests(CyclicGarbageMixin, LayerTestMixin, SynchronousTestCase):
    """
    An ended transaction is freed by reference counting alone, even when its
    user holds it (issue 8 item 5: under a flood, cycles left for rare full
    collections kept keepsip's memory at twice its idle size).
    """

    def test_endedTransactionsFreed(self) -> None:
        """
        Server and client transactions whose users hold them back (a
        context in C{userContext} that lists the client transactions, as the
        proxy's response context does) leave nothing for the cyclic
        collector once they have ended, in every way they end: 2xx, non-2xx
        with and without ACK, timeout, transport error, a non-INVITE.
        """
        for number, outcome in enumerate(["ok", "busy", "noAck", "timeout", "icmp", "bye"]):
            method = "BYE" if outcome == "bye" else "INVITE"
            request = makeRequest(method, branch=f"z9hG4bKcyc{number}", callID=f"cyc{number}")
            server = self.serverTxn(request)
            context = ContextUser()
            context.serverTransaction = server
            server.userContext = context
            peer = PEER_B if outcome == "icmp" else PEER_A
            client = self.layer.request(
                outgoing(method, f"z9hG4bKcycout{number}"), peer, context
            )
            context.branches.append(client)
            if outcome == "icmp":
                self.layer.transportError(PEER_B)
                server.respond(makeResponse(request, 503))
                self.layer.requestReceived(makeAck(request, server.lastResponse), SOURCE)
            elif outcome == "timeout":
                server.respond(makeResponse(request, 408))
            else:
                code = 200 if outcome in ("ok", "bye") else 486
                response = makeResponse(client.request, code)
                self.layer.responseReceived(response, PEER_A)
                server.respond(makeResponse(request, code))
                if outcome == "busy":
                    self.layer.requestReceived(makeAck(request, server.lastResponse), SOURCE)
            del server, client, context, request
        advanceTo(self.clock, 200)
        self.assertEqual(self.layer.serverCount, 0)
        self.assertNoClients()
        self.assertEqual(collectableSIPObjects(), [])


class ProxyReferenceCycleTests(CyclicGarbageMixin, SynchronousTestCase):
    """
    Calls through the whole proxy (transactions, response contexts, dialogs)
    are freed by reference counting once their timers have run.
    """

    def test_callsLeaveNoCycles(self) -> None:
        """
        An answered call ended by BYE, a busy call, a cancelled call, an
        unanswered call (timer C) and an answered call kept alive and then
        reaped leave no transaction, message, dialog or response context
        that only the cyclic garbage collector could free.
        """
        from tests._proxy import ProxyHarness, keepAliveThenFallSilent, startReapers
        from keepsip.sip.message import Request
        from keepsip.testing import ALICE, ANSWER_SDP, BOB, answer, inDialog, invite

        proxy = ProxyHarness()
        startReapers(proxy)
        self.addCleanup(
            lambda: [
                proxy.service.getServiceNamed(name).stopService()
                for name in ("keepalive-reaper", "max-duration-reaper")
            ]
        )

        def forwarded(method: str = "INVITE") -> Request:
            [request] = [
                m for m in proxy.sentTo(BOB) if isinstance(m, Request) and m.method == method
            ]
            return request

        def answered(callID: str, n: int) -> None:
            proxy.receive(invite(callID=callID, branch=f"z9hG4bKi{n}"), ALICE)
            atBob = forwarded()
            proxy.receive(answer(atBob, 180, "Ringing"), BOB)
            proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
            proxy.receive(inDialog("ACK", 1, f"z9hG4bKa{n}", callID=callID), ALICE)
            proxy.sent()

        answered("bye", 1)
        proxy.receive(inDialog("BYE", 2, "z9hG4bKb1", callID="bye"), ALICE)
        proxy.receive(answer(forwarded("BYE"), 200, "OK", toTag=None), BOB)
        proxy.receive(invite(callID="busy", branch="z9hG4bKi2"), ALICE)
        proxy.receive(answer(forwarded(), 486, "Busy Here"), BOB)
        proxy.receive(inDialog("ACK", 1, "z9hG4bKi2", callID="busy"), ALICE)
        proxy.receive(invite(callID="cancel", branch="z9hG4bKi3"), ALICE)
        atBob = forwarded()
        proxy.receive(answer(atBob, 180, "Ringing"), BOB)
        cancel = invite(callID="cancel", branch="z9hG4bKi3", method="CANCEL", body=b"")
        proxy.receive(cancel, ALICE)
        proxy.receive(answer(forwarded("CANCEL"), 200, "OK"), BOB)
        proxy.receive(answer(atBob, 487, "Request Terminated"), BOB)
        proxy.receive(invite(callID="silent", branch="z9hG4bKi4"), ALICE)
        forwarded()
        answered("call-1", 5)
        keepAliveThenFallSilent(proxy)
        codes = [m.code for m, _ in proxy.transport.allSent() if not isinstance(m, Request)]
        for code in (486, 487):
            self.assertIn(code, codes)
        del atBob, codes
        for _ in range(400):
            proxy.clock.advance(1)
        proxy.transport.written.clear()
        self.assertEqual(proxy.service.transactions.serverCount, 0)
        self.assertEqual(proxy.service.transactions.clientCount, 0)
        self.assertEqual(collectableSIPObjects(), [])


class UnanswerableTests(SynchronousTestCase):
    """
    A new request whose responses could go nowhere creates no state.
    """

    def test_dropped(self) -> None:
        """
        With C{canSend} refusing the response destination (here a Via
        C{maddr} naming a host), the request reaches neither a server
        transaction nor the user, and is counted; a sendable one does.
        """
        clock = Clock()
        sender = RecordingSender(clock)
        user = RecordingTransactionUser()
        layer = TransactionLayer(
            clock, sender, user, canSend=lambda address: address[0][0].isdigit()
        )
        layer.requestReceived(
            makeRequest("OPTIONS", branch="z9hG4bKm1", viaParams=";maddr=evil.example"), SOURCE
        )
        self.assertEqual((layer.serverCount, user.names(), layer.unanswerable), (0, [], 1))
        layer.requestReceived(makeRequest("OPTIONS", branch="z9hG4bKm2"), SOURCE)
        self.assertEqual((layer.serverCount, user.names(), layer.unanswerable), (1, ["requestReceived"], 1))


class ServerTransportErrorTests(LayerTestMixin, SynchronousTestCase):
    """
    An ICMP error for the destination of a server transaction's responses.
    """

    def test_completedEnds(self) -> None:
        """
        An INVITE server transaction retransmitting its non-2xx final
        (Completed) ends when its destination is reported unreachable,
        instead of retransmitting into the error until timer H; one still
        waiting for its final response (Proceeding) does not.
        """
        completed = self.serverTxn(makeRequest("INVITE", branch="z9hG4bKc1"))
        completed.respond(makeResponse(completed.request, 486))
        proceeding = self.serverTxn(makeRequest("INVITE", branch="z9hG4bKc2", callID="c2"))
        self.layer.transportError(completed.destination)
        self.assertEqual((completed.state, proceeding.state), ("terminated", "proceeding"))
        self.assertEqual(self.layer.serverCount, 1)
        self.sender.clear()
        self.clock.advance(10)
        self.assertEqual(self.sender.sent, [])


class RefuseOptions:
    """
    An L{IAdmission} refusing OPTIONS, recording what it was asked.
    """

    def __init__(self) -> None:
        self.asked: list[str] = []

    def refusal(self, source, request):
        self.asked.append(request.method)
        if request.method == "OPTIONS":
            return (503, "Service Unavailable (test)", (("retry-after", "7"),))
        return None


class BrokenCheck:
    def refusal(self, source, request):
        raise RuntimeError("broken check")


class AdmissionCheckTests(LayerTestMixin, SynchronousTestCase):
    """
    L{IAdmission} checks: asked before a server transaction exists; a
    refusal is answered statelessly and leaves nothing behind.
    """

    def test_interface(self) -> None:
        """
        The recording check provides L{IAdmission} as the layer uses it.
        """
        from keepsip.transaction import IAdmission

        self.assertTrue(verifyObject(IAdmission, RefuseOptions(), tentative=True))

    def test_refusedStatelessly(self) -> None:
        """
        A refused request creates no server transaction and no timer,
        reaches no user, and is answered with the check's code, phrase and
        headers; a retransmission is asked again and gets the same response
        (same To tag); another request is admitted.
        """
        check = RefuseOptions()
        self.layer.addAdmission(check)
        options = makeRequest("OPTIONS", branch="z9hG4bKo1")
        self.layer.requestReceived(options, SOURCE)
        self.layer.requestReceived(makeRequest("OPTIONS", branch="z9hG4bKo1"), SOURCE)
        self.assertEqual(self.layer.serverCount, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.user.events, [])
        first, second = self.sender.messages()
        self.assertEqual(first.code, 503)  # type: ignore[attr-defined]
        self.assertEqual(first.startLine(), "SIP/2.0 503 Service Unavailable (test)")
        self.assertEqual(first.header("retry-after"), "7")
        self.assertEqual(first.header("to"), second.header("to"))
        self.assertIn(";tag=", first.header("to") or "")
        self.assertEqual(self.layer.refusedByChecks, 2)
        self.serverTxn(makeRequest("MESSAGE", branch="z9hG4bKm1"))
        self.assertEqual(self.layer.serverCount, 1)
        self.assertEqual(check.asked, ["OPTIONS", "OPTIONS", "MESSAGE"])

    def test_otherRequestOtherTag(self) -> None:
        """
        Two different refused requests get different To tags.
        """
        self.layer.addAdmission(RefuseOptions())
        self.layer.requestReceived(makeRequest("OPTIONS", branch="z9hG4bKo1"), SOURCE)
        self.layer.requestReceived(makeRequest("OPTIONS", branch="z9hG4bKo2", callID="x"), SOURCE)
        first, second = self.sender.messages()
        self.assertNotEqual(first.header("to"), second.header("to"))

    def test_notAsked(self) -> None:
        """
        ACK, CANCEL and retransmissions of admitted transactions are not
        asked.
        """
        check = RefuseOptions()
        self.layer = TransactionLayer(self.clock, self.sender, self.user, checks=[check])
        invite = makeRequest("INVITE")
        self.layer.requestReceived(invite, SOURCE)
        self.layer.requestReceived(makeRequest("INVITE"), SOURCE)
        self.layer.requestReceived(makeCancel(invite), SOURCE)
        self.layer.requestReceived(makeAck(invite, makeResponse(invite, 486)), SOURCE)
        self.assertEqual(check.asked, ["INVITE"])

    def test_brokenCheckAdmits(self) -> None:
        """
        A check that raises is logged and the request admitted.
        """
        self.layer.addAdmission(BrokenCheck())
        self.serverTxn(makeRequest("MESSAGE"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
