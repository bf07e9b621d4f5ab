"""Start-up as users run it: `python -m app serve` and `python -m uvicorn app.main:app` serve the same
app with the same settings, load the model and the text detector on one path, and log one line per
thing loaded (no misleading third-party warnings)."""

import subprocess
import sys

import httpx
import pytest

from tests.support import REPO, b64, png_bytes, start_service, stop_service, text_image

ENTRY_POINTS = {
    "python -m app serve": None,
    "python -m uvicorn app.main:app": [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                                       "--port", "{port}"],
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_entry_point_loads_model_and_detector_with_quiet_logs(tmp_path, name):
    # no fallback: the path that used to load the model apart from the detector
    proc, url, log = start_service(tmp_path, ENTRY_POINTS[name], IOPAINT_MODEL_FALLBACK="none", LOG_LEVEL="INFO",
                                   MAX_REGIONS="7")
    try:
        health = httpx.get(f"{url}/api/v1/health").json()
        assert health["status"] == "healthy" and health["model"] == "cv2"
        assert health["text_detector"] == "ppocr-v4-det"
        assert httpx.get(f"{url}/api/v1/info").json()["limits"]["max_regions"] == 7  # the environment's settings
        r = httpx.post(f"{url}/api/v1/detect-text", json={"image": b64(png_bytes(text_image()))}, timeout=60)
        assert r.status_code == 200, r.text
    finally:
        stop_service(proc, log)
    text = (tmp_path / log.name).read_text()
    assert text.count("text detector ppocr-v4-det loaded") == 1, text
    assert text.count("model ready: active=cv2") == 1, text
    for noise in ("You are offline", "0it", "Loading model:", "Traceback"):
        assert noise not in text, text


def test_serve_without_fallback_refuses_to_start_in_one_line(tmp_path):
    env = {"IOPAINT_MODEL": "lama", "IOPAINT_MODEL_FALLBACK": "none", "TORCH_HOME": str(tmp_path / "torch"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "LOG_LEVEL": "WARNING"}
    p = subprocess.run([sys.executable, "-m", "app", "serve"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("refusing to start: weights for 'lama'"), p.stderr
    assert "Traceback" not in p.stderr
