"""
Tests for L{keepsip.metrics.dialog}: the end-cause counter, the dialog gauges
following a call through a proxy, and the dialog store's counters.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.model import EndCause
from keepsip.interfaces import IDialogObserver
from keepsip.metrics.dialog import EndCauseCounter
from keepsip.testing import ALICE, BOB, answer

from ._metrics import ProxyMetricsCase, bye, value


class EndCauseCounterTests(SynchronousTestCase):
    """
    L{EndCauseCounter} counts ended calls by cause.
    """

    def test_interface(self) -> None:
        """
        It provides L{IDialogObserver}.
        """
        self.assertTrue(verifyObject(IDialogObserver, EndCauseCounter()))

    def test_counts(self) -> None:
        """
        Every known cause starts at 0; each C{dialogTerminated} adds one to
        its cause, an unknown cause included; other events count nothing.
        """
        counter = EndCauseCounter()
        self.assertEqual(counter.counts, dict.fromkeys(EndCause.ALL, 0))
        counter.dialogConfirmed(None)  # type: ignore[arg-type]
        counter.dialogExpired(None)  # type: ignore[arg-type]
        counter.dialogTerminated(None, EndCause.CALLER_BYE, {})  # type: ignore[arg-type]
        counter.dialogTerminated(None, EndCause.CALLER_BYE, {})  # type: ignore[arg-type]
        counter.dialogTerminated(None, "something-new", {})  # type: ignore[arg-type]
        self.assertEqual(counter.counts[EndCause.CALLER_BYE], 2)
        self.assertEqual(counter.counts["something-new"], 1)
        self.assertEqual(sum(counter.counts.values()), 3)


class ProxyMetricsTests(ProxyMetricsCase):
    """
    The dialog families of a L{ProxyService} follow a call.
    """

    def test_callUpAndHungUp(self) -> None:
        """
        While a call is up the dialog and keepalive gauges are 1 and the
        INVITE's transactions are counted; after Alice's BYE is answered the
        gauges are back to 0 and the call is counted once under caller-bye.
        """
        self.callUp()
        during = self.scrape()
        self.assertEqual(value(during, "keepsip_sip_datagrams_received_total"), 3)
        self.assertEqual(value(during, "keepsip_dialogs"), 1)
        self.assertEqual(value(during, "keepsip_keepalive_dialogs"), 1)
        self.assertEqual(value(during, "keepsip_transactions", kind="server"), 1)
        self.assertEqual(value(during, "keepsip_transactions", kind="client"), 1)
        self.assertEqual(value(during, "keepsip_dialogs_ended_total", cause="caller-bye"), 0)

        self.proxy.receive(bye(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", toTag=None), BOB)
        after = self.scrape()
        self.assertEqual(value(after, "keepsip_sip_datagrams_received_total"), 5)
        self.assertEqual(value(after, "keepsip_dialogs"), 0)
        self.assertEqual(value(after, "keepsip_keepalive_dialogs"), 0)
        self.assertEqual(value(after, "keepsip_dialogs_ended_total", cause="caller-bye"), 1)
        self.assertEqual(sum(after["keepsip_dialogs_ended_total"]["samples"].values()), 1)
        # Timers J/K (64 x T1, T4) end the transactions.
        self.proxy.clock.advance(64 * 0.5 + 1)
        done = self.scrape()
        self.assertEqual(value(done, "keepsip_transactions", kind="server"), 0)
        self.assertEqual(value(done, "keepsip_transactions", kind="client"), 0)


class DialogStoreMetricsTests(SynchronousTestCase):
    def test_counts(self) -> None:
        """
        The dialog store family reports the SQLite store's rows written,
        failed writes and calls loaded at start.
        """
        from twisted.internet.task import Clock

        from keepsip.dialog.serial import DialogCodec
        from keepsip.dialog.sqlite import SQLiteDialogStore
        from keepsip.metrics.dialog import dialogStoreMetrics
        from tests._dialogstore import makeDialog

        clock = Clock()
        path = self.mktemp()
        store = SQLiteDialogStore(path, clock, DialogCodec(), commitDelay=0)
        store.open()
        store.add(makeDialog("a"))
        store.add(makeDialog("b"))
        clock.advance(0)
        store.close()
        again = SQLiteDialogStore(path, clock, DialogCodec())
        again.open()
        self.addCleanup(again.close)
        metrics = {m.name: m.samples for m in dialogStoreMetrics(store)()}
        self.assertEqual(metrics["keepsip_dialog_store_operations_total"], [((), 2)])
        self.assertEqual(metrics["keepsip_dialog_store_errors_total"], [((), 0)])
        loaded = {m.name: m.samples for m in dialogStoreMetrics(again)()}
        self.assertEqual(loaded["keepsip_dialog_store_loaded"], [((), 2)])
