"""
keepsip's logging: L{twisted.logger} with one level knob.

Every keepsip module logs through L{Logger}, a L{twisted.logger.Logger}
whose events pass one L{LogLevelFilterPredicate} before they reach the global
log publisher. C{--log-level} sets that predicate (L{setLogLevel}), so debug
events cost a dictionary build and a comparison, and nothing is formatted or
written below the level. Other libraries' events (Twisted's own) are not
filtered.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)
from twisted.logger import Logger as _TwistedLogger

_predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)

#: The observer every keepsip logger emits to.
logObserver = FilteringLogObserver(globalLogPublisher, [_predicate])


def setLogLevel(name: str) -> None:
    """
    Emit keepsip's events at C{name} (C{debug}, C{info}, C{warn}, C{error})
    and above.
    """
    _predicate.setLogLevelForNamespace("keepsip", LogLevel.levelWithName(name))


class Logger(_TwistedLogger):
    """
    A L{twisted.logger.Logger} bound to L{logObserver}; its namespace is the
    module that creates it, as with Twisted's.
    """

    def __init__(self, namespace: str | None = None, source: Any = None, observer: Any = None) -> None:
        if namespace is None:
            namespace = sys._getframe(1).f_globals.get("__name__", "keepsip")
        super().__init__(namespace, source, logObserver if observer is None else observer)
