"""
Credential checkers chosen by string: C{--auth TYPE:ARGS}, in the manner of
L{twisted.cred.strcred.makeChecker}.

A checker type is a L{twisted.cred.strcred.ICheckerFactory} provider in a
module of the L{keepsip.plugins} package (operators add their own, like the
accounting backends); Twisted's own factories (C{memory:}, C{file:}) are
found too, of which only C{file:} (a file of C{user:password} lines) fits:
Twisted's C{memory:} keys its users by L{str} where every other checker,
keepsip's credentials included, uses L{bytes} user names, so it never
matches. A checker qualifies if it accepts digest credentials: it lists
C{IUsernameDigestHash} (it stores HA1 values) or C{IUsernameHashedPassword}
(it knows passwords) among its C{credentialInterfaces}.

keepsip's checkers take C{key=value} arguments through L{CheckerFactory}::

    # keepsip/plugins/acme_auth.py
    from keepsip.auth.checkers import CheckerFactory

    acme = CheckerFactory(
        name="acme",
        help="Users from the ACME directory.",
        arguments={"url": None, "timeout": "5"},
        builder="acme_auth.checker.AcmeChecker",
    )

C{--auth acme:url=https://dir.example} then calls
C{AcmeChecker(url="https://dir.example", timeout="5")}.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameDigestHash, IUsernameHashedPassword
from twisted.cred.strcred import ICheckerFactory
from twisted.plugin import IPlugin, getPlugins
from twisted.python.reflect import namedAny
from zope.interface import implementer

from keepsip.logs import Logger

log = Logger()

#: The Twisted checker types (C{twisted.plugins}) keepsip offers.
TWISTED_TYPES = frozenset({"file"})

#: The credentials interfaces a checker must accept (one of them).
DIGEST_INTERFACES = (IUsernameDigestHash, IUsernameHashedPassword)


@implementer(IPlugin, ICheckerFactory)
class CheckerFactory:
    """
    A declarative L{ICheckerFactory} taking C{key=value,...} arguments.

    @ivar authType: the TYPE.
    @ivar authHelp: the help paragraph.
    @ivar arguments: argument name -> default text, or L{None} if required.
    @ivar builder: a callable or the dotted name of one, called with the
        arguments as keyword strings, returning an L{ICredentialsChecker}.
    """

    credentialInterfaces = (IUsernameDigestHash,)

    def __init__(
        self,
        name: str,
        help: str,
        arguments: Mapping[str, str | None],
        builder: Callable[..., ICredentialsChecker] | str,
        credentialInterfaces: tuple[Any, ...] = (IUsernameDigestHash,),
    ) -> None:
        self.authType = name
        self.authHelp = help
        self.arguments = dict(arguments)
        self.builder = builder
        self.credentialInterfaces = credentialInterfaces

    @property
    def argStringFormat(self) -> str:
        """
        E.g. C{"path=FILE"}.
        """
        return ",".join(
            f"{name}=VALUE" if default is None else f"[{name}=VALUE]"
            for name, default in self.arguments.items()
        )

    def parseArguments(self, argstring: str) -> dict[str, str]:
        """
        @raise ValueError: one line naming the unknown, missing or repeated
            argument.
        """
        given: dict[str, str] = {}
        for item in argstring.split(",") if argstring else []:
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ValueError(f"{self.authType}: expected key=value, got {item!r}")
            if key not in self.arguments:
                raise ValueError(
                    f"{self.authType}: unknown argument {key!r} "
                    f"(expected {', '.join(self.arguments) or 'none'})"
                )
            if key in given:
                raise ValueError(f"{self.authType}: argument {key!r} given twice")
            given[key] = value
        for name, default in self.arguments.items():
            if name not in given:
                if default is None:
                    raise ValueError(f"{self.authType}: missing argument {name!r}")
                given[name] = default
        return given

    def generateChecker(self, argstring: str = "") -> ICredentialsChecker:
        """
        See L{ICheckerFactory.generateChecker}.

        @raise ValueError: bad arguments, or the checker cannot start (e.g.
            its file is unreadable); one line.
        """
        parsed = self.parseArguments(argstring)
        builder = self.builder
        if isinstance(builder, str):
            builder = namedAny(builder)
        return builder(**parsed)


def availableCheckers() -> dict[str, Any]:
    """
    The checker factories keepsip can use: keepsip's plugins first, then
    Twisted's L{TWISTED_TYPES}; only those accepting digest credentials.

    @return: TYPE -> L{ICheckerFactory} provider.
    """
    import keepsip.plugins
    import twisted.plugins

    found: dict[str, Any] = {}
    for package in (keepsip.plugins, twisted.plugins):
        for factory in getPlugins(ICheckerFactory, package):
            name = factory.authType
            if name in found or (package is twisted.plugins and name not in TWISTED_TYPES):
                continue
            interfaces = tuple(getattr(factory, "credentialInterfaces", ()))
            if any(i in interfaces for i in DIGEST_INTERFACES):
                found[name] = factory
    return found


def makeChecker(description: str, factories: Mapping[str, Any] | None = None) -> Any:
    """
    The checker for an C{--auth} value: L{None} for C{none}.

    @param factories: TYPE -> factory (default L{availableCheckers}()).
    @raise ValueError: one line: unknown TYPE, bad arguments, a checker that
        cannot start.
    """
    authType, _, argstring = description.partition(":")
    authType = authType.strip()
    if authType == "none":
        if argstring:
            raise ValueError("none takes no arguments")
        return None
    if factories is None:
        factories = availableCheckers()
    factory = factories.get(authType)
    if factory is None:
        raise ValueError(
            f"unknown checker {authType!r} (available: none, {', '.join(sorted(factories))})"
        )
    try:
        return factory.generateChecker(argstring)
    except ValueError:
        raise
    except Exception as e:
        # Twisted's factories raise their own errors (e.g. a missing file).
        raise ValueError(f"{authType}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


def helpText() -> str:
    """
    The text of C{--help-auth}: every usable checker type.
    """
    lines = ["Credential checkers (--auth TYPE:ARGS; default none: no authentication).", ""]
    factories = availableCheckers()
    for name in sorted(factories):
        factory = factories[name]
        lines.append(f"  {name}:{factory.argStringFormat}")
        lines += textwrap.wrap(
            " ".join(str(factory.authHelp).split()),
            76,
            initial_indent="      ",
            subsequent_indent="      ",
        )
    return "\n".join(lines) + "\n"


__all__ = ["CheckerFactory", "availableCheckers", "helpText", "makeChecker"]
