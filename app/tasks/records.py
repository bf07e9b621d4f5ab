"""Task records: their states and fields, the statistics a task keeps (`TaskStats`), where it
stands at a moment (`TaskSnapshot`: a status answer, a progress message), and the record as JSON.

A record keeps everything its end needs to be answered again anywhere: the error's code and HTTP
status, and the whole output of the pipeline (`output`, its bytes in `result`), so a replica that
did not run the work never rebuilds either from strings or statistics. Its JSON is app.wire's form
of these dataclasses. Both stores (local.store, redis.store) keep these records; how long they are
kept is theirs to enforce.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from app.engine import pipeline
from app.engine.pipeline import Stage
from app.engine.stats import Stats, Verification
from app.errors import Busy, Conflict, NotFound, ServiceError
from app.wire import OMIT_NONE, plain, read


class TaskState(StrEnum):
    """A task's status, as every answer, message, callback and store spells it (API.md)."""

    PENDING = "pending"
    PREPARING = "preparing"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"


FINISHED = {TaskState.COMPLETED, TaskState.ERROR, TaskState.CANCELLED}
NO_PROGRESS = None  # a task's progress_interval when it asked for no progress_update messages (finals still go)

# share of overall progress each stage ends at (monotonic by construction)
STAGE_SPAN = {Stage.PREPARING: (0, 10), Stage.MASKING: (10, 20), Stage.INPAINTING: (20, 95),
              Stage.FINALIZING: (95, 100)}


def stage_percent(stage: Stage, fraction: float) -> float:
    """Overall progress (0-100) at `fraction` (0-1) of `stage`."""
    lo, hi = STAGE_SPAN.get(stage, (0, 100))
    return lo + (hi - lo) * min(1.0, max(0.0, fraction))


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


@dataclass(frozen=True)
class LineCounts:
    """A batch's `text_lines`: every item's counts (each item's lines are in its own statistics)."""

    found: int
    read: int
    removed: int
    partly_removed: int
    kept: int


@dataclass(frozen=True)
class BatchStats:
    """A batch's statistics: its items, and over those completed, the regions, the verification
    (every item's regions, the worst residual) and the lines."""

    items: int
    items_completed: int
    items_failed: int
    regions_processed: int
    verification: Verification | None = field(default=None, metadata=OMIT_NONE)
    text_lines: LineCounts | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class DetectStats:
    """A detect-text job's statistics (ROLE=api sends those to the workers as tasks)."""

    regions_found: int


TaskStats = Stats | BatchStats | DetectStats  # a single image's, a batch's, a detect job's
_STATS_OF_KIND: dict[str, type[TaskStats]] = {"inpaint": Stats, "batch": BatchStats, "detect": DetectStats}


@dataclass
class BatchItem:
    index: int
    name: str | None = None
    status: TaskState = TaskState.PENDING
    error: str | None = None
    result: bytes | None = None
    media_type: str | None = None
    stats: Stats | None = None


@dataclass(frozen=True)
class ItemStatus:
    """A batch item as a task's status shows it."""

    index: int
    name: str | None
    status: TaskState
    error: str | None
    result_path: str | None


@dataclass(frozen=True)
class TaskSnapshot:
    """Where a task stands, read at one moment: what GET /task-status answers (app.api builds it
    `TaskStatus.of`) and what a progress message carries."""

    task_id: str
    status: TaskState
    stage: Stage | None
    overall_progress: float
    stage_progress: float
    current_region: int
    total_regions: int
    message: str
    elapsed_time: float
    estimated_remaining: float | None
    error: str | None
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    result_path: str | None
    kind: str
    stats: TaskStats | None  # once it has completed
    items: list[ItemStatus] | None  # a batch's


