"""
Media anchoring: the relay, its RTP address and ports, and the media and
hold timeouts: the media rows of the option table.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    mediaRelaySpec,
    nonNegativeFloat,
    rtpAddress,
    rtpPortRange,
)

#: The media rows, in table order.
MEDIA: tuple[Option, ...] = (
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
)
