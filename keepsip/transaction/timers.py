"""
RFC 3261 §17 timer values (Table 4), with the RFC 6026 additions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """
    The base values every transaction timer is derived from.

    @ivar T1: RTT estimate, seconds (default 500 ms).
    @ivar T2: maximum retransmit interval for non-INVITE requests and INVITE
        responses, seconds (default 4 s).
    @ivar T4: maximum duration a message remains in the network, seconds
        (default 5 s).
    """

    T1: float = 0.5
    T2: float = 4.0
    T4: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.T1 <= self.T2):
            raise ValueError("TimerSettings needs 0 < T1 <= T2")
        if self.T4 < 0:
            raise ValueError("TimerSettings needs T4 >= 0")

    @property
    def transactionTimeout(self) -> float:
        """
        64*T1: timers B, F, H, J (UDP), L and M, and the CANCEL guard.
        """
        return 64 * self.T1

    @property
    def timerD(self) -> float:
        """
        Timer D for unreliable transports: at least 32 s, and never shorter
        than the server's timer H (64*T1) it must outlive.
        """
        return max(32.0, 64 * self.T1)
