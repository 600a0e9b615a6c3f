"""
The composition root: builds keepsip's service tree from a validated
L{keepsip.config.Config}.

Nothing else constructs services; nothing here imports the global reactor
(L{keepsip.tap.makeService} passes it in).
"""

from __future__ import annotations

from typing import Any

from twisted.application import internet, service, strports
from keepsip.logs import Logger, setLogLevel

from keepsip.accounting.plugin import makeBackends
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.tracker import AccountingTracker
from keepsip.config import Config
from keepsip.dialog.model import EndCause
from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.keepalive.icmp import listenUDPWithErrors
from keepsip.keepalive.manager import KeepaliveManager, KeepaliveSettings
from keepsip.keepalive.reaper import ReaperService
from keepsip.keepalive.termination import Terminator
from keepsip.keepalive.transactionuser import KeepaliveTransactionUser
from keepsip.metrics import EndCauseCounter, metricsSite
from keepsip.proxy.core import ProxyCore, ProxyIdentity, socketHost
from keepsip.registrar import LocationService, Registrar
from keepsip.transaction import TimerSettings, TransactionLayer
from keepsip.transport import SIPDatagramProtocol

log = Logger()

#: How often expired registrar bindings are purged (seconds).
REGISTRAR_PURGE_INTERVAL = 30.0


class UDPListener(service.Service):
    """
    A UDP port that learns which destination an ICMP error was for.

    Plain C{listenUDP} cannot tell (and a queued ICMP error even closes an
    epoll reactor's port), so keepsip listens through
    L{keepsip.keepalive.icmp.listenUDPWithErrors}, which drains the socket's
    error queue and hands C{(address, errno)} to the protocol's
    C{icmpErrorReceived}. Reactors without real sockets (test doubles) get a
    plain C{listenUDP}.
    """

    def __init__(self, reactor: Any, port: int, protocol: Any, interface: str) -> None:
        self.reactor = reactor
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.listening: Any = None

    def startService(self) -> None:
        service.Service.startService(self)
        try:
            self.listening = listenUDPWithErrors(
                self.reactor, self.port, self.protocol, self.interface
            )
        except (AttributeError, TypeError):
            self.listening = self.reactor.listenUDP(
                self.port, self.protocol, interface=self.interface
            )

    def stopService(self) -> Any:
        service.Service.stopService(self)
        listening, self.listening = self.listening, None
        if listening is not None:
            return listening.stopListening()
        return None


