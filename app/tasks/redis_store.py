"""The task store on Redis (TASK_BACKEND=redis): what every replica shares.

Keys (all under `iopaint:`):
- `task:<id>`   a hash: `status`, `rec` (the record as JSON), `input` (the jobs, until the task
                ends), `result` / `item:<i>` (result bytes), `cancel` (set by a cancel request).
                A live task's hash never expires; a finished one expires after TASK_RETENTION.
- `live`        the set of pending and running task ids: the global queue bound is its size.
- `queue`       a stream with the consumer group `workers`: one entry per task to run. A replica
                reads an entry only when it has a free slot, and keeps it claimed with a heartbeat
                (XCLAIM of its own entries); an entry whose replica died goes idle and is taken
                over with XAUTOCLAIM after QUEUE_CLAIM_IDLE seconds.
- `fin`, `done`, `result_bytes`  finished ids (status and size, by finish time) and the total
                size of kept results: TASK_RESULT_MAX_BYTES and TASK_MAX_RECORDS evict oldest first.
- `cb:<id>`     the claim (SET NX) that makes a task's callback go out once, whoever finished it.
- channels `events` (every progress and final message, for every replica's WebSockets) and
  `cancel` (task ids: the replica running one stops it at its next step).

Each state change is one Lua script, so two replicas can never both finish one task.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.engine.masks import Region
from app.engine.pipeline import InpaintInput
from app.tasks.registry import FINISHED, BatchItem, Task

PREFIX = "iopaint:"
GROUP = "workers"
EVENTS, CANCELS = PREFIX + "events", PREFIX + "cancel"
_TASK_FIELDS = {f.name for f in dataclasses.fields(Task)} - {"cancel_event", "result", "items"}
_ITEM_FIELDS = {f.name for f in dataclasses.fields(BatchItem)} - {"result"}

__all__ = ["RedisStore", "RedisError", "encode_task", "decode_task", "encode_jobs", "decode_jobs"]


# --- records and jobs as JSON (no pickle: what is read back from Redis is data, never code) ---
def encode_task(task: Task, extra: dict[str, Any] | None = None) -> str:
    d = {k: getattr(task, k) for k in _TASK_FIELDS}
    d["items"] = [{**{k: getattr(i, k) for k in _ITEM_FIELDS}, "has_result": i.result is not None}
                  for i in task.items]
    d["_x"] = extra or {}
    return json.dumps(d, separators=(",", ":"))


def decode_task(raw: str | bytes) -> tuple[Task, dict[str, Any]]:
    d = json.loads(raw)
    items = [BatchItem(**{k: v for k, v in i.items() if k in _ITEM_FIELDS},
                       result=b"" if i.get("has_result") else None) for i in d.pop("items", [])]
    extra = d.pop("_x", {})
    task = Task(**{k: v for k, v in d.items() if k in _TASK_FIELDS}, items=items)
    return task, extra


def _enc(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"$b": base64.b64encode(v).decode()}
    if isinstance(v, Region):
        return {"$region": {"points": [list(p) for p in v.points], "is_box": v.is_box}}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        if "$b" in v and len(v) == 1:
            return base64.b64decode(v["$b"])
        if "$region" in v and len(v) == 1:
            r = v["$region"]
            return Region(tuple(tuple(p) for p in r["points"]), r.get("is_box", False))
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dec(x) for x in v]
    return v


def encode_jobs(jobs: list[InpaintInput]) -> str:
    return json.dumps([{f.name: _enc(getattr(j, f.name)) for f in dataclasses.fields(j)} for j in jobs])


def decode_jobs(raw: str | bytes) -> list[InpaintInput]:
    known = {f.name for f in dataclasses.fields(InpaintInput)}
    return [InpaintInput(**{k: _dec(v) for k, v in job.items() if k in known}) for job in json.loads(raw)]


# --- scripts: each state change is atomic ---
_FINISHED_LUA = ("local function finished(s) return " + " or ".join(f"s == '{st}'" for st in sorted(FINISHED))
                 + " end\n")  # the registry's FINISHED, in Lua

_SUBMIT = _FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if st and not finished(st) then return {'conflict', st} end
local n = redis.call('SCARD', KEYS[2])
if n >= tonumber(ARGV[2]) then return {'busy', tostring(n)} end
if st then
  local f = redis.call('HGET', KEYS[4], ARGV[1])
  if f then redis.call('DECRBY', KEYS[6], tonumber(string.match(f, '|(%d+)$'))) end
  redis.call('HDEL', KEYS[4], ARGV[1]); redis.call('ZREM', KEYS[5], ARGV[1]); redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'rec', ARGV[3], 'input', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'task_id', ARGV[1])
return {'ok', tostring(n)}
"""

