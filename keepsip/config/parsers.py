"""
The parsers of single option values, and L{ConfigError}.

Each parser takes the text of one value and returns the parsed value or
raises C{ConfigError(None, message)}; the caller (L{keepsip.config.option.Option})
fills in the option name.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

from keepsip.config.values import ListenAddress, Route


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


def positiveInt(text: str) -> int:
    """
    Parse an integer above 0.
    """
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(None, f"expected a positive integer, got {text!r}")
    if value <= 0:
        raise ConfigError(None, f"expected a positive integer, got {text!r}")
    return value


def positiveFloat(text: str) -> float:
    """
    Parse a finite number above 0.
    """
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(None, f"expected a positive number, got {text!r}")
    if not value > 0 or value == float("inf"):
        raise ConfigError(None, f"expected a positive number, got {text!r}")
    return value


def nonNegativeFloat(text: str) -> float:
    """
    Parse a number of 0 or more (C{inf} allowed, C{nan} not).
    """
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(None, f"expected a number, got {text!r}")
    if value < 0 or math.isnan(value):
        raise ConfigError(None, f"expected a number >= 0, got {text!r}")
    return value


#: The requests that may count as keepalives (SESSION-REFRESH: RFC 4028).
KEEPALIVE_METHODS = ("INVITE", "OPTIONS", "UPDATE", "INFO", "SESSION-REFRESH")


def methodList(text: str) -> frozenset[str]:
    """
    Parse a comma-separated list of L{KEEPALIVE_METHODS} (any case).

    @return: the methods, upper case.
    """
    methods = frozenset(m.strip().upper() for m in text.split(",") if m.strip())
    unknown = sorted(methods - set(KEEPALIVE_METHODS))
    if not methods or unknown:
        raise ConfigError(
            None,
            f"expected a comma-separated list of {', '.join(KEEPALIVE_METHODS)}, got {text!r}",
        )
    return methods


def accountingSpec(text: str) -> str:
    """
    Check an C{--accounting} value, C{TYPE:key=value,...}, against the
    backend plugins.

    @return: C{text} unchanged.
    """
    from keepsip.accounting.plugin import parseAccountingOption

    try:
        parseAccountingOption(text)
    except ValueError as e:
        raise ConfigError(None, str(e))
    return text


def nonEmpty(text: str) -> str:
    """
    Accept any text but a blank one.
    """
    if not text.strip():
        raise ConfigError(None, "expected a non-empty value")
    return text


def parseFlag(text: str) -> bool:
    """
    The value of a C{--name / --no-name} flag.
    """
    return bool(text)


def choice(*choices: str) -> Callable[[str], str]:
    """
    Make a parser that accepts exactly one of C{choices}.
    """
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


def mediaRelaySpec(text: str) -> str:
    """
    Check C{--media-relay TYPE[:ARGS]} (L{keepsip.media.makeMediaRelay}
    without binding anything); C{--rtp-address} is checked with the other
    options by L{keepsip.config.load.buildConfig}.
    """
    from twisted.internet.task import Clock

    from keepsip.media import makeMediaRelay

    try:
        makeMediaRelay(text, Clock(), "127.0.0.1", (30000, 30001))
    except ValueError as e:
        raise ConfigError(None, str(e).removeprefix("--media-relay ")) from None
    return text.strip()


def rtpAddress(text: str) -> str:
    """
    Parse C{--rtp-address}: an IPv4 or IPv6 literal (brackets allowed), or
    empty for the advertised address.
    """
    if not text:
        return ""
    literal = _ipLiteral(text) or _ipLiteral(f"[{text}]")
    if literal is None:
        raise ConfigError(None, f"expected an IPv4 or IPv6 address, got {text!r}")
    return literal


def rtpPortRange(text: str) -> tuple[int, int]:
    """
    Parse C{--rtp-ports LOW-HIGH} (L{keepsip.media.parsePortRange}).
    """
    from keepsip.media.ports import parsePortRange

    try:
        return parsePortRange(text)
    except ValueError as e:
        raise ConfigError(None, str(e).removeprefix("--rtp-ports ")) from None


def nonNegativeInt(text: str) -> int:
    """
    Parse an integer of 0 or more.
    """
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(None, f"expected an integer >= 0, got {text!r}")
    if value < 0:
        raise ConfigError(None, f"expected an integer >= 0, got {text!r}")
    return value


def anyText(text: str) -> str:
    """
    Accept any text, the empty one too.
    """
    return text


def authSpec(text: str) -> str:
    """
    Check the shape of an C{--auth} value, C{none} or C{TYPE:ARGS} (the
    checker itself is made, and its arguments checked, in
    L{keepsip.config.load.buildConfig}).

    @return: C{text} unchanged.
    """
    authType = text.partition(":")[0].strip()
    if not authType or not authType.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(None, f"expected none or TYPE:ARGS, got {text!r}")
    return text


def digestAlgorithms(text: str) -> tuple[str, ...]:
    """
    Parse a comma-separated list of digest algorithms, most preferred
    first: C{SHA-256}, C{MD5} (any case).
    """
    known = {"MD5": "MD5", "SHA-256": "SHA-256", "SHA256": "SHA-256"}
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    if not names or any(name not in known for name in names):
        raise ConfigError(None, f"expected a comma-separated list of SHA-256, MD5, got {text!r}")
    return tuple(dict.fromkeys(known[name] for name in names))


def trustedNetworks(text: str) -> tuple[Any, ...]:
    """
    Parse C{CIDR[,CIDR...]} (a bare address is one host).

    @return: the C{ipaddress} networks.
    """
    from keepsip.auth.peers import parseNetworks

    try:
        return parseNetworks(text)
    except ValueError as e:
        raise ConfigError(None, str(e))


def optionalNetworks(text: str) -> tuple[Any, ...]:
    """
    Parse C{CIDR[,CIDR...]} or nothing (C{--require-keepalives-from}).

    @return: the C{ipaddress} networks; empty for C{""}.
    """
    return trustedNetworks(text) if text.strip() else ()


def coreAddress(text: str) -> tuple[str, int] | None:
    """
    Parse C{--core sip:HOST[:PORT]} (the edge role's core keepsip): HOST an
    IP literal; empty for none.

    @return: C{(host, port)}, IPv6 without brackets, or L{None}.
    """
    if not text:
        return None
    expected = f"expected sip:HOST[:PORT] with an IP address, got {text!r}"
    scheme, colon, hostPortText = text.partition(":")
    if not colon or scheme.lower() != "sip" or not hostPortText:
        raise ConfigError(None, expected)
    hostText, portText = _splitHostPort(hostPortText)
    host = _ipLiteral(hostText)
    if host is None:
        raise ConfigError(None, expected)
    return host, 5060 if portText is None else _parsePort(portText, text)


def dialogStoreSpec(text: str) -> str:
    """
    Check a C{--dialog-store} value, C{TYPE:key=value,...} (and, for
    C{sqlite}, that an existing file is a dialog store this keepsip reads).

    @return: C{text} unchanged.
    """
    from keepsip.dialog.stores import parseDialogStoreOption

    try:
        parseDialogStoreOption(text)
    except ValueError as e:
        raise ConfigError(None, str(e))
    return text
