"""Asynchronous routes: submit (single and batch), status, cancel, result, list."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from app.api.bodies import BATCH, SUBMIT, BatchRequest, SubmitRequest
from app.api.deps import Services, ServicesDep
from app.api.schemas.requests import AsyncOptions, RegionsParams
from app.api.schemas.responses import CancelAnswer, SubmitAnswer, TasksSummary, TaskStatus, error_responses
from app.errors import Conflict, InvalidInput, NotFound
from app.tasks.manager import TaskManager, TaskOptions
from app.tasks.records import Task, TaskState, batch_zip

router = APIRouter(prefix="/api/v1", tags=["tasks"])

TaskId = Annotated[str, Path(min_length=1, max_length=200)]


_SUBMIT_ERRORS = error_responses(409, 413, 415, 422, 503)
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_RESULT = {"description": "the result image (a ZIP of the items' images for a batch)",
           "content": {m: _BINARY for m in ("image/png", "image/jpeg", "image/webp", "application/zip")}}


def get_manager(s: ServicesDep) -> TaskManager:
    return s.tasks


ManagerDep = Annotated[TaskManager, Depends(get_manager)]


def websocket_url(request: Request, task_id: str) -> str:
    """ws(s)://<the request's own host>/api/v1/ws/progress/<id>; wss behind TLS (or a proxy saying so)."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    scheme = "wss" if proto in ("https", "wss") else "ws"
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{scheme}://{host.split(',')[0].strip()}/api/v1/ws/progress/{task_id}"


def _options(p: AsyncOptions, s: Services) -> TaskOptions:
    if p.callback_url is not None:  # "" too: not an http(s) URL
        s.callback_policy.check_url(p.callback_url)
    return TaskOptions(task_id=p.task_id, enable_progress=p.enable_progress,
                       progress_interval=p.progress_interval, callback_url=p.callback_url)


def _answer(request: Request, task: Task, enable_progress: bool, what: str) -> SubmitAnswer:
    return SubmitAnswer.of(task, what, websocket_url(request, task.task_id) if enable_progress else None)


@router.post("/inpaint-regions-async", summary="Submit a text-removal task; answers at once",
             response_model=SubmitAnswer, responses=_SUBMIT_ERRORS,
             openapi_extra=SUBMIT.doc.openapi_extra())
async def submit(request: Request, parsed: SubmitRequest, s: ServicesDep, tasks: ManagerDep) -> SubmitAnswer:
    job = parsed.params.to_input(parsed.image, parsed.mask, s.settings)
    opts = _options(parsed.params, s)
    task = await tasks.submit([job], opts)
    return _answer(request, task, opts.enable_progress, "task")


@router.post("/inpaint-batch-async", summary="Submit several images as one task (per-item results)",
             response_model=SubmitAnswer, responses=_SUBMIT_ERRORS, openapi_extra=BATCH.openapi_extra())
async def submit_batch(request: Request, b: BatchRequest, s: ServicesDep, tasks: ManagerDep) -> SubmitAnswer:
    if len(b.items) > s.settings.max_batch_items:
        raise InvalidInput(f"{len(b.items)} items, over the limit of {s.settings.max_batch_items}",
                           code="too_many_items")
    jobs = []
    for i, item in enumerate(b.items):
        params = RegionsParams.model_validate({**b.model_dump(exclude={"items"}), "regions": item.regions,
                                               "detect": item.detect})
        jobs.append(params.to_input(item.image, item.mask, s.settings, f"items[{i}]"))
    opts = _options(b, s)
    task = await tasks.submit(jobs, opts, batch=True, names=[it.name for it in b.items])
    return _answer(request, task, opts.enable_progress, f"batch of {len(jobs)}")


@router.get("/task-status/{task_id}", summary="A task's state and progress", response_model=TaskStatus,
            responses=error_responses(404, 422))
async def task_status(task_id: TaskId, tasks: ManagerDep) -> TaskStatus:
    return TaskStatus.of(await tasks.get(task_id))


@router.post("/cancel-task/{task_id}", summary="Cancel a task; a running one stops at its next step",
             response_model=CancelAnswer, responses=error_responses(404, 409, 422))
async def cancel_task(task_id: TaskId, tasks: ManagerDep) -> CancelAnswer:
    task = await tasks.cancel_task(task_id)
    if task.status == TaskState.COMPLETED:
        raise Conflict(f"task {task_id!r} has already completed", code="task_finished")
    if task.finished and task.status != TaskState.CANCELLED:
        raise Conflict(f"task {task_id!r} has already ended ({task.status})", code="task_finished")
    return CancelAnswer.of(task)


@router.get("/task-result/{task_id}", summary="The finished image (a ZIP for a batch)", response_class=Response,
            responses={200: _RESULT, **error_responses(404, 409, 422)})
async def task_result(task_id: TaskId, tasks: ManagerDep) -> Response:
    task = await tasks.get_with_result(task_id)
    if task.status != TaskState.COMPLETED:
        raise Conflict(f"task {task_id!r} is {task.status}, not completed", code="task_not_finished")
    # a batch's ZIP copies and checksums every item: off the event loop
    data = await asyncio.to_thread(batch_zip, task) if task.kind == "batch" else task.result
    return Response(data, media_type=task.media_type,
                    headers={"X-Task-Id": task.task_id, "X-Regions-Count": str(task.total_regions)})


@router.get("/task-result/{task_id}/{index}", summary="One item of a finished batch", response_class=Response,
            responses={200: _RESULT, **error_responses(404, 409, 422)})
async def task_item_result(task_id: TaskId, index: int, tasks: ManagerDep) -> Response:
    task = await tasks.get_with_result(task_id)
    if task.kind != "batch" or not 0 <= index < len(task.items):
        raise NotFound(f"task {task_id!r} has no item {index}", code="item_not_found")
    item = task.items[index]
    if item.result is None:
        raise Conflict(f"item {index} is {item.status}" + (f": {item.error}" if item.error else ""),
                       code="item_not_finished")
    return Response(item.result, media_type=item.media_type)


@router.get("/tasks", summary="Counts of tasks, and the queue", response_model=TasksSummary)
async def list_tasks(s: ServicesDep, tasks: ManagerDep) -> TasksSummary:
    return TasksSummary.of(await tasks.counts(), s.runner.stats)