# a progress save: only while the task is live; -1 when a cancel was asked for
_UPDATE = _FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st or finished(st) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rec', ARGV[2])
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return -1 end
return 1
"""

_FINISH = _FINISHED_LUA + """
if ARGV[8] ~= '' then redis.call('XACK', KEYS[3], ARGV[9], ARGV[8]); redis.call('XDEL', KEYS[3], ARGV[8]) end
local st = redis.call('HGET', KEYS[1], 'status')
if not st then redis.call('SREM', KEYS[2], ARGV[1]); return 0 end
if finished(st) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'rec', ARGV[3])
for i = 12, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HDEL', KEYS[1], 'input', 'cancel')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SREM', KEYS[2], ARGV[1])
local function size(id)
  local f = redis.call('HGET', KEYS[4], id)
  if f then return tonumber(string.match(f, '|(%d+)$')) end
  return 0
end
redis.call('DECRBY', KEYS[6], size(ARGV[1]))
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. '|' .. ARGV[11])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('INCRBY', KEYS[6], ARGV[11])
local function drop(id)
  redis.call('DECRBY', KEYS[6], size(id))
  redis.call('HDEL', KEYS[4], id); redis.call('ZREM', KEYS[5], id)
  redis.call('DEL', ARGV[10] .. 'task:' .. id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))) do drop(id) end
while tonumber(redis.call('GET', KEYS[6]) or '0') > tonumber(ARGV[6]) do
  local o = redis.call('ZRANGE', KEYS[5], 0, 0)
  if #o == 0 then break end
  drop(o[1])
end
while redis.call('ZCARD', KEYS[5]) > tonumber(ARGV[7]) do drop(redis.call('ZRANGE', KEYS[5], 0, 0)[1]) end
return 1
"""

# a cancel request: the flag, and the status it found (nil: unknown)
_CANCEL = _FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return false end
if not finished(st) then redis.call('HSET', KEYS[1], 'cancel', '1') end
return st
"""

