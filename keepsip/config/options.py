"""
The option table: one L{Option} row per setting, from which the command
line (L{keepsip.tap.Options}), the TOML file (L{keepsip.config.load}), the
validated L{keepsip.config.settings.Config}, the keepalive settings
(L{keepsip.config.settings.Config.keepaliveArguments}) and the reference
documents (L{keepsip.config.reference}) are all built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keepsip.config.parsers import (
    ConfigError,
    accountingSpec,
    anyText,
    authSpec,
    choice,
    coreAddress,
    digestAlgorithms,
    dialogStoreSpec,
    methodList,
    nonEmpty,
    nonNegativeFloat,
    nonNegativeInt,
    parseAdvertise,
    parseDomain,
    parseFlag,
    parseListen,
    parseMetricsEndpoint,
    parseRoute,
    positiveFloat,
    positiveInt,
    mediaRelaySpec,
    optionalNetworks,
    rtpAddress,
    rtpPortRange,
    trustedNetworks,
)


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
        positiveInt,
        "60",
        "Shortest registration accepted, in seconds (shorter gets 423 Interval Too Brief).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "registrar-max-expires",
        positiveInt,
        "3600",
        "Longest registration granted, in seconds (longer is cut down to this).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "registrar-default-expires",
        positiveInt,
        "3600",
        "Registration lifetime when the REGISTER gives none, in seconds (min <= default <= max).",
        kind="integer",
        metavar="SECONDS",
    ),
    Option(
        "registrar-max-contacts",
        nonNegativeInt,
        "10",
        "Most contacts one address-of-record may have; more get 403 (0: no limit).",
        kind="integer",
        metavar="N",
    ),
    Option(
        "registrar-max-source-bindings",
        nonNegativeInt,
        "1000",
        "Most bindings the REGISTERs from one source address may hold; more get 403 (0: no limit).",
        kind="integer",
        metavar="N",
    ),
    Option(
        "registrar-rate-limit",
        nonNegativeFloat,
        "20",
        "REGISTERs per second accepted from one source address (burst: twice that, at least "
        "10); more get 503 with Retry-After. Trusted peers are not limited (0: no limit).",
        kind="float",
        metavar="PER-SECOND",
    ),
    Option(
        "auth",
        authSpec,
        "none",
        "Digest authentication with a twisted.cred checker, TYPE:ARGS, e.g. "
        "htdigest:path=FILE (see --help-auth and docs/auth.md); none: registrar and proxy "
        "are open to anyone.",
        metavar="TYPE:ARGS",
        example="htdigest:path=/etc/keepsip/users.htdigest",
    ),
    Option(
        "auth-realm",
        nonEmpty,
        None,
        "Digest realm. Default: the first --domain (sorted), else the advertise host.",
        metavar="REALM",
        example="sip.example.com",
    ),
    Option(
        "auth-algorithms",
        digestAlgorithms,
        "MD5",
        "Digest algorithms offered, most preferred first: SHA-256, MD5 (RFC 8760).",
        metavar="SHA-256,MD5",
    ),
    Option(
        "auth-nonce-lifetime",
        positiveFloat,
        "300",
        "Seconds a nonce stays fresh; an older one is answered with stale=true.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "auth-secret",
        anyText,
        "",
        "Key of the nonces' HMAC-SHA256 (several nodes: the same key); empty: random per process.",
        metavar="TEXT",
    ),
    Option(
        "auth-from-check",
        parseFlag,
        True,
        "An authenticated user may only place calls whose From user is its own user name.",
        kind="boolean",
        flag=True,
    ),
    Option(
        "auth-challenge-rate-limit",
        nonNegativeFloat,
        "20",
        "Challenges per second to one source address (burst: 2x, min 10); then 503 (0: no limit).",
        kind="float",
        metavar="PER-SECOND",
    ),
    Option(
        "trusted",
        trustedNetworks,
        [],
        "Peers (CIDR[,CIDR...]) neither challenged nor rate-limited (carriers); repeatable.",
        multiple=True,
        metavar="CIDR[,CIDR...]",
        example=["192.0.2.0/24", "2001:db8::1"],
    ),
    Option(
        "timer-t1",
        positiveFloat,
        "0.5",
        "RFC 3261 timer T1, the round-trip estimate, in seconds (must be below T2).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t2",
        positiveFloat,
        "4.0",
        "RFC 3261 timer T2, the longest retransmission interval, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "timer-t4",
        positiveFloat,
        "5.0",
        "RFC 3261 timer T4, how long a message may live in the network, in seconds.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "keepalive-interval",
        positiveFloat,
        "30",
        "Seconds between the keepalives (INVITEs equal to the last one) endpoints send.",
        kind="float",
        metavar="SECONDS",
        keepalive="interval",
    ),
    Option(
        "keepalive-tolerance",
        positiveFloat,
        "2",
        "Missed keepalive intervals before a call is considered over (may be "
        "fractional): the deadline is last proof of life + interval x tolerance.",
        kind="float",
        metavar="N",
        keepalive="tolerance",
    ),
    Option(
        "reaper-tick",
        positiveFloat,
        "1",
        "Seconds between two runs of the reaper that ends expired calls.",
        kind="float",
        metavar="SECONDS",
        keepalive="reaperTick",
    ),
    Option(
        "keepalive-policy",
        choice("absorb", "forward"),
        "absorb",
        "absorb: keepsip answers keepalives itself from the dialog state; forward: "
        "they travel end to end and the callee answers.",
        metavar="absorb|forward",
        keepalive="policy",
    ),
    Option(
        "keepalive-legs",
        choice("caller", "callee", "either"),
        "caller",
        "Whose keepalives keep a call alive: caller, callee or either.",
        metavar="caller|callee|either",
        keepalive="legs",
    ),
    Option(
        "reap",
        choice("require", "opportunistic", "off"),
        "opportunistic",
        "require: every answered call must be kept alive; opportunistic: a call is "
        "reaped only once it has sent a keepalive; off: never reap on keepalives.",
        metavar="require|opportunistic|off",
        keepalive="reap",
    ),
    Option(
        "max-duration",
        nonNegativeFloat,
        "14400",
        "End any answered call after this many seconds, keepalives or not (0: never).",
        kind="float",
        metavar="SECONDS",
        keepalive="maxDuration",
    ),
    Option(
        "keepalive-methods",
        methodList,
        "INVITE",
        "Comma-separated requests that count as keepalives: INVITE, OPTIONS, UPDATE, "
        "INFO, SESSION-REFRESH (RFC 4028 refreshes).",
        metavar="INVITE,OPTIONS,...",
        keepalive="methods",
    ),
    Option(
        "session-timer-assist",
        parseFlag,
        False,
        "Insert an RFC 4028 Session-Expires (2 x interval, at least 90 s) into INVITEs "
        "that have none, so capable user agents refresh the call by themselves.",
        kind="boolean",
        flag=True,
        keepalive="sessionTimerAssist",
    ),
    Option(
        "end-time",
        choice("last-proof", "detection"),
        "last-proof",
        "The billed end of a reaped call: its last proof of life, or the moment "
        "keepsip noticed. Both are recorded.",
        metavar="last-proof|detection",
        keepalive="endTime",
    ),
    Option(
        "keepalive-rate-limit",
        positiveFloat,
        "1000",
        "Ceiling on keepalives per second from one source address (burst: twice "
        "that); more get 503. Above it, each dialog's keepalives count at most once "
        "per interval/4. The default lets one edge or PBX keep 30,000 calls alive.",
        kind="float",
        metavar="PER-SECOND",
        keepalive="rateLimit",
    ),
    Option(
        "require-keepalives-from",
        optionalNetworks,
        "",
        "Calls with a leg through these sources (keepsip edges, CIDR[,CIDR...]) are reaped "
        "like --reap require under opportunistic; their in-dialog OPTIONS count as keepalives.",
        metavar="CIDR[,CIDR...]",
        example="192.0.2.0/24",
        keepalive="requireFrom",
    ),
    Option(
        "accounting",
        accountingSpec,
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
        nonEmpty,
        "keepsip-spool",
        "Directory where records wait, in order, while a backend is down; replayed "
        "when it is back, also after a restart.",
        metavar="DIR",
    ),
    Option(
        "accounting-commit-delay",
        nonNegativeFloat,
        "0.005",
        "Seconds records wait to be written to the spool together with one fsync "
        "(group commit); 0 commits at the end of each reactor turn. A crash loses "
        "at most this window.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-interval",
        nonNegativeFloat,
        "0",
        "Seconds between interim records of an answered call (0: none on a timer).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "interim-on-keepalive",
        parseFlag,
        True,
        "Write an interim record on every keepalive.",
        kind="boolean",
        flag=True,
    ),
    Option(
        "log-level",
        choice("debug", "info", "warn", "error"),
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
    Option(
        "shutdown-timeout",
        nonNegativeFloat,
        "10",
        "Seconds keepsip may take, once told to stop, to deliver the records still "
        "waiting (the stop records of the calls it ends) before it exits; what is "
        "left stays in the spool for the next start.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "media-relay",
        mediaRelaySpec,
        "none",
        "Anchor the media of calls (rewrite SDP, relay and count RTP/RTCP): none, builtin "
        "(keepsip's own relay on --rtp-address/--rtp-ports) or "
        "rtpengine:host=H,port=P[,timeout=S] (see docs/media.md).",
        metavar="TYPE[:ARGS]",
    ),
    Option(
        "rtp-address",
        rtpAddress,
        "",
        "IP address the built-in relay binds and advertises in SDP; empty: the --advertise "
        "address (which must then be an IP address).",
        metavar="HOST",
        example="192.0.2.10",
    ),
    Option(
        "rtp-ports",
        rtpPortRange,
        "30000-39999",
        "UDP port range of the built-in relay, LOW-HIGH: a pair (RTP even, RTCP odd) per "
        "stream and side.",
        metavar="LOW-HIGH",
    ),
    Option(
        "media-timeout",
        nonNegativeFloat,
        "60",
        "With a media relay: end a call (BYE both legs, cause media-timeout) when one end "
        "sent no RTP or RTCP for this many seconds (0: off).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "hold-timeout",
        nonNegativeFloat,
        "3600",
        "The media timeout of an end on hold (sendonly/inactive) (0: never).",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "dialog-store",
        dialogStoreSpec,
        "sqlite:path=keepsip-dialogs.sqlite3",
        "Where calls live, TYPE:ARGS: sqlite:path=FILE[,commit-delay=SECONDS] "
        "(survives restarts), memory (nothing survives keepsip), "
        "redis:host=H,port=P[,db=N][,prefix=K]; see docs/state.md.",
        metavar="TYPE:ARGS",
    ),
    Option(
        "on-stop",
        choice("keep", "end"),
        None,
        "What a graceful stop does with calls that are up: keep (they continue "
        "after the next start) or end (BYE to both legs, then the stop records). "
        "Default: keep with a persistent dialog store, end with memory.",
        metavar="keep|end",
        example="keep",
    ),
    Option(
        "role",
        choice("core", "edge"),
        "core",
        "core: the SIP server that reaps and bills; edge: a proxy beside ordinary phones "
        "that sends keepalives to --core on their behalf while their media flows.",
        metavar="core|edge",
    ),
    Option(
        "core",
        coreAddress,
        "",
        "The core keepsip of an edge (--role edge): every request from a local phone "
        "goes there, REGISTERs with a Path; HOST is an IP address.",
        metavar="sip:HOST[:PORT]",
        example="sip:192.0.2.1:5060",
    ),
)

#: TOML tables that are not command-line options.
TABLES = frozenset({"tariffs"})

#: Rows by name.
OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
