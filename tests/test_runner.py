"""app.execution.runner: the bounded queue in front of the model and its worker threads."""

from __future__ import annotations

import threading

import pytest

from app.errors import Busy
from app.execution.runner import InferenceRunner


def test_admission_is_bounded_and_a_slot_comes_back_when_its_work_ends():
    runner = InferenceRunner(workers=1, max_queue=2)
    gate = threading.Event()
    first = runner.submit(runner.reserve(), gate.wait, 10)
    second = runner.submit(runner.reserve(), lambda: "second")
    with pytest.raises(Busy) as e:
        runner.reserve()
    assert e.value.code == "queue_full" and int(e.value.headers["Retry-After"]) >= 1
    assert runner.stats == {"queued": 1, "running": 1, "capacity": 2, "workers": 1}
    gate.set()
    assert first.result(10) is True and second.result(10) == "second"
    runner.reserve().release()  # room again
    runner.shutdown()


def test_a_job_dropped_before_a_worker_took_it_gives_its_slot_back_at_once():
    runner = InferenceRunner(workers=1, max_queue=2)
    gate = threading.Event()
    running = runner.submit(runner.reserve(), gate.wait, 10)
    waiting = runner.submit(runner.reserve(), lambda: "never")
    assert waiting.cancel()
    slot = runner.reserve()  # the dropped job's slot
    slot.release()
    slot.release()  # twice is once
    assert runner.stats["queued"] + runner.stats["running"] == 1
    gate.set()
    running.result(10)
    runner.shutdown()
