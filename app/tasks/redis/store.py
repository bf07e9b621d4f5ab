"""The task store on Redis (TASK_BACKEND=redis): what every replica shares.

Keys (all under `iopaint:`):
- `task:<id>`   a hash: `status`, `rec` (the record as JSON), `input` (the jobs, until the task
                ends), `result` / `item:<i>` (result bytes), `cancel` (set by a cancel request).
                A live task's hash never expires; a finished one expires after TASK_RETENTION.
- `live`        the set of pending and running task ids: the global queue bound is its size.
- `queue`       a stream with the consumer group `workers`: one entry per task to run (the
                dispatcher, app.tasks.redis.dispatch, reads it). A Redis that comes back empty has no
                group: the first NOGROUP recreates group and stream, and new entries run.
- `fin`, `done`, `result_bytes`  finished ids (status and size, by finish time) and the total
                size of kept results: TASK_RESULT_MAX_BYTES and TASK_MAX_RECORDS evict oldest first.
- `outbox`, `outbox:due`  callbacks not yet delivered (the exact body and its delivery id), and
                when each one's lease runs out: written by the finish script with the task's end,
                so a replica that dies before delivering loses nothing; any replica delivers it.
- channels `events` (every progress and final message, app.tasks.redis.bus) and `cancel` (task ids).

Each state change is one Lua script (app.tasks.redis.scripts), so two replicas can never both
finish one task. Redis is reached by URL (`redis://`, `rediss://` for TLS) or through Sentinel
(REDIS_SENTINELS), which finds the master again after a failover, with no restart of the replicas.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from app.engine.masks import Region
from app.engine.pipeline import InpaintInput
from app.engine.render import NewText
from app.errors import queue_full
from app.tasks.callbacks import Delivery
from app.wire import plain, read
from app.tasks.records import FINISHED, RETRY_AFTER, Task, TaskState, decode_task, encode_task, task_id_conflict
from app.tasks.redis import scripts
from app.tasks.store import StoreUnavailable

log = logging.getLogger("app.tasks.redis")
T = TypeVar("T")

PREFIX = "iopaint:"
GROUP = "workers"
EVENTS, CANCELS = PREFIX + "events", PREFIX + "cancel"

__all__ = ["RedisStore", "RedisError", "StoreUnavailable", "Connections", "connect", "encode_jobs", "decode_jobs",
           "OUTAGE", "is_outage"]

OUTAGE = (RedisError, RuntimeError)  # what a call may raise when Redis is out of reach; is_outage() says which


def is_outage(e: BaseException) -> bool:
    """Redis is out of reach: a RedisError, or uvloop's RuntimeError for a write on a socket that a
    failover closed, which redis-py passes on unwrapped (it drops the connection; the next call
    reconnects). Other RuntimeErrors are bugs and go on."""
    return isinstance(e, RedisError) or (isinstance(e, RuntimeError) and "handler is closed" in str(e))


@dataclass
class Connections:
    """Three clients to one Redis: calls, the blocking queue read (its own socket, a longer
    timeout), and pub/sub. With Sentinel each finds the current master on (re)connect."""

    redis: aioredis.Redis
    blocking: aioredis.Redis
    pubsub: aioredis.Redis
    timeout: float

    async def close(self) -> None:
        for client in (self.redis, self.blocking, self.pubsub):
            try:
                await client.aclose()
            except Exception:
                pass


def connect(url: str, timeout: float = 2.0, sentinels: str = "", service: str = "mymaster") -> Connections:
    """Clients that fail fast (`timeout`). `sentinels`: "host:port,host:port" (REDIS_SENTINELS);
    then `url` gives only the database, password and TLS (a `rediss://` URL) of the master."""
    common: dict[str, Any] = dict(socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1),
                                  health_check_interval=0)
    if not sentinels.strip():
        def client(t: float) -> aioredis.Redis:
            return aioredis.Redis.from_url(url, socket_timeout=t, **common)

        return Connections(client(timeout), client(timeout + 2), client(timeout), timeout)
    kw = aioredis.connection.parse_url(url)
    kw.pop("host", None)
    kw.pop("port", None)
    tls = url.startswith("rediss://")
    kw.pop("connection_class", None)
    nodes = []
    for item in sentinels.split(","):
        host, _, port = item.strip().rpartition(":")
        nodes.append((host or item.strip(), int(port or 26379)))
    sentinel = Sentinel(nodes, sentinel_kwargs={"socket_timeout": timeout,  # type: ignore[no-untyped-call]
                                                "socket_connect_timeout": timeout}, **({"ssl": True} if tls else {}))

    def master(t: float) -> aioredis.Redis:
        client: aioredis.Redis = sentinel.master_for(service, socket_timeout=t, **common, **kw)
        return client

    return Connections(master(timeout), master(timeout + 2), master(timeout), timeout)


def is_nogroup(e: Exception) -> bool:
    return isinstance(e, ResponseError) and str(e).startswith("NOGROUP")


# --- jobs as JSON (no pickle: what is read back from Redis is data, never code) ---
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
    return json.dumps([{f.name: _enc_field(f.name, getattr(j, f.name)) for f in dataclasses.fields(j)} for j in jobs])


def decode_jobs(raw: str | bytes) -> list[InpaintInput]:
    known = {f.name for f in dataclasses.fields(InpaintInput)}
    return [InpaintInput(**{k: _dec_field(k, v) for k, v in job.items() if k in known}) for job in json.loads(raw)]


# fields of typed dataclasses (replace-text's lines) travel in app.wire's form, and come back typed
_TYPED_FIELDS: dict[str, Any] = {"write": list[NewText]}


def _enc_field(name: str, v: Any) -> Any:
    return plain(v) if name in _TYPED_FIELDS and v is not None else _enc(v)


def _dec_field(name: str, v: Any) -> Any:
    return read(_TYPED_FIELDS[name], v) if name in _TYPED_FIELDS and v is not None else _dec(v)


class RedisStore:
    """Every Redis call of the task records and the queue. Calls fail fast (REDIS_TIMEOUT) with
    RedisError; progress saves go out in batches, one round trip each, from a background writer."""

    name, shared = "redis", True

    def __init__(self, conns: Connections, retention: float, max_result_bytes: int, max_records: int,
                 lease: float = 10.0,
                 on_error: Callable[[Exception | None], None] = lambda _: None,
                 gone: Callable[[str], None] = lambda _: None):
        self.conns, self.redis, self.blocking = conns, conns.redis, conns.blocking
        self.timeout, self.retention = conns.timeout, retention
        self.max_result_bytes, self.max_records = max_result_bytes, max_records
        self.lease = lease  # seconds a new callback stays with the replica that finished its task
        self.on_error = on_error  # told of every failed call (and None after a good one): reachability
        self.gone = gone  # told of a live task whose record vanished (a Redis that came back empty)
        self.queue = PREFIX + "queue"
        self._keys = [PREFIX + "live", self.queue, PREFIX + "fin", PREFIX + "done", PREFIX + "result_bytes"]
        self._outbox = [PREFIX + "outbox", PREFIX + "outbox:due"]
        lua = (scripts.SUBMIT, scripts.UPDATE, scripts.FINISH, scripts.CANCEL, scripts.HAND_BACK, scripts.DUE,
               scripts.DISCARD)
        (self._submit, self._update, self._finish, self._cancel, self._hand_back, self._due,
         self._discard) = (self.redis.register_script(s) for s in lua)
        self._group_ready = False
        self._saves: dict[str, tuple[str, str]] = {}  # task id -> (status, record): the latest only
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    @staticmethod
    def key(task_id: str) -> str:
        return f"{PREFIX}task:{task_id}"

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def close(self) -> None:
        self._wake.set()
        await asyncio.sleep(0)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        await self.conns.close()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """One call, with the consumer group recreated on NOGROUP (Redis came back empty);
        StoreUnavailable when Redis does not answer."""
        try:
            try:
                out = await fn()
            except ResponseError as e:
                if not is_nogroup(e):
                    raise
                log.warning("the queue's consumer group is gone (Redis restarted empty?): recreating it")
                self._group_ready = False
                await self.ensure_group()
                out = await fn()
        except OUTAGE as e:
            if not is_outage(e):
                raise
            self.on_error(e)
            raise StoreUnavailable(f"the task store (Redis) is unreachable: {type(e).__name__}") from e
        self.on_error(None)
        return out

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.queue, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._group_ready = True

    async def ping(self) -> None:
        await self.call(self.redis.ping)

    # --- admission ---
    async def admit(self, task: Task, jobs: list[InpaintInput], max_live: int) -> int:
        payload = encode_jobs(jobs) if sum(_size(j) for j in jobs) < 1_000_000 else \
            await asyncio.to_thread(encode_jobs, jobs)
        live, queue, fin, done, rbytes = self._keys

        async def submit() -> Any:
            await self.ensure_group()
            return await self._submit(keys=[self.key(task.task_id), live, queue, fin, done, rbytes],
                                      args=[task.task_id, max_live, encode_task(task), payload])

        kind, val = (x.decode() for x in await self.call(submit))
        if kind == "conflict":
            raise task_id_conflict(task.task_id, val)
        if kind == "busy":
            raise queue_full(int(val), max_live, RETRY_AFTER, "tasks")
        return int(val)

    async def discard(self, task_id: str) -> None:
        await self.call(lambda: self._discard(keys=[self.key(task_id), self._keys[0]], args=[task_id]))

    # --- reading ---
    async def load(self, task_id: str, results: bool = False) -> Task | None:
        if not results:
            raw = await self.call(lambda: self.redis.hget(self.key(task_id), "rec"))
            return decode_task(raw) if raw is not None else None
        fields = await self.call(lambda: self.redis.hgetall(self.key(task_id)))
        if b"rec" not in fields:
            return None
        task = decode_task(fields[b"rec"])
        blobs: dict[bytes, bytes] = fields  # type: ignore[assignment]  # no decode_responses: bytes
        task.result = blobs.get(b"result")
        for item in task.items:
            item.result = blobs.get(f"item:{item.index}".encode())
        return task

    async def load_for_execution(self, task_id: str) -> tuple[Task, list[InpaintInput], bool] | None:
        status, rec, raw, cancel = await self.call(
            lambda: self.redis.hmget(self.key(task_id), "status", "rec", "input", "cancel"))
        if status is None or rec is None or TaskState(status.decode()) in FINISHED:
            return None
        task = decode_task(rec)
        try:
            jobs = decode_jobs(raw or b"[]") if len(raw or b"") < 1_000_000 else \
                await asyncio.to_thread(decode_jobs, raw)
        except (ValueError, TypeError, KeyError) as e:  # unreadable: the task fails, never loops
            log.error("task %s has an unreadable input: %s", task_id, e)
            jobs = []
        return task, jobs, cancel is not None

    async def cancel_flags(self, task_ids: list[str]) -> list[bool]:
        async def flags() -> list[Any]:
            async with self.redis.pipeline(transaction=False) as pipe:
                for tid in task_ids:
                    pipe.hexists(self.key(tid), "cancel")
                return list(await pipe.execute())

        return [bool(x) for x in await self.call(flags)]

    async def live_count(self) -> int:
        return int(await self.call(lambda: self.redis.scard(PREFIX + "live")))

    async def counts(self) -> dict[str, Any]:
        async def read() -> list[Any]:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.smembers(PREFIX + "live")
                pipe.hvals(PREFIX + "fin")
                pipe.get(PREFIX + "result_bytes")
                return list(await pipe.execute())

        live, fin, rbytes = await self.call(read)
        statuses = [v.decode().split("|", 1)[0] for v in fin]
        ids = sorted(x.decode() for x in live)
        return {
            "total_tasks": len(ids) + len(statuses),
            "active_tasks": len(ids),
            "completed_tasks": statuses.count(TaskState.COMPLETED),
            "error_tasks": statuses.count(TaskState.ERROR),
            "cancelled_tasks": statuses.count(TaskState.CANCELLED),
            "active_task_ids": ids,
            "stored_result_bytes": int(rbytes or 0),
        }

    async def queue_figures(self) -> dict[str, int]:
        """Shared queue: entries waiting for a replica, entries a replica holds, live tasks."""
        async def read() -> list[Any]:
            await self.ensure_group()
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xlen(self.queue)
                pipe.xpending(self.queue, GROUP)
                pipe.scard(PREFIX + "live")
                return list(await pipe.execute())

        length, pending, live = await self.call(read)
        held = int(pending["pending"]) if isinstance(pending, dict) else 0
        return {"waiting": max(0, int(length) - held), "held": held, "live": int(live)}

    # --- changes ---
    def save(self, task: Task) -> None:
        self._saves[task.task_id] = (task.status, encode_task(task))
        self._wake.set()

    async def _write(self) -> None:
        """Progress saves in batches: one round trip per batch. Lost while Redis is down (the
        next save, or the end, brings the record up to date)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            saves, self._saves = self._saves, {}
            if not saves:
                continue

            async def write() -> list[Any]:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for tid, (status, rec) in saves.items():
                        await self._update(keys=[self.key(tid)], args=[status, rec], client=pipe)  # queued
                    return list(await pipe.execute())

            try:
                answers = await self.call(write)
            except StoreUnavailable:
                await asyncio.sleep(0.5)
                continue
            for tid, answer in zip(saves, answers):
                if int(answer) == -2:
                    self.gone(tid)

    async def finish(self, task: Task, entry: str | None, callback: Delivery | None) -> bool:
        live, queue, fin, done, rbytes = self._keys
        blobs = {"result": task.result} if task.result is not None else {}
        blobs.update({f"item:{i.index}": i.result for i in task.items if i.result is not None})
        nbytes = sum(len(b) for b in blobs.values())
        lease = time.time() + self.lease
        args: list[Any] = [task.task_id, task.status, encode_task(task), task.completed_at or time.time(),
                           max(1, math.ceil(self.retention * 1000)), self.max_result_bytes, self.max_records,
                           entry or "", GROUP, PREFIX, nbytes, callback.encode() if callback else "", lease]
        for k, v in blobs.items():
            args += [k, v]
        self._saves.pop(task.task_id, None)
        won = await self.call(lambda: self._finish(
            keys=[self.key(task.task_id), live, queue, fin, done, rbytes, *self._outbox], args=args))
        return int(won) == 1

    async def request_cancel(self, task_id: str) -> TaskState | None:
        st = await self.call(lambda: self._cancel(keys=[self.key(task_id)], args=[]))
        if st:
            await self.call(lambda: self.redis.publish(CANCELS, task_id))
        return TaskState(st.decode()) if st else None

    async def due_callbacks(self, lease: float) -> list[Delivery]:
        now = time.time()
        raw = await self.call(lambda: self._due(keys=self._outbox, args=[now, now + lease, 20]))
        return [Delivery.decode(r) for r in raw]

    async def renew_callback(self, task_id: str, lease: float) -> None:
        await self.call(lambda: self.redis.zadd(self._outbox[1], {task_id: time.time() + lease}, xx=True))

    async def settle_callback(self, task_id: str) -> None:
        async def settle() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self._outbox[0], task_id)
                pipe.zrem(self._outbox[1], task_id)
                await pipe.execute()

        await self.call(settle)

    # --- the queue (app.tasks.redis.dispatch.StreamDispatcher) ---
    async def hand_back(self, task_id: str, entry_id: str | None) -> bool:
        return int(await self.call(lambda: self._hand_back(keys=[self.key(task_id), self.queue],
                                                           args=[task_id, entry_id or "", GROUP]))) == 1

    async def ack(self, entry_id: str) -> None:
        async def ack() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(self.queue, GROUP, entry_id)
                pipe.xdel(self.queue, entry_id)
                await pipe.execute()

        await self.call(ack)

    async def take(self, consumer: str, block_ms: int = 1000) -> tuple[str, str] | None:
        """A new entry for this replica (blocks up to block_ms): (entry id, task id)."""
        async def read() -> Any:
            await self.ensure_group()
            return await self.blocking.xreadgroup(GROUP, consumer, {self.queue: ">"}, count=1, block=block_ms)

        for _stream, entries in await self.call(read) or []:
            for entry_id, fields in entries:
                return await self._entry(entry_id, fields)
        return None

    async def _entry(self, entry_id: bytes, fields: dict[bytes, bytes]) -> tuple[str, str] | None:
        """(entry id, task id); an entry that names no task (not ours) is dropped."""
        if b"task_id" not in fields:
            log.warning("dropping queue entry %s: it names no task", entry_id.decode())
            await self.ack(entry_id.decode())
            return None
        return entry_id.decode(), fields[b"task_id"].decode()

    async def take_over(self, consumer: str, idle_ms: int) -> tuple[str, str] | None:
        """An entry whose replica stopped heartbeating for idle_ms (it died): (entry id, task id)."""
        async def claim() -> Any:
            await self.ensure_group()
            return await self.redis.xautoclaim(self.queue, GROUP, consumer, idle_ms, start_id="0-0", count=1)

        _next, claimed, *_deleted = await self.call(claim)
        for entry_id, fields in claimed:
            if fields:
                return await self._entry(entry_id, fields)
        return None

    async def heartbeat(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of the entries this replica runs, so no one takes them over."""
        if entry_ids:
            await self.call(lambda: self.redis.xclaim(self.queue, GROUP, consumer, 0, entry_ids, justid=True))

    async def forget_consumer(self, consumer: str) -> None:
        await self.call(lambda: self.redis.xgroup_delconsumer(self.queue, GROUP, consumer))


def _size(job: InpaintInput) -> int:
    return len(job.image or b"") + len(job.mask or b"")
