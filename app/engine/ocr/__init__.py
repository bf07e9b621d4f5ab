"""Offline OCR on onnxruntime: PaddleOCR's PP-OCRv4 models from the `rapidocr_onnxruntime` wheel.

    session.py     the ONNX Runtime side both models share: the model files' paths, one way to
                   open a session (threads, providers), one way to load a model or say why not
    detector.py    TextDetector: where the text lines are (DB probability map -> polygons)
    recognizer.py  TextRecognizer: what a line says, read upright, each character's place (Reading)

The detector and the recognizer stand side by side, neither importing the other; `Ocr` holds
the two (the recognizer optional), and is what the pipeline, the verifier and detect-text are
given (`load_ocr`). The package imports no other engine module (.importlinter).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.engine.ocr.detector import Detection, TextDetector, as_rgb, load_detector
from app.engine.ocr.recognizer import Frame, Point, Reading, TextRecognizer, load_recognizer, reading_frame
from app.engine.ocr.session import default_model_path
from app.errors import recognition_unavailable
from app.geometry import Region

__all__ = [
    "Detection", "Frame", "Ocr", "Point", "Reading", "TextDetector", "TextRecognizer", "default_model_path",
    "load_detector", "load_ocr", "load_recognizer", "reading_frame",
]


class Ocr:
    """The text detector and, beside it, the recognizer (`reader`, None where it is not loaded).
    Thread-safe as both are: each runs its own session, one call at a time."""

    def __init__(self, detector: TextDetector, reader: TextRecognizer | None = None):
        self.detector = detector
        self.reader = reader  # what lines say (load_ocr(recognize=True))

    @property
    def name(self) -> str:
        """The detector's name (what detect-text and the metrics report)."""
        return self.detector.name

    def __call__(self, rgb: np.ndarray, within: list[Region] | None = None) -> list[Region]:
        return self.detector(rgb, within)

    def detect(self, rgb: np.ndarray, within: list[Region] | None = None) -> list[Detection]:
        """Text lines in an H x W x 3 uint8 RGB image (TextDetector.detect)."""
        return self.detector.detect(rgb, within)

    def probabilities(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """The DB text probability of every pixel of small RGB crops (TextDetector.probabilities)."""
        return self.detector.probabilities(crops)

    def read(self, rgb: np.ndarray, polygons: list[tuple[tuple[float, float], ...]]) -> list[Reading]:
        """What each line (polygon) says, by the recognizer loaded beside the detector."""
        if self.reader is None:
            raise recognition_unavailable()
        return self.reader.read(as_rgb(rgb), polygons)

    def read_frames(self, rgb: np.ndarray, frames: list[Frame]) -> list[Reading]:
        """What each reading frame says, read as given (TextRecognizer.read_frames)."""
        if self.reader is None:
            raise recognition_unavailable()
        return self.reader.read_frames(as_rgb(rgb), frames)


def load_ocr(model_path: str | None = None, *, recognize: bool = True, **kwargs: Any) -> Ocr | None:
    """The detector (`model_path`, `kwargs`: TextDetector's) with the recognizer beside it when
    `recognize`, or None (with the reason logged) where onnxruntime or the detection model is
    missing. A missing recognizer leaves the detector."""
    det = load_detector(model_path, **kwargs)
    if det is None:
        return None
    reader = load_recognizer(threads=kwargs.get("threads"), providers=kwargs.get("providers")) if recognize else None
    return Ocr(det, reader)
