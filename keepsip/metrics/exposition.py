"""
The Prometheus text exposition format 0.0.4: the L{Metric} family, its
rendering (L{renderExposition}), and the L{Reader}s that produce families at
scrape time, gathered by L{collectMetrics}.

It is written by hand rather than with C{prometheus_client}: keepsip's values
already live in its objects, so a registry of its own would only mirror them,
and the format is a few lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

#: The C{Content-Type} of the exposition (Prometheus text format 0.0.4).
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


#: C{(label name, label value)} pairs, in the order they are written.
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Metric:
    """
    One metric family and its samples, ready to be written.

    @ivar name: the family name, which is also every sample's name; a
        counter's ends in C{_total}.
    @ivar kind: C{"counter"} or C{"gauge"}.
    @ivar help: one line saying what is measured.
    @ivar samples: C{(labels, value)} pairs.
    """

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[Labels, float]]

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind not in ("counter", "gauge"):
            raise ValueError(f"invalid metric type {self.kind!r} for {self.name}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        for labels, _ in self.samples:
            for labelName, _value in labels:
                if not _LABEL_NAME.match(labelName) or labelName.startswith("__"):
                    raise ValueError(f"invalid label name {labelName!r} in {self.name}")


def escapeLabelValue(value: str) -> str:
    """
    Escape a label value for the text format: backslash, double quote and
    line feed.
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escapeHelp(text: str) -> str:
    """
    Escape C{# HELP} text: backslash and line feed.
    """
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def formatValue(value: float) -> str:
    """
    Write a sample value: integers without a fraction, C{NaN}, C{+Inf} and
    C{-Inf} as the format spells them.
    """
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def renderExposition(metrics: Iterable[Metric]) -> bytes:
    """
    Write metric families in the Prometheus text exposition format 0.0.4:
    for each, C{# HELP}, C{# TYPE}, then one line per sample.

    @return: UTF-8 text ending in a line feed.
    """
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {escapeHelp(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            if labels:
                text = ",".join(f'{name}="{escapeLabelValue(v)}"' for name, v in labels)
                lines.append(f"{metric.name}{{{text}}} {formatValue(value)}")
            else:
                lines.append(f"{metric.name} {formatValue(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


#: A reader: called at each scrape, returns some metric families.
Reader = Callable[[], Iterable[Metric]]


def collectMetrics(readers: Iterable[Reader]) -> list[Metric]:
    """
    Read keepsip's counters and table sizes.

    @param readers: the readers the composition root registered, in the
        order their families are written.
    @return: the metric families.
    """
    return [metric for reader in readers for metric in reader()]
