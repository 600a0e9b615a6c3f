"""
keepsip's configuration: the option table, its parsers, and the frozen L{Config}.

Every option exists twice under the same name: on the command line
(C{--registrar-min-expires 60}) and as a key of the TOML file given with
C{--config} (C{registrar-min-expires = 60}).  The command line wins over the
file, option by option; a repeatable option given on the command line replaces
the file's whole list.

L{OPTIONS} is the single table both faces are built from: L{keepsip.tap.Options}
makes one command-line handler per row, L{buildConfig} parses and validates the
merged values into a L{Config}, and C{python -m keepsip.config --markdown} /
C{--toml} print the reference table of the README and the commented
C{etc/keepsip.toml}.  To add an option: add a row to L{OPTIONS} and a field of
the same (camelCase) name to L{Config}; everything else follows.

Nothing here touches the network: L{defaultAdvertise} finds the primary IPv4
address with C{connect()} on a UDP socket, which sends nothing.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import socket
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


class ConfigError(ValueError):
    """
    A configuration value is wrong.  C{str()} of it is one line naming the
    option, e.g. C{--listen: expected udp:HOST:PORT, got 'tcp:x'}.
    """

    def __init__(self, option: str | None, message: str) -> None:
        """
        @param option: the long option name (without dashes), or L{None} for an
            error about the configuration file as a whole.
        @param message: what is wrong, without the option name.
        """
        self.option = option
        self.message = message
        super().__init__(f"--{option}: {message}" if option else message)


# --------------------------------------------------------------------------
# Value objects


@dataclass(frozen=True)
class ListenAddress:
    """
    One address to listen on.

    @ivar transport: C{"udp"} (the only transport for now).
    @ivar host: an IP address literal, IPv6 without brackets; C{"0.0.0.0"}
        or C{"::"} for every interface.
    @ivar port: the port; C{0} lets the system choose.
    """

    transport: str
    host: str
    port: int

    @property
    def isWildcard(self) -> bool:
        """
        Whether this address listens on every interface.
        """
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.transport}:{hostPort(self.host, self.port)}"


@dataclass(frozen=True)
class Route:
    """
    A static route: where to send requests that no registration covers.

    @ivar prefix: the user-part prefix this route matches; C{""} for C{*}
        (any user) and for domain routes.
    @ivar domain: for a C{@DOMAIN} route, the lower-case foreign host it
        matches; otherwise L{None}.
    @ivar target: the next hop's host (IPv6 without brackets).
    @ivar port: the next hop's port.
    """

    prefix: str
    domain: str | None
    target: str
    port: int

    def __str__(self) -> str:
        key = f"@{self.domain}" if self.domain is not None else (self.prefix or "*")
        return f"{key}=sip:{hostPort(self.target, self.port)}"


def hostPort(host: str, port: int) -> str:
    """
    Join a host and a port as they appear in a SIP URI or Via: IPv6 literals
    in brackets.

    @param host: a host name or IP literal without brackets.
    @param port: the port.
    @return: C{"host:port"} or C{"[v6]:port"}.
    """
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


# --------------------------------------------------------------------------
# Parsers: each takes the text of one value and returns the parsed value or
# raises ConfigError(None, message); the caller fills in the option name.

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_NUMERIC = re.compile(r"^[0-9.]+$")
_USER_PREFIX = re.compile(r"^[A-Za-z0-9+]+$")


def _ipLiteral(text: str) -> str | None:
    """
    Return the canonical form of an IP literal (IPv6 without brackets), or
    L{None} if C{text} is not one.
    """
    if text.startswith("[") and text.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            return None
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def _parseHost(text: str) -> str:
    """
    Parse a host: a host name, an IPv4 address or a bracketed IPv6 address.

    @return: the lower-case host, IPv6 without brackets.
    """
    literal = _ipLiteral(text)
    if literal is not None:
        return literal
    if _HOSTNAME.match(text) and not _NUMERIC.match(text):
        return text.lower().rstrip(".")
    raise ConfigError(None, f"expected a host name, IPv4 address or [IPv6] address, got {text!r}")


def _parsePort(text: str, what: str, allowZero: bool = False) -> int:
    if not text.isdigit():
        raise ConfigError(None, f"expected a port number in {what!r}, got {text!r}")
    port = int(text)
    if not (0 if allowZero else 1) <= port <= 65535:
        raise ConfigError(None, f"port out of range in {what!r}")
    return port


def _splitHostPort(text: str) -> tuple[str, str | None]:
    """
    Split C{HOST[:PORT]} where HOST may be C{[IPv6]}; return the host text
    (brackets kept) and the port text or L{None}.
    """
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            return text, None
        rest = text[end + 1 :]
        if rest.startswith(":"):
            return text[: end + 1], rest[1:]
        return text, None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def _bracketBareIPv6(text: str) -> str:
    """
    Put brackets around a bare IPv6 address (more than one colon, no
    brackets), so that L{_splitHostPort} sees no port in it.
    """
    if text.count(":") > 1 and not text.startswith("["):
        return f"[{text}]"
    return text


def parseListen(text: str) -> ListenAddress:
    """
    Parse C{udp:HOST:PORT}, HOST an IPv4 address or a bracketed IPv6 address.

    @raise ConfigError: if C{text} is not of that form.
    """
    expected = f"expected udp:HOST:PORT, got {text!r}"
    transport, sep, rest = text.partition(":")
    if not sep or transport.lower() != "udp":
        raise ConfigError(None, expected + " (only udp is supported)")
    hostText, portText = _splitHostPort(rest)
    if portText is None:
        raise ConfigError(None, expected)
    host = _ipLiteral(hostText)
    if host is None:
        raise ConfigError(None, expected + " (HOST must be an IPv4 address or [IPv6] address)")
    return ListenAddress("udp", host, _parsePort(portText, text, allowZero=True))


def parseAdvertise(text: str) -> tuple[str, int | None]:
    """
    Parse C{HOST[:PORT]}; a bare IPv6 address without brackets is accepted
    when no port is given.

    @return: the host (IPv6 without brackets) and the port or L{None}.
    """
    hostText, portText = _splitHostPort(_bracketBareIPv6(text))
    host = _parseHost(hostText)
    return host, (None if portText is None else _parsePort(portText, text))


def parseRoute(text: str) -> Route:
    """
    Parse C{PREFIX=sip:HOST[:PORT]}: PREFIX is C{*}, a user-part prefix
    (digits, letters, C{+}), or C{@DOMAIN}.
    """
    expected = f"expected PREFIX=sip:HOST[:PORT], got {text!r}"
    key, sep, uri = text.partition("=")
    scheme, colon, hostPortText = uri.partition(":")
    if not sep or not colon or scheme.lower() != "sip" or not hostPortText:
        raise ConfigError(None, expected)
    hostText, portText = _splitHostPort(hostPortText)
    try:
        target = _parseHost(hostText)
        port = 5060 if portText is None else _parsePort(portText, text)
    except ConfigError as e:
        raise ConfigError(None, f"{expected}: {e.message}")
    if key == "*":
        return Route("", None, target, port)
    if key.startswith("@"):
        try:
            domain = parseDomain(key[1:])
        except ConfigError as e:
            raise ConfigError(None, f"{expected}: {e.message}")
        return Route("", domain, target, port)
    if not _USER_PREFIX.match(key):
        raise ConfigError(None, f"{expected} (PREFIX must be *, @DOMAIN or digits, letters and +)")
    return Route(key, None, target, port)


def parseDomain(text: str) -> str:
    """
    Parse a domain name keepsip considers its own: a host name or IP literal.
    """
    return _parseHost(_bracketBareIPv6(text))


def _positiveInt(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(None, f"expected a positive integer, got {text!r}")
    if value <= 0:
        raise ConfigError(None, f"expected a positive integer, got {text!r}")
    return value


def _positiveFloat(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(None, f"expected a positive number, got {text!r}")
    if not value > 0 or value == float("inf"):
        raise ConfigError(None, f"expected a positive number, got {text!r}")
    return value


def _nonNegativeFloat(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(None, f"expected a number, got {text!r}")
    if value < 0 or math.isnan(value):
        raise ConfigError(None, f"expected a number >= 0, got {text!r}")
    return value


#: The requests that may count as keepalives (SESSION-REFRESH: RFC 4028).
KEEPALIVE_METHODS = ("INVITE", "OPTIONS", "UPDATE", "INFO", "SESSION-REFRESH")


def _methodList(text: str) -> frozenset[str]:
    methods = frozenset(m.strip().upper() for m in text.split(",") if m.strip())
    unknown = sorted(methods - set(KEEPALIVE_METHODS))
    if not methods or unknown:
        raise ConfigError(
            None,
            f"expected a comma-separated list of {', '.join(KEEPALIVE_METHODS)}, got {text!r}",
        )
    return methods


def _accountingSpec(text: str) -> str:
    from keepsip.accounting.plugin import parseAccountingOption

    try:
        parseAccountingOption(text)
    except ValueError as e:
        raise ConfigError(None, str(e))
    return text


def _nonEmpty(text: str) -> str:
    if not text.strip():
        raise ConfigError(None, "expected a non-empty value")
    return text


def _flag(text: str) -> bool:
    return bool(text)


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ConfigError(None, f"expected one of {'|'.join(choices)}, got {text!r}")
        return text

    return parse


#: The endpoint types C{--metrics} accepts.
METRICS_ENDPOINT_TYPES = ("tcp", "tcp6", "unix", "ssl")


def parseMetricsEndpoint(text: str) -> str:
    """
    Check a C{--metrics} value: empty (off) or a Twisted server endpoint
    description of a stream type, e.g. C{tcp:9460:interface=127.0.0.1}.

    The description is parsed with
    L{twisted.internet.endpoints.serverFromString} on a throwaway
    L{twisted.internet.testing.MemoryReactor}, which listens on nothing (an
    C{ssl:} description does read its certificate files).

    @return: C{text} unchanged.
    @raise ConfigError: if C{text} is not such a description.
    """
    if not text:
        return ""
    kind = text.partition(":")[0]
    if kind not in METRICS_ENDPOINT_TYPES:
        raise ConfigError(
            None,
            "expected an endpoint like tcp:PORT[:interface=ADDRESS], unix:PATH "
            f"or ssl:PORT:privateKey=FILE (types: {', '.join(METRICS_ENDPOINT_TYPES)}), "
            f"got {text!r}",
        )
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    try:
        endpoint = serverFromString(MemoryReactor(), text)
    # Parsers raise ValueError, TypeError (unknown argument), OSError (ssl
    # files), OpenSSL errors...: any of them means the value is wrong.
    except Exception as e:  # noqa: BLE001
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(None, f"not a valid {kind} endpoint: {text!r} ({reason})")
    port = getattr(endpoint, "_port", None)
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise ConfigError(None, f"port out of range in {text!r}")
    return text


# --------------------------------------------------------------------------
# The option table


#: TOML value kinds: which Python types a TOML value may have for each kind.
_TOML_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
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
    @ivar kind: the TOML kind of one value: C{string}, C{integer}, C{float}
        or C{boolean}.
    @ivar multiple: whether the option is repeatable (a TOML array).
    @ivar flag: whether the option is a C{--name / --no-name} pair.
    @ivar metavar: the value's shape in help texts.
    @ivar attr: the L{Config} field; derived from C{name} when empty.
    @ivar example: a value shown in C{etc/keepsip.toml} for an option whose
        default is computed or empty.
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

    @property
    def attribute(self) -> str:
        """
        The name of the L{Config} field this option sets.
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
        The parsed default, or L{None} when it is computed by L{buildConfig}.
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


