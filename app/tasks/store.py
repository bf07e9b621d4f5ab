"""What the task manager needs from a store of task records, whichever it is (memory or Redis).

Both implementations (local.store.MemoryStore, redis.store.RedisStore) run through the same
contract suite (tests/test_task_contract.py). A store keeps the records, their inputs until they
end, their results, the bound on live tasks, the one-winner finish, and the callbacks still to
deliver (the outbox): a task's end and its pending callback are written together, so a callback is
never lost with the process that finished the task.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from app.engine.pipeline import InpaintInput
from app.tasks.callbacks import CallbackSender, Delivery
from app.tasks.records import Task, TaskState


log = logging.getLogger("app.tasks")


class StoreUnavailable(Exception):
    """The store did not answer (Redis down, or failing over): callers retry, or answer 503."""


class TaskStore(Protocol):
    name: str  # "memory" | "redis": health's task_backend.backend
    shared: bool  # True when other replicas see the same records (their copies may be stale here)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def admit(self, task: Task, jobs: list[InpaintInput], max_live: int) -> int:
        """Keep a new pending task and its input; the number of tasks ahead of it. Raises Conflict
        (409) while a live task has its id, Busy (503 `queue_full`) at `max_live` live tasks."""
        ...

    async def discard(self, task_id: str) -> None:
        """Forget a task that was admitted here but could not be started (no slot)."""
        ...

    async def load(self, task_id: str, results: bool = False) -> Task | None:
        """The record (with its result bytes when asked), or None when unknown or evicted."""
        ...

    async def load_for_execution(self, task_id: str) -> tuple[Task, list[InpaintInput], bool] | None:
        """What executing a task needs: the live record, its input and whether a cancel was asked
        for; None once ended or gone. It only reads: nothing is marked or claimed."""
        ...

    def save(self, task: Task) -> None:
        """A live task's progress; never blocks (a shared store writes it in the background)."""
        ...

    async def finish(self, task: Task, entry: str | None, callback: Delivery | None) -> bool:
        """End a task once, its result and pending callback with it: True for the one caller that
        ended it; False when it had already ended, or its record is gone."""
        ...

    async def request_cancel(self, task_id: str) -> TaskState | None:
        """Flag a cancel; the status found (None: unknown)."""
        ...

    async def due_callbacks(self, lease: float) -> list[Delivery]:
        """Pending callbacks no one is delivering, leased to the caller for `lease` seconds."""
        ...

    async def renew_callback(self, task_id: str, lease: float) -> None:
        """Keep a callback leased to this process while it is still trying to deliver it."""
        ...

    async def settle_callback(self, task_id: str) -> None:
        """A callback is delivered (or given up): off the outbox."""
        ...

    async def live_count(self) -> int:
        """Pending and running tasks (the whole service's under Redis); cheap, for health."""
        ...

    async def counts(self) -> dict[str, Any]:
        """Every task the store holds, by state (the whole service's under Redis)."""
        ...


class Outbox:
    """Callbacks from the store's outbox, by whoever has them: the replica that ended the task
    first (leased to it, the lease renewed while it delivers), then any replica once a lease runs
    out because its holder died. Settled (off the outbox) when delivered or given up."""

    def __init__(self, store: TaskStore, sender: CallbackSender, lease: float):
        self.store, self.sender, self.lease = store, sender, lease

    def deliver(self, d: Delivery) -> None:
        async def settle() -> None:
            try:
                await self.store.settle_callback(d.task_id)
            except StoreUnavailable:
                pass  # delivered again after its lease, with the same delivery id

        sending = self.sender.send(d, settled=settle)
        if sending is not None and self.store.shared:
            keep = asyncio.create_task(self._keep_leased(d.task_id))
            sending.add_done_callback(lambda _: keep.cancel())

    async def _keep_leased(self, task_id: str) -> None:
        """While this process delivers a callback, no other one starts on it."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.store.renew_callback(task_id, self.lease)
            except StoreUnavailable:
                pass

    async def deliver_due(self) -> None:
        """Callbacks left by a replica that died before delivering them (only a shared store has any)."""
        while self.store.shared:
            await asyncio.sleep(max(0.1, min(1.0, self.lease / 4)))
            try:
                due = await self.store.due_callbacks(self.lease)
            except StoreUnavailable:
                continue
            except Exception:  # an entry that cannot be read: logged, and the loop goes on
                log.exception("the callback outbox could not be read")
                continue
            for d in due:
                log.info("delivering a pending callback task_id=%s delivery=%s", d.task_id, d.delivery_id)
                self.deliver(d)
