"""JPEG answers without generation loss: only the blocks that the repaint touched are encoded again.

jpegtran's technique, on a baseline JPEG: read the input's quantized DCT coefficients, encode the
repainted pixels of each touched area (aligned to the MCU grid) with the input's own quantization
tables and chroma subsampling, and copy only the touched MCUs' coefficients into the input's. Every
other block keeps its coefficients bit for bit, so it decodes to exactly the input's pixels. (With
subsampled chroma, decoders' smooth chroma upsampling reads one chroma sample across a block edge:
pixels within 1 px of a re-encoded MCU may shift slightly. With 4:4:4 the edge is exact.)

The coefficients are read and written by `jpeglib` (libjpeg-turbo inside; x86_64 wheels only). Where
it is missing, or the input is not a baseline YCbCr/gray JPEG stored upright, the whole image is
re-encoded as before and `BlockStats.reason` says why. jpeglib only ever sees bytes that Pillow
has already decoded whole (the pipeline decodes first), so libjpeg's fatal-error exit is not reachable
from a client's upload.
"""

from __future__ import annotations

import io
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, JpegImagePlugin

try:
    import jpeglib

    # jpeglib bundles many libjpeg builds and defaults to IJG 6b: libjpeg-turbo 2.1 reads and
    # writes coefficients about 1.5x faster (25 + 29 ms at 2048 px against 38 + 44)
    if "turbo210" in jpeglib.version.versions():
        jpeglib.version.set("turbo210")
except ImportError:  # pragma: no cover - no wheel for this platform (aarch64): full re-encode
    jpeglib = None


@dataclass
class BlockStats:
    """How a JPEG answered as JPEG with `output_format: original` was encoded (the statistics report
    it: app.engine.stats.JpegBlocks)."""

    blocks_total: int = 0
    blocks_reencoded: int = 0
    reason: str | None = None  # why every block was re-encoded; None when untouched blocks were kept

    @property
    def share(self) -> float:
        """Share of the 8x8 blocks (all components) that were encoded again; 1.0 for a full re-encode."""
        if self.reason is not None:
            return 1.0
        return round(self.blocks_reencoded / self.blocks_total, 6) if self.blocks_total else 0.0


class NotApplicable(Exception):
    """The input cannot keep its blocks; the message is the reason given in the stats."""


def available() -> bool:
    return jpeglib is not None


def why_not(source: bytes, upright_as_stored: bool) -> str | None:
    """The reason block keeping cannot apply to this input (None: it can). Cheap: header only."""
    if jpeglib is None:
        return "jpeglib is not installed on this platform: the whole image was re-encoded"
    if not upright_as_stored:
        return "the EXIF orientation was applied (the answer is upright): the whole image was re-encoded"
    try:
        img = Image.open(io.BytesIO(source))
    except Exception:
        return "the input could not be read again"
    if img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return f"{img.mode} JPEG: only YCbCr and grayscale JPEGs keep their blocks"
    if img.info.get("progressive") or img.info.get("progression"):
        return "progressive JPEG: the whole image was re-encoded"
    if _sof(source) not in (0xC0, 0xC1):
        return "not a baseline Huffman JPEG: the whole image was re-encoded"
    if img.mode == "RGB" and JpegImagePlugin.get_sampling(img) == -1:
        return "unusual chroma subsampling: the whole image was re-encoded"
    return None


def _sof(data: bytes) -> int | None:
    """The frame marker (0xC0 baseline, 0xC1 extended, 0xC2 progressive, ...) from the header."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xDA:
            return None
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


_PREFETCH = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jpeg-coefficients")


def read_coefficients(source: bytes) -> Any:
    """The input's quantized DCT coefficients (a loaded jpeglib.DCTJPEG)."""
    with tempfile.TemporaryDirectory(prefix="jpegblocks-") as tmp:
        path = os.path.join(tmp, "in.jpg")
        with open(path, "wb") as f:
            f.write(source)
        dct = jpeglib.read_dct(path)  # takes the file's bytes: the file may go
    dct.load()
    return dct


def prefetch(source: bytes) -> Future[Any]:
    """Start reading the coefficients in the background (libjpeg runs without the GIL), so that
    it overlaps masking and the model instead of adding to the encode stage."""
    return _PREFETCH.submit(read_coefficients, source)


def _dct_matrix() -> np.ndarray:
    u = np.arange(8)[:, None]
    x = np.arange(8)[None, :]
    m = np.cos((2 * x + 1) * u * np.pi / 16) * 0.5
    m[0] = np.sqrt(1 / 8)
    return m.astype(np.float32)


_DCT = _dct_matrix()  # JPEG's 8-point DCT-II (orthonormal): coefficients = D @ block @ D.T


