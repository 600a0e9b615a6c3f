"""
Tests for L{keepsip.media.bencode}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.media.bencode import BencodeError, bdecode, bencode


class BencodeTests(SynchronousTestCase):
    def test_encode(self) -> None:
        """
        Integers, strings (text as UTF-8), lists and dictionaries with
        sorted keys encode as bencode specifies.
        """
        self.assertEqual(
            bencode({"sdp": b"v=0", "command": "offer", "n": -3, "l": [1, "\u00e9"]}),
            b"d7:command5:offer1:lli1e2:\xc3\xa9e1:ni-3e3:sdp3:v=0e",
        )

    def test_encodeRefuses(self) -> None:
        """
        Booleans, floats and None have no bencode form.
        """
        for value in (True, 1.5, None, {1: 2}):
            self.assertRaises(TypeError, bencode, value)

    def test_roundTrip(self) -> None:
        """
        Decoding an encoded value gives it back, strings as bytes and keys
        as text.
        """
        value = {"result": b"ok", "tags": {"a": {"medias": [{"index": 1}]}}, "e": []}
        self.assertEqual(bdecode(bencode(value)), value)

    def test_unsortedKeys(self) -> None:
        """
        Dictionaries whose keys are not in order (as rtpengine writes them)
        decode.
        """
        self.assertEqual(bdecode(b"d1:bi1e1:ai2ee"), {"b": 1, "a": 2})

    def test_malformed(self) -> None:
        """
        Truncated, trailing, or ill-formed input raises L{BencodeError}.
        """
        for data in [b"", b"i12", b"5:abc", b"d1:a", b"l", b"ie", b"x", b"i1ei2e",
                     b"di1ei2ee", b"d" * 100 + b"e" * 100, b"3x:abc"]:
            self.assertRaises(BencodeError, bdecode, data)
