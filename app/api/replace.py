"""POST /api/v1/replace-text and /replace-text-json: remove each line's old text (the regions'
pipeline, verified) and write new text in its place, the way the old text looked
(engine/render.py); GET /api/v1/fonts: the fonts a line may name. The job runs like
inpaint-regions' (app.execution.service), off the event loop."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.api import headers
from app.api.bodies import REPLACE, ReplaceJob
from app.api.inpaint import IMAGE_CONTENT
from app.api.deps import ServicesDep
from app.api.schemas.responses import ERROR_RESPONSES, FontList, ReplaceJsonResult
from app.engine import fonts

router = APIRouter(prefix="/api/v1", tags=["replace"])


@router.post("/replace-text", summary="Rewrite text lines in their own style; answers the image",
             response_class=Response, openapi_extra=REPLACE.doc.openapi_extra(),
             responses={200: {"content": IMAGE_CONTENT, "description": "the image with each line's new text",
                              "headers": headers.document(headers.REPLACE)}, **ERROR_RESPONSES})
async def replace_text(job: ReplaceJob, s: ServicesDep) -> Response:
    out = await s.execution.inpaint(job)
    return Response(out.data, media_type=out.media_type, headers=headers.emit(out, headers.REPLACE))


@router.post("/replace-text-json", summary="Rewrite text lines in their own style; answers what was written",
             response_model=ReplaceJsonResult, responses=ERROR_RESPONSES, openapi_extra=REPLACE.doc.openapi_extra())
async def replace_text_json(job: ReplaceJob, s: ServicesDep) -> ReplaceJsonResult:
    return ReplaceJsonResult.of(await s.execution.inpaint(job))


@router.get("/fonts", summary="The fonts replace-text writes in", response_model=FontList)
async def list_fonts(s: ServicesDep) -> FontList:
    return FontList.of(fonts.font_book(s.settings.fonts_dir))