def _forward_dct(pixels: np.ndarray, x0: int, y0: int, width: int, height: int,
                 factors: list[tuple[int, int]], tables: list[np.ndarray]) -> list[np.ndarray]:
    """Quantized coefficients ([rows, cols, 8, 8] per component) of an MCU-aligned area, as a JPEG
    encoder makes them: JFIF YCbCr (or gray), chroma averaged down to its sampling, the image's
    edge pixels repeated to fill whole MCUs, level shift, DCT, division by the input's tables."""
    area = pixels[y0:y0 + height, x0:x0 + width].astype(np.float32)
    if area.shape[:2] != (height, width):  # the image's right or bottom edge
        area = np.pad(area, ((0, height - area.shape[0]), (0, width - area.shape[1]), (0, 0)), mode="edge")
    r, g, b = area[:, :, 0], area[:, :, 1], area[:, :, 2]
    planes = [0.299 * r + 0.587 * g + 0.114 * b]
    if len(factors) == 3:
        planes += [-0.168736 * r - 0.331264 * g + 0.5 * b + 128, 0.5 * r - 0.418688 * g - 0.081312 * b + 128]
    vmax, hmax = max(f[0] for f in factors), max(f[1] for f in factors)
    out = []
    for plane, (fv, fh), table in zip(planes, factors, tables):
        dv, dh = vmax // fv, hmax // fh
        if dv > 1 or dh > 1:
            plane = plane.reshape(height // dv, dv, width // dh, dh).mean(axis=(1, 3))
        ph, pw = plane.shape
        blocks = (plane - 128).reshape(ph // 8, 8, pw // 8, 8).transpose(0, 2, 1, 3)
        coef = np.einsum("ux,rcxy,vy->rcuv", _DCT, blocks, _DCT, optimize=True)
        out.append(np.clip(np.round(coef / table), -1023, 1023).astype(np.int16))
    return out


def _touched_mcus(touched: np.ndarray, mcu_h: int, mcu_w: int) -> np.ndarray:
    """The MCU grid (boolean) of the MCUs with any touched pixel: the rounded block mean of a 0/255
    mask padded to whole MCUs is non-zero as soon as one pixel is on (255 / 256 rounds to 1)."""
    h, w = touched.shape
    gh, gw = -(-h // mcu_h), -(-w // mcu_w)
    on = touched.view(np.uint8) if touched.dtype in (np.uint8, np.bool_) else (touched > 0).view(np.uint8)
    # OpenCV's stubs type every image as integer-or-float; thresholding and padding keep uint8
    _, thresholded = cv2.threshold(on, 0, 255, cv2.THRESH_BINARY)
    on = cast("npt.NDArray[np.uint8]", thresholded)
    on = cast("npt.NDArray[np.uint8]", cv2.copyMakeBorder(on, 0, gh * mcu_h - h, 0, gw * mcu_w - w,
                                                          cv2.BORDER_CONSTANT, value=0))
    grid: np.ndarray = cv2.resize(on, (gw, gh), interpolation=cv2.INTER_AREA) > 0
    return grid


def reencode_touched(source: bytes, pixels: np.ndarray, touched: np.ndarray, coefficients: Future[Any] | None = None
                     ) -> tuple[bytes, BlockStats]:
    """The input JPEG with only the MCUs that `touched` (H x W, non-zero = repainted) covers encoded
    again from `pixels` (H x W x 3 RGB). `coefficients`: a `prefetch` of the same source. Raises
    NotApplicable (the reason is its message) where the coefficients cannot be reused."""
    try:
        dct = coefficients.result() if coefficients is not None else read_coefficients(source)
    except Exception as e:  # libjpeg refuses data that decoders only warn about (a stray marker ...)
        raise NotApplicable(f"the input's coefficients could not be read ({e.__class__.__name__}: corrupt "
                            "data?): the whole image was re-encoded") from e
    n = dct.num_components
    if (n, dct.jpeg_color_space.name) not in ((3, "JCS_YCbCr"), (1, "JCS_GRAYSCALE")):
        raise NotApplicable(f"{n}-component {dct.jpeg_color_space.name} JPEG: the whole image was re-encoded")
    comps = [dct.Y] + ([dct.Cb, dct.Cr] if n == 3 else [])
    factors = [(int(dct.samp_factor[c][0]), int(dct.samp_factor[c][1])) for c in range(n)]  # (v, h)
    vmax, hmax = max(f[0] for f in factors), max(f[1] for f in factors)
    if any(vmax % v or hmax % h for v, h in factors):
        raise NotApplicable("unusual chroma subsampling: the whole image was re-encoded")
    tables = [dct.get_component_qt(c).astype(np.float32) for c in range(n)]
    mcu_h, mcu_w = 8 * vmax, 8 * hmax
    grid = _touched_mcus(touched, mcu_h, mcu_w)
    stats = BlockStats(blocks_total=sum(c.shape[0] * c.shape[1] for c in comps))
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(grid.astype(np.uint8), connectivity=8)
    for i in range(1, count):
        gx, gy, bw, bh = (int(v) for v in boxes[i, :4])
        fresh = _forward_dct(pixels, gx * mcu_w, gy * mcu_h, bw * mcu_w, bh * mcu_h, factors, tables)
        sel = labels[gy:gy + bh, gx:gx + bw] == i
        for comp, new, (fv, fh) in zip(comps, fresh, factors):
            blocks = np.repeat(np.repeat(sel, fv, axis=0), fh, axis=1)
            target = comp[gy * fv:gy * fv + blocks.shape[0], gx * fh:gx * fh + blocks.shape[1]]
            blocks = blocks[:target.shape[0], :target.shape[1]]
            target[blocks] = new[:target.shape[0], :target.shape[1]][blocks]
            stats.blocks_reencoded += int(blocks.sum())
    with tempfile.TemporaryDirectory(prefix="jpegblocks-") as tmp:
        dct.Y = comps[0]
        if n == 3:
            dct.Cb, dct.Cr = comps[1], comps[2]
        # EXIF and XMP are not carried to answers (they may hold GPS data); JFIF and ICC are
        dct.markers = [m for m in dct.markers if m.type.name == "JPEG_APP0"
                       or (m.type.name == "JPEG_APP2" and bytes(m.content).startswith(b"ICC_PROFILE\0"))]
        out = os.path.join(tmp, "out.jpg")
        # without the source attached, jpeglib writes the header from the coefficients' own tables
        # and sampling instead of parsing the whole input again (a third faster; same pixels)
        dct.content = None
        try:
            dct.write_dct(out)
        except Exception as e:
            raise NotApplicable(f"the coefficients could not be written ({e.__class__.__name__}): "
                                "the whole image was re-encoded") from e
        with open(out, "rb") as f:
            return f.read(), stats
