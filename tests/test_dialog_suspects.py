"""
Tests for L{keepsip.dialog.suspects}: suspect requests logged once per
source and window, on a L{task.Clock}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.suspects import SuspectLog

A = ("198.51.100.1", 5060)
B = ("198.51.100.2", 5060)


class SuspectLogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def lines(self, peer=A) -> list[dict]:
        return [e for e in self.events if e.get("peer") == peer]

    def test_firstLoggedRestCounted(self) -> None:
        """
        The first report from a source is logged with its fields; the next
        ones in the window are only counted.
        """
        suspects = SuspectLog(self.clock, window=60)
        self.assertTrue(suspects.report(A, "bad {thing} from {peer}", thing="INFO"))
        for _ in range(5):
            self.clock.advance(1)
            self.assertFalse(suspects.report(A, "bad {thing} from {peer}", thing="INFO"))
        [line] = self.lines()
        self.assertEqual(line["thing"], "INFO")
        self.assertEqual(suspects.reported, 6)

    def test_summaryAtWindowEndThenNewWindow(self) -> None:
        """
        When the window ends the count not logged is logged in one line and
        a new window opens: a steady source gets one line per window; a
        source quiet for a whole window is forgotten.
        """
        suspects = SuspectLog(self.clock, window=60)
        for _ in range(150):
            suspects.report(A, "bad from {peer}")
            self.clock.advance(1)
        # t=150: windows closed at 60 and 120, the third is open.
        counts = [e.get("count") for e in self.lines()]
        self.assertEqual(counts, [None, 59, 60])
        self.assertEqual(len(suspects), 1)
        suspects.sweep(self.clock.seconds() + 60)
        self.assertEqual([e.get("count") for e in self.lines()][-1], 30)
        suspects.sweep(self.clock.seconds() + 120)
        self.assertEqual(len(suspects), 0)
        self.assertEqual(len(self.lines()), 4)

    def test_sourcesIndependent(self) -> None:
        """
        Each source has its own window.
        """
        suspects = SuspectLog(self.clock)
        suspects.report(A, "x {peer}")
        suspects.report(B, "x {peer}")
        suspects.report(A, "x {peer}")
        self.assertEqual((len(self.lines(A)), len(self.lines(B))), (1, 1))

    def test_maxSources(self) -> None:
        """
        Beyond C{maxSources} open windows, further sources share one: a
        spoofed flood from a million addresses holds a bounded table and
        logs one line more.
        """
        suspects = SuspectLog(self.clock, maxSources=3)
        for n in range(1000):
            suspects.report((f"10.0.{n // 256}.{n % 256}", 5060), "x {peer}")
        self.assertEqual(len(suspects), 4)
        self.assertEqual(len(self.events), 4)
        self.clock.advance(60)
        suspects.sweep(self.clock.seconds())
        self.assertEqual(self.events[-1]["count"], 996)
        self.assertEqual(self.events[-1]["peer"], "other sources")

    def test_badWindow(self) -> None:
        """
        A window must be positive.
        """
        self.assertRaises(ValueError, SuspectLog, self.clock, window=0)
