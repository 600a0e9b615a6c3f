"""
Tests for L{keepsip.metrics.accounting}: the accounting families follow records
waiting and sent.
"""

from __future__ import annotations

from ._metrics import ProxyMetricsCase, value


class ProxyMetricsTests(ProxyMetricsCase):
    """
    The accounting families of a L{ProxyService} follow its records.
    """

    def test_accountingBacklogAndSent(self) -> None:
        """
        A call's records wait in the backlog while accounting is stopped,
        and are counted as sent (backlog 0) once it runs.
        """
        self.callUp()
        self.proxy.clock.advance(0.01)
        waiting = self.scrape()
        self.assertEqual(
            value(waiting, "keepsip_accounting_backlog_records", backend=self.backend), 1
        )
        self.assertEqual(
            value(waiting, "keepsip_accounting_records_sent_total", backend=self.backend), 0
        )
        accounting = self.proxy.service.accounting
        accounting.startService()
        self.addCleanup(accounting.stopService)
        self.proxy.clock.advance(0.01)
        sent = self.scrape()
        self.assertEqual(value(sent, "keepsip_accounting_backlog_records", backend=self.backend), 0)
        self.assertEqual(
            value(sent, "keepsip_accounting_records_sent_total", backend=self.backend), 1
        )
        self.assertEqual(
            value(sent, "keepsip_accounting_send_failures_total", backend=self.backend), 0
        )
        self.assertEqual(
            value(sent, "keepsip_accounting_write_errors_total", backend=self.backend), 0
        )
        self.assertEqual(value(sent, "keepsip_accounting_outage", backend=self.backend), 0)
