"""Model loading: IOPaint's real code in-process, the offline fallback, and bad weights."""

import numpy as np
import pytest

from app.engine.models import load_model, ModelLoadError
from tests.support import b64, decode, lama_path, png_bytes, running_app, text_image, write_lama_standin


@pytest.fixture
def no_lama_weights():
    lama_path().unlink(missing_ok=True)
    yield
    lama_path().unlink(missing_ok=True)


@pytest.fixture
def lama_standin():
    write_lama_standin()
    yield lama_path()
    lama_path().unlink(missing_ok=True)


def test_default_lama_without_weights_falls_back_to_cv2_and_says_why(no_lama_weights):
    with running_app(model="lama") as c:
        h = c.get("/api/v1/health")
        assert h.status_code == 200
        body = h.json()
        assert body["status"] == "healthy"
        assert body["model"] == "cv2" and body["requested_model"] == "lama" and body["fallback"] is True
        assert "weights" in body["fallback_reason"] and "download" in body["fallback_reason"]
        assert "fallback" in body["message"]
        m = c.get("/api/v1/model").json()
        assert m["name"] == "cv2" and m["parameters"]["fallback"] is True
        # and it really serves
        img = text_image()
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)),
                                                    "regions": [{"x": 40, "y": 80, "width": 160, "height": 40}]})
        assert r.status_code == 200


def test_no_fallback_refuses_to_start_with_a_reason(no_lama_weights):
    with pytest.raises(RuntimeError) as e:
        with running_app(model="lama", model_fallback="none"):
            pass
    assert "weights for 'lama'" in str(e.value)


def test_lama_standin_runs_through_iopaints_lama_code(lama_standin):
    model, status = load_model("lama", "cpu", fallback=None)
    assert status.active == "lama" and not status.fallback
    assert type(model.manager.model).__name__ == "LaMa"  # IOPaint's own LaMa class loaded the file
    with running_app(model="lama") as c:
        body = c.get("/api/v1/health").json()
        assert body["model"] == "lama" and body["fallback"] is False
        img = text_image(bg=(200, 180, 160), fg=(10, 10, 10))
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "padding": 2,
                                                    "regions": [{"x": 45, "y": 85, "width": 150, "height": 30}]})
        assert r.status_code == 200, r.text
        out = decode(r.content)
        # the stand-in paints the mean of the unmasked context: the flat background colour
        assert np.abs(out[85:115, 45:195].astype(int) - [200, 180, 160]).max() <= 2
        assert np.array_equal(out[:80], img[:80])


def test_corrupt_weights_do_not_kill_the_server(no_lama_weights):
    lama_path().parent.mkdir(parents=True, exist_ok=True)
    lama_path().write_bytes(b"this is not a torchscript file")
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_model("lama", "cpu", fallback=None)  # IOPaint's exit(-1) became an error
    lama_path().write_bytes(b"this is not a torchscript file either")
    with running_app(model="lama") as c:
        body = c.get("/api/v1/health").json()
        assert body["status"] == "healthy" and body["model"] == "cv2" and body["fallback"] is True
        assert "corrupt" in body["fallback_reason"]


def test_unknown_model_falls_back():
    with running_app(model="no-such-model") as c:
        body = c.get("/api/v1/health").json()
        assert body["model"] == "cv2" and body["fallback"] is True and "no-such-model" in body["fallback_reason"]


def test_unavailable_device_is_reported():
    with running_app(model="cv2", device="cuda") as c:
        m = c.get("/api/v1/model").json()
        assert m["device"] == "cpu"
        assert "CUDA is not available" in m["parameters"]["device_note"]
