"""Shared fixtures: apps built from real settings, real IOPaint model loading (cv2 offline, and
IOPaint's LaMa code over a tiny TorchScript stand-in), and images made on the spot."""

from __future__ import annotations

import base64
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Before anything imports torch or IOPaint: an empty weights cache, no hub access.
_TORCH_HOME = tempfile.mkdtemp(prefix="torch-home-")
os.environ["TORCH_HOME"] = _TORCH_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="xdg-cache-"))

try:  # the Python client from this checkout, unless it is installed (pip install -e clients/python)
    import iopaint_client  # noqa: F401
except ImportError:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))

from fastapi.testclient import TestClient  # noqa: E402

from app.main import build_services, create_app  # noqa: E402
from app.settings import Settings  # noqa: E402


def lama_path() -> Path:
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "big-lama.pt"


def write_lama_standin(path: Path | None = None) -> Path:
    """A tiny TorchScript module with LaMa's interface: model(image, mask) -> image, 1x3xHxW in 0..1.
    It fills the masked pixels with the mean colour of the unmasked ones."""
    import torch

    class StandIn(torch.nn.Module):
        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            keep = 1.0 - mask
            mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
            return image * keep + mean * mask

    path = path or lama_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(StandIn()).save(str(path))
    return path


class SlowModel:
    """A stand-in model that holds each call until released (or for `delay` seconds); counts calls."""

    name, device = "slow", "cpu"

    def __init__(self, delay: float | None = None):
        import threading

        self.release, self.started, self.calls, self.delay = threading.Event(), threading.Event(), 0, delay

    def __call__(self, rgb, mask, params):
        import time

        self.calls += 1
        self.started.set()
        if self.delay is not None:
            time.sleep(self.delay)
        else:
            self.release.wait(30)
        return np.full_like(rgb, 200)


def services_with_model(model, **settings):
    """The app's services, with `model` installed as the loaded model (no IOPaint loading)."""
    from app.engine.models import ModelStatus

    s = Settings(**{"model": "cv2", **settings})
    services = build_services(s)
    services.models.use(model, ModelStatus(requested=model.name, device="cpu", state="ready", active=model.name))
    return services


@contextmanager
def running_app(services=None, **settings):
    """The real app with its lifespan (model loading included), ready to serve."""
    settings.setdefault("model", "cv2")
    s = Settings(**settings)
    app = create_app(s, services or build_services(s))
    with TestClient(app, raise_server_exceptions=False) as client:
        holder = app.state.services.models
        assert holder.ready.wait(120), "model did not load"
        yield client


@pytest.fixture(scope="session")
def client():
    """A cv2 app shared by the tests that do not change settings."""
    with running_app(model="cv2") as c:
        yield c


def png_bytes(arr: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **save)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def text_image(w: int = 320, h: int = 200, bg=(200, 180, 160), fg=(10, 10, 10)) -> np.ndarray:
    """A flat background with a dark bar of 'text' at (40, 80)-(200, 120)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    img[85:115, 45:195] = fg
    return img


def photo(size: int | None = None, name: str = "astronaut") -> np.ndarray:
    """A real photograph (scikit-image's bundled samples: astronaut, chelsea, coffee), optionally resized."""
    from skimage import data

    img = getattr(data, name)()
    if size:
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS))
    return np.ascontiguousarray(img)


REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(tmp: Path, command: list[str] | None = None, **env_extra: str):
    """The real service as a subprocess (`python -m app serve`, or `command` with "{port}" filled in;
    cv2) on a free loopback port, once healthy. Returns (process, base URL, log file); stop it with
    stop_service."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("IOPAINT_API_KEY", "IOPAINT_URL")}
    env.update({
        "IOPAINT_MODEL": "cv2", "IOPAINT_HOST": "127.0.0.1", "IOPAINT_PORT": str(port),
        "TORCH_HOME": str(tmp / "torch"), "XDG_CACHE_HOME": str(tmp / "cache"), "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **env_extra,
    })
    log = open(tmp / f"service-{port}.log", "wb")
    argv = [a.replace("{port}", str(port)) for a in command or [sys.executable, "-m", "app", "serve"]]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"the service exited with {proc.returncode}:\n{(tmp / log.name).read_text()[-3000:]}")
        try:
            r = httpx.get(f"{url}/api/v1/health", timeout=2)
            if r.status_code == 200 and r.json().get("status") == "healthy":
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the service did not become healthy within 180 s")
        time.sleep(0.3)
    return proc, url, log


def stop_service(proc, log) -> None:
    import subprocess

    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()
