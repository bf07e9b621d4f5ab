"""app.tasks.manager and its parts, one unit at a time: the manager over the memory store, the
record's error and output (nothing rebuilt from strings or stats), the relay's ordering of
messages that cross between replicas, and the task layer's shape."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import json
from pathlib import Path

import pytest

from app.engine import pipeline
from app.engine.jpeg_blocks import BlockStats
from app.engine.masks import Region
from app.engine.stats import Verification
from app.errors import Busy, InvalidImage, ServiceError, TooLarge
from app.execution.runner import InferenceRunner
from app.tasks.callbacks import CallbackPolicy, CallbackSender
from app.tasks.local import local_backend
from app.tasks.local.store import MemoryStore
from app.tasks.manager import TaskManager, TaskOptions, TaskPolicy
from app.tasks.progress import ProgressUpdate, Subscriber, TaskCompleted
from app.tasks.records import Task, TaskState, decode_task, encode_task, output_of
from app.tasks.redis.bus import RelayBus
from app.tasks.work import Tools
from tests.support import SlowModel, png_bytes, store_limits, text_image

REPO = Path(__file__).resolve().parent.parent
JOB = pipeline.InpaintInput(image=png_bytes(text_image()), regions=[Region.box(40, 80, 160, 40)])


class Sent(CallbackSender):
    """Records what would be sent (the manager decides what and when; delivery is tested elsewhere)."""

    def __init__(self):
        super().__init__(CallbackPolicy())
        self.sent = []

    def send(self, d, settled=None):
        self.sent.append(d)


def manager(model, max_queue=4):
    runner = InferenceRunner(1, max_queue)
    return TaskManager(local_backend(MemoryStore(**store_limits()), runner), runner, Sent(), Tools(model=lambda: model),
                       TaskPolicy(max_live=max_queue)), runner


def finals(sub: Subscriber) -> list[str]:
    out = []
    while not sub.mailbox.empty():
        m = sub.mailbox.get_nowait()
        if m.type != "progress_update":
            out.append(m.type)
    return out


def test_a_task_ends_once_with_one_final_message_and_one_callback():
    async def run():
        model = SlowModel(delay=0.05)
        tasks, runner = manager(model)
        sub = Subscriber("s")
        tasks.bus.subscribe("once", sub)
        await tasks.submit([JOB], TaskOptions(task_id="once", callback_url="http://127.0.0.1:9/hook"))
        while not (await tasks.get("once")).finished:
            await asyncio.sleep(0.01)
        task = await tasks.get("once")
        await tasks._end(task, TaskState.ERROR, ServiceError("late"))  # a second end (another replica's) changes nothing
        assert task.status == "completed" and finals(sub) == ["task_completed"]
        assert [json.loads(d.body)["status"] for d in tasks.callbacks.sent] == ["completed"]
        runner.shutdown()

    asyncio.run(run())


def test_a_pending_task_cancelled_never_runs_and_gives_its_slot_back():
    async def run():
        model = SlowModel()
        tasks, runner = manager(model, max_queue=2)
        await tasks.submit([JOB], TaskOptions(task_id="running"))
        await tasks.submit([JOB], TaskOptions(task_id="waiting"))
        while not model.started.is_set():
            await asyncio.sleep(0.01)
        with pytest.raises(Busy):
            await tasks.submit([JOB], TaskOptions(task_id="refused"))
        assert (await tasks.cancel_task("waiting")).status == "cancelled"
        await tasks.submit([JOB], TaskOptions(task_id="admitted"))  # the cancelled task's slot
        model.release.set()
        while not (await tasks.get("admitted")).finished:
            await asyncio.sleep(0.01)
        assert model.calls == 2 and (await tasks.get("waiting")).status == "cancelled"
        assert await tasks.find("refused") is None  # a refused submit leaves no record
        runner.shutdown()

    asyncio.run(run())


def test_a_task_keeps_its_whole_output_record():
    out = pipeline.InpaintOutput(data=b"jpeg", media_type="image/jpeg", width=3, height=2, regions_count=1,
                                 total_area=6, mask_area=4, crops=1, timings={"inpaint": 0.5}, detected=2,
                                 verification=Verification(regions_checked=1, regions_repaired=0, residual_max=0.0),
                                 jpeg=BlockStats(blocks_total=96, blocks_reencoded=12))
    task = Task(task_id="t", output=dataclasses.replace(out, data=b""))
    again = decode_task(encode_task(task))  # through JSON, as Redis keeps it
    again.result = b"jpeg"  # kept beside the record
    assert output_of(again) == out
    assert output_of(again).stats().jpeg_blocks_reencoded == 0.125


def test_messages_crossing_between_replicas_never_move_a_subscriber_backwards():
    """The admitting replica's `pending` and the running replica's progress can cross on the way."""
    async def run() -> list[tuple]:
        hub = RelayBus(None, "here")  # type: ignore[arg-type]  (nothing is written: no loop started)
        sub = Subscriber("c")
        hub.subscribe("t", sub)

        def progress(status, p, created=100.0):
            return ProgressUpdate(progress=p, task_id="t", status=TaskState(status), stage=None, overall_progress=p,
                                  stage_progress=0.0, current_region=0, total_regions=0, message="", elapsed_time=0.0,
                                  estimated_remaining=None, error=None, result_path=None, created=created)

        done = TaskCompleted(task_id="t", elapsed_time=0.0, result_path=None, total_regions=0)

        hub.deliver("t", progress("preparing", 0.0))   # from the replica running it
        hub.deliver("t", progress("processing", 40.0))
        hub.deliver("t", progress("pending", 0.0))     # the admitting replica's, late
        hub.deliver("t", progress("processing", 30.0))  # an older step, late
        hub.deliver("t", progress("completed", 100.0))
        hub.deliver("t", done)
        hub.deliver("t", done)    # twice: once only
        hub.deliver("t", progress("processing", 60.0))  # after the end
        hub.publish("t", progress("pending", 0.0, created=200.0))  # the id reused by a new task
        out = []
        while not sub.mailbox.empty():
            m = sub.mailbox.get_nowait()
            out.append((m.type, getattr(m, "status", None), getattr(m, "overall_progress", None)))
        relayed = [json.loads(e)["m"]["type"] for e in hub._events]
        assert relayed == ["progress_update"]  # what this replica publishes goes to the others too
        return out

    assert asyncio.run(run()) == [
        ("progress_update", "preparing", 0.0), ("progress_update", "processing", 40.0),
        ("progress_update", "completed", 100.0), ("task_completed", None, None),
        ("progress_update", "pending", 0.0)]


def test_a_workers_error_is_answered_as_where_it_ran():
    """A worker's error is kept with the task with its code, detail and HTTP status (the exception
    stays there); the API replica answers it the same, a 503 with its Retry-After."""
    def answered(error: ServiceError):
        task = Task(task_id="sync-1")
        task.mark_end(TaskState.ERROR, error)
        e = task.error_raised()
        return e.status_code, e.code, e.detail, e.headers.get("Retry-After")

    assert answered(InvalidImage("why")) == (400, "invalid_image", "why", None)
    assert answered(TooLarge("why", code="image_too_large")) == (413, "image_too_large", "why", None)
    assert answered(ServiceError("why", code="invalid_region", status_code=422)) == (422, "invalid_region", "why", None)
    assert answered(ServiceError("why", code="inference_failed", status_code=500)) == (500, "inference_failed", "why",
                                                                                      None)
    for busy in ("model_loading", "queue_full"):
        status, code, _, retry = answered(Busy("why", code=busy))
        assert (status, code) == (503, busy) and int(retry) > 0
    task = Task(task_id="t")
    task.mark_end(TaskState.ERROR, Busy("loading", code="model_loading"))
    assert isinstance(task.error_raised(), Busy)


def test_the_task_layer_stays_composed():
    """No class in app/tasks (its backends' folders too) over 300 lines; no subclass overriding
    another's private methods."""
    for path in sorted((REPO / "app" / "tasks").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            assert node.end_lineno - node.lineno < 300, f"{path.name}:{node.name}"
            private = {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       and f.name.startswith("_") and not f.name.startswith("__")}
            module = ".".join(p for p in path.relative_to(REPO).with_suffix("").parts if p != "__init__")
            cls = getattr(importlib.import_module(module), node.name)
            for parent in cls.__mro__[1:]:
                overridden = sorted(m for m in private if m in vars(parent))
                assert not overridden, f"{node.name} overrides {parent.__name__}'s {overridden}"
