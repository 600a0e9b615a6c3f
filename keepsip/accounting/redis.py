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
global reactor; L{keepsip.redisclient} is the one place that knows it. The
connection is opened by L{RedisBackend.ready} and closed by
L{RedisBackend.close}; while it is down txredisapi reconnects with backoff
and records fail at once (the tracker spools and retries them).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from keepsip.logs import Logger
from zope.interface import implementer

from keepsip.accounting.spool import encodeRecord
from keepsip.redisclient import RedisClient as _RedisClient
from keepsip.redisclient import RedisUnavailable
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
