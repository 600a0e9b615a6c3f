"""
Tests for L{keepsip.keepalive.deadlines}.
"""

from twisted.trial.unittest import SynchronousTestCase

import random

from keepsip.keepalive.deadlines import DeadlineIndex, InOrderDeadlineIndex


class DeadlineIndexTests(SynchronousTestCase):
    def test_empty(self):
        """
        An empty index has no length, no next expiry and expires nothing.
        """
        index = DeadlineIndex()
        self.assertEqual(len(index), 0)
        self.assertIsNone(index.nextExpiry())
        self.assertEqual(index.popExpired(1e9), [])

    def test_setGetContains(self):
        """
        A key that was set is contained and its deadline is returned by
        C{get}; an unknown key gets the default.
        """
        index = DeadlineIndex()
        index.set("a", 10.0)
        self.assertIn("a", index)
        self.assertNotIn("b", index)
        self.assertEqual(index.get("a"), 10.0)
        self.assertIsNone(index.get("b"))
        self.assertEqual(index.get("b", -1.0), -1.0)
        self.assertEqual(len(index), 1)

    def test_popOnlyExpired(self):
        """
        C{popExpired(now)} returns the keys due at or before C{now}, in expiry
        order, removes them, and leaves later ones in place.
        """
        index = DeadlineIndex()
        index.set("late", 30.0)
        index.set("early", 10.0)
        index.set("exact", 20.0)
        self.assertEqual(index.popExpired(5.0), [])
        self.assertEqual(index.popExpired(20.0), [("early", 10.0), ("exact", 20.0)])
        self.assertEqual(len(index), 1)
        self.assertNotIn("early", index)
        self.assertEqual(index.nextExpiry(), 30.0)
        self.assertEqual(index.popExpired(20.0), [])

    def test_equalDeadlinesPopInSetOrder(self):
        """
        Keys with the same deadline pop in the order they were set (and keys
        are never compared, so unorderable keys work).
        """
        index = DeadlineIndex()
        keys = [("c", 2), "b", 3, ("a", None)]
        for key in keys:
            index.set(key, 5.0)
        self.assertEqual([k for k, _ in index.popExpired(5.0)], keys)

    def test_refreshLater(self):
        """
        Setting a key again with a later deadline (a keepalive refresh) means
        the old deadline no longer fires: only the new one does, once.
        """
        index = DeadlineIndex()
        index.set("d", 10.0)
        index.set("d", 40.0)
        self.assertEqual(len(index), 1)
        self.assertEqual(index.get("d"), 40.0)
        self.assertEqual(index.popExpired(39.0), [])
        self.assertEqual(index.nextExpiry(), 40.0)
        self.assertEqual(index.popExpired(40.0), [("d", 40.0)])
        self.assertEqual(index.popExpired(100.0), [])

    def test_refreshEarlier(self):
        """
        Setting a key again with an earlier deadline makes it fire at the
        earlier time, and only once.
        """
        index = DeadlineIndex()
        index.set("d", 40.0)
        index.set("d", 10.0)
        self.assertEqual(index.popExpired(10.0), [("d", 10.0)])
        self.assertEqual(index.popExpired(100.0), [])

    def test_discard(self):
        """
        A discarded key never fires; discarding an unknown key is harmless.
        """
        index = DeadlineIndex()
        index.set("a", 10.0)
        index.set("b", 20.0)
        index.discard("a")
        index.discard("missing")
        self.assertNotIn("a", index)
        self.assertEqual(len(index), 1)
        self.assertEqual(index.nextExpiry(), 20.0)
        self.assertEqual(index.popExpired(100.0), [("b", 20.0)])

    def test_discardThenSet(self):
        """
        A key discarded and set again fires at its new deadline only.
        """
        index = DeadlineIndex()
        index.set("a", 10.0)
        index.discard("a")
        index.set("a", 50.0)
        self.assertEqual(index.popExpired(49.0), [])
        self.assertEqual(index.popExpired(50.0), [("a", 50.0)])

    def test_compactionBoundsHeap(self):
        """
        Refreshing one key many times does not grow the heap without bound:
        once stale entries outnumber live ones by the ratio, the heap is
        rebuilt from the live entries, which keep their deadlines.
        """
        index = DeadlineIndex()
        for i in range(10):
            index.set(("live", i), 1000.0 + i)
        for n in range(10_000):
            index.set("hot", float(n))
        limit = (index.compactRatio + 1) * len(index) + index.compactMinimum + 1
        self.assertLessEqual(index.heapSize, limit)
        self.assertGreater(index.compactions, 0)
        self.assertEqual(index.get("hot"), 9999.0)
        expired = index.popExpired(10_000.0)
        self.assertEqual([k for k, _ in expired], [("live", i) for i in range(10)] + ["hot"])

    def test_compactionAfterDiscards(self):
        """
        Discarding most keys compacts the heap too, and the survivors still
        expire correctly.
        """
        index = DeadlineIndex()
        for i in range(1000):
            index.set(i, float(i))
        for i in range(1000):
            if i % 100:
                index.discard(i)
        self.assertEqual(len(index), 10)
        self.assertGreater(index.compactions, 0)
        self.assertLess(index.heapSize, 1000)
        self.assertEqual(index.popExpired(1000.0), [(i, float(i)) for i in range(0, 1000, 100)])

    def test_noCompactionWhenSmall(self):
        """
        Below the minimum number of stale entries the heap is left alone, so
        a few refreshes do not pay for a rebuild.
        """
        index = DeadlineIndex()
        index.set("a", 1.0)
        for n in range(index.compactMinimum):
            index.set("a", float(n))
        self.assertEqual(index.compactions, 0)
        self.assertEqual(index.heapSize, index.compactMinimum + 1)

    def test_nextExpirySkipsStale(self):
        """
        C{nextExpiry} ignores stale entries left by refreshes and discards.
        """
        index = DeadlineIndex()
        index.set("a", 1.0)
        index.set("b", 2.0)
        index.set("a", 5.0)
        self.assertEqual(index.nextExpiry(), 2.0)
        index.discard("b")
        self.assertEqual(index.nextExpiry(), 5.0)

    def test_clear(self):
        """
        C{clear} forgets every deadline.
        """
        index = DeadlineIndex()
        index.set("a", 1.0)
        index.clear()
        self.assertEqual(len(index), 0)
        self.assertEqual(index.popExpired(10.0), [])

    def test_workGrowsWithExpiredOnly(self):
        """
        The entries C{popExpired} takes off the heap (C{popped}) are the
        expired ones and the stale ones due before them: none when nothing
        is due, whether the index holds 100 keys or 10,000, and exactly the
        expired count when some are.
        """
        for size in (100, 10_000):
            index = DeadlineIndex()
            for n in range(size):
                index.set(n, 100.0 + n)
            for tick in range(50):
                self.assertEqual(index.popExpired(99.0 + tick * 1e-3), [])
            self.assertIsNotNone(index.nextExpiry())
            self.assertEqual(index.popped, 0, size)
            expired = index.popExpired(100.0 + 9)
            self.assertEqual(len(expired), 10)
            self.assertEqual(index.popped, 10, size)

    def test_refreshedEntriesPoppedOnce(self):
        """
        A refreshed key leaves one stale entry, taken off once when its old
        deadline comes and not returned: the work of a tick is its expired
        and stale entries, counted.
        """
        index = DeadlineIndex()
        for n in range(1000):
            index.set(n, 10.0)
        for n in range(100):
            index.set(n, 50.0)  # refreshed: 100 stale entries at 10.0
        self.assertEqual(len(index.popExpired(10.0)), 900)
        self.assertEqual(index.popped, 1000)
        self.assertEqual(index.popExpired(20.0), [])
        self.assertEqual(index.popped, 1000)
        self.assertEqual(len(index.popExpired(50.0)), 100)
        self.assertEqual(index.popped, 1100)


