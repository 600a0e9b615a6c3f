"""
Tests for L{keepsip.dialog.redis}: the Redis store passes the
L{IDialogStore} contract against a real C{redis-server} on a loopback port,
shares calls between nodes, claims expired calls exactly once, refuses
another program's keys, and keeps its changes while Redis is down.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from keepsip.dialog.model import DialogState
from keepsip.dialog.redis import RedisDialogStore
from keepsip.dialog.serial import SCHEMA_VERSION, DialogCodec, SchemaError
from keepsip.dialog.stores import makeDialogStore, parseDialogStoreOption
from tests._dialogstore import DialogStoreContract, makeDialog
from tests._servers import RedisServer

_prefixes = itertools.count()


def confirmed(callID: str, keepaliveAt: float | None = None) -> Any:
    dialog = makeDialog(callID, calleeTag="b")
    dialog.state = DialogState.CONFIRMED
    dialog.answeredAt = 1.0
    dialog.keptAlive.lastAt = keepaliveAt
    return dialog


def keepaliveDeadline(dialog: Any) -> tuple[float | None, float | None]:
    """
    The test's deadline rule: the keepalive deadline is the last keepalive
    time itself (so a test chooses it), no maximum duration.
    """
    return (dialog.keptAlive.lastAt, None)


class RedisStoreCase(TestCase):
    """
    A real redis-server per test, and stores on it under a fresh prefix.
    """

    timeout = 60

    def setUp(self) -> None:
        self.server = RedisServer(self.mktemp())
        self.server.start()
        self.addCleanup(self.server.stop)
        self.prefix = f"t{next(_prefixes)}"

    def newStore(self, nodeID: str = "n1", **kw: Any) -> RedisDialogStore:
        kw.setdefault("commitDelay", 0.0)
        kw.setdefault("deadlines", keepaliveDeadline)
        store = RedisDialogStore(
            reactor,
            DialogCodec(),
            "127.0.0.1",
            self.server.port,
            prefix=self.prefix,
            nodeID=nodeID,
            timeout=2.0,
            **kw,
        )
        self.addCleanup(store.close)
        return store

    @inlineCallbacks
    def opened(self, nodeID: str = "n1", **kw: Any):  # type: ignore[no-untyped-def]
        store = self.newStore(nodeID, **kw)
        yield store.open()
        return store

    def redis(self, *args: Any) -> Any:
        return self.server.command(*args)


class RedisContractTests(DialogStoreContract, RedisStoreCase):
    synchronous = False

    def makeStore(self) -> Any:
        return self.opened()

    @inlineCallbacks
    def reopen(self, store):  # type: ignore[no-untyped-def]
        # A node restarted: what it had written is what it finds.
        yield store.flush()
        return self.newStore(store.nodeID)


class RedisLayoutTests(RedisStoreCase):
    @inlineCallbacks
    def test_keys(self):  # type: ignore[no-untyped-def]
        """
        A confirmed call is a hash with its JSON and writer, its keepalive
        deadline is in the shared sorted set, it is in its node's set, and
        the schema version is stored; removing it removes every key.
        """
        store = yield self.opened()
        dialog = confirmed("c1@h", keepaliveAt=100.0)
        store.add(dialog)
        yield store.flush()
        p = self.prefix
        self.assertEqual(
            self.redis("HGETALL", f"{p}:meta"),
            ["name", "keepsip-dialogs", "schema", str(SCHEMA_VERSION)],
        )
        data, node = self.redis("HMGET", f"{p}:dialog:a:c1@h", "data", "node")
        self.assertEqual(node, "n1")
        self.assertEqual(DialogCodec().decode(data).callID, "c1@h")
        self.assertEqual(self.redis("ZSCORE", f"{p}:keepalive", "a:c1@h"), "100")
        self.assertEqual(self.redis("SMEMBERS", f"{p}:node:n1"), ["a:c1@h"])
        store.remove(dialog)
        yield store.flush()
        self.assertEqual(sorted(self.redis("KEYS", f"{p}:*")), [f"{p}:meta"])

    @inlineCallbacks
    def test_groupCommit(self):  # type: ignore[no-untyped-def]
        """
        Ten updates of a call within the commit window are one write.
        """
        store = yield self.opened(commitDelay=0.05)
        dialog = confirmed("c1")
        store.add(dialog)
        for n in range(10):
            dialog.caller.cseq = n
            store.update(dialog)
        self.assertEqual(self.redis("EXISTS", f"{self.prefix}:dialog:a:c1"), 0)
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(store.operations, 1)
        stored = DialogCodec().decode(self.redis("HGET", f"{self.prefix}:dialog:a:c1", "data"))
        self.assertEqual(stored.caller.cseq, 9)

    @inlineCallbacks
    def test_foreignSchemaRefused(self):  # type: ignore[no-untyped-def]
        """
        Keys of a newer schema, or of another program, under the prefix are
        refused with one line naming the Redis, both by the option check
        and by the store when it opens.
        """
        p = self.prefix
        value = f"redis:host=127.0.0.1,port={self.server.port},prefix={p}"
        self.redis("HSET", f"{p}:meta", "name", "keepsip-dialogs", "schema", "99")
        e = self.assertRaises(ValueError, parseDialogStoreOption, value)
        self.assertIn("newer", str(e))
        self.assertIn(str(self.server.port), str(e))
        self.assertNotIn("\n", str(e))
        yield self.assertFailure(self.newStore().open(), SchemaError)
        self.redis("HSET", f"{p}:meta", "name", "someone-else", "schema", "1")
        e = self.assertRaises(ValueError, parseDialogStoreOption, value)
        self.assertIn("not a keepsip dialog store", str(e))
        self.redis("DEL", f"{p}:meta")
        self.redis("SET", f"{p}:meta", "x")
        e = self.assertRaises(ValueError, parseDialogStoreOption, value)
        self.assertIn("not a hash", str(e))

    def test_optionAcceptsUnreachable(self):
        """
        A Redis that does not answer when the options are read is not an
        error (keepsip starts and writes once it is back); the option builds
        a Redis store.
        """
        self.server.stop()
        value = f"redis:host=127.0.0.1,port={self.server.port},db=2,prefix=x"
        kind, arguments = parseDialogStoreOption(value)
        self.assertEqual(
            (kind, arguments), ("redis", {"host": "127.0.0.1", "port": self.server.port,
                                          "db": 2, "prefix": "x"})
        )
        store = makeDialogStore(value, reactor, DialogCodec(), nodeID="n9")
        self.assertIsInstance(store, RedisDialogStore)
        self.assertEqual((store.db, store.layout.prefix, store.nodeID), (2, "x", "n9"))


class SharedTests(RedisStoreCase):
    @inlineCallbacks
    def test_otherNodeFindsCall(self):  # type: ignore[no-untyped-def]
        """
        A call written by one node is found by another, by its call key and
        by its dialog ID in both orientations, without being held there.
        """
        one = yield self.opened("n1")
        two = yield self.opened("n2")
        one.add(confirmed("c1"))
        yield one.flush()
        found = yield two.byDialogID(("c1", "b", "a"))
        self.assertEqual((found.callID, found.callee.tag), ("c1", "b"))
        self.assertIsNone((yield two.byDialogID(("c1", "b", "zz"))))
        self.assertEqual((yield two.byCallKey(("c1", "a"))).callID, "c1")
        self.assertEqual(len(two), 0)

    @inlineCallbacks
    def test_staleUpdateDoesNotResurrect(self):  # type: ignore[no-untyped-def]
        """
        A node holding a copy of a call another node ended cannot bring it
        back by updating it: only a new call creates the hash.
        """
        one = yield self.opened("n1")
        two = yield self.opened("n2")
        dialog = confirmed("c1")
        one.add(dialog)
        yield one.flush()
        copy = yield two.byCallKey(("c1", "a"))
        two.hold(copy)
        one.remove(dialog)
        yield one.flush()
        two.update(copy)
        yield two.flush()
        self.assertEqual(self.redis("EXISTS", f"{self.prefix}:dialog:a:c1"), 0)

    @inlineCallbacks
    def test_takeOverMovesOwnership(self):  # type: ignore[no-untyped-def]
        """
        The node that writes a call last owns it: the call moves from the
        first node's set to the second's, and a restart of the second node
        loads it.
        """
        one = yield self.opened("n1")
        two = yield self.opened("n2")
        one.add(confirmed("c1"))
        yield one.flush()
        copy = yield two.byCallKey(("c1", "a"))
        two.hold(copy)
        two.update(copy)
        yield two.flush()
        self.assertEqual(self.redis("SMEMBERS", f"{self.prefix}:node:n1"), [])
        again = self.newStore("n2")
        loaded = yield again.open()
        self.assertEqual([d.callID for d in loaded], ["c1"])
        self.assertEqual(again.loaded, 1)

    @inlineCallbacks
    def test_claimExactlyOnce(self):  # type: ignore[no-untyped-def]
        """
        Three nodes claiming the same expired calls at once: each call is
        won by exactly one of them; a call whose stored deadline is later
        is reported alive with that deadline.
        """
        nodes = yield gatherResults([self.opened(f"n{n}") for n in range(3)])
        owner = nodes[0]
        for n in range(20):
            owner.add(confirmed(f"c{n}", keepaliveAt=10.0))
        owner.add(confirmed("alive", keepaliveAt=500.0))
        yield owner.flush()
        results = yield gatherResults(
            [node.claim((f"c{n}", "a"), "keepalive", 100.0) for n in range(20) for node in nodes]
        )
        verdicts = [r[0] for r in results]
        self.assertEqual(verdicts.count("won"), 20)
        self.assertEqual(verdicts.count("lost"), 40)
        self.assertEqual(sum(node.claimsWon for node in nodes), 20)
        self.assertEqual(
            (yield nodes[1].claim(("alive", "a"), "keepalive", 100.0)), ("alive", 500.0)
        )
        self.assertEqual(
            (yield nodes[1].claim(("nothing", "a"), "keepalive", 100.0)), ("gone", None)
        )

    @inlineCallbacks
    def test_claimExpiredAfterGraceAndLease(self):  # type: ignore[no-untyped-def]
        """
        Another node claims a call only once its deadline is C{grace} old;
        one claim per call; a claim whose node did not end the call within
        the lease is claimed again.
        """
        owner = yield self.opened("n1", lease=30.0)
        survivor = yield self.opened("n2", lease=30.0)
        other = yield self.opened("n3", lease=30.0)
        owner.add(confirmed("c1", keepaliveAt=100.0))
        yield owner.flush()
        self.assertEqual((yield survivor.claimExpired(105.0, grace=10.0)), [])
        claimed = yield survivor.claimExpired(111.0, grace=10.0)
        self.assertEqual([(k, kind, when) for k, kind, when, _ in claimed],
                         [(("c1", "a"), "keepalive", 100.0)])
        self.assertEqual(claimed[0][3].callID, "c1")
        self.assertEqual((yield other.claimExpired(120.0, grace=10.0)), [])
        # The survivor died before ending it: the lease runs out at 141.
        again = yield other.claimExpired(142.0, grace=10.0)
        self.assertEqual([k for k, _, _, _ in again], [("c1", "a")])


class OutageTests(RedisStoreCase):
    @inlineCallbacks
    def test_changesKeptWhileDown(self):  # type: ignore[no-untyped-def]
        """
        While Redis is down changes stay pending and failures are counted;
        when it is back (empty, as after a restart without persistence) the
        node writes every call it holds again, and the removed ones not.
        """
        store = yield self.opened()
        kept = confirmed("kept")
        ended = confirmed("ended")
        store.add(kept)
        store.add(ended)
        yield store.flush()
        self.server.stop()
        yield deferLater(reactor, 0.2, lambda: None)
        kept.caller.cseq = 42
        store.update(kept)
        store.remove(ended)
        store.add(confirmed("new"))
        yield store.flush()
        self.assertGreater(store.errors, 0)
        self.assertEqual(store.pendingCount(), 3)
        self.server.start()
        for _ in range(100):
            yield deferLater(reactor, 0.1, lambda: None)
            if store.pendingCount() == 0:
                break
        self.assertEqual(store.pendingCount(), 0)
        p = self.prefix
        self.assertEqual(
            sorted(self.redis("SMEMBERS", f"{p}:node:n1")), ["a:kept", "a:new"]
        )
        stored = DialogCodec().decode(self.redis("HGET", f"{p}:dialog:a:kept", "data"))
        self.assertEqual(stored.caller.cseq, 42)

    @inlineCallbacks
    def test_claimAfterEmptyRestart(self):  # type: ignore[no-untyped-def]
        """
        A held call expiring while Redis is down cannot be claimed (the claim
        fails, to be tried again); once Redis is back empty, with no change
        pending to write, the claim first writes the node's calls again and
        is won, instead of finding the call gone (then nobody would end it).
        """
        store = yield self.opened()
        store.add(confirmed("c1", keepaliveAt=10.0))
        yield store.flush()
        self.server.stop()
        yield deferLater(reactor, 0.2, lambda: None)
        yield self.assertFailure(store.claim(("c1", "a"), "keepalive", 20.0), Exception)
        self.assertEqual(store.pendingCount(), 0)
        self.server.start()
        verdict = None
        for _ in range(100):
            yield deferLater(reactor, 0.1, lambda: None)
            try:
                verdict = yield store.claim(("c1", "a"), "keepalive", 20.0)
            except Exception:
                continue
            break
        self.assertEqual(verdict, ("won", None))
        self.assertEqual(self.redis("HGET", f"{self.prefix}:dialog:a:c1", "claim"), "n1")
