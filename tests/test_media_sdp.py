"""
Tests for L{keepsip.media.sdp}: reading the streams of an SDP body and
rewriting it to put the relay in the media path.
"""

from __future__ import annotations

import socket

from twisted.trial.unittest import SynchronousTestCase

from keepsip.media.model import UnsupportedSDP
from keepsip.media.sdp import expectsMedia, relayStreams, rewriteSDP


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


OFFER = sdp(
    "v=0",
    "o=alice 1 1 IN IP4 192.0.2.10",
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0 8",
    "a=rtpmap:0 PCMU/8000",
    "m=video 51372 RTP/AVP 96",
    "c=IN IP4 192.0.2.11",
    "a=rtcp:53000",
    "a=sendonly",
)


class RelayStreamsTests(SynchronousTestCase):
    def test_sessionAndMediaConnection(self) -> None:
        """
        A stream without its own C{c=} takes the session's; one with its own
        uses it; RTCP is on port+1 unless C{a=rtcp} says otherwise.
        """
        audio, video = relayStreams(OFFER)
        self.assertEqual(
            (audio.index, audio.mediaType, audio.address, audio.port, audio.rtcpPort),
            (0, "audio", "192.0.2.10", 49170, 49171),
        )
        self.assertEqual(audio.family, socket.AF_INET)
        self.assertEqual(audio.direction, "sendrecv")
        self.assertEqual(
            (video.address, video.port, video.rtcpPort, video.direction),
            ("192.0.2.11", 51372, 53000, "sendonly"),
        )

    def test_ipv6AndRtcpMux(self) -> None:
        """
        C{c=IN IP6} gives an IPv6 stream; C{a=rtcp-mux} is seen; C{a=rtcp}
        with an address moves RTCP to that address.
        """
        (stream,) = relayStreams(
            sdp(
                "v=0",
                "c=IN IP6 2001:db8::1",
                "m=audio 5000 RTP/AVP 0",
                "a=rtcp-mux",
                "a=rtcp:6000 IN IP6 2001:db8::2",
            )
        )
        self.assertEqual(stream.family, socket.AF_INET6)
        self.assertTrue(stream.rtcpMux)
        self.assertEqual((stream.rtcpAddress, stream.rtcpPort), ("2001:db8::2", 6000))

    def test_disabledStreamNeedsNoAddress(self) -> None:
        """
        A port 0 stream is disabled and may lack a connection address.
        """
        (stream,) = relayStreams(sdp("v=0", "m=audio 0 RTP/AVP 0"))
        self.assertTrue(stream.disabled)

    def test_unsupported(self) -> None:
        """
        Host names, multicast, port counts, TCP transports, a family
        mismatch in C{c=} and active streams without an address are refused
        with L{UnsupportedSDP}.
        """
        for body in [
            sdp("v=0", "c=IN IP4 host.example.com", "m=audio 5000 RTP/AVP 0"),
            sdp("v=0", "c=IN IP4 224.2.1.1/127", "m=audio 5000 RTP/AVP 0"),
            sdp("v=0", "c=IN IP4 192.0.2.1", "m=audio 5000/2 RTP/AVP 0"),
            sdp("v=0", "c=IN IP4 192.0.2.1", "m=message 5000 TCP/MSRP *"),
            sdp("v=0", "c=IN IP6 192.0.2.1", "m=audio 5000 RTP/AVP 0"),
            sdp("v=0", "m=audio 5000 RTP/AVP 0"),
            sdp("v=0", "c=IN IP4 192.0.2.1", "m=audio 5000 RTP/AVP 0", "a=rtcp:x"),
        ]:
            self.assertRaises(UnsupportedSDP, relayStreams, body)

    def test_noMedia(self) -> None:
        """
        An empty body has no streams.
        """
        self.assertEqual(relayStreams(b""), ())


