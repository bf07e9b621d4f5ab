"""Task records: their states, and how long finished ones (and their results) are kept.

Memory stays bounded however many tasks are submitted: finished tasks are evicted after
`TASK_RETENTION` seconds, results beyond `TASK_RESULT_MAX_BYTES` in total go oldest first, and at
most `TASK_MAX_RECORDS` records are kept. Live tasks (pending or running) are never evicted; their
number is bounded by the runner's queue.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from app.errors import Conflict, NotFound

PENDING, PREPARING, PROCESSING = "pending", "preparing", "processing"
COMPLETED, ERROR, CANCELLED = "completed", "error", "cancelled"
FINISHED = {COMPLETED, ERROR, CANCELLED}

# share of overall progress each stage ends at (monotonic by construction)
STAGE_SPAN = {"preparing": (0, 10), "masking": (10, 20), "inpainting": (20, 95), "finalizing": (95, 100)}


def stage_percent(stage: str, fraction: float) -> float:
    """Overall progress (0-100) at `fraction` (0-1) of `stage`."""
    lo, hi = STAGE_SPAN.get(stage, (0, 100))
    return lo + (hi - lo) * min(1.0, max(0.0, fraction))


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


@dataclass
class BatchItem:
    index: int
    name: str | None = None
    status: str = PENDING
    error: str | None = None
    result: bytes | None = None
    media_type: str | None = None
    stats: dict[str, Any] | None = None


@dataclass
class Task:
    task_id: str
    kind: str = "inpaint"  # inpaint | batch
    status: str = PENDING
    stage: str | None = None
    overall_progress: float = 0.0
    stage_progress: float = 0.0
    current_region: int = 0
    total_regions: int = 0
    message: str = "queued"
    error: str | None = None
    error_code: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    completed_at: float | None = None
    estimate_seconds: float | None = None  # the queue's estimate at submit time
    callback_url: str | None = None
    result: bytes | None = None
    media_type: str | None = None
    stats: dict[str, Any] | None = None
    items: list[BatchItem] = field(default_factory=list)
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def elapsed(self) -> float:
        end = self.completed_at or time.time()
        return round(end - self.created_at, 3)

    @property
    def result_path(self) -> str | None:
        return f"/api/v1/task-result/{self.task_id}" if self.status == COMPLETED else None

    @property
    def result_bytes(self) -> int:
        return len(self.result or b"") + sum(len(i.result or b"") for i in self.items)

    def estimated_remaining(self) -> float | None:
        """Seconds left, from how fast the work has moved so far; None while it cannot be told."""
        if self.finished:
            return 0.0
        if self.started_at is None:
            return self.estimate_seconds
        p = self.overall_progress
        run = time.time() - self.started_at
        if p < 5 or run < 0.05:
            return None
        return round(run * (100 - p) / p, 2)

    def advance(self, stage: str, fraction: float, current: int, total: int, message: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        self.stage, self.stage_progress = stage, round(fraction * 100, 1)
        self.overall_progress = max(self.overall_progress, round(stage_percent(stage, fraction), 1))
        self.current_region, self.total_regions, self.message = current, total, message
        self.status = PREPARING if stage == "preparing" else PROCESSING

    def snapshot(self) -> dict[str, Any]:
        """GET /task-status: the fields API.md lists, plus a few of ours."""
        body: dict[str, Any] = {
            "task_id": self.task_id,
            "status": self.status,
            "stage": self.stage,
            "overall_progress": self.overall_progress,
            "stage_progress": self.stage_progress,
            "current_region": self.current_region,
            "total_regions": self.total_regions,
            "message": self.message,
            "elapsed_time": self.elapsed,
            "estimated_remaining": self.estimated_remaining(),
            "error": self.error,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "result_path": self.result_path,
            "kind": self.kind,
        }
        if self.stats:
            body["processing_stats"] = self.stats
            if "verification" in self.stats:  # API.md: the task's status reports it
                body["verification"] = self.stats["verification"]
        if self.kind == "batch":
            body["items"] = [
                {"index": i.index, "name": i.name, "status": i.status, "error": i.error,
                 "result_path": f"/api/v1/task-result/{self.task_id}/{i.index}" if i.result is not None else None}
                for i in self.items
            ]
        return body


class TaskRegistry:
    def __init__(self, retention_seconds: float = 3600, max_result_bytes: int = 512 * 1024 * 1024,
                 max_records: int = 10_000):
        self.retention = retention_seconds
        self.max_result_bytes = max_result_bytes
        self.max_records = max_records
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self.evicted = 0

    def create(self, task_id: str | None, **fields: Any) -> Task:
        """A new pending task; a caller-given id is used as given (409 while a live task has it)."""
        self.evict()
        tid = task_id or str(uuid.uuid4())
        old = self._tasks.get(tid)
        if old is not None and not old.finished:
            raise Conflict(f"task {tid!r} is already {old.status}; choose another task_id", code="task_id_conflict")
        self._tasks.pop(tid, None)
        task = Task(task_id=tid, **fields)
        self._tasks[tid] = task
        return task

    def adopt(self, task: Task) -> None:
        """Keep a task made elsewhere (a shared store's record that this replica runs)."""
        self._tasks[task.task_id] = task

    def discard(self, task_id: str) -> None:
        """Forget a task that was never admitted."""
        self._tasks.pop(task_id, None)

    def get(self, task_id: str) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise task_not_found(task_id)
        return task

    def find(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        return list(self._tasks.values())

    def finish(self, task: Task) -> None:
        """Move a finished task to the end of the eviction order, then enforce the bounds."""
        if self._tasks.get(task.task_id) is task:
            self._tasks.move_to_end(task.task_id)
        self.evict()

    def evict(self, now: float | None = None) -> None:
        now = now or time.time()
        finished = [t for t in self._tasks.values() if t.finished]  # oldest finish first
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

    def active_count(self) -> int:
        return sum(not t.finished for t in self._tasks.values())

    def counts(self) -> dict[str, Any]:
        tasks = self.all()
        live = [t for t in tasks if not t.finished]
        return {
            "total_tasks": len(tasks),
            "active_tasks": len(live),
            "completed_tasks": sum(t.status == COMPLETED for t in tasks),
            "error_tasks": sum(t.status == ERROR for t in tasks),
            "cancelled_tasks": sum(t.status == CANCELLED for t in tasks),
            "pending_tasks": sum(t.status == PENDING for t in tasks),
            "active_task_ids": [t.task_id for t in live],
            "stored_result_bytes": sum(t.result_bytes for t in tasks),
            "evicted_tasks": self.evicted,
        }


def task_not_found(task_id: str) -> NotFound:
    """The 404 for an id with no record, in memory or in the shared store."""
    return NotFound(f"no task {task_id!r} (unknown, or its record was evicted)", code="task_not_found")
