"""
Tests for L{keepsip.keepalive.transactionuser}: the transaction user in
front of the proxy core that absorbs or refuses keepalives and hands
everything else to the core unchanged.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.keepalive.manager import KeepaliveManager, KeepaliveSettings
from keepsip.keepalive.termination import Terminator
from keepsip.keepalive.transactionuser import KeepaliveTransactionUser
from keepsip.sip.message import Request, Response
from keepsip.transaction.interfaces import ITransactionUser
from keepsip.transaction.testing import RecordingTransactionUser, makeRequest

from ._keepalive import KeepaliveTestCase
from keepsip.testing import ALICE, BOB, SDP, answer, invite

SENT_BY = "192.0.2.1:5060"


class FakeServerTransaction:
    """
    A server transaction recording what it is asked to send.
    """

    def __init__(self, source: tuple[str, int] = ("192.0.2.10", 5060)) -> None:
        self.source = source
        self.latestSource = source
        self.lastResponse: Response | None = None
        self.responses: list[Response] = []

    def respond(self, response: Response) -> None:
        self.lastResponse = response
        self.responses.append(response)


class BrokenStore(MemoryDialogStore):
    """
    A dialog store whose synchronous lookup fails.
    """

    def getByDialogID(self, dialogID: Any) -> Any:
        raise RuntimeError("store broke")


class WrapperTestCase(SynchronousTestCase):
    def makeUser(
        self, store: MemoryDialogStore | None = None, **settings: Any
    ) -> KeepaliveTransactionUser:
        clock = Clock()
        store = store if store is not None else MemoryDialogStore()
        tracker = DialogTracker(clock, store, f"<sip:{SENT_BY};lr>")
        manager = KeepaliveManager(
            clock,
            KeepaliveSettings(**settings),
            store,
            tracker,
            Terminator(tracker, lambda message, address, user: None, SENT_BY),
        )
        self.core = RecordingTransactionUser()
        return KeepaliveTransactionUser(self.core, manager, SENT_BY)


class DelegationTests(WrapperTestCase):
    def test_interface(self) -> None:
        """
        The wrapper provides L{ITransactionUser}, like the core it wraps.
        """
        self.assertTrue(verifyObject(ITransactionUser, self.makeUser()))

    def test_passThrough(self) -> None:
        """
        Everything that is no keepalive reaches the core unchanged, with the
        same arguments.
        """
        user = self.makeUser()
        request = makeRequest("OPTIONS")
        ack = makeRequest("ACK", toTag="b")
        cancel = makeRequest("CANCEL")
        response = Response(200)
        server, invite = FakeServerTransaction(), FakeServerTransaction()
        user.requestReceived(request, server)
        user.ackReceived(ack, ALICE)
        user.cancelReceived(cancel, server, invite)
        user.strayResponse(response, ALICE)
        user.serverTimedOut(server)
        user.requestRetransmitted(request, server)
        self.assertEqual(
            self.core.events,
            [
                ("requestReceived", request, server),
                ("ackReceived", ack, ALICE),
                ("cancelReceived", cancel, server, invite),
                ("strayResponse", response, ALICE),
                ("serverTimedOut", server),
            ],
        )
        self.assertEqual(self.core.retransmissions, [(request, server)])
        self.assertEqual(server.responses, [])

    def test_inDialogWithoutDialog(self) -> None:
        """
        An in-dialog request of a dialog keepsip does not know goes to the
        core.
        """
        user = self.makeUser()
        request = makeRequest("INVITE", toTag="b")
        user.requestReceived(request, FakeServerTransaction())
        self.assertEqual(self.core.names(), ["requestReceived"])

    def test_assistChangesTheIncomingInvite(self) -> None:
        """
        With the session-timer assist, the initial INVITE reaches the core
        with the Session-Expires keepsip inserted.
        """
        user = self.makeUser(sessionTimerAssist=True, interval=60.0)
        request = makeRequest("INVITE")
        user.requestReceived(request, FakeServerTransaction())
        [(name, received, _)] = self.core.events
        self.assertIs(received, request)
        self.assertEqual(received.header("session-expires"), "120")

    def test_alreadyPassedKeepsip(self) -> None:
        """
        A request that carries keepsip's own Via (a loop or a spiral) goes
        to the core untouched, even with the session-timer assist on.
        """
        user = self.makeUser(sessionTimerAssist=True)
        request = makeRequest(
            "INVITE", extraVias=(f"SIP/2.0/UDP {SENT_BY};branch=z9hG4bKks1",)
        )
        user.requestReceived(request, FakeServerTransaction())
        self.assertEqual(self.core.names(), ["requestReceived"])
        self.assertIsNone(request.header("session-expires"))

    def test_failureAnswers500(self) -> None:
        """
        If keepalive handling fails on a request, it is logged and the
        request is answered 500, as the core answers its own failures.
        """
        user = self.makeUser(store=BrokenStore())
        server = FakeServerTransaction()
        user.requestReceived(makeRequest("INVITE", toTag="b"), server)
        self.assertEqual([r.code for r in server.responses], [500])
        self.assertEqual(self.core.events, [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class ThroughProxyTests(KeepaliveTestCase):
    def test_exhaustedMaxForwardsReachesCore(self) -> None:
        """
        A keepalive with Max-Forwards 0 is not absorbed: the core refuses it
        (483) and it is not counted.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.receive(
            invite(
                uri="sip:bob@192.0.2.20:5060",
                branch="z9hG4bKmf0",
                toTag="bobtag",
                body=SDP,
                route="<sip:192.0.2.1:5060;lr>",
                maxForwards=0,
            ),
            ALICE,
        )
        codes = [m.code for m, a in self.proxy.sent() if not isinstance(m, Request)]
        self.assertEqual(codes[-1], 483)
        self.assertEqual(self.dialog.keptAlive.count, 0)


