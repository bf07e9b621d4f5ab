"""Asynchronous tasks over HTTP and WebSocket, as a client written from API.md uses them."""

import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from iopaint_client import InvalidSignature, verify_signature

from tests.conftest import SlowModel, b64, decode, png_bytes, running_app, services_with_model, text_image

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}
IMG = b64(png_bytes(text_image()))
STAGES = ["preparing", "masking", "inpainting", "finalizing"]


def wait_status(client, task_id, want=("completed", "error", "cancelled"), timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = client.get(f"/api/v1/task-status/{task_id}").json()
        if body["status"] in want:
            return body
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} stuck in {body['status']}")


def read_until_final(ws, limit=500):
    msgs = []
    for _ in range(limit):
        m = ws.receive_json()
        msgs.append(m)
        if m["type"] in ("task_completed", "task_failed", "task_cancelled"):
            return msgs
    raise AssertionError("no final message")


def assert_lifecycle(msgs, task_id):
    assert all("timestamp" in m and "type" in m for m in msgs)
    updates = [m for m in msgs if m["type"] == "progress_update"]
    assert updates, msgs
    progress = [m["overall_progress"] for m in updates]
    assert progress == sorted(progress), progress  # never goes down
    assert all(m["progress"] == m["overall_progress"] for m in updates)
    assert all(m["task_id"] == task_id for m in msgs if "task_id" in m and m["type"] != "connection_established")
    seen = [m["stage"] for m in updates if m["stage"]]
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert [s for s in STAGES if s in order] == order, order
    assert msgs[-1]["type"] == "task_completed"
    assert msgs[-1]["result_path"] == f"/api/v1/task-result/{task_id}"
    assert updates[-1]["overall_progress"] == 100 and updates[-1]["status"] == "completed"
    assert max(len(json.dumps(m)) for m in msgs) < 64 * 1024  # no image data in messages


def test_submit_answers_at_once_and_completes(client):
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]},
                    headers={"host": "text.example:9000"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "pending" and isinstance(body["message"], str)
    assert body["websocket_url"] == f"ws://text.example:9000/api/v1/ws/progress/{body['task_id']}"
    assert "estimated_time" in body
    final = wait_status(client, body["task_id"])
    assert final["status"] == "completed" and final["overall_progress"] == 100
    for key in ("task_id", "status", "stage", "overall_progress", "stage_progress", "current_region",
                "total_regions", "message", "elapsed_time", "estimated_remaining", "error", "created_at",
                "started_at", "completed_at"):
        assert key in final
    assert final["total_regions"] == 1 and final["current_region"] == 1
    res = client.get(f"/api/v1/task-result/{body['task_id']}")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    out = decode(res.content)
    assert np.abs(out[85:115, 45:195].astype(int) - [200, 180, 160]).mean() < 10


def test_websocket_url_is_wss_behind_tls_and_null_without_progress(client):
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]},
                    headers={"x-forwarded-proto": "https", "host": "api.example"})
    assert r.json()["websocket_url"].startswith("wss://api.example/api/v1/ws/progress/")
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "enable_progress": False})
    assert r.json()["websocket_url"] is None
    wait_status(client, r.json()["task_id"])


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


def test_lifecycle_on_the_task_channel(client):
    with client.websocket_connect("/api/v1/ws/progress/life-1") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "connection_established" and hello["task_id"] == "life-1"
        assert ws.receive_json() == {**ws_subscribed("life-1"), "timestamp": ANY}
        r = client.post("/api/v1/inpaint-regions-async",
                        json={"image": IMG, "regions": [BOX, {"x": 250, "y": 10, "width": 30, "height": 20}],
                              "task_id": "life-1"})
        assert r.status_code == 200
        msgs = read_until_final(ws)
    assert_lifecycle(msgs, "life-1")
    assert msgs[-1]["total_regions"] == 2


