"""
Media anchoring: relays that put keepsip (or rtpengine) in the RTP path of
calls, rewrite their SDP, and count each side's packets so the proxy knows
when an endpoint's media stopped.

The proxy uses one L{keepsip.interfaces.IMediaRelay}, made by
L{makeMediaRelay} from C{--media-relay}:

  - C{builtin}: L{keepsip.media.builtin.BuiltinRelay}, on Twisted UDP;
  - C{rtpengine:host=H,port=P[,timeout=S]}:
    L{keepsip.media.rtpengine.RtpengineRelay};
  - C{none}: no relay (L{None}).

See C{docs/media.md}.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from keepsip.interfaces import IMediaRelay
from keepsip.media.builtin import BuiltinRelay
from keepsip.media.ports import parsePortRange
from keepsip.media.rtpengine import DEFAULT_TIMEOUT, RtpengineRelay

__all__ = ["makeMediaRelay", "parsePortRange", "MEDIA_RELAY_TYPES"]

#: The TYPEs of C{--media-relay TYPE[:ARGS]}.
MEDIA_RELAY_TYPES = ("none", "builtin", "rtpengine")


def _ipLiteral(option: str, value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise ValueError(f"{option} {value!r}: expected an IPv4 or IPv6 address") from None


def _arguments(spec: str, text: str) -> dict[str, str]:
    args: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--media-relay {spec!r}: expected key=value, got {item!r}")
        args[key.strip()] = value.strip()
    return args


def makeMediaRelay(
    spec: str, reactor: Any, rtpAddress: str, rtpPorts: tuple[int, int]
) -> IMediaRelay | None:
    """
    Make the relay C{--media-relay} names.

    @param spec: C{none}, C{builtin} or C{rtpengine:host=H,port=P[,timeout=S]}
        (C{timeout}: seconds per request to rtpengine, retransmissions
        included; default 3).
    @param reactor: the reactor (UDP and time).
    @param rtpAddress: C{--rtp-address}, the IP address the built-in relay
        binds and advertises (unused by the others).
    @param rtpPorts: C{--rtp-ports} as C{(low, high)}, see L{parsePortRange}
        (unused by the others).
    @return: the relay, or L{None} for C{none}.
    @raise ValueError: a one-line message naming the option at fault.
    """
    kind, _, argText = spec.partition(":")
    kind = kind.strip()
    if kind == "none" and not argText:
        return None
    if kind == "builtin" and not argText:
        address = _ipLiteral("--rtp-address", rtpAddress)
        low, high = rtpPorts
        parsePortRange(f"{low}-{high}")
        return BuiltinRelay(reactor, address, low, high)
    if kind == "rtpengine":
        args = _arguments(spec, argText) if argText else {}
        unknown = set(args) - {"host", "port", "timeout"}
        if unknown:
            raise ValueError(f"--media-relay {spec!r}: unknown argument {sorted(unknown)[0]!r}")
        if "host" not in args or "port" not in args:
            raise ValueError(f"--media-relay {spec!r}: rtpengine needs host=H,port=P")
        host = _ipLiteral("--media-relay rtpengine host", args["host"])
        try:
            port = int(args["port"])
            if not 1 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"--media-relay {spec!r}: port must be a number 1..65535"
            ) from None
        try:
            timeout = float(args.get("timeout", DEFAULT_TIMEOUT))
            if not 0 < timeout <= 60:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"--media-relay {spec!r}: timeout must be seconds, > 0 and <= 60"
            ) from None
        return RtpengineRelay(reactor, host, port, timeout)
    raise ValueError(
        f"--media-relay {spec!r}: expected none, builtin or rtpengine:host=H,port=P[,timeout=S]"
    )