class InOrderDeadlineIndexTests(SynchronousTestCase):
    def test_inOrder(self):
        """
        Deadlines set in time order pop in that order, only once due; equal
        times in the order they were set.
        """
        index = InOrderDeadlineIndex()
        index.set("a", 10.0)
        index.set("b", 10.0)
        index.set("c", 20.0)
        self.assertEqual(len(index), 3)
        self.assertEqual(index.nextExpiry(), 10.0)
        self.assertEqual(index.popExpired(9.0), [])
        self.assertEqual(index.popExpired(10.0), [("a", 10.0), ("b", 10.0)])
        self.assertEqual(index.get("c"), 20.0)
        self.assertNotIn("a", index)
        self.assertEqual(index.popExpired(30.0), [("c", 20.0)])
        self.assertIsNone(index.nextExpiry())

    def test_lateDeadlines(self):
        """
        A deadline earlier than the last set in order (a restored call)
        still pops at its time, merged in time order with the queue's.
        """
        index = InOrderDeadlineIndex()
        index.set("a", 50.0)
        index.set("b", 5.0)
        index.set("c", 60.0)
        index.set("d", 55.0)
        self.assertEqual(index.nextExpiry(), 5.0)
        self.assertEqual(index.get("d"), 55.0)
        self.assertEqual(index.popExpired(56.0), [("b", 5.0), ("a", 50.0), ("d", 55.0)])
        self.assertEqual(list(index.popExpired(100.0)), [("c", 60.0)])

    def test_discardAndSetAgain(self):
        """
        A forgotten key does not pop; one forgotten and set again pops once,
        at its new time, and does not hold back the keys set between.
        """
        index = InOrderDeadlineIndex()
        index.set("a", 10.0)
        index.set("b", 11.0)
        index.discard("a")
        index.set("c", 12.0)
        index.set("a", 30.0)
        index.discard("b")
        index.discard("missing")
        self.assertEqual(index.popExpired(12.0), [("c", 12.0)])
        self.assertEqual(index.popExpired(30.0), [("a", 30.0)])
        self.assertEqual(len(index), 0)

    def test_sameAsHeap(self):
        """
        Random sets, refreshes, discards and pops give what L{DeadlineIndex}
        gives (mostly in order, some late), and stale entries are bounded
        by compaction.
        """
        rng = random.Random(7)
        heap, queue = DeadlineIndex(), InOrderDeadlineIndex()
        now = 0.0
        for step in range(20_000):
            now += rng.random()
            action = rng.random()
            key = rng.randrange(500)
            if action < 0.5:
                when = now + (100.0 if rng.random() < 0.9 else rng.random() * 100)
                heap.set(key, when)
                queue.set(key, when)
            elif action < 0.8:
                heap.discard(key)
                queue.discard(key)
            else:
                self.assertEqual(
                    sorted(queue.popExpired(now)), sorted(heap.popExpired(now))
                )
            self.assertEqual(len(queue), len(heap))
            self.assertEqual(queue.get(key), heap.get(key))
        self.assertLess(queue.heapSize, 4 * len(queue) + 200)

    def test_compaction(self):
        """
        Calls that end long before their deadline do not stay in the queue:
        it is rebuilt from the live keys, which still pop in order.
        """
        index = InOrderDeadlineIndex()
        for n in range(1000):
            index.set(n, 100.0 + n)
        for n in range(0, 1000, 10):
            for m in range(n, n + 9):
                index.discard(m)
        self.assertGreater(index.compactions, 0)
        self.assertLessEqual(index.heapSize, 3 * len(index) + 65)
        self.assertEqual(
            [key for key, when in index.popExpired(2000.0)], list(range(9, 1000, 10))
        )
