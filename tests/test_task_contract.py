"""The task contract: every behaviour a client of the async routes relies on (submit, conflict,
status, progress, cancel at each state, result, batch, retention, eviction, callbacks, both
WebSocket channels), run against each store: this process's memory and a real redis-server (one
replica of the real app on it, TASK_BACKEND=redis). Written from API.md, as a client uses it."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
import redis
from iopaint_client import InvalidSignature, verify_signature

from tests.support import (Receiver, RedisServer, SlowModel, assert_lifecycle, b64, decode, png_bytes,
                           read_until_final, running_app, services_with_model, text_image, wait_status)

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}
IMG = b64(png_bytes(text_image()))


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def backend(request) -> dict:
    """The settings that choose the store; a Redis emptied for each test."""
    if request.param == "memory":
        return {}
    server = request.getfixturevalue("shared_redis")
    redis.Redis.from_url(server.url).flushall()
    return {"task_backend": "redis", "redis_url": server.url, "queue_claim_idle": 2.0}


@pytest.fixture
def app(backend):
    with running_app(model="cv2", **backend) as c:
        yield c


@pytest.fixture
def slow(backend):
    model = SlowModel()
    with running_app(services=services_with_model(model, max_queue_size=3, **backend)) as c:
        yield c, model
        model.release.set()


def test_submit_answers_at_once_and_completes(app):
    r = app.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]},
                    headers={"host": "text.example:9000"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "pending" and isinstance(body["message"], str)
    assert body["websocket_url"] == f"ws://text.example:9000/api/v1/ws/progress/{body['task_id']}"
    assert "estimated_time" in body
    final = wait_status(app, body["task_id"])
    assert final["status"] == "completed" and final["overall_progress"] == 100
    for key in ("task_id", "status", "stage", "overall_progress", "stage_progress", "current_region",
                "total_regions", "message", "elapsed_time", "estimated_remaining", "error", "created_at",
                "started_at", "completed_at"):
        assert key in final
    assert final["total_regions"] == 1 and final["current_region"] == 1
    res = app.get(f"/api/v1/task-result/{body['task_id']}")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    out = decode(res.content)
    assert np.abs(out[85:115, 45:195].astype(int) - [200, 180, 160]).mean() < 10


def test_caller_task_id_is_used_and_duplicates_of_live_tasks_conflict(slow):
    c, model = slow
    r = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "job-42"})
    assert r.json()["task_id"] == "job-42"
    dup = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "job-42"})
    assert dup.status_code == 409 and dup.json()["error"] == "task_id_conflict"
    assert c.get("/api/v1/task-result/job-42").status_code == 409
    model.release.set()
    wait_status(c, "job-42")
    # once finished, the id may be reused
    again = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "job-42"})
    assert again.status_code == 200
    wait_status(c, "job-42")


def test_lifecycle_on_the_task_channel(app):
    with app.websocket_connect("/api/v1/ws/progress/life-1") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "connection_established" and hello["task_id"] == "life-1"
        assert ws.receive_json() == {**ws_subscribed("life-1"), "timestamp": ANY}
        r = app.post("/api/v1/inpaint-regions-async",
                        json={"image": IMG, "regions": [BOX, {"x": 250, "y": 10, "width": 30, "height": 20}],
                              "task_id": "life-1"})
        assert r.status_code == 200
        msgs = read_until_final(ws)
    assert_lifecycle(msgs, "life-1")
    assert msgs[-1]["total_regions"] == 2


def test_subscribe_on_the_general_channel_before_submit(app):
    with app.websocket_connect("/api/v1/ws/progress") as ws:
        assert ws.receive_json()["type"] == "connection_established"
        ws.send_json({"type": "subscribe_task", "task_id": "early-bird"})
        assert ws.receive_json()["type"] == "task_subscribed"
        app.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "early-bird"})
        msgs = read_until_final(ws)
        assert_lifecycle(msgs, "early-bird")
        ws.send_json({"type": "get_task_status", "task_id": "early-bird"})
        status = ws.receive_json()
        assert status["type"] == "progress_update" and status["status"] == "completed"
        ws.send_json({"type": "unsubscribe_task", "task_id": "early-bird"})
        assert ws.receive_json()["type"] == "task_unsubscribed"


def test_late_subscriber_gets_the_final_state_at_once(app):
    tid = app.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
    wait_status(app, tid)
    with app.websocket_connect(f"/api/v1/ws/progress/{tid}") as ws:
        types = [ws.receive_json()["type"] for _ in range(4)]
    assert types == ["connection_established", "task_subscribed", "progress_update", "task_completed"]


def test_unknown_ids_on_every_route(app):
    for method, path in (("get", "/api/v1/task-status/nope"), ("post", "/api/v1/cancel-task/nope"),
                         ("get", "/api/v1/task-result/nope"), ("get", "/api/v1/task-result/nope/0")):
        r = getattr(app, method)(path)
        assert r.status_code == 404 and r.json()["error"] == "task_not_found", path


def test_tasks_listing(app):
    body = app.get("/api/v1/tasks").json()
    for key in ("total_tasks", "active_tasks", "completed_tasks", "error_tasks", "active_task_ids", "queue"):
        assert key in body


def test_a_failing_task_reports_task_failed(app):
    with app.websocket_connect("/api/v1/ws/progress/fails") as ws:
        ws.receive_json(), ws.receive_json()
        app.post("/api/v1/inpaint-regions-async",
                    json={"image": b64(b"not an image"), "regions": [BOX], "task_id": "fails"})
        msgs = read_until_final(ws)
    final = msgs[-1]
    assert final["type"] == "task_failed" and final["error"] and final["error_message"] == final["error"]
    status = app.get("/api/v1/task-status/fails").json()
    assert status["status"] == "error" and status["error"]
    assert app.get("/api/v1/task-result/fails").status_code == 409


def test_cancel_mid_run_stops_at_the_next_step(slow):
    c, model = slow
    model.delay = 0.3
    far_apart = [{"x": 5 + 60 * i, "y": 5, "width": 10, "height": 10} for i in range(5)]  # 5 crops at context 8
    img = b64(png_bytes(np.full((100, 320, 3), 90, np.uint8)))
    with c.websocket_connect("/api/v1/ws/progress/cancel-me") as ws:
        ws.receive_json(), ws.receive_json()
        from app.main import Settings  # noqa: F401
        r = c.post("/api/v1/inpaint-regions-async",
                   json={"image": img, "regions": far_apart, "task_id": "cancel-me", "hd_strategy": "Crop",
                         "hd_strategy_crop_trigger_size": 10, "hd_strategy_crop_margin": 8})
        assert r.status_code == 200
        assert model.started.wait(10)
        cancel = c.post("/api/v1/cancel-task/cancel-me")
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
        msgs = read_until_final(ws)
    assert msgs[-1]["type"] == "task_cancelled"
    assert not any(m["type"] == "task_completed" for m in msgs)
    time.sleep(0.5)
    assert model.calls < 5  # it stopped: no more model calls after the cancel
    status = c.get("/api/v1/task-status/cancel-me").json()
    assert status["status"] == "cancelled" and status["overall_progress"] < 100
    assert c.get("/api/v1/tasks").json()["queue"]["running"] == 0  # its slot is free


def test_cancel_a_pending_task_frees_its_slot_and_full_queue_answers_503(slow):
    c, model = slow
    ids = [c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
           for _ in range(3)]
    assert model.started.wait(10)
    full = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]})
    assert full.status_code == 503 and int(full.headers["Retry-After"]) >= 1
    assert c.post(f"/api/v1/cancel-task/{ids[2]}").json()["status"] == "cancelled"
    assert c.get(f"/api/v1/task-status/{ids[2]}").json()["status"] == "cancelled"
    ok = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]})
    assert ok.status_code == 200  # the cancelled pending task gave its slot back
    model.release.set()
    for tid in ids[:2] + [ok.json()["task_id"]]:
        assert wait_status(c, tid)["status"] == "completed"
    assert c.get(f"/api/v1/task-status/{ids[2]}").json()["status"] == "cancelled"  # never completed


def test_cancel_over_websocket(slow):
    c, model = slow
    with c.websocket_connect("/api/v1/ws/progress") as ws:
        ws.receive_json()
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "ws-cancel"})
        assert model.started.wait(10)
        ws.send_json({"type": "cancel_task", "task_id": "ws-cancel"})
        m = ws.receive_json()
        assert m["type"] == "progress_update" and m["task_id"] == "ws-cancel"
        model.release.set()
    assert wait_status(c, "ws-cancel")["status"] == "cancelled"


def test_callback_is_delivered_and_retried(backend):
    rec = Receiver(fail=1)
    with running_app(model="cv2", **backend, callback_backoff=0.05) as c:
        tid = c.post("/api/v1/inpaint-regions-async",
                     json={"image": IMG, "regions": [BOX], "callback_url": rec.url}).json()["task_id"]
        calls = rec.wait(2)
        assert len(calls) == 2  # the first attempt got a 500 and was retried
        cb = calls[-1]
        assert cb["task_id"] == tid and cb["status"] == "completed"
        assert isinstance(cb["timestamp"], float) and cb["processing_time"] >= 0 and cb["regions_processed"] == 1
        out = decode(__import__("base64").b64decode(cb["image_data"]))
        assert out.shape == (200, 320, 3)
        bad = c.post("/api/v1/inpaint-regions-async",
                     json={"image": b64(b"junk"), "regions": [BOX], "callback_url": rec.url}).json()["task_id"]
        calls = rec.wait(3)
        assert calls[-1]["task_id"] == bad and calls[-1]["status"] == "error" and calls[-1]["error"]
    rec.server.shutdown()


def test_signed_callbacks_keep_their_delivery_id_on_every_retry(backend):
    secret = "s3cret-for-tests"
    rec = Receiver(fail=2)
    with running_app(model="cv2", **backend, callback_backoff=0.05, callback_secret=secret) as c:
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": rec.url})
        assert len(rec.wait(3)) == 3  # two 500s, then delivered
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": rec.url})
        assert len(rec.wait(4)) == 4
    rec.server.shutdown()
    first, second = rec.received[:3], rec.received[3]
    deliveries = {h["X-IOPaint-Delivery"] for h, _ in first}
    assert len(deliveries) == 1 and deliveries.pop() != second[0]["X-IOPaint-Delivery"]
    assert len({raw for _, raw in first}) == 1  # a retry sends the very same body
    for headers, raw in rec.received:
        sig = headers["X-IOPaint-Signature"]
        t = int(sig.split(",")[0].removeprefix("t="))
        assert abs(time.time() - t) < 60
        assert verify_signature(raw, sig, secret) == t
        with pytest.raises(InvalidSignature):
            verify_signature(raw, sig, "another secret")
        with pytest.raises(InvalidSignature):
            verify_signature(raw.replace(b'"completed"', b'"error"'), sig, secret)
        with pytest.raises(InvalidSignature):  # replayed an hour later
            verify_signature(raw, sig, secret, now=t + 3600)


def test_unsigned_callbacks_still_carry_a_delivery_id(backend):
    rec = Receiver()
    with running_app(model="cv2", **backend) as c:
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": rec.url})
        rec.wait(1)
    rec.server.shutdown()
    headers, _ = rec.received[0]
    assert "X-IOPaint-Signature" not in headers and len(headers["X-IOPaint-Delivery"]) >= 16


def test_batch_with_one_bad_item(app):
    items = [{"image": IMG, "regions": [BOX], "name": "first.png"},
             {"image": b64(b"broken"), "regions": [BOX]},
             {"image": IMG, "regions": [{"x": 0, "y": 0, "width": 30, "height": 30}]}]
    with app.websocket_connect("/api/v1/ws/progress/batch-1") as ws:
        ws.receive_json(), ws.receive_json()
        r = app.post("/api/v1/inpaint-batch-async", json={"items": items, "task_id": "batch-1"})
        assert r.status_code == 200, r.text
        msgs = read_until_final(ws)
    assert msgs[-1]["type"] == "task_completed"
    progress = [m["overall_progress"] for m in msgs if m["type"] == "progress_update"]
    assert progress == sorted(progress) and progress[-1] == 100
    status = app.get("/api/v1/task-status/batch-1").json()
    assert [i["status"] for i in status["items"]] == ["completed", "error", "completed"]
    assert status["items"][1]["error"]
    assert app.get("/api/v1/task-result/batch-1/0").headers["content-type"] == "image/png"
    assert app.get("/api/v1/task-result/batch-1/1").status_code == 409
    z = zipfile.ZipFile(io.BytesIO(app.get("/api/v1/task-result/batch-1").content))
    assert sorted(z.namelist()) == ["000-first.png", "002.png"]


def test_batch_of_one_keeps_its_result(app):
    r = app.post("/api/v1/inpaint-batch-async",
                    json={"items": [{"image": IMG, "regions": [BOX], "name": "only.png"}], "task_id": "batch-one"})
    assert r.status_code == 200, r.text
    status = wait_status(app, "batch-one")
    assert status["status"] == "completed"
    assert [i["status"] for i in status["items"]] == ["completed"]
    one = app.get("/api/v1/task-result/batch-one/0")
    assert one.status_code == 200 and one.headers["content-type"] == "image/png"
    assert (decode(one.content)[85:115, 45:195] != 10).all()  # the bar is repainted
    z = zipfile.ZipFile(io.BytesIO(app.get("/api/v1/task-result/batch-one").content))
    assert z.namelist() == ["000-only.png"] and z.read("000-only.png") == one.content


def test_batch_of_one_bad_item_fails_the_task_and_says_why(app):
    r = app.post("/api/v1/inpaint-batch-async",
                    json={"items": [{"image": b64(b"broken"), "regions": [BOX]}], "task_id": "batch-one-bad"})
    assert r.status_code == 200, r.text
    status = wait_status(app, "batch-one-bad")
    assert status["status"] == "error" and status["error"] == "every item of the batch failed"
    assert status["items"][0]["status"] == "error" and status["items"][0]["error"]


def test_finished_tasks_are_evicted_by_age_and_by_size(backend):
    with running_app(model="cv2", **backend, task_retention=0.5) as c:
        tid = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
        wait_status(c, tid)
        time.sleep(0.7)
        later = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
        wait_status(c, later)  # eviction runs on submit (memory) and when a task ends (both)
        assert c.get(f"/api/v1/task-status/{tid}").status_code == 404
    size = len(png_bytes(text_image()))
    with running_app(model="cv2", **backend, task_result_max_bytes=3 * size) as c:
        ids = []
        for _ in range(6):
            ids.append(c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"])
            wait_status(c, ids[-1])
        listing = c.get("/api/v1/tasks").json()
        assert listing["stored_result_bytes"] <= 3 * size
        assert c.get(f"/api/v1/task-status/{ids[0]}").status_code == 404  # oldest went first
        assert c.get(f"/api/v1/task-result/{ids[-1]}").status_code == 200


class _Any:
    def __eq__(self, other):
        return True


ANY = _Any()


def ws_subscribed(tid):
    return {"type": "task_subscribed", "task_id": tid}




def test_cancel_at_each_end_state(app):
    done = app.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
    failed = app.post("/api/v1/inpaint-regions-async", json={"image": b64(b"junk"), "regions": [BOX]}).json()["task_id"]
    assert wait_status(app, done)["status"] == "completed" and wait_status(app, failed)["status"] == "error"
    for tid in (done, failed):
        r = app.post(f"/api/v1/cancel-task/{tid}")
        assert r.status_code == 409 and r.json()["error"] == "task_finished"
        assert app.get(f"/api/v1/task-status/{tid}").json()["status"] in ("completed", "error")  # unchanged


def test_cancel_a_cancelled_task_again_answers_cancelled(slow):
    c, model = slow
    c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "first"})
    assert model.started.wait(10)
    c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "twice"})
    for _ in range(2):
        r = c.post("/api/v1/cancel-task/twice")
        assert r.status_code == 200 and r.json() == {"task_id": "twice", "status": "cancelled", "message": "cancelled"}
    model.release.set()
    assert wait_status(c, "first")["status"] == "completed"
    assert c.get("/api/v1/task-status/twice").json()["status"] == "cancelled"


def test_health_and_the_listing_tell_the_same_counts(slow):
    c, model = slow
    c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "counted"})
    assert model.started.wait(10)
    listing, health = c.get("/api/v1/tasks").json(), c.get("/api/v1/health").json()
    assert listing["active_tasks"] == health["active_tasks"] == 1
    assert listing["active_tasks_here"] == health["active_tasks_here"] == 1  # one replica: all of them here
    assert "iopaint_active_tasks 1.0" in c.get("/metrics").text
    model.release.set()
    wait_status(c, "counted")  # the replica that ran it says so a moment before its end is written
    deadline = time.monotonic() + 10
    while c.get("/api/v1/tasks").json()["active_tasks"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert c.get("/api/v1/health").json()["active_tasks"] == 0