# hand a running task back to the queue (graceful stop): a new entry, the old one acknowledged
_HAND_BACK = _FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] ~= '' then redis.call('XACK', KEYS[2], ARGV[3], ARGV[2]); redis.call('XDEL', KEYS[2], ARGV[2]) end
if not st or finished(st) then return 0 end
redis.call('XADD', KEYS[2], '*', 'task_id', ARGV[1])
return 1
"""


class RedisStore:
    """Every Redis call of the task backend. Calls fail fast (REDIS_TIMEOUT) with RedisError."""

    def __init__(self, url: str, timeout: float = 2.0, retention: float = 3600,
                 max_result_bytes: int = 512 * 1024 * 1024, max_records: int = 10_000):
        common = dict(socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1), health_check_interval=0)
        self.redis = aioredis.Redis.from_url(url, socket_timeout=timeout, **common)
        # XREADGROUP BLOCK waits up to a second on the server: its own connection, a longer timeout
        self.blocking = aioredis.Redis.from_url(url, socket_timeout=timeout + 2, **common)
        self.pubsub_client = aioredis.Redis.from_url(url, socket_timeout=timeout, **common)
        self.timeout, self.retention = timeout, retention
        self.max_result_bytes, self.max_records = max_result_bytes, max_records
        self.queue = PREFIX + "queue"
        self._keys = [PREFIX + "live", self.queue, PREFIX + "fin", PREFIX + "done", PREFIX + "result_bytes"]
        self._submit = self.redis.register_script(_SUBMIT)
        self._update = self.redis.register_script(_UPDATE)
        self._finish = self.redis.register_script(_FINISH)
        self._cancel = self.redis.register_script(_CANCEL)
        self._hand_back = self.redis.register_script(_HAND_BACK)
        self._group_ready = False

    @staticmethod
    def key(task_id: str) -> str:
        return f"{PREFIX}task:{task_id}"

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.queue, GROUP, id="0", mkstream=True)
        except RedisError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._group_ready = True

    async def ping(self) -> None:
        await self.redis.ping()

    # --- admission ---
    async def submit(self, task_id: str, max_live: int, rec: str, jobs: str) -> tuple[str, int | str]:
        """('ok', tasks ahead) | ('conflict', status) | ('busy', live count)."""
        await self.ensure_group()
        live, queue, fin, done, rbytes = self._keys
        kind, val = await self._submit(keys=[self.key(task_id), live, queue, fin, done, rbytes],
                                       args=[task_id, max_live, rec, jobs])
        kind, val = kind.decode(), val.decode()
        return kind, int(val) if kind != "conflict" else val

    # --- reading ---
    async def load(self, task_id: str, results: bool = False) -> tuple[Task, dict[str, Any], dict[str, bytes]] | None:
        """The record (and the result fields when asked), or None when unknown or evicted."""
        if not results:
            raw = await self.redis.hget(self.key(task_id), "rec")
            if raw is None:
                return None
            task, extra = decode_task(raw)
            return task, extra, {}
        fields = await self.redis.hgetall(self.key(task_id))
        if b"rec" not in fields:
            return None
        task, extra = decode_task(fields[b"rec"])
        blobs = {k.decode(): v for k, v in fields.items() if k == b"result" or k.startswith(b"item:")}
        return task, extra, blobs

    async def load_for_run(self, task_id: str) -> tuple[str, bytes, bytes, bool] | None:
        status, rec, jobs, cancel = await self.redis.hmget(self.key(task_id), "status", "rec", "input", "cancel")
        if status is None or rec is None:
            return None
        return status.decode(), rec, jobs or b"", cancel is not None

    async def cancel_flags(self, task_ids: list[str]) -> list[bool]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for tid in task_ids:
                pipe.hexists(self.key(tid), "cancel")
            return [bool(x) for x in await pipe.execute()]

    async def counts(self) -> dict[str, Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(PREFIX + "live")
            pipe.hvals(PREFIX + "fin")
            pipe.get(PREFIX + "result_bytes")
            live, fin, rbytes = await pipe.execute()
        statuses = [v.decode().split("|", 1)[0] for v in fin]
        ids = sorted(x.decode() for x in live)
        return {
            "total_tasks": len(ids) + len(statuses),
            "active_tasks": len(ids),
            "completed_tasks": statuses.count("completed"),
            "error_tasks": statuses.count("error"),
            "cancelled_tasks": statuses.count("cancelled"),
            "active_task_ids": ids,
            "stored_result_bytes": int(rbytes or 0),
        }

    async def queue_figures(self) -> dict[str, int]:
        """Shared queue: entries waiting for a replica, entries a replica holds, live tasks."""
        await self.ensure_group()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.queue)
            pipe.xpending(self.queue, GROUP)
            pipe.scard(PREFIX + "live")
            length, pending, live = await pipe.execute()
        held = int(pending["pending"]) if isinstance(pending, dict) else 0
        return {"waiting": max(0, int(length) - held), "held": held, "live": int(live)}

    # --- changes ---
    async def save(self, saves: list[tuple[str, str, str]], events: list[str]) -> list[int]:
        """Progress saves (task id, status, record) and event publications in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for tid, status, rec in saves:
                await self._update(keys=[self.key(tid)], args=[status, rec], client=pipe)  # queued
            for ev in events:
                pipe.publish(EVENTS, ev)
            out = await pipe.execute()
        return [int(x) for x in out[:len(saves)]]

    async def finish(self, task: Task, rec: str, entry_id: str | None, blobs: dict[str, bytes]) -> bool:
        """End a task once: True for the caller that ended it, False if it had already ended."""
        live, queue, fin, done, rbytes = self._keys
        nbytes = sum(len(b) for b in blobs.values())
        args: list[Any] = [task.task_id, task.status, rec, task.completed_at or time.time(),
                           max(1, math.ceil(self.retention)), self.max_result_bytes, self.max_records,
                           entry_id or "", GROUP, PREFIX, nbytes]
        for k, v in blobs.items():
            args += [k, v]
        won = await self._finish(keys=[self.key(task.task_id), live, queue, fin, done, rbytes], args=args)
        return int(won) == 1

    async def request_cancel(self, task_id: str) -> str | None:
        st = await self._cancel(keys=[self.key(task_id)], args=[])
        if st:
            await self.redis.publish(CANCELS, task_id)
        return st.decode() if st else None

    async def hand_back(self, task_id: str, entry_id: str | None) -> bool:
        return int(await self._hand_back(keys=[self.key(task_id), self.queue],
                                         args=[task_id, entry_id or "", GROUP])) == 1

    async def ack(self, entry_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.queue, GROUP, entry_id)
            pipe.xdel(self.queue, entry_id)
            await pipe.execute()

    async def claim_callback(self, task_id: str, owner: str) -> bool:
        """The one right to send a task's callback (kept as long as the record, an hour at least)."""
        ttl = max(3600, math.ceil(self.retention))
        return bool(await self.redis.set(f"{PREFIX}cb:{task_id}", owner, nx=True, ex=ttl))

    # --- the queue ---
    async def take(self, consumer: str, block_ms: int = 1000) -> tuple[str, str] | None:
        """A new entry for this replica (blocks up to block_ms): (entry id, task id)."""
        await self.ensure_group()
        got = await self.blocking.xreadgroup(GROUP, consumer, {self.queue: ">"}, count=1, block=block_ms)
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                return entry_id.decode(), fields[b"task_id"].decode()
        return None

    async def take_over(self, consumer: str, idle_ms: int) -> tuple[str, str] | None:
        """An entry whose replica stopped heartbeating for idle_ms (it died): (entry id, task id)."""
        await self.ensure_group()
        _next, claimed, _deleted = await self.redis.xautoclaim(self.queue, GROUP, consumer, idle_ms,
                                                               start_id="0-0", count=1)
        for entry_id, fields in claimed:
            if fields:
                return entry_id.decode(), fields[b"task_id"].decode()
        return None

    async def heartbeat(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of the entries this replica runs, so no one takes them over."""
        if entry_ids:
            await self.redis.xclaim(self.queue, GROUP, consumer, 0, entry_ids, justid=True)

    async def forget_consumer(self, consumer: str) -> None:
        await self.redis.xgroup_delconsumer(self.queue, GROUP, consumer)

    async def close(self) -> None:
        for client in (self.redis, self.blocking, self.pubsub_client):
            try:
                await client.aclose()
            except Exception:
                pass

