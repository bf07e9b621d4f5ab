"""Every failure as one JSON shape, `{"detail", "error", "errors"?}` (app.api.schemas.ErrorBody):
the service's own errors (app.errors), FastAPI's and Starlette's, and anything unexpected (a 500
without internals; the traceback goes to the log only)."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import ServiceError, error_body, summarise_validation

log = logging.getLogger("app.errors")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """422 for pydantic errors, the input echoed back never (it may be a 50 MB base64 string)."""
    clean = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    return JSONResponse(
        error_body(summarise_validation(errors), "invalid_input", errors=clean), status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        extra = {"errors": exc.errors} if exc.errors else {}
        return JSONResponse(error_body(exc.detail, exc.code, **extra), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(str(exc.detail), code), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal error; see the service log", "internal_error"), status_code=500)
