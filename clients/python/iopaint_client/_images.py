"""Images in: bytes, a path, a PIL image, a file object, or an already-encoded base64/data URL."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Union

ImageLike = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]


def _is_pil(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "mode")


def to_bytes(image: ImageLike, *, what: str = "image") -> bytes:
    """The encoded file bytes of `image` (PNG for a PIL image without a format of its own)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{what}: no such file: {path}") from None
    elif _is_pil(image):
        buf = io.BytesIO()
        fmt = image.format if image.format in ("PNG", "JPEG", "WEBP") else "PNG"
        if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
            fmt = "PNG"
        image.save(buf, fmt)
        data = buf.getvalue()
    elif hasattr(image, "read"):
        data = image.read()
        if isinstance(data, str):
            raise TypeError(f"{what}: the file object must be opened in binary mode")
    else:
        raise TypeError(f"{what}: expected bytes, a path, a PIL image or a binary file, not {type(image).__name__}")
    if not data:
        raise ValueError(f"{what} is empty")
    return data


def to_base64(image: ImageLike, *, what: str = "image") -> str:
    """Base64 for a JSON body. A string that is a data URL is passed through unchanged."""
    if isinstance(image, str) and image.startswith("data:"):
        return image
    return base64.b64encode(to_bytes(image, what=what)).decode("ascii")
