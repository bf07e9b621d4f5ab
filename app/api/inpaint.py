"""The synchronous routes: /api/v1/inpaint, /inpaint-regions, /inpaint-regions-json.

Each parses its body (JSON or multipart), then hands the job to the execution service
(app.service), which runs `engine.pipeline.inpaint` in a worker thread; the event loop only waits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api import headers
from app.api.bodies import read_body
from app.api.deps import ServicesDep, Services
from app.api.openapi import Body
from app.api.schemas import (ERROR_RESPONSES, InpaintBody, InpaintParams, RegionsBody, RegionsJsonResult,
                             RegionsParams)
from app.engine import pipeline


router = APIRouter(prefix="/api/v1", tags=["inpaint"])
MASK_BODY = Body(InpaintBody, InpaintParams, files=("image", "mask"), required_files=("image", "mask"))
REGIONS_BODY = Body(RegionsBody, RegionsParams, files=("image", "mask"))
BODIES = (MASK_BODY, REGIONS_BODY)
log = logging.getLogger("app.inpaint")

_IMAGE_CONTENT = {m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/png", "image/jpeg", "image/webp")}

_IMAGE_RESPONSE = {
    200: {"content": _IMAGE_CONTENT, "description": "the image with the masked pixels repainted",
          "headers": headers.document(headers.MASK)},
    **ERROR_RESPONSES,
}
_REGIONS_IMAGE_RESPONSE = {
    **_IMAGE_RESPONSE,
    200: {"content": _IMAGE_CONTENT, "description": "the image with the text regions repainted",
          "headers": headers.document(headers.REGIONS)},
}


async def _regions_job(request: Request, s: Services) -> pipeline.InpaintInput:
    parsed = await read_body(request, RegionsParams, RegionsBody, s.settings.max_file_size)
    return parsed.params.to_input(parsed.image, parsed.mask, s.settings)


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat()


@router.post("/inpaint", summary="Repaint the white pixels of a mask", response_class=Response,
             responses=_IMAGE_RESPONSE,
             openapi_extra=MASK_BODY.openapi_extra())
async def inpaint(request: Request, s: ServicesDep) -> Response:
    parsed = await read_body(request, InpaintParams, InpaintBody, s.settings.max_file_size, mask_required=True)
    out = await s.execution.inpaint(parsed.params.to_input(parsed.image, parsed.mask, s.settings))
    return Response(out.data, media_type=out.media_type, headers=headers.emit(out, headers.MASK))


@router.post("/inpaint-regions", summary="Remove the text in regions; answers the image", response_class=Response,
             responses=_REGIONS_IMAGE_RESPONSE,
             openapi_extra=REGIONS_BODY.openapi_extra())
async def inpaint_regions(request: Request, s: ServicesDep) -> Response:
    out = await s.execution.inpaint(await _regions_job(request, s))
    return Response(out.data, media_type=out.media_type, headers=headers.emit(out, headers.REGIONS))


@router.post("/inpaint-regions-json", summary="Remove the text in regions; answers statistics",
             response_model=RegionsJsonResult, responses=ERROR_RESPONSES,
             openapi_extra=REGIONS_BODY.openapi_extra())
async def inpaint_regions_json(request: Request, s: ServicesDep) -> dict[str, Any]:
    out = await s.execution.inpaint(await _regions_job(request, s))
    found = f", {out.detected} text line(s) detected" if out.detected is not None else ""
    if out.regions_outside:
        found += f", {out.regions_outside} region(s) wholly outside the {out.width}x{out.height} image (nothing removed there)"
    if out.text_lines is not None:
        t = out.text_lines
        found += f", {t['removed'] + t['partly_removed']} removed (of them {t['partly_removed']} in part), {t['kept']} kept"
        if t["unmatched_patterns"]:
            found += "; matched no line: " + ", ".join(t["unmatched_patterns"])
    return {
        "success": True,
        "message": f"processed {out.regions_count} region(s) in {sum(out.timings.values()):.3f} s{found}",
        "processing_stats": out.stats(),
        "timestamp": _timestamp(),
    }
