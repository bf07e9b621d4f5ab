"""A small built-in web page for trying the service by hand: GET /playground.

One HTML, one JS and one CSS file from app/static/playground/, no framework, no CDN, no build.
The page uses the public API only (detect-text, inpaint-regions-async, the WebSocket progress
channel, task-result), so it works wherever those routes do. Include with
`app.include_router(playground.router)`; nothing needs mounting.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "playground"

# the only files served: a fixed list, so no path from the URL ever reaches the file system
_ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}

# No inline script or style anywhere: the page is allowed only its own files, its own API
# (fetch and WebSocket) and the blob: URLs it makes for the before/after images.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(tags=["playground"], include_in_schema=False)


@router.get("/playground")
async def playground_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={**_HEADERS, "Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer"})


@router.get("/playground/static/{name}")
async def playground_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no playground file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_HEADERS)