#: The option table.  The order is the order of C{--help}, the README table
#: and C{etc/keepsip.toml}.
OPTIONS: tuple[Option, ...] = (
    Option(
        "listen",
        parseListen,
        ["udp:0.0.0.0:5060"],
        "Address to receive SIP on, udp:HOST:PORT (IPv6: udp:[::1]:5060); repeatable.",
        multiple=True,
        metavar="udp:HOST:PORT",
    ),
    Option(
        "advertise",
        parseAdvertise,
        None,
        "HOST[:PORT] written into Via and Record-Route. Default: the first listen "
        "address, or if that is a wildcard the primary IPv4 address (else 127.0.0.1), "
        "with the first listen port.",
        metavar="HOST[:PORT]",
        example="203.0.113.5:5060",
    ),
    Option(
        "route",
        parseRoute,
        [],
        "Static route PREFIX=sip:HOST[:PORT]: PREFIX is * (any user), a user-part "
        "prefix of keepsip's own domain (longest wins), or @DOMAIN for a foreign "
        "domain; repeatable.",
        multiple=True,
        metavar="PREFIX=sip:HOST[:PORT]",
        attr="routes",
        example=["*=sip:10.0.0.2:5060", "+49=sip:192.0.2.20", "@example.org=sip:192.0.2.10:5060"],
    ),
    Option(
        "domain",
        parseDomain,
        [],
        "Extra host name keepsip treats as its own domain (besides the advertise "
        "host, non-wildcard listen hosts, localhost and 127.0.0.1); repeatable.",
        multiple=True,
        metavar="NAME",
        attr="domains",
        example=["sip.example.com"],
    ),
    Option(
        "registrar-min-expires",
        _positiveInt,
        "60",
        "Shortest registration accepted, in seconds (shorter gets 423 Interval Too Brief).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "registrar-max-expires",
        _positiveInt,
        "3600",
        "Longest registration granted, in seconds (longer is cut down to this).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "registrar-default-expires",
        _positiveInt,
        "3600",
        "Registration lifetime when the REGISTER gives none, in seconds (min <= default <= max).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "timer-t1",
        _positiveFloat,
        "0.5",
        "RFC 3261 timer T1, the round-trip estimate, in seconds (must be below T2).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t2",
        _positiveFloat,
        "4.0",
        "RFC 3261 timer T2, the longest retransmission interval, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t4",
        _positiveFloat,
        "5.0",
        "RFC 3261 timer T4, how long a message may live in the network, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "keepalive-interval",
        _positiveFloat,
        "30",
        "Seconds between the keepalives (INVITEs equal to the last one) endpoints send.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "keepalive-tolerance",
        _positiveFloat,
        "2",
        "Missed keepalive intervals before a call is considered over (may be "
        "fractional): the deadline is last proof of life + interval x tolerance.",
        kind="float",
        metavar="N",
    ),
    Option(
        "reaper-tick",
        _positiveFloat,
        "1",
        "Seconds between two runs of the reaper that ends expired calls.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "keepalive-policy",
        _choice("absorb", "forward"),
        "absorb",
        "absorb: keepsip answers keepalives itself from the dialog state; forward: "
        "they travel end to end and the callee answers.",
        metavar="absorb|forward",
    ),
    Option(
        "keepalive-legs",
        _choice("caller", "callee", "either"),
        "caller",
        "Whose keepalives keep a call alive: caller, callee or either.",
        metavar="caller|callee|either",
    ),
    Option(
        "reap",
        _choice("require", "opportunistic", "off"),
        "opportunistic",
        "require: every answered call must be kept alive; opportunistic: a call is "
        "reaped only once it has sent a keepalive; off: never reap on keepalives.",
        metavar="require|opportunistic|off",
    ),
    Option(
        "max-duration",
        _nonNegativeFloat,
        "14400",
        "End any answered call after this many seconds, keepalives or not (0: never).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "keepalive-methods",
        _methodList,
        "INVITE",
        "Comma-separated requests that count as keepalives: INVITE, OPTIONS, UPDATE, "
        "INFO, SESSION-REFRESH (RFC 4028 refreshes).",
        metavar="INVITE,OPTIONS,...",
    ),
    Option(
        "session-timer-assist",
        _flag,
        False,
        "Insert an RFC 4028 Session-Expires (2 x interval, at least 90 s) into INVITEs "
        "that have none, so capable user agents refresh the call by themselves.",
        kind="boolean",
        flag=True,
    ),
    Option(
        "end-time",
        _choice("last-proof", "detection"),
        "last-proof",
        "The billed end of a reaped call: its last proof of life, or the moment "
        "keepsip noticed. Both are recorded.",
        metavar="last-proof|detection",
    ),
    Option(
        "keepalive-rate-limit",
        _positiveFloat,
        "100",
        "Keepalives per second accepted from one source address (burst: twice that, "
        "at least 10); more get 503 and do not count. One address may carry many "
        "calls (an edge proxy, a PBX).",
        kind="float",
        metavar="PER-SECOND",
    ),
    Option(
        "accounting",
        _accountingSpec,
        [],
        "Where call records go, TYPE:key=value,...: jsonl:path=FILE, "
        "redis:host=H,port=P[,db=N][,stream=KEY], http:url=URL, "
        "radius:host=H,port=P,secret=S (see --help-accounting); repeatable, every "
        "backend gets every record. Default: jsonl:path=keepsip-cdr.jsonl.",
        multiple=True,
        metavar="TYPE:ARGS",
        example=["jsonl:path=/var/log/keepsip/cdr.jsonl", "redis:host=127.0.0.1,port=6379"],
    ),
    Option(
        "accounting-spool",
        _nonEmpty,
        "keepsip-spool",
        "Directory where records wait, in order, while a backend is down; replayed "
        "when it is back, also after a restart.",
        metavar="DIR",
    ),
    Option(
        "accounting-commit-delay",
        _nonNegativeFloat,
        "0.005",
        "Seconds records wait to be written to the spool together with one fsync "
        "(group commit); 0 commits at the end of each reactor turn. A crash loses "
        "at most this window.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-interval",
        _nonNegativeFloat,
        "0",
        "Seconds between interim records of an answered call (0: none on a timer).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-on-keepalive",
        _flag,
        True,
        "Write an interim record on every keepalive.",
        kind="boolean",
        flag=True,
    ),
    Option(
        "log-level",
        _choice("debug", "info", "warn", "error"),
        "info",
        "Lowest level of log events emitted: debug, info, warn or error.",
        metavar="LEVEL",
    ),
    Option(
        "metrics",
        parseMetricsEndpoint,
        "",
        "Serve Prometheus metrics (GET /metrics) and a health check (GET /healthz) "
        "over HTTP on this Twisted endpoint, e.g. tcp:9460:interface=127.0.0.1 or "
        "unix:/run/keepsip/metrics.sock; off when empty.",
        metavar="ENDPOINT",
        example="tcp:9460:interface=127.0.0.1",
    ),
)

