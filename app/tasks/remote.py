"""ROLE=api: the routes' synchronous work runs on the workers, through the shared queue. In
Execution's place (app.main.build_services chooses), with the same three calls for the routes.

A job is submitted as a task (kind `inpaint` or `detect`) and waited for: the bus's final message,
with a look at the store each second. The answer is the worker's own: the whole output record
stored with the task (JPEG block figures included) and its bytes, or its error with the status
and code it was raised with. Execution's one wait (app.execution.service, `Execution.wait`)
bounds it with REQUEST_TIMEOUT and maps its errors; cancelling the wait cancels the task, on
whichever worker runs it. A request's way on such a replica: api -> tasks -> execution.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from app.engine import pipeline
from app.engine.masks import Region
from app.errors import Cancelled, ServiceError, backend_unavailable
from app.execution.service import DetectedText, Execution
from app.tasks.bus import FINALS
from app.tasks.manager import TaskManager, TaskOptions
from app.tasks.progress import Subscriber
from app.tasks.records import RETRY_AFTER, Task, TaskState, output_of
from app.wire import read


class RemoteWorkers:
    description = "API only (ROLE=api): work runs on the workers through the shared queue"

    def __init__(self, tasks: TaskManager, execution: Execution):
        self.tasks, self.execution = tasks, execution

    def runs_elsewhere(self) -> str:
        """Where the work runs (health's message on an API-only replica)."""
        return self.description

    async def inpaint(self, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
        """A sync request's job, on a worker."""
        return await self.execution.wait(self._inpaint(job))

    async def detect(self, image: bytes | str, regions: list[Region], recognize: bool = False,
                     describe: bool = False) -> DetectedText:
        """detect-text's answer, on a worker (the detector lives there)."""
        return await self.execution.wait(self._detect(image, regions, recognize, describe), what="text detection")

    async def _inpaint(self, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
        task = await self._submit_and_wait(job, "inpaint")
        return output_of(task)

    async def _detect(self, image: bytes | str, regions: list[Region], recognize: bool,
                      describe: bool) -> DetectedText:
        """/detect-text on a worker: the image, search regions, `recognize` and `describe` travel as a job
        of kind `detect`; its answer comes back as its JSON form (app.wire)."""
        job = pipeline.InpaintInput(image=image, regions=regions, recognize=recognize, describe=describe)
        task = await self._submit_and_wait(job, "detect")
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
                msg = await asyncio.wait_for(sub.mailbox.get(), 1.0)
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
