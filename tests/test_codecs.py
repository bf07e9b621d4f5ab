"""Codecs: PNG answers are lossless whatever writer produced them; fast decoders agree with Pillow."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.engine import images
from tests.support import photo

LIMITS = {"max_bytes": 1 << 26, "max_pixels": 1 << 26}


def _noisy(h: int = 96, w: int = 130, ch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    base = photo(256)[:h, :w]
    arr = np.dstack([base] * (ch // 3 + 1))[:, :, :ch] if ch > 1 else base[:, :, 0]
    return np.clip(arr.astype(int) + rng.integers(-9, 10, arr.shape), 0, 255).astype(np.uint8)


def _saved(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("writer", ["auto", "fpng", "cv2"])
@pytest.mark.parametrize("mode,ch", [("RGB", 3), ("RGBA", 4), ("L", 1), ("LA", 2)])
def test_png_answer_decodes_to_exactly_the_computed_pixels(writer, mode, ch):
    arr = _noisy(ch=ch)
    if ch == 2:
        arr = np.dstack([arr[:, :, 0], _noisy(ch=1)])
    if writer == "fpng" and mode not in ("RGB", "RGBA"):
        with pytest.raises(RuntimeError):
            images.encode_png(arr, mode, writer=writer)
        return
    data = images.encode_png(arr, mode, writer=writer)
    out = Image.open(io.BytesIO(data))
    assert out.format == "PNG" and out.mode == mode
    assert np.array_equal(np.asarray(out), arr)


def test_fpng_is_the_writer_for_rgb_and_keeps_the_icc_profile():
    arr = _noisy()
    fast = images.encode_png(arr, "RGB")
    assert fast != images.encode_png(arr, "RGB", writer="cv2")  # a different writer made it
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = Image.open(io.BytesIO(images.encode_png(arr, "RGB", icc_profile=icc)))
    assert out.info.get("icc_profile") == icc
    assert np.array_equal(np.asarray(out), arr)


def test_codecs_that_hold_the_gil_code_small_images_only_in_process(monkeypatch):
    """fpng's and pyspng's bindings hold the GIL: above GIL_CODEC_MAX_PIXELS a PNG is written by fpng
    in a child process and read by libspng through ctypes, so the event loop is not stalled."""
    monkeypatch.setattr(images, "GIL_CODEC_MAX_PIXELS", 64 * 64)
    big, small = _noisy()[:80, :80], _noisy()[:64, :64]
    data = images.encode_png(big, "RGB")
    assert data == images.encode_png(big, "RGB", writer="fpng")  # fpng wrote it, in the child
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), big)
    calls = []

    class Spy:
        def encode_ndarray(self, arr):
            calls.append("fpng")
            return images._png_cv2(arr, "RGB", 1)

        def load(self, data):
            calls.append("spng")
            raise RuntimeError("not expected")

    monkeypatch.setattr(images, "_fpng", Spy())
    monkeypatch.setattr(images, "_spng", Spy())
    images.encode_png(small, "RGB")
    assert calls == ["fpng"]  # small: the bindings, in this process
    # large: libspng's C functions through ctypes (the GIL released), never the binding
    for arr in (big, big[:, :, 0]):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        assert np.array_equal(images._png_spng(buf.getvalue()), arr)
    assert calls == ["fpng"]


def test_encode_image_falls_back_to_opencv_without_fpng(monkeypatch):
    monkeypatch.setattr(images, "_fpng", None)
    rgba = np.dstack([_noisy(), _noisy(ch=1)])
    out = Image.open(io.BytesIO(images.encode_image(rgba[:, :, :3], alpha=rgba[:, :, 3])))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out), rgba)


@pytest.mark.parametrize("kind", ["png-rgb", "png-gray", "png-rgb16", "png-gray16", "webp", "jpeg"])
def test_fast_decoders_agree_with_pillow(kind, monkeypatch):
    rgb = _noisy()
    data = {
        "png-rgb": lambda: _saved(rgb),
        "png-gray": lambda: _saved(rgb[:, :, 0]),
        "png-rgb16": lambda: _png16(rgb),
        "png-gray16": lambda: _saved(rgb[:, :, 0].astype(np.uint16) * 256 + 3),
        "webp": lambda: _saved(rgb, "WEBP", quality=80),
        "jpeg": lambda: _saved(rgb, "JPEG", quality=90),
    }[kind]()
    fast = images.decode_image(data, **LIMITS)
    monkeypatch.setattr(images, "_fast_pixels", lambda *a: None)  # Pillow's path only
    slow = images.decode_image(data, **LIMITS)
    assert fast.grayscale == slow.grayscale == kind.startswith("png-gray")
    assert fast.rgb.dtype == np.uint8 and np.array_equal(fast.rgb, slow.rgb)


def _png16(rgb: np.ndarray) -> bytes:
    """48-bit PNG (Pillow cannot write one): OpenCV writes 16-bit BGR."""
    import cv2

    ok, buf = cv2.imencode(".png", (rgb[:, :, ::-1].astype(np.uint16) * 256 + 255))
    assert ok
    return buf.tobytes()


def test_16bit_png_keeps_its_high_byte():
    rgb = _noisy()
    dec = images.decode_image(_png16(rgb), **LIMITS)
    assert np.array_equal(dec.rgb, rgb)  # (v * 256 + 255) >> 8 == v
