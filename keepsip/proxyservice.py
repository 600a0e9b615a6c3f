"""
keepsip's service tree: L{ProxyService} orders the start and stop of the
services L{keepsip.service.makeService} built (accounting first, so it stops
last; then reapers, listeners, timers, metrics), resumes the calls a
persistent dialog store holds, and keeps or ends the calls that are up at a
graceful stop; L{ForwardingTransactionUser} breaks the transaction layer ⇄
proxy core construction cycle.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.application import internet, service
from twisted.internet.error import CannotListenError
from zope.interface import implementer

from keepsip.accounting.tracker import AccountingTracker
from keepsip.config.settings import Config
from keepsip.dialog.acktimer import AckTimer
from keepsip.dialog.model import EndCause
from keepsip.dialog.serial import SchemaError
from keepsip.dialog.tracker import DialogTracker
from keepsip.interfaces import IDialogStore
from keepsip.keepalive.absorb import stopAnswer
from keepsip.keepalive.manager import KeepaliveManager
from keepsip.keepalive.reaper import ReaperService
from keepsip.keepalive.state import KeepaliveState
from keepsip.keepalive.termination import Ending
from keepsip.logs import Logger
from keepsip.media.service import MediaService
from keepsip.metrics.dialog import EndCauseCounter
from keepsip.metrics.exposition import Reader
from keepsip.proxy.core import ProxyCore
from keepsip.proxy.identity import ProxyIdentity
from keepsip.proxy.registrar import LocationService
from keepsip.sip.message import Request, Response
from keepsip.startup import StartupError, describeOSError, listenError
from keepsip.transaction import ITransactionUser, TransactionLayer
from keepsip.transaction.interfaces import IServerTransaction
from keepsip.transport.listener import UDPListener
from keepsip.transport.udp import SIPDatagramProtocol

#: The end detail of a call keepsip stopped while its own BYEs were out.
ENDING_CUT_SHORT = "keepsip stopped before the BYEs were answered"

log = Logger()

#: The Reason header of the BYEs of calls ended at a graceful stop.
STOP_REASON = 'SIP;cause=200;text="keepsip stopped"'

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

    def __init__(
        self,
        currentUser: Callable[[], ITransactionUser],
        ackSeen: Callable[[Request], None] | None = None,
    ) -> None:
        """
        @param ackSeen: told of every ACK matching no server transaction
            before the user is (the ACK timer).
        """
        self._currentUser = currentUser
        self._ackSeen = ackSeen

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        self._currentUser().requestReceived(request, serverTransaction)

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        if self._ackSeen is not None:
            self._ackSeen(request)
        self._currentUser().ackReceived(request, source)

    def cancelReceived(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        inviteTransaction: IServerTransaction | None,
    ) -> None:
        self._currentUser().cancelReceived(request, serverTransaction, inviteTransaction)

    def strayResponse(self, response: Response, source: tuple[str, int]) -> None:
        self._currentUser().strayResponse(response, source)

    def requestRetransmitted(self, request: Request, serverTransaction: IServerTransaction) -> None:
        self._currentUser().requestRetransmitted(request, serverTransaction)

    def serverTimedOut(self, serverTransaction: IServerTransaction) -> None:
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
    @ivar ackTimer: the L{AckTimer} ending calls whose 2xx is not ACKed.
    @ivar loadedDialogs: calls the dialog store loaded at start (a metric).
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
        store: IDialogStore,
        tracker: DialogTracker,
        endCauses: EndCauseCounter,
        location: LocationService,
        transactions: TransactionLayer,
        core: ProxyCore,
        keepalive: KeepaliveManager,
        ackTimer: AckTimer,
        protocols: list[SIPDatagramProtocol],
        listeners: list[UDPListener],
        metricsReaders: list[Reader],
        metrics: service.Service | None,
        media: MediaService | None = None,
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
        self.ackTimer = ackTimer
        self.loadedDialogs = 0
        self.protocols = protocols
        self.metricsReaders = metricsReaders
        accounting.setServiceParent(self)
        self.media = media
        if media is not None:
            media.setServiceParent(self)
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
        service.Service.startService(self)
        started: list[service.IService] = []
        for child in self:
            try:
                child.startService()
            except Exception as e:
                error = self._startupError(child, e)
                if error is None:
                    raise
                # Undo what did start, so no port or timer outlives the error.
                for other in reversed(started):
                    other.stopService()
                service.Service.stopService(self)
                raise error from e
            started.append(child)
        # After the children started (accounting takes the stop records of
        # calls that ended while keepsip was down), before the reactor
        # delivers the first datagram.
        try:
            self.restoreDialogs()
        except SchemaError as e:
            for other in reversed(started):
                other.stopService()
            service.Service.stopService(self)
            raise StartupError("dialog-store", str(e)) from e

    def privilegedStartService(self) -> None:
        """
        As L{startService}, for the children that bind their ports here
        (twistd calls this first: the metrics endpoint listens in it).

        @raise StartupError: naming the option whose port cannot be bound.
        """
        for child in self:
            try:
                child.privilegedStartService()
            except Exception as e:
                error = self._startupError(child, e)
                if error is None:
                    raise
                raise error from e

    def _startupError(self, child: service.IService, error: Exception) -> StartupError | None:
        """
        The one-line L{StartupError} for a child that failed to start, naming
        the option behind it, or L{None} if C{error} is not about a resource
        an option names (a bug: let its traceback show).
        """
        if isinstance(error, StartupError):
            return error
        name = child.name or ""
        if isinstance(error, CannotListenError):
            if name == "metrics":
                return listenError("metrics", self.config.metrics, error)
            return listenError("listen", name, error)
        if isinstance(error, OSError) and child is self.accounting:
            return StartupError("accounting-spool", describeOSError(error))
        return None

    def stopService(self) -> Any:
        self.ackTimer.stop()
        self.stopCalls()
        d = service.MultiService.stopService(self)
        self.transactions.stop()
        d.addBoth(self.closeStore)
        return d

    def restoreDialogs(self) -> int:
        """
        Open the dialog store and resume the calls it holds (see
        L{DialogTracker.restore}): their deadlines re-armed from their last
        proof of life, the ones that expired while keepsip was down reaped
        on the first reaper tick.

        @return: how many calls are up after it.
        @raise SchemaError: the store is corrupt or from a newer schema.
        """
        loaded: list[Any] = []
        failures: list[Any] = []
        opened = self.store.open()
        if not opened.called:
            # A networked store (Redis): resume its calls when it answers.
            opened.addCallback(self._resume).addErrback(self._storeRefused)
            return 0
        opened.addCallbacks(loaded.append, failures.append)
        if failures:
            failures[0].raiseException()
        return self._resume(loaded[0] if loaded else [])

    def _storeRefused(self, reason: Any) -> None:
        """
        The networked dialog store refused keepsip after it started (another
        program's keys, a newer schema): say so in one line and stop.
        """
        log.critical("--dialog-store: {error}; stopping", error=reason.getErrorMessage())
        stop = getattr(self.reactor, "stop", None)
        if stop is not None and getattr(self.reactor, "running", False):
            stop()

    def _resume(self, dialogs: list[Any]) -> int:
        self.loadedDialogs = len(dialogs)
        restored = self.tracker.restore(dialogs)
        if dialogs:
            log.info(
                "dialog store: {loaded} calls loaded, {restored} resumed",
                loaded=len(dialogs),
                restored=restored,
            )
        return restored

    def onStop(self) -> str:
        """
        What a graceful stop does with calls that are up: C{--on-stop}, or by
        default C{keep} with a persistent store and C{end} with memory.
        """
        if self.config.onStop:
            return self.config.onStop
        return "keep" if self.store.persistent else "end"

    def stopCalls(self) -> int:
        """
        Keep or end the calls that are up, per L{onStop}.

        @return: how many calls were ended.
        """
        if self.onStop() == "end":
            return self.endAllDialogs(EndCause.SHUTDOWN)
        for dialog in self.store.allDialogs():
            state = dialog.attachments.get(KeepaliveState)
            if state is not None:
                stopAnswer(state)
        return 0

    def closeStore(self, result: object) -> object:
        """
        Write what the dialog store has pending and close it (after the
        stop records of the calls ended at shutdown).
        """
        self.store.close().addErrback(lambda f: log.failure("closing the dialog store", f))
        return result

    def endAllDialogs(self, cause: str) -> int:
        """
        End every dialog still open (at shutdown: their stop records must
        be written before accounting stops). The one scan of all dialogs
        keepsip makes, and only on the way out.

        @return: how many were ended.
        """
        dialogs = list(self.store.allDialogs())
        for dialog in dialogs:
            ending = dialog.attachments.get(Ending)
            if ending is not None:
                # A reaper is already ending it (its BYEs are out, not yet
                # answered): no second pair of BYEs, and the record keeps
                # that ending's cause and billed end, not the shutdown's.
                self.tracker.terminate(
                    dialog,
                    ending.cause,
                    {"silent": ending.silent, "why": f"{ending.why}; {ENDING_CUT_SHORT}"},
                    endedAt=ending.endedAt,
                    detectedAt=ending.detectedAt,
                )
                continue
            if dialog.isConfirmed:
                # BYE to both legs first (their answers are not awaited:
                # keepsip is going away), then the stop record.
                self.keepalive.terminator.terminate(
                    dialog, cause, "none", self.reactor.seconds(), self.reactor.seconds(),
                    "keepsip stopped", STOP_REASON,
                ).addErrback(lambda f: None)
            self.tracker.terminate(dialog, cause, {"why": "keepsip stopped"})
        if dialogs:
            log.info("ended {count} open calls: {cause}", count=len(dialogs), cause=cause)
        return len(dialogs)
