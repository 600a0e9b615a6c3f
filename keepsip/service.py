"""
The composition root: builds keepsip's service tree from a validated
L{keepsip.config.settings.Config}.

Nothing else constructs services; nothing here imports the global reactor
(L{keepsip.tap.makeService} passes it in).
"""

from __future__ import annotations

import socket
from typing import Any, Callable

from twisted.application import internet, service, strports
from zope.interface import implementer

from keepsip.logs import Logger, setLogLevel

from keepsip.accounting.plugin import makeBackends
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.tracker import AccountingTracker
from keepsip.config.settings import Config
from keepsip.dialog.model import EndCause
from keepsip.dialog.store import MemoryDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.keepalive.manager import KeepaliveManager, KeepaliveSettings
from keepsip.keepalive.reaper import ReaperService
from keepsip.keepalive.termination import Terminator
from keepsip.keepalive.transactionuser import KeepaliveTransactionUser
from keepsip.metrics import (
    EndCauseCounter,
    Reader,
    accountingMetrics,
    dialogMetrics,
    keepaliveMetrics,
    metricsSite,
    registrarMetrics,
    transactionMetrics,
    transportMetrics,
)
from keepsip.proxy.core import ProxyCore
from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.registrar import LocationService, Registrar
from keepsip.sip.address import addressFamily, hostPort
from keepsip.sip.headers import Via
from keepsip.sip.message import Request, Response
from keepsip.transaction import ITransactionUser, TimerSettings, TransactionLayer
from keepsip.transaction.overload import Admission
from keepsip.transport.icmp import supportsReceiveErrors
from keepsip.transport.listener import UDPListener
from keepsip.transport.selector import TransportSelector
from keepsip.transport.udp import SIPDatagramProtocol

log = Logger()

#: How often expired registrar bindings are purged (seconds).
REGISTRAR_PURGE_INTERVAL = 30.0


@implementer(ITransactionUser)
class ForwardingTransactionUser:
    """
    The transaction layer's user, forwarding every call to the proxy core
    found by C{currentUser()} at call time.

    It breaks the one construction cycle of keepsip (the layer needs its
    user, the core needs the layer to start client transactions) without
    changing either object after it is built: L{makeService} builds the
    layer with this forwarder, then the core with the layer.

    @param currentUser: returns the L{ITransactionUser}.
    """

    def __init__(self, currentUser: Callable[[], ITransactionUser]) -> None:
        self._currentUser = currentUser

    def requestReceived(self, request: Request, serverTransaction: Any) -> None:
        self._currentUser().requestReceived(request, serverTransaction)

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        self._currentUser().ackReceived(request, source)

    def cancelReceived(
        self, request: Request, serverTransaction: Any, inviteTransaction: Any
    ) -> None:
        self._currentUser().cancelReceived(request, serverTransaction, inviteTransaction)

    def strayResponse(self, response: Response, source: tuple[str, int]) -> None:
        self._currentUser().strayResponse(response, source)

    def requestRetransmitted(self, request: Request, serverTransaction: Any) -> None:
        self._currentUser().requestRetransmitted(request, serverTransaction)

    def serverTimedOut(self, serverTransaction: Any) -> None:
        self._currentUser().serverTimedOut(serverTransaction)


