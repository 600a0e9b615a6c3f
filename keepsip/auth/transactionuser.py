"""
The authentication seam: a transaction user in front of the keepalive
wrapper and the proxy core, in the manner of Twisted's C{ProtocolWrapper}.

L{AuthTransactionUser} decides who may use keepsip before anything is
routed:

  - C{--trusted} peers pass untouched (no challenge, no rate limit);
  - REGISTERs are rate-limited per source address (503 + Retry-After,
    statelessly, by L{keepsip.auth.admission.AuthAdmission} in the
    transaction layer);
  - with a checker (C{--auth TYPE:ARGS}), a REGISTER for keepsip's own
    domain is challenged with 401 + C{WWW-Authenticate}, every other request
    that starts a dialog or stands alone with 407 + C{Proxy-Authenticate}
    (RFC 3261 §22), offering C{qop=auth} with each configured algorithm;
    challenges are rate-limited per source too (statelessly where the
    challenge is certain before the credentials are checked);
  - a request inside a dialog keepsip knows, from the address of the leg
    its From tag names, passes unchallenged; any other request with a To tag
    is challenged, and a dialog's caller side must then prove to be the
    user that set the dialog up (the dialog is bound to that identity);
  - an authenticated user may register only its own address-of-record and,
    with C{--auth-from-check}, call only as itself (403 otherwise);
  - a wrong password is challenged once more (the failure count rides in
    the nonce), then answered 403.

The user that authenticated an initial INVITE is written to the dialog
(L{keepsip.dialog.model.Dialog.authUser}) when the dialog tracker creates it
(this object is a dialog observer), so the call record names who is billed.
ACK and CANCEL are never challenged (RFC 3261 §22.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.cred.error import UnauthorizedLogin, UnhandledCredentials
from twisted.internet.defer import maybeDeferred
from twisted.python.failure import Failure

from keepsip.auth.admission import AuthAdmission, Decision
from keepsip.auth.digest import DigestCredentials, MalformedCredentials, challenge
from keepsip.auth.nonces import FRESH, STALE, NonceAuthority
from keepsip.auth.peers import TrustedPeers
from keepsip.dialog.model import Dialog, Leg
from keepsip.dialog.observer import DialogObserver
from keepsip.logs import Logger
from keepsip.sip.headers import fromHeader, newTag, toHeader
from keepsip.sip.message import Request, Response
from keepsip.sip.responses import responseFromRequest
from keepsip.transaction.interfaces import IServerTransaction, ITransactionUser
from keepsip.transaction.wrapper import TransactionUserWrapper

log = Logger()

#: Wrong answers to challenges before keepsip answers 403 instead.
MAX_FAILURES = 1


@dataclass(frozen=True)
class AuthSettings:
    """
    @ivar realm: the digest realm.
    @ivar algorithms: the algorithms offered, most preferred first.
    @ivar fromCheck: an authenticated caller may only use its own From user.
    @ivar registrationRate: REGISTERs per second per source address (0:
        unlimited).
    @ivar challengeRate: challenges per second per source address (0:
        unlimited).
    """

    realm: str
    algorithms: tuple[str, ...] = ("MD5",)
    fromCheck: bool = True
    registrationRate: float = 20.0
    challengeRate: float = 20.0


class AuthTransactionUser(TransactionUserWrapper, DialogObserver):
    """
    Challenges, authorizes and rate-limits; hands the rest to C{inner}.

    @param inner: the wrapped L{ITransactionUser}.
    @param clock: an C{IReactorTime}.
    @param identity: the L{keepsip.proxy.identity.ProxyIdentity}.
    @param store: the memory dialog store (its synchronous
        C{getByDialogID}), to recognise requests inside known dialogs.
    @param checker: an C{ICredentialsChecker} accepting
        L{DigestCredentials}, or L{None} for no authentication.
    @param nonces: the L{NonceAuthority} (needed with a checker).
    @param trusted: the L{TrustedPeers}.
    @param settings: the L{AuthSettings}.

    @ivar admission: the L{AuthAdmission} to add to the transaction layer
        (L{keepsip.transaction.layer.TransactionLayer.addAdmission}), which
        applies the rate limits statelessly.
    @ivar challenged: challenges sent, by header (C{"www-authenticate"},
        C{"proxy-authenticate"}). @ivar authenticated: requests passed with
        good credentials. @ivar rejected: 403s. @ivar stale: challenges with
        C{stale=true}. @ivar limited: refusals by a rate limit that reached
        this object (not refused by the layer), by kind.
    """

    def __init__(
        self,
        inner: ITransactionUser,
        clock: Any,
        identity: Any,
        store: Any,
        checker: Any,
        nonces: NonceAuthority | None,
        trusted: TrustedPeers,
        settings: AuthSettings,
    ) -> None:
        TransactionUserWrapper.__init__(self, inner)
        self.clock = clock
        self.identity = identity
        self.store = store
        self.checker = checker
        self.nonces = nonces
        self.trusted = trusted
        self.settings = settings
        self.admission = AuthAdmission(
            clock,
            identity,
            store,
            checker,
            nonces,
            trusted,
            settings.realm,
            settings.algorithms,
            settings.registrationRate,
            settings.challengeRate,
        )
        self._pending: tuple[Request, str] | None = None
        self.challenged = {"www-authenticate": 0, "proxy-authenticate": 0}
        self.authenticated = 0
        self.rejected = 0
        self.stale = 0

    # -- ITransactionUser --------------------------------------------------

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        try:
            self._admit(request, serverTransaction)
        except Exception:
            log.failure(
                "authentication failed on {method} {callID}",
                method=request.method,
                callID=request.header("call-id"),
            )
            response = responseFromRequest(request, 500, "Server Internal Error")
            self._answer(serverTransaction, response)

    # -- DialogObserver ----------------------------------------------------

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Bind a new dialog to the user whose INVITE is being delegated.
        """
        pending = self._pending
        if pending is None:
            return
        request = pending[0]
        if request.header("call-id") != dialog.callID:
            return
        try:
            sender = fromHeader(request).tag
        except ValueError:
            return
        if sender == dialog.caller.tag:
            dialog.authUser = pending[1]

    # -- admission ---------------------------------------------------------

    def _answer(self, serverTransaction: IServerTransaction, response: Response) -> None:
        last = serverTransaction.lastResponse
        if last is None or last.code < 200:
            serverTransaction.respond(response)

    def _refuse(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        code: int,
        phrase: str,
    ) -> None:
        response = responseFromRequest(request, code, phrase, toTag=newTag())
        if code == 503:
            response.addHeader("retry-after", "1")
        elif code == 403:
            self.rejected += 1
        log.info(
            "auth: {code} {phrase} to {method} from {peer}",
            code=code,
            phrase=phrase,
            method=request.method,
            peer=serverTransaction.source,
        )
        self._answer(serverTransaction, response)

    def _delegate(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        user: str | None = None,
    ) -> None:
        if user is None:
            self.wrapped.requestReceived(request, serverTransaction)
            return
        self._pending = (request, user)
        try:
            self.wrapped.requestReceived(request, serverTransaction)
        finally:
            self._pending = None

    def _admit(self, request: Request, serverTransaction: IServerTransaction) -> None:
        decision = self.admission.decide(request, serverTransaction.source)
        refusal = decision.refusal
        if refusal is not None:
            # Not refused by the layer (no admission check installed there).
            code, phrase, _ = refusal
            self._refuse(request, serverTransaction, code, phrase)
        elif decision.authenticate:
            self._authenticate(request, serverTransaction, decision)
        else:
            self._delegate(request, serverTransaction)

    def _authenticate(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        decision: Decision,
    ) -> None:
        registrar, binding = decision.registrar, decision.binding
        header = "authorization" if registrar else "proxy-authorization"
        problem = decision.problem
        credentials = decision.credentials
        if problem == "malformed":
            phrase = f"Bad Request (malformed {header.title()})"
            self._refuse(request, serverTransaction, 400, phrase)
            return
        if problem is not None or credentials is None:
            if problem in ("forged", "replayed") and credentials is not None:
                log.info(
                    "auth: {verdict} nonce from {peer} for {user}",
                    verdict=problem,
                    peer=serverTransaction.source,
                    user=credentials.user,
                )
            elif decision.error:
                log.info(
                    "auth: {error} from {peer}", error=decision.error, peer=serverTransaction.source
                )
            self._challenge(request, serverTransaction, registrar, charged=decision.charged)
            return
        nonces = self.nonces
        assert nonces is not None
        verdict = decision.verdict

        def checked(user: Any) -> None:
            if not isinstance(user, str):
                if isinstance(user, bytes):
                    user = user.decode("utf-8", "surrogateescape")
                user = str(user)
            if verdict == STALE:
                self._challenge(request, serverTransaction, registrar, stale=True)
                return
            if nonces.verify(credentials.nonce, credentials.nc, record=True) != FRESH:
                self._challenge(request, serverTransaction, registrar)
                return
            self._authorized(request, serverTransaction, registrar, binding, user, header)

        def failed(reason: Failure) -> None:
            if reason.check(UnauthorizedLogin, UnhandledCredentials):
                if nonces.failures(credentials.nonce) >= MAX_FAILURES:
                    self._refuse(request, serverTransaction, 403, "Forbidden")
                else:
                    self._challenge(
                        request,
                        serverTransaction,
                        registrar,
                        failures=nonces.failures(credentials.nonce) + 1,
                    )
                return
            log.failure("auth: the credentials checker failed", reason)
            self._refuse(request, serverTransaction, 503, "Service Unavailable")

        d = maybeDeferred(self.checker.requestAvatarId, credentials)
        d.addCallbacks(checked, failed)
        d.addErrback(
            lambda f: log.failure("auth: answering {method} failed", f, method=request.method)
        )

    def _authorized(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        registrar: bool,
        binding: tuple[Dialog, Leg] | None,
        user: str,
        header: str,
    ) -> None:
        try:
            to, sender = toHeader(request), fromHeader(request)
        except ValueError:
            self._refuse(request, serverTransaction, 400, "Bad Request")
            return
        if request.method == "REGISTER":
            if getattr(to.uri, "user", None) != user:
                phrase = "Forbidden (not your address-of-record)"
                self._refuse(request, serverTransaction, 403, phrase)
                return
        elif binding is not None:
            dialog, leg = binding
            if leg is dialog.caller and dialog.authUser is not None and dialog.authUser != user:
                self._refuse(request, serverTransaction, 403, "Forbidden (not your dialog)")
                return
        elif self.settings.fromCheck and getattr(sender.uri, "user", None) != user:
            self._refuse(request, serverTransaction, 403, "Forbidden (From is not you)")
            return
        if not registrar:
            self._dropOwnCredentials(request, header)
        self.authenticated += 1
        self._delegate(request, serverTransaction, user)

    def _dropOwnCredentials(self, request: Request, header: str) -> None:
        """
        Remove the credentials for keepsip's realm before forwarding; others'
        stay (RFC 3261 §22.3).
        """
        values = request.headers.get(header)
        if not values:
            return
        if len(values) == 1:
            # The one value is the one that authenticated the request.
            del request.headers[header]
            request.invalidate(header)
            return
        realm = self.settings.realm
        kept = []
        for value in values:
            try:
                if DigestCredentials.fromHeader(value, request.method).realm == realm:
                    continue
            except MalformedCredentials:
                pass
            kept.append(value)
        request.headers[header] = kept
        request.invalidate(header)

    def _challenge(
        self,
        request: Request,
        serverTransaction: IServerTransaction,
        registrar: bool,
        stale: bool = False,
        failures: int = 0,
        charged: bool = False,
    ) -> None:
        if not charged and not self.admission.chargeChallenge(serverTransaction.source[0]):
            phrase = "Service Unavailable (too many challenges)"
            self._refuse(request, serverTransaction, 503, phrase)
            return
        nonces = self.nonces
        assert nonces is not None
        nonce = nonces.issue(failures)
        if registrar:
            response = responseFromRequest(request, 401, "Unauthorized", toTag=newTag())
            header = "www-authenticate"
        else:
            response = responseFromRequest(
                request, 407, "Proxy Authentication Required", toTag=newTag()
            )
            header = "proxy-authenticate"
        for algorithm in self.settings.algorithms:
            response.addHeader(header, challenge(self.settings.realm, nonce, algorithm, stale))
        self.challenged[header] += 1
        if stale:
            self.stale += 1
        self._answer(serverTransaction, response)


__all__ = ["AuthSettings", "AuthTransactionUser", "MAX_FAILURES"]
