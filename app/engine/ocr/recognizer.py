"""What a text line says: PaddleOCR's PP-OCRv4 recognizer (SVTR + CTC) on onnxruntime.

The model file ships in the `rapidocr_onnxruntime` wheel beside the detector's (found and opened by
`session`). Its character list is in the model's metadata.

    polygon -> min-area rectangle; its side nearest the horizontal is the reading direction
        (left to right), unless the other side is 1.5x longer (a vertical line, read downwards)
        -> perspective warp to a strip 48 px high (PaddleOCR's input) -> BGR, scaled to -1..1
        -> CTC: the best class per time step; repeats merged, blanks dropped
        -> each character with the time steps it spans -> its place along the line (0..1)

Which way up a line is comes from PaddleOCR's direction classifier (0 or 180 degrees, in the same
wheel) where it is sure; a line read with a low score is read again turned by 180 degrees as
well (upside-down text, a vertical line running upwards) and the better reading is kept. The characters' places let a match on
part of a line map back to the part of the polygon it covers (`Reading.bounds`, `Reading.piece`).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.engine.ocr.session import MODEL_PACKAGE, default_model_path, load_onnx, onnx_session
from app.geometry import Region

log = logging.getLogger(__name__)

MODEL_FILE = "models/ch_PP-OCRv4_rec_infer.onnx"
CLASSIFIER_FILE = "models/ch_ppocr_mobile_v2.0_cls_infer.onnx"  # 0 or 180 degrees
CLASSIFIER_SIZE = (192, 48)  # its input, as PaddleOCR feeds it
TURN_ABOVE = 0.9  # the classifier's confidence that a line is upside down, to turn it (PaddleOCR's)

HEIGHT = 48  # the recognizer's input height
MAX_RATIO = 64  # longest strip: 64 x 48 px; a longer line is squeezed into it
FLIP_BELOW = 0.85  # a reading scored below this is tried again turned by 180 degrees
_BATCH_PIXELS = HEIGHT * 320 * 8  # lines of similar width share a forward pass up to this size

Point = tuple[float, float]
Frame = tuple[Point, Point, Point, Point]  # a rectangle in reading order: tl, tr, br, bl


@dataclass(frozen=True)
class Reading:
    """A line's text, its score (mean character probability, 0-1), its rectangle in reading order
    (top-left, top-right, bottom-right, bottom-left, image pixels) and each character's span along
    it (start, end as fractions of the rectangle's length)."""

    text: str
    score: float
    frame: tuple[Point, Point, Point, Point]
    spans: tuple[tuple[float, float], ...]

    def bounds(self, start: int, end: int) -> tuple[float, float]:
        """Where characters [start, end) lie along the line (0..1), erring outwards: a CTC peak
        sits inside its glyph, which may reach 0.3 line heights beyond it on either side, so the
        bounds go that far, but never past the middle of a neighbour's peak; the rectangle's ends
        where there is no neighbour."""
        tl, tr, _, bl = (np.asarray(p, np.float64) for p in self.frame)
        reach = 0.3 * float(np.linalg.norm(bl - tl)) / max(1e-6, float(np.linalg.norm(tr - tl)))
        n = len(self.spans)
        a = 0.0 if start <= 0 else max(sum(self.spans[start - 1]) / 2, self.spans[start][0] - reach)
        b = 1.0 if end >= n else min(sum(self.spans[end]) / 2, self.spans[end - 1][1] + reach)
        return a, b

    def piece(self, a: float, b: float) -> Region:
        """The part of the line's rectangle from `a` to `b` along it (fractions of its length)."""
        tl, tr, br, bl = (np.asarray(p, np.float64) for p in self.frame)
        pts = (tl + a * (tr - tl), tl + b * (tr - tl), bl + b * (br - bl), bl + a * (br - bl))
        return Region(tuple((float(p[0]), float(p[1])) for p in pts))


def reading_frame(points: tuple[Point, ...]) -> tuple[Point, Point, Point, Point]:
    """The polygon's min-area rectangle with its corners in reading order (see the module)."""
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(np.asarray(points, np.float32))
    t = math.radians(angle)
    axes = [(np.array([math.cos(t), math.sin(t)]), float(rw)), (np.array([-math.sin(t), math.cos(t)]), float(rh))]
    axes.sort(key=lambda a: -abs(a[0][0]))  # the one nearest the horizontal first
    (u, length), (_, height) = axes
    if height >= 1.5 * length:  # a vertical line: read along its long side, downwards
        (u, length), height = axes[1], length
        if u[1] < 0:
            u = -u
    elif u[0] < 0:
        u = -u
    v = np.array([-u[1], u[0]])  # 90 degrees clockwise of u on screen: "down" for the text
    c = np.array([cx, cy])
    hu, hv = u * length / 2, v * height / 2
    corners = (c - hu - hv, c + hu - hv, c + hu + hv, c - hu + hv)
    return tuple((float(p[0]), float(p[1])) for p in corners)  # type: ignore[return-value]


def _flipped(frame: tuple[Point, Point, Point, Point]) -> tuple[Point, Point, Point, Point]:
    tl, tr, br, bl = frame
    return br, bl, tl, tr


def _strip(bgr: np.ndarray, frame: tuple[Point, Point, Point, Point]) -> np.ndarray:
    """The rectangle warped upright into a BGR strip HEIGHT px high (at most MAX_RATIO times wider)."""
    tl, tr, _, bl = (np.asarray(p, np.float64) for p in frame)
    length, height = max(1.0, float(np.linalg.norm(tr - tl))), max(1.0, float(np.linalg.norm(bl - tl)))
    w = int(min(MAX_RATIO * HEIGHT, max(HEIGHT // 4, round(length * HEIGHT / height))))
    # warp at about the line's own resolution, then resize: INTER_AREA when shrinking a big line
    sh = int(min(max(HEIGHT, round(height)), 4 * HEIGHT))
    sw = int(max(1, round(w * sh / HEIGHT)))
    dst = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    src = np.asarray(frame, np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(bgr, m, (sw, sh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if sh != HEIGHT:
        warped = cv2.resize(warped, (w, HEIGHT), interpolation=cv2.INTER_AREA)
    return np.asarray(warped)


class TextRecognizer:
    """PP-OCRv4 line recognizer. Thread-safe: calls share one session, one at a time."""

    name = "ppocr-v4-rec"

    def __init__(self, model_path: str | None = None, *, threads: int | None = None,
                 providers: list[str] | None = None, flip_below: float = FLIP_BELOW,
                 classifier_path: str | None = None):
        path = model_path or default_model_path(MODEL_FILE)
        if not path or not Path(path).is_file():
            raise FileNotFoundError(f"text recognition model not found: {path or MODEL_PACKAGE + '/' + MODEL_FILE}")
        self.model_path = str(path)
        self._session = onnx_session(self.model_path, threads, providers)
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{path} has no character list in its metadata")
        # PaddleOCR's order: blank (class 0), the list, then the space
        self.characters = ["", *meta["character"].splitlines(), " "]
        classes = self._session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.characters):
            raise ValueError(f"{path}: {classes} classes but {len(self.characters)} characters")
        self._input = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()
        self.flip_below = float(flip_below)
        cls = classifier_path or default_model_path(CLASSIFIER_FILE)
        # optional: without it, the low-score retry alone decides which way up a line is
        self._classifier = onnx_session(cls, threads, providers) if cls and Path(cls).is_file() else None
        self._lock = threading.Lock()

    def read(self, rgb: np.ndarray, polygons: list[tuple[Point, ...]]) -> list[Reading]:
        """What each polygon of an H x W x 3 RGB image says, read upright (see the module)."""
        if not polygons:
            return []
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, 2::-1])
        frames = [reading_frame(p) for p in polygons]
        frames = [_flipped(f) if turn else f for f, turn in zip(frames, self._upside_down(bgr, frames))]
        readings = self._read_frames(bgr, frames)
        again = [i for i, r in enumerate(readings) if r.score < self.flip_below]
        if again:
            turned = self._read_frames(bgr, [_flipped(frames[i]) for i in again])
            for i, r in zip(again, turned):
                if r.score > readings[i].score:
                    readings[i] = r
        return readings

    def read_frames(self, rgb: np.ndarray, frames: list[Frame]) -> list[Reading]:
        """What each rectangle (a Reading's frame, in reading order) says, read the way it is given,
        never turned: what verification compares a line's result with its source's reading by."""
        return self._read_frames(np.ascontiguousarray(np.asarray(rgb)[:, :, 2::-1]), frames) if frames else []

    def _upside_down(self, bgr: np.ndarray, frames: list[tuple[Point, Point, Point, Point]]) -> list[bool]:
        """Which lines the direction classifier is sure are upside down (all False without it)."""
        if self._classifier is None or not frames:
            return [False] * len(frames)
        cw, ch = CLASSIFIER_SIZE
        x = np.zeros((len(frames), 3, ch, cw), np.float32)
        for k, f in enumerate(frames):
            s = _strip(bgr, f)  # 48 px high already; squeezed to 192 px where longer, as PaddleOCR does
            w = min(cw, s.shape[1])
            s = cv2.resize(s, (w, ch), interpolation=cv2.INTER_AREA) if w != s.shape[1] else s
            x[k, :, :, :w] = s.transpose(2, 0, 1) * (1 / 127.5) - 1.0
        with self._lock:
            probs = self._classifier.run(None, {self._classifier.get_inputs()[0].name: x})[0]
        return [bool(p[1] > TURN_ABOVE) for p in probs]

    def _read_frames(self, bgr: np.ndarray, frames: list[tuple[Point, Point, Point, Point]]) -> list[Reading]:
        strips = [_strip(bgr, f) for f in frames]
        out: list[Reading | None] = [None] * len(strips)
        order = sorted(range(len(strips)), key=lambda i: strips[i].shape[1])
        start = 0
        while start < len(order):
            end = start + 1  # widths ascend: the last one sets the batch's padded width
            while end < len(order) and strips[order[end]].shape[1] * (end - start + 1) * HEIGHT <= _BATCH_PIXELS:
                end += 1
            batch = order[start:end]
            width = max(strips[i].shape[1] for i in batch)
            x = np.zeros((len(batch), 3, HEIGHT, width), np.float32)  # 0 = mid grey after scaling
            for k, i in enumerate(batch):
                s = strips[i]
                x[k, :, :, : s.shape[1]] = s.transpose(2, 0, 1)
                x[k, :, :, : s.shape[1]] *= 1 / 127.5
                x[k, :, :, : s.shape[1]] -= 1.0
            with self._lock:
                probs = self._session.run(None, {self._input: x})[0]
            for k, i in enumerate(batch):
                out[i] = self._decode(probs[k], strips[i].shape[1] / width, frames[i])
            start = end
        return [r for r in out if r is not None]

    def _decode(self, probs: np.ndarray, used: float, frame: tuple[Point, Point, Point, Point]) -> Reading:
        """CTC best path: characters with the time steps they span, as fractions of the line."""
        best = probs.argmax(axis=1)
        conf = probs.max(axis=1)
        steps = len(best) * used  # time steps that cover the line (the rest is padding)
        text: list[str] = []
        spans: list[tuple[float, float]] = []
        scores: list[float] = []
        prev = 0
        for t, c in enumerate(best):
            c = int(c)
            if c != 0 and c != prev:
                text.append(self.characters[c])
                spans.append((t / steps, (t + 1) / steps))
                scores.append(float(conf[t]))
            elif c != 0:  # the same character continues
                spans[-1] = (spans[-1][0], (t + 1) / steps)
            prev = c
        spans = [(min(a, 1.0), min(b, 1.0)) for a, b in spans]
        return Reading("".join(text), float(np.mean(scores)) if scores else 0.0, frame, tuple(spans))


def load_recognizer(model_path: str | None = None, **kwargs: Any) -> TextRecognizer | None:
    """The recognizer, or None (with the reason logged) where onnxruntime or the model is missing."""
    rec = load_onnx("text recognition", MODEL_FILE, lambda path: TextRecognizer(path, **kwargs), model_path)
    if rec is not None:
        log.info("text recognizer %s loaded from %s (%d characters, providers %s)", rec.name, rec.model_path,
                 len(rec.characters) - 2, ",".join(rec.providers))
    return rec
