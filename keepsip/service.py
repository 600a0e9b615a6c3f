"""
The composition root: builds keepsip's service tree from a validated
L{keepsip.config.settings.Config}.

Nothing else constructs services; nothing here imports the global reactor
(L{keepsip.tap.makeService} passes it in).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, cast

from twisted.application import strports

from keepsip.accounting.plugin import makeBackends
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.tracker import AccountingTracker
from keepsip.auth.metrics import authMetrics
from keepsip.auth.service import makeAuthentication
from keepsip.auth.transactionuser import AuthTransactionUser
from keepsip.config.settings import Config
from keepsip.dialog.acktimer import AckTimer
from keepsip.dialog.stores import makeDialogStore
from keepsip.dialog.tracker import DialogTracker
from keepsip.edge.keepalives import EdgeEndDetail, EdgeKeepalives
from keepsip.edge.service import CoreInvites, EdgeRegistrations, EdgeService, wrapEdge
from keepsip.keepalive.admission import KeepaliveAdmission
from keepsip.keepalive.cluster import ClusterReaper, nodeName, storedDeadlines
from keepsip.keepalive.manager import KeepaliveManager, KeepaliveSettings
from keepsip.keepalive.termination import Terminator
from keepsip.keepalive.transactionuser import KeepaliveTransactionUser
from keepsip.logs import Logger, setLogLevel
from keepsip.media import makeMediaRelay
from keepsip.media.anchor import MediaAnchor
from keepsip.media.service import MediaService
from keepsip.media.sessions import IPV4_OVERHEAD, IPV6_OVERHEAD, MediaSessions
from keepsip.media.timeout import MediaEndDetail, MediaTimeouts
from keepsip.metrics.accounting import accountingMetrics
from keepsip.metrics.dialog import EndCauseCounter, dialogMetrics, dialogStoreMetrics, legMetrics
from keepsip.metrics.keepalive import keepaliveMetrics
from keepsip.metrics.media import mediaMetrics
from keepsip.metrics.signalling import registrarMetrics, transactionMetrics, transportMetrics
from keepsip.metrics.site import metricsSite
from keepsip.persistence import dialogCodec
from keepsip.proxy.core import ProxyCore
from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.registrar import LocationService, Registrar
from keepsip.proxyservice import ForwardingTransactionUser, ProxyService
from keepsip.sip.address import addressFamily, hostPort
from keepsip.sip.headers import Via
from keepsip.transaction import TimerSettings, TransactionLayer
from keepsip.transaction.overload import Admission
from keepsip.transport.icmp import supportsReceiveErrors
from keepsip.transport.listener import UDPListener
from keepsip.transport.selector import TransportSelector
from keepsip.transport.udp import SIPDatagramProtocol

log = Logger()

#: The Reason header of the BYEs that end a call whose 2xx was not ACKed.
ACK_TIMEOUT_REASON = 'SIP;cause=408;text="ACK timeout"'



def keepaliveSettings(config: Config) -> KeepaliveSettings:
    """
    The keepalive part of the configuration, as the option table maps it.
    """
    return KeepaliveSettings(**config.keepaliveArguments())


def makeService(
    config: Config, reactor: Any, sockets: Mapping[tuple[str, int], int] | None = None
) -> ProxyService:
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
    @param sockets: descriptors of sockets already bound, by C{(host,
        port)} of a C{--listen} address (a worker of C{--workers} gets them
        from its supervisor, L{keepsip.workers}); the others are bound here.
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
        stopTimeout=config.shutdownTimeout,
    )
    accounting.setName("accounting")
    store = makeDialogStore(
        config.dialogStore,
        reactor,
        dialogCodec(),
        deadlines=storedDeadlines(keepaliveSettings(config)),
        nodeID=nodeName([(a.host, a.port) for a in config.listen]),
    )
    tracker = DialogTracker(reactor, store, identity.recordRoute)
    relay = makeMediaRelay(
        config.mediaRelay, reactor, config.rtpAddress or config.advertise[0], config.rtpPorts
    )
    mediaSessions = None
    if relay is not None:
        # Before accounting: a call's final counters go into its stop record.
        overhead = IPV6_OVERHEAD if ":" in config.rtpAddress else IPV4_OVERHEAD
        mediaSessions = MediaSessions(relay, overhead)
        tracker.addObserver(mediaSessions)
    edge = config.role == "edge" and config.core is not None
    if edge:
        # Before accounting: why the edge's keepalives stopped goes into
        # its own stop record.
        tracker.addObserver(EdgeEndDetail())
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
        maxContacts=config.registrarMaxContacts,
        maxPerSource=config.registrarMaxSourceBindings,
    )

    selector = TransportSelector()
    user: AuthTransactionUser | None = None

    def transactionUser() -> AuthTransactionUser:
        assert user is not None, "a message arrived before the proxy core was built"
        return user

    ackTimer = AckTimer(
        reactor,
        64 * config.timerT1,
        lambda dialog, cause, endedAt: terminator.end(
            dialog,
            cause,
            "caller",
            endedAt,
            reactor.seconds(),
            reasonText="the 2xx was never acknowledged",
            reasonHeader=ACK_TIMEOUT_REASON,
        ),
    )
    tracker.addObserver(ackTimer)
    admission = Admission(config.maxTransactions, config.maxTransactionsPerSource, clock=reactor)
    transactions = TransactionLayer(
        reactor,
        selector.send,
        ForwardingTransactionUser(transactionUser, ackTimer.ackReceived),
        TimerSettings(T1=config.timerT1, T2=config.timerT2, T4=config.timerT4),
        canSend=selector.canSend,
        admission=admission,
    )
    # An edge remembers the INVITEs it sends the core: its keepalives repeat them.
    invites = CoreInvites(transactions, config.core) if edge and config.core else None
    core = ProxyCore(
        reactor,
        identity,
        cast(Any, invites) if invites is not None else transactions,
        selector.send,
        routeFor=config.routeFor,
        registrar=registrar,
        tracker=tracker,
        resolve=getattr(reactor, "resolve", None),
        media=MediaAnchor(relay, store, mediaSessions, reactor) if mediaSessions else None,
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
    media = None
    if relay is not None:
        assert mediaSessions is not None and core.media is not None
        timeouts = MediaTimeouts(
            reactor,
            store,
            mediaSessions,
            Terminator(
                MediaEndDetail(tracker),
                transactions.request,
                identity.sentBy,
                getattr(reactor, "resolve", None),
            ),
            # An edge does not end calls whose media stopped: its keepalives
            # stop and the core ends them (docs/edge.md).
            0 if edge else config.mediaTimeout,
            0 if edge else config.holdTimeout,
            config.reaperTick,
        )
        tracker.addObserver(timeouts)
        media = MediaService(relay, mediaSessions, core.media, timeouts)
    # The transaction user: keepalives are absorbed or refused in front of
    # the core, everything else is delegated to it.
    # Authentication and per-source limits in front of that (docs/auth.md).
    user, authService = makeAuthentication(
        config, reactor, identity, store, KeepaliveTransactionUser(core, keepalive, identity.sentBy)
    )
    tracker.addObserver(user)
    transactions.addAdmission(user.admission)  # its rate limits, stateless
    transactions.addAdmission(KeepaliveAdmission(keepalive, identity.sentBy))  # the ceiling
    edgeService = None
    if invites is not None and config.core is not None:
        registrations = EdgeRegistrations()
        edgeKeepalives = EdgeKeepalives(
            reactor, store, invites, registrations, transactions.request, selector.send,
            identity.sentBy, config.core, terminator, mediaSessions, config.keepaliveInterval,
            config.mediaTimeout, config.holdTimeout, config.reaperTick,
        )
        tracker.addObserver(edgeKeepalives)
        edgeService = EdgeService(edgeKeepalives)
        user = wrapEdge(user, reactor, identity, config.core, registrations)  # type: ignore[assignment]

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
        listener = UDPListener(
            reactor,
            address.port,
            protocol,
            address.host,
            receiveErrors,
            fileno=(sockets or {}).get((address.host, address.port)),
        )
        listener.setName(f"udp:{hostPort(address.host, address.port)}")
        listeners.append(listener)

    readers = [
        transportMetrics(protocols),
        transactionMetrics(transactions),
        dialogMetrics(store, endCauses),
        dialogStoreMetrics(store),
        keepaliveMetrics(keepalive),
        legMetrics(tracker),
        registrarMetrics(location),
        accountingMetrics(accounting),
        authMetrics(user),
    ]
    if media is not None:
        readers.append(mediaMetrics(media))
    metrics = None
    if config.metrics:
        metrics = strports.service(config.metrics, metricsSite(readers, reactor), reactor=reactor)
        metrics.setName("metrics")

    proxy = ProxyService(
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
        ackTimer=ackTimer,
        protocols=protocols,
        listeners=listeners,
        metricsReaders=readers,
        metrics=metrics,
        media=media,
    )
    authService.setServiceParent(proxy)
    if getattr(store, "shared", False):
        # Several nodes: end the calls of nodes that died (docs/state.md).
        lease = getattr(store, "lease")
        reaper = ClusterReaper(reactor, store, tracker, keepalive, config.reaperTick, lease)
        reaper.setServiceParent(proxy)
    if edgeService is not None:
        edgeService.setServiceParent(proxy)
    return proxy
