"""
Overload control: how many server transactions keepsip keeps at once, in
all and per source address, in the manner of Kamailio's C{pike} and
C{ratelimit} modules.

Above either limit a new request is refused statelessly with C{503} and
C{Retry-After} before the transaction layer creates any state for it (no
transaction, no timer, no dialog, nothing forwarded), so a flood costs one
parse and one small answer per datagram and memory stays bounded.
Retransmissions of existing transactions are still absorbed by them, ACK
and CANCEL are never refused (they create no work of their own and end work
already admitted), and a BYE is refused only by its source's limit, not by
the global one: refusing a legitimate BYE would keep a call up, and billed.

A source that ignores the C{Retry-After} and goes on sending new requests
at more than L{BLOCK_AFTER} refusals a second is blocked for C{Retry-After}
seconds, as Kamailio's C{pike} blocks: its requests (not ACK, not CANCEL,
not responses) are dropped by the transport before they are parsed. Parsing
is what a flood costs; a source above what keepsip can parse would
otherwise fill the socket's receive queue and crowd every other source out.
"""

from __future__ import annotations

from typing import Any

from keepsip.logs import Logger

log = Logger()

#: What a refused request is told to wait, in seconds.
RETRY_AFTER = 5

#: Refusals within one second after which a source that ignores
#: C{Retry-After} is blocked (its requests dropped unread) for RETRY_AFTER.
BLOCK_AFTER = 100


class Admission:
    """
    Counts the server transactions in progress, in all and per source host,
    and decides whether a new request may create one.

    @ivar maxTransactions: the most server transactions at once.
    @ivar maxPerSource: the most server transactions at once from one source
        host (all its ports together).
    @ivar retryAfter: the C{Retry-After} of a refusal, in seconds.
    @ivar total: server transactions in progress now.
    @ivar refusedGlobal: requests refused because of L{maxTransactions} (a
        metric).
    @ivar refusedSource: requests refused because of L{maxPerSource} (a
        metric).
    @ivar blockedDropped: requests from blocked sources dropped unread (a
        metric).
    @param clock: the L{IReactorTime} for blocking; L{None}: never block.
    """

    def __init__(
        self,
        maxTransactions: int,
        maxPerSource: int,
        retryAfter: int = RETRY_AFTER,
        clock: Any = None,
        blockAfter: int = BLOCK_AFTER,
    ) -> None:
        if maxTransactions < 1 or maxPerSource < 1:
            raise ValueError("transaction limits must be at least 1")
        self.maxTransactions = maxTransactions
        self.maxPerSource = maxPerSource
        self.retryAfter = retryAfter
        self.blockAfter = blockAfter
        self.total = 0
        self.refusedGlobal = 0
        self.refusedSource = 0
        self.blockedDropped = 0
        self._clock = clock
        self._bySource: dict[str, int] = {}
        # host -> [window start, refusals in it]
        self._recent: dict[str, list[float]] = {}
        # host -> blocked until
        self._blocked: dict[str, float] = {}
        self._refusedLogged = 0
        self._refusalLogTime: float | None = None

    #: Seconds between two log events about refused requests.
    refusalLogInterval = 10.0

    def logRefusals(self, now: float, reason: str, peer: tuple[str, int]) -> None:
        """
        A request was refused for C{reason} (C{global} or C{source}): log
        how many were refused since the last line, at most every
        L{refusalLogInterval} seconds.
        """
        last = self._refusalLogTime
        if last is not None and now - last < self.refusalLogInterval:
            return
        refused = self.refusedGlobal + self.refusedSource
        log.warn(
            "Overload: refused {count} new requests ({reason} limit, e.g. from"
            " {peer}); {total} server transactions in progress",
            count=refused - self._refusedLogged,
            reason=reason,
            peer=peer,
            total=self.total,
        )
        self._refusalLogTime = now
        self._refusedLogged = refused

    def blocks(self, host: str) -> bool:
        """
        Is C{host} blocked now (it went on sending new requests at more than
        L{blockAfter} a second while refused)? The transport asks before it
        parses a request from C{host}: a blocked source's requests (not ACK
        or CANCEL) are dropped unread, so a flood beyond what keepsip can
        parse does not crowd everyone else out of the socket's queue.
        Counts the drop.
        """
        until = self._blocked.get(host)
        if until is None:
            return False
        if self._clock.seconds() < until:
            self.blockedDropped += 1
            return True
        del self._blocked[host]
        return False

    def _refused(self, host: str) -> None:
        if self._clock is None:
            return
        now = self._clock.seconds()
        recent = self._recent.get(host)
        if recent is None or now - recent[0] >= 1.0:
            if len(self._recent) > 10000:
                self._recent.clear()
            self._recent[host] = [now, 1]
            return
        recent[1] += 1
        if recent[1] > self.blockAfter:
            del self._recent[host]
            self._blocked[host] = now + self.retryAfter

    def refusal(self, host: str, method: str) -> str | None:
        """
        May a new C{method} request from C{host} create a server
        transaction? Counts the refusal if not.

        @return: L{None} if it may; C{"global"} or C{"source"}, the limit it
            hit, if it must be refused.
        """
        if method == "ACK" or method == "CANCEL":
            return None
        if self._bySource.get(host, 0) >= self.maxPerSource:
            self.refusedSource += 1
            self._refused(host)
            return "source"
        if self.total >= self.maxTransactions and method != "BYE":
            self.refusedGlobal += 1
            return "global"
        return None

    def opened(self, host: str) -> None:
        """
        A server transaction from C{host} was created.
        """
        self.total += 1
        bySource = self._bySource
        bySource[host] = bySource.get(host, 0) + 1

    def closed(self, host: str) -> None:
        """
        A server transaction from C{host} ended.
        """
        self.total -= 1
        bySource = self._bySource
        left = bySource.get(host, 0) - 1
        if left > 0:
            bySource[host] = left
        else:
            bySource.pop(host, None)

    def inProgress(self, host: str) -> int:
        """
        @return: the server transactions in progress from C{host}.
        """
        return self._bySource.get(host, 0)

    def sources(self) -> int:
        """
        @return: how many source hosts have a server transaction in progress.
        """
        return len(self._bySource)

    def reset(self) -> None:
        """
        Forget every count (the transaction layer stopped).
        """
        self.total = 0
        self._bySource.clear()
        self._recent.clear()
        self._blocked.clear()
