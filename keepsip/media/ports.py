"""
The built-in relay's UDP ports: a range C{LOW-HIGH} handed out as pairs (an
even RTP port and the RTCP port above it, RFC 3550 §11) and bound on the
relay's address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol

from keepsip.media.model import PortsExhausted

P = TypeVar("P", bound=DatagramProtocol)


def parsePortRange(value: str) -> tuple[int, int]:
    """
    Parse C{--rtp-ports LOW-HIGH}.

    @return: C{(low, high)}.
    @raise ValueError: one line naming C{--rtp-ports}, if C{value} is not two
        ports with C{low < high} and room for at least one even/odd pair.
    """
    low, sep, high = value.partition("-")
    try:
        lowPort, highPort = int(low), int(high)
    except ValueError:
        lowPort = highPort = -1
    if (
        not sep
        or not 1024 <= lowPort <= 65535
        or not 1024 <= highPort <= 65535
        or _pairs(lowPort, highPort) == []
    ):
        raise ValueError(
            f"--rtp-ports {value!r}: expected LOW-HIGH, 1024 <= LOW < HIGH <= 65535, "
            "holding at least one even port and the odd port above it"
        )
    return lowPort, highPort


def _pairs(low: int, high: int) -> list[int]:
    first = low + (low % 2)
    return list(range(first, high, 2))


class PortPool:
    """
    Binds UDP ports of a range on one address, two by two.

    Ports are kept free per port, so the RTCP port of a stream whose sides
    agreed on C{rtcp-mux} can be given back alone; a pair is handed out only
    when both of its ports are free. A port some other program holds is
    skipped (and tried again on a later turn through the range).

    @ivar inUse: the number of ports currently bound.
    """

    def __init__(self, reactor: Any, address: str, low: int, high: int) -> None:
        """
        @param reactor: an L{IReactorUDP}.
        @param address: the IP address to bind.
        @param low: the first port of the range.
        @param high: the last port of the range.
        """
        self._reactor = reactor
        self._address = address
        self._evens = _pairs(low, high)
        self._free: set[int] = set()
        for even in self._evens:
            self._free.update((even, even + 1))
        self._cursor = 0
        self.inUse = 0

    @property
    def capacity(self) -> int:
        """
        The number of port pairs in the range.
        """
        return len(self._evens)

    def _bind(self, port: int, protocol: DatagramProtocol) -> IListeningPort:
        listening: IListeningPort = self._reactor.listenUDP(
            port, protocol, interface=self._address
        )
        self._free.discard(port)
        self.inUse += 1
        return listening

    def bindPair(
        self, makePair: Callable[[], tuple[P, P]]
    ) -> tuple[P, P, IListeningPort, IListeningPort]:
        """
        Bind the next free pair: an RTP protocol on an even port, an RTCP
        protocol on the port above it.

        @param makePair: makes the two protocols, C{(rtp, rtcp)}; called
            again for each pair tried, since a protocol whose port was
            stopped is not free for another one until the reactor has run.
        @return: C{(rtp, rtcp, rtpPort, rtcpPort)}, the protocols and their
            listening ports.
        @raise PortsExhausted: if no pair of the range could be bound.
        """
        count = len(self._evens)
        for _ in range(count):
            even = self._evens[self._cursor]
            self._cursor = (self._cursor + 1) % count
            if even not in self._free or even + 1 not in self._free:
                continue
            rtp, rtcp = makePair()
            try:
                first = self._bind(even, rtp)
            except CannotListenError:
                continue
            try:
                second = self._bind(even + 1, rtcp)
            except CannotListenError:
                self.unbind(first)
                continue
            return rtp, rtcp, first, second
        raise PortsExhausted(
            f"no free RTP port pair in {self._evens[0]}-{self._evens[-1] + 1}"
            if self._evens
            else "empty RTP port range"
        )

    def unbind(self, listening: IListeningPort) -> None:
        """
        Stop listening on a port this pool bound and make it free again.
        """
        port = listening.getHost().port  # type: ignore[attr-defined]
        listening.stopListening()
        self._free.add(port)
        self.inUse -= 1
