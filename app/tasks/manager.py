"""Async tasks: submit, run through the shared runner and pipeline, report, cancel, shut down.

Progress flows one way: the pipeline (worker thread) reports each step; the manager moves the
task record on the event loop and publishes to the hub, which fans out to WebSockets; callbacks
go out when a task ends. Nothing polls. A cancelled task stops at its next step.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

from app.context import request_id
from app.engine import pipeline
from app.engine.models import InpaintModel
from app.errors import Busy, Cancelled, ServiceError
from app.service import Observe, run_job
from app.tasks.callbacks import CallbackSender
from app.tasks.progress import ProgressHub, message
from app.tasks.registry import (CANCELLED, COMPLETED, ERROR, PENDING, BatchItem, Task, TaskRegistry,
                                stage_percent)
from app.tasks.runner import InferenceRunner

log = logging.getLogger("app.tasks")


@dataclass
class TaskOptions:
    task_id: str | None = None
    enable_progress: bool = True
    progress_interval: float = 0.0  # seconds between progress_update messages (finals always go out)
    callback_url: str | None = None


class TaskManager:
    def __init__(self, registry: TaskRegistry, runner: InferenceRunner, hub: ProgressHub,
                 callbacks: CallbackSender, limits: pipeline.Limits,
                 model: Callable[[], InpaintModel | None], detector: Callable[[], Any] = lambda: None,
                 observe: Observe = lambda *_, **__: None):
        self.registry, self.runner, self.hub, self.callbacks, self.limits = registry, runner, hub, callbacks, limits
        self._model, self._detector, self._observe = model, detector, observe
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._futures: dict[str, Any] = {}  # task id -> the runner's future, to drop a pending one
        self._last_publish: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self.closing = False

    # --- the interface the routes use (the Redis manager implements the same, over the network) ---
    async def start(self) -> None:
        """Background work the backend needs (none in memory)."""

    async def admit(self, jobs: list[pipeline.InpaintInput], opts: TaskOptions, *, batch: bool = False,
                    names: list[str | None] | None = None) -> Task:
        return self.submit(jobs, opts, batch=batch, names=names)

    async def find(self, task_id: str) -> Task | None:
        return self.registry.find(task_id)

    async def get(self, task_id: str) -> Task:
        return self.registry.get(task_id)

    async def get_with_result(self, task_id: str) -> Task:
        """The task with its result bytes (in memory they are always there)."""
        return self.registry.get(task_id)

    async def cancel_task(self, task_id: str) -> Task:
        return self.cancel(task_id)

    async def counts(self) -> dict[str, Any]:
        return self.registry.counts()

    def backend_state(self) -> dict[str, Any]:
        """For /health: where tasks live and whether that store answers."""
        return {"backend": "memory", "state": "up"}

    # --- submit ---
    def submit(self, jobs: list[pipeline.InpaintInput], opts: TaskOptions, *, batch: bool = False,
               names: list[str | None] | None = None) -> Task:
        """Admit a task (409 on a live duplicate id, 503 when the queue is full) and start it."""
        if self.closing:
            raise Busy("the service is shutting down", retry_after=10, code="shutting_down")
        model = self._model()
        if model is None:
            raise Busy("the model is still loading; retry shortly", retry_after=5, code="model_loading")
        task = self.registry.create(opts.task_id, kind="batch" if batch else "inpaint",
                                    callback_url=opts.callback_url)
        try:
            slot = self.runner.reserve()
        except Busy:
            self.registry.discard(task.task_id)
            raise
        task.estimate_seconds = self.runner.estimate_seconds() * max(1, len(jobs))
        if batch:
            task.items = [BatchItem(index=i, name=(names or [None] * len(jobs))[i]) for i in range(len(jobs))]
        self._intervals[task.task_id] = opts.progress_interval if opts.enable_progress else float("inf")
        cf = self.runner.submit(slot, self._work, task, jobs, model, asyncio.get_running_loop())
        runner_task = asyncio.create_task(self._finish_when_done(task, cf))
        self._running[task.task_id], self._futures[task.task_id] = runner_task, cf

        def forget(_: object) -> None:
            if self._running.get(task.task_id) is runner_task:
                del self._running[task.task_id], self._futures[task.task_id]

        runner_task.add_done_callback(forget)
        task.message = f"queued ({self.runner.stats['queued']} ahead)"
        self._publish_progress(task, force=True)
        log.info("task submitted task_id=%s kind=%s items=%d request_id=%s", task.task_id, task.kind, len(jobs),
                 request_id.get())
        return task

    # --- the work, in a worker thread ---
    def _work(self, task: Task, jobs: list[pipeline.InpaintInput], model: InpaintModel,
              loop: asyncio.AbstractEventLoop) -> Any:
        detector = self._detector()
        n = len(jobs)
        batch = task.kind == "batch"  # a batch of one still reports per item (its result lives there)
        region_base = 0

        if task.cancel_event.is_set():
            raise Cancelled("cancelled before it started")
        loop.call_soon_threadsafe(self._started, task)
        outputs: list[pipeline.InpaintOutput | ServiceError] = []
        for i, job in enumerate(jobs):
            def report(stage: str, fraction: float, current: int, total: int, msg: str, _i: int = i) -> None:
                if batch:  # stages repeat per item, overall progress spans the items
                    frac = (_i + stage_percent(stage, fraction) / 100) / n
                    stage_name, msg = stage, f"item {_i + 1} of {n}: {msg}"
                    loop.call_soon_threadsafe(self._advance_batch, task, stage_name, frac, fraction,
                                              region_base + current, msg)
                else:
                    loop.call_soon_threadsafe(self._advance, task, stage, fraction, current, total, msg)

            try:
                out = run_job(job, model, self.limits, detector, cancel=task.cancel_event, report=report,
                              observe=self._observe)  # stops at its next step once cancelled
                outputs.append(out)
                region_base += out.regions_count
                if batch:
                    loop.call_soon_threadsafe(self._item_done, task, i, out, None)
            except Cancelled:
                raise
            except ServiceError as e:
                if not batch:
                    raise
                outputs.append(e)
                loop.call_soon_threadsafe(self._item_done, task, i, None, e)
        return outputs

    # --- state changes, on the event loop ---
    def _started(self, task: Task) -> None:
        if task.status == PENDING:
            task.started_at = time.time()
            task.advance("preparing", 0.0, 0, task.total_regions, "started")
            self._publish_progress(task, force=True)
            log.info("task started task_id=%s", task.task_id)

    def _advance(self, task: Task, stage: str, fraction: float, current: int, total: int, msg: str) -> None:
        if task.finished:
            return
        task.advance(stage, fraction, current, total, msg)
        self._publish_progress(task)

    def _advance_batch(self, task: Task, stage: str, overall: float, fraction: float, current: int, msg: str) -> None:
        if task.finished:
            return
        task.stage, task.stage_progress, task.message = stage, round(fraction * 100, 1), msg
        task.status = "preparing" if stage == "preparing" and overall == 0 else "processing"
        task.overall_progress = max(task.overall_progress, round(min(99.0, overall * 100), 1))
        task.current_region = current
        self._publish_progress(task)

    def _item_done(self, task: Task, index: int, out: pipeline.InpaintOutput | None, err: ServiceError | None) -> None:
        item = task.items[index]
        if out is not None:
            item.status, item.result, item.media_type, item.stats = COMPLETED, out.data, out.media_type, out.stats()
        else:
            item.status, item.error = ERROR, err.detail if err else "failed"
        task.total_regions = sum((i.stats or {}).get("regions_processed", 0) for i in task.items)

    async def _finish_when_done(self, task: Task, cf: Future[Any]) -> None:
        try:
            outputs = await asyncio.wrap_future(cf)
        except asyncio.CancelledError:  # dropped while pending, or the loop is closing
            if not task.finished:
                self._end(task, CANCELLED, error="cancelled")
            return
        except Cancelled:
            self._end(task, CANCELLED)
            return
        except ServiceError as e:
            self._end(task, ERROR, error=e.detail, code=e.code)
            return
        except Exception as e:  # a model failure: reported, never a crash
            log.exception("task failed task_id=%s", task.task_id)
            self._end(task, ERROR, error=f"processing failed: {type(e).__name__}", code="inference_failed")
            return
        if task.cancel_event.is_set():  # cancelled after its last step: still cancelled, never completed
            self._end(task, CANCELLED)
            return
        if task.kind == "batch":
            ok = [o for o in outputs if isinstance(o, pipeline.InpaintOutput)]
            task.media_type = "application/zip"  # built on request from the items' results
            task.stats = {"items": len(outputs), "items_completed": len(ok), "items_failed": len(outputs) - len(ok),
                          "regions_processed": sum(o.regions_count for o in ok)}
            checks = [o.verification for o in ok if o.verification is not None]
            if checks:  # the batch's verification: every item's regions, the worst residual
                task.stats["verification"] = {
                    "regions_checked": sum(v["regions_checked"] for v in checks),
                    "regions_repaired": sum(v["regions_repaired"] for v in checks),
                    "residual_max": max(v["residual_max"] for v in checks)}
            if not ok:
                self._end(task, ERROR, error="every item of the batch failed", code="batch_failed")
                return
        else:
            out = outputs[0]
            task.result, task.media_type, task.stats = out.data, out.media_type, out.stats()
            task.total_regions = task.current_region = out.regions_count
        self._end(task, COMPLETED)

    def _end(self, task: Task, status: str, error: str | None = None, code: str | None = None) -> None:
        if task.finished:
            return
        self._mark_end(task, status, error, code)
        self._announce_end(task)

    def _mark_end(self, task: Task, status: str, error: str | None, code: str | None) -> None:
        """The record's final state (no messages yet: a shared store first decides who ended it)."""
        task.status, task.completed_at = status, time.time()
        task.error, task.error_code = error, code
        if status == COMPLETED:
            task.overall_progress, task.stage_progress, task.stage = 100.0, 100.0, "finalizing"
            task.message = "completed"
        elif status == CANCELLED:
            task.message = error or "cancelled"
        else:
            task.message = f"failed: {error}"

    def _announce_end(self, task: Task) -> None:
        """The final messages, the callback, and the record's place in the eviction order."""
        status, error = task.status, task.error
        self._publish_progress(task, force=True)
        base = {"task_id": task.task_id, "elapsed_time": task.elapsed}
        if status == COMPLETED:
            self.hub.publish(task.task_id, message("task_completed", **base, result_path=task.result_path,
                                                   total_regions=task.total_regions))
        elif status == ERROR:
            self.hub.publish(task.task_id, message("task_failed", **base, error=error, error_message=error))
        else:
            self.hub.publish(task.task_id, message("task_cancelled", **base))
        log.info("task ended task_id=%s status=%s elapsed=%.3f%s", task.task_id, status, task.elapsed,
                 f" error={error}" if error else "")
        self._send_callback(task)
        self._intervals.pop(task.task_id, None)
        self._last_publish.pop(task.task_id, None)
        self.registry.finish(task)

    def _send_callback(self, task: Task) -> None:
        if not task.callback_url or task.status == CANCELLED:
            return
        import base64

        if task.status == COMPLETED:
            payload = {"task_id": task.task_id, "status": "completed",
                       "image_data": base64.b64encode(task.result or b"").decode(),
                       "timestamp": time.time(), "processing_time": task.elapsed,
                       "regions_processed": task.total_regions, "media_type": task.media_type}
            if task.stats and "verification" in task.stats:
                payload["verification"] = task.stats["verification"]
        else:
            payload = {"task_id": task.task_id, "status": "error", "error": task.error, "timestamp": time.time()}
        self.callbacks.send(task.callback_url, payload, task.task_id)

    def progress_message(self, task: Task) -> dict[str, Any]:
        snap = task.snapshot()
        fields = {k: snap[k] for k in ("task_id", "status", "stage", "overall_progress", "stage_progress",
                                       "current_region", "total_regions", "message", "elapsed_time",
                                       "estimated_remaining", "error", "result_path")}
        if task.kind == "batch":
            fields["items"] = snap["items"]
        return message("progress_update", progress=task.overall_progress, **fields)

    def _publish_progress(self, task: Task, force: bool = False) -> None:
        interval = self._intervals.get(task.task_id, 0.0)
        if not force and not self.hub.subscribers(task.task_id):
            return
        now = time.monotonic()
        if not force and (interval == float("inf") or now - self._last_publish.get(task.task_id, 0) < interval):
            return
        self._last_publish[task.task_id] = now
        self.hub.publish(task.task_id, self.progress_message(task))

    # --- cancel, shutdown ---
    def cancel(self, task_id: str) -> Task:
        task = self.registry.get(task_id)
        if task.finished:
            return task
        task.cancel_event.set()
        if task.status == PENDING:  # not started: end it now and give its slot back
            cf = self._futures.get(task_id)
            if cf is not None:
                cf.cancel()
            self._end(task, CANCELLED)
        return task

    async def shutdown(self, grace: float) -> None:
        """Stop taking tasks, cancel the live ones, wait up to `grace` s for them to end."""
        self.closing = True
        live = [t for t in self.registry.all() if not t.finished]
        for t in live:
            t.cancel_event.set()
            if t.status == PENDING:
                cf = self._futures.get(t.task_id)
                if cf is not None:
                    cf.cancel()
                self._end(t, CANCELLED, error="cancelled: the service is shutting down")
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for t in self.registry.all():
            if not t.finished:
                self._end(t, CANCELLED, error="cancelled: the service is shutting down")


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
