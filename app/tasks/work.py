"""A task's work in a worker thread, and the progress it reports back to the event loop.

`TaskWork` is what the runner calls for one task: every job through `inpaint_job`
(app.execution.service; a batch item by item, a failed item fails alone), or detect-text's work
(`detect_job`) for a job of kind `detect` (ROLE=api sends those to the workers). Each step is handed to the event loop, where the record
moves and the manager publishes it; the thread never touches the record itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from app.engine import pipeline
from app.engine.models import InpaintModel
from app.engine.pipeline import Stage
from app.engine.stats import Verification
from app.errors import Cancelled, InvalidInput, ServiceError
from app.execution.service import Observe, detect_job, inpaint_job
from app.tasks.records import BatchStats, DetectStats, LineCounts, Task, TaskState, stage_percent
from app.wire import plain

Outcome = list["pipeline.InpaintOutput | ServiceError"] | bytes  # a detect job answers its JSON


@dataclass(frozen=True)
class Tools:
    """What a task's work runs with. The model and the detector are read when a run starts (they
    load after start-up)."""

    model: Callable[[], InpaintModel | None]
    detector: Callable[[], Any] = lambda: None
    limits: pipeline.Limits = field(default_factory=pipeline.Limits.defaults)
    observe: Observe = lambda *_, **__: None  # the pipeline's metrics (Metrics.observe_pipeline)


class TaskWork:
    """One task's run in a worker thread; `changed(task, force)` is called on the loop after each step."""

    def __init__(self, task: Task, jobs: list[pipeline.InpaintInput], model: InpaintModel | None,
                 limits: pipeline.Limits, detector: Any, observe: Observe, loop: asyncio.AbstractEventLoop,
                 changed: Callable[[Task, bool], None]):
        self.task, self.jobs, self.model, self.limits, self.detector = task, jobs, model, limits, detector
        self.observe, self.loop, self.changed = observe, loop, changed

    def __call__(self) -> Outcome:
        if self.task.cancel_event.is_set():
            raise Cancelled("cancelled before it started")
        if not self.jobs:
            raise InvalidInput("the task's input could not be read", code="invalid_task")
        if self.task.kind == "detect":
            return self._detect()
        if self.model is None:
            raise Cancelled("no model is loaded on this replica")
        self.loop.call_soon_threadsafe(self._started)
        batch, n = self.task.kind == "batch", len(self.jobs)  # a batch of one still reports per item
        outputs: list[pipeline.InpaintOutput | ServiceError] = []
        region_base = 0
        for i, job in enumerate(self.jobs):
            def report(stage: Stage, fraction: float, current: int, total: int, msg: str, _i: int = i) -> None:
                if batch:  # stages repeat per item, overall progress spans the items
                    overall = (_i + stage_percent(stage, fraction) / 100) / n
                    self.loop.call_soon_threadsafe(self._advance_batch, stage, overall, fraction,
                                                   region_base + current, f"item {_i + 1} of {n}: {msg}")
                else:
                    self.loop.call_soon_threadsafe(self._advance, stage, fraction, current, total, msg)

            try:
                out = inpaint_job(job, self.model, self.limits, self.detector, cancel=self.task.cancel_event,
                              report=report, observe=self.observe)  # stops at its next step once cancelled
            except Cancelled:
                raise
            except ServiceError as e:
                if not batch:
                    raise
                outputs.append(e)
                self.loop.call_soon_threadsafe(self._item_done, i, None, e)
                continue
            outputs.append(out)
            region_base += out.regions_count
            if batch:
                self.loop.call_soon_threadsafe(self._item_done, i, out, None)
        return outputs

    def _detect(self) -> bytes:
        self.loop.call_soon_threadsafe(self._started)
        job = self.jobs[0]
        found = detect_job(job.image, job.regions or [], self.detector, self.limits, self.observe, job.recognize,
                           job.describe)
        return json.dumps(plain(found)).encode()

    # --- on the event loop ---
    def _started(self) -> None:
        task = self.task
        if task.status == TaskState.PENDING:
            task.started_at = task.started_at or time.time()
            task.advance(Stage.PREPARING, 0.0, 0, task.total_regions, "started")
            self.changed(task, True)

    def _advance(self, stage: Stage, fraction: float, current: int, total: int, msg: str) -> None:
        if not self.task.finished:
            self.task.advance(stage, fraction, current, total, msg)
            self.changed(self.task, False)

    def _advance_batch(self, stage: Stage, overall: float, fraction: float, current: int, msg: str) -> None:
        task = self.task
        if task.finished:
            return
        task.stage, task.stage_progress, task.message = stage, round(fraction * 100, 1), msg
        task.status = TaskState.PREPARING if stage == Stage.PREPARING and overall == 0 else TaskState.PROCESSING
        task.overall_progress = max(task.overall_progress, round(min(99.0, overall * 100), 1))
        task.current_region = current
        self.changed(task, False)

    def _item_done(self, index: int, out: pipeline.InpaintOutput | None, err: ServiceError | None) -> None:
        item = self.task.items[index]
        if out is not None:
            item.status, item.result = TaskState.COMPLETED, out.data
            item.media_type, item.stats = out.media_type, out.stats()
        else:
            item.status, item.error = TaskState.ERROR, err.detail if err else "failed"
        self.task.total_regions = sum(i.stats.regions_processed for i in self.task.items if i.stats is not None)


def complete(task: Task, outcome: Outcome) -> ServiceError | None:
    """Put a finished run's results on its record; the error that fails it (a batch whose every
    item failed), or None when it completed."""
    if isinstance(outcome, bytes):  # detect-text's answer
        task.result, task.media_type = outcome, "application/json"
        task.stats = DetectStats(regions_found=len(json.loads(outcome).get("regions", [])))
        return None
    if task.kind == "batch":
        ok = [o for o in outcome if isinstance(o, pipeline.InpaintOutput)]
        task.media_type = "application/zip"  # built on request from the items' results
        checks = [o.verification for o in ok if o.verification is not None]
        read = [o.text_lines for o in ok if o.text_lines is not None]
        task.stats = BatchStats(
            items=len(outcome), items_completed=len(ok), items_failed=len(outcome) - len(ok),
            regions_processed=sum(o.regions_count for o in ok),
            # the batch's verification: every item's regions, the worst residual
            verification=Verification(regions_checked=sum(v.regions_checked for v in checks),
                                      regions_repaired=sum(v.regions_repaired for v in checks),
                                      residual_max=max(v.residual_max for v in checks)) if checks else None,
            # the batch's lines: every item's counts (each item's lines are in its own stats)
            text_lines=LineCounts(found=sum(t.found for t in read), read=sum(t.read for t in read),
                                  removed=sum(t.removed for t in read),
                                  partly_removed=sum(t.partly_removed for t in read),
                                  kept=sum(t.kept for t in read)) if read else None)
        return None if ok else ServiceError("every item of the batch failed", code="batch_failed", status_code=422)
    out = outcome[0]
    assert isinstance(out, pipeline.InpaintOutput)  # a single job's failure was raised, not returned
    task.result, task.media_type, task.stats = out.data, out.media_type, out.stats()
    task.output = dataclasses.replace(out, data=b"")  # its bytes are the result's
    task.total_regions = task.current_region = out.regions_count
    return None
