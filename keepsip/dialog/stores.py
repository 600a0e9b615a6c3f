"""
C{--dialog-store TYPE:ARGS}: which L{IDialogStore} keeps the calls.

  - C{sqlite:path=FILE[,commit-delay=SECONDS]} — the default
    (L{DEFAULT_DIALOG_STORE}); survives restarts of one keepsip;
  - C{memory} — nothing survives keepsip;
  - C{redis:host=H,port=P[,db=N][,prefix=K]} — shared by several nodes
    (parsed and checked here; see C{docs/state.md} for its state).

The value is written like C{--accounting}: C{TYPE}, a colon, then
comma-separated C{key=value} pairs; a backslash escapes a comma.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keepsip.dialog.serial import DialogCodec, SchemaError
from keepsip.interfaces import IDialogStore

#: The C{--dialog-store} value used when none is given.
DEFAULT_DIALOG_STORE = "sqlite:path=keepsip-dialogs.sqlite3"


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError("not a port number (1..65535)")
    return number


def _nonNegativeInt(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def _nonNegativeFloat(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("must be a number >= 0")
    return number


def _nonEmpty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


#: TYPE -> {argument: (parser, required)}.
_ARGUMENTS: dict[str, dict[str, tuple[Callable[[str], Any], bool]]] = {
    "memory": {},
    "sqlite": {
        "path": (_nonEmpty, True),
        "commit-delay": (_nonNegativeFloat, False),
    },
    "redis": {
        "host": (_nonEmpty, True),
        "port": (_port, True),
        "db": (_nonNegativeInt, False),
        "prefix": (_nonEmpty, False),
    },
}

#: Store types that are parsed but cannot be run by this version yet.
_NOT_AVAILABLE = {"redis": "the redis dialog store is not implemented yet (see docs/state.md)"}


def _split(text: str) -> list[str]:
    parts = []
    current = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parseDialogStoreOption(text: str) -> tuple[str, dict[str, Any]]:
    """
    Parse and check a C{--dialog-store} value.

    @return: C{(type, arguments)}, the arguments parsed.
    @raise ValueError: one line naming what is wrong.
    """
    kind, _, rest = text.partition(":")
    kind = kind.strip()
    if kind not in _ARGUMENTS:
        raise ValueError(
            f"unknown dialog store type {kind!r}; expected one of {', '.join(sorted(_ARGUMENTS))}"
        )
    known = _ARGUMENTS[kind]
    arguments: dict[str, Any] = {}
    for pair in _split(rest) if rest else []:
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals:
            raise ValueError(f"{kind} dialog store: expected key=value, got {pair!r}")
        if name not in known:
            raise ValueError(
                f"{kind} dialog store: unknown argument {name!r}"
                + (f"; expected {', '.join(known)}" if known else "; it takes none")
            )
        if name in arguments:
            raise ValueError(f"{kind} dialog store: argument {name!r} given twice")
        try:
            arguments[name] = known[name][0](value)
        except ValueError as e:
            raise ValueError(f"{kind} dialog store: bad {name} {value!r}: {e}") from None
    for name, (_, required) in known.items():
        if required and name not in arguments:
            raise ValueError(f"{kind} dialog store: missing argument {name!r}")
    if kind in _NOT_AVAILABLE:
        raise ValueError(_NOT_AVAILABLE[kind])
    if kind == "sqlite":
        from keepsip.dialog.sqlite import checkStoreFile

        try:
            checkStoreFile(arguments["path"])
        except SchemaError as e:
            raise ValueError(str(e)) from None
    return kind, arguments


def isPersistent(text: str) -> bool:
    """
    @return: whether the store C{text} names outlives keepsip.
    """
    return text.partition(":")[0].strip() != "memory"


def makeDialogStore(text: str, clock: Any, codec: DialogCodec) -> IDialogStore:
    """
    Build the store C{text} names (not opened yet: its owner opens it when
    keepsip starts).

    @param clock: an L{IReactorTime}.
    @param codec: the L{DialogCodec} a persistent store serialises with.
    """
    kind, arguments = parseDialogStoreOption(text)
    if kind == "sqlite":
        from keepsip.dialog.sqlite import SQLiteDialogStore

        extra = {}
        if "commit-delay" in arguments:
            extra["commitDelay"] = arguments["commit-delay"]
        return SQLiteDialogStore(arguments["path"], clock, codec, **extra)
    from keepsip.dialog.store import MemoryDialogStore

    return MemoryDialogStore()


__all__ = [
    "DEFAULT_DIALOG_STORE",
    "isPersistent",
    "makeDialogStore",
    "parseDialogStoreOption",
]
