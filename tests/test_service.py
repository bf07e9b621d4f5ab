"""app.execution.service: the one way work runs (inpaint_job in a worker thread; Execution's one wait, for work
here and for work on a worker replica)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from app.engine import pipeline
from app.engine.masks import Region
from app.errors import Cancelled, InferenceFailed, Timeout
from app.metrics import Metrics
from app.execution.service import Execution, inpaint_job
from app.tasks.remote import RemoteWorkers
from tests.support import png_bytes, text_image


class Broken:
    name, device = "broken", "cpu"

    def __call__(self, rgb, mask, params):
        raise KeyError("internal detail")


class Filler:
    name, device = "filler", "cpu"

    def __call__(self, rgb, mask, params):
        return np.full_like(rgb, 200)


JOB = pipeline.InpaintInput(image=png_bytes(text_image()), regions=[Region.box(40, 80, 160, 40)])


def test_run_job_reports_each_stage_and_stops_once_cancelled():
    seen: list[str] = []
    out = inpaint_job(JOB, Filler(), pipeline.Limits.defaults(), None, report=lambda stage, *_: seen.append(stage))
    assert out.regions_count == 1 and out.media_type == "image/png"
    assert seen[0] == "preparing" and "inpainting" in seen
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        inpaint_job(JOB, Filler(), pipeline.Limits.defaults(), None, cancel=cancel)


def test_run_job_turns_a_model_failure_into_inference_failed_without_internals():
    outcomes: list[str] = []
    with pytest.raises(InferenceFailed) as e:
        inpaint_job(JOB, Broken(), pipeline.Limits.defaults(), None, observe=lambda *_, outcome="ok": outcomes.append(outcome))
    assert e.value.status_code == 500 and "internal detail" not in e.value.detail
    assert outcomes == ["error"]


def test_remote_work_is_waited_for_like_local_work():
    """Execution's one wait, for a job on a worker (app.tasks.remote through `Execution.wait`):
    REQUEST_TIMEOUT -> 504 and the remote wait cancelled (which cancels the queued task); a failure
    that is not a ServiceError -> 500 `inference_failed` without internals; the caller going away
    cancels it too."""
    class FakeWorkers(RemoteWorkers):
        def __init__(self, behaviour, execution):
            super().__init__(None, execution)
            self.behaviour, self.cancelled = behaviour, asyncio.Event()

        async def _submit_and_wait(self, job, kind):  # the task's submit and wait, as it behaves
            try:
                return await self.behaviour()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise

    async def forever():
        await asyncio.Event().wait()

    async def broken():
        raise KeyError("internal detail")

    async def run():
        ex = Execution(runner=None, models=None, limits=None, metrics=Metrics(), request_timeout=0.2)
        slow = FakeWorkers(forever, ex)
        with pytest.raises(Timeout, match=r"processing took longer than REQUEST_TIMEOUT \(0.2 s\)") as e:
            await slow.inpaint(None)
        assert (e.value.status_code, e.value.code) == (504, "timeout")
        await asyncio.wait_for(slow.cancelled.wait(), 2)  # the remote wait was stopped
        with pytest.raises(Timeout, match="text detection took longer"):
            await slow.detect(b"", [])

        with pytest.raises(InferenceFailed) as e:
            await FakeWorkers(broken, ex).inpaint(None)
        assert e.value.status_code == 500 and "internal detail" not in e.value.detail

        gone = FakeWorkers(forever, ex)
        ex.request_timeout = 30
        request = asyncio.ensure_future(gone.inpaint(None))
        await asyncio.sleep(0.05)
        request.cancel()  # the client went away
        await asyncio.wait_for(gone.cancelled.wait(), 2)

    asyncio.run(run())
