"""The one error type of the service and the handlers that turn every failure into
`{"detail": <human text>, "error": <stable code>}` (existing clients read `detail`).

Engine code raises `ServiceError` subclasses without knowing about HTTP; the status code
rides along so that the edge does not need a mapping table.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app.errors")


class ServiceError(Exception):
    """An error with a status, a stable machine code and a message safe to show a client."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.headers = headers or {}


class InvalidImage(ServiceError):
    status_code, code = 400, "invalid_image"


class TooLarge(ServiceError):
    status_code, code = 413, "too_large"


class UnsupportedMediaType(ServiceError):
    status_code, code = 415, "unsupported_media_type"


class InvalidInput(ServiceError):
    status_code, code = 422, "invalid_input"


class NotFound(ServiceError):
    status_code, code = 404, "not_found"


class Conflict(ServiceError):
    status_code, code = 409, "conflict"


class Busy(ServiceError):
    """The queue is full, or the model is not loaded yet: come back later."""

    status_code, code = 503, "busy"

    def __init__(self, detail: str, *, retry_after: int = 2, code: str | None = None):
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after)})


class Cancelled(ServiceError):
    status_code, code = 409, "cancelled"


class Timeout(ServiceError):
    status_code, code = 504, "timeout"


class InferenceFailed(ServiceError):
    status_code, code = 500, "inference_failed"


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "error": code, **extra}


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def summarise_validation(errors: list[dict]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def validation_problem(errors: list[dict]) -> JSONResponse:
    """422 for pydantic errors, the input echoed back never (it may be a 50 MB base64 string)."""
    clean = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    return JSONResponse(
        error_body(summarise_validation(errors), "invalid_input", errors=clean), status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError):
        extra = {"errors": exc.errors} if getattr(exc, "errors", None) else {}
        return JSONResponse(error_body(exc.detail, exc.code, **extra), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        return validation_problem(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(str(exc.detail), code), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal error; see the service log", "internal_error"), status_code=500)
