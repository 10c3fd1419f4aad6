"""The observability backend of a deployment of several processes: the channel layer's Redis.

Every key starts with the deployment's prefix (``tigw.<deployment identity>.obs``, or
``GROUP_PREFIX`` + ``.obs``), so deployments that share a Redis server never mix figures.

- ``<prefix>.deltas``: a stream every process appends one entry to per round, capped;
- ``<prefix>.ticks``: a stream of the merger's ticks, capped, read by every worker;
- ``<prefix>.cursor``: the last delta merged into a committed tick;
- ``<prefix>.merger``: the merger's lease (``SET NX PX``, renewed by its holder);
- ``<prefix>.nodes``: a hash of node descriptions; ``<prefix>.prom.<node>``: each node's
  Prometheus totals (expire on their own when a node stops).

A tick is committed by one Lua script that checks the lease and the cursor before it appends,
so a merger that paused past its lease cannot commit deltas its successor merged too.
"""

from __future__ import annotations

import time
from typing import Any

from tigateway_channels.observability.backends.base import Entry, ObservabilityBackend

DELTAS_KEPT = 50_000  # about a minute of rounds of 800 processes, or 14 h of one
TICKS_KEPT = 3_600
TICKS_TTL_MS = 3_600_000
NODES_TTL_MS = 3_600_000
PROM_TTL_MS = 600_000

_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease, cursor, ticks, deltas. ARGV: me, expected cursor, new cursor, tick, kept, ttl.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local current = redis.call('GET', KEYS[2])
if current == false then
  current = ''
end
if current ~= ARGV[2] then
  return -2
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[6])
  redis.call('XTRIM', KEYS[4], 'MINID', ARGV[3])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
"""


def _entries(rows: Any) -> list[Entry]:
    found: list[Entry] = []
    for entry_id, fields in rows or ():
        payload = fields.get(b"t") if isinstance(fields, dict) else None
        if payload is not None:
            found.append((entry_id.decode() if isinstance(entry_id, bytes) else entry_id, payload))
    return found


class RedisBackend(ObservabilityBackend):
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._deltas = f"{prefix}.deltas"
        self._ticks = f"{prefix}.ticks"
        self._cursor = f"{prefix}.cursor"
        self._lease = f"{prefix}.merger"
        self._nodes = f"{prefix}.nodes"
        self._lead = client.register_script(_LEAD)
        self._resign = client.register_script(_RESIGN)
        self._commit = client.register_script(_COMMIT)

    def _prom_key(self, node: str) -> str:
        return f"{self._prefix}.prom.{node}"

    def report(self, deltas: list[bytes], nodes: dict[str, bytes], prom: dict[str, bytes]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for delta in deltas:
            pipe.xadd(self._deltas, {"t": delta}, maxlen=DELTAS_KEPT, approximate=True)
        if deltas:  # a deployment that stops leaves nothing behind
            pipe.pexpire(self._deltas, NODES_TTL_MS)
        if nodes:
            pipe.hset(self._nodes, mapping=nodes)
            pipe.pexpire(self._nodes, NODES_TTL_MS)
        for node, totals in prom.items():
            pipe.set(self._prom_key(node), totals, px=PROM_TTL_MS)
        pipe.execute()

    def claim(self, name: str, ttl_seconds: float) -> bool:
        key = f"{self._prefix}.claim.{name}"
        return bool(self._client.set(key, b"1", nx=True, px=max(1, int(ttl_seconds * 1000))))

    def first_time(self, name: str, ttl_seconds: float) -> bool:
        key = f"{self._prefix}.seen.{name}"
        return bool(self._client.set(key, b"1", nx=True, px=max(1, int(ttl_seconds * 1000))))

    def count_in_window(self, name: str, window_seconds: float) -> int:
        key = f"{self._prefix}.count.{name}.{int(time.time() // window_seconds)}"
        pipe = self._client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.pexpire(key, max(1, int(window_seconds * 2000)))
        count, _ = pipe.execute()
        return int(count)

    def lead(self, me: str, ttl_seconds: float) -> bool:
        return bool(self._lead(keys=[self._lease], args=[me, max(1, int(ttl_seconds * 1000))]))

    def resign(self, me: str) -> None:
        self._resign(keys=[self._lease], args=[me])

    def cursor(self) -> str:
        value = self._client.get(self._cursor)
        return value.decode() if value else ""

    def read_deltas(self, after: str, limit: int) -> list[Entry]:
        start = f"({after}" if after else "-"
        return _entries(self._client.xrange(self._deltas, start, "+", count=limit))

    def commit_tick(self, me: str, expected: str, cursor: str, tick: bytes) -> bool:
        result = self._commit(
            keys=[self._lease, self._cursor, self._ticks, self._deltas],
            args=[me, expected, cursor, tick, TICKS_KEPT, TICKS_TTL_MS],
        )
        return int(result) == 1

    def read_ticks(self, after: str | None, block_seconds: float) -> list[Entry]:
        reply = self._client.xread(
            {self._ticks: after or "$"}, count=1000, block=max(1, int(block_seconds * 1000))
        )
        return _entries(reply[0][1]) if reply else []

    def recent_ticks(self, count: int) -> list[Entry]:
        return list(reversed(_entries(self._client.xrevrange(self._ticks, "+", "-", count=count))))

    def nodes(self) -> dict[str, bytes]:
        return {
            (k.decode() if isinstance(k, bytes) else k): v
            for k, v in self._client.hgetall(self._nodes).items()
        }

    def forget_nodes(self, names: list[str]) -> None:
        if names:
            pipe = self._client.pipeline(transaction=False)
            pipe.hdel(self._nodes, *names)
            pipe.delete(*(self._prom_key(name) for name in names))
            pipe.execute()

    def prom_totals(self) -> dict[str, bytes]:
        names = list(self.nodes())
        if not names:
            return {}
        values = self._client.mget([self._prom_key(name) for name in names])
        return {name: value for name, value in zip(names, values, strict=True) if value}
