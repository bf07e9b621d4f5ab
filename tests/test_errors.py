"""Bad input gets a clear 4xx JSON error and the service keeps serving; the event loop stays free."""

import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from app.main import build_services
from app.settings import Settings
from tests.support import SlowModel, b64, png_bytes, running_app, services_with_model, text_image

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}
IMG = b64(png_bytes(text_image()))


def _assert_error(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    if code:
        assert body["error"] == code


@pytest.mark.parametrize("body,status,code", [
    ({"image": "%%%not base64%%%", "regions": [BOX]}, 400, "invalid_base64"),
    ({"image": b64(b"GIF89a but not really an image"), "regions": [BOX]}, 400, "invalid_image"),
    ({"image": b64(png_bytes(text_image())[:200]), "regions": [BOX]}, 400, "invalid_image"),
    ({"image": "", "regions": [BOX]}, 422, "missing_image"),
    ({"regions": [BOX]}, 422, "invalid_input"),
    ({"image": IMG}, 422, "no_regions"),
    ({"image": IMG, "regions": []}, 422, "no_regions"),
    ({"image": IMG, "regions": [{"x": 10, "y": 10, "width": 0, "height": 10}]}, 422, "invalid_region"),
    ({"image": IMG, "regions": [{"x": 200, "y": 120, "width": -160, "height": 40}]}, 422, "invalid_region"),
    ({"image": IMG, "regions": [{"x": 40, "y": 120, "width": 160, "height": -40}]}, 422, "invalid_region"),
    ({"image": IMG, "regions": [BOX, {"bounding_box": {"x": 200, "y": 80, "width": -1, "height": 4}}]}, 422,
     "invalid_region"),
    ({"image": IMG, "regions": [{"points": [[1, 1], [5, 5]]}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": [{"x": 1, "y": 2}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": [{"x": "a", "y": 2, "width": 3, "height": 4}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": [{"x": 1.7e308, "y": 0, "width": 10, "height": 10}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": [{"points": [[0, 0], [1e300, 0], [0, 1e300]]}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": [{"x": True, "y": 2, "width": 3, "height": 4}]}, 422, "invalid_input"),
    ({"image": IMG, "regions": "everything"}, 422, "invalid_input"),
    ({"image": IMG, "regions": [BOX], "output_format": "gif"}, 422, "invalid_input"),
    ({"image": IMG, "regions": [BOX], "hd_strategy": "Sideways"}, 422, "invalid_input"),
    ({"image": IMG, "regions": [BOX], "padding": -3}, 422, "invalid_input"),
    ({"image": 12345, "regions": [BOX]}, 422, "invalid_input"),
])
def test_bad_region_requests(client, body, status, code):
    _assert_error(client.post("/api/v1/inpaint-regions", json=body), status, code)
    _assert_error(client.post("/api/v1/inpaint-regions-json", json=body), status, code)


def test_a_zero_area_polygon_is_valid_and_paints_nothing(client):
    """Issue 21: points that coincide or lie on one line are a region the schema allows; it covers
    no pixel, so the answer is the image unchanged (not a 422)."""
    for points in ([[1, 1], [5, 5], [9, 9]], [[0, 0], [0, 0], [0, 0]]):
        r = client.post("/api/v1/inpaint-regions-json", json={"image": IMG, "regions": [{"points": points}]})
        assert r.status_code == 200, r.text
        assert r.json()["processing_stats"]["mask_area"] == 0
        r = client.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": [{"points": points}],
                                                         "output_format": "png"})
        assert r.status_code == 200
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), text_image())


def test_bad_bodies(client):
    _assert_error(client.post("/api/v1/inpaint-regions", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _assert_error(client.post("/api/v1/inpaint-regions", content=b"", headers={"content-type": "application/json"}), 422)
    _assert_error(client.post("/api/v1/inpaint-regions", json=[1, 2, 3]), 422)
    _assert_error(client.post("/api/v1/inpaint-regions", files={"mask": ("m.png", b"x")}), 422, "missing_image")
    _assert_error(client.post("/api/v1/inpaint-regions", files={"image": ("a.png", png_bytes(text_image()))},
                              data={"regions": "[{not json"}), 422)


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                   "application/octet-stream", None])
def test_a_body_neither_json_nor_a_form_is_415(client, ctype):
    # text/plain is what a page on another site may POST without a CORS preflight: never run its work
    body = json.dumps({"image": IMG, "regions": [BOX]}).encode()
    headers = {"content-type": ctype} if ctype else {}
    for path in ("/api/v1/inpaint-regions", "/api/v1/inpaint-regions-json", "/api/v1/inpaint",
                 "/api/v1/inpaint-regions-async", "/api/v1/inpaint-batch-async", "/api/v1/detect-text"):
        r = client.post(path, content=body, headers=headers)
        _assert_error(r, 415, "unsupported_media_type")
        assert "application/json" in r.json()["detail"]
    # the batch route takes JSON only
    r = client.post("/api/v1/inpaint-batch-async", files={"image": ("a.png", b"x")})
    _assert_error(r, 415, "unsupported_media_type")


def test_negative_region_names_the_region(client):
    r = client.post("/api/v1/inpaint-regions-json",
                    json={"image": IMG, "regions": [BOX, {"x": 200, "y": 120, "width": -160, "height": 40}]})
    _assert_error(r, 422, "invalid_region")
    assert "regions[1]" in r.json()["detail"]


def test_mask_errors(client):
    _assert_error(client.post("/api/v1/inpaint", json={"image": IMG}), 422)
    _assert_error(client.post("/api/v1/inpaint", json={"image": IMG, "mask": "@@@"}), 400)


MASKED_ROUTES = ("/api/v1/inpaint", "/api/v1/inpaint-regions", "/api/v1/inpaint-regions-json")


@pytest.mark.parametrize("route", MASKED_ROUTES)
@pytest.mark.parametrize("form", [False, True], ids=["json", "multipart"])
@pytest.mark.parametrize("mask_size", [(40, 40), (1000, 1)], ids=["40x40", "1000x1"])
def test_a_mask_of_another_shape_is_refused(client, route, form, mask_size):
    """A mask of another shape than its image would be stretched: a caller's mistake, named with
    both sizes, on every route that takes a mask, as JSON or as a form."""
    image, mask = png_bytes(np.full((64, 96, 3), 120, np.uint8)), png_bytes(np.full(mask_size[::-1], 255, np.uint8))
    if form:
        r = client.post(route, files={"image": ("a.png", image), "mask": ("m.png", mask)})
    else:
        r = client.post(route, json={"image": b64(image), "mask": b64(mask)})
    _assert_error(r, 422, "mask_size_mismatch")
    assert "{}x{}".format(*mask_size) in r.json()["detail"] and "96x64" in r.json()["detail"]


def test_unknown_route_and_method(client):
    _assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _assert_error(client.get("/api/v1/inpaint-regions"), 405)


def test_size_limits_answer_413_before_decoding():
    with running_app(model="cv2", max_file_size=20_000, max_image_pixels=1_000_000) as c:
        big = png_bytes(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
        assert len(big) > 20_000
        _assert_error(c.post("/api/v1/inpaint-regions", json={"image": b64(big), "regions": [BOX]}), 413)
        _assert_error(c.post("/api/v1/inpaint-regions", files={"image": ("a.png", big)},
                             data={"regions": "[]"}), 413)
        # a whole body over the limit is refused from its Content-Length
        _assert_error(c.post("/api/v1/inpaint-regions", content=b"x" * 3_000_000,
                             headers={"content-type": "application/json"}), 413, "request_too_large")
        # a decompression bomb: tiny file, huge pixel count
        bomb = io.BytesIO()
        Image.new("1", (5000, 5000)).save(bomb, "PNG", optimize=True)
        assert len(bomb.getvalue()) < 20_000
        _assert_error(c.post("/api/v1/inpaint-regions", json={"image": b64(bomb.getvalue()), "regions": [BOX]}),
                      413, "image_too_large")
        assert c.get("/api/v1/health").json()["status"] == "healthy"


def test_too_many_regions(client):
    regions = [{"x": i % 300, "y": 10, "width": 2, "height": 2} for i in range(1001)]
    _assert_error(client.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": regions}), 422, "too_many_regions")


@pytest.fixture
def slow_app():
    model = SlowModel()
    with running_app(services=services_with_model(model, max_queue_size=2, request_timeout=5)) as c:
        yield c, model
        model.release.set()


def _wait_until_admitted(c, n: int) -> None:
    """Until the queue holds n jobs: a request in a thread may not have reached it yet."""
    for _ in range(200):
        q = c.get("/api/v1/health").json()["queue"]
        if q["running"] + q["queued"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"the queue never held {n} jobs: {q}")


def test_health_answers_while_inference_runs_and_full_queue_gets_503(slow_app):
    c, model = slow_app
    results = []
    body = {"image": IMG, "regions": [BOX]}
    threads = [threading.Thread(target=lambda: results.append(c.post("/api/v1/inpaint-regions", json=body)))
               for _ in range(2)]
    for t in threads:
        t.start()
    assert model.started.wait(10)
    _wait_until_admitted(c, 2)
    t0 = time.perf_counter()
    h = c.get("/api/v1/health")
    assert h.status_code == 200 and time.perf_counter() - t0 < 1.0
    assert h.json()["queue"]["running"] == 1 and h.json()["queue"]["queued"] == 1
    r = c.post("/api/v1/inpaint-regions", json=body)  # two admitted: the third is refused
    _assert_error(r, 503, "queue_full")
    assert int(r.headers["Retry-After"]) >= 1
    model.release.set()
    for t in threads:
        t.join(30)
    assert [x.status_code for x in results] == [200, 200]


def test_request_timeout_answers_504_and_frees_the_slot():
    model = SlowModel()
    services = services_with_model(model, max_queue_size=1, request_timeout=0.5)
    with running_app(services=services) as c:
        r = c.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": [BOX]})
        _assert_error(r, 504, "timeout")
        model.release.set()
        for _ in range(50):
            if services.runner.stats["running"] == 0:
                break
            time.sleep(0.05)
        assert services.runner.stats == {"queued": 0, "running": 0, "capacity": 1, "workers": 1}


def test_requests_while_the_model_loads_get_503(monkeypatch):
    s = Settings(model="cv2")
    services = build_services(s)
    gate = threading.Event()
    real_load = services.models.load

    def slow_load(**kw):
        gate.wait(20)
        real_load(**kw)

    monkeypatch.setattr(services.models, "load", slow_load)
    with _no_wait(services) as c:
        h = c.get("/api/v1/health")
        assert h.status_code == 503 and h.json()["status"] == "starting"
        r = c.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": [BOX]})
        _assert_error(r, 503, "model_loading")
        assert "Retry-After" in r.headers
        gate.set()
        assert services.models.ready.wait(30)
        assert c.get("/api/v1/health").status_code == 200


def _no_wait(services):
    from fastapi.testclient import TestClient
    from app.main import create_app

    return TestClient(create_app(services.settings, services), raise_server_exceptions=False)


class BrokenModel:
    name, device = "broken", "cpu"

    def __call__(self, rgb, mask, params):
        raise RuntimeError("CUDA out of memory at /secret/path/model.py line 12")


def test_a_model_failure_is_a_clean_500_and_the_service_keeps_serving():
    services = services_with_model(BrokenModel())
    with running_app(services=services) as c:
        r = c.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": [BOX]})
        assert r.status_code == 500 and r.json()["error"] == "inference_failed"
        assert "/secret/path" not in r.text and "Traceback" not in r.text
        assert c.get("/api/v1/health").status_code == 200
        assert services.runner.stats["running"] == 0


class FlakyModel:
    """Fails on images whose first pixel is black; repaints the others."""

    name, device = "flaky", "cpu"

    def __call__(self, rgb, mask, params):
        if rgb[0, 0].sum() == 0:
            raise RuntimeError("CUDA out of memory at /secret/path/model.py line 12")
        return np.full_like(rgb, 200)


def _metric(text: str, line_start: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start))


def test_sync_tasks_and_batch_items_map_a_model_failure_the_same_way():
    dark = text_image(bg=(0, 0, 0), fg=(250, 250, 250))
    with running_app(services=services_with_model(FlakyModel())) as c:
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(dark)), "regions": [BOX]})
        assert r.status_code == 500 and r.json()["error"] == "inference_failed"
        tid = c.post("/api/v1/inpaint-regions-async", json={"image": b64(png_bytes(dark)), "regions": [BOX]}).json()["task_id"]
        batch = c.post("/api/v1/inpaint-batch-async", json={"items": [
            {"image": b64(png_bytes(dark)), "regions": [BOX]}, {"image": IMG, "regions": [BOX]}]}).json()["task_id"]
        deadline = time.time() + 30
        while time.time() < deadline:
            task, b = (c.get(f"/api/v1/task-status/{t}").json() for t in (tid, batch))
            if task["status"] not in ("pending", "preparing", "processing") and b["status"] == "completed":
                break
            time.sleep(0.05)
        assert task["status"] == "error" and "/secret/path" not in task["error"]
        assert task["error"] == r.json()["detail"]  # the same answer as the sync route
        # one item's model failure fails that item only, with the same message
        assert [i["status"] for i in b["items"]] == ["error", "completed"]
        assert b["items"][0]["error"] == r.json()["detail"]
        metrics = c.get("/metrics").text
        assert _metric(metrics, 'iopaint_pipeline_jobs_total{model="flaky",outcome="error"}') == 3
        assert _metric(metrics, 'iopaint_pipeline_jobs_total{model="flaky",outcome="ok"}') == 1


def test_detect_text_runs_in_the_queue_and_is_counted(slow_app):
    c, model = slow_app
    body = {"image": IMG, "regions": [BOX]}
    threads = [threading.Thread(target=lambda: c.post("/api/v1/inpaint-regions", json=body)) for _ in range(2)]
    for t in threads:
        t.start()
    assert model.started.wait(10)
    _wait_until_admitted(c, 2)
    r = c.post("/api/v1/detect-text", json={"image": IMG})  # the queue (2) is full: no slot for it
    _assert_error(r, 503, "queue_full")
    assert int(r.headers["retry-after"]) >= 1
    model.release.set()
    for t in threads:
        t.join(30)
    assert c.post("/api/v1/detect-text", json={"image": IMG}).status_code == 200
    assert _metric(c.get("/metrics").text, 'iopaint_pipeline_jobs_total{model="ppocr-v4-det",outcome="ok"}') == 1
