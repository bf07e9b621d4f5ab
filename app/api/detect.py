"""POST /api/v1/detect-text: every text line in an image, as polygons a client can send back
as regions. `Execution.detect` runs it in the shared queue, off the event loop (here, or on a
worker for an API-only replica)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.api.deps import ServicesDep, read_body
from app.api.openapi import request_body
from app.api.schemas import B64_IMAGE, ERROR_RESPONSES, DetectResult, RegionIn

router = APIRouter(prefix="/api/v1", tags=["detect"])


class DetectParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    regions: list[RegionIn] = Field(default_factory=list, description="search only inside these regions")
    recognize: StrictBool = Field(False, description="also read each line: its `text` and `text_score`")


class DetectBody(DetectParams):
    image: str = Field(description="base64 image (a data: URL prefix is allowed)", **B64_IMAGE)


@router.post("/detect-text", summary="Find every text line (polygons, boxes, scores)", response_model=DetectResult,
             responses=ERROR_RESPONSES,
             openapi_extra=request_body(DetectBody, DetectParams, files=("image",)))
async def detect_text(request: Request, s: ServicesDep) -> dict[str, Any]:
    parsed = await read_body(request, DetectParams, DetectBody, s.settings.max_file_size)
    regions = [r.to_region(f"regions[{i}]") for i, r in enumerate(parsed.params.regions)]
    return await s.execution.detect(parsed.image, regions, parsed.params.recognize)
