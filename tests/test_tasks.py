"""The async routes' edges (URLs, refused input, bad WebSocket messages, callback targets) and
what only the memory store does (a shutdown cancels its tasks). Task behaviours on both stores:
tests/test_task_contract.py."""

import threading
import time

import numpy as np
import pytest

from tests.support import SlowModel, b64, png_bytes, running_app, services_with_model, text_image, wait_status

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}
IMG = b64(png_bytes(text_image()))


def test_websocket_url_is_wss_behind_tls_and_null_without_progress(client):
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX]},
                    headers={"x-forwarded-proto": "https", "host": "api.example"})
    assert r.json()["websocket_url"].startswith("wss://api.example/api/v1/ws/progress/")
    r = client.post("/api/v1/inpaint-regions-async", json={"image": IMG, "regions": [BOX], "enable_progress": False})
    assert r.json()["websocket_url"] is None
    wait_status(client, r.json()["task_id"])


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


def _slow_app(model, **settings):
    services = services_with_model(model, **settings)
    return running_app(services=services), services


@pytest.fixture
def slow():
    model = SlowModel()
    ctx, _ = _slow_app(model, max_queue_size=3)
    with ctx as c:
        yield c, model
        model.release.set()


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


@pytest.mark.parametrize("form", [False, True], ids=["json", "multipart"])
def test_a_task_whose_mask_is_of_another_shape_fails_saying_so(client, form):
    """As an undecodable image does, a mask of another shape than its image ends its task (the
    images are read when it runs, not at submit) with the sizes named; one of the image's shape
    at another size is scaled."""
    image = png_bytes(np.full((64, 96, 3), 120, np.uint8))
    masks = {"bad": png_bytes(np.full((40, 40), 255, np.uint8)), "half": png_bytes(np.full((32, 48), 255, np.uint8))}
    ids = {}
    for name, mask in masks.items():
        if form:
            r = client.post("/api/v1/inpaint-regions-async", files={"image": ("a.png", image), "mask": ("m.png", mask)})
        else:
            r = client.post("/api/v1/inpaint-regions-async", json={"image": b64(image), "mask": b64(mask)})
        assert r.status_code == 200, r.text
        ids[name] = r.json()["task_id"]
    bad = wait_status(client, ids["bad"])
    assert bad["status"] == "error" and "mask is 40x40 but the image is 96x64" in bad["error"]
    half = wait_status(client, ids["half"])
    assert half["status"] == "completed"
    assert half["processing_stats"]["mask_scaled_from"] == {"width": 48, "height": 32}


def test_a_batch_item_whose_mask_is_of_another_shape_fails_alone(client):
    image = b64(png_bytes(np.full((64, 96, 3), 120, np.uint8)))
    items = [{"image": image, "mask": b64(png_bytes(np.full((1, 1000), 255, np.uint8)))},
             {"image": image, "mask": b64(png_bytes(np.full((32, 48), 255, np.uint8)))}]
    r = client.post("/api/v1/inpaint-batch-async", json={"items": items})
    assert r.status_code == 200, r.text
    status = wait_status(client, r.json()["task_id"])
    assert [i["status"] for i in status["items"]] == ["error", "completed"]
    assert "mask is 1000x1 but the image is 96x64" in status["items"][0]["error"]
