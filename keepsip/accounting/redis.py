"""
The C{redis} accounting backend: each record is added to a Redis stream, once.

C{--accounting redis:host=H,port=P[,db=N][,stream=KEY][,timeout=SECONDS]}

For a record of call C{CALLID}, in one atomic Lua script (C{EVAL}):

  - C{XADD <stream> * record <json>}: the stream entry has one field,
    C{record}, holding the same JSON as a line of the C{jsonl} backend;
  - C{HSET <stream>:records <record_id> <entry id>}: the record ids
    delivered, so a record sent again (a replay after a lost reply, a
    restart of keepsip) is recognised and B{not} added to the stream twice;
  - C{HSET <stream>:call:<CALLID> <type> <json>}: the call's latest
    C{start}, C{interim} and C{stop} record, for look-ups by Call-ID.

The Redis client is txredisapi, which schedules some of its work on the
global reactor; L{_RedisClient} is the one place that knows it. The
connection is opened by L{RedisBackend.ready} and closed by
L{RedisBackend.close}; while it is down txredisapi reconnects with backoff
and records fail at once (the tracker spools and retries them).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTime
from keepsip.logs import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.accounting.spool import encodeRecord
from keepsip.interfaces import IAccountingBackend

_log = Logger()

DEFAULT_STREAM = "keepsip:cdr"

#: KEYS: stream, delivered-record hash, call hash.
#: ARGV: record id, record JSON, record type.
#: Returns C{{entry id, 1}} when added, C{{entry id, 0}} when already there.
DELIVER_SCRIPT = """\
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if entry then
  return {entry, 0}
end
entry = redis.call('XADD', KEYS[1], '*', 'record', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], entry)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
return {entry, 1}
"""


class RedisUnavailable(Exception):
    """
    There is no live connection to Redis (not started, down, or closed).
    """


class _RedisClient:
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


@implementer(IAccountingBackend)
class RedisBackend:
    """
    Adds records to a Redis stream, idempotently by C{record_id}.

    @ivar host: Redis host name or address.
    @ivar port: its port.
    @ivar db: the database number.
    @ivar stream: the stream key; the other keys are derived from it.
    @ivar timeout: seconds to wait for a connection in L{ready} and for
        each reply.
    """

    name = "redis"

    def __init__(
        self,
        reactor: IReactorTime,
        host: str,
        port: int,
        db: int = 0,
        stream: str = DEFAULT_STREAM,
        timeout: float = 10.0,
    ) -> None:
        if not host:
            raise ValueError("redis: host: must not be empty")
        if not 0 < port < 65536:
            raise ValueError(f"redis: port: not a port number, got {port!r}")
        if db < 0:
            raise ValueError(f"redis: db: must be >= 0, got {db!r}")
        if not stream:
            raise ValueError("redis: stream: must not be empty")
        if not timeout > 0:
            raise ValueError(f"redis: timeout: must be > 0, got {timeout!r}")
        self.reactor = reactor
        self.host = host
        self.port = port
        self.db = db
        self.stream = stream
        self.timeout = timeout
        self._client: _RedisClient | None = None
        self._closed = False

    @property
    def recordsKey(self) -> str:
        """
        The hash of delivered record ids (id -> stream entry id).
        """
        return f"{self.stream}:records"

    def callKey(self, callID: str) -> str:
        """
        The hash of one call's records (type -> JSON).
        """
        return f"{self.stream}:call:{callID}"

    def ready(self) -> Deferred:
        """
        Start connecting.

        @return: L{Deferred} firing with L{None} once connected, or failing
            with L{twisted.internet.defer.TimeoutError} after C{timeout}
            seconds (txredisapi keeps trying in the background).
        """
        if self._closed:
            return fail(RedisUnavailable("closed"))
        if self._client is None:
            self._client = _RedisClient(self.reactor, self.host, self.port, self.db, self.timeout)
            self._client.start()
        return self._client.whenConnected().addTimeout(self.timeout, self.reactor)

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        """
        Add C{record} to the stream unless its C{record_id} is there already.

        @return: L{Deferred} firing with L{None} once Redis ran the script
            (whether it added the entry or found it); failing with
            L{RedisUnavailable}, a Redis error or a timeout.
        """
        if self._client is None or self._closed:
            return fail(RedisUnavailable("redis backend not started (ready() not called)"))
        recordID = record["record_id"]
        d = self._client.execute(
            "EVAL",
            DELIVER_SCRIPT,
            3,
            self.stream,
            self.recordsKey,
            self.callKey(str(record.get("call_id"))),
            recordID,
            encodeRecord(record)[:-1],
            record["type"],
        )

        def delivered(reply: Any) -> None:
            entry, added = reply
            if not added:
                _log.info(
                    "Record {recordID} was already in {stream} as {entry}; not added again",
                    recordID=recordID,
                    stream=self.stream,
                    entry=entry,
                )

        return d.addCallback(delivered)

    def close(self) -> Deferred:
        """
        Close the connection and stop reconnecting.

        @return: L{Deferred} firing with L{None} when closed.
        """
        self._closed = True
        client, self._client = self._client, None
        if client is None:
            return succeed(None)
        return client.stop()
