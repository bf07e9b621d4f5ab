"""Offline text-line detection: PaddleOCR PP-OCRv4 DB detector on onnxruntime.

The model file ships inside the `rapidocr_onnxruntime` wheel (found and opened by `session`). Pre-
and post-processing are done here with cv2 + numpy + pyclipper:

    RGB -> BGR, scale so the longest side is at most `max_side`, pad to a multiple of 32
        -> DB probability map -> threshold + 2x2 dilation -> contours
        -> min-area rotated rectangle, scored by the mean probability inside it
        -> unclip (pyclipper offset by area * ratio / perimeter) -> min-area rectangle again
        -> back to full-resolution pixels, intersected with the image.

Detecting at a bounded size keeps the cost flat: a 2048 px photo costs what a 1024 px one does.
The generous default unclip ratio makes up for the coarser map, so the polygons still cover the
whole glyphs. The price: lines under ~10 px high *after* scaling (12-16 px fonts on a 2048 px
photo) are missed on whole images; raise `max_side` for those, or point `within` at them.
With `within`, only crops around the caller's regions are looked at (grown by `crop_margin`,
overlaps merged), each at its own resolution up to `max_side`; lines that touch no region are
dropped. bench/detect_bench.py measures all of this. What the lines say is the recognizer's work
(`recognizer`); the package's `Ocr` holds the two side by side.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt
import pyclipper

from app.engine.ocr.session import MODEL_PACKAGE, default_model_path, load_onnx, onnx_session
from app.geometry import Region

log = logging.getLogger(__name__)

MODEL_FILE = "models/ch_PP-OCRv4_det_infer.onnx"

_STRIDE = 32  # the network needs both sides to be multiples of this
_CLIP_SCALE = 16.0  # pyclipper works on integers: 1/16 px
_BATCH_WASTE = 1.25  # crops share a pass while their common padded size is at most this x their own


@dataclass(frozen=True)
class Detection:
    """One text line: a polygon (4+ points) in full-resolution image pixels and its DB score."""

    points: tuple[tuple[float, float], ...]
    score: float

    def bounding_box(self) -> dict[str, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        x0, y0 = min(xs), min(ys)
        return {"x": float(x0), "y": float(y0), "width": float(max(xs) - x0), "height": float(max(ys) - y0)}

    def region(self) -> Region:
        return Region(points=self.points, is_box=False)


class TextDetector:
    """PP-OCRv4 DB text-line detector. Thread-safe: calls share one session, one at a time."""

    name = "ppocr-v4-det"

    def __init__(
        self,
        model_path: str | None = None,
        max_side: int = 1024,
        box_threshold: float = 0.5,
        unclip_ratio: float = 2.0,
        *,
        threshold: float = 0.3,
        min_size: float = 3.0,
        max_candidates: int = 1000,
        crop_margin: int = 64,
        small_text_side: int = 2048,
        threads: int | None = None,
        providers: list[str] | None = None,
    ):
        path = model_path or default_model_path(MODEL_FILE)
        if not path or not Path(path).is_file():
            raise FileNotFoundError(f"text detection model not found: {path or MODEL_PACKAGE + '/' + MODEL_FILE}")
        if max_side < _STRIDE:
            raise ValueError(f"max_side must be at least {_STRIDE}")
        self.model_path = str(path)
        self.max_side = int(max_side)
        self.box_threshold = float(box_threshold)
        self.unclip_ratio = float(unclip_ratio)
        self.threshold = float(threshold)
        self.min_size = float(min_size)
        self.max_candidates = int(max_candidates)
        self.crop_margin = int(crop_margin)
        self.small_text_side = int(small_text_side)

        self._session = onnx_session(self.model_path, threads, providers)
        self._input = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()
        # run() is thread-safe in onnxruntime, but concurrent runs would only fight over the
        # same cores (intra_op threads = cores); one at a time keeps latency predictable.
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def __call__(self, rgb: np.ndarray, within: list[Region] | None = None) -> list[Region]:
        return [d.region() for d in self.detect(rgb, within)]

    def detect(self, rgb: np.ndarray, within: list[Region] | None = None) -> list[Detection]:
        """Text lines in an H x W x 3 uint8 RGB image; with `within`, only those touching its regions."""
        rgb = as_rgb(rgb)
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            return []
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        if within is None:
            found = self._detect_whole(bgr)
        else:
            boxes = self._crops(within, w, h)
            if not boxes:
                return []
            if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) >= 0.6 * w * h:
                boxes = [(0, 0, w, h)]  # the crops are most of the image: one pass is cheaper
            found = []
            for x0, y0, x1, y1 in boxes:
                found += self._detect_crop(bgr, x0, y0, x1, y1)
            found = [d for d in _dedupe(found) if _touches_any(d.points, within)]
        found.sort(key=lambda d: (round(min(p[1] for p in d.points)), min(p[0] for p in d.points)))
        return found

    def probabilities(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """The DB text probability (0-1) of every pixel of each small RGB crop, at its own size
        (scaled to `max_side` first where larger): what verification compares before and after.
        Crops of about one padded size share a pass (the network's cost is per pixel, a call's is
        not: two crops of a line, the source's and the result's, cost 0.8x two passes)."""
        bgrs = [_shrunk(np.ascontiguousarray(as_rgb(c)[:, :, ::-1]), self.max_side) for c in crops]
        padded = [_padded(*b.shape[:2]) for b in bgrs]
        order = sorted(range(len(bgrs)), key=lambda i: padded[i])
        out: list[np.ndarray] = [np.empty(0)] * len(crops)
        start = 0
        while start < len(order):
            end = start + 1  # grown while the group's common padded size wastes little
            while end < len(order):
                group = order[start:end + 1]
                area = len(group) * max(padded[i][0] for i in group) * max(padded[i][1] for i in group)
                if area > _BATCH_WASTE * sum(padded[i][0] * padded[i][1] for i in group) or area > self.max_side ** 2:
                    break
                end += 1
            group = order[start:end]
            x = np.zeros((len(group), 3, max(padded[i][0] for i in group), max(padded[i][1] for i in group)),
                         np.float32)  # 0 = mid grey after normalisation
            for k, i in enumerate(group):
                _normalise_into(x[k], bgrs[i])
            with self._lock:
                probs = self._session.run(None, {self._input: x})[0]
            for k, i in enumerate(group):
                sh, sw = bgrs[i].shape[:2]
                h, w = crops[i].shape[:2]
                p = probs[k, 0, :sh, :sw]
                out[i] = p if (sw, sh) == (w, h) else cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
            start = end
        return out

    # -- steps --------------------------------------------------------------------------------

    def _probability(self, crop: np.ndarray, max_side: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """The probability map of a BGR crop scaled to at most `max_side`, and that scaled size."""
        small = _shrunk(crop, max_side or self.max_side)
        sh, sw = small.shape[:2]
        x = np.zeros((1, 3, *_padded(sh, sw)), np.float32)  # 0 = mid grey after normalisation
        _normalise_into(x[0], small)
        with self._lock:
            prob = self._session.run(None, {self._input: x})[0][0, 0, :sh, :sw]
        return prob, (sw, sh)

    def _detect_whole(self, bgr: np.ndarray) -> list[Detection]:
        """The whole image at `max_side`; then, where that pass was too coarse for small text (the
        image is over 1.25x `max_side`), a second pass at `small_text_side` (at most full
        resolution), whose lines are added where the first pass has none. Two bounded passes:
        the time stays flat in the image's size."""
        h, w = bgr.shape[:2]
        found = self._detect_crop(bgr, 0, 0, w, h)
        side = min(max(h, w), self.small_text_side)
        if side < 1.25 * self.max_side:
            return found
        fine = self._detect_crop(bgr, 0, 0, w, h, max_side=side)
        return found + _new_lines(fine, found)

    def _crops(self, within: list[Region], w: int, h: int) -> list[tuple[int, int, int, int]]:
        """Integer boxes (x0, y0, x1, y1) around the regions, grown by the margin, overlaps merged."""
        boxes = []
        for r in within:
            x0, y0, x1, y1 = r.bounds()
            m = self.crop_margin
            bx0, bx1 = self._span(math.floor(x0) - m, math.ceil(x1) + m, w)
            by0, by1 = self._span(math.floor(y0) - m, math.ceil(y1) + m, h)
            box = (bx0, by0, bx1, by1)
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
        merged = True
        while merged and len(boxes) > 1:
            merged = False
            out: list[tuple[int, int, int, int]] = []
            for b in boxes:
                for i, o in enumerate(out):
                    if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                        out[i] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
                        merged = True
                        break
                else:
                    out.append(b)
            boxes = out
        return boxes

    def _span(self, a: int, b: int, n: int) -> tuple[int, int]:
        """[a, b) clipped to [0, n), widened with image pixels (where there are) to a multiple of
        32 when it is detected at its own size, so that the network sees context, not padding."""
        a, b = max(0, a), min(n, b)
        if b - a <= self.max_side:
            extra = -(b - a) % _STRIDE
            a -= extra // 2
            b += extra - extra // 2
            if a < 0:
                a, b = 0, b - a
            if b > n:
                a, b = max(0, a - (b - n)), n
        return a, b

    def _detect_crop(self, bgr: np.ndarray, x0: int, y0: int, x1: int, y1: int, max_side: int | None = None
                     ) -> list[Detection]:
        crop = bgr[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        prob, (sw, sh) = self._probability(crop, max_side)
        # actual scale per axis (rounding), to map map-pixels back to crop pixels
        fx, fy = cw / sw, ch / sh
        return [
            Detection(_intersect_image(((px * fx + x0, py * fy + y0) for px, py in quad), bgr.shape[1], bgr.shape[0]), s)
            for quad, s in self._boxes(prob)
        ]

    def _boxes(self, prob: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """DB post-processing on one probability map: rotated rectangles in map pixels."""
        bitmap = (prob > self.threshold).astype(np.uint8)
        # OpenCV's stubs type every image as integer-or-float; dilating a uint8 bitmap keeps uint8
        bitmap = cast("npt.NDArray[np.uint8]", cv2.dilate(bitmap, np.ones((2, 2), np.uint8)))
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for contour in contours[: self.max_candidates]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < self.min_size:
                continue
            quad = cv2.boxPoints(rect)
            score = _mean_inside(prob, quad)
            if score < self.box_threshold:
                continue
            grown = _unclip(quad, self.unclip_ratio)
            if grown is None:
                continue
            rect = cv2.minAreaRect(grown)
            if min(rect[1]) < self.min_size + 2:
                continue
            # map-pixel centres -> continuous coordinates (pixel i spans [i, i+1))
            out.append((cv2.boxPoints(rect).astype(np.float64) + 0.5, score))
        return out


def load_detector(model_path: str | None = None, **kwargs: Any) -> TextDetector | None:
    """The detector, or None (with the reason logged) where onnxruntime or the model is missing
    (the recognizer beside it: `app.engine.ocr.load_ocr`)."""
    det = load_onnx("text detection", MODEL_FILE, lambda path: TextDetector(path, **kwargs), model_path)
    if det is not None:
        log.info("text detector %s loaded from %s (max_side %d, providers %s)", det.name, det.model_path,
                 det.max_side, ",".join(det.providers))
    return det


# -- helpers ----------------------------------------------------------------------------------


def as_rgb(img: np.ndarray) -> np.ndarray:
    """An RGB, RGBA or grey image as H x W x 3 uint8 RGB (what the detector and the recognizer take)."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {img.shape}")
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def _mean_inside(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside a quadrilateral (the 'fast' DB box score)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(quad - (x0, y0)).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow a polygon outwards by area * ratio / perimeter (the DB 'unclip'), via pyclipper."""
    pts = quad.astype(np.float64)
    x, y = pts[:, 0], pts[:, 1]
    area = abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2
    length = float(np.sum(np.linalg.norm(pts - np.roll(pts, 1, axis=0), axis=1)))
    if length <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([(round(px * _CLIP_SCALE), round(py * _CLIP_SCALE)) for px, py in pts],
                   pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * ratio / length * _CLIP_SCALE)
    if not paths:
        return None
    biggest = max(paths, key=lambda p: abs(pyclipper.Area(p)))
    return (np.asarray(biggest, np.float64) / _CLIP_SCALE).astype(np.float32)


def _intersect_image(points: Iterable[tuple[float, float]], w: int, h: int) -> tuple[tuple[float, float], ...]:
    """A convex polygon cut to the image rectangle (exact, unlike clamping each corner)."""
    poly = np.asarray(list(points), np.float32)
    if poly[:, 0].min() >= 0 and poly[:, 1].min() >= 0 and poly[:, 0].max() <= w and poly[:, 1].max() <= h:
        return tuple((float(px), float(py)) for px, py in poly)
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    area, cut = cv2.intersectConvexConvex(poly, frame)
    if cut is None or area <= 0 or len(cut) < 3:
        poly[:, 0] = np.clip(poly[:, 0], 0, w)
        poly[:, 1] = np.clip(poly[:, 1], 0, h)
        return tuple((float(px), float(py)) for px, py in poly)
    return tuple((float(px), float(py)) for px, py in cut.reshape(-1, 2))


def _clip_path(points: Iterable[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(round(x * _CLIP_SCALE), round(y * _CLIP_SCALE)) for x, y in points]


def _touches_any(points: tuple[tuple[float, float], ...], regions: list[Region]) -> bool:
    """Whether a polygon overlaps (with positive area) any of the regions (any polygon shape)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    px0, py0, px1, py1 = min(xs), min(ys), max(xs), max(ys)
    subject = _clip_path(points)
    for r in regions:
        rx0, ry0, rx1, ry1 = r.bounds()
        if rx1 <= px0 or px1 <= rx0 or ry1 <= py0 or py1 <= ry0:
            continue
        pc = pyclipper.Pyclipper()
        try:
            pc.AddPath(subject, pyclipper.PT_SUBJECT, True)
            pc.AddPath(_clip_path(r.points), pyclipper.PT_CLIP, True)
            cut = pc.Execute(pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO)
        except pyclipper.ClipperException:  # a degenerate polygon: fall back to the boxes overlapping
            return True
        if any(abs(pyclipper.Area(c)) > 0 for c in cut):
            return True
    return False


def _new_lines(fine: list[Detection], known: list[Detection]) -> list[Detection]:
    """Lines of the fine pass that the coarse pass does not already have (judged by bounding boxes:
    a duplicate overlaps a known box by more than half of their union). A coarse line that only
    partly covers small text does not hide the fine one."""
    def iou_over_half(b: tuple[float, float, float, float], o: tuple[float, float, float, float]) -> bool:
        ix = max(0.0, min(b[2], o[2]) - max(b[0], o[0])) * max(0.0, min(b[3], o[3]) - max(b[1], o[1]))
        return ix > 0.5 * ((b[2] - b[0]) * (b[3] - b[1]) + (o[2] - o[0]) * (o[3] - o[1]) - ix)

    kept: list[Detection] = []
    boxes = [d.region().bounds() for d in known]
    for d in sorted(fine, key=lambda d: -d.score):
        b = d.region().bounds()
        if not any(iou_over_half(b, o) for o in boxes):
            kept.append(d)
            boxes.append(b)
    return kept


def _dedupe(found: list[Detection]) -> list[Detection]:
    """Merged crops never overlap, so duplicates are rare; drop exact repeats all the same."""
    seen, out = set(), []
    for d in found:
        key = tuple((round(x, 1), round(y, 1)) for x, y in d.points)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _shrunk(bgr: np.ndarray, max_side: int) -> np.ndarray:
    """A crop scaled down (INTER_AREA) so that its longest side is at most `max_side`; as it is if it fits."""
    h, w = bgr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return bgr
    return np.asarray(cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA))


def _padded(h: int, w: int) -> tuple[int, int]:
    """The network's input size for an h x w crop: padded (not stretched) to multiples of _STRIDE,
    since stretching hurts small text at native resolution."""
    return -(-h // _STRIDE) * _STRIDE, -(-w // _STRIDE) * _STRIDE


def _normalise_into(x: np.ndarray, bgr: np.ndarray) -> None:
    """Write a BGR crop into the top left of one input (3 x H x W, zeros: mid grey), scaled to -1..1."""
    sh, sw = bgr.shape[:2]
    x[:, :sh, :sw] = bgr.transpose(2, 0, 1)
    x[:, :sh, :sw] *= 1 / 127.5
    x[:, :sh, :sw] -= 1.0
