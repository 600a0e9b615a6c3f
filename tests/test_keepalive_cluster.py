"""
Tests for L{keepsip.keepalive.cluster}: a node's own reapers end a call only
after winning its claim in the shared store (L{claimFirst}), and the
L{ClusterReaper} ends the calls of nodes that died, on a L{task.Clock}; the
cluster reaper against a real C{redis-server} on a loopback port.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from keepsip.dialog.redis import RedisDialogStore
from keepsip.dialog.serial import DialogCodec
from keepsip.keepalive.cluster import ClusterReaper, claimFirst
from keepsip.keepalive.deadlines import DeadlineIndex
from keepsip.keepalive.reaper import Reaper
from tests._servers import RedisServer
from tests.test_dialog_redis import confirmed, keepaliveDeadline

KEY = ("c1", "a")
TICK = 1.0


class ClaimingStore:
    """
    The claim API of the shared store, answering each claim with the next
    of C{verdicts} (a tuple, or an exception to fail with).

    @ivar claims: the C{(callKey, kind, now)} of every claim.
    """

    def __init__(self, *verdicts: Any) -> None:
        self.verdicts = list(verdicts)
        self.claims: list[tuple[Any, str, float]] = []

    def claim(self, callKey: Any, kind: str, now: float) -> Deferred[Any]:
        self.claims.append((callKey, kind, now))
        verdict = self.verdicts.pop(0)
        if isinstance(verdict, Exception):
            return fail(verdict)
        return succeed(verdict)


class ClaimFirstTests(TestCase):
    """
    L{claimFirst} around a real L{Reaper} ticking on a L{Clock}.
    """

    def reaper(self, *verdicts: Any, kind: str = "keepalive") -> None:
        self.clock = Clock()
        self.store = ClaimingStore(*verdicts)
        self.index: DeadlineIndex[Any] = DeadlineIndex()
        self.expired: list[tuple[Any, float, float]] = []
        self.forgotten: list[Any] = []
        gated = claimFirst(
            self.store,
            lambda key, when, now: self.expired.append((key, when, now)),
            self.index,
            kind,
            TICK,
            self.forgotten.append,
        )
        reaper = Reaper(self.clock, self.index, gated, TICK)
        reaper.start()
        self.addCleanup(reaper.stop)

    def test_wonEndsCall(self) -> None:
        """
        A call whose claim is won is handed to the reaper's expire once, with
        its deadline and the tick's time, and is no longer armed.
        """
        self.reaper(("won", None))
        self.index.set(KEY, 10.0)
        self.clock.advance(9.0)
        self.assertEqual(self.store.claims, [])
        self.clock.advance(1.0)
        self.assertEqual(self.store.claims, [(KEY, "keepalive", 10.0)])
        self.assertEqual(self.expired, [(KEY, 10.0, 10.0)])
        self.assertNotIn(KEY, self.index)
        self.assertEqual(self.forgotten, [])

    def test_kindPassedToClaim(self) -> None:
        """
        The maximum-duration reaper claims with its own kind, so the store
        compares the right stored deadline.
        """
        self.reaper(("won", None), kind="max-duration")
        self.index.set(KEY, 3.0)
        self.clock.advance(3.0)
        self.assertEqual(self.store.claims, [(KEY, "max-duration", 3.0)])

    def test_aliveRearmedAtStoredDeadline(self) -> None:
        """
        A call another node saw alive is not ended: its local deadline moves
        to the stored one, where it is claimed again (and ended if won).
        """
        self.reaper(("alive", 25.0), ("won", None))
        self.index.set(KEY, 10.0)
        self.clock.advance(10.0)
        self.assertEqual(self.expired, [])
        self.assertEqual(self.index.get(KEY), 25.0)
        self.clock.pump([1.0] * 14)
        self.assertEqual(len(self.store.claims), 1)
        self.clock.advance(1.0)
        self.assertEqual([c[2] for c in self.store.claims], [10.0, 25.0])
        self.assertEqual(self.expired, [(KEY, 25.0, 25.0)])
        self.assertEqual(self.forgotten, [])

    def test_lostForgotten(self) -> None:
        """
        A call another node is ending is forgotten here, not ended, and not
        claimed again.
        """
        self.reaper(("lost", None))
        self.index.set(KEY, 2.0)
        self.clock.pump([1.0] * 10)
        self.assertEqual(self.forgotten, [KEY])
        self.assertEqual(self.expired, [])
        self.assertEqual(len(self.store.claims), 1)
        self.assertNotIn(KEY, self.index)

    def test_goneForgotten(self) -> None:
        """
        A call another node ended (gone from the store) is forgotten here,
        not ended.
        """
        self.reaper(("gone", None))
        self.index.set(KEY, 2.0)
        self.clock.pump([1.0] * 10)
        self.assertEqual(self.forgotten, [KEY])
        self.assertEqual(self.expired, [])
        self.assertEqual(len(self.store.claims), 1)

    def test_storeErrorRetriedNextTick(self) -> None:
        """
        When the store does not answer, the expiry is armed again one tick
        later and retried then (and ends the call once the claim is won);
        the error does not stop the reaper.
        """
        self.reaper(ConnectionError("redis down"), ConnectionError("still down"), ("won", None))
        self.index.set(KEY, 5.0)
        self.clock.advance(5.0)
        self.assertEqual(self.index.get(KEY), 5.0 + TICK)
        self.assertEqual(self.expired, [])
        self.clock.advance(TICK)
        self.assertEqual(self.index.get(KEY), 6.0 + TICK)
        self.clock.advance(TICK)
        self.assertEqual([c[2] for c in self.store.claims], [5.0, 6.0, 7.0])
        self.assertEqual([(key, now) for key, _, now in self.expired], [(KEY, 7.0)])
        self.assertEqual(self.forgotten, [])
        self.flushLoggedErrors(ConnectionError)


class RecordingTracker:
    """
    The tracker's C{restore}, recording the calls resumed.
    """

    def __init__(self) -> None:
        self.restored: list[Any] = []

    def restore(self, dialogs: list[Any]) -> int:
        self.restored.extend(dialogs)
        return len(dialogs)


class RecordingManager:
    """
    The keepalive manager's C{expire}, recording the calls ended; a key in
    C{broken} raises.
    """

    def __init__(self, broken: tuple[Any, ...] = ()) -> None:
        self.ended: list[tuple[str, Any, float, float]] = []
        self.broken = broken

    def expire(self, kind: str, key: Any, when: float, now: float) -> None:
        if key in self.broken:
            raise RuntimeError("terminator broke")
        self.ended.append((kind, key, when, now))


_prefixes = itertools.count()


class ClusterReaperTests(TestCase):
    """
    L{ClusterReaper} over stores on a real redis-server.
    """

    timeout = 60

    def setUp(self) -> None:
        self.server = RedisServer(self.mktemp())
        self.server.start()
        self.addCleanup(self.server.stop)
        self.prefix = f"cr{next(_prefixes)}"

    @inlineCallbacks
    def opened(self, nodeID: str):  # type: ignore[no-untyped-def]
        store = RedisDialogStore(
            reactor,
            DialogCodec(),
            "127.0.0.1",
            self.server.port,
            prefix=self.prefix,
            nodeID=nodeID,
            timeout=2.0,
            commitDelay=0.0,
            deadlines=keepaliveDeadline,
            lease=30.0,
        )
        self.addCleanup(store.close)
        yield store.open()
        return store

    def clusterReaper(self, store: Any, **kw: Any) -> ClusterReaper:
        self.tracker = RecordingTracker()
        self.manager = RecordingManager(**kw)
        return ClusterReaper(Clock(), store, self.tracker, self.manager, TICK, 10.0)

    @inlineCallbacks
    def ownerWith(self, *calls: tuple[str, float]):  # type: ignore[no-untyped-def]
        """
        Node n1 sets up C{calls} (call id, keepalive deadline) and writes them.
        """
        owner = yield self.opened("n1")
        for callID, deadline in calls:
            owner.add(confirmed(callID, keepaliveAt=deadline))
        yield owner.flush()
        return owner

    @inlineCallbacks
    def test_endsOtherNodesCallAfterGrace(self):  # type: ignore[no-untyped-def]
        """
        A call of another node is left to that node until its deadline is
        C{grace} old; then the survivor holds it, resumes it in its tracker
        and ends it with its kind and deadline, once.
        """
        yield self.ownerWith(("c1", 100.0))
        survivor = yield self.opened("n2")
        reaper = self.clusterReaper(survivor)
        yield reaper.reapExpired(105.0)
        self.assertEqual(self.manager.ended, [])
        self.assertIsNone(survivor.getByCallKey(KEY))
        yield reaper.reapExpired(111.0)
        self.assertEqual(self.manager.ended, [("keepalive", KEY, 100.0, 111.0)])
        self.assertEqual([d.callID for d in self.tracker.restored], ["c1"])
        self.assertIs(survivor.getByCallKey(KEY), self.tracker.restored[0])
        self.assertEqual(survivor.reapedForOthers, 1)
        yield reaper.reapExpired(112.0)
        self.assertEqual(len(self.manager.ended), 1)

    @inlineCallbacks
    def test_reclaimsAfterLease(self):  # type: ignore[no-untyped-def]
        """
        A node that claimed a call and died before ending it (its claim
        stays in the store) loses it to another node once the lease ran
        out, not before.
        """
        yield self.ownerWith(("c1", 100.0))
        dying = yield self.opened("n2")
        yield self.clusterReaper(dying).reapExpired(111.0)
        self.assertEqual(len(self.manager.ended), 1)
        survivor = yield self.opened("n3")
        reaper = self.clusterReaper(survivor)
        yield reaper.reapExpired(140.0)
        self.assertEqual(self.manager.ended, [])
        yield reaper.reapExpired(142.0)
        self.assertEqual(self.manager.ended, [("keepalive", KEY, 100.0, 142.0)])
        self.assertEqual([d.callID for d in self.tracker.restored], ["c1"])

    @inlineCallbacks
    def test_heldCallNotRestoredAgain(self):  # type: ignore[no-untyped-def]
        """
        A claimed call this node already holds is ended from its held copy,
        without resuming it a second time.
        """
        owner = yield self.ownerWith(("c1", 100.0))
        reaper = self.clusterReaper(owner)
        yield reaper.reapExpired(111.0)
        self.assertEqual(self.manager.ended, [("keepalive", KEY, 100.0, 111.0)])
        self.assertEqual(self.tracker.restored, [])
        self.assertEqual(owner.reapedForOthers, 0)

    @inlineCallbacks
    def test_oneFailureDoesNotStopOthers(self):  # type: ignore[no-untyped-def]
        """
        Ending one claimed call raising is logged; the other claimed calls
        of the same tick are still ended.
        """
        yield self.ownerWith(("c1", 100.0), ("c2", 100.0))
        survivor = yield self.opened("n2")
        reaper = self.clusterReaper(survivor, broken=(KEY,))
        yield reaper.reapExpired(111.0)
        self.assertEqual(self.manager.ended, [("keepalive", ("c2", "a"), 100.0, 111.0)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @inlineCallbacks
    def test_storeDownCountedNotFailed(self):  # type: ignore[no-untyped-def]
        """
        With Redis gone the tick fires without failing (the loop goes on),
        ends nothing and counts the store error.
        """
        yield self.ownerWith(("c1", 100.0))
        survivor = yield self.opened("n2")
        reaper = self.clusterReaper(survivor)
        self.server.stop()
        errors = survivor.errors
        result = yield reaper.reapExpired(111.0)
        self.assertIsNone(result)
        self.assertEqual(self.manager.ended, [])
        self.assertGreater(survivor.errors, errors)


class ClaimsExpired:
    """
    The cluster reaper's store API, recording each C{claimExpired}.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def claimExpired(self, now: float, grace: float) -> Deferred[list[Any]]:
        self.calls.append((now, grace))
        return succeed([])


