"""ROLE=api: the routes' synchronous work runs on the workers, through the shared queue
(implements app.service.Remote).

A job is submitted as a task (kind `inpaint` or `detect`) and waited for: the bus's final message,
with a look at the store each second. The answer is the worker's own: the whole output record
stored with the task (JPEG block figures included) and its bytes, or its error with the status
and code it was raised with. The caller (app.service.Execution) bounds the wait with
REQUEST_TIMEOUT; cancelling the wait cancels the task, on whichever worker runs it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from app.engine import pipeline
from app.engine.masks import Region
from app.errors import Cancelled, ServiceError, backend_unavailable
from app.service import DetectedText
from app.tasks.bus import FINALS
from app.tasks.manager import TaskManager, TaskOptions
from app.tasks.progress import Subscriber
from app.tasks.records import RETRY_AFTER, Task, TaskState, output_of
from app.wire import read


class RemoteWorkers:
    description = "API only (ROLE=api): work runs on the workers through the shared queue"

    def __init__(self, tasks: TaskManager):
        self.tasks = tasks

    async def inpaint(self, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
        task = await self._submit_and_wait(job, "inpaint")
        return output_of(task)

    async def detect(self, image: bytes | str, regions: list[Region], recognize: bool = False) -> DetectedText:
        """/detect-text on a worker: the image, search regions and `recognize` travel as a job of kind `detect`."""
        task = await self._submit_and_wait(pipeline.InpaintInput(image=image, regions=regions, recognize=recognize),
                                           "detect")
        return read(DetectedText, json.loads(task.result or b"{}"))

    async def _submit_and_wait(self, job: pipeline.InpaintInput, kind: str) -> Task:
        tid = f"sync-{uuid.uuid4()}"
        sub = Subscriber(tid, maxsize=16)
        bus = self.tasks.bus
        bus.subscribe(tid, sub)
        try:
            await self.tasks.submit([job], TaskOptions(task_id=tid, enable_progress=False), kind=kind)
            task = await self._wait(tid, sub)
        except asyncio.CancelledError:  # timed out, or the client went away: the work stops too
            await self._cancel_quietly(tid)
            raise
        finally:
            bus.unsubscribe(tid, sub)
        if task.status == TaskState.COMPLETED and task.result is not None:
            return task
        if task.status == TaskState.CANCELLED:
            raise Cancelled("the request was cancelled", code="cancelled")
        raise task.error_raised()

    async def _wait(self, tid: str, sub: Subscriber) -> Task:
        while True:
            try:
                msg = await asyncio.wait_for(sub.outbox.get(), 1.0)
                if msg.type not in FINALS:
                    continue
            except asyncio.TimeoutError:
                found = await self.tasks.find(tid)
                if found is None:  # the store lost it (Redis came back empty): say so, never wait forever
                    raise backend_unavailable("the task store lost the job (it restarted empty)", RETRY_AFTER) from None
                if not found.finished:
                    continue
            task = await self.tasks.get_with_result(tid)
            if task.finished:
                return task

    async def _cancel_quietly(self, tid: str) -> None:
        try:
            await asyncio.shield(self.tasks.cancel_task(tid))
        except ServiceError:
            pass
