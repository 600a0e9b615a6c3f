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
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)
from twisted.logger import Logger as _TwistedLogger
from zope.interface import implementer

_predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)


def _text(value: object) -> object:
    if type(value) is str:
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # An octet that was not UTF-8 on the wire (kept by the parser as
            # a lone surrogate): shown as \\xNN, as the log file can hold it.
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if type(value) is tuple:
        return tuple(_text(item) for item in value)
    return value


@implementer(ILogObserver)
def _wireSafe(event: dict[str, Any]) -> None:
    """
    Make an event's fields writable before it reaches the publisher: a value
    from the wire may hold octets that are not UTF-8, and a log file
    observer that fails to encode one loses the whole line (and Twisted
    disables it for a while). Runs after the level filter, so dropped
    debug events cost nothing here.
    """
    for key, value in event.items():
        if not key.startswith("log_"):
            cleaned = _text(value)
            if cleaned is not value:
                event[key] = cleaned
    globalLogPublisher(event)


#: The observer every keepsip logger emits to.
logObserver = FilteringLogObserver(_wireSafe, [_predicate])


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
