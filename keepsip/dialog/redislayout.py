"""
The Redis dialog store's key layout and its Lua scripts (see
C{docs/state.md}, "The Redis key layout").

With the prefix C{P} (default C{keepsip}) and a call's id C{ID} =
C{<caller tag>:<Call-ID>} (a tag has no colon, so the split is unambiguous):

  - C{P:meta} (hash): C{name} C{keepsip-dialogs} and C{schema} the version;
  - C{P:dialog:ID} (hash): C{data} the dialog's JSON
    (L{keepsip.dialog.serial.DialogCodec}), C{node} the node that wrote it
    last, and while it is being ended C{claim} (the node), C{claimkind}
    and C{claimwhen} (the deadline it was claimed for, handed on when a
    claim whose lease ran out is taken over);
  - C{P:keepalive} and C{P:maxduration} (sorted sets): C{ID} scored by its
    keepalive and its maximum-duration deadline (epoch seconds);
  - C{P:claims} (sorted set): C{ID} scored by the end of its claim's lease;
  - C{P:node:NODE} (set): the ids node C{NODE} wrote last (what it loads when
    it starts again).

Every change of more than one key is one script (C{EVAL}), so another node
never sees half of it. The scripts compute some key names from the prefix,
so the store needs one Redis server (or a primary with replicas), not a
Redis Cluster.
"""

from __future__ import annotations

import socket
from typing import Any

#: The C{name} in C{P:meta}: a hash written by another program is not ours.
STORE_NAME = "keepsip-dialogs"

DEFAULT_PREFIX = "keepsip"

#: KEYS: meta. ARGV: name, version.
#: Returns C{{'created'|'found', name, version}}.
INIT = """\
local name = redis.call('HGET', KEYS[1], 'name')
local version = redis.call('HGET', KEYS[1], 'schema')
if not name and not version and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'schema', ARGV[2])
  return {'created', ARGV[1], ARGV[2]}
end
return {'found', name or '', version or ''}
"""

#: KEYS: dialog hash, keepalive zset, max-duration zset, node set.
#: ARGV: id, data, node, keepalive deadline or '', max deadline or '',
#: create ('1': may create the hash; '0': only update an existing one, so a
#: node holding a stale copy never brings back a call another node ended),
#: the node-set prefix (C{P:node:}).
#: Returns 1 if written, 0 if the dialog is gone.
WRITE = """\
if ARGV[6] ~= '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'node')
if old and old ~= ARGV[3] then
  redis.call('SREM', ARGV[7] .. old, ARGV[1])
end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'node', ARGV[3])
redis.call('SADD', KEYS[4], ARGV[1])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return 1
"""

#: KEYS: dialog hash, keepalive zset, max-duration zset, claims zset.
#: ARGV: id, the node-set prefix.
REMOVE = """\
local node = redis.call('HGET', KEYS[1], 'node')
if node then
  redis.call('SREM', ARGV[2] .. node, ARGV[1])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""

#: KEYS: any number of dialog hashes. Returns their C{data} (false if none).
FETCH = """\
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('HGET', key, 'data')
end
return found
"""

#: KEYS: dialog hash, keepalive zset, max-duration zset, claims zset.
#: ARGV: id, kind ('keepalive'|'max-duration'), now, lease, node.
#: Returns C{{'gone'}}, C{{'lost'}} (another node's claim is running),
#: C{{'alive', deadline}} (the stored deadline is later: another node saw
#: the call alive) or C{{'won', data}}.
CLAIM = """\
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  return {'gone'}
end
local now = tonumber(ARGV[3])
local lease = redis.call('ZSCORE', KEYS[4], id)
if lease and tonumber(lease) > now and redis.call('HGET', KEYS[1], 'claim') ~= ARGV[5] then
  return {'lost'}
end
local index = KEYS[2]
if ARGV[2] == 'max-duration' then
  index = KEYS[3]