class RewriteTests(SynchronousTestCase):
    def test_rewritesConnectionsPortsAndRtcp(self) -> None:
        """
        Every C{c=} names the relay, each m-line gets its relay port and
        C{a=rtcp} the relay's RTCP port; other lines and the line endings
        stay.
        """
        out = rewriteSDP(OFFER, "203.0.113.5", [(30000, 30001), (30002, 30003)])
        self.assertEqual(
            out,
            sdp(
                "v=0",
                "o=alice 1 1 IN IP4 192.0.2.10",
                "s=-",
                "c=IN IP4 203.0.113.5",
                "t=0 0",
                "m=audio 30000 RTP/AVP 0 8",
                "a=rtpmap:0 PCMU/8000",
                "m=video 30002 RTP/AVP 96",
                "c=IN IP4 203.0.113.5",
                "a=rtcp:30003",
                "a=sendonly",
            ),
        )

    def test_ipv6RelayAndRtcpAddress(self) -> None:
        """
        An IPv6 relay address is written as C{IN IP6}, also in an C{a=rtcp}
        that carried an address.
        """
        body = sdp(
            "v=0", "c=IN IP4 192.0.2.1", "m=audio 5000 RTP/AVP 0", "a=rtcp:7000 IN IP4 192.0.2.2"
        )
        out = rewriteSDP(body, "2001:db8::5", [(40000, 40001)])
        self.assertEqual(
            out,
            sdp("v=0", "c=IN IP6 2001:db8::5", "m=audio 40000 RTP/AVP 0",
                "a=rtcp:40001 IN IP6 2001:db8::5"),
        )

    def test_portZeroLeftAlone(self) -> None:
        """
        A stream given no ports keeps port 0; the others are rewritten.
        """
        body = sdp("v=0", "c=IN IP4 192.0.2.1", "m=video 0 RTP/AVP 96", "m=audio 5000 RTP/AVP 0")
        out = rewriteSDP(body, "203.0.113.5", [None, (30000, 30001)])
        self.assertIn(b"m=video 0 RTP/AVP 96\r\n", out)
        self.assertIn(b"m=audio 30000 RTP/AVP 0\r\n", out)

    def test_holdAddressKept(self) -> None:
        """
        C{c=IN IP4 0.0.0.0} (RFC 2543 hold) is not replaced by the relay.
        """
        body = sdp("v=0", "c=IN IP4 0.0.0.0", "m=audio 5000 RTP/AVP 0")
        out = rewriteSDP(body, "203.0.113.5", [(30000, 30001)])
        self.assertIn(b"c=IN IP4 0.0.0.0\r\n", out)
        self.assertIn(b"m=audio 30000 ", out)

    def test_iceRemoved(self) -> None:
        """
        ICE candidates and credentials are removed, so endpoints cannot
        route around the relay.
        """
        body = sdp(
            "v=0", "c=IN IP4 192.0.2.1", "a=ice-ufrag:x", "m=audio 5000 RTP/AVP 0",
            "a=ice-pwd:y", "a=candidate:1 1 UDP 1 192.0.2.1 5000 typ host", "a=sendrecv",
        )
        out = rewriteSDP(body, "203.0.113.5", [(30000, 30001)])
        self.assertNotIn(b"ice", out)
        self.assertNotIn(b"candidate", out)
        self.assertIn(b"a=sendrecv\r\n", out)

    def test_bareLineFeeds(self) -> None:
        """
        A body with LF line endings keeps them.
        """
        out = rewriteSDP(b"v=0\nc=IN IP4 192.0.2.1\nm=audio 5000 RTP/AVP 0\n", "10.0.0.1",
                         [(30000, 30001)])
        self.assertEqual(out, b"v=0\nc=IN IP4 10.0.0.1\nm=audio 30000 RTP/AVP 0\n")


class ExpectsMediaTests(SynchronousTestCase):
    def streams(self, *directions: str, address: str = "192.0.2.1") -> tuple:
        lines = ["v=0", f"c=IN IP4 {address}"]
        for direction in directions:
            lines += ["m=audio 5000 RTP/AVP 0", f"a={direction}"]
        return relayStreams(sdp(*lines))

    def test_sendrecv(self) -> None:
        """
        Two C{sendrecv} sides both expect media.
        """
        self.assertTrue(expectsMedia(self.streams("sendrecv"), self.streams("sendrecv")))

    def test_hold(self) -> None:
        """
        A side that said C{recvonly} or C{inactive}, or whose peer said
        C{sendonly}/C{inactive} or C{0.0.0.0}, is not expected to send.
        """
        self.assertFalse(expectsMedia(self.streams("recvonly"), self.streams("sendonly")))
        self.assertFalse(expectsMedia(self.streams("inactive"), self.streams("inactive")))
        self.assertFalse(expectsMedia(self.streams("sendrecv"), self.streams("sendonly")))
        self.assertFalse(
            expectsMedia(self.streams("sendrecv"), self.streams("sendrecv", address="0.0.0.0"))
        )
        self.assertTrue(expectsMedia(self.streams("sendonly"), self.streams("recvonly")))

    def test_anyStreamCounts(self) -> None:
        """
        One stream still flowing is enough; no answer yet means the offer
        alone decides.
        """
        self.assertTrue(
            expectsMedia(self.streams("inactive", "sendrecv"), self.streams("inactive", "sendrecv"))
        )
        self.assertTrue(expectsMedia(self.streams("sendrecv"), None))
        self.assertFalse(expectsMedia((), None))
