"""
Loading the configuration: the TOML file, the merge with the command line
(the command line wins, option by option), and the validation that turns
the raw values into a L{Config}.

Every wrong value raises a L{ConfigError} whose text is one line naming the
option; L{keepsip.tap.Options} turns it into a C{usage.UsageError}.

Nothing here touches the network: L{defaultAdvertise} finds the primary
IPv4 address with C{connect()} on a UDP socket, which sends nothing.
"""

from __future__ import annotations

import difflib
import socket
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keepsip.config.options import OPTIONS, OPTIONS_BY_NAME, TABLES
from keepsip.config.parsers import ConfigError
from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress


def primaryIPv4(socketFactory: Callable[..., Any] | None = None) -> str:
    """
    Find the machine's primary IPv4 address: the source address the kernel
    picks for a route to a documentation address (192.0.2.1, RFC 5737).
    C{connect()} on a UDP socket only chooses the route; nothing is sent.

    @param socketFactory: makes the socket (for tests); L{socket.socket} by
        default.
    @return: the address, or C{"127.0.0.1"} if there is no such route.
    """
    try:
        s = (socketFactory or socket.socket)(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return "127.0.0.1"
    try:
        s.connect(("192.0.2.1", 9))
        address = s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()
    if not isinstance(address, str) or address in ("", "0.0.0.0"):
        return "127.0.0.1"
    return address


def defaultAdvertise(
    listen: Sequence[ListenAddress], socketFactory: Callable[..., Any] | None = None
) -> tuple[str, int]:
    """
    The address to advertise when C{--advertise} is not given: the first
    listen address if it is not a wildcard, else L{primaryIPv4}; the port is
    the first listen port.  Never a C{getfqdn()} guess.

    @param listen: the listen addresses, at least one.
    @param socketFactory: passed to L{primaryIPv4}.
    """
    first = listen[0]
    if not first.isWildcard:
        return first.host, first.port
    return primaryIPv4(socketFactory), first.port


def loadToml(path: str) -> dict[str, Any]:
    """
    Read a TOML configuration file and check its keys.

    @return: the file's table, keys being option names.
    @raise ConfigError: if the file cannot be read or parsed, or has a key
        that is not an option name (the message names the key).
    """
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise ConfigError("config", f"cannot read {path!r}: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", f"cannot parse {path!r}: {e}")
    except UnicodeDecodeError as e:
        raise ConfigError("config", f"cannot parse {path!r}: not UTF-8 text (octet {e.start})")
    for key in table:
        if key in TABLES:
            if not isinstance(table[key], dict):
                raise ConfigError(None, f"{path}: {key!r} must be a table ([{key}])")
            continue
        if key not in OPTIONS_BY_NAME:
            close = difflib.get_close_matches(key, list(OPTIONS_BY_NAME), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(None, f"{path}: unknown option {key!r}{hint}")
    return table


def buildConfig(
    commandLine: Mapping[str, Any],
    fileValues: Mapping[str, Any] | None = None,
    configFile: str | None = None,
    socketFactory: Callable[..., Any] | None = None,
) -> Config:
    """
    Merge, parse and validate option values into a L{Config}.

    @param commandLine: raw command-line values by option name: a C{str}, a
        C{list} of C{str} for a repeatable option, a C{bool} for a flag.
        These win over C{fileValues}.
    @param fileValues: values from the TOML file, by option name (see
        L{loadToml}).
    @param configFile: the file's path, named in error messages.
    @param socketFactory: passed to L{defaultAdvertise}.
    @raise ConfigError: for the first wrong value; its C{str()} names the
        option.
    """
    fileValues = fileValues or {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name in commandLine:
            value = option.fromCommandLine(commandLine[option.name])
        elif option.name in fileValues:
            try:
                value = option.fromToml(fileValues[option.name])
            except ConfigError as e:
                raise ConfigError(e.option, f"{e.message} (in {configFile})")
        else:
            value = option.defaultValue()
        values[option.attribute] = value

    if not values["listen"]:
        raise ConfigError("listen", "at least one address is needed")
    advertised = values["advertise"]
    if advertised is None:
        values["advertise"] = defaultAdvertise(values["listen"], socketFactory)
    else:
        host, port = advertised
        values["advertise"] = (host, values["listen"][0].port if port is None else port)

    prefixes: set[tuple[str, str | None]] = set()
    for route in values["routes"]:
        key = (route.prefix, route.domain)
        if key in prefixes:
            raise ConfigError("route", f"more than one route for {str(route).partition('=')[0]!r}")
        prefixes.add(key)
    values["domains"] = frozenset(values["domains"])

    low, default, high = (
        values["registrarMinExpires"],
        values["registrarDefaultExpires"],
        values["registrarMaxExpires"],
    )
    if low > high:
        raise ConfigError(
            "registrar-min-expires",
            f"must not exceed --registrar-max-expires ({high}), got {low}",
        )
    if not low <= default <= high:
        raise ConfigError(
            "registrar-default-expires",
            f"must be between --registrar-min-expires ({low}) and "
            f"--registrar-max-expires ({high}), got {default}",
        )
    if not values["timerT1"] < values["timerT2"]:
        raise ConfigError(
            "timer-t1",
            f"must be less than --timer-t2 ({values['timerT2']}), got {values['timerT1']}",
        )
    if values["role"] == "edge":
        if values["core"] is None:
            raise ConfigError("core", "--role edge needs --core sip:HOST[:PORT]")
        if "media-relay" not in commandLine and "media-relay" not in fileValues:
            # An edge anchors its phones' media: that is what drives its keepalives.
            values["mediaRelay"] = "builtin"
    if values["mediaRelay"] == "builtin" and not values["rtpAddress"]:
        from keepsip.config.parsers import rtpAddress

        host = values["advertise"][0]
        try:
            values["rtpAddress"] = rtpAddress(host)
        except ConfigError:
            raise ConfigError(
                "rtp-address",
                f"needed with --media-relay builtin: --advertise {host!r} is not an IP address",
            )
    if values["workers"] > 1:
        _checkWorkers(values)
    tariffs = dict(fileValues.get("tariffs", {}))
    try:
        from keepsip.accounting.rating import Tariffs

        Tariffs.fromConfig(tariffs)
    except ValueError as e:
        raise ConfigError(None, f"{configFile}: {e}")
    try:
        from twisted.internet.task import Clock

        from keepsip.accounting.plugin import makeBackends

        # Backends do no I/O when made: this only checks their arguments.
        makeBackends(values["accounting"], Clock())
    except ValueError as e:
        raise ConfigError("accounting", str(e))
    try:
        from keepsip.auth.checkers import makeChecker

        # Reads the credentials: an unreadable file is a start-up error.
        makeChecker(values["auth"])
    except ValueError as e:
        raise ConfigError("auth", str(e))
    return Config(configFile=configFile, tariffs=tariffs, **values)


def _checkWorkers(values: dict[str, Any]) -> None:
    """
    Check what C{--workers N} (N > 1) needs, and compute C{--worker-ports}
    when it is not given (the first listen port + 1).

    @raise ConfigError: naming C{workers} or C{worker-ports}.
    """
    from keepsip.workers.settings import WorkerSettingsError, checkDerivable

    count = values["workers"]
    if values["role"] == "edge":
        raise ConfigError(
            "workers", f"{count} workers need --role core (an edge's registrations live in one process)"
        )
    for address in values["listen"]:
        if address.port == 0:
            raise ConfigError("workers", f"{count} workers need fixed --listen ports, got {address}")
    first = values["workerPorts"]
    if first is None:
        first = values["workerPorts"] = values["listen"][0].port + 1
    last = first + count - 1
    if last > 65535:
        raise ConfigError("worker-ports", f"{count} workers from port {first} go beyond 65535")
    for address in values["listen"]:
        if first <= address.port <= last:
            raise ConfigError(
                "worker-ports",
                f"the worker ports {first}-{last} include the --listen port {address.port}",
            )
    try:
        checkDerivable(values["metrics"], values["rtpPorts"], count, values["mediaRelay"])
    except WorkerSettingsError as e:
        raise ConfigError(e.option, e.message)
