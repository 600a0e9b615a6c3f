"""
Tests for L{keepsip.sip.nameaddr}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.headers import parseNameAddr
from keepsip.sip.nameaddr import NameAddr
from keepsip.sip.uri import parseURI


class NameAddrTests(SynchronousTestCase):
    """
    L{NameAddr}: serialising and comparing.
    """

    def test_displayNameEscaping(self) -> None:
        """
        C{toString} quotes the display name, escaping quotes, backslashes and
        controls, and never writes CR or LF.
        """
        value = NameAddr(parseURI("sip:a@b"), 'say "hi"\\\x00\r\nx')
        self.assertEqual(value.toString(), '"say \\"hi\\"\\\\\\\x00  x" <sip:a@b>')
        self.assertEqual(parseNameAddr(value.toString()).displayName, 'say "hi"\\\x00  x')

    def test_equality(self) -> None:
        """
        Two values are equal (and hash alike) when display name, URI and
        parameters are; a different parameter makes them differ.
        """
        one = NameAddr(parseURI("sip:a@b"), "A", {"tag": "1"})
        same = NameAddr(parseURI("sip:a@b"), "A", {"tag": "1"})
        other = NameAddr(parseURI("sip:a@b"), "A", {"tag": "2"})
        self.assertEqual(one, same)
        self.assertEqual(hash(one), hash(same))
        self.assertNotEqual(one, other)
