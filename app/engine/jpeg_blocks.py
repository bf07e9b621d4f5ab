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
from typing import Any

import cv2
import numpy as np
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
    """What `processing_stats` says about a JPEG answered as JPEG with `output_format: original`."""

    blocks_total: int = 0
    blocks_reencoded: int = 0
    reason: str | None = None  # why every block was re-encoded; None when untouched blocks were kept

    @property
    def share(self) -> float:
        """Share of the 8x8 blocks (all components) that were encoded again; 1.0 for a full re-encode."""
        if self.reason is not None:
            return 1.0
        return round(self.blocks_reencoded / self.blocks_total, 6) if self.blocks_total else 0.0

    def as_stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kept_untouched_blocks": self.reason is None, "blocks_total": self.blocks_total,
                               "blocks_reencoded": self.blocks_reencoded}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


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


def prefetch(source: bytes) -> Future:
    """Start reading the coefficients in the background (libjpeg runs without the GIL), so that
    it overlaps masking and the model instead of adding to the encode stage."""
    return _PREFETCH.submit(read_coefficients, source)


def reencode_touched(source: bytes, pixels: np.ndarray, touched: np.ndarray, coefficients: Future | None = None
                     ) -> tuple[bytes, BlockStats]:
    """The input JPEG with only the MCUs that `touched` (H x W, non-zero = repainted) covers encoded
    again from `pixels` (H x W x 3 RGB). `coefficients`: a `prefetch` of the same source. Raises
    NotApplicable (the reason is its message) where the coefficients cannot be reused."""
    src = Image.open(io.BytesIO(source))
    qtables, sampling = src.quantization, JpegImagePlugin.get_sampling(src) if src.mode == "RGB" else -1
    dct = coefficients.result() if coefficients is not None else read_coefficients(source)
    with tempfile.TemporaryDirectory(prefix="jpegblocks-") as tmp:
        n = dct.num_components
        if (n, dct.jpeg_color_space.name) not in ((3, "JCS_YCbCr"), (1, "JCS_GRAYSCALE")):
            raise NotApplicable(f"{n}-component {dct.jpeg_color_space.name} JPEG: the whole image was re-encoded")
        comps = [dct.Y] + ([dct.Cb, dct.Cr] if n == 3 else [])
        factors = [tuple(int(v) for v in dct.samp_factor[c]) for c in range(n)]  # (v, h) per component
        mcu_h, mcu_w = 8 * max(f[0] for f in factors), 8 * max(f[1] for f in factors)
        h, w = touched.shape
        rows = np.maximum.reduceat(touched, np.arange(0, h, mcu_h), axis=0)  # MCU rows x W
        grid = np.maximum.reduceat(rows, np.arange(0, w, mcu_w), axis=1) > 0  # MCU rows x MCU columns
        stats = BlockStats(blocks_total=sum(c.shape[0] * c.shape[1] for c in comps))
        count, labels, boxes, _ = cv2.connectedComponentsWithStats(grid.astype(np.uint8), connectivity=8)
        for i in range(1, count):
            gx, gy, bw, bh = (int(v) for v in boxes[i, :4])
            x0, y0, x1, y1 = gx * mcu_w, gy * mcu_h, min(w, (gx + bw) * mcu_w), min(h, (gy + bh) * mcu_h)
            area = pixels[y0:y1, x0:x1]
            crop = Image.fromarray(cv2.cvtColor(area, cv2.COLOR_RGB2GRAY) if n == 1 else np.ascontiguousarray(area),
                                   "L" if n == 1 else "RGB")
            buf = io.BytesIO()
            crop.save(buf, "JPEG", qtables=qtables, **({"subsampling": sampling} if n == 3 else {}))
            cpath = os.path.join(tmp, f"area{i}.jpg")
            with open(cpath, "wb") as f:
                f.write(buf.getvalue())
            new = jpeglib.read_dct(cpath)
            new_comps = [new.Y] + ([new.Cb, new.Cr] if n == 3 else [])
            for c in range(n):
                if not np.array_equal(new.get_component_qt(c), dct.get_component_qt(c)):
                    raise NotApplicable("the input's quantization tables could not be reproduced: "
                                         "the whole image was re-encoded")
            sel = labels[gy:gy + bh, gx:gx + bw] == i
            for comp, fresh, (fv, fh) in zip(comps, new_comps, factors):
                blocks = np.repeat(np.repeat(sel, fv, axis=0), fh, axis=1)
                target = comp[gy * fv:gy * fv + blocks.shape[0], gx * fh:gx * fh + blocks.shape[1]]
                blocks = blocks[:target.shape[0], :target.shape[1]]
                target[blocks] = fresh[:target.shape[0], :target.shape[1]][blocks]
                stats.blocks_reencoded += int(blocks.sum())
        dct.Y = comps[0]
        if n == 3:
            dct.Cb, dct.Cr = comps[1], comps[2]
        # EXIF and XMP are not carried to answers (they may hold GPS data); JFIF and ICC are
        dct.markers = [m for m in dct.markers if m.type.name == "JPEG_APP0"
                       or (m.type.name == "JPEG_APP2" and bytes(m.content).startswith(b"ICC_PROFILE\0"))]
        out = os.path.join(tmp, "out.jpg")
        dct.write_dct(out)
        with open(out, "rb") as f:
            return f.read(), stats
