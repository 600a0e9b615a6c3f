"""
C{--dialog-store TYPE:ARGS}: which L{IDialogStore} keeps the calls.

  - C{sqlite:path=FILE[,commit-delay=SECONDS]} — the default
    (L{DEFAULT_DIALOG_STORE}); survives restarts of one keepsip;
  - C{memory} — nothing survives keepsip;
  - C{redis:host=H,port=P[,db=N][,prefix=K][,lease=SECONDS]} — shared by several nodes
    (L{keepsip.dialog.redis}); if Redis answers when the option is read,
    keys of another program or a newer schema are refused then.

The value is written like C{--accounting}: C{TYPE}, a colon, then
comma-separated C{key=value} pairs; a backslash escapes a comma.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keepsip.dialog.serial import SCHEMA_VERSION, DialogCodec, SchemaError
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


def _positiveFloat(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError("must be a number > 0")
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
        "lease": (_positiveFloat, False),
    },
}


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
    if kind == "redis":
        _checkRedis(arguments)
    if kind == "sqlite":
        from keepsip.dialog.sqlite import checkStoreFile

        try:
            checkStoreFile(arguments["path"])
        except SchemaError as e:
            raise ValueError(str(e)) from None
    return kind, arguments


def _checkRedis(arguments: dict[str, Any]) -> None:
    """
    Refuse a Redis whose keys under the prefix are another program's or
    from a newer schema. A Redis that does not answer now is not an error:
    keepsip starts, routes from memory and writes once it is back.
    """
    from keepsip.dialog.redislayout import DEFAULT_PREFIX, checkSchema, readMeta

    host, port = arguments["host"], arguments["port"]
    db, prefix = arguments.get("db", 0), arguments.get("prefix", DEFAULT_PREFIX)
    where = f"redis {host}:{port}/{db} prefix {prefix!r}"
    try:
        found = readMeta(host, port, db, prefix)
    except OSError as e:
        if "WRONGTYPE" in str(e):
            raise ValueError(f"{where}: not a keepsip dialog store ({prefix}:meta is not a hash)")
        return
    if found is not None:
        try:
            checkSchema(found, where, SCHEMA_VERSION)
        except SchemaError as e:
            raise ValueError(str(e)) from None


def isPersistent(text: str) -> bool:
    """
    @return: whether the store C{text} names outlives keepsip.
    """
    return text.partition(":")[0].strip() != "memory"


def makeDialogStore(
    text: str,
    clock: Any,
    codec: DialogCodec,
    deadlines: Callable[[Any], Any] | None = None,
    nodeID: str = "keepsip",
    lease: float = 10.0,
) -> IDialogStore:
    """
    Build the store C{text} names (not opened yet: its owner opens it when
    keepsip starts).

    @param clock: an L{IReactorTime}.
    @param codec: the L{DialogCodec} a persistent store serialises with.
    @param deadlines: for the shared store, a dialog -> C{(keepalive
        deadline, maximum-duration deadline)} (the keepalive layer's rule).
    @param nodeID: for the shared store, this node's stable name.
    @param lease: for the shared store, seconds a claim holds.
    """
    kind, arguments = parseDialogStoreOption(text)
    if kind == "redis":
        from keepsip.dialog.redis import RedisDialogStore

        extra: dict[str, Any] = {}
        if deadlines is not None:
            extra["deadlines"] = deadlines
        if "prefix" in arguments:
            extra["prefix"] = arguments["prefix"]
        if "lease" in arguments:
            lease = arguments["lease"]
        return RedisDialogStore(
            clock,
            codec,
            arguments["host"],
            arguments["port"],
            db=arguments.get("db", 0),
            nodeID=nodeID,
            lease=lease,
            **extra,
        )
    if kind == "sqlite":
        from keepsip.dialog.sqlite import SQLiteDialogStore

        options = {}
        if "commit-delay" in arguments:
            options["commitDelay"] = arguments["commit-delay"]
        return SQLiteDialogStore(arguments["path"], clock, codec, **options)
    from keepsip.dialog.store import MemoryDialogStore

    return MemoryDialogStore()


__all__ = [
    "DEFAULT_DIALOG_STORE",
    "isPersistent",
    "makeDialogStore",
    "parseDialogStoreOption",
]
