"""Tasks shared by every replica through Redis (TASK_BACKEND=redis).

The same interface as `TaskManager` (the routes do not know which one they talk to), and the
same pipeline, progress and end-of-task code: only where records live, how work is taken, and
how messages reach other replicas differ.

- Submit: one script checks the id and the global bound (the number of live tasks, MAX_QUEUE_SIZE)
  and adds the record and a queue entry. No local work: any replica with a free slot takes it.
- Work: a replica reads the stream (consumer group) only when it has a free inference slot, keeps
  its entries claimed with a heartbeat, and takes over entries whose replica stopped heartbeating
  (QUEUE_CLAIM_IDLE seconds). A task run again keeps its id; ending it is one script that only the
  first replica to end it wins, so it completes once and its callback (claimed with SET NX) goes
  out once.
- Messages: every progress and final message is published locally and to the `events` channel;
  each replica fans what it hears out to its own WebSocket subscribers, so a subscription made on
  any replica, before or after the task exists, hears it.
- Redis down: calls fail within REDIS_TIMEOUT; submits and lookups answer 503
  `task_backend_unavailable`; running tasks keep running and their end is written when Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from app.engine import pipeline
from app.engine.models import InpaintModel
from app.engine.masks import Region
from app.errors import Busy, Cancelled, Conflict, InvalidInput, ServiceError
from app.service import run_detect_job
from app.tasks.callbacks import CallbackSender
from app.tasks.manager import TaskManager, TaskOptions
from app.tasks.progress import ProgressHub, Subscriber
from app.tasks.redis_store import (CANCELS, EVENTS, RedisError, RedisStore, decode_jobs, decode_task, encode_jobs,
                                   encode_task)
from app.tasks.registry import (CANCELLED, COMPLETED, FINISHED, PENDING, BatchItem, Task, TaskRegistry,
                                task_not_found)
from app.tasks.runner import InferenceRunner

log = logging.getLogger("app.tasks.redis")

RETRY_AFTER = 5  # seconds a client is told to wait while Redis is unreachable
MAX_OUTBOX = 10_000  # progress messages waiting to be published; beyond it intermediate ones are dropped


def backend_unavailable(e: Exception) -> Busy:
    return Busy(f"the task store (Redis) is unreachable: {type(e).__name__}; retry shortly",
                retry_after=RETRY_AFTER, code="task_backend_unavailable")


_FINALS = ("task_completed", "task_failed", "task_cancelled")


class RelayHub(ProgressHub):
    """This replica's WebSocket fan-out, and a relay of everything published here to the others.

    Messages about one task can come from two replicas (the one that admitted it, the one that runs
    it, or a new one after a crash), so they may cross on the way. A stale one is dropped, so that
    subscribers still see progress that never goes down and one final message. Progress messages
    carry the task's `created_at`, which tells a new task that reuses an id from the old one.
    """

    def __init__(self, forward: Callable[[str, dict[str, Any]], None], remember: int = 10_000):
        super().__init__()
        self._forward = forward
        self._seen: OrderedDict[str, list[Any]] = OrderedDict()  # id -> [created, progress, started, ended, final]
        self._remember = remember

    def publish(self, task_id: str, msg: dict[str, Any]) -> None:
        self._fan_out(task_id, msg)
        self._forward(task_id, msg)

    def deliver(self, task_id: str, msg: dict[str, Any]) -> None:
        """A message another replica published: to local subscribers only."""
        self._fan_out(task_id, msg)

    def _fan_out(self, task_id: str, msg: dict[str, Any]) -> None:
        if self._fresh(task_id, msg):
            super().publish(task_id, msg)

    def _fresh(self, task_id: str, msg: dict[str, Any]) -> bool:
        kind = msg.get("type")
        seen = self._seen.get(task_id)
        if kind == "progress_update":
            created = float(msg.get("created", 0.0))
            if seen is None or created > seen[0]:  # the first message of this task (or of a new one)
                seen = [created, 0.0, False, False, False]
            elif created < seen[0] or seen[3]:  # an older task's, or after this one ended
                return False
            progress, status = float(msg.get("overall_progress") or 0.0), msg.get("status")
            if progress < seen[1] or (seen[2] and status == PENDING):
                return False
            seen[1], seen[2], seen[3] = progress, seen[2] or status != PENDING, status in FINISHED
        elif kind in _FINALS:
            if seen is not None and seen[4]:
                return False  # one final message per task
            seen = seen or [0.0, 100.0, True, True, False]
            seen[3] = seen[4] = True
        else:
            return True
        self._seen[task_id] = seen
        self._seen.move_to_end(task_id)
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True


class RedisTaskManager(TaskManager):
    def __init__(self, store: RedisStore, registry: TaskRegistry, runner: InferenceRunner,
                 callbacks: CallbackSender, limits: pipeline.Limits, model: Callable[[], InpaintModel | None],
                 detector: Callable[[], Any] = lambda: None,
                 observe: Callable[..., None] = lambda *_, **__: None, *,
                 max_live: int = 16, claim_idle: float = 10.0, runs_work: bool = True, replica: str = ""):
        super().__init__(registry, runner, RelayHub(self._relay), callbacks, limits, model, detector, observe)
        self.store, self.max_live, self.claim_idle, self.runs_work = store, max_live, claim_idle, runs_work
        self.replica = replica or f"{socket.gethostname()}-{os.getpid()}"
        self._own_prefix = json.dumps({"o": self.replica}, separators=(",", ":"))[:-1].encode() + b","
        self._local: dict[str, Task] = {}  # tasks this replica runs now
        self._runs: dict[str, asyncio.Task[Any]] = {}  # task id -> its run here, while it holds a slot
        self._all_runs: set[asyncio.Task[Any]] = set()  # every run here until its end is written
        self._entries: dict[str, str] = {}  # task id -> its queue entry
        self._commits: dict[str, asyncio.Task[Any]] = {}
        self._handed_back: set[str] = set()
        self._claims: set[asyncio.Task[Any]] = set()  # callbacks waiting for their SET NX claim
        self._saves: dict[str, tuple[str, str]] = {}  # task id -> (status, record): the latest only
        self._events: list[str] = []
        self._wake: asyncio.Event | None = None
        self._slot_freed: asyncio.Event | None = None
        self._loops: list[asyncio.Task[Any]] = []
        self._consumer: asyncio.Task[Any] | None = None
        self.state: dict[str, Any] = {"backend": "redis", "state": "connecting", "replica": self.replica}
        self.queue_figures: dict[str, int] = {}
        self.taken_over = 0
        # /detect-text's work for jobs of kind `detect` (set by app.main: it needs this replica's detector)
        self.detect_job: Callable[[bytes | str, list[Region]], dict[str, Any]] | None = None

    # --- lifecycle ---
    async def start(self) -> None:
        if self._loops:
            return
        self._wake, self._slot_freed = asyncio.Event(), asyncio.Event()
        self._loops = [asyncio.create_task(self._writer()), asyncio.create_task(self._listener()),
                       asyncio.create_task(self._monitor())]
        if self.runs_work:
            self._consumer = asyncio.create_task(self._consume())
            self._loops.append(self._consumer)

    def _up(self) -> None:
        if self.state["state"] != "up":
            if self.state["state"] == "down":
                log.warning("task store reachable again (Redis)")
            self.state = {**self.state, "state": "up", "error": None}

    def _down(self, e: Exception) -> None:
        if self.state["state"] != "down":
            log.warning("task store unreachable (Redis): %s: %s", type(e).__name__, e)
        self.state = {**self.state, "state": "down", "error": f"{type(e).__name__}: {e}"[:200]}

    @contextmanager
    def _store_for_route(self) -> Iterator[None]:
        """A route's call to the store: Redis unreachable is a 503 `task_backend_unavailable`."""
        try:
            yield
        except RedisError as e:
            self._down(e)
            raise backend_unavailable(e) from None

    def backend_state(self) -> dict[str, Any]:
        return {**self.state, "runs_work": self.runs_work, "taken_over": self.taken_over, "queue": self.queue_figures,
                "running_here": sorted(self._local)}

    # --- the routes' interface ---
    async def admit(self, jobs: list[pipeline.InpaintInput], opts: TaskOptions, *, batch: bool = False,
                    names: list[str | None] | None = None, kind: str = "inpaint") -> Task:
        if self.closing:
            raise Busy("the service is shutting down", retry_after=10, code="shutting_down")
        task = Task(task_id=opts.task_id or str(uuid.uuid4()), kind="batch" if batch else kind,
                    callback_url=opts.callback_url)
        if batch:
            task.items = [BatchItem(index=i, name=(names or [None] * len(jobs))[i]) for i in range(len(jobs))]
        task.estimate_seconds = self.runner.estimate_seconds() * max(1, len(jobs))
        interval = opts.progress_interval if opts.enable_progress else -1.0
        payload = encode_jobs(jobs) if sum(_size(j) for j in jobs) < 1_000_000 else \
            await asyncio.to_thread(encode_jobs, jobs)
        with self._store_for_route():
            kind, val = await self.store.submit(task.task_id, self.max_live, encode_task(task, {"interval": interval}),
                                                payload)
        self._up()
        if kind == "conflict":
            raise Conflict(f"task {task.task_id!r} is already {val}; choose another task_id", code="task_id_conflict")
        if kind == "busy":
            raise Busy(f"the queue is full ({val} tasks waiting or running, limit {self.max_live}); retry later",
                       retry_after=self.runner.retry_after(), code="queue_full")
        task.message = f"queued ({val} ahead)"
        # to subscribers only: the record was just written, and a replica may already be running it
        self.hub.publish(task.task_id, self.progress_message(task))
        log.info("task submitted task_id=%s kind=%s items=%d replica=%s", task.task_id, task.kind, len(jobs),
                 self.replica)
        return task

    async def find(self, task_id: str) -> Task | None:
        local = self._local.get(task_id)
        if local is not None:
            return local
        with self._store_for_route():
            found = await self.store.load(task_id)
        return found[0] if found else None

    async def get(self, task_id: str) -> Task:
        task = await self.find(task_id)
        if task is None:
            raise task_not_found(task_id)
        return task

    async def get_with_result(self, task_id: str) -> Task:
        local = self._local.get(task_id)
        if local is not None and local.finished:  # ended here, its end maybe not yet written
            return local
        with self._store_for_route():
            found = await self.store.load(task_id, results=True)
        if found is None:
            raise task_not_found(task_id)
        task, _extra, blobs = found
        task.result = blobs.get("result")
        for item in task.items:
            item.result = blobs.get(f"item:{item.index}")
        return task

    async def cancel_task(self, task_id: str) -> Task:
        with self._store_for_route():
            status = await self.store.request_cancel(task_id)
        if status is None:
            raise task_not_found(task_id)
        local = self._local.get(task_id)
        if local is not None:
            local.cancel_event.set()
            return local
        task = await self.get(task_id)
        if status == PENDING:  # no replica has started it: it ends now (the entry is skipped when taken)
            task.cancel_event.set()
            self._mark_end(task, CANCELLED, None, None)
            await self._commit(task)
        return task

    async def counts(self) -> dict[str, Any]:
        with self._store_for_route():
            return await self.store.counts()

    # --- ROLE=api: synchronous requests run on a worker, through the same queue (app.service.Remote) ---
    async def run_remote(self, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
        """Queue one job and wait for its end (pub/sub, with a store check each second); answer as
        a sync route. The caller (app.service.Execution) bounds the wait with REQUEST_TIMEOUT."""
        return _output(await self._run_remote(job, "inpaint"))

    async def run_remote_detect(self, image: bytes | str, regions: list[Region]) -> dict[str, Any]:
        """/detect-text on a worker: the image and search regions travel as a job of kind `detect`."""
        task = await self._run_remote(pipeline.InpaintInput(image=image, regions=regions), "detect")
        answer: dict[str, Any] = json.loads(task.result or b"{}")
        return answer

    async def _run_remote(self, job: pipeline.InpaintInput, kind: str) -> Task:
        tid = f"sync-{uuid.uuid4()}"
        sub = Subscriber(tid, maxsize=16)
        self.hub.subscribe(tid, sub)
        try:
            await self.admit([job], TaskOptions(task_id=tid, enable_progress=False), kind=kind)
            while True:
                try:
                    msg = await asyncio.wait_for(sub.outbox.get(), 1.0)
                    if msg.get("type") not in _FINALS:
                        continue
                except asyncio.TimeoutError:
                    task = await self.find(tid)
                    if task is None or not task.finished:
                        continue
                task = await self.get_with_result(tid)
                if task.finished:
                    break
        except asyncio.CancelledError:  # timed out, or the client went away: the work stops too
            await self._cancel_quietly(tid)
            raise
        finally:
            self.hub.unsubscribe(tid, sub)
        if task.status == COMPLETED and task.result is not None:
            return task
        if task.status == CANCELLED:
            raise Cancelled("the request was cancelled", code="cancelled")
        raise _remote_error(task)

    async def _cancel_quietly(self, tid: str) -> None:
        try:
            await asyncio.shield(self.cancel_task(tid))
        except (ServiceError, RedisError):
            pass

    def _work(self, task: Task, jobs: list[pipeline.InpaintInput], model: InpaintModel,
              loop: asyncio.AbstractEventLoop) -> Any:
        if task.kind != "detect":
            return super()._work(task, jobs, model, loop)
        if task.cancel_event.is_set():
            raise Cancelled("cancelled before it started")
        if self.detect_job is None:
            raise InvalidInput("text detection is not available on the workers (TEXT_DETECTION is off, or its model "
                               "could not load)", code="detection_unavailable")
        loop.call_soon_threadsafe(self._started, task)
        detect_job, job = self.detect_job, jobs[0]
        found = run_detect_job(str(getattr(self._detector(), "name", "detector")),
                               lambda: detect_job(job.image, job.regions or []), self._observe)
        return [_Answer(json.dumps(found).encode(), len(found.get("regions", [])))]

    # --- taking work ---
    def _free_slot(self) -> bool:
        q = self.runner.stats
        return len(self._runs) < self.runner.workers and q["queued"] + q["running"] < self.runner.workers

    async def _consume(self) -> None:
        idle_ms = int(self.claim_idle * 1000)
        while not self.closing:
            if self._model() is None or not self._free_slot():
                assert self._slot_freed is not None  # made in start(), before this loop runs
                self._slot_freed.clear()
                try:  # woken when a task here ends; the timeout covers sync requests and model loading
                    await asyncio.wait_for(self._slot_freed.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                got = await self.store.take_over(self.replica, idle_ms)
                if got is not None:
                    self.taken_over += 1
                    log.warning("taking over task_id=%s: its replica stopped (no heartbeat for %.0f s)",
                                got[1], self.claim_idle)
                else:
                    got = await self.store.take(self.replica, block_ms=500)
                self._up()
            except RedisError as e:
                self._down(e)
                await asyncio.sleep(0.5)
                continue
            if got is not None:
                entry_id, task_id = got
                self._entries[task_id] = entry_id
                run = self._runs[task_id] = asyncio.create_task(self._run_entry(entry_id, task_id))
                self._all_runs.add(run)
                run.add_done_callback(self._all_runs.discard)

    async def _run_entry(self, entry_id: str, task_id: str) -> None:
        try:
            try:
                found = await self.store.load_for_run(task_id)
            except RedisError as e:  # the entry stays ours; another try after the claim idle time
                self._down(e)
                return
            if found is None or found[0] in FINISHED:  # ended (cancelled while pending) or evicted
                await self.store.ack(entry_id)
                return
            status, rec, raw_jobs, cancelled = found
            task, extra = decode_task(rec)
            self._local[task_id] = task
            try:
                jobs = decode_jobs(raw_jobs) if len(raw_jobs) < 1_000_000 else \
                    await asyncio.to_thread(decode_jobs, raw_jobs)
            except (ValueError, TypeError, KeyError) as e:  # unreadable input: it fails, never loops
                log.error("task %s has an unreadable input: %s", task_id, e)
                self._end(task, "error", error="the task's input could not be read", code="invalid_task")
                await self._commits.pop(task_id)
                return
            self.registry.adopt(task)
            self._intervals[task_id] = _interval(extra.get("interval", 0.0))
            if status != PENDING:  # its replica died mid-run: run again, same id; progress never goes down
                task.status, task.message = PENDING, "restarted on another replica"
            if cancelled:
                task.cancel_event.set()
            loop = asyncio.get_running_loop()
            while True:  # a synchronous request may have taken the slot meanwhile
                try:
                    slot = self.runner.reserve()
                    break
                except Busy:
                    await asyncio.sleep(0.05)
            cf = self.runner.submit(slot, self._work, task, jobs, self._model(), loop)
            await self._finish_when_done(task, cf)
            self._free(task_id)  # the slot is free: the next entry is taken while this end is written
            commit = self._commits.pop(task_id, None)
            if commit is not None:
                await commit
        except Exception:
            log.exception("task %s could not be run here; another replica takes it over", task_id)
        finally:
            self._free(task_id)
            self._local.pop(task_id, None)
            self._entries.pop(task_id, None)
            self._intervals.pop(task_id, None)
            self._last_publish.pop(task_id, None)

    def _free(self, task_id: str) -> None:
        if self._runs.pop(task_id, None) is not None and self._slot_freed is not None:
            self._slot_freed.set()

    # --- ending: the first replica to end a task wins ---
    def _end(self, task: Task, status: str, error: str | None = None, code: str | None = None) -> None:
        if task.finished or task.task_id in self._handed_back:
            return
        self._mark_end(task, status, error, code)
        self._commits[task.task_id] = asyncio.create_task(self._commit(task))

    async def _commit(self, task: Task) -> None:
        """Write the end (retrying while Redis is down); announce it only if this replica ended it."""
        blobs: dict[str, bytes] = {}
        if task.result is not None:
            blobs["result"] = task.result
        for item in task.items:
            if item.result is not None:
                blobs[f"item:{item.index}"] = item.result
        rec = encode_task(task, {"interval": -1.0})
        delay = 0.2
        while True:
            try:
                won = await self.store.finish(task, rec, self._entries.get(task.task_id), blobs)
                self._up()
                break
            except RedisError as e:
                self._down(e)
                if self.closing and delay > 5:  # shutting down with Redis gone: the entry is taken over later
                    return
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        if won:
            self._announce_end(task)

    def _send_callback(self, task: Task) -> None:
        if not task.callback_url or task.status == CANCELLED:
            return

        async def claim_then_send() -> None:
            for attempt in range(10):
                try:
                    if await self.store.claim_callback(task.task_id, self.replica):
                        TaskManager._send_callback(self, task)
                    return
                except RedisError as e:
                    self._down(e)
                    await asyncio.sleep(min(5.0, 0.5 * 2 ** attempt))
            log.warning("callback of task_id=%s not sent: the task store stayed unreachable", task.task_id)

        claim = asyncio.create_task(claim_then_send())
        self._claims.add(claim)
        claim.add_done_callback(self._claims.discard)

    # --- progress: saved to the record and relayed to every replica ---
    def _publish_progress(self, task: Task, force: bool = False) -> None:
        tid = task.task_id
        if not task.finished:
            self._saves[tid] = (task.status, encode_task(task, {"interval": self._interval_of(tid)}))
            self._kick()
        interval = self._intervals.get(tid, 0.0)
        now = time.monotonic()
        if not force and (interval == float("inf") or now - self._last_publish.get(tid, 0) < interval):
            return
        self._last_publish[tid] = now
        self.hub.publish(tid, self.progress_message(task))

    def progress_message(self, task: Task) -> dict[str, Any]:
        return {**super().progress_message(task), "created": task.created_at}

    def _interval_of(self, tid: str) -> float:
        i = self._intervals.get(tid, 0.0)
        return -1.0 if i == float("inf") else i

    def _relay(self, task_id: str, msg: dict[str, Any]) -> None:
        if len(self._events) >= MAX_OUTBOX and msg.get("type") == "progress_update":
            return
        self._events.append(json.dumps({"o": self.replica, "t": task_id, "m": msg}, separators=(",", ":")))
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _writer(self) -> None:
        """Publishes and saves in batches: one round trip per batch, order kept."""
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            saves, events = self._saves, self._events
            self._saves, self._events = {}, []
            try:
                answers = await self.store.save([(t, st, rec) for t, (st, rec) in saves.items()], events)
                self._up()
            except RedisError as e:  # these messages are lost; the next ones go out once Redis is back
                self._down(e)
                await asyncio.sleep(0.5)
                continue
            for tid, answer in zip(saves, answers):
                if answer == -1 and tid in self._local:  # cancelled elsewhere: stop at the next step
                    self._local[tid].cancel_event.set()

    async def _listener(self) -> None:
        """Hears other replicas' messages and cancels; reconnects after an outage."""
        while not self.closing:
            pubsub = self.store.pubsub_client.pubsub()
            try:
                await pubsub.subscribe(EVENTS, CANCELS)
                self._up()
                while not self.closing:
                    m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if m is None:
                        continue
                    if m["channel"] == CANCELS.encode():
                        local = self._local.get(m["data"].decode())
                        if local is not None:
                            local.cancel_event.set()
                        continue
                    if m["data"].startswith(self._own_prefix):  # this replica's own: delivered already
                        continue
                    ev = json.loads(m["data"])
                    assert isinstance(self.hub, RelayHub)
                    self.hub.deliver(ev["t"], ev["m"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ValueError) as e:
                self._down(e)
                await asyncio.sleep(0.5)
            finally:
                try:
                    await asyncio.wait_for(pubsub.aclose(), 1)  # type: ignore[no-untyped-call]
                except Exception:
                    pass

    async def _monitor(self) -> None:
        """Heartbeats for the entries run here, cancel flags, reachability and the queue figures."""
        period = max(0.2, min(1.0, self.claim_idle / 4))
        while True:
            try:
                ids = [t for t in self._local if t in self._entries]
                if ids:
                    await self.store.heartbeat(self.replica, [self._entries[t] for t in ids])
                    for tid, flag in zip(ids, await self.store.cancel_flags(ids)):
                        if flag and tid in self._local:
                            self._local[tid].cancel_event.set()
                self.queue_figures = await self.store.queue_figures()
                self._up()
            except RedisError as e:
                self._down(e)
            await asyncio.sleep(period)

    def _commits_pending(self) -> bool:
        return any(not c.done() for c in self._commits.values())

    # --- stopping: finish, or hand the work back to the queue ---
    async def shutdown(self, grace: float) -> None:
        self.closing = True
        if self._consumer is not None:
            self._consumer.cancel()
        if self._all_runs:
            await asyncio.wait(list(self._all_runs), timeout=grace)
        kept = False  # an entry still held here: keep this consumer, so the entry is taken over later
        for tid, task in list(self._local.items()):
            if task.finished:
                continue
            try:
                await asyncio.wait_for(self.store.hand_back(tid, self._entries.get(tid)), self.store.timeout + 1)
                log.info("task handed back to the queue task_id=%s", tid)
            except (RedisError, asyncio.TimeoutError) as e:
                self._down(e if isinstance(e, RedisError) else RedisError("timeout"))
                kept = True
            self._handed_back.add(tid)
            task.cancel_event.set()
        if self._commits:
            await asyncio.wait(list(self._commits.values()), timeout=max(1.0, self.store.timeout * 2))
        if self._claims:  # a callback claimed now is then delivered by the callback sender's close()
            await asyncio.wait(list(self._claims), timeout=self.store.timeout + 1)
        if self._wake is not None:  # let the last messages out
            self._wake.set()
            await asyncio.sleep(0.05)
        if not kept and not self._commits_pending():
            try:
                await asyncio.wait_for(self.store.forget_consumer(self.replica), self.store.timeout)
            except (RedisError, asyncio.TimeoutError):
                pass
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.store.close()


class _Answer:
    """A JSON answer (detect-text) in the shape the end of a task reads an output in."""

    media_type = "application/json"

    def __init__(self, data: bytes, regions_count: int):
        self.data, self.regions_count = data, regions_count

    def stats(self) -> dict[str, Any]:
        return {"regions_found": self.regions_count}


def _output(task: Task) -> pipeline.InpaintOutput:
    """A sync answer from a finished task's record (its stats) and result."""
    st = task.stats or {}
    dims = st.get("image_dimensions") or {}
    return pipeline.InpaintOutput(
        data=task.result or b"", media_type=task.media_type or "application/octet-stream",
        width=dims.get("width", 0), height=dims.get("height", 0), regions_count=st.get("regions_processed", 0),
        total_area=st.get("total_area", 0), mask_area=st.get("mask_area", 0), crops=st.get("crops", 0),
        timings=dict(st.get("stage_times") or {}), detected=st.get("text_lines_detected"),
        verification=st.get("verification"))


_BUSY_CODES = ("busy", "model_loading", "queue_full", "shutting_down", "task_backend_unavailable")


def _remote_error(task: Task) -> ServiceError:
    """The error a worker reported, as it would be answered where the job ran: its code, detail and
    status, and a 503 with its Retry-After (API.md, Errors)."""
    detail, code = task.error or "processing failed", task.error_code or "inference_failed"
    if code in _BUSY_CODES:
        return Busy(detail, retry_after=RETRY_AFTER, code=code)
    return ServiceError(detail, code=code, status_code=_status_of(code))


def _status_of(code: str | None) -> int:
    """The HTTP status of an error a worker reported by its code (the exception stayed there)."""
    if not code or code == "inference_failed":
        return 500
    if code in _BUSY_CODES:
        return 503
    if "too_large" in code:
        return 413
    if code in ("invalid_image", "invalid_base64"):
        return 400
    return {"timeout": 504, "cancelled": 409}.get(code, 422)


def _interval(stored: float | None) -> float:
    return float("inf") if stored is None or stored < 0 else float(stored)


def _size(job: pipeline.InpaintInput) -> int:
    return len(job.image or b"") + len(job.mask or b"")
