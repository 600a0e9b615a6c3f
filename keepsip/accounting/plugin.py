"""
Accounting backends as plugins: C{--accounting TYPE:key=value,...}.

A backend type is an L{IAccountingBackendFactory} provider in a module of
the L{keepsip.plugins} package (which other distributions can add modules
to), found with L{twisted.plugin.getPlugins}. Most factories need nothing
but L{BackendFactory}: declare the arguments, name the backend class, done::

    # keepsip/plugins/acme_backend.py
    from keepsip.accounting.plugin import Argument, BackendFactory, port

    acme = BackendFactory(
        name="acme",
        help="Posts records to the ACME billing gateway.",
        arguments=[Argument("host", "H"), Argument("port", "P", parse=port)],
        builder="acme_billing.backend.AcmeBackend",
    )

L{BackendFactory.makeBackend} checks the arguments (unknown, missing,
malformed: L{ValueError} with one line naming the argument) and calls
C{AcmeBackend(reactor, host="...", port=5060)}; the builder is imported only
then, so C{--help-accounting} does not import every backend's dependencies.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from keepsip.logs import Logger
from twisted.plugin import IPlugin, getPlugins
from twisted.python.reflect import namedAny
from zope.interface import implementer

from keepsip.interfaces import IAccountingBackend, IAccountingBackendFactory

_log = Logger()

#: The C{--accounting} value used when none is given.
DEFAULT_ACCOUNTING = "jsonl:path=keepsip-cdr.jsonl"

_REQUIRED = object()


# -- argument parsers ------------------------------------------------------


def port(value: str) -> int:
    """
    A TCP/UDP port number, 1..65535.
    """
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError("not a port number (1..65535)")
    return number


def nonNegativeInt(value: str) -> int:
    """
    An integer >= 0.
    """
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def positiveFloat(value: str) -> float:
    """
    A number > 0 (e.g. seconds).
    """
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("must be a number > 0")
    return number


def choice(*options: str) -> Callable[[str], str]:
    """
    @return: a parser accepting exactly one of C{options}.
    """

    def parse(value: str) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def nonEmpty(value: str) -> str:
    """
    Any string but the empty one.
    """
    if not value:
        raise ValueError("must not be empty")
    return value


@dataclass(frozen=True)
class Argument:
    """
    One C{key=value} argument of a backend type.

    @ivar name: the key.
    @ivar metavar: the placeholder shown in help, e.g. C{"FILE"}.
    @ivar parse: turns the value string into the value passed to the
        builder; raises L{ValueError} if malformed.
    @ivar default: the value when the argument is absent (already parsed);
        leave it out to make the argument required.
    @ivar help: a short description for C{--help-accounting}.
    """

    name: str
    metavar: str
    parse: Callable[[str], Any] = nonEmpty
    default: Any = _REQUIRED
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@implementer(IPlugin, IAccountingBackendFactory)
class BackendFactory:
    """
    A declarative L{IAccountingBackendFactory}: a name, a help paragraph,
    L{Argument}s and a builder.

    @ivar backendName: the TYPE.
    @ivar backendHelp: the help paragraph.
    @ivar arguments: the L{Argument}s, in help order.
    @ivar builder: a callable, or the dotted name of one, called as
        C{builder(reactor, **parsedArguments)} and returning an
        L{IAccountingBackend} provider.
    """

    def __init__(
        self,
        name: str,
        help: str,
        arguments: Sequence[Argument],
        builder: Callable[..., IAccountingBackend] | str,
    ) -> None:
        self.backendName = name
        self.backendHelp = help
        self.arguments = tuple(arguments)
        self.builder = builder

    @property
    def argumentFormat(self) -> str:
        """
        E.g. C{"host=H,port=P[,db=N]"}.
        """
        parts: list[str] = []
        for argument in self.arguments:
            item = f"{argument.name}={argument.metavar}"
            if argument.required:
                parts.append(("," if parts else "") + item)
            else:
                parts.append(f"[{',' if parts else ''}{item}]")
        return "".join(parts)

    def parseArguments(self, args: dict[str, str]) -> dict[str, Any]:
        """
        Check and convert C{args}.

        @return: argument name -> parsed value, defaults filled in.
        @raise ValueError: one line naming the unknown, missing or malformed
            argument.
        """
        known = {argument.name: argument for argument in self.arguments}
        for key in args:
            if key not in known:
                raise ValueError(
                    f"{self.backendName}: unknown argument {key!r} "
                    f"(expected {', '.join(known) or 'none'})"
                )
        parsed = {}
        for argument in self.arguments:
            if argument.name not in args:
                if argument.required:
                    raise ValueError(
                        f"{self.backendName}: missing argument {argument.name!r} "
                        f"(format: {self.backendName}:{self.argumentFormat})"
                    )
                parsed[argument.name] = argument.default
                continue
            value = args[argument.name]
            try:
                parsed[argument.name] = argument.parse(value)
            except ValueError as e:
                reason = str(e).splitlines()[0] if str(e) else "malformed"
                raise ValueError(
                    f"{self.backendName}: {argument.name}={value!r}: {reason}"
                ) from None
        return parsed

    def makeBackend(self, args: dict[str, str], reactor: Any) -> IAccountingBackend:
        """
        See L{IAccountingBackendFactory.makeBackend}.
        """
        parsed = self.parseArguments(args)
        builder = self.builder
        if isinstance(builder, str):
            builder = namedAny(builder)
        return builder(reactor, **parsed)

    def helpText(self) -> str:
        """
        This type's entry in C{--help-accounting}.
        """
        lines = [f"  {self.backendName}:{self.argumentFormat}"]
        lines += textwrap.wrap(
            " ".join(self.backendHelp.split()),
            76,
            initial_indent="      ",
            subsequent_indent="      ",
        )
        for argument in self.arguments:
            default = "required" if argument.required else f"default {argument.default}"
            description = f"{argument.help} " if argument.help else ""
            lines += textwrap.wrap(
                f"{argument.name}={argument.metavar}: {description}({default})",
                76,
                initial_indent="        ",
                subsequent_indent="          ",
            )
        return "\n".join(lines)


# -- the --accounting option -----------------------------------------------


def _splitUnescaped(text: str, separator: str) -> list[str]:
    r"""
    Split C{text} on C{separator} except where it is escaped as C{\,}; a
    backslash escapes any character.
    """
    parts: list[str] = []
    current: list[str] = []
    characters = iter(text)
    for character in characters:
        if character == "\\":
            current.append(next(characters, "\\"))
        elif character == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def parseAccountingOption(value: str) -> tuple[str, dict[str, str]]:
    r"""
    Parse C{TYPE} or C{TYPE:key=value,key=value}. A value may contain C{=}
    and C{:}; a comma inside a value is written C{\,}.

    @return: C{(type, {key: value})}.
    @raise ValueError: a one-line message saying what is wrong.
    """
    backendType, sep, rest = value.partition(":")
    backendType = backendType.strip()
    if not backendType:
        raise ValueError(f"--accounting {value!r}: expected TYPE:key=value,...")
    if not backendType.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"--accounting {value!r}: bad backend type {backendType!r}")
    args: dict[str, str] = {}
    if sep and rest:
        for item in _splitUnescaped(rest, ","):
            key, eq, itemValue = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ValueError(f"--accounting {value!r}: expected key=value, got {item!r}")
            if key in args:
                raise ValueError(f"--accounting {value!r}: argument {key!r} given twice")
            args[key] = itemValue
    return backendType, args


def availableBackends() -> dict[str, IAccountingBackendFactory]:
    """
    Find the backend types installed in L{keepsip.plugins}.

    @return: TYPE -> factory; when two plugins claim one TYPE, the first
        found wins and the other is logged.
    """
    import keepsip.plugins

    found: dict[str, IAccountingBackendFactory] = {}
    for factory in getPlugins(IAccountingBackendFactory, keepsip.plugins):
        name = factory.backendName
        if name in found:
            _log.warn(
                "Two accounting backend plugins are called {name}; ignoring {factory!r}",
                name=name,
                factory=factory,
            )
            continue
        found[name] = factory
    return found


def helpText() -> str:
    """
    The text of C{--help-accounting}: every installed type with its
    arguments.
    """
    backends = availableBackends()
    lines = [
        (
            "Accounting backends (--accounting TYPE:key=value,..., repeatable; "
            "every backend gets every record)."
        ),
        f"Default: --accounting {DEFAULT_ACCOUNTING}",
        "",
    ]
    for name in sorted(backends):
        factory = backends[name]
        describe = getattr(factory, "helpText", None)
        if describe is not None:
            lines.append(describe())
        else:
            lines.append(f"  {name}:{factory.argumentFormat}")
            lines += textwrap.wrap(
                " ".join(str(factory.backendHelp).split()),
                76,
                initial_indent="      ",
                subsequent_indent="      ",
            )
    return "\n".join(lines) + "\n"


def backendKey(backendType: str, args: dict[str, str]) -> str:
    """
    A stable key for one configured backend, naming its spool: the type and
    a digest of its arguments, so reordering C{--accounting} options keeps
    each spool with its backend.
    """
    canonical = "\x00".join(f"{key}={args[key]}" for key in sorted(args))
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{backendType}-{digest[:12]}"


def makeBackends(
    specs: Iterable[str | tuple[str, dict[str, str]]],
    reactor: Any,
    backends: dict[str, IAccountingBackendFactory] | None = None,
) -> list[tuple[str, IAccountingBackend]]:
    """
    Make the backends for the C{--accounting} values.

    @param specs: C{--accounting} strings, or C{(type, args)} pairs already
        parsed by L{parseAccountingOption}; empty means L{DEFAULT_ACCOUNTING}.
    @param reactor: passed to every factory.
    @param backends: the factories to use (default L{availableBackends}()).
    @return: C{(key, backend)} pairs for
        L{keepsip.accounting.tracker.AccountingTracker}.
    @raise ValueError: one line naming the unknown type, the bad argument or
        a duplicated backend.
    """
    parsedSpecs = [parseAccountingOption(spec) if isinstance(spec, str) else spec for spec in specs]
    if not parsedSpecs:
        parsedSpecs = [parseAccountingOption(DEFAULT_ACCOUNTING)]
    if backends is None:
        backends = availableBackends()
    made: list[tuple[str, IAccountingBackend]] = []
    for backendType, args in parsedSpecs:
        factory = backends.get(backendType)
        if factory is None:
            raise ValueError(
                f"unknown accounting backend {backendType!r} "
                f"(available: {', '.join(sorted(backends)) or 'none'})"
            )
        key = backendKey(backendType, args)
        if any(existing == key for existing, _ in made):
            raise ValueError(f"accounting backend {backendType}:{args} given twice")
        made.append((key, factory.makeBackend(args, reactor)))
    return made