@dataclass
class Task:
    task_id: str
    kind: str = "inpaint"  # inpaint | batch
    status: TaskState = TaskState.PENDING
    stage: Stage | None = None
    overall_progress: float = 0.0
    stage_progress: float = 0.0
    current_region: int = 0
    total_regions: int = 0
    message: str = "queued"
    error: str | None = None
    error_code: str | None = None
    error_status: int | None = None  # the HTTP status of the error, as raised where the work ran
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    completed_at: float | None = None
    estimate_seconds: float | None = None  # the queue's estimate at submit time
    callback_url: str | None = None
    progress_interval: float | None = 0.0  # seconds between progress_update messages; NO_PROGRESS: none
    output: pipeline.InpaintOutput | None = None  # a single job's whole pipeline output, but its bytes (`result`)
    result: bytes | None = None
    media_type: str | None = None
    stats: TaskStats | None = None
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
        return f"/api/v1/task-result/{self.task_id}" if self.status == TaskState.COMPLETED else None

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

    def advance(self, stage: Stage, fraction: float, current: int, total: int, message: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        self.stage, self.stage_progress = stage, round(fraction * 100, 1)
        self.overall_progress = max(self.overall_progress, round(stage_percent(stage, fraction), 1))
        self.current_region, self.total_regions, self.message = current, total, message
        self.status = TaskState.PREPARING if stage == Stage.PREPARING else TaskState.PROCESSING

    def mark_end(self, status: TaskState, error: ServiceError | None = None) -> None:
        """The record's final state; `error` keeps its code and status with the task."""
        self.status, self.completed_at = status, time.time()
        self.error = error.detail if error is not None else None
        self.error_code = error.code if error is not None else None
        self.error_status = error.status_code if error is not None else None
        if status == TaskState.COMPLETED:
            self.overall_progress, self.stage_progress, self.stage = 100.0, 100.0, Stage.FINALIZING
            self.message = "completed"
        elif status == TaskState.CANCELLED:
            self.message = self.error or "cancelled"
        else:
            self.message = f"failed: {self.error}"

    def error_raised(self) -> ServiceError:
        """The error of an ended task as it was raised where the work ran (same status and code)."""
        detail, code = self.error or "processing failed", self.error_code or "inference_failed"
        if self.error_status == 503:
            return Busy(detail, retry_after=RETRY_AFTER, code=code)
        return ServiceError(detail, code=code, status_code=self.error_status or 500)

    def snapshot(self) -> TaskSnapshot:
        """Where the task stands now (GET /task-status, progress messages)."""
        items = None
        if self.kind == "batch":
            items = [ItemStatus(i.index, i.name, i.status, i.error,
                                f"/api/v1/task-result/{self.task_id}/{i.index}" if i.result is not None else None)
                     for i in self.items]
        return TaskSnapshot(
            task_id=self.task_id, status=self.status, stage=self.stage, overall_progress=self.overall_progress,
            stage_progress=self.stage_progress, current_region=self.current_region,
            total_regions=self.total_regions, message=self.message, elapsed_time=self.elapsed,
            estimated_remaining=self.estimated_remaining(), error=self.error, created_at=iso(self.created_at),
            started_at=iso(self.started_at), completed_at=iso(self.completed_at), result_path=self.result_path,
            kind=self.kind, stats=self.stats, items=items)


RETRY_AFTER = 5  # seconds a client is told to wait when a worker or the task store is busy


def output_of(task: Task) -> pipeline.InpaintOutput:
    """A single job's whole output, its bytes included (a ValueError for a task that keeps none)."""
    if task.output is None:
        raise ValueError(f"task {task.task_id!r} keeps no output")
    return dataclasses.replace(task.output, data=task.result or b"")


# --- records as JSON (no pickle: what a shared store returns is data, never code) ---
_TASK_FIELDS = {f.name for f in dataclasses.fields(Task)} - {"cancel_event", "result", "items"}
_ITEM_FIELDS = {f.name for f in dataclasses.fields(BatchItem)} - {"result"}


def encode_task(task: Task) -> str:
    d: dict[str, Any] = {k: plain(getattr(task, k)) for k in _TASK_FIELDS - {"output"}}
    d["output"] = _output_record(task.output) if task.output is not None else None
    d["items"] = [{**{k: plain(getattr(i, k)) for k in _ITEM_FIELDS}, "has_result": i.result is not None}
                  for i in task.items]
    return json.dumps(d, separators=(",", ":"))


def decode_task(raw: str | bytes) -> Task:
    d = json.loads(raw)
    items = [BatchItem(**_members({k: v for k, v in i.items() if k in _ITEM_FIELDS}, Stats),
                       result=b"" if i.get("has_result") else None) for i in d.pop("items", [])]
    stats = _STATS_OF_KIND.get(d.get("kind", "inpaint"), Stats)
    return Task(**_members({k: v for k, v in d.items() if k in _TASK_FIELDS}, stats), items=items)


def _members(d: dict[str, Any], stats: type[TaskStats]) -> dict[str, Any]:
    """JSON keeps a status or a stage as its value, and statistics as their JSON form: the enum
    member again, and the statistics' dataclass (`stats`), as the record types them."""
    if "status" in d:
        d["status"] = TaskState(d["status"])
    if d.get("stage") is not None:
        d["stage"] = Stage(d["stage"])
    if d.get("stats") is not None:
        d["stats"] = read(stats, d["stats"])
    if d.get("output") is not None:
        d["output"] = read(pipeline.InpaintOutput, {**d["output"], "data": b""})
    return d


def _output_record(out: pipeline.InpaintOutput) -> dict[str, Any]:
    """The whole output of the pipeline but its bytes, as JSON-ready data."""
    record: dict[str, Any] = plain(out)
    del record["data"]
    return record


def task_id_conflict(task_id: str, status: str) -> Conflict:
    """The 409 for a task_id a live (or kept) task already has."""
    return Conflict(f"task {task_id!r} is already {status}; choose another task_id", code="task_id_conflict")


def task_not_found(task_id: str) -> NotFound:
    """The 404 for an id with no record, in memory or in the shared store."""
    return NotFound(f"no task {task_id!r} (unknown, or its record was evicted)", code="task_not_found")


def batch_zip(task: Task) -> bytes:
    """A batch's results: one file per completed item, named by index (and the caller's name)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for item in task.items:
            if item.result is not None:
                ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(item.media_type or "", "bin")
                stem = f"{item.index:03d}" + (f"-{_safe(item.name)}" if item.name else "")
                z.writestr(f"{stem}.{ext}", item.result)
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64].rsplit(".", 1)[0]
