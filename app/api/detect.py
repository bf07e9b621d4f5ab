"""POST /api/v1/detect-text: every text line in an image, as polygons a client can send back
as regions. Runs in the shared queue, off the event loop."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.api.deps import Services, ServicesDep, read_body
from app.api.openapi import request_body
from app.api.schemas import ERROR_RESPONSES, DetectResult, RegionIn
from app.engine import images, masks
from app.engine.detect import TextDetector
from app.errors import Busy, InvalidInput

router = APIRouter(prefix="/api/v1", tags=["detect"])


class DetectParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    regions: list[RegionIn] = Field(default_factory=list, description="search only inside these regions")
    recognize: StrictBool = Field(False, description="also read each line: its `text` and `text_score`")


class DetectBody(DetectParams):
    image: str = Field(description="base64 image (a data: URL prefix is allowed)")


def run_detection(s: Services, payload: bytes | str, regions: list[masks.Region], recognize: bool = False
                  ) -> dict[str, Any]:
    """The /detect-text answer, in a worker thread (here, or on a worker replica for ROLE=api)."""
    detector: TextDetector | None = s.models.detector
    if detector is None:  # a worker without the detector, asked through the queue
        raise InvalidInput("text detection is not available on this worker (TEXT_DETECTION is off, or its "
                           "model could not load)", code="detection_unavailable")
    started = time.perf_counter()
    raw = images.payload_bytes(payload, max_bytes=s.limits.max_file_size)
    img = images.decode_image(raw, max_bytes=s.limits.max_file_size, max_pixels=s.limits.max_image_pixels)
    masks.validate_regions(regions, img.width, img.height)
    found = detector.detect(img.rgb, within=regions or None)
    lines: list[dict[str, Any]] = [{"points": [[round(x, 2), round(y, 2)] for x, y in d.points],
                                    "bounding_box": {k: round(v, 2) for k, v in d.bounding_box().items()},
                                    "score": round(float(d.score), 4)} for d in found]
    if recognize:  # read upright, whatever the line's angle (engine/recognize.py)
        for line, r in zip(lines, detector.read(img.rgb, [d.points for d in found])):
            line["text"], line["text_score"] = r.text, round(r.score, 4)
    return {
        "regions": lines,
        "image_dimensions": {"width": img.width, "height": img.height},
        "processing_time": round(time.perf_counter() - started, 4),
        "detector": detector.name,
        **({"recognizer": detector.reader.name} if recognize and detector.reader is not None else {}),
    }


@router.post("/detect-text", summary="Find every text line (polygons, boxes, scores)", response_model=DetectResult,
             responses=ERROR_RESPONSES,
             openapi_extra=request_body(DetectBody, DetectParams, files=("image",)))
async def detect_text(request: Request, s: ServicesDep) -> dict[str, Any]:
    parsed = await read_body(request, DetectParams, DetectBody, s.settings.max_file_size)
    regions = [r.to_region(f"regions[{i}]") for i, r in enumerate(parsed.params.regions)]
    if s.execution.remote is not None:  # ROLE=api: no detector here, a worker runs it (same wait, timeout, errors)
        return await s.execution.detect_remote(parsed.image, regions, parsed.params.recognize)
    detector: TextDetector | None = s.models.detector  # the concrete detector (name, detect)
    if detector is None:
        if s.settings.text_detection and not s.models.ready.is_set():
            raise Busy("the text detector is still loading; retry shortly", retry_after=5, code="model_loading")
        raise InvalidInput("text detection is not available on this service (TEXT_DETECTION is off, or its "
                           "model could not load: see the log)", code="detection_unavailable")
    if parsed.params.recognize and detector.reader is None:
        raise InvalidInput("text recognition is not available on this service (TEXT_RECOGNITION is off, or its "
                           "model could not load: see the log)", code="recognition_unavailable")
    recognize = parsed.params.recognize
    return await s.execution.detect(detector.name, lambda: run_detection(s, parsed.image, regions, recognize))