def test_subscribe_on_the_general_channel_before_submit(client):
    with client.websocket_connect("/api/v1/ws/progress") as ws:
        assert ws.receive_json()["type"] == "connection_established"
        ws.send_json({"type": "subscribe_task", "task_id": "early-bird"})
        assert ws.receive_json()["type"] == "task_subscribed"
        client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "early-bird"})
        msgs = read_until_final(ws)
        assert_lifecycle(msgs, "early-bird")
        ws.send_json({"type": "get_task_status", "task_id": "early-bird"})
        status = ws.receive_json()
        assert status["type"] == "progress_update" and status["status"] == "completed"
        ws.send_json({"type": "unsubscribe_task", "task_id": "early-bird"})
        assert ws.receive_json()["type"] == "task_unsubscribed"


def test_late_subscriber_gets_the_final_state_at_once(client):
    tid = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
    wait_status(client, tid)
    with client.websocket_connect(f"/api/v1/ws/progress/{tid}") as ws:
        types = [ws.receive_json()["type"] for _ in range(4)]
    assert types == ["connection_established", "task_subscribed", "progress_update", "task_completed"]


def test_bad_client_messages_get_errors_and_the_connection_stays(client):
    with client.websocket_connect("/api/v1/ws/progress") as ws:
        ws.receive_json()
        for bad in ("not json", "[1,2]", '{"type": 5}', '{"type": "fly"}', '{"type": "subscribe_task"}',
                    '{"type": "get_task_status", "task_id": "nope"}', '{"type": "cancel_task", "task_id": "nope"}'):
            ws.send_text(bad)
            m = ws.receive_json()
            assert m["type"] == "error" and m["message"], bad
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"


def test_unknown_ids_on_every_route(client):
    for method, path in (("get", "/api/v1/task-status/nope"), ("post", "/api/v1/cancel-task/nope"),
                         ("get", "/api/v1/task-result/nope"), ("get", "/api/v1/task-result/nope/0")):
        r = getattr(client, method)(path)
        assert r.status_code == 404 and r.json()["error"] == "task_not_found", path


def test_tasks_listing(client):
    body = client.get("/api/v1/tasks").json()
    for key in ("total_tasks", "active_tasks", "completed_tasks", "error_tasks", "active_task_ids", "queue"):
        assert key in body


def test_a_failing_task_reports_task_failed(client):
    with client.websocket_connect("/api/v1/ws/progress/fails") as ws:
        ws.receive_json(), ws.receive_json()
        client.post("/api/v1/inpaint-regions-async",
                    json={"image": b64(b"not an image"), "regions": [BOX], "task_id": "fails"})
        msgs = read_until_final(ws)
    final = msgs[-1]
    assert final["type"] == "task_failed" and final["error"] and final["error_message"] == final["error"]
    status = client.get("/api/v1/task-status/fails").json()
    assert status["status"] == "error" and status["error"]
    assert client.get("/api/v1/task-result/fails").status_code == 409


def _slow_app(model, **settings):
    services = services_with_model(model, **settings)
    return running_app(services=services), services


@pytest.fixture
def slow():
    model = SlowModel()
    ctx, _ = _slow_app(model, max_queue=3)
    with ctx as c:
        yield c, model
        model.release.set()


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


class Receiver:
    """A local HTTP server that records callbacks; fails the first `fail` attempts with 500."""

    def __init__(self, fail=0):
        self.calls, self.fail = [], fail
        self.received = []  # (headers, raw body) of every attempt
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["content-length"]))
                rec.received.append((dict(self.headers), raw))
                body = json.loads(raw)
                rec.calls.append(body)
                code = 500 if len(rec.calls) <= rec.fail else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n, timeout=15):
        deadline = time.time() + timeout
        while len(self.calls) < n and time.time() < deadline:
            time.sleep(0.02)
        return self.calls


def test_callback_is_delivered_and_retried():
    rec = Receiver(fail=1)
    with running_app(model="cv2", callback_backoff=0.05) as c:
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


def test_signed_callbacks_keep_their_delivery_id_on_every_retry():
    secret = "s3cret-for-tests"
    rec = Receiver(fail=2)
    with running_app(model="cv2", callback_backoff=0.05, callback_secret=secret) as c:
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


