"""
Which role a keepsip plays: the core that reaps and bills, or an edge beside
ordinary phones that keeps their calls alive at the core (docs/edge.md).
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import choice, coreAddress

#: The role rows, in table order.
ROLE: tuple[Option, ...] = (
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
