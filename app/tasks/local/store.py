"""The task store in this process (TASK_BACKEND=memory, the default).

Memory stays bounded however many tasks are submitted: finished tasks are evicted after
`TASK_RETENTION` seconds, results beyond `TASK_RESULT_MAX_BYTES` in total go oldest first, and at
most `TASK_MAX_RECORDS` records are kept. Live tasks are never evicted; their number is bounded
(`max_live`, and the runner's slots). The records are the very objects the manager runs, so a
save costs nothing; the outbox is empty, since a callback here dies with the process anyway.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from app.engine.pipeline import InpaintInput
from app.errors import queue_full
from app.tasks.callbacks import Delivery
from app.tasks.records import RETRY_AFTER, Task, TaskState, task_id_conflict


class MemoryStore:
    name, shared = "memory", False

    def __init__(self, retention: float, max_result_bytes: int, max_records: int):
        self.retention, self.max_result_bytes, self.max_records = retention, max_result_bytes, max_records
        self._tasks: OrderedDict[str, Task] = OrderedDict()  # finished ones in the order they ended
        self._inputs: dict[str, list[InpaintInput]] = {}  # live tasks' jobs
        self.evicted = 0  # memory always answers, and never loses a live record: nothing to tell the manager

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def admit(self, task: Task, jobs: list[InpaintInput], max_live: int) -> int:
        self.evict()
        old = self._tasks.get(task.task_id)
        if old is not None and not old.finished:
            raise task_id_conflict(task.task_id, old.status)
        if len(self._inputs) >= max_live:
            raise queue_full(len(self._inputs), max_live, RETRY_AFTER, "tasks")
        ahead = sum(t.status == TaskState.PENDING for t in self._tasks.values())
        self._tasks.pop(task.task_id, None)
        self._tasks[task.task_id], self._inputs[task.task_id] = task, jobs
        return ahead

    async def discard(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)
        self._inputs.pop(task_id, None)

    async def load(self, task_id: str, results: bool = False) -> Task | None:
        return self._tasks.get(task_id)

    async def load_for_execution(self, task_id: str) -> tuple[Task, list[InpaintInput], bool] | None:
        task, jobs = self._tasks.get(task_id), self._inputs.get(task_id)
        if task is None or jobs is None or task.finished:
            return None
        return task, jobs, task.cancel_event.is_set()

    def save(self, task: Task) -> None:
        pass  # the record is the object the manager moves

    async def finish(self, task: Task, entry: str | None, callback: Delivery | None) -> bool:
        if self._inputs.pop(task.task_id, None) is None or self._tasks.get(task.task_id) is not task:
            return False
        self._tasks.move_to_end(task.task_id)
        self.evict()
        return True

    async def request_cancel(self, task_id: str) -> TaskState | None:
        task = self._tasks.get(task_id)
        if task is None:
            return None
        status = task.status
        if not task.finished:
            task.cancel_event.set()
        return status

    async def due_callbacks(self, lease: float) -> list[Delivery]:
        return []

    async def renew_callback(self, task_id: str, lease: float) -> None:
        pass

    async def settle_callback(self, task_id: str) -> None:
        pass

    def evict(self, now: float | None = None) -> None:
        now = now or time.time()
        finished = [t for t in self._tasks.values() if t.finished]  # oldest end first
        for t in finished:
            if now - (t.completed_at or now) > self.retention:
                self._drop(t)
        total = sum(t.result_bytes for t in self._tasks.values())
        for t in finished:
            if total <= self.max_result_bytes:
                break
            if t.task_id in self._tasks and t.result_bytes:
                total -= t.result_bytes
                self._drop(t)
        for t in finished:
            if len(self._tasks) <= self.max_records:
                break
            if t.task_id in self._tasks:
                self._drop(t)

    def _drop(self, t: Task) -> None:
        del self._tasks[t.task_id]
        self.evicted += 1

    async def live_count(self) -> int:
        return len(self._inputs)

    async def counts(self) -> dict[str, Any]:
        tasks = list(self._tasks.values())
        live = [t for t in tasks if not t.finished]
        return {
            "total_tasks": len(tasks),
            "active_tasks": len(live),
            "completed_tasks": sum(t.status == TaskState.COMPLETED for t in tasks),
            "error_tasks": sum(t.status == TaskState.ERROR for t in tasks),
            "cancelled_tasks": sum(t.status == TaskState.CANCELLED for t in tasks),
            "pending_tasks": sum(t.status == TaskState.PENDING for t in tasks),
            "active_task_ids": [t.task_id for t in live],
            "stored_result_bytes": sum(t.result_bytes for t in tasks),
            "evicted_tasks": self.evicted,
        }