#: Another host, replaying what it sniffed.
FORGER = ("198.51.100.66", 5060)
#: Alice's host, another port.
ALICE_OTHER_PORT = (ALICE[0], 5062)


class ReplayTests(KeepaliveTestCase):
    """
    Issue 8 item 2 (a): the last keepalive replayed unchanged from another
    address or port, as a retransmission of a transaction keepsip still
    holds, is no proof of life.
    """

    def setUp(self) -> None:
        self.makeProxy(reap="require")
        self.establish()
        self.manager = self.proxy.service.keepalive
        self.proxy.clock.advance(10)
        sent = self.keepalive(1)
        # Absorbed at once: the 200 alone, no 100 Trying before it.
        self.assertEqual([m.code for m, a in sent if a == ALICE], [200])
        self.assertEqual(self.manager.index.get(self.dialog.callKey), 70.0)

    def keptAliveEvents(self) -> int:
        """
        How many C{dialogKeptAlive} events (each an interim record for
        accounting) the dialog raised.
        """
        return self.observer.names().count("keptAlive")

    def assertNothingCounted(self) -> None:
        self.assertEqual(self.dialog.keptAlive.count, 1)
        self.assertEqual(self.dialog.keptAlive.lastAt, 10.0)
        self.assertEqual(self.dialog.caller.lastRequestAt, 10.0)
        self.assertEqual(self.manager.index.get(self.dialog.callKey), 70.0)
        self.assertEqual(self.keptAliveEvents(), 1)

    def reapAndEnd(self) -> float:
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        self.assertTrue(self.dialog.isTerminated)
        return elapsed

    def test_replayAfterAckFromOtherAddresses(self) -> None:
        """
        Twelve replays of Alice's acknowledged keepalive, one a second, from
        another host and from another port of hers, reach keepsip while the
        keepalive's transaction still exists (so through
        C{requestRetransmitted}): none counts, moves the deadline or raises
        an interim event; each is counted as forged; the call is reaped on
        time and billed until Alice's keepalive at t=10.
        """
        self.proxy.receive(self.ack(1, branch="z9hG4bKkack"), ALICE)
        self.proxy.sent()
        for _ in range(12):
            self.proxy.clock.advance(1)
            self.keepalive(1, source=FORGER)
            self.keepalive(1, source=ALICE_OTHER_PORT)
        self.assertNothingCounted()
        self.assertEqual(self.manager.forged, 24)
        self.proxy.sent()
        elapsed = self.reapAndEnd()
        self.assertLessEqual(22 + elapsed, 70 + 1)
        self.assertEqual(self.dialog.endedAt, 10.0)

    def test_replayBeforeAckNotAnswered(self) -> None:
        """
        A replay of the keepalive keepsip is still answering (no ACK yet)
        from another host is not counted and does not make keepsip send its
        200 again.
        """
        self.keepalive(1, source=FORGER)
        self.assertNothingCounted()
        self.assertEqual(self.manager.forged, 1)
        self.assertEqual(self.proxy.sentTo(ALICE), [])

    def test_replayedInitialInvite(self) -> None:
        """
        The initial INVITE replayed unchanged (its branch, its CSeq) from
        another host while its transaction exists is no proof of life.
        """
        self.keepalive(1, source=FORGER, branch="z9hG4bKalice1")
        self.assertNothingCounted()
        self.assertEqual(self.manager.forged, 1)

    def test_retransmissionFromAliceStillCounts(self) -> None:
        """
        Alice's own keepalive reusing a branch whose transaction still
        exists is still her keepalive: it counts (sent more than a quarter
        of the interval after her last one, so not too soon).
        """
        self.proxy.receive(self.ack(1, branch="z9hG4bKkack"), ALICE)
        self.proxy.clock.advance(8)
        self.keepalive(1)
        self.assertEqual(self.dialog.keptAlive.count, 2)
        self.assertEqual(self.dialog.keptAlive.lastAt, 18.0)

    def test_firstCopyFromOtherPort(self) -> None:
        """
        A replay with a new branch (a new transaction) from another port of
        Alice's host is refused with 403 and not counted.
        """
        sent = self.keepalive(2, source=ALICE_OTHER_PORT)
        self.assertIn(403, [m.code for m, a in sent if a == ALICE_OTHER_PORT])
        self.assertNothingCounted()


class CeilingFallbackTests(KeepaliveTestCase):
    def test_unadmittedKeepaliveStillLimited(self) -> None:
        """
        A keepalive over the per-source ceiling that no admission check saw
        (none wired, or its dialog was loaded from a shared store after the
        check) is still refused by the transaction user, with C{503} and
        C{Retry-After} through its transaction, and does not reach the core.
        """
        from keepsip.sip.parser import parseDatagram

        self.makeProxy(keepaliveRateLimit=1.0)  # a burst of 10
        self.establish()
        manager = self.proxy.service.keepalive
        core = RecordingTransactionUser()
        user = KeepaliveTransactionUser(core, manager, SENT_BY)
        codes = []
        for n in range(11):
            request = parseDatagram(
                invite(
                    uri="sip:bob@192.0.2.20:5060",
                    branch=f"z9hG4bKfb{n}",
                    toTag="bobtag",
                    route="<sip:192.0.2.1:5060;lr>",
                )
            )
            server = FakeServerTransaction(ALICE)
            user.requestReceived(request, server)
            codes.append([r.code for r in server.responses])
        self.assertEqual([c[-1:] for c in codes[:10]], [[200]] * 10)
        self.assertEqual(codes[-1], [503])
        self.assertEqual(server.responses[0].header("retry-after"), "30")
        self.assertEqual(core.names(), [])
        self.assertEqual(manager.limiter.denied, 1)
