"""
What client and server transactions share: timers on the injected clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from keepsip.sip.message import Request
from keepsip.transaction.scheduler import Timer

if TYPE_CHECKING:
    from keepsip.transaction.layer import TransactionLayer


class TransactionBase:
    """
    State and timers common to every transaction.

    Timers are attributes named after RFC 3261 (C{_timerA} ...), L{None} or
    a spent timer when not armed; they run on the layer's L{TimerQueue
    <keepsip.transaction.scheduler.TimerQueue>}, in bounded batches. Subclasses list theirs in C{_TIMERS}.

    @ivar request: the request that created the transaction; L{None} once
        the transaction only absorbs or answers retransmissions (see the
        subclasses).
    @ivar state: the RFC state name, lower case.
    @ivar isInvite: L{True} for an INVITE transaction.
    @ivar reliable: L{True} if the transport is reliable: no retransmission
        timers, and the waiting states end at once.
    """

    # Slots: tens of thousands wait out their timers (held calls).
    __slots__ = ("_layer", "request", "isInvite", "reliable", "state", "method")

    _TIMERS: tuple[str, ...] = ()
    state: str
    method: str

    def __init__(self, layer: "TransactionLayer", request: Request, reliable: bool) -> None:
        self._layer = layer
        self.request: Request | None = request
        self.isInvite = request.method == "INVITE"
        self.reliable = reliable
        for name in self._TIMERS:
            setattr(self, name, None)

    def _arm(self, name: str, delay: float, fired: Callable[[], None]) -> None:
        """
        Arm timer C{name} to call C{fired} after C{delay} seconds.

        Once it has run the attribute still holds the spent L{Timer}
        (inactive; cancelling it does nothing): no wrapper that clears the
        attribute is allocated per timer, which thousands of transactions
        waiting out their timers would pay for in memory.
        """
        setattr(self, name, self._layer._timerQueue.callLater(delay, fired))

    def _disarm(self, *names: str) -> None:
        """
        Cancel the timers C{names} if armed.
        """
        for name in names:
            call: Timer | None = getattr(self, name)
            if call is not None:
                setattr(self, name, None)
                call.cancel()

    def _disarmAll(self) -> None:
        self._disarm(*self._TIMERS)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} {self.method}"
            f" {self.state} at 0x{id(self):x}>"
        )
