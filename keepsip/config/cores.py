"""
Parsers of the process options: C{--workers} (a count, or C{auto} for the
cores this process may use) and C{--worker-ports}.
"""

from __future__ import annotations

import os

from keepsip.config.parsers import ConfigError, _parsePort


def cpuCount() -> int:
    """
    The number of cores this process may run on (its CPU affinity, which a
    container's cpuset narrows), at least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parseWorkers(text: str) -> int:
    """
    Parse C{--workers}: C{auto} (L{cpuCount}) or a positive integer.
    """
    if text.strip().lower() == "auto":
        return cpuCount()
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(None, f"expected auto or a positive integer, got {text!r}")
    if value <= 0:
        raise ConfigError(None, f"expected auto or a positive integer, got {text!r}")
    return value


def workerPort(text: str) -> int:
    """
    Parse C{--worker-ports FIRST}: a port number from 1 to 65535.
    """
    return _parsePort(text, text)
