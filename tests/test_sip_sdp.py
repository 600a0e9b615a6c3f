"""
Tests for L{keepsip.sip.sdp}: media summary and semantic equality.
"""

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.sdp import matchesOffer, mediaSummary, offerDigest, parseSDP, sameMedia

OFFER = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"b=AS:200\r\n"
    b"t=0 0\r\n"
    b"a=sendrecv\r\n"
    b"m=audio 49170 RTP/AVP 0 8 96 101\r\n"
    b"a=rtpmap:96 opus/48000/2\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=ptime:20\r\n"
    b"m=video 51372 RTP/AVP 97\r\n"
    b"c=IN IP4 192.0.2.11\r\n"
    b"b=TIAS:500000\r\n"
    b"a=rtpmap:97 H264/90000\r\n"
    b"a=recvonly\r\n"
)


class ParseTests(SynchronousTestCase):
    def test_mediaLines(self) -> None:
        """
        Each m-line gives type, port, proto and codecs; static payload types
        are named from RFC 3551, dynamic ones from a=rtpmap.
        """
        audio, video = parseSDP(OFFER).media
        self.assertEqual((audio.type, audio.port, audio.proto), ("audio", 49170, "RTP/AVP"))
        self.assertEqual(
            [c.describe() for c in audio.codecs],
            ["PCMU/8000", "PCMA/8000", "opus/48000/2", "telephone-event/8000"],
        )
        self.assertEqual(audio.ptime, 20.0)
        self.assertEqual([c.describe() for c in video.codecs], ["H264/90000"])

    def test_sessionDefaults(self) -> None:
        """
        Session-level c=, b= and direction apply to m-lines that do not
        override them; media-level values win.
        """
        audio, video = parseSDP(OFFER).media
        self.assertEqual(audio.address, "192.0.2.10")
        self.assertEqual(audio.bandwidthAS, 200)
        self.assertEqual(audio.direction, "sendrecv")
        self.assertEqual(video.address, "192.0.2.11")
        self.assertEqual(video.bandwidthTIAS, 500000)
        self.assertEqual(video.direction, "recvonly")

    def test_summary(self) -> None:
        """
        L{mediaSummary} is JSON-compatible and carries codecs and bandwidth.
        """
        summary = mediaSummary(OFFER)
        self.assertEqual(
            summary[1],
            {
                "type": "video",
                "port": 51372,
                "proto": "RTP/AVP",
                "address": "192.0.2.11",
                "direction": "recvonly",
                "codecs": ["H264/90000"],
                "bandwidth": {"AS": 200, "TIAS": 500000},
            },
        )

    def test_emptyAndGarbage(self) -> None:
        """
        Empty and non-SDP bodies have no media; bad lines are skipped.
        """
        self.assertEqual(parseSDP(b"").media, ())
        self.assertEqual(parseSDP(b"\xff\xfe garbage\r\n").media, ())
        media = parseSDP(b"m=audio x RTP/AVP 0\nnonsense\nb=AS:zz\na=ptime:q\n").media
        self.assertEqual(media[0].port, 0)
        self.assertIsNone(media[0].bandwidthAS)
        self.assertFalse(media[0].active)

    def test_defaultDirection(self) -> None:
        """
        Without a direction attribute a stream is sendrecv (RFC 4566 §6).
        """
        media = parseSDP(b"v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0\n").media
        self.assertEqual(media[0].direction, "sendrecv")
        self.assertTrue(media[0].active)


class SameMediaTests(SynchronousTestCase):
    def test_originIgnored(self) -> None:
        """
        A re-offer that only bumps the o= version and reorders lines between
        attributes is the same media.
        """
        bumped = OFFER.replace(b"2890844526 2890844526", b"2890844526 2890844527")
        bumped = bumped.replace(b"s=-", b"s=session")
        self.assertNotEqual(bumped, OFFER)
        self.assertTrue(sameMedia(OFFER, bumped))
        self.assertTrue(sameMedia(OFFER.replace(b"\r\n", b"\n"), OFFER))

    def test_differences(self) -> None:
        """
        A change of port, address, payload types, codec mapping, direction
        or the number of m-lines is different media.
        """
        changes = [
            (b"m=audio 49170", b"m=audio 49172"),
            (b"c=IN IP4 192.0.2.10", b"c=IN IP4 192.0.2.99"),
            (b"RTP/AVP 0 8 96 101", b"RTP/AVP 8 0 96 101"),
            (b"a=rtpmap:96 opus/48000/2", b"a=rtpmap:96 speex/16000"),
            (b"a=sendrecv", b"a=sendonly"),
            (b"m=video 51372 RTP/AVP 97\r\n", b""),
        ]
        for old, new in changes:
            self.assertIn(old, OFFER)
            self.assertFalse(sameMedia(OFFER, OFFER.replace(old, new)), (old, new))

    def test_noMedia(self) -> None:
        """
        Two bodies without media are the same media; one with media and one
        without are not.
        """
        self.assertTrue(sameMedia(b"", b"v=0\r\n"))
        self.assertFalse(sameMedia(b"", OFFER))


class OfferDigestTests(SynchronousTestCase):
    def test_sameAsSameMedia(self) -> None:
        """
        L{matchesOffer} against an offer's digest says what L{sameMedia}
        against its body says: the same bytes, a re-offer that only bumps
        the origin, each kind of media change, bodies without media.
        """
        bumped = OFFER.replace(b"2890844526 2890844526", b"2890844526 2890844527")
        candidates = [
            OFFER,
            bumped,
            OFFER.replace(b"\r\n", b"\n"),
            OFFER.replace(b"m=audio 49170", b"m=audio 49172"),
            OFFER.replace(b"c=IN IP4 192.0.2.10", b"c=IN IP4 192.0.2.99"),
            OFFER.replace(b"a=sendrecv", b"a=sendonly"),
            OFFER.replace(b"a=rtpmap:96 opus/48000/2", b"a=rtpmap:96 speex/16000"),
            b"",
            b"v=0\r\n",
        ]
        for offer in (OFFER, bumped, b"", b"v=0\r\n"):
            digest = offerDigest(offer)
            self.assertEqual(len(digest), 32 if offer else 0)
            for body in candidates:
                self.assertEqual(
                    matchesOffer(body, digest), sameMedia(body, offer), (offer, body)
                )