end
local deadline = redis.call('ZSCORE', index, id)
if deadline and tonumber(deadline) > now then
  return {'alive', deadline}
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), id)
redis.call('HSET', KEYS[1], 'claim', ARGV[5], 'claimkind', ARGV[2], 'claimwhen', deadline or ARGV[3])
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
return {'won', redis.call('HGET', KEYS[1], 'data')}
"""

#: KEYS: keepalive zset, max-duration zset, claims zset.
#: ARGV: now, grace, lease, node, limit, the dialog-hash prefix (C{P:dialog:}).
#: Claims the dialogs whose deadline passed more than C{grace} ago and those
#: whose claim's lease ran out (its node died while ending them).
#: Returns C{{{id, kind, deadline, data}, ...}}.
CLAIM_EXPIRED = """\
local now = tonumber(ARGV[1])
local cutoff = now - tonumber(ARGV[2])
local limit = tonumber(ARGV[5])
local won = {}
local function claim(id, kind, when)
  local key = ARGV[6] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    return
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  local lease = redis.call('ZSCORE', KEYS[3], id)
  if lease and tonumber(lease) > now then
    return
  end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), id)
  redis.call('HSET', key, 'claim', ARGV[4], 'claimkind', kind, 'claimwhen', when)
  table.insert(won, {id, kind, when, redis.call('HGET', key, 'data')})
end
local indexes = {{KEYS[1], 'keepalive'}, {KEYS[2], 'max-duration'}}
for _, pair in ipairs(indexes) do
  local due = redis.call('ZRANGEBYSCORE', pair[1], '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    claim(due[i], pair[2], due[i + 1])
  end
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #stale, 2 do
  local kind, when = unpack(redis.call('HMGET', ARGV[6] .. stale[i], 'claimkind', 'claimwhen'))
  claim(stale[i], kind or 'keepalive', when or stale[i + 1])
end
return won
"""


class Layout:
    """
    The key names under one prefix.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.meta = f"{prefix}:meta"
        self.keepalive = f"{prefix}:keepalive"
        self.maxDuration = f"{prefix}:maxduration"
        self.claims = f"{prefix}:claims"
        self.dialogPrefix = f"{prefix}:dialog:"
        self.nodePrefix = f"{prefix}:node:"

    @staticmethod
    def id(callKey: tuple[str, str]) -> str:
        """
        A call's id: C{<caller tag>:<Call-ID>}.
        """
        return f"{callKey[1]}:{callKey[0]}"

    @staticmethod
    def callKey(id: str) -> tuple[str, str]:
        """
        The call key of an id (the inverse of L{id}).
        """
        tag, _, callID = id.partition(":")
        return (callID, tag)

    def dialog(self, callKey: tuple[str, str]) -> str:
        return self.dialogPrefix + self.id(callKey)

    def node(self, nodeID: str) -> str:
        return self.nodePrefix + nodeID


def checkSchema(found: Any, where: str, version: int) -> None:
    """
    Check what L{INIT} (or L{readMeta}) found.

    @raise SchemaError: the keys are another program's or from a newer (or
        unknown) schema.
    """
    from keepsip.dialog.serial import SchemaError

    _, name, stored = found
    if name != STORE_NAME:
        raise SchemaError(f"{where}: not a keepsip dialog store (meta name {name!r})")
    try:
        number = int(stored)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise SchemaError(f"{where}: dialog store without a valid schema version")
    if number > version:
        raise SchemaError(
            f"{where}: dialog store schema version {number} is newer than this "
            f"keepsip's {version}; refusing to start"
        )
    # Migrations from older versions go here (there are none yet).


def _command(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _reply(stream: Any) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b":"):
        return rest.decode("utf-8")
    if kind == b"-":
        raise OSError(rest.decode("utf-8", "replace"))
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else stream.read(size + 2)[:-2].decode("utf-8", "replace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_reply(stream) for _ in range(size)]
    raise OSError(f"unexpected reply {line!r}")


def readMeta(host: str, port: int, db: int, prefix: str, timeout: float = 2.0) -> Any:
    """
    Read C{P:meta} with a short blocking connection (for the option check,
    before anything runs).

    @return: C{('found', name, version)}, or L{None} if the hash is absent.
    @raise OSError: Redis cannot be reached or refused a command.
    """
    with socket.create_connection((host, port), timeout=timeout) as s:
        stream = s.makefile("rb")
        try:
            if db:
                s.sendall(_command(("SELECT", db)))
                _reply(stream)
            s.sendall(_command(("HMGET", f"{prefix}:meta", "name", "schema")))
            name, version = _reply(stream)
        finally:
            stream.close()
    if name is None and version is None:
        return None
    return ("found", name or "", version or "")


__all__ = [
    "CLAIM",
    "CLAIM_EXPIRED",
    "DEFAULT_PREFIX",
    "FETCH",
    "INIT",
    "REMOVE",
    "STORE_NAME",
    "WRITE",
    "Layout",
    "checkSchema",
    "readMeta",
]
