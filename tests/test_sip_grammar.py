"""
Tests for L{keepsip.sip.grammar}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.grammar import formatParams, parseParams, splitList, splitQuoted


class SplitTests(SynchronousTestCase):
    """
    L{splitList} and L{splitQuoted}.
    """

    def test_splitList(self) -> None:
        """
        Commas inside quotes and C{<>} do not split; empty elements go.
        """
        self.assertEqual(splitList(""), [""])
        self.assertEqual(splitList(" a "), ["a"])
        self.assertEqual(splitList("a, b,,c ,"), ["a", "b", "c"])
        self.assertEqual(
            splitList('"a,\\",b" <sip:x,y>;p=1, <sip:z>'),
            ['"a,\\",b" <sip:x,y>;p=1', "<sip:z>"],
        )
        self.assertEqual(splitList(",,"), [""])
        self.assertEqual(splitList('"open, x'), ['"open, x'])
        self.assertEqual(splitList("<open, x"), ["<open, x"])

    def test_splitQuoted(self) -> None:
        """
        Separators inside quoted strings are kept; an open quote raises.
        """
        self.assertEqual(splitQuoted('a;b="c;d";e', ";"), ["a", 'b="c;d"', "e"])
        self.assertRaises(ValueError, splitQuoted, 'a;b="c', ";")


class ParamsTests(SynchronousTestCase):
    """
    L{parseParams} and L{formatParams}.
    """

    def test_roundTrip(self) -> None:
        """
        Names are lower-cased, LWS around C{=} goes, quoted values keep their
        quotes, the first of duplicate names wins, and L{formatParams} writes
        the result back in order.
        """
        params = parseParams(["Tag = 1", "lr", 'x="a;b"', "tag=2"])
        self.assertEqual(params, {"tag": "1", "lr": None, "x": '"a;b"'})
        self.assertEqual(formatParams(params), ';tag=1;lr;x="a;b"')

    def test_errors(self) -> None:
        """
        Empty or non-token names, empty values and unquoted values holding
        separators raise L{ValueError}.
        """
        for item in ["", "=1", "a b=1", "x=", 'x="open', "x=a<b"]:
            self.assertRaises(ValueError, parseParams, [item])