class ProxyService(service.MultiService):
    """
    keepsip's proxy: orders the start and stop of the parts L{makeService}
    built. Its children start in this order and stop in reverse: accounting
    (so it stops last and gets the stop records of calls ended at shutdown),
    the two reapers, the UDP listeners, the registrar purge, metrics.

    @ivar identity: the L{ProxyIdentity}.
    @ivar accounting: the L{AccountingTracker}.
    @ivar store: the L{IDialogStore}.
    @ivar tracker: the L{DialogTracker}.
    @ivar endCauses: the L{EndCauseCounter} of ended calls.
    @ivar location: the registrar's L{LocationService}.
    @ivar transactions: the L{TransactionLayer}.
    @ivar core: the L{ProxyCore}.
    @ivar keepalive: the L{KeepaliveManager}.
    @ivar protocols: the L{SIPDatagramProtocol} of each listener, in
        C{--listen} order.
    @ivar metricsReaders: the metric readers, as C{/metrics} reads them.
    """

    def __init__(
        self,
        config: Config,
        reactor: Any,
        *,
        identity: ProxyIdentity,
        accounting: AccountingTracker,
        store: MemoryDialogStore,
        tracker: DialogTracker,
        endCauses: EndCauseCounter,
        location: LocationService,
        transactions: TransactionLayer,
        core: ProxyCore,
        keepalive: KeepaliveManager,
        protocols: list[SIPDatagramProtocol],
        listeners: list[UDPListener],
        metricsReaders: list[Reader],
        metrics: service.Service | None,
    ) -> None:
        service.MultiService.__init__(self)
        self.config = config
        self.reactor = reactor
        self.identity = identity
        self.accounting = accounting
        self.store = store
        self.tracker = tracker
        self.endCauses = endCauses
        self.location = location
        self.transactions = transactions
        self.core = core
        self.keepalive = keepalive
        self.protocols = protocols
        self.metricsReaders = metricsReaders
        accounting.setServiceParent(self)
        for name, reaper in (
            ("keepalive-reaper", keepalive.reaper),
            ("max-duration-reaper", keepalive.maxReaper),
        ):
            reaperService = ReaperService(reaper)
            reaperService.setName(name)
            reaperService.setServiceParent(self)
        for listener in listeners:
            listener.setServiceParent(self)
        purge = internet.TimerService(REGISTRAR_PURGE_INTERVAL, self.purgeRegistrations)
        purge.clock = reactor
        purge.setServiceParent(self)
        if metrics is not None:
            metrics.setServiceParent(self)

    def purgeRegistrations(self) -> int:
        """
        Drop the registrar bindings that have expired (run every
        L{REGISTRAR_PURGE_INTERVAL} seconds).

        @return: how many were dropped.
        """
        dropped = self.location.purgeExpired(self.reactor.seconds())
        if dropped:
            log.debug("registrar: {count} bindings expired", count=dropped)
        return int(dropped)

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
    The keepalive part of the configuration, as the option table maps it.
    """
    return KeepaliveSettings(**config.keepaliveArguments())


def makeService(config: Config, reactor: Any) -> ProxyService:
    """
    Build keepsip's service tree: the one place its objects are made and
    wired, each given its collaborators at construction (in the manner of
    C{twisted.names.tap.makeService}). The services only order start and
    stop.

    Two cycles are broken here:

      - the transaction layer and the proxy core: the layer hands requests
        to the core, the core starts client transactions on the layer. The
        layer is built first with a L{ForwardingTransactionUser} that looks
        the transaction user up when a message arrives (after start-up), so neither
        object is changed after it is built;
      - the transport and the transaction layer: the layer sends through a
        L{TransportSelector}, which the protocols join when their ports
        listen (the sockets exist only then).

    The layer's transaction user is the L{KeepaliveTransactionUser} in
    front of the core (in the manner of Twisted's C{ProtocolWrapper}): it
    absorbs or refuses keepalives and delegates everything else, so the core
    has no keepalive hooks and keepalive needs no core.

    @param reactor: the reactor (time, UDP, TCP for metrics, name
        resolution).
    """
    setLogLevel(config.logLevel)
    identity = ProxyIdentity(
        config.advertise,
        [(a.host, a.port) for a in config.listen],
        sorted(config.domains),
    )
    accounting = AccountingTracker(
        makeBackends(config.accounting, reactor),
        reactor,
        config.accountingSpool,
        Tariffs.fromConfig(dict(config.tariffs)),
        interimInterval=config.interimInterval or None,
        interimOnKeepalive=config.interimOnKeepalive,
        commitDelay=config.accountingCommitDelay,
    )
    accounting.setName("accounting")
    store = MemoryDialogStore()
    tracker = DialogTracker(reactor, store, identity.recordRoute)
    tracker.addObserver(accounting)
    endCauses = EndCauseCounter()
    tracker.addObserver(endCauses)
    location = LocationService()
    registrar = Registrar(
        reactor,
        location,
        minExpires=config.registrarMinExpires,
        maxExpires=config.registrarMaxExpires,
        defaultExpires=config.registrarDefaultExpires,
    )

    selector = TransportSelector()
    user: KeepaliveTransactionUser | None = None

    def transactionUser() -> KeepaliveTransactionUser:
        assert user is not None, "a message arrived before the proxy core was built"
        return user

    admission = Admission(config.maxTransactions, config.maxTransactionsPerSource, clock=reactor)
    transactions = TransactionLayer(
        reactor,
        selector.send,
        ForwardingTransactionUser(transactionUser),
        TimerSettings(T1=config.timerT1, T2=config.timerT2, T4=config.timerT4),
        canSend=selector.canSend,
        admission=admission,
    )
    core = ProxyCore(
        reactor,
        identity,
        transactions,
        selector.send,
        routeFor=config.routeFor,
        registrar=registrar,
        tracker=tracker,
        resolve=getattr(reactor, "resolve", None),
    )
    # The terminator gets only what ending a call needs: client
    # transactions for its BYEs, keepsip's sent-by, a resolver.
    terminator = Terminator(
        tracker, transactions.request, identity.sentBy, getattr(reactor, "resolve", None)
    )
    keepalive = KeepaliveManager(
        reactor,
        keepaliveSettings(config),
        store,
        tracker,
        terminator,
        t1=config.timerT1,
        t2=config.timerT2,
    )
    tracker.addObserver(keepalive)
    # The transaction user: keepalives are absorbed or refused in front of
    # the core, everything else is delegated to it.
    user = KeepaliveTransactionUser(core, keepalive, identity.sentBy)

    def isMyVia(via: Via) -> bool:
        return identity.isMe(via.host, via.port)

    receiveErrors = supportsReceiveErrors(reactor)
    protocols = []
    listeners = []
    for address in config.listen:
        protocol = SIPDatagramProtocol(
            transactions,
            selector,
            addressFamily(address.host) or socket.AF_INET,
            isMyVia=isMyVia,
            blocked=admission.blocks,
        )
        protocols.append(protocol)
        listener = UDPListener(reactor, address.port, protocol, address.host, receiveErrors)
        listener.setName(f"udp:{hostPort(address.host, address.port)}")
        listeners.append(listener)

    readers = [
        transportMetrics(protocols),
        transactionMetrics(transactions),
        dialogMetrics(store, endCauses),
        keepaliveMetrics(keepalive),
        registrarMetrics(location),
        accountingMetrics(accounting),
    ]
    metrics = None
    if config.metrics:
        metrics = strports.service(config.metrics, metricsSite(readers, reactor), reactor=reactor)
        metrics.setName("metrics")

    return ProxyService(
        config,
        reactor,
        identity=identity,
        accounting=accounting,
        store=store,
        tracker=tracker,
        endCauses=endCauses,
        location=location,
        transactions=transactions,
        core=core,
        keepalive=keepalive,
        protocols=protocols,
        listeners=listeners,
        metricsReaders=readers,
        metrics=metrics,
    )
