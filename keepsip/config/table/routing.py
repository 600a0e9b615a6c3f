"""
Where keepsip listens, how it advertises itself and routes requests, and the
registrar's limits: the listening and routing rows of the option table.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    nonNegativeFloat,
    nonNegativeInt,
    parseAdvertise,
    parseDomain,
    parseListen,
    parseRoute,
    positiveInt,
)

#: The routing rows, in table order.
ROUTING: tuple[Option, ...] = (
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
)
