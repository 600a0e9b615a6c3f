"""
Which destination an ICMP port unreachable was for (Linux).

When keepsip's BYE reaches a host whose SIP endpoint process is gone, the
host answers with an ICMP port unreachable. Plain Twisted UDP cannot say for
which destination: it calls C{connectionRefused()} without an address. On
Linux, a socket with C{IP_RECVERR} (C{IPV6_RECVERR}) queues each such error
with the destination of the datagram that caused it; L{drainErrorQueue} reads
that queue with C{recvmsg(..., MSG_ERRQUEUE)}: the destination is the
returned address, the error is in a C{struct sock_extended_err}:

    u32 ee_errno; u8 ee_origin; u8 ee_type; u8 ee_code; u8 ee_pad;
    u32 ee_info; u32 ee_data;  followed by the offender's sockaddr.

Elsewhere both functions do nothing (L{enableRecvErr} returns C{False},
L{drainErrorQueue} returns C{[]}).

Setting the option on a plain Twisted UDP port is not enough, and harmful:

  - Twisted never calls C{connectionRefused()} for an unconnected port;
  - a queued error makes the socket report C{POLLERR} without C{POLLIN}, which
    the epoll and poll reactors take for a closed connection: they close the
    port on the first ICMP error (the select reactor spins instead);
  - the kernel fails the next C{sendto} with C{ECONNREFUSED} without sending,
    and Twisted's C{write} swallows that: a datagram is silently lost.

L{RecvErrPort} is a L{twisted.internet.udp.Port} that handles all three and
tells its protocol C{icmpErrorReceived(address, errno)}; start it with
L{listenUDPWithErrors}.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

from twisted.internet import udp
from twisted.internet.posixbase import PosixReactorBase
from keepsip.logs import Logger

log = Logger()

# Linux values (include/uapi/linux/in.h, in6.h); not all exported by Python.
SOL_IP = 0
SOL_IPV6 = 41
IP_RECVERR = 11
IPV6_RECVERR = 25

#: ee_origin values (include/uapi/linux/errqueue.h).
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_EXTENDED_ERR = struct.Struct("=IBBBBII")
_MSG_ERRQUEUE: int | None = getattr(socket, "MSG_ERRQUEUE", None)
_SUPPORTED = sys.platform.startswith("linux") and _MSG_ERRQUEUE is not None

#: Enough for a sockaddr_in6 name.
_NAME_BUFFER = 64
#: Enough for one sock_extended_err with its offender sockaddr_in6.
_ANCILLARY_BUFFER = 512
#: Errors read per call at most, so a flood cannot hold the reactor.
DEFAULT_LIMIT = 256

#: The largest UDP payload (65,535 less the IPv4 and UDP headers would do
#: for IPv4; a buffer this big takes any). Twisted's ports default to 8,192
#: and cut longer datagrams silently.
MAX_DATAGRAM = 65535


def enableRecvErr(sock: socket.socket) -> bool:
    """
    Ask the kernel to queue ICMP errors, with their destination, on C{sock}.

    For an IPv6 socket both C{IPV6_RECVERR} and C{IP_RECVERR} (for
    IPv4-mapped destinations) are set.

    @param sock: a UDP socket.
    @return: C{True} if the option is set, C{False} if unsupported (not
        Linux, or the kernel refused it).
    """
    if not _SUPPORTED:
        return False
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
            try:
                sock.setsockopt(SOL_IP, IP_RECVERR, 1)
            except OSError:
                pass
        elif sock.family == socket.AF_INET:
            sock.setsockopt(SOL_IP, IP_RECVERR, 1)
        else:
            return False
    except OSError:
        return False
    return True


def _address(name: object) -> tuple[str, int] | None:
    if not isinstance(name, tuple) or len(name) < 2:
        return None
    host, port = name[0], name[1]
    if not isinstance(host, str) or not isinstance(port, int):
        return None
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, port


def drainErrorQueue(
    sock: socket.socket, limit: int = DEFAULT_LIMIT
) -> list[tuple[tuple[str, int], int]]:
    """
    Read the errors queued on C{sock} (see L{enableRecvErr}), without
    blocking.

    @param sock: a socket on which L{enableRecvErr} succeeded.
    @param limit: read at most this many errors.
    @return: C{((host, port), errno)} for each error, oldest first: the
        destination of the datagram that failed (IPv4-mapped IPv6 addresses
        as plain IPv4) and the error, e.g. C{errno.ECONNREFUSED} for an ICMP
        port unreachable. C{[]} if there is none, if the platform does not
        support it, or on any socket error; never raises.
    """
    if not _SUPPORTED:
        return []
    assert _MSG_ERRQUEUE is not None
    flags = _MSG_ERRQUEUE | socket.MSG_DONTWAIT
    found: list[tuple[tuple[str, int], int]] = []
    for _ in range(limit):
        try:
            _data, ancillary, _msgFlags, name = sock.recvmsg(_NAME_BUFFER, _ANCILLARY_BUFFER, flags)
        except (OSError, ValueError):
            # EAGAIN: queue empty; anything else (closed socket...): stop.
            break
        address = _address(name)
        for level, kind, data in ancillary:
            if not (
                (level == SOL_IP and kind == IP_RECVERR)
                or (level == SOL_IPV6 and kind == IPV6_RECVERR)
            ):
                continue
            if len(data) < _EXTENDED_ERR.size or address is None:
                continue
            errno = _EXTENDED_ERR.unpack_from(data)[0]
            found.append((address, errno))
    return found


class RecvErrPort(udp.Port):
    """
    A UDP port that learns the destination of each ICMP error (Linux) and
    tells its protocol, instead of closing or losing datagrams.

    If the protocol has a method C{icmpErrorReceived(address, errno)}, it is
    called for each error with the C{(host, port)} the failed datagram was
    sent to and the error (C{errno.ECONNREFUSED} for a port unreachable);
    otherwise errors are logged at debug level. Where L{enableRecvErr} fails
    (not Linux) this is a plain L{udp.Port}.

    How the error reaches it depends on the reactor, so all paths lead to
    L{errorsQueued}:

      - epoll/poll report C{POLLERR} alone as a half-close (every
        L{FileDescriptor<twisted.internet.abstract.FileDescriptor>} is an
        C{IHalfCloseableDescriptor}), calling L{readConnectionLost}, which
        Twisted's port turns into a full close; here it drains and resumes
        reading;
      - select reports it as readable: L{doRead} finds the pending error
        (C{ECONNREFUSED}) or nothing to read, and drains;
      - a L{write} that the pending error made fail before sending is retried
        once after draining.

    Datagrams are read into one buffer of C{maxPacketSize} kept by the port
    and copied out at their size: C{recvfrom(maxPacketSize)} allocates 64 KB
    per datagram from the C heap and shrinks it in place, which leaves the
    long-lived allocations of held calls scattered between 64 KB holes (with
    5,000 calls held, about 3 MB of heap resident but free).

    @ivar recvErr: whether C{IP_RECVERR} is active on the socket.
    """

    recvErr = False
    _stopping = False
    _buffer: memoryview | None = None

    def _bindSocket(self) -> None:
        udp.Port._bindSocket(self)
        self._stopping = False
        self.recvErr = enableRecvErr(self.socket)

    def _loseConnection(self) -> None:
        self._stopping = True
        udp.Port._loseConnection(self)

    def errorsQueued(self) -> None:
        """
        Read the error queue and hand each error to the protocol.
        """
        sock = self.socket
        errors = drainErrorQueue(sock)
        try:
            # Clear any error still pending, so the reactor stops reporting it.
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            pass
        handler = getattr(self.protocol, "icmpErrorReceived", None)
        for address, errno in errors:
            if handler is None:
                log.debug("ICMP error {errno} for {peer}", errno=errno, peer=address)
                continue
            try:
                handler(address, errno)
            except Exception:  # noqa: BLE001 - a handler bug must not close the port
                log.failure("icmpErrorReceived failed", peer=address, errno=errno)

    def readConnectionLost(self, reason: Any) -> None:
        """
        The epoll/poll reactors saw C{POLLERR} without data and stopped
        reading: drain the error queue and read again.
        """
        if self._stopping or not self.connected:
            return
        self.errorsQueued()
        self.startReading()

    def doRead(self) -> None:
        """
        Read datagrams as L{udp.Port.doRead} does (Twisted 26), and drain the
        error queue when woken by an error rather than a datagram.
        """
        if not self.recvErr:
            return udp.Port.doRead(self)
        read = 0
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = memoryview(bytearray(self.maxPacketSize))
        while read < self.maxThroughput:
            try:
                size, addr = self.socket.recvfrom_into(buffer)
                data = bytes(buffer[:size])
            except OSError as se:
                no = se.args[0]
                if no in udp._sockErrReadRefuse or (read == 0 and no in udp._sockErrReadIgnore):
                    self.errorsQueued()
                if no in udp._sockErrReadIgnore or no in udp._sockErrReadRefuse:
                    return None
                raise
            read += len(data)
            if self.addressFamily == socket.AF_INET6:
                addr = addr[:2]
            try:
                self.protocol.datagramReceived(data, addr)
            except BaseException:  # noqa: BLE001 - as udp.Port.doRead does
                log.failure("datagramReceived failed", peer=addr)
        return None

    def write(self, datagram: bytes, addr: Any = None) -> Any:
        """
        Send a datagram as L{udp.Port.write} does; if a pending ICMP error
        made the kernel refuse it (which C{udp.Port.write} swallows, returning
        L{None}), drain the error queue and send it again, once.
        """
        # udp.Port.write is annotated -> None but returns sendto's count,
        # and None only when it swallowed an error.
        sent = udp.Port.write(self, datagram, addr)  # type: ignore[func-returns-value]
        if sent is None and self.recvErr and not self._connectedAddr:
            self.errorsQueued()
            sent = udp.Port.write(self, datagram, addr)  # type: ignore[func-returns-value]
        return sent


def supportsReceiveErrors(reactor: Any) -> bool:
    """
    Can C{reactor} run a L{RecvErrPort}? Only a posix reactor with real
    sockets can (epoll, poll, select): the port is a L{udp.Port} that drives
    its own socket through the reactor's reader machinery. Test doubles
    (L{twisted.internet.testing.MemoryReactor}, L{twisted.internet.task.Clock})
    cannot.
    """
    return isinstance(reactor, PosixReactorBase)


def listenUDPWithErrors(
    reactor: Any,
    port: int,
    protocol: Any,
    interface: str = "",
    maxPacketSize: int = MAX_DATAGRAM,
) -> RecvErrPort:
    """
    Like C{reactor.listenUDP}, with a L{RecvErrPort}.

    @param reactor: a posix reactor (epoll, poll, select).
    @return: the listening L{RecvErrPort}.
    @raise twisted.internet.error.CannotListenError: if it cannot bind.
    """
    listening = RecvErrPort(port, protocol, interface, maxPacketSize, reactor)
    listening.startListening()
    return listening


__all__ = [
    "IPV6_RECVERR",
    "IP_RECVERR",
    "MAX_DATAGRAM",
    "RecvErrPort",
    "drainErrorQueue",
    "enableRecvErr",
    "listenUDPWithErrors",
    "supportsReceiveErrors",
]
