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


# --- the service's recurring errors: each raised from here, so its code, status and words stay one ---

def detection_unavailable() -> InvalidInput:
    """Text detection was asked of a process (or a worker) that has no detector."""
    return InvalidInput("text detection is not available on this service (TEXT_DETECTION is off, or its model "
                        "could not load: see the log)", code="detection_unavailable")


def recognition_unavailable() -> InvalidInput:
    """Reading text (recognize, remove_text, keep_text) was asked of a process with no recognizer."""
    return InvalidInput("text recognition is not available on this service (TEXT_RECOGNITION is off, or its "
                        "model could not load: see the log)", code="recognition_unavailable")


def model_loading(what: str = "the model") -> Busy:
    """The model (or the text detector) is still loading: come back in a few seconds."""
    return Busy(f"{what} is still loading; retry shortly", retry_after=5, code="model_loading")


def model_unavailable(requested: str, reason: str | None) -> Busy:
    """The model failed to load (and no fallback took its place)."""
    return Busy(f"model {requested!r} failed to load: {reason}", retry_after=30, code="model_unavailable")


def queue_full(live: int, limit: int, retry_after: int, what: str = "jobs") -> Busy:
    """Admission refused: `limit` jobs (or tasks) are already waiting or running."""
    return Busy(f"the queue is full ({live} {what} waiting or running, limit {limit}); retry later",
                retry_after=retry_after, code="queue_full")


def shutting_down() -> Busy:
    """No new work: the service is stopping."""
    return Busy("the service is shutting down", retry_after=10, code="shutting_down")


def backend_unavailable(reason: object, retry_after: int) -> Busy:
    """The task store cannot be reached (or lost the task): the caller may retry."""
    return Busy(f"{reason}; retry shortly", retry_after=retry_after, code="task_backend_unavailable")


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "error": code, **extra}


def summarise_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