def test_unsigned_callbacks_still_carry_a_delivery_id():
    rec = Receiver()
    with running_app(model="cv2") as c:
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": rec.url})
        rec.wait(1)
    rec.server.shutdown()
    headers, _ = rec.received[0]
    assert "X-IOPaint-Signature" not in headers and len(headers["X-IOPaint-Delivery"]) >= 16


def test_callback_to_an_unresolvable_host_does_not_fail_the_task():
    with running_app(model="cv2", callback_backoff=0.01, callback_retries=1) as c:
        r = c.post("/api/v1/inpaint-regions-async",
                   json={"image": IMG, "regions": [BOX], "callback_url": "http://no-such-host.invalid/hook"})
        assert r.status_code == 200
        assert wait_status(c, r.json()["task_id"])["status"] == "completed"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://169.254.169.254/latest",
                                 "http://metadata.google.internal/x", "http://[fe80::1]/x", "javascript:alert(1)",
                                 "http:///nohost"])
def test_forbidden_callbacks_are_refused_at_submit(client, url):
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": url})
    assert r.status_code == 422, url
    assert r.json()["error"] in ("invalid_callback_url", "callback_refused")


def test_callback_allow_list_narrows_targets():
    with running_app(model="cv2", callback_allowed_hosts="backend,10.0.0.0/8") as c:
        def submit(url):
            return c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "callback_url": url})

        assert submit("http://127.0.0.1:9/x").status_code == 422
        assert submit("http://backend:8000/x").status_code == 200
        assert submit("http://10.1.2.3/x").status_code == 200


def test_batch_with_one_bad_item(client):
    items = [{"image": IMG, "regions": [BOX], "name": "first.png"},
             {"image": b64(b"broken"), "regions": [BOX]},
             {"image": IMG, "regions": [{"x": 0, "y": 0, "width": 30, "height": 30}]}]
    with client.websocket_connect("/api/v1/ws/progress/batch-1") as ws:
        ws.receive_json(), ws.receive_json()
        r = client.post("/api/v1/inpaint-batch-async", json={"items": items, "task_id": "batch-1"})
        assert r.status_code == 200, r.text
        msgs = read_until_final(ws)
    assert msgs[-1]["type"] == "task_completed"
    progress = [m["overall_progress"] for m in msgs if m["type"] == "progress_update"]
    assert progress == sorted(progress) and progress[-1] == 100
    status = client.get("/api/v1/task-status/batch-1").json()
    assert [i["status"] for i in status["items"]] == ["completed", "error", "completed"]
    assert status["items"][1]["error"]
    assert client.get("/api/v1/task-result/batch-1/0").headers["content-type"] == "image/png"
    assert client.get("/api/v1/task-result/batch-1/1").status_code == 409
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/v1/task-result/batch-1").content))
    assert sorted(z.namelist()) == ["000-first.png", "002.png"]


def test_batch_of_one_keeps_its_result(client):
    r = client.post("/api/v1/inpaint-batch-async",
                    json={"items": [{"image": IMG, "regions": [BOX], "name": "only.png"}], "task_id": "batch-one"})
    assert r.status_code == 200, r.text
    status = wait_status(client, "batch-one")
    assert status["status"] == "completed"
    assert [i["status"] for i in status["items"]] == ["completed"]
    one = client.get("/api/v1/task-result/batch-one/0")
    assert one.status_code == 200 and one.headers["content-type"] == "image/png"
    assert (decode(one.content)[85:115, 45:195] != 10).all()  # the bar is repainted
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/v1/task-result/batch-one").content))
    assert z.namelist() == ["000-only.png"] and z.read("000-only.png") == one.content


def test_batch_of_one_bad_item_fails_the_task_and_says_why(client):
    r = client.post("/api/v1/inpaint-batch-async",
                    json={"items": [{"image": b64(b"broken"), "regions": [BOX]}], "task_id": "batch-one-bad"})
    assert r.status_code == 200, r.text
    status = wait_status(client, "batch-one-bad")
    assert status["status"] == "error" and status["error"] == "every item of the batch failed"
    assert status["items"][0]["status"] == "error" and status["items"][0]["error"]


