"""
One row of the option table: the L{Option} class, which knows its name, its
parser, its default and help text and how to read its value from the command
line or TOML.  The rows themselves are in L{keepsip.config.table}, assembled
into C{OPTIONS} by L{keepsip.config.options}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keepsip.config.parsers import ConfigError

#: TOML value kinds: which Python types a TOML value may have for each kind.
_TOML_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    # A number or a word standing for one (workers = 4 or workers = "auto").
    "count": (int, str),
}


@dataclass(frozen=True)
class Option:
    """
    One row of the option table.

    @ivar name: the long option name, which is also the TOML key.
    @ivar parse: turns the text of one value into its parsed value; raises
        L{ConfigError} with C{option=None}.
    @ivar default: the default as it would be written on the command line
        (a list of them for a repeatable option, a C{bool} for a flag), or
        L{None} when the default is computed (see C{help}).
    @ivar help: one line for C{--help}, the README and C{etc/keepsip.toml}.
    @ivar kind: the TOML kind of one value: C{string}, C{integer}, C{float},
        C{boolean} or C{count} (an integer or a string such as C{auto}).
    @ivar multiple: whether the option is repeatable (a TOML array).
    @ivar flag: whether the option is a C{--name / --no-name} pair.
    @ivar metavar: the value's shape in help texts.
    @ivar attr: the L{keepsip.config.settings.Config} field; derived from C{name} when empty.
    @ivar example: a value shown in C{etc/keepsip.toml} for an option whose
        default is computed or empty.
    @ivar keepalive: the field of
        L{keepsip.keepalive.manager.KeepaliveSettings} this option feeds, or
        C{""} for none: L{keepsip.config.settings.Config.keepaliveArguments}
        passes the option's value under this name, so the keepalive settings
        need no copy of their own.
    """

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    kind: str = "string"
    multiple: bool = False
    flag: bool = False
    metavar: str = ""
    attr: str = ""
    example: Any = None
    keepalive: str = ""

    @property
    def attribute(self) -> str:
        """
        The name of the L{keepsip.config.settings.Config} field this option sets.
        """
        if self.attr:
            return self.attr
        head, *rest = self.name.split("-")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)

    def fromCommandLine(self, raw: Any) -> Any:
        """
        Parse what the command line gave: a C{str}, a C{list} of them for a
        repeatable option, a C{bool} for a flag.
        """
        if self.flag:
            return bool(raw)
        if self.multiple:
            return tuple(self._one(text) for text in raw)
        return self._one(raw)

    def fromToml(self, value: object) -> Any:
        """
        Check the type of a TOML value and parse it.  A repeatable option
        takes an array, or a single value as a one-element array.
        """
        if self.multiple:
            values = value if isinstance(value, list) else [value]
            return tuple(self._oneToml(v) for v in values)
        return self._oneToml(value)

    def defaultValue(self) -> Any:
        """
        The parsed default, or L{None} when it is computed by
        L{keepsip.config.load.buildConfig}.
        """
        if self.default is None:
            return None
        return self.fromCommandLine(self.default)

    def _one(self, text: str) -> Any:
        try:
            return self.parse(text)
        except ConfigError as e:
            raise ConfigError(self.name, e.message)

    def _oneToml(self, value: object) -> Any:
        types = _TOML_TYPES[self.kind]
        if not isinstance(value, types) or (self.kind != "boolean" and isinstance(value, bool)):
            article = "an" if self.kind[0] in "aeiou" else "a"
            shape = f"{article} {self.kind}"
            if self.multiple:
                shape = f"an array of {self.kind}s or {shape}"
            raise ConfigError(self.name, f"expected {shape}, got {value!r}")
        if self.flag:
            return value
        return self._one(str(value))
