"""Several replicas sharing tasks through a real Redis (TASK_BACKEND=redis): live uvicorn
processes of the real app (tests/replica_app.py, a stand-in model that takes a set time per
call), one redis-server started by the test."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from websockets.sync.client import connect

from tests.support import REPO, Receiver, Sentinels, b64, free_port, png_bytes, store_limits

CLAIM_IDLE = "1.5"  # seconds before a dead replica's task is taken over (short, for the tests)


def wide_image() -> str:
    img = np.full((240, 1600, 3), (200, 180, 160), np.uint8)
    for x in (60, 460, 860, 1260):
        img[100:130, x:x + 120] = 10
    return b64(png_bytes(img))


WIDE = wide_image()


def wide_jpeg() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(base64.b64decode(WIDE))).save(buf, "JPEG", quality=90)
    return b64(buf.getvalue())


WIDE_JPEG = wide_jpeg()
REGIONS = [{"x": x - 5, "y": 95, "width": 130, "height": 40} for x in (60, 460, 860, 1260)]  # 4 model calls


class Replica:
    def __init__(self, tmp: Path, redis_url: str, name: str, **env: str):
        self.port, self.name = free_port(), name
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if k not in ("IOPAINT_API_KEY",)}
        full.update({"TASK_BACKEND": "redis", "REDIS_URL": redis_url, "IOPAINT_PORT": str(self.port),
                     "REPLICA_NAME": name, "QUEUE_CLAIM_IDLE": CLAIM_IDLE, "REDIS_TIMEOUT": "1",
                     "TEXT_DETECTION": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                     "TORCH_HOME": str(tmp / "torch"), "XDG_CACHE_HOME": str(tmp / "cache"), "HF_HUB_OFFLINE": "1",
                     "TEST_MODEL_DELAY": "0.05", "SHUTDOWN_GRACE": "1", **env})
        self.log_path = tmp / f"replica-{name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.replica_app"], cwd=REPO, env=full,
                                     stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"replica {self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/api/v1/health", timeout=2)
                if r.status_code == 200 and r.json().get("status") == "healthy" \
                        and r.json()["task_backend"]["state"] == "up":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"replica {self.name} not healthy:\n{self.log_path.read_text()[-3000:]}")

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kw)

    def running(self) -> list[str]:
        return self.get("/api/v1/health").json()["task_backend"]["running_here"]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def replicas(tmp_path):
    started: list[Replica] = []

    def start(redis_url: str, n: int = 2, **env: str) -> list[Replica]:
        new = [Replica(tmp_path, redis_url, f"r{len(started) + i}", **env) for i in range(n)]
        started.extend(new)
        for r in new:
            r.wait_healthy()
        return new

    yield start
    for r in started:
        r.stop(signal.SIGKILL)


def submit(replica: Replica, task_id: str, **extra) -> dict:
    r = replica.post("/api/v1/inpaint-regions-async", json={"image": WIDE, "regions": REGIONS, "task_id": task_id,
                                                            **extra})
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(replica: Replica, task_id: str, want=("completed", "error", "cancelled"), timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = replica.get(f"/api/v1/task-status/{task_id}").json()
        if body.get("status") in want:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} still {body.get('status')} after {timeout} s: {body}")


def wait_running_elsewhere(a: Replica, b: Replica, task_id: str) -> tuple[Replica, Replica]:
    """(the replica that took the task, the other one), once the other one reports it processing."""
    deadline = time.monotonic() + 20
    while not (runner := [r for r in (a, b) if task_id in r.running()]):
        assert time.monotonic() < deadline, "no replica took the task"
        time.sleep(0.05)
    other = b if runner[0] is a else a
    wait_status(other, task_id, want=("processing",))
    return runner[0], other


def read_until_final(ws, limit: int = 500) -> list[dict]:
    msgs = []
    for _ in range(limit):
        m = json.loads(ws.recv(timeout=30))
        msgs.append(m)
        if m["type"] in ("task_completed", "task_failed", "task_cancelled"):
            return msgs
    raise AssertionError("no final message")


class CallbackSink:
    """An HTTP receiver of callbacks that counts them per task."""

    def __init__(self):
        self.received: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_the_redis_server_has_the_primitives_the_queue_uses(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    info = r.info("server")
    assert tuple(int(x) for x in info["redis_version"].split(".")[:2]) >= (6, 2)  # XAUTOCLAIM
    r.xgroup_create("s", "g", id="0", mkstream=True)
    r.xadd("s", {"task_id": "a"})
    assert r.xreadgroup("g", "c1", {"s": ">"}, count=1)[0][1][0][1] == {b"task_id": b"a"}
    _, claimed, _ = r.xautoclaim("s", "g", "c2", min_idle_time=0, count=1)
    assert claimed[0][1] == {b"task_id": b"a"}


def test_a_task_is_followed_cancelled_and_fetched_through_any_replica(redis_server, replicas):
    a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.1")
    # a general-channel subscription on b, and a task channel on a, both before the task exists
    with connect(f"ws://127.0.0.1:{b.port}/api/v1/ws/progress") as general, \
            connect(f"ws://127.0.0.1:{a.port}/api/v1/ws/progress/shared-1") as channel:
        assert json.loads(general.recv(timeout=10))["type"] == "connection_established"
        general.send(json.dumps({"type": "subscribe_task", "task_id": "shared-1"}))
        assert json.loads(general.recv(timeout=10))["type"] == "task_subscribed"
        assert [json.loads(channel.recv(timeout=10))["type"] for _ in range(2)] == \
            ["connection_established", "task_subscribed"]
        answer = submit(a, "shared-1")
        assert answer["task_id"] == "shared-1" and answer["status"] == "pending"
        assert submit_conflict(b, "shared-1")  # the id is taken on every replica
        for ws in (general, channel):
            msgs = read_until_final(ws)
            assert msgs[-1]["type"] == "task_completed" and msgs[-1]["task_id"] == "shared-1"
            progress = [m["overall_progress"] for m in msgs if m["type"] == "progress_update"]
            assert progress == sorted(progress) and progress[-1] == 100
            assert sum(m["type"] == "task_completed" for m in msgs) == 1
    for r in (a, b):
        st = r.get("/api/v1/task-status/shared-1").json()
        assert st["status"] == "completed" and st["total_regions"] == 4
        res = r.get("/api/v1/task-result/shared-1")
        assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    counts = b.get("/api/v1/tasks").json()
    assert counts["completed_tasks"] == 1 and counts["active_tasks"] == 0

    # cancel through the replica that does not run it: the running one stops at its next step
    submit(b, "shared-2")
    runner, other = wait_running_elsewhere(a, b, "shared-2")
    r = other.post("/api/v1/cancel-task/shared-2")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    final = wait_status(other, "shared-2")
    assert final["status"] == "cancelled"
    time.sleep(0.5)
    assert runner.running() == [] and other.get("/api/v1/task-status/shared-2").json()["status"] == "cancelled"
    assert other.get("/api/v1/task-result/shared-2").status_code == 409
    assert a.get("/api/v1/task-status/nope").status_code == 404

    # a batch: its ZIP and its items through the replica it was not submitted to
    items = [{"image": WIDE, "regions": REGIONS[:1], "name": "one"}, {"image": b64(b"junk"), "regions": REGIONS[:1]}]
    r = a.post("/api/v1/inpaint-batch-async", json={"items": items, "task_id": "shared-3"})
    assert r.status_code == 200, r.text
    assert wait_status(b, "shared-3")["status"] == "completed"
    st = b.get("/api/v1/task-status/shared-3").json()
    assert [i["status"] for i in st["items"]] == ["completed", "error"]
    with zipfile.ZipFile(io.BytesIO(b.get("/api/v1/task-result/shared-3").content)) as z:
        assert z.namelist() == ["000-one.png"]
    assert b.get("/api/v1/task-result/shared-3/0").headers["content-type"] == "image/png"
    assert b.get("/api/v1/task-result/shared-3/1").status_code == 409


def submit_conflict(replica: Replica, task_id: str) -> bool:
    r = replica.post("/api/v1/inpaint-regions-async", json={"image": WIDE, "regions": REGIONS, "task_id": task_id})
    return r.status_code == 409 and r.json()["error"] == "task_id_conflict"


def test_a_killed_replicas_task_completes_elsewhere_with_one_callback(redis_server, replicas):
    sink = CallbackSink()
    try:
        a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.6")
        with connect(f"ws://127.0.0.1:{b.port}/api/v1/ws/progress/crash-1") as ws:
            submit(a, "crash-1", callback_url=sink.url)
            runner, survivor = wait_running_elsewhere(a, b, "crash-1")
            killed_at = time.monotonic()
            runner.stop(signal.SIGKILL)  # no chance to clean up
            final = wait_status(survivor, "crash-1", timeout=30)
            assert final["status"] == "completed", final
            assert time.monotonic() - killed_at < 15
            if survivor is b:  # the WebSocket was on the survivor: it saw one completion
                msgs = read_until_final(ws)
                assert msgs[-1]["type"] == "task_completed"
        assert survivor.get("/api/v1/task-result/crash-1").status_code == 200
        deadline = time.monotonic() + 10
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # room for a duplicate, were there one
        assert [c["task_id"] for c in sink.received] == ["crash-1"]
        assert sink.received[0]["status"] == "completed"
    finally:
        sink.close()


def test_a_replica_stopping_gracefully_hands_its_task_back(redis_server, replicas):
    # a long claim idle time: the task can only move on this fast if it is handed back
    a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.8", QUEUE_CLAIM_IDLE="60", SHUTDOWN_GRACE="0.2")
    submit(a, "graceful-1")
    runner, survivor = wait_running_elsewhere(a, b, "graceful-1")
    runner.stop(signal.SIGTERM)
    assert runner.proc.returncode is not None
    final = wait_status(survivor, "graceful-1", timeout=20)
    assert final["status"] == "completed", final
    assert survivor.get("/api/v1/tasks").json()["completed_tasks"] == 1


def test_redis_down_then_back(persistent_redis, replicas):
    (a,) = replicas(persistent_redis.url, 1, TEST_MODEL_DELAY="0.5")
    submit(a, "outage-1")
    wait_status(a, "outage-1", want=("processing",))
    persistent_redis.stop()

    started = time.monotonic()
    r = a.post("/api/v1/inpaint-regions-async", json={"image": WIDE, "regions": REGIONS})
    assert r.status_code == 503 and r.json()["error"] == "task_backend_unavailable"
    assert int(r.headers["Retry-After"]) > 0
    assert time.monotonic() - started < 5  # fails fast, never hangs
    deadline = time.monotonic() + 10
    while (h := a.get("/api/v1/health")).json()["task_backend"]["state"] != "down":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert h.status_code == 200 and h.json()["status"] == "healthy"
    assert 'iopaint_task_backend_up{backend="redis"} 0.0' in a.get("/metrics").text
    sync = a.post("/api/v1/inpaint-regions", json={"image": WIDE, "regions": REGIONS[:1]})
    assert sync.status_code == 200 and sync.headers["content-type"] == "image/png"
    assert a.get("/api/v1/task-status/outage-1").status_code == 200  # it runs here: answered from memory
    assert a.get("/api/v1/task-status/elsewhere").json()["error"] == "task_backend_unavailable"
    time.sleep(2.5)  # the running task ends while Redis is away: its end waits to be written

    persistent_redis.start()
    final = wait_status(a, "outage-1", timeout=20)  # lookups work again without a restart
    assert final["status"] == "completed", final
    assert a.get("/api/v1/task-result/outage-1").status_code == 200
    submit(a, "outage-2")
    assert wait_status(a, "outage-2")["status"] == "completed"
    assert a.get("/api/v1/health").json()["task_backend"]["state"] == "up"
    deadline = time.monotonic() + 5  # the shared queue's figures are read once per heartbeat
    while 'iopaint_shared_queue_jobs{state="live"} 0.0' not in a.get("/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_finished_records_expire_and_results_are_bounded_in_redis(redis_server):
    import asyncio

    from app.engine.masks import Region
    from app.engine.pipeline import InpaintInput
    from app.errors import Busy
    from app.tasks.records import Task, TaskState
    from app.tasks.redis.store import RedisStore, connect, decode_jobs, encode_jobs

    async def run():
        store = RedisStore(connect(redis_server.url), retention=60, max_result_bytes=250, max_records=100)
        job = InpaintInput(image=b"\x89PNG raw", regions=[Region.box(1, 2, 3, 4)], model_params={"k": [1, 2]})
        assert decode_jobs(encode_jobs([job])) == [job]  # JSON, no pickle: what Redis returns is data
        for i in range(3):
            task = Task(task_id=f"t{i}")
            assert await store.admit(task, [job], 2) == 0
            if i == 0:
                with pytest.raises(Busy):
                    await store.admit(Task(task_id="x"), [job], 1)
            task.status, task.completed_at, task.result = TaskState.COMPLETED, time.time(), b"r" * 100
            assert await store.finish(task, None, None) is True
            assert await store.finish(task, None, None) is False  # once
        r = redis.Redis.from_url(redis_server.url)
        assert 0 < r.ttl("iopaint:task:t2") <= 60  # a finished record expires after TASK_RETENTION
        assert not r.exists("iopaint:task:t0")  # 300 bytes of results > 250: the oldest went
        assert r.hget("iopaint:task:t2", "input") is None  # the input is dropped when the task ends
        counts = await store.counts()
        assert counts["completed_tasks"] == 2 and counts["stored_result_bytes"] == 200
        await store.close()

    asyncio.run(run())


def test_api_and_worker_roles(redis_server, replicas):
    (api,) = replicas(redis_server.url, 1, ROLE="api")
    (worker,) = replicas(redis_server.url, 1, ROLE="worker", TEST_DETECTOR="1")
    health = api.get("/api/v1/health").json()
    assert health["status"] == "healthy" and health["model"] is None  # no model on the API replica
    assert worker.get("/api/v1/inpaint-regions").status_code == 404  # a worker serves no API
    assert worker.get("/api/v1/health").status_code == 200 and worker.get("/metrics").status_code == 200

    # a synchronous request on the API replica is run by the worker and answered when done
    r = api.post("/api/v1/inpaint-regions", json={"image": WIDE, "regions": REGIONS})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    assert r.headers["X-Regions-Count"] == "4"
    assert "X-Regions-Checked" in r.headers  # the worker's verification reaches the answer
    from tests.support import decode
    assert np.abs(decode(r.content)[100:130, 60:180].astype(int) - 200).mean() < 5  # the model's fill

    # a JPEG answered as JPEG keeps its untouched blocks, and says so, as it does where it ran
    jpeg = {"image": WIDE_JPEG, "regions": REGIONS, "output_format": "original"}
    r = api.post("/api/v1/inpaint-regions", json=jpeg)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
    from tests.support import SlowModel, running_app, services_with_model
    with running_app(services=services_with_model(SlowModel(delay=0.0))) as c:
        local = c.post("/api/v1/inpaint-regions", json=jpeg)
        local_stats = c.post("/api/v1/inpaint-regions-json", json=jpeg).json()["processing_stats"]
    assert r.headers["X-Jpeg-Blocks-Reencoded"] == local.headers["X-Jpeg-Blocks-Reencoded"]
    assert float(r.headers["X-Jpeg-Blocks-Reencoded"]) < 1  # untouched blocks were kept
    stats = api.post("/api/v1/inpaint-regions-json", json=jpeg).json()["processing_stats"]
    assert stats["jpeg_blocks"] == local_stats["jpeg_blocks"] and stats["jpeg_blocks"]["kept_untouched_blocks"]
    assert stats["jpeg_blocks_reencoded"] == local_stats["jpeg_blocks_reencoded"]
    stats = api.post("/api/v1/inpaint-regions-json", json={"image": WIDE, "regions": REGIONS}).json()
    assert stats["success"] and stats["processing_stats"]["regions_processed"] == 4
    bad = api.post("/api/v1/inpaint-regions", json={"image": b64(b"not an image"), "regions": REGIONS})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_image"
    submit(api, "role-1")
    assert wait_status(api, "role-1")["status"] == "completed"

    # detect-text too: the detector lives on the worker
    from tests.support import render
    from tests.support import photo
    img, _ = render(photo(512, "chelsea"), [("SALE 50% OFF", (40, 60), 44)])
    found = api.post("/api/v1/detect-text", json={"image": b64(png_bytes(img))})
    assert found.status_code == 200, found.text
    assert len(found.json()["regions"]) >= 1 and found.json()["image_dimensions"] == {"width": 512, "height": 512}
    # counted where it ran, as in-process: the worker's detect stage (and the API replica's route)
    detector = found.json()["detector"]
    assert f'iopaint_pipeline_stage_seconds_count{{model="{detector}",stage="detect"}} 1.0' in worker.get("/metrics").text
    assert 'iopaint_http_requests_total{method="POST",route="/api/v1/detect-text",status="200"} 1.0' in \
        api.get("/metrics").text
    # reading the lines too, and removing only what matches: the worker reads, the answer says so
    read = api.post("/api/v1/detect-text", json={"image": b64(png_bytes(img)), "recognize": True}).json()
    assert any("SALE" in r["text"] for r in read["regions"]), read
    kept = api.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "detect": True,
                                                          "remove_text": ["@email"]}).json()
    assert kept["processing_stats"]["text_lines"]["unmatched_patterns"] == ["@email"], kept


def test_an_api_replicas_sync_request_times_out_as_an_in_process_one(redis_server, replicas):
    from tests.support import SlowModel, running_app, services_with_model

    (api,) = replicas(redis_server.url, 1, ROLE="api", REQUEST_TIMEOUT="0.5")
    (worker,) = replicas(redis_server.url, 1, ROLE="worker", TEST_MODEL_DELAY="1.0")  # 4 calls: 4 s of work
    body = {"image": WIDE, "regions": REGIONS}
    started = time.monotonic()
    remote = api.post("/api/v1/inpaint-regions", json=body)
    took = time.monotonic() - started
    model = SlowModel(delay=1.0)
    with running_app(services=services_with_model(model, request_timeout=0.5)) as c:
        local = c.post("/api/v1/inpaint-regions", json=body)
    assert remote.status_code == local.status_code == 504
    assert remote.json() == local.json() == {"detail": "processing took longer than REQUEST_TIMEOUT (0.5 s)",
                                             "error": "timeout"}
    assert took < 3.5  # answered at the timeout, not when the worker would have finished
    # the worker was told to stop: its task ends cancelled at its next step, the queue is empty again
    deadline = time.monotonic() + 15
    while (counts := api.get("/api/v1/tasks").json())["cancelled_tasks"] != 1 or counts["active_tasks"]:
        assert time.monotonic() < deadline, counts
        time.sleep(0.1)
    assert counts["completed_tasks"] == 0 and worker.running() == []
    assert 'iopaint_pipeline_jobs_total{model="slow",outcome="ok"}' not in worker.get("/metrics").text
    # counted like any request, by route and status
    assert 'iopaint_http_requests_total{method="POST",route="/api/v1/inpaint-regions",status="504"} 1.0' in \
        api.get("/metrics").text


def test_roles_other_than_all_need_the_shared_store():
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="needs TASK_BACKEND=redis"):
        Settings(role="worker")
    assert Settings(role="api", task_backend="redis").role == "api"
    assert Settings().task_backend == "memory" and Settings().role == "all"  # the defaults: no Redis


def test_the_queue_bound_is_global_and_each_replica_takes_only_what_it_can_run(redis_server, replicas):
    a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.4", MAX_QUEUE_SIZE="2")
    submit(a, "bound-1")
    submit(a, "bound-2")  # both through one replica: one slot each, so each replica runs one
    full = b.post("/api/v1/inpaint-regions-async", json={"image": WIDE, "regions": REGIONS, "task_id": "bound-3"})
    assert full.status_code == 503 and full.json()["error"] == "queue_full" and int(full.headers["Retry-After"]) > 0
    deadline = time.monotonic() + 20
    while sorted(a.running() + b.running()) != ["bound-1", "bound-2"]:
        assert time.monotonic() < deadline, (a.running(), b.running())
        time.sleep(0.05)
    assert len(a.running()) == 1 and len(b.running()) == 1
    for r in (a, b):  # one answer for the whole service on every replica, and each one's own
        health, listing = r.get("/api/v1/health").json(), r.get("/api/v1/tasks").json()
        assert health["active_tasks"] == listing["active_tasks"] == 2
        assert health["active_tasks_here"] == listing["active_tasks_here"] == 1
        metrics = r.get("/metrics").text
        assert "iopaint_active_tasks 2.0" in metrics and "iopaint_active_tasks_here 1.0" in metrics
    for tid in ("bound-1", "bound-2"):
        assert wait_status(b, tid)["status"] == "completed"
    submit(b, "bound-3")  # room again
    assert wait_status(a, "bound-3")["status"] == "completed"


def submit_retrying(replica: Replica, task_id: str, timeout: float = 20, **extra) -> float:
    """Submit until accepted (503 while the store comes back); the time it was accepted."""
    deadline = time.monotonic() + timeout
    while True:
        r = replica.post("/api/v1/inpaint-regions-async", json={"image": WIDE, "regions": REGIONS,
                                                                "task_id": task_id, **extra})
        if r.status_code == 200:
            return time.monotonic()
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.1)


def no_tracebacks(*rs: Replica) -> None:
    for r in rs:
        log = r.log_path.read_text()
        assert "Traceback" not in log, log[-3000:]


def test_redis_restarted_empty_comes_back_and_new_tasks_run(redis_server, replicas):
    """No persistence, or a failover to a replica that had not caught up: the group and stream
    are recreated on the first NOGROUP, new tasks run, and the ids Redis forgot are 404 everywhere."""
    a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.3")
    submit(a, "old-1")
    assert wait_status(b, "old-1")["status"] == "completed"
    submit(a, "old-2")
    runner, _ = wait_running_elsewhere(a, b, "old-2")
    redis_server.stop()
    redis_server.start()  # the same address, nothing kept
    back = time.monotonic()
    accepted = [submit_retrying(b, "new-1"), submit_retrying(a, "new-2")]
    for tid in ("new-1", "new-2"):
        assert wait_status(a, tid, timeout=20)["status"] == "completed"
    resumed = time.monotonic() - back
    assert resumed < 15, resumed  # bench/replicas.py measures it (the target: 5 s)
    assert accepted[0] - back < 5  # accepted at once: the clients reconnect on the first call
    deadline = time.monotonic() + 20  # the task Redis forgot: dropped where it ran, no crash
    while runner.running():
        assert time.monotonic() < deadline, runner.running()
        time.sleep(0.1)
    for r in (a, b):
        for tid in ("old-1", "old-2"):
            st = r.get(f"/api/v1/task-status/{tid}")
            assert st.status_code == 404 and st.json()["error"] == "task_not_found", (r.name, tid, st.text)
        assert r.get("/api/v1/health").json()["task_backend"]["state"] == "up"
    submit(runner, "after-drop")  # the loops that met the vanished task still run
    assert wait_status(runner, "after-drop")["status"] == "completed"
    no_tracebacks(a, b)


def test_a_sentinel_failover_needs_no_restart_and_loses_nothing(tmp_path, replicas):
    sentinels = Sentinels(tmp_path / "sentinel")
    try:
        a, b = replicas("redis://localhost/0", 2, REDIS_SENTINELS=sentinels.addresses,
                        REDIS_SENTINEL_SERVICE=sentinels.service, TEST_MODEL_DELAY="0.4")
        submit(a, "fo-1")
        assert wait_status(b, "fo-1")["status"] == "completed"
        submit(a, "fo-2")
        wait_running_elsewhere(a, b, "fo-2")
        old = sentinels.master_port()
        sentinels.replicated()
        sentinels.master.kill()
        killed = time.monotonic()
        deadline = time.monotonic() + 30
        while sentinels.master_port() == old:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.2)
        submit_retrying(b, "fo-3", timeout=30)
        for tid in ("fo-1", "fo-2", "fo-3"):  # the running task went on, its end written to the new master
            assert wait_status(a, tid, timeout=30)["status"] == "completed", tid
        assert time.monotonic() - killed < 30
        for r in (a, b):
            assert r.get("/api/v1/health").json()["task_backend"]["state"] == "up"
            assert r.get("/api/v1/task-result/fo-2").status_code == 200
        counts = a.get("/api/v1/tasks").json()
        assert counts["completed_tasks"] == 3 and counts["active_tasks"] == 0
        no_tracebacks(a, b)
    finally:
        sentinels.stop()


def test_a_replica_killed_between_finishing_and_delivering_its_callback(redis_server, replicas):
    """The end and the callback are written together; the killed replica's callback is delivered by
    the other one after its lease (QUEUE_CLAIM_IDLE), under the same delivery id and body."""
    receiver = Receiver(hold=1)  # the first attempt hangs: its sender dies meanwhile
    try:
        a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.2")
        submit(a, "cb-1", callback_url=receiver.url)
        runner, survivor = wait_running_elsewhere(a, b, "cb-1")
        deadline = time.monotonic() + 20
        while not receiver.received:
            assert time.monotonic() < deadline, "no callback attempt"
            time.sleep(0.02)
        assert survivor.get("/api/v1/task-status/cb-1").json()["status"] == "completed"
        runner.stop(signal.SIGKILL)  # finished, its callback not yet delivered
        killed = time.monotonic()
        deadline = time.monotonic() + 15
        while not receiver.answered:
            assert time.monotonic() < deadline, "the callback was lost"
            time.sleep(0.02)
        delay = receiver.answered[0][0] - killed
        assert delay < float(CLAIM_IDLE) + 3, delay  # its lease, then the next look at the outbox
        time.sleep(1.5)  # room for a duplicate, were there one
        assert len(receiver.answered) == 1
        assert len({h["X-IOPaint-Delivery"] for h, _ in receiver.received}) == 1  # one id on every attempt
        assert len({raw for _, raw in receiver.received}) == 1  # the very same body
        assert json.loads(receiver.received[0][1])["status"] == "completed"
    finally:
        receiver.close()


def test_the_store_speaks_tls_to_a_rediss_url(tmp_path):
    """REDIS_URL=rediss://...: TLS to Redis, the server's certificate checked against a CA."""
    import asyncio

    from app.engine.pipeline import InpaintInput
    from app.tasks.records import Task
    from app.tasks.redis.store import RedisStore, connect

    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "ca.key", "-out",
                  "ca.pem", "-subj", "/CN=test-ca"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "redis.key", "-out", "redis.csr",
                  "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", "redis.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                  "-days", "1", "-out", "redis.pem", "-extfile", "san.cnf"]):
        (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)
    from tests.support import RedisServer

    server = RedisServer(tmp_path)
    port = server.port
    server.port = free_port()  # the plain port, unused by the clients
    server.extra = ["--tls-port", str(port), "--tls-cert-file", str(tmp_path / "redis.pem"),
                    "--tls-key-file", str(tmp_path / "redis.key"), "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
                    "--tls-auth-clients", "no"]
    server.start()

    async def run():
        good = RedisStore(connect(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"), **store_limits())
        assert await good.admit(Task(task_id="tls-1"), [InpaintInput(image=b"x")], 4) == 0
        assert (await good.load("tls-1")).status == "pending"
        await good.close()
        untrusted = RedisStore(connect(f"rediss://127.0.0.1:{port}/0"), **store_limits())  # the system's CAs: refused
        from app.tasks.store import StoreUnavailable

        with pytest.raises(StoreUnavailable):
            await untrusted.load("tls-1")
        await untrusted.close()

    try:
        asyncio.run(run())
    finally:
        server.stop()


def test_an_entry_that_names_no_task_is_dropped_and_the_queue_goes_on(redis_server):
    import asyncio

    from app.engine.pipeline import InpaintInput
    from app.tasks.records import Task
    from app.tasks.redis.store import RedisStore, connect

    async def run():
        store = RedisStore(connect(redis_server.url), **store_limits())
        await store.ensure_group()
        r = redis.Redis.from_url(redis_server.url)
        r.xadd("iopaint:queue", {"something": "else"})  # written by another program
        await store.admit(Task(task_id="real"), [InpaintInput(image=b"x")], 4)
        assert await store.take("c1", block_ms=100) is None  # the foreign entry: acknowledged, dropped
        assert (await store.take("c1", block_ms=100))[1] == "real"
        assert r.xlen("iopaint:queue") == 1  # only the real task's entry is left
        await store.close()

    asyncio.run(run())


def test_a_replica_slow_to_deliver_keeps_its_callback(redis_server, replicas):
    """While the replica that ended a task is still delivering its callback (a receiver that hangs
    longer than QUEUE_CLAIM_IDLE), no other replica starts on it: one answered delivery."""
    receiver = Receiver(hold=1)
    try:
        a, b = replicas(redis_server.url, 2, TEST_MODEL_DELAY="0.05", CALLBACK_BACKOFF="0.2")
        submit(a, "slow-cb", callback_url=receiver.url)
        deadline = time.monotonic() + 20
        while not receiver.received:
            assert time.monotonic() < deadline, "no callback attempt"
            time.sleep(0.02)
        time.sleep(3 * float(CLAIM_IDLE))  # two leases and more: renewed all along by the one delivering
        receiver.release.set()  # the held attempt ends without an answer: the sender retries
        deadline = time.monotonic() + 15
        while not receiver.answered:
            assert time.monotonic() < deadline, "the callback was lost"
            time.sleep(0.02)
        time.sleep(1.5)
        assert len(receiver.answered) == 1 and len(receiver.received) == 2, receiver.received
        assert len({h["X-IOPaint-Delivery"] for h, _ in receiver.received}) == 1
    finally:
        receiver.close()


def test_a_socket_closed_by_a_failover_reads_as_an_outage_and_a_bug_still_raises():
    """uvloop raises RuntimeError for a write on a socket a failover closed, and redis-py passes it on:
    the store reports Redis unreachable (the dispatcher waits and retries), not a queue it cannot read."""
    import asyncio

    from app.tasks.redis.store import RedisStore, StoreUnavailable, connect

    seen: list[Exception | None] = []

    async def closed():
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True reading=False 0x1>; "
                           "the handler is closed")

    async def bug():
        raise RuntimeError("dictionary changed size during iteration")

    async def run():
        store = RedisStore(connect("redis://127.0.0.1:1/0"), **store_limits(), on_error=seen.append)
        with pytest.raises(StoreUnavailable):
            await store.call(closed)
        assert isinstance(seen[-1], RuntimeError)
        with pytest.raises(RuntimeError, match="dictionary"):
            await store.call(bug)
        await store.close()

    asyncio.run(run())
