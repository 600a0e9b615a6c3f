"""
Tests for L{keepsip.accounting.volume}: rate estimates from SDP and measured
volume.
"""

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.volume import measuredVolume, streamRates
from keepsip.sip.sdp import parseSDP


def sdp(*lines: str) -> bytes:
    return ("v=0\r\nc=IN IP4 192.0.2.1\r\n" + "".join(l + "\r\n" for l in lines)).encode()


class StreamRateTests(SynchronousTestCase):
    def test_pcmuBothWays(self) -> None:
        """
        PCMU at 20 ms: 160 octets payload + 40 headers, 50 packets/s, so
        10,000 octets/s per direction, 20,000 for sendrecv.
        """
        body = sdp("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000")
        (rate,) = streamRates(parseSDP(body), parseSDP(body))
        self.assertEqual((rate.type, rate.bytesPerSecond, rate.source), ("audio", 20000.0, "codec"))

    def test_answerChoosesCodecSkippingEvents(self) -> None:
        """
        The answer's first media format decides (telephone-event and CN are
        skipped): G.729 at 20 ms is 20 + 40 octets x 50/s = 3,000/s per
        direction.
        """
        offer = sdp("m=audio 4000 RTP/AVP 0 18")
        answer = sdp("m=audio 5000 RTP/AVP 101 13 18", "a=rtpmap:101 telephone-event/8000")
        (rate,) = streamRates(parseSDP(offer), parseSDP(answer))
        self.assertEqual(rate.bytesPerSecond, 6000.0)

    def test_ptimeChangesOverhead(self) -> None:
        """
        a=ptime:40 halves the packet rate, so the header overhead: PCMA at
        40 ms is 8,000 + 25 x 40 = 9,000 octets/s per direction.
        """
        body = sdp("m=audio 4000 RTP/AVP 8", "a=ptime:40")
        (rate,) = streamRates(parseSDP(body), parseSDP(body))
        self.assertEqual(rate.bytesPerSecond, 18000.0)

    def test_oneWay(self) -> None:
        """
        sendonly/recvonly answers count one direction; inactive and port 0
        count none.
        """
        offer = sdp("m=audio 4000 RTP/AVP 0")
        for attribute, expected in [
            ("a=sendonly", 10000.0),
            ("a=recvonly", 10000.0),
            ("a=inactive", 0.0),
        ]:
            answer = sdp("m=audio 5000 RTP/AVP 0", attribute)
            (rate,) = streamRates(parseSDP(offer), parseSDP(answer))
            self.assertEqual(rate.bytesPerSecond, expected, attribute)
        (rate,) = streamRates(parseSDP(offer), parseSDP(sdp("m=audio 0 RTP/AVP 0")))
        self.assertEqual((rate.bytesPerSecond, rate.source), (0.0, "none"))

    def test_bandwidthWins(self) -> None:
        """
        Declared bandwidth overrides the codec table: b=AS:100 is 12,500
        octets/s toward its sender; b=TIAS:400000 adds headers per packet of
        1,200 octets (video) to 50,000 + 41.67 x 40 octets/s.
        """
        offer = sdp("m=video 4000 RTP/AVP 97", "b=AS:100", "a=rtpmap:97 H264/90000")
        answer = sdp("m=video 5000 RTP/AVP 97", "b=TIAS:400000", "a=rtpmap:97 H264/90000")
        (rate,) = streamRates(parseSDP(offer), parseSDP(answer))
        self.assertAlmostEqual(rate.bytesPerSecond, 12500 + 50000 + 400000 / 8 / 1200 * 40)
        self.assertEqual(rate.source, "bandwidth")

    def test_videoTable(self) -> None:
        """
        H.264 without bandwidth uses the table's 512 kbit/s.
        """
        body = sdp("m=video 4000 RTP/AVP 97", "a=rtpmap:97 H264/90000")
        (rate,) = streamRates(parseSDP(body), parseSDP(body))
        self.assertAlmostEqual(rate.bytesPerSecond, 2 * (64000 + 64000 / 1200 * 40))

    def test_unknownCodec(self) -> None:
        """
        An unknown codec without bandwidth is 0, with source unknown.
        """
        body = sdp("m=audio 4000 RTP/AVP 99", "a=rtpmap:99 X-FANCY/8000")
        (rate,) = streamRates(parseSDP(body), parseSDP(body))
        self.assertEqual((rate.bytesPerSecond, rate.source), (0.0, "unknown"))

    def test_answerMissing(self) -> None:
        """
        With only one SDP (offer in the 2xx, answer in the ACK unseen), that
        SDP serves as both.
        """
        body = sdp("m=audio 4000 RTP/AVP 0")
        (rate,) = streamRates(parseSDP(b""), parseSDP(body))
        self.assertEqual(rate.bytesPerSecond, 20000.0)
        (rate,) = streamRates(parseSDP(body), parseSDP(b""))
        self.assertEqual(rate.bytesPerSecond, 20000.0)


class MeasuredTests(SynchronousTestCase):
    def test_measured(self) -> None:
        """
        Measured bytes from a relay are summed into audio, video and other.
        """
        self.assertEqual(
            measuredVolume({"audio": 10, "video": 5, "image": 2, "text": 1}),
            {"audio": 10, "video": 5, "other": 3},
        )

    def test_notMeasured(self) -> None:
        """
        Without measured bytes there is no measurement.
        """
        self.assertIsNone(measuredVolume(None))
        self.assertIsNone(measuredVolume({}))