class ClusterReaperLoopTests(TestCase):
    def test_claimsOnceATick(self) -> None:
        """
        Started, the cluster reaper claims once every tick at the clock's
        time with its grace, not at start; stopped, it claims no more.
        """
        clock = Clock()
        store = ClaimsExpired()
        reaper = ClusterReaper(clock, store, RecordingTracker(), RecordingManager(), 2.0, 7.0)
        reaper.startService()
        self.assertEqual(store.calls, [])
        clock.pump([1.0] * 4)
        self.assertEqual(store.calls, [(2.0, 7.0), (4.0, 7.0)])
        reaper.stopService()
        clock.pump([1.0] * 4)
        self.assertEqual(len(store.calls), 2)

    def test_pendingEndDoesNotHoldClaims(self) -> None:
        """
        A claimed call whose end is still pending (its BYE to a dead leg
        waits for timer F) does not hold up the next claims: the loop claims
        on every tick meanwhile.
        """

        class HeldCall:
            isTerminated = False

        class ClaimsOneCall(ClaimsExpired):
            def claimExpired(self, now: float, grace: float) -> Deferred[list[Any]]:
                first = not self.calls
                self.calls.append((now, grace))
                return succeed([(("c1", "f", "t"), "keepalive", 1.0, HeldCall())] if first else [])

            def getByCallKey(self, key: Any) -> Any:
                return HeldCall()

        class PendingManager(RecordingManager):
            def expire(self, kind: str, key: Any, when: float, now: float) -> Any:
                super().expire(kind, key, when, now)
                return Deferred()

        clock = Clock()
        store = ClaimsOneCall()
        manager = PendingManager()
        reaper = ClusterReaper(clock, store, RecordingTracker(), manager, 2.0, 7.0)
        reaper.startService()
        clock.pump([1.0] * 6)
        self.assertEqual(len(manager.ended), 1)
        self.assertEqual([now for now, _ in store.calls], [2.0, 4.0, 6.0])
        reaper.stopService()