def test_finished_tasks_are_evicted_by_age_and_by_size():
    with running_app(model="cv2", task_retention=0.5) as c:
        tid = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
        wait_status(c, tid)
        time.sleep(0.7)
        c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]})  # eviction runs on submit
        assert c.get(f"/api/v1/task-status/{tid}").status_code == 404
    size = len(png_bytes(text_image()))
    with running_app(model="cv2", task_result_max_bytes=3 * size) as c:
        ids = []
        for _ in range(6):
            ids.append(c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"])
            wait_status(c, ids[-1])
        listing = c.get("/api/v1/tasks").json()
        assert listing["stored_result_bytes"] <= 3 * size
        assert c.get(f"/api/v1/task-status/{ids[0]}").status_code == 404  # oldest went first
        assert c.get(f"/api/v1/task-result/{ids[-1]}").status_code == 200


def test_abrupt_websocket_disconnects_leave_the_service_healthy(client):
    for i in range(50):
        ws = client.websocket_connect(f"/api/v1/ws/progress/gone-{i}")
        ws.__enter__()
        ws.receive_json()
        ws.__exit__(None, None, None)  # gone without a close handshake or unsubscribe
    time.sleep(0.3)
    h = client.get("/api/v1/health")
    assert h.status_code == 200 and h.json()["websocket_connections"] == 0
    tid = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]}).json()["task_id"]
    assert wait_status(client, tid)["status"] == "completed"


def test_shutdown_cancels_running_tasks_and_tells_clients():
    model = SlowModel()
    ctx, services = _slow_app(model, shutdown_grace=1)
    with ctx as c:
        with c.websocket_connect("/api/v1/ws/progress/at-shutdown") as ws:
            ws.receive_json(), ws.receive_json()
            c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "task_id": "at-shutdown"})
            assert model.started.wait(10)
            threading.Timer(0.3, model.release.set).start()
            for stop in services.on_shutdown:  # what the lifespan runs on shutdown
                c.portal.call(stop)
            msgs = []
            with pytest.raises(Exception):  # then the service closes the connection (1001)
                while True:
                    msgs.append(ws.receive_json())
        assert c.portal.call(services.tasks.get, "at-shutdown").status == "cancelled"
        assert any(m["type"] == "task_cancelled" for m in msgs)
        refused = c.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]})
        assert refused.status_code == 503


class _Any:
    def __eq__(self, other):
        return True


ANY = _Any()


def ws_subscribed(tid):
    return {"type": "task_subscribed", "task_id": tid}


@pytest.mark.parametrize("item,where", [
    ({"image": "", "regions": [BOX]}, ["items", 1, "image"]),
    ({"image": IMG, "regions": [{"x": "left", "y": 0, "width": 10, "height": 10}]}, ["items", 1, "regions", 0, "x"]),
    ({"image": IMG, "regions": [{"bounding_box": {"x": True, "y": 0, "width": 10, "height": 10}}]},
     ["items", 1, "regions", 0, "bounding_box", "x"]),
    ({"image": IMG, "regions": [BOX], "detect": "yes"}, ["items", 1, "detect"]),
])
def test_invalid_batch_items_are_refused_at_submit_naming_the_item(client, item, where):
    before = client.get("/api/v1/tasks").json()["total_tasks"]
    r = client.post("/api/v1/inpaint-batch-async", json={"items": [{"image": IMG, "regions": [BOX]}, item]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input" and "items.1." in body["detail"]
    assert any(e["loc"][:len(where)] == where for e in body["errors"]), body["errors"]
    assert client.get("/api/v1/tasks").json()["total_tasks"] == before  # nothing was queued


def test_a_batch_item_region_of_negative_size_is_refused_at_submit(client):
    r = client.post("/api/v1/inpaint-batch-async", json={"items": [
        {"image": IMG, "regions": [BOX]}, {"image": IMG, "regions": [BOX, {"x": 5, "y": 5, "width": -3, "height": 9}]}]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_region"
    assert "items[1].regions[1]" in r.json()["detail"]
