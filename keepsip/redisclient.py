"""
One reconnecting Redis connection (txredisapi) for the parts of keepsip that
speak Redis: the C{redis} accounting backend and the C{redis} dialog store.

txredisapi schedules some of its work on the global reactor (reconnection
delays, hand-overs); L{RedisClient} is the one place that knows it. Connecting
goes through a L{HostnameEndpoint} on the injected reactor, and every reply is
awaited at most C{timeout} seconds on that reactor.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.python.failure import Failure


class RedisUnavailable(Exception):
    """
    There is no live connection to Redis (not started, down, or closed).
    """


class RedisClient:
    """
    One txredisapi connection, reconnecting, with our clock for timeouts.

    The only place keepsip touches txredisapi: its factory and protocol use
    the global reactor for reconnection delays and hand-overs, which is
    contained here; connecting goes through a L{HostnameEndpoint} on the
    injected reactor.
    """

    #: txredisapi's reconnection backoff: first delay, and the cap (seconds).
    initialDelay = 0.5
    maxDelay = 5.0

    def __init__(self, reactor: Any, host: str, port: int, db: int, timeout: float) -> None:
        self.reactor = reactor
        self.host = host
        self.port = port
        self.db = db
        self.timeout = timeout
        self._factory: Any = None
        self._waiters: list[Deferred] = []

    def start(self) -> None:
        """
        Start connecting (and reconnecting whenever the connection is lost).
        """
        from txredisapi import RedisFactory  # type: ignore[import-untyped]

        factory = RedisFactory(f"{self.host}:{self.port}", self.db or None, 1, isLazy=True)
        factory.initialDelay = self.initialDelay
        factory.maxDelay = self.maxDelay
        factory.deferred.addBoth(self._firstConnection)
        self._factory = factory
        factory.startConnecting(
            HostnameEndpoint(self.reactor, self.host, self.port, timeout=self.timeout)
        )

    def _firstConnection(self, result: object) -> None:
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if not d.called:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(None)
        # A failure (a refused SELECT) has gone to the waiters; consumed here.

    def connection(self) -> Any:
        """
        @return: a connected txredisapi protocol, or L{None}.
        """
        if self._factory is None:
            return None
        for protocol in self._factory.pool:
            if protocol.connected:
                return protocol
        return None

    def whenConnected(self) -> Deferred:
        """
        @return: L{Deferred} firing with L{None} once connected (at once if
            connected now).
        """
        if self.connection() is not None:
            return succeed(None)
        d: Deferred = Deferred()
        self._waiters.append(d)
        return d

    def execute(self, *args: Any) -> Deferred:
        """
        Run one command on the connection.

        @return: L{Deferred} with the reply; failing with L{RedisUnavailable}
            at once when not connected, with the Redis error, or with
            L{twisted.internet.defer.TimeoutError} after C{timeout} seconds
            (the connection is then aborted, as a late reply would be taken
            for the next command's, and reconnected).
        """
        protocol = self.connection()
        if protocol is None:
            return fail(RedisUnavailable(f"not connected to redis {self.host}:{self.port}"))
        d = maybeDeferred(protocol.execute_command, *args)

        def timedOut(reason: Failure) -> Failure:
            if reason.check(TimeoutError) and protocol.transport is not None:
                protocol.transport.abortConnection()
            return reason

        d.addTimeout(self.timeout, self.reactor)
        d.addErrback(timedOut)
        return d

    def stop(self) -> Deferred:
        """
        Stop reconnecting and close the connection.

        @return: L{Deferred} firing with L{None} once closed.
        """
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.called:
                waiter.errback(RedisUnavailable("closed"))
        factory, self._factory = self._factory, None
        if factory is None:
            return succeed(None)
        return factory.disconnect().addCallback(lambda _: None)


__all__ = ["RedisClient", "RedisUnavailable"]
