"""The one error type of the service: plain exceptions, no web imports (app.api.errors turns
them into `{"detail": <human text>, "error": <stable code>, "errors"?: [...]}` answers; existing
clients read `detail`).

Engine code raises `ServiceError` subclasses without knowing about HTTP; the status code
rides along so that the edge does not need a mapping table.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


class ServiceError(Exception):
    """An error with a status, a stable machine code and a message safe to show a client."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None,
                 headers: dict[str, str] | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors  # each invalid field {loc, msg, type}, for a 422
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


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "error": code, **extra}


def summarise_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
