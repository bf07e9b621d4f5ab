"""Operations: Prometheus metrics, request ids and access logs, API-key authentication."""

import json
import logging

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support import b64, png_bytes, running_app, text_image

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}
IMG = b64(png_bytes(text_image()))


def test_metrics_cover_requests_stages_queue_tasks_ws_and_model(client):
    client.post("/api/v1/inpaint-regions", json={"image": IMG, "regions": [BOX]})
    with client.websocket_connect("/api/v1/ws/progress") as ws:
        ws.receive_json()
        text = client.get("/metrics").text
        assert "iopaint_websocket_connections 1.0" in text
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'iopaint_http_requests_total{method="POST",route="/api/v1/inpaint-regions",status="200"}' in text
    assert 'iopaint_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/v1/inpaint-regions"}' in text
    for stage in ("decode", "mask", "model", "composite", "encode"):
        assert f'iopaint_pipeline_stage_seconds_count{{model="cv2",stage="{stage}"}}' in text
    assert 'iopaint_queue_jobs{state="running"} 0.0' in text
    assert "iopaint_active_tasks 0.0" in text
    assert 'iopaint_model_loaded{active="cv2",fallback="false",requested="cv2"} 1.0' in text
    # raw paths do not become labels: unknown routes share one
    client.get("/api/v1/task-status/some-random-id")
    assert 'route="/api/v1/task-status/{task_id}"' in client.get("/metrics").text


def test_request_id_is_accepted_or_made_and_logged_without_image_data(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        r = client.post("/api/v1/inpaint-regions-json", json={"image": IMG, "regions": [BOX]},
                        headers={"X-Request-ID": "req-123"})
        generated = client.get("/api/v1/health").headers["x-request-id"]
    assert r.headers["x-request-id"] == "req-123"
    assert len(generated) >= 16 and generated != "req-123"
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "app.access"]
    mine = [line for line in lines if line["request_id"] == "req-123"]
    assert len(mine) == 1 and mine[0]["status"] == 200 and mine[0]["route"] == "/api/v1/inpaint-regions-json"
    assert all(IMG[:40] not in rec.getMessage() for rec in caplog.records)
    bad = client.get("/api/v1/health", headers={"X-Request-ID": "x" * 500 + "\n"})
    assert bad.headers["x-request-id"] != "x" * 500  # unsafe ids are replaced


@pytest.fixture(scope="module")
def secured():
    with running_app(model="cv2", api_key="s3cret-key") as c:
        yield c


def test_api_key_guards_http_routes(secured):
    c = secured
    body = {"image": IMG, "regions": [BOX]}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer nope"}):
        r = c.post("/api/v1/inpaint-regions-json", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert c.get("/api/v1/info", headers=headers).status_code == 401
        assert c.get("/", headers=headers).status_code == 401
    assert c.post("/api/v1/inpaint-regions-json", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
    assert c.get("/api/v1/tasks", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    for open_path in ("/api/v1/health", "/metrics", "/docs", "/redoc", "/openapi.json"):
        assert c.get(open_path).status_code == 200, open_path


def test_api_key_guards_websockets(secured):
    c = secured
    for url, headers in (("/api/v1/ws/progress", {}), ("/api/v1/ws/progress?api_key=wrong", {}),
                         ("/api/v1/ws/progress/t1", {"X-API-Key": "bad"})):
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect(url, headers=headers) as ws:
                ws.receive_json()
    with c.websocket_connect("/api/v1/ws/progress?api_key=s3cret-key") as ws:
        assert ws.receive_json()["type"] == "connection_established"
    with c.websocket_connect("/api/v1/ws/progress/t1", headers={"X-API-Key": "s3cret-key"}) as ws:
        assert ws.receive_json()["type"] == "connection_established"


def _preflight(c, origin):
    return c.options("/api/v1/inpaint-regions", headers={
        "origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})


def test_cors_is_same_origin_only_by_default(client):
    # any web page a user opens must not be able to call the service from the user's browser
    assert "access-control-allow-origin" not in _preflight(client, "https://evil.example").headers
    r = client.get("/api/v1/health", headers={"origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_allows_the_listed_origins_only():
    with running_app(model="cv2", cors_origins="https://app.example, https://admin.example") as c:
        for origin in ("https://app.example", "https://admin.example"):
            assert _preflight(c, origin).headers["access-control-allow-origin"] == origin
            assert c.get("/api/v1/health", headers={"origin": origin}).headers["access-control-allow-origin"] == origin
        assert "access-control-allow-origin" not in _preflight(c, "https://evil.example").headers
        assert "access-control-allow-origin" not in c.get("/api/v1/health",
                                                          headers={"origin": "https://evil.example"}).headers


def test_cors_any_origin_is_an_explicit_opt_in():
    with running_app(model="cv2", cors_origins="*") as c:
        assert _preflight(c, "https://any.example").headers["access-control-allow-origin"] == "*"
