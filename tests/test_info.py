"""The information routes and the offline docs."""

from app import __version__


def test_root_names_service_model_and_device(client):
    r = client.get("/")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "running"
    assert body["docs"] == "/docs" and body["health"] == "/api/v1/health"
    assert body["model"] == "cv2" and body["device"] == "cpu"
    assert body["version"] == __version__


def test_health_is_healthy_with_diagnostics(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy"
    assert {"message", "timestamp", "version"} <= body.keys()
    assert body["model"] == "cv2" and body["fallback"] is False
    assert body["queue"]["capacity"] >= 1
    assert body["memory_mb"] > 0


def test_model_route(client):
    body = client.get("/api/v1/model").json()
    assert body["name"] == "cv2" and body["device"] == "cpu" and body["status"] == "loaded"
    assert body["parameters"]["requested"] == "cv2"


def test_info_lists_capabilities_and_limits(client):
    body = client.get("/api/v1/info").json()
    assert body["model"]["name"] == "cv2"
    assert "inpaint-regions" in body["capabilities"]
    limits = body["limits"]
    assert limits["max_image_size"] == 2048
    assert limits["max_file_size"] == 52428800
    assert limits["request_timeout"] == 300


def test_docs_and_redoc_load_without_a_cdn(client):
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200
        assert "cdn." not in r.text and "jsdelivr" not in r.text
    js = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def test_openapi_documents_json_and_multipart_bodies(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/inpaint-regions"]["post"]["requestBody"]["content"]
    assert "application/json" in body and "multipart/form-data" in body
    assert "RegionsBody" in spec["components"]["schemas"]
    assert "regions" in spec["components"]["schemas"]["RegionsBody"]["properties"]


def test_openapi_documents_every_error_with_the_real_body(client):
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"detail", "error", "errors"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/api/v1/health":
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                elif status == "200" and "application/json" in answer.get("content", {}):
                    assert answer["content"]["application/json"]["schema"].get("$ref"), (method, path)
            if "requestBody" in op:
                assert {"413", "415", "422"} <= set(op["responses"]), (method, path)
    assert list(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert doc["paths"]["/api/v1/health"]["get"]["responses"]["503"]
    form = doc["components"]["schemas"]["RegionsParamsForm"]["properties"]
    assert form["padding"] == {"type": "integer", "minimum": 0, "maximum": 256, "title": "Padding",
                               "description": form["padding"]["description"]}  # no null a form cannot send
    assert form["detect"]["enum"] == ["true", "false"] and form["image"]["format"] == "binary"