#: TOML tables that are not command-line options.
TABLES = frozenset({"tariffs"})

#: Rows by name.
OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


# --------------------------------------------------------------------------
# The configuration


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Config:
    """
    keepsip's validated configuration; one field per row of L{OPTIONS}
    (plus C{configFile}).

    C{Config()} gives the static defaults with C{advertise=("127.0.0.1",
    5060)}; the command line computes C{advertise} with L{defaultAdvertise}
    instead.  Build one from raw values with L{buildConfig}.
    """

    listen: tuple[ListenAddress, ...] = (ListenAddress("udp", "0.0.0.0", 5060),)
    advertise: tuple[str, int] = ("127.0.0.1", 5060)
    routes: tuple[Route, ...] = ()
    domains: frozenset[str] = frozenset()
    registrarMinExpires: int = 60
    registrarMaxExpires: int = 3600
    registrarDefaultExpires: int = 3600
    timerT1: float = 0.5
    timerT2: float = 4.0
    timerT4: float = 5.0
    keepaliveInterval: float = 30.0
    keepaliveTolerance: float = 2.0
    reaperTick: float = 1.0
    keepalivePolicy: str = "absorb"
    keepaliveLegs: str = "caller"
    reap: str = "opportunistic"
    maxDuration: float = 14400.0
    keepaliveMethods: frozenset[str] = frozenset({"INVITE"})
    sessionTimerAssist: bool = False
    endTime: str = "last-proof"
    keepaliveRateLimit: float = 100.0
    accounting: tuple[str, ...] = ()
    accountingSpool: str = "keepsip-spool"
    accountingCommitDelay: float = 0.005
    interimInterval: float = 0.0
    interimOnKeepalive: bool = True
    logLevel: str = "info"
    metrics: str = ""
    #: The C{[tariffs]} table of the TOML file (TOML only: it is a table).
    tariffs: Mapping[str, Any] = field(default_factory=dict, compare=False)
    configFile: str | None = field(default=None, compare=False)

    @cached_property
    def advertiseHostPort(self) -> str:
        """
        The advertised address as written in Via and Record-Route:
        C{host:port}, IPv6 in brackets.
        """
        return hostPort(*self.advertise)

    @cached_property
    def ownHosts(self) -> frozenset[str]:
        """
        Every host name keepsip treats as its own (lower case, IPv6 without
        brackets): the advertise host, the non-wildcard listen hosts,
        C{localhost}, C{127.0.0.1}, C{::1} and the configured domains.
        """
        hosts = set(_LOCAL_HOSTS) | set(self.domains)
        hosts.add(self.advertise[0])
        hosts.update(a.host for a in self.listen if not a.isWildcard)
        return frozenset(hosts)

    @cached_property
    def ownPorts(self) -> frozenset[int]:
        """
        The ports keepsip answers on: every listen port and the advertised port.
        """
        return frozenset({a.port for a in self.listen} | {self.advertise[1]})

    @cached_property
    def _routeTables(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]], int]:
        domainRoutes: dict[str, tuple[str, int]] = {}
        userRoutes: dict[str, tuple[str, int]] = {}
        for route in self.routes:
            if route.domain is not None:
                domainRoutes[route.domain] = (route.target, route.port)
            else:
                userRoutes[route.prefix] = (route.target, route.port)
        longest = max((len(p) for p in userRoutes), default=0)
        return domainRoutes, userRoutes, longest

    def isOwnDomain(self, host: str, port: int | None) -> bool:
        """
        Whether a Request-URI's host (and port) names keepsip itself.

        @param host: the URI host, lower case; IPv6 with or without brackets.
        @param port: the URI port, or L{None} when the URI has none.
        @return: C{True} if C{host} is one of L{ownHosts} and C{port} is
            L{None} or one of L{ownPorts}.
        """
        if host[:1] == "[":
            host = host[1:-1]
        return host in self.ownHosts and (port is None or port in self.ownPorts)

    def routeFor(self, user: str | None, host: str) -> tuple[str, int] | None:
        """
        The static next hop for a Request-URI, if a route covers it.

          1. A C{@DOMAIN} route whose DOMAIN equals C{host} wins.
          2. Otherwise, for keepsip's own domain (L{isOwnDomain} with any
             port), the user-prefix route with the longest prefix of
             C{user}, falling back to C{*}.
          3. Otherwise (a foreign host without a domain route): L{None}, and
             the proxy routes by the Request-URI itself.

        @param user: the Request-URI's user part, or L{None} when it has none
            (then only C{*} matches for the own domain).
        @param host: the Request-URI's host, lower case.
        @return: C{(host, port)} of the next hop, or L{None}.
        """
        if host[:1] == "[":
            host = host[1:-1]
        domainRoutes, userRoutes, longest = self._routeTables
        hit = domainRoutes.get(host)
        if hit is not None:
            return hit
        if host not in self.ownHosts:
            return None
        if user:
            for n in range(min(len(user), longest), 0, -1):
                hit = userRoutes.get(user[:n])
                if hit is not None:
                    return hit
        return userRoutes.get("")


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
    return Config(configFile=configFile, tariffs=tariffs, **values)


