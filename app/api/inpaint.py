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

from app.api.deps import ServicesDep, Services, read_body, to_pipeline_input
from app.api.openapi import request_body
from app.api.schemas import (ERROR_RESPONSES, InpaintBody, InpaintParams, RegionsBody, RegionsJsonResult,
                             RegionsParams)
from app.engine import pipeline


router = APIRouter(prefix="/api/v1", tags=["inpaint"])
log = logging.getLogger("app.inpaint")

_IMAGE_CONTENT = {m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/png", "image/jpeg", "image/webp")}


def _headers(**described: tuple[str, str]) -> dict[str, dict[str, Any]]:
    return {name: {"description": text, "schema": {"type": kind}} for name, (kind, text) in described.items()}


_VERIFIED = {"X-Regions-Checked": ("integer", "regions checked for text left behind (absent with verify: false)"),
             "X-Regions-Repaired": ("integer", "regions repainted again (absent with verify: false)"),
             "X-Residual-Text": ("number", "0-1, the largest share of a region's text still found (absent with verify: false)")}
# with remove_text, keep_text or recognize (API.md, "Remove only what matches"): counts, never text
_TEXT_LINES = {"X-Text-Lines-Read": ("integer", "lines read with confidence (with remove_text, keep_text or recognize)"),
               "X-Text-Lines-Removed": ("integer", "lines removed whole (with remove_text, keep_text or recognize)"),
               "X-Text-Lines-Partly-Removed": ("integer", "lines of which only the part that matched was removed"),
               "X-Text-Lines-Kept": ("integer", "lines left as they are (with remove_text, keep_text or recognize)"),
               "X-Text-Patterns-Unmatched": ("integer", "patterns that matched no line")}
_TEXT_LINE_FIELDS = dict(zip(_TEXT_LINES, ("read", "removed", "partly_removed", "kept", "unmatched_patterns")))
_IMAGE_RESPONSE = {
    200: {"content": _IMAGE_CONTENT, "description": "the image with the masked pixels repainted",
          "headers": _headers(**{"X-Processing-Time": ("number", "seconds"),
                                 "X-Timestamp": ("string", "ISO 8601"), **_VERIFIED})},
    **ERROR_RESPONSES,
}
_REGIONS_IMAGE_RESPONSE = {
    **_IMAGE_RESPONSE,
    200: {"content": _IMAGE_CONTENT, "description": "the image with the text regions repainted",
          "headers": _headers(**{"X-Processing-Time": ("number", "seconds"),
                                 "X-Regions-Count": ("integer", "regions processed"),
                                 "X-Total-Area": ("integer", "pixels inside the regions"),
                                 "X-Timestamp": ("string", "ISO 8601"), **_VERIFIED, **_TEXT_LINES})},
}


async def run_sync(s: Services, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
    """Run one job through the execution service (app.service): a queue slot, REQUEST_TIMEOUT, the
    error mapping; here, or on a worker for an API-only replica (ROLE=api)."""
    return await s.execution.inpaint(job)


async def _regions_job(request: Request, s: Services) -> pipeline.InpaintInput:
    parsed = await read_body(request, RegionsParams, RegionsBody, s.settings.max_file_size)
    return to_pipeline_input(parsed, s.settings)


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat()


def _server_timing(out: pipeline.InpaintOutput) -> str:
    """The stages (API.md); `repaint` is the part of model + composite spent on verification's repaints."""
    stages = [f"{k};dur={v * 1000:.1f}" for k, v in out.timings.items()]
    if out.verification is not None:
        stages.append(f"repaint;dur={out.repaint_seconds * 1000:.1f}")
    return ", ".join(stages)


def _verification_headers(out: pipeline.InpaintOutput) -> dict[str, str]:
    """X-Regions-Repaired and X-Residual-Text (API.md, verification); absent with verify: false."""
    v = out.verification
    if v is None:
        return {}
    return {"X-Regions-Checked": str(v["regions_checked"]), "X-Regions-Repaired": str(v["regions_repaired"]),
            "X-Residual-Text": f"{v['residual_max']:.3f}"}


def _text_line_headers(out: pipeline.InpaintOutput) -> dict[str, str]:
    """The lines' counts (_TEXT_LINES) with remove_text, keep_text or recognize; never their text."""
    t = out.text_lines
    if t is None:
        return {}
    return {name: str(len(t[key]) if isinstance(t[key], list) else t[key]) for name, key in _TEXT_LINE_FIELDS.items()}


def _jpeg_header(out: pipeline.InpaintOutput) -> dict[str, str]:
    """JPEG answered as JPEG (`original`): the share of its 8x8 blocks encoded again (1 = all)."""
    return {"X-Jpeg-Blocks-Reencoded": str(out.jpeg.share)} if out.jpeg else {}


@router.post("/inpaint", summary="Repaint the white pixels of a mask", response_class=Response,
             responses=_IMAGE_RESPONSE,
             openapi_extra=request_body(InpaintBody, InpaintParams, files=("image", "mask"),
                                        required_files=("image", "mask")))
async def inpaint(request: Request, s: ServicesDep) -> Response:
    parsed = await read_body(request, InpaintParams, InpaintBody, s.settings.max_file_size, mask_required=True)
    out = await run_sync(s, to_pipeline_input(parsed, s.settings))
    return Response(out.data, media_type=out.media_type, headers={
        "X-Processing-Time": f"{sum(out.timings.values()):.4f}",
        "X-Mask-Area": str(out.mask_area),
        "X-Timestamp": _timestamp(),
        "Server-Timing": _server_timing(out),
        **_verification_headers(out),
        **_jpeg_header(out),
    })


@router.post("/inpaint-regions", summary="Remove the text in regions; answers the image", response_class=Response,
             responses=_REGIONS_IMAGE_RESPONSE,
             openapi_extra=request_body(RegionsBody, RegionsParams, files=("image", "mask")))
async def inpaint_regions(request: Request, s: ServicesDep) -> Response:
    out = await run_sync(s, await _regions_job(request, s))
    headers = {
        "X-Processing-Time": f"{sum(out.timings.values()):.4f}",
        "X-Regions-Count": str(out.regions_count),
        "X-Total-Area": str(out.total_area),
        "X-Timestamp": _timestamp(),
        "X-Mask-Area": str(out.mask_area),
        "Server-Timing": _server_timing(out),
    }
    if out.detected is not None:
        headers["X-Text-Lines-Detected"] = str(out.detected)
    headers.update(_verification_headers(out))
    headers.update(_text_line_headers(out))
    headers.update(_jpeg_header(out))
    return Response(out.data, media_type=out.media_type, headers=headers)


@router.post("/inpaint-regions-json", summary="Remove the text in regions; answers statistics",
             response_model=RegionsJsonResult, responses=ERROR_RESPONSES,
             openapi_extra=request_body(RegionsBody, RegionsParams, files=("image", "mask")))
async def inpaint_regions_json(request: Request, s: ServicesDep) -> dict[str, Any]:
    out = await run_sync(s, await _regions_job(request, s))
    found = f", {out.detected} text line(s) detected" if out.detected is not None else ""
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
