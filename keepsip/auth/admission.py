"""
What authentication decides before a server transaction exists: whether a
request is keepsip's business at all (trusted peer, spiral, a request inside
a known dialog from its leg, a ping of keepsip), whether it must be
authenticated, and the per-source rate limits, which refuse statelessly.

L{AuthAdmission} is an L{IAdmission} check of the transaction layer
(L{keepsip.transaction.layer.TransactionLayer.addAdmission}):

  - a REGISTER from an untrusted source takes a token from its source's
    C{--registrar-rate-limit} bucket;
  - a request that will certainly be challenged (it carries no credentials
    for keepsip's realm, or credentials with an algorithm not offered, or a
    forged or replayed nonce) takes a token from its source's
    C{--auth-challenge-rate-limit} bucket;

and an empty bucket is answered C{503} with C{Retry-After} by the layer,
statelessly: a flood over the limits creates no transaction. Challenges that
only the credentials checker can decide (a stale nonce, a wrong password)
take their token when they are sent, and get a C{503} through their
transaction when there is none; there is at most one such challenge per
nonce keepsip issued (the failure count rides in the nonce), so they are
bounded by the challenges admitted here.

The L{Decision} is kept for the one request being admitted, so the
authentication transaction user, called next with the same request, does
not work it out again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zope.interface import implementer

from keepsip.auth.digest import DigestCredentials, MalformedCredentials, UnknownAlgorithm
from keepsip.auth.nonces import FORGED, REPLAYED, NonceAuthority
from keepsip.auth.peers import TrustedPeers
from keepsip.dialog.model import Dialog, Leg
from keepsip.keepalive.ratelimit import RateLimiter
from keepsip.logs import Logger
from keepsip.sip.address import sameAddress
from keepsip.sip.headers import fromHeader, maxForwards, toHeader, vias
from keepsip.sip.message import Request
from keepsip.sip.uri import URI
from keepsip.transaction.interfaces import IAdmission

log = Logger()

#: What a rate-limited request is told to wait, in seconds.
RETRY_AFTER = 1

Refusal = tuple[int, str, tuple[tuple[str, str], ...]]


def _limiter(clock: Any, rate: float) -> RateLimiter | None:
    if not rate > 0:
        return None
    return RateLimiter(clock, rate, max(10, int(rate * 2)))


def _refusal(reason: str) -> Refusal:
    return (503, f"Service Unavailable ({reason})", (("retry-after", str(RETRY_AFTER)),))


#: Why a request is answered before it reaches the core.
TOO_MANY_REGISTERS = _refusal("too many REGISTERs")
TOO_MANY_CHALLENGES = _refusal("too many challenges")


@dataclass
class Decision:
    """
    What authentication makes of one request.

    @ivar refusal: the stateless answer, or L{None}.
    @ivar authenticate: L{False}: hand it to the core untouched.
    @ivar registrar: a REGISTER for keepsip's own domain (401, not 407).
    @ivar binding: the known dialog and leg its From tag names, if any.
    @ivar credentials: its credentials for keepsip's realm, if any.
    @ivar problem: why it must be challenged or refused before the checker:
        C{"malformed"} (400), C{"algorithm"}, C{"forged"}, C{"replayed"}, or
        C{"none"} (no credentials).
    @ivar verdict: the nonce's verdict (not recorded), with credentials.
    @ivar charged: a challenge token was taken for it.
    """

    refusal: Refusal | None = None
    authenticate: bool = False
    registrar: bool = False
    binding: tuple[Dialog, Leg] | None = None
    credentials: DigestCredentials | None = None
    problem: str | None = None
    verdict: str | None = None
    charged: bool = False
    error: str = ""


PASS = Decision()


@implementer(IAdmission)
class AuthAdmission:
    """
    @param clock: an C{IReactorTime}.
    @param identity: the L{keepsip.proxy.identity.ProxyIdentity}.
    @param store: the memory dialog store (its synchronous C{getByDialogID}).
    @param checker: the C{ICredentialsChecker}, or L{None}: no challenges.
    @param nonces: the L{NonceAuthority} (needed with a checker).
    @param trusted: the L{TrustedPeers}, never limited nor challenged.
    @param realm: the digest realm.
    @param algorithms: the algorithms offered.
    @param registrationRate: REGISTERs per second per source (0: no limit).
    @param challengeRate: challenges per second per source (0: no limit).
    @ivar limited: requests refused by each limit, by kind (C{"register"},
        C{"challenge"}): a metric.
    """

    def __init__(
        self,
        clock: Any,
        identity: Any,
        store: Any,
        checker: Any,
        nonces: NonceAuthority | None,
        trusted: TrustedPeers,
        realm: str,
        algorithms: tuple[str, ...],
        registrationRate: float,
        challengeRate: float,
    ) -> None:
        self.identity = identity
        self.store = store
        self.checker = checker
        self.nonces = nonces
        self.trusted = trusted
        self.realm = realm
        self.algorithms = algorithms
        self.registrations = _limiter(clock, registrationRate)
        self.challenges = _limiter(clock, challengeRate)
        self.limited = {"register": 0, "challenge": 0}
        self._sentBy = identity.sentBy.lower()
        self._last: tuple[Request, Decision] | None = None
        self._clock = clock
        self._loggedAt: float | None = None
        self._logged = 0

    # -- IAdmission ----------------------------------------------------------

    def refusal(self, source: tuple[str, int], request: Request) -> Refusal | None:
        decision = self._decide(request, source)
        if decision.refusal is None:
            self._last = (request, decision)
        else:
            self._last = None
        return decision.refusal

    # -- for the transaction user --------------------------------------------

    def decide(self, request: Request, source: tuple[str, int]) -> Decision:
        """
        The L{Decision} for C{request}: the one L{refusal} just made for it,
        else a new one (then a refusal is the caller's to send).
        """
        last = self._last
        self._last = None
        if last is not None and last[0] is request:
            return last[1]
        return self._decide(request, source)

    def chargeChallenge(self, host: str) -> bool:
        """
        Take a challenge token for a challenge L{refusal} could not foresee.

        @return: whether the challenge may be sent.
        """
        if self.challenges is None or self.challenges.allow(host):
            return True
        self._limited("challenge", host)
        return False

    # -- deciding -------------------------------------------------------------

    def _limited(self, kind: str, host: str) -> None:
        self.limited[kind] += 1
        now = self._clock.seconds()
        if self._loggedAt is None or now - self._loggedAt >= 10.0:
            total = sum(self.limited.values())
            log.info(
                "auth: refused {count} requests over a rate limit ({kind}, e.g. from {peer})",
                count=total - self._logged,
                kind=kind,
                peer=host,
            )
            self._loggedAt = now
            self._logged = total

    def _firstPass(self, request: Request) -> bool:
        """
        Has C{request} not passed keepsip before (no own Via: not a spiral
        or loop) and has it Max-Forwards left? Others go to the core as they
        are.
        """
        forwards = maxForwards(request)
        if forwards is not None and forwards <= 0:
            return False
        sentBy = self._sentBy
        return all(f"{via.host}:{via.port}".lower() != sentBy for via in vias(request))

    def _decide(self, request: Request, source: tuple[str, int]) -> Decision:
        method = request.method
        if method == "ACK" or method == "CANCEL":
            return PASS
        host = source[0]
        if host in self.trusted or not self._firstPass(request):
            return PASS
        if method == "REGISTER" and self.registrations is not None:
            if not self.registrations.allow(host):
                self._limited("register", host)
                return Decision(refusal=TOO_MANY_REGISTERS)
        if self.checker is None:
            return PASS
        binding: tuple[Dialog, Leg] | None = None
        try:
            inDialog = toHeader(request).tag is not None
        except ValueError:
            return PASS  # the core answers 400
        if inDialog:
            binding = self._knownDialog(request)
            if binding is not None and sameAddress(binding[1].source, source):
                return PASS
        uri = request.uri
        if not isinstance(uri, URI):
            return PASS  # the core answers 416
        if (
            method == "OPTIONS"
            and not uri.user
            and not request.headers.get("route")
            and self.identity.isMe(uri.host, uri.port)
        ):
            return PASS  # a ping of keepsip itself
        registrar = method == "REGISTER" and self.identity.isOwnDomain(uri.host, uri.port)
        decision = Decision(authenticate=True, registrar=registrar, binding=binding)
        self._examine(request, decision)
        if decision.problem not in (None, "malformed") and self.challenges is not None:
            if not self.challenges.allow(host):
                self._limited("challenge", host)
                decision.refusal = TOO_MANY_CHALLENGES
            else:
                decision.charged = True
        return decision

    def _examine(self, request: Request, decision: Decision) -> None:
        """
        Read C{request}'s credentials for keepsip's realm into C{decision},
        and say whether they are certain to be challenged.
        """
        header = "authorization" if decision.registrar else "proxy-authorization"
        try:
            credentials = None
            for value in request.headers.get(header, ()):
                if value.lstrip()[:6].lower() != "digest":
                    continue
                candidate = DigestCredentials.fromHeader(value, request.method)
                if candidate.realm == self.realm:
                    credentials = candidate
                    break
        except UnknownAlgorithm as e:
            decision.problem, decision.error = "algorithm", str(e)
            return
        except MalformedCredentials:
            decision.problem = "malformed"
            return
        if credentials is None:
            decision.problem = "none"
            return
        decision.credentials = credentials
        if credentials.algorithm not in self.algorithms:
            decision.problem = "algorithm"
            decision.error = f"algorithm {credentials.algorithm} not offered"
            return
        nonces = self.nonces
        assert nonces is not None
        verdict = nonces.verify(credentials.nonce, credentials.nc, record=False)
        decision.verdict = verdict
        if verdict == FORGED or verdict == REPLAYED:
            decision.problem = verdict

    def _knownDialog(self, request: Request) -> tuple[Dialog, Leg] | None:
        try:
            key = (
                request.header("call-id") or "",
                fromHeader(request).tag or "",
                toHeader(request).tag or "",
            )
        except ValueError:
            return None
        dialog = self.store.getByDialogID(key)
        if dialog is None:
            return None
        leg = dialog.legFor(key[1])
        return None if leg is None else (dialog, leg)


__all__ = ["AuthAdmission", "Decision", "RETRY_AFTER"]
