"""
Tests for L{keepsip.metrics.media}: the media reader follows relayed packets and
the media timeout.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase


class MediaMetricsTests(SynchronousTestCase):
    """
    L{keepsip.metrics.media.mediaMetrics} reads the relay and the media timeout.
    """

    def test_relayCounters(self) -> None:
        """
        With one call up and 5 packets relayed, the reader reports 5
        packets, their octets, one stream, one session, 4 ports in use and
        one watched call; after the media timeout ended the call (both
        BYEs answered), one timeout and 0 ports.
        """
        from keepsip.metrics.media import mediaMetrics

        from ._media import ALICE_RTP, PACKET, MediaProxyTestCase, mediaPort

        case = MediaProxyTestCase()
        proxy = case.makeProxy()
        self.addCleanup(case.doCleanups)
        atBob, ok = case.establish()
        case.rtp(mediaPort(ok.body), ALICE_RTP, 5)
        read = mediaMetrics(proxy.service.media)

        def values() -> dict[str, float]:
            return {m.name: m.samples[0][1] for m in read()}

        now = values()
        self.assertEqual(now["keepsip_media_relayed_packets_total"], 5)
        self.assertEqual(now["keepsip_media_relayed_bytes_total"], 5 * len(PACKET))
        self.assertEqual(now["keepsip_media_streams"], 1)
        self.assertEqual(now["keepsip_media_sessions"], 1)
        self.assertEqual(now["keepsip_media_ports_in_use"], 4)
        self.assertEqual(now["keepsip_media_watched_calls"], 1)
        case.reactor.advance(5)
        case.answerByes(case.byes())
        later = values()
        self.assertEqual(later["keepsip_media_timeouts_total"], 1)
        self.assertEqual(later["keepsip_media_ports_in_use"], 0)
        self.assertEqual(later["keepsip_media_relayed_packets_total"], 5)
