"""The synchronous routes: /api/v1/inpaint, /inpaint-regions, /inpaint-regions-json.

Each gets its job from its body's dependency (app.api.bodies: the body read, JSON or multipart,
then `to_input()`), and hands it to the execution service (app.service), which runs
`engine.pipeline.inpaint` in a worker thread; the event loop only waits.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from app.api import headers
from app.api.bodies import MASK, REGIONS, MaskJob, RegionsJob
from app.api.deps import ServicesDep
from app.api.schemas.responses import ERROR_RESPONSES, RegionsJsonResult


router = APIRouter(prefix="/api/v1", tags=["inpaint"])

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


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat()


@router.post("/inpaint", summary="Repaint the white pixels of a mask", response_class=Response,
             responses=_IMAGE_RESPONSE,
             openapi_extra=MASK.doc.openapi_extra())
async def inpaint(job: MaskJob, s: ServicesDep) -> Response:
    out = await s.execution.inpaint(job)
    return Response(out.data, media_type=out.media_type, headers=headers.emit(out, headers.MASK))


@router.post("/inpaint-regions", summary="Remove the text in regions; answers the image", response_class=Response,
             responses=_REGIONS_IMAGE_RESPONSE,
             openapi_extra=REGIONS.doc.openapi_extra())
async def inpaint_regions(job: RegionsJob, s: ServicesDep) -> Response:
    out = await s.execution.inpaint(job)
    return Response(out.data, media_type=out.media_type, headers=headers.emit(out, headers.REGIONS))


@router.post("/inpaint-regions-json", summary="Remove the text in regions; answers statistics",
             response_model=RegionsJsonResult, responses=ERROR_RESPONSES,
             openapi_extra=REGIONS.doc.openapi_extra())
async def inpaint_regions_json(job: RegionsJob, s: ServicesDep) -> dict[str, Any]:
    out = await s.execution.inpaint(job)
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
