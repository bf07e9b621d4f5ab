"""POST /api/v1/detect-text: every text line in an image, as polygons a client can send back
as regions. `Execution.detect` runs it in the shared queue, off the event loop (here, or on a
worker for an API-only replica)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.bodies import DETECT, DetectRequest
from app.api.deps import ServicesDep
from app.api.schemas.responses import ERROR_RESPONSES, DetectResult

router = APIRouter(prefix="/api/v1", tags=["detect"])


@router.post("/detect-text", summary="Find every text line (polygons, boxes, scores)", response_model=DetectResult,
             responses=ERROR_RESPONSES,
             openapi_extra=DETECT.doc.openapi_extra())
async def detect_text(parsed: DetectRequest, s: ServicesDep) -> DetectResult:
    regions = [r.to_region(f"regions[{i}]") for i, r in enumerate(parsed.params.regions)]
    return DetectResult.of(await s.execution.detect(parsed.image, regions, parsed.params.recognize,
                                                    parsed.params.describe))
