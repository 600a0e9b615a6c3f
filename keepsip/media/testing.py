"""
Test doubles for media relays: a reactor whose UDP ports are in memory, so a
test can deliver datagrams to a relay and read what it sent, and a relay
that records what it is asked.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from zope.interface import implementer

from keepsip.interfaces import IMediaRelay
from keepsip.media.model import MediaStats


class FakeUDPPort:
    """
    A bound UDP port of L{FakeUDPReactor}.

    @ivar written: C{(datagram, address)} for each datagram sent.
    """

    def __init__(
        self, reactor: FakeUDPReactor, port: int, protocol: DatagramProtocol, interface: str
    ) -> None:
        self.reactor = reactor
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.written: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.written.append((datagram, addr))

    def getHost(self) -> IPv4Address | IPv6Address:
        if ":" in self.interface:
            return IPv6Address("UDP", self.interface, self.port)
        return IPv4Address("UDP", self.interface or "0.0.0.0", self.port)

    def stopListening(self) -> None:
        # As Twisted's udp.Port: the port is closed now, the protocol hears
        # of it (and is free for another port) on the next reactor turn.
        if self.reactor.bound.get(self.port) is self:
            del self.reactor.bound[self.port]
            self.reactor.callLater(0, self.protocol.doStop)


class FakeUDPReactor(Clock):
    """
    A L{Clock} with an in-memory C{listenUDP}.

    @ivar bound: port number -> L{FakeUDPPort}, for the ports bound now.
    @ivar busy: port numbers some other program holds: binding them fails
        with L{CannotListenError}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bound: dict[int, FakeUDPPort] = {}
        self.busy: set[int] = set()

    def listenUDP(
        self, port: int, protocol: DatagramProtocol, interface: str = "", maxPacketSize: int = 8192
    ) -> FakeUDPPort:
        if port in self.busy or port in self.bound:
            raise CannotListenError(interface, port, OSError("address in use"))
        listening = FakeUDPPort(self, port, protocol, interface)
        self.bound[port] = listening
        protocol.makeConnection(listening)  # type: ignore[arg-type]
        return listening

    def deliver(self, port: int, datagram: bytes, source: tuple[str, int]) -> None:
        """
        A datagram from C{source} arrives on C{port}.

        @raise KeyError: if nothing is bound on C{port}.
        """
        self.bound[port].protocol.datagramReceived(datagram, source)

    def sent(self, port: int) -> list[tuple[bytes, tuple[str, int]]]:
        """
        @return: what was sent out of C{port} so far (empty if not bound).
        """
        listening = self.bound.get(port)
        return listening.written if listening is not None else []

    def allWritten(self) -> list[tuple[int, bytes, tuple[str, int]]]:
        """
        @return: C{(fromPort, datagram, toAddress)} for every datagram sent
            out of a port bound now.
        """
        return [
            (port, datagram, address)
            for port, listening in sorted(self.bound.items())
            for datagram, address in listening.written
        ]


@implementer(IMediaRelay)
class RecordingRelay:
    """
    An L{IMediaRelay} that records each call and answers at once: the
    rewritten body of C{allocate}, C{update} and C{answer} is
    C{b"<method> <leg>"}, so a test sees which call made it.

    @ivar calls: C{(method, leg, body)} for each offer/answer call,
        C{(method, callID, fromTag)} for the others.
    """

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes | str]] = []

    def _rewrite(self, method: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        self.calls.append((method, leg, sdp))
        return succeed(f"{method} {leg}".encode("ascii"))

    def allocate(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        return self._rewrite("allocate", leg, sdp)

    def update(self, callID: str, fromTag: str, leg: str, sdp: bytes) -> Deferred[bytes]:
        return self._rewrite("update", leg, sdp)

    def answer(
        self, callID: str, fromTag: str, toTag: str, leg: str, sdp: bytes
    ) -> Deferred[bytes]:
        return self._rewrite("answer", leg, sdp)

    def statistics(self, callID: str, fromTag: str) -> Deferred[MediaStats]:
        self.calls.append(("statistics", callID, fromTag))
        return succeed(MediaStats())

    def release(self, callID: str, fromTag: str) -> Deferred[None]:
        self.calls.append(("release", callID, fromTag))
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)
