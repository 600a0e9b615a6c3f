"""
L{Config}: keepsip's validated configuration, one field per row of the
option table, with the routing and own-domain decisions made from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from keepsip.config.options import OPTIONS
from keepsip.config.values import ListenAddress, Route
from keepsip.sip.address import hostPort

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Config:
    """
    keepsip's validated configuration; one field per row of L{OPTIONS}
    (plus C{tariffs} and C{configFile}).

    C{Config()} gives the static defaults with C{advertise=("127.0.0.1",
    5060)}; the command line computes C{advertise} with
    L{keepsip.config.load.defaultAdvertise} instead.  Build one from raw
    values with L{keepsip.config.load.buildConfig}.
    """

    listen: tuple[ListenAddress, ...] = (ListenAddress("udp", "0.0.0.0", 5060),)
    advertise: tuple[str, int] = ("127.0.0.1", 5060)
    routes: tuple[Route, ...] = ()
    domains: frozenset[str] = frozenset()
    registrarMinExpires: int = 60
    registrarMaxExpires: int = 3600
    registrarDefaultExpires: int = 3600
    registrarMaxContacts: int = 10
    registrarMaxSourceBindings: int = 1000
    registrarRateLimit: float = 20.0
    auth: str = "none"
    authRealm: str | None = None
    authAlgorithms: tuple[str, ...] = ("MD5",)
    authNonceLifetime: float = 300.0
    authSecret: str = ""
    authFromCheck: bool = True
    authChallengeRateLimit: float = 20.0
    #: One tuple of C{ipaddress} networks per C{--trusted} value.
    trusted: tuple[tuple[Any, ...], ...] = ()
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
    keepaliveRateLimit: float = 1000.0
    #: C{--require-keepalives-from}: C{ipaddress} networks.
    requireKeepalivesFrom: tuple[Any, ...] = ()
    accounting: tuple[str, ...] = ()
    accountingSpool: str = "keepsip-spool"
    accountingCommitDelay: float = 0.005
    interimInterval: float = 0.0
    interimOnKeepalive: bool = True
    logLevel: str = "info"
    metrics: str = ""
    shutdownTimeout: float = 10.0
    #: C{--workers}: processes sharing the SIP port (1: no supervisor).
    workers: int = 1
    #: C{--worker-ports}: the first worker's own port (computed by buildConfig).
    workerPorts: int | None = None
    mediaRelay: str = "none"
    rtpAddress: str = ""
    rtpPorts: tuple[int, int] = (30000, 39999)
    mediaTimeout: float = 60.0
    holdTimeout: float = 3600.0
    dialogStore: str = "sqlite:path=keepsip-dialogs.sqlite3"
    onStop: str | None = None
    maxTransactions: int = 20000
    maxTransactionsPerSource: int = 2000
    role: str = "core"
    #: C{--core}: C{(host, port)} of the core keepsip, or L{None}.
    core: tuple[str, int] | None = None
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

    def keepaliveArguments(self) -> dict[str, Any]:
        """
        The keyword arguments of L{keepsip.keepalive.manager.KeepaliveSettings}:
        the value of every row of L{OPTIONS} that names a keepalive field,
        under that field's name.  C{KeepaliveSettings(**config.keepaliveArguments())}
        is the keepalive part of this configuration.
        """
        return {
            option.keepalive: getattr(self, option.attribute)
            for option in OPTIONS
            if option.keepalive
        }

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
