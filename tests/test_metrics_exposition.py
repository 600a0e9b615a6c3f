"""
Tests for L{keepsip.metrics.exposition}: the Prometheus text format, checked by a
strict parser (itself tested here).
"""

from __future__ import annotations

import math

from twisted.trial.unittest import SynchronousTestCase

from keepsip.metrics.exposition import (
    Metric,
    escapeLabelValue,
    formatValue,
    renderExposition,
)

from ._metrics import parseExposition, value


class ParserSelfTests(SynchronousTestCase):
    """
    The strict parser refuses what Prometheus would refuse, so the tests
    that use it can fail.
    """

    def test_rejects(self) -> None:
        """
        A missing HELP or TYPE, a sample of another family, a counter
        without C{_total}, an unescaped quote, a repeated sample, a missing
        final line feed and a bad value are each refused.
        """
        bad = [
            b"# TYPE a gauge\na 1\n",
            b"# HELP a x\na 1\n",
            b"# HELP a x\n# TYPE a gauge\nb 1\n",
            b"# HELP a x\n# TYPE a counter\na 1\n",
            b'# HELP a x\n# TYPE a gauge\na{l="q"q"} 1\n',
            b'# HELP a x\n# TYPE a gauge\na{l="1"} 1\na{l="1"} 2\n',
            b"# HELP a x\n# TYPE a gauge\na 1",
            b"# HELP a x\n# TYPE a gauge\na one\n",
            b"# HELP a x\n# TYPE a gauge\na  1\n",
            b"# HELP a x\n# TYPE a gauge\n\na 1\n",
            b"# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n# TYPE a gauge\n",
        ]
        for body in bad:
            self.assertRaises(AssertionError, parseExposition, body)

    def test_accepts(self) -> None:
        """
        A well-formed family with escaped labels parses to unescaped values.
        """
        families = parseExposition(
            b'# HELP a_total x\n# TYPE a_total counter\na_total{l="a\\"b\\\\c\\nd",m="2"} +Inf\n'
        )
        self.assertEqual(
            families["a_total"]["samples"], {(("l", 'a"b\\c\nd'), ("m", "2")): math.inf}
        )


class RenderTests(SynchronousTestCase):
    """
    L{renderExposition} writes the text format.
    """

    def test_families(self) -> None:
        """
        Each family gets HELP and TYPE lines, then its samples; labels are
        escaped and written in the order given; the whole parses.
        """
        body = renderExposition(
            [
                Metric("x_total", "counter", "Things\\seen\nhere.", [((), 3)]),
                Metric(
                    "y",
                    "gauge",
                    "Y.",
                    [((("b", 'q"\\\n'), ("a", "1")), 1.5), ((("b", ""), ("a", "2")), 0)],
                ),
            ]
        )
        self.assertEqual(
            body,
            b"# HELP x_total Things\\\\seen\\nhere.\n"
            b"# TYPE x_total counter\n"
            b"x_total 3\n"
            b"# HELP y Y.\n"
            b"# TYPE y gauge\n"
            b'y{b="q\\"\\\\\\n",a="1"} 1.5\n'
            b'y{b="",a="2"} 0\n',
        )
        families = parseExposition(body)
        self.assertEqual(value(families, "y", a="1", b='q"\\\n'), 1.5)

    def test_escapeLabelValue(self) -> None:
        """
        Backslash, double quote and line feed are escaped; nothing else.
        """
        self.assertEqual(escapeLabelValue('a\\b"c\nd é'), 'a\\\\b\\"c\\nd é')

    def test_formatValue(self) -> None:
        """
        Integers and integral floats print without a fraction, others with
        C{repr}; NaN and infinities as the format spells them.
        """
        self.assertEqual(formatValue(7), "7")
        self.assertEqual(formatValue(7.0), "7")
        self.assertEqual(formatValue(0.25), "0.25")
        self.assertEqual(formatValue(float("nan")), "NaN")
        self.assertEqual(formatValue(float("inf")), "+Inf")
        self.assertEqual(formatValue(float("-inf")), "-Inf")
        self.assertEqual(formatValue(1e300), "1e+300")

    def test_metricChecks(self) -> None:
        """
        Invalid names, types, counters without C{_total} and reserved or
        invalid label names are refused when the family is made.
        """
        self.assertRaises(ValueError, Metric, "bad-name", "gauge", "h", [])
        self.assertRaises(ValueError, Metric, "x", "histogram", "h", [])
        self.assertRaises(ValueError, Metric, "x", "counter", "h", [])
        self.assertRaises(ValueError, Metric, "x", "gauge", "h", [((("__x", "1"),), 1)])
        self.assertRaises(ValueError, Metric, "x", "gauge", "h", [((("a-b", "1"),), 1)])
