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
"""

from __future__ import annotations

#: What a refused request is told to wait, in seconds.
RETRY_AFTER = 5


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
    """

    def __init__(
        self, maxTransactions: int, maxPerSource: int, retryAfter: int = RETRY_AFTER
    ) -> None:
        if maxTransactions < 1 or maxPerSource < 1:
            raise ValueError("transaction limits must be at least 1")
        self.maxTransactions = maxTransactions
        self.maxPerSource = maxPerSource
        self.retryAfter = retryAfter
        self.total = 0
        self.refusedGlobal = 0
        self.refusedSource = 0
        self._bySource: dict[str, int] = {}

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
