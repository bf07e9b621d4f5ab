"""The synchronous routes: /api/v1/inpaint, /inpaint-regions, /inpaint-regions-json.

Each gets its job from its body's dependency (app.api.bodies: the body read, JSON or multipart,
then `to_input()`), and hands it to the execution service (app.execution.service), which runs
`engine.pipeline.inpaint` in a worker thread; the event loop only waits. On an API-only replica
(ROLE=api) app.tasks.remote takes Execution's place: the job runs on a worker, waited for the same.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.api import headers
from app.api.bodies import MASK, REGIONS, MaskJob, RegionsJob
from app.api.deps import ServicesDep
from app.api.schemas.responses import ERROR_RESPONSES, RegionsJsonResult


router = APIRouter(prefix="/api/v1", tags=["inpaint"])

# the image answers' media types (the replace routes answer the same)
IMAGE_CONTENT = {m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/png", "image/jpeg", "image/webp")}

_IMAGE_RESPONSE = {
    200: {"content": IMAGE_CONTENT, "description": "the image with the masked pixels repainted",
          "headers": headers.document(headers.MASK)},
    **ERROR_RESPONSES,
}
_REGIONS_IMAGE_RESPONSE = {
    **_IMAGE_RESPONSE,
    200: {"content": IMAGE_CONTENT, "description": "the image with the text regions repainted",
          "headers": headers.document(headers.REGIONS)},
}


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
async def inpaint_regions_json(job: RegionsJob, s: ServicesDep) -> RegionsJsonResult:
    return RegionsJsonResult.of(await s.execution.inpaint(job))
