"""TaskManager: a task's whole life (admit, run, progress, cancel, end once, callback), one class
for both backends, over three interfaces chosen at start-up (app.main.build_tasks):

- a store (app.tasks.store: local.store | redis.store): records, inputs, results, the bound on
  live tasks, the one-winner finish, and the outbox of callbacks written with the end;
- an event bus (app.tasks.bus: progress.LocalBus | redis.bus.RelayBus): progress and final
  messages to every WebSocket subscriber, and cancels from other replicas;
- a dispatcher (app.tasks.dispatch: local.dispatch | redis.dispatch): where the work runs.

The three are built together for the manager (app.tasks.backend), each given at construction the
calls it makes back here (`Hooks`: the store's reachability, a cancel from elsewhere, execute).

Progress flows one way: the pipeline (worker thread, app.tasks.work) reports each step; the
manager moves the record on the event loop, saves it and publishes it. A cancelled task stops at
its next step. An end is written once (the store decides who ended it); only that caller
announces it and sends its callback, which the store keeps until it is delivered.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from app.engine import pipeline
from app.errors import Busy, Cancelled, ServiceError, backend_unavailable, shutting_down
from app.execution.runner import InferenceRunner, Slot
from app.tasks.backend import BuildBackend, Hooks
from app.tasks.callbacks import CallbackSender, delivery_for
from app.tasks.progress import Message, ProgressUpdate, final_message
from app.tasks.records import FINISHED, NO_PROGRESS, RETRY_AFTER, BatchItem, Task, TaskState, task_not_found
from app.tasks.store import Outbox, StoreUnavailable
from app.tasks.work import TaskWork, Tools, complete

log = logging.getLogger("app.tasks")

@dataclass
class TaskOptions:
    task_id: str | None = None
    enable_progress: bool = True
    progress_interval: float = 0.0  # seconds between progress_update messages (finals always go out)
    callback_url: str | None = None


@dataclass(frozen=True)
class StoreReach:
    """Whether the task store answers (/health's `task_backend`): `connecting` (a shared store not
    reached yet), `up` or `down`. `error` is the last failure while down (None once it answers
    again); health says it once the state has changed (`changed`)."""

    backend: str  # memory | redis
    state: str
    error: str | None = None
    changed: bool = False


@dataclass(frozen=True)
class BackendState:
    """Where tasks live and whether that store answers; with a shared store, this replica, what
    its dispatcher does and the tasks it runs now (/health's `task_backend`, /metrics)."""

    reach: StoreReach
    replica: str | None = None  # None: a store of this process, and what follows too
    runs_work: bool | None = None
    taken_over: int | None = None  # queue entries taken over from replicas that died
    queue: dict[str, int] | None = None  # the shared queue's figures
    running_here: list[str] | None = None


@dataclass(frozen=True)
class Activity:
    """Live tasks (for health and metrics): the whole service's (the last count known while the
    store is unreachable) and this replica's own, and this replica's WebSocket connections."""

    active_tasks: int
    active_tasks_here: int
    websocket_connections: int


@dataclass(frozen=True)
class TaskCounts:
    """GET /api/v1/tasks: every task the store holds, by state (the whole service's under Redis),
    and this replica's own figures."""

    total_tasks: int
    active_tasks: int
    completed_tasks: int
    error_tasks: int
    cancelled_tasks: int
    active_task_ids: list[str]
    stored_result_bytes: int
    active_tasks_here: int
    websocket_connections: int
    pending_tasks: int | None = None  # the memory store's own figures
    evicted_tasks: int | None = None


@dataclass(frozen=True)
class TaskPolicy:
    """How this replica admits tasks and keeps their callbacks."""

    max_live: int  # live tasks (the whole service's under Redis): 503 `queue_full` beyond (MAX_QUEUE_SIZE)
    replica: str = ""  # this replica's name, in the logs and health
    lease: float = 10.0  # seconds a new callback stays with the replica that ended its task
    require_model: Callable[[], Any] = lambda: None  # at submit: 503 `model_loading` until the model is loaded


@dataclass
class Here:
    """A task this replica runs now."""

    task: Task
    entry: str | None
    future: Future[Any] | None = None
    handed_back: bool = False  # back in the queue (graceful stop): its end is not written here


class TaskManager:
    def __init__(self, backend: BuildBackend, runner: InferenceRunner, callbacks: CallbackSender, tools: Tools,
                 policy: TaskPolicy):
        """`backend` builds the store, bus and dispatcher, each with the calls it makes back here
        (app.tasks.backend); `runner` runs the work (its slots and worker threads); `callbacks`
        delivers the ends; `tools`: what the work runs with; `policy`: admission and callbacks."""
        self.runner, self.callbacks, self.limits = runner, callbacks, tools.limits
        self.max_live, self.replica, self.lease = policy.max_live, policy.replica, policy.lease
        self._model, self._detector, self._observe = tools.model, tools.detector, tools.observe
        self._require_model = policy.require_model
        self._here: dict[str, Here] = {}
        self._last_publish: dict[str, float] = {}
        self._active = 0  # the store's last count of live tasks
        self._loops: list[asyncio.Task[None]] = []
        self.closing = False
        parts = backend(Hooks(reached=self._reached, cancel_here=self.cancel_here, execute=self.execute))
        self.store, self.bus, self.dispatcher = parts.store, parts.bus, parts.dispatcher
        self.reach = StoreReach(self.store.name, "connecting" if self.store.shared else "up")
        self.outbox = Outbox(self.store, callbacks, policy.lease)

    # --- lifecycle ---
    async def start(self) -> None:
        if self._loops:
            return
        await self.store.start()
        await self.bus.start()
        await self.dispatcher.start()
        self._loops = [asyncio.create_task(self.outbox.deliver_due())]

    def _reached(self, error: Exception | None) -> None:
        """Reachability of the store, as health reports it."""
        if error is None and self.reach.state != "up":
            if self.reach.state == "down":
                log.warning("task store reachable again (%s)", self.store.name)
            self.reach = replace(self.reach, state="up", error=None, changed=True)
        elif error is not None:
            if self.reach.state != "down":
                log.warning("task store unreachable (%s): %s: %s", self.store.name, type(error).__name__, error)
            self.reach = replace(self.reach, state="down", error=f"{type(error).__name__}: {error}"[:200],
                                 changed=True)

    @contextmanager
    def _for_route(self) -> Iterator[None]:
        """A route's call to the store: unreachable is a 503 `task_backend_unavailable`."""
        try:
            yield
        except StoreUnavailable as e:
            raise backend_unavailable(e, RETRY_AFTER) from None

    def backend_state(self) -> BackendState:
        """For /health: where tasks live, whether that store answers, what runs here."""
        if not self.store.shared:
            return BackendState(self.reach)
        return BackendState(self.reach, replica=self.replica, **self.dispatcher.state(),
                            running_here=sorted(self._here))

    # --- the routes' interface ---
    async def submit(self, jobs: list[pipeline.InpaintInput], opts: TaskOptions, *, batch: bool = False,
                     names: list[str | None] | None = None, kind: str = "inpaint") -> Task:
        """Admit a task (409 on a live duplicate id, 503 when the queue is full) and start it."""
        if self.closing:
            raise shutting_down()
        self._require_model()
        task = Task(task_id=opts.task_id or str(uuid.uuid4()), kind="batch" if batch else kind,
                    callback_url=opts.callback_url,
                    progress_interval=opts.progress_interval if opts.enable_progress else NO_PROGRESS)
        if batch:
            task.items = [BatchItem(index=i, name=(names or [None] * len(jobs))[i]) for i in range(len(jobs))]
        task.estimate_seconds = self.runner.estimate_seconds() * max(1, len(jobs))
        with self._for_route():
            ahead = await self.store.admit(task, jobs, self.max_live)
        try:
            self.dispatcher.dispatch(task.task_id)
        except Busy:
            with self._for_route():
                await self.store.discard(task.task_id)
            raise
        task.message = f"queued ({ahead} ahead)"
        # to subscribers only: the record was just written, and a replica may already be running it
        self._publish(task, force=True)
        log.info("task submitted task_id=%s kind=%s items=%d replica=%s", task.task_id, task.kind, len(jobs),
                 self.replica)
        return task

    async def find(self, task_id: str, results: bool = False) -> Task | None:
        """The store's word first (a vanished record is gone here too); this replica's copy when
        it runs the task (fresher), and when the store cannot be reached."""
        here = self._here.get(task_id)
        try:
            found = await self.store.load(task_id, results=results)
        except StoreUnavailable as e:
            if here is not None:
                return here.task
            raise backend_unavailable(e, RETRY_AFTER) from None
        if found is None or here is None or (results and found.status in FINISHED):
            return found
        return here.task

    async def get(self, task_id: str) -> Task:
        task = await self.find(task_id)
        if task is None:
            raise task_not_found(task_id)
        return task

    async def get_with_result(self, task_id: str) -> Task:
        """The task with its result bytes."""
        task = await self.find(task_id, results=True)
        if task is None:
            raise task_not_found(task_id)
        return task

    async def cancel_task(self, task_id: str) -> Task:
        with self._for_route():
            status = await self.store.request_cancel(task_id)
        if status is None:
            raise task_not_found(task_id)
        here = self._here.get(task_id)
        if here is not None and status not in FINISHED:
            here.task.cancel_event.set()
            if here.future is not None and here.future.cancel():  # not started: its slot back now
                await self._end(here.task, TaskState.CANCELLED)
            return here.task
        task = await self.get(task_id)
        if status == TaskState.PENDING and not task.finished:  # no one has started it: it ends now
            task.cancel_event.set()
            await self._end(task, TaskState.CANCELLED)
        return task

    def cancel_here(self, task_id: str) -> None:
        """A cancel asked elsewhere (or a record that vanished): the run here stops at its next step."""
        here = self._here.get(task_id)
        if here is not None:
            here.task.cancel_event.set()

    async def counts(self) -> TaskCounts:
        """GET /api/v1/tasks: the whole service's counts, and this replica's own."""
        with self._for_route():
            counts = await self.store.counts()  # the store's figures, by name (TaskCounts' fields)
        self._active = counts["active_tasks"]
        return TaskCounts(**counts, active_tasks_here=self.active_here(), websocket_connections=self.connections())

    async def activity(self) -> Activity:
        """Live tasks for health and metrics: the whole service's (the last count known while the
        store is unreachable) and this replica's own; and this replica's WebSocket connections."""
        try:
            self._active = await self.store.live_count()
        except StoreUnavailable:
            pass
        return Activity(active_tasks=self._active, active_tasks_here=self.active_here(),
                        websocket_connections=self.connections())

    def connections(self) -> int:
        return len(self.bus.connections)

    def active_here(self) -> int:
        """Tasks this replica runs now (in memory: every live task, they all run here)."""
        return len(self._here) if self.store.shared else self._active

    def progress_message(self, task: Task) -> ProgressUpdate:
        # with a relay, `created` tells a task from an older one with the same id (app.tasks.redis.bus.Freshness)
        return ProgressUpdate.of(task.snapshot(), created=task.created_at if self.bus.relays else None)

    def state_messages(self, task: Task) -> list[Message]:
        """Where a task stands: its progress, then its final message once it has ended (built once)."""
        return [self.progress_message(task), *filter(None, [final_message(task)])]

    # --- the execution (a dispatcher calls it with a reserved slot) ---
    async def execute(self, task_id: str, slot: Slot, entry: str | None) -> bool:
        """Run an admitted task here; False when there was nothing to run (ended, or gone)."""
        try:
            found = await self.store.load_for_execution(task_id)
        except StoreUnavailable:
            found = None
            if entry is not None:  # the entry stays ours: another try after the claim idle time
                slot.release()
                return True
        if found is None:
            slot.release()
            return False
        task, jobs, cancelled = found
        here = self._here[task_id] = Here(task, entry)
        try:
            if task.status != TaskState.PENDING:  # its replica died mid-run: run again, same id; progress never goes down
                task.status, task.message = TaskState.PENDING, "restarted on another replica"
            if cancelled:
                task.cancel_event.set()
            work = TaskWork(task, jobs, self._model(), self.limits, self._detector(), self._observe,
                            asyncio.get_running_loop(), self._changed)
            here.future = self.runner.submit(slot, work)
            status, error = await self._outcome(task, here.future)
            if not here.handed_back:
                await self._end(task, status, error, entry)
            return True
        finally:
            if self._here.get(task_id) is here:
                del self._here[task_id]
            self._last_publish.pop(task_id, None)

    async def _outcome(self, task: Task, future: Future[Any]) -> tuple[TaskState, ServiceError | None]:
        try:
            outcome = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # the loop is closing
            return TaskState.CANCELLED, None  # dropped while pending
        except Cancelled:
            return TaskState.CANCELLED, None
        except ServiceError as e:
            return TaskState.ERROR, e
        except Exception as e:  # a model failure: reported, never a crash
            log.exception("task failed task_id=%s", task.task_id)
            return TaskState.ERROR, ServiceError(f"processing failed: {type(e).__name__}", code="inference_failed",
                                                 status_code=500)
        if task.cancel_event.is_set():  # cancelled after its last step: still cancelled, never completed
            return TaskState.CANCELLED, None
        failed = complete(task, outcome)
        return (TaskState.ERROR, failed) if failed else (TaskState.COMPLETED, None)

    def _changed(self, task: Task, force: bool) -> None:
        if not task.finished:
            self.store.save(task)
        self._publish(task, force)

    def _publish(self, task: Task, force: bool = False) -> None:
        tid, interval = task.task_id, task.progress_interval
        now = time.monotonic()
        if not force:
            if interval is NO_PROGRESS or (not self.bus.relays and not self.bus.subscribers(tid)):
                return
            if now - self._last_publish.get(tid, 0) < interval:
                return
        self._last_publish[tid] = now
        self.bus.publish(tid, self.progress_message(task))

    # --- the end: written once, announced by the one that wrote it ---
    async def _end(self, task: Task, status: TaskState, error: ServiceError | None = None,
                   entry: str | None = None) -> None:
        if task.finished:
            return
        task.mark_end(status, error)
        delivery = delivery_for(task)
        for attempt in itertools.count():  # until the store is back (running tasks finish)
            try:
                won = await self.store.finish(task, entry, delivery)
                break
            except StoreUnavailable:
                if self.closing and attempt >= 5:
                    return  # the entry is taken over later
                await asyncio.sleep(min(2.0, 0.2 * 2 ** attempt))
        if not won:
            return
        self._last_publish[task.task_id] = time.monotonic()
        for msg in self.state_messages(task):
            self.bus.publish(task.task_id, msg)
        log.info("task ended task_id=%s status=%s elapsed=%.3f%s", task.task_id, task.status, task.elapsed,
                 f" error={task.error}" if task.error else "")
        if delivery is not None:
            self.outbox.deliver(delivery)

    # --- stopping: finish, or hand the work back to the queue ---
    async def shutdown(self, grace: float) -> None:
        """Take no new work; cancel live tasks here (memory) or give them `grace` s and hand the
        rest back to the queue (Redis); then let the ends, messages and callbacks out."""
        self.closing = True
        self.dispatcher.pause()
        for t in self._loops:
            t.cancel()
        stopping = Cancelled("cancelled: the service is shutting down", code="shutting_down")
        if not self.dispatcher.hands_back:
            for tid in (await self.store.counts())["active_task_ids"]:
                task = await self.get(tid)
                task.cancel_event.set()
                here = self._here.get(tid)
                if here is None or (here.future is not None and here.future.cancel()):
                    await self._end(task, TaskState.CANCELLED, stopping)
        deadline = time.monotonic() + grace
        while any(not h.task.finished for h in self._here.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for tid, here in list(self._here.items()):
            if here.task.finished:
                continue
            if self.dispatcher.hands_back:
                await self.dispatcher.hand_back(tid)
                here.handed_back = True
                here.task.cancel_event.set()
            else:
                await self._end(here.task, TaskState.CANCELLED, stopping)
        deadline = time.monotonic() + 2.0  # ends being written
        while any(not h.handed_back for h in self._here.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.dispatcher.close()
        await self.callbacks.close()
        await self.bus.close()
        await self.store.close()