# --------------------------------------------------------------------------
# Generated documentation


def _tomlLiteral(option: Option, raw: Any) -> str:
    if option.flag:
        return "true" if raw else "false"
    if option.multiple:
        return "[" + ", ".join(_tomlLiteral(_single(option), r) for r in raw) + "]"
    if option.kind == "string":
        return '"' + str(raw).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(raw)


def _single(option: Option) -> Option:
    return Option(option.name, option.parse, None, option.help, option.kind)


def _defaultText(option: Option) -> str:
    if option.default is None:
        return "computed"
    if option.flag:
        return f"--{option.name}" if option.default else f"--no-{option.name}"
    if not option.default:
        return "none"
    return ", ".join(option.default) if option.multiple else str(option.default)


def markdownTable() -> str:
    """
    The option reference as a Markdown table (the README's table is this).
    """
    rows = [
        "| Option (TOML key) | Value | Default | What it does |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        name = f"`--{option.name}`" + (f" / `--no-{option.name}`" if option.flag else "")
        value = "flag" if option.flag else f"`{option.metavar}`"
        if option.multiple:
            value += " (repeatable)"
        default = _defaultText(option)
        default = default if default in ("computed", "none") else f"`{default}`"
        helpText = option.help.replace("|", "\\|").replace("*", "\\*")
        rows.append(f"| {name} | {value} | {default} | {helpText} |")
    return "\n".join(rows) + "\n"


def tomlTemplate() -> str:
    """
    A configuration file listing every option, commented out, with its
    default and one line of explanation (C{etc/keepsip.toml} is this).
    """
    lines = [
        "# keepsip configuration: twistd -n keepsip --config etc/keepsip.toml",
        "# Every key is a command-line option of the same name; the command line wins.",
        "# Each option below is commented out and shows its default.",
        "",
    ]
    for option in OPTIONS:
        lines.append(f"# {option.help}")
        if option.default is None or (not option.flag and not option.default):
            lines.append(f"# Default: {_defaultText(option)}. Example:")
            lines.append(f"# {option.name} = {_tomlLiteral(option, option.example)}")
        else:
            lines.append(f"# {option.name} = {_tomlLiteral(option, option.default)}")
        lines.append("")
    lines += [
        "# Tariffs for rating call records (TOML only; see docs/accounting.md); an example:",
        "## [tariffs]",
        '## currency = "EUR"',
        '## rounding = "ROUND_HALF_UP"',
        "## places = 2",
        "## [tariffs.default]",
        '## fixed = "0.05"',
        '## per_minute = "0.02"',
        '## increments = "60/60"',
        '## per_mb = { audio = "0", video = "0.01", other = "0.01" }',
        '## [tariffs.prefix."44"]',
        '## per_minute = "0.05"',
        '## increments = "30/6"',
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str], out: Any = sys.stdout) -> int:
    """
    C{python -m keepsip.config --markdown | --toml}: print the option
    reference table or the commented configuration file.
    """
    if list(argv) == ["--markdown"]:
        out.write(markdownTable())
        return 0
    if list(argv) == ["--toml"]:
        out.write(tomlTemplate())
        return 0
    sys.stderr.write("usage: python -m keepsip.config --markdown | --toml\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
