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
