"""
Tests for L{keepsip.metrics.keepalive}: the keepalive and reaper families follow
keepalives and a call that falls silent.
"""

from __future__ import annotations

from ._metrics import ProxyMetricsCase, value
from ._proxy import keepAliveThenFallSilent, startReapers, stopReapers


class ProxyMetricsTests(ProxyMetricsCase):
    """
    The keepalive families of a L{ProxyService} follow its calls.
    """

    def test_keepalivesThenSilence(self) -> None:
        """
        Two keepalives count; when they stop the reaper ends the call: the
        expired and reaped counters and the keepalive-timeout cause move.
        """
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        self.callUp()
        keepAliveThenFallSilent(self.proxy)
        families = self.scrape()
        self.assertEqual(value(families, "keepsip_keepalives_total"), 2)
        self.assertEqual(value(families, "keepsip_keepalive_expired_total"), 1)
        self.assertEqual(value(families, "keepsip_reaper_reaped_total", reaper="keepalive"), 1)
        # One tick a second through the 60 s of silence (Clock.advance(30)
        # runs a LoopingCall once, so the calls' first minute adds ~2).
        self.assertGreaterEqual(
            value(families, "keepsip_reaper_ticks_total", reaper="keepalive"), 60
        )
        self.assertEqual(
            value(families, "keepsip_dialogs_ended_total", cause="keepalive-timeout"), 1
        )
        self.assertEqual(value(families, "keepsip_dialogs"), 0)