class ProxyService(service.MultiService):
    """
    keepsip's proxy: the UDP listeners and the layers behind them.

    @ivar protocol: the L{SIPDatagramProtocol} shared by every listener.
    @ivar transactions: the L{TransactionLayer}.
    @ivar core: the L{ProxyCore}.
    @ivar tracker: the L{DialogTracker}.
    @ivar store: the L{IDialogStore}.
    @ivar location: the registrar's L{LocationService}.
    @ivar endCauses: the L{EndCauseCounter} of ended calls (for metrics).
    """

    def __init__(self, config: Config, reactor: Any) -> None:
        service.MultiService.__init__(self)
        self.config = config
        self.reactor = reactor
        identity = ProxyIdentity(
            config.advertise,
            [(a.host, a.port) for a in config.listen],
            sorted(config.domains),
        )
        self.identity = identity
        self.protocol = SIPDatagramProtocol(isMyVia=self._isMyVia)
        # First child: MultiService stops children in reverse, so accounting
        # stops last and gets the stop records of calls ended at shutdown.
        self.accounting = AccountingTracker(
            makeBackends(config.accounting, reactor),
            reactor,
            config.accountingSpool,
            Tariffs.fromConfig(dict(config.tariffs)),
            interimInterval=config.interimInterval or None,
            interimOnKeepalive=config.interimOnKeepalive,
            commitDelay=config.accountingCommitDelay,
        )
        self.accounting.setName("accounting")
        self.accounting.setServiceParent(self)
        self.store = MemoryDialogStore()
        self.tracker = DialogTracker(reactor, self.store, identity.recordRoute)
        self.tracker.addObserver(self.accounting)
        self.endCauses = EndCauseCounter()
        self.tracker.addObserver(self.endCauses)
        self.location = LocationService()
        self.registrar = Registrar(
            reactor,
            self.location,
            minExpires=config.registrarMinExpires,
            maxExpires=config.registrarMaxExpires,
            defaultExpires=config.registrarDefaultExpires,
        )
        self.core = ProxyCore(
            reactor,
            identity,
            self.protocol.send,
            routeFor=config.routeFor,
            registrar=self.registrar,
            tracker=self.tracker,
            resolve=getattr(reactor, "resolve", None),
        )
        # The BYEs' client transactions start on the layer built below,
        # whose transaction user is the keepalive wrapper around the core.
        terminator = Terminator(
            self.tracker,
            lambda message, address, user: self.transactions.request(message, address, user),
            identity.sentBy,
            getattr(reactor, "resolve", None),
        )
        self.keepalive = KeepaliveManager(
            reactor,
            keepaliveSettings(config),
            self.store,
            self.tracker,
            terminator,
            t1=config.timerT1,
            t2=config.timerT2,
        )
        self.tracker.addObserver(self.keepalive)
        self.transactions = TransactionLayer(
            reactor,
            self.protocol.send,
            KeepaliveTransactionUser(self.core, self.keepalive, identity.sentBy),
            TimerSettings(T1=config.timerT1, T2=config.timerT2, T4=config.timerT4),
        )
        self.core.transactions = self.transactions
        self.protocol.controller = self.transactions
        for name, reaper in (
            ("keepalive-reaper", self.keepalive.reaper),
            ("max-duration-reaper", self.keepalive.maxReaper),
        ):
            reaperService = ReaperService(reaper)
            reaperService.setName(name)
            reaperService.setServiceParent(self)

        for address in config.listen:
            listener = UDPListener(reactor, address.port, self.protocol, socketHost(address.host))
            listener.setName(f"udp:{address.host}:{address.port}")
            listener.setServiceParent(self)
        purge = internet.TimerService(
            REGISTRAR_PURGE_INTERVAL, self._purgeRegistrations
        )
        purge.clock = reactor
        purge.setServiceParent(self)
        if config.metrics:
            metrics = strports.service(
                config.metrics, metricsSite(self, reactor), reactor=reactor
            )
            metrics.setName("metrics")
            metrics.setServiceParent(self)

    def _isMyVia(self, via: Any) -> bool:
        return self.identity.isMe(via.host, via.port)

    def _purgeRegistrations(self) -> None:
        dropped = self.location.purgeExpired(self.reactor.seconds())
        if dropped:
            log.debug("registrar: {count} bindings expired", count=dropped)

    def startService(self) -> None:
        log.info(
            "keepsip listening on {listen}, advertising {advertise}",
            listen=", ".join(str(a) for a in self.config.listen),
            advertise=self.identity.sentBy,
        )
        service.MultiService.startService(self)

    def stopService(self) -> Any:
        self.endAllDialogs(EndCause.SHUTDOWN)
        d = service.MultiService.stopService(self)
        self.transactions.stop()
        return d

    def endAllDialogs(self, cause: str) -> int:
        """
        End every dialog still open (at shutdown: their stop records must
        be written before accounting stops). The one scan of all dialogs
        keepsip makes, and only on the way out.

        @return: how many were ended.
        """
        dialogs = list(self.store.allDialogs())
        for dialog in dialogs:
            self.tracker.terminate(dialog, cause, {"why": "keepsip stopped"})
        if dialogs:
            log.info("ended {count} open calls: {cause}", count=len(dialogs), cause=cause)
        return len(dialogs)


def keepaliveSettings(config: Config) -> KeepaliveSettings:
    """
    The keepalive part of the configuration.
    """
    return KeepaliveSettings(
        interval=config.keepaliveInterval,
        tolerance=config.keepaliveTolerance,
        reaperTick=config.reaperTick,
        policy=config.keepalivePolicy,
        reap=config.reap,
        legs=config.keepaliveLegs,
        maxDuration=config.maxDuration,
        methods=frozenset(config.keepaliveMethods),
        sessionTimerAssist=config.sessionTimerAssist,
        endTime=config.endTime,
        rateLimit=config.keepaliveRateLimit,
    )


def makeService(config: Config, reactor: Any) -> service.MultiService:
    """
    Build keepsip's service tree.
    """
    setLogLevel(config.logLevel)
    return ProxyService(config, reactor)
