"""Errors the client raises. Every one is a `ClientError`."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple


class ClientError(Exception):
    """Base class of everything this package raises on purpose."""


class ServiceError(ClientError):
    """The service answered with an error: HTTP `status`, its stable machine-readable `code`
    (the JSON body's `error`) and its human-readable `detail`."""

    def __init__(self, status: int, code: str, detail: str, *, retry_after: Optional[float] = None,
                 body: Any = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after  # seconds, from Retry-After on 429/503
        self.body = body  # the parsed JSON body (e.g. `errors` of a 422), when there was one

    @property
    def errors(self) -> List[Dict[str, Any]]:
        """The field errors of a 422: `{"loc": ["lines", 0, "text"], "msg", "type"}` each, naming
        the field at fault (empty when the answer had none)."""
        found = self.body.get("errors") if isinstance(self.body, dict) else None
        if not isinstance(found, list) and isinstance(self.body, dict) and isinstance(self.body.get("detail"), list):
            found = self.body["detail"]  # FastAPI's default 422 shape
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    @property
    def loc(self) -> Optional[List[Any]]:
        """The first field error's `loc` (e.g. ["lines", 1, "style", "font"]), or None."""
        for e in self.errors:
            if isinstance(e.get("loc"), list):
                return list(e["loc"])
        return None

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:  # picklable despite the keyword-only arguments
        return (_rebuild_service_error, (self.status, self.code, self.detail, self.retry_after, self.body))


def _rebuild_service_error(status: int, code: str, detail: str, retry_after: Optional[float],
                           body: Any) -> ServiceError:
    return ServiceError(status, code, detail, retry_after=retry_after, body=body)


class TransportError(ClientError):
    """The service could not be reached, or the connection broke (wraps httpx/websockets errors)."""


class TaskFailed(ClientError):
    """An async task ended without a result: `status` is "error" or "cancelled"."""

    def __init__(self, task_id: str, status: str, error: Optional[str] = None):
        super().__init__(f"task {task_id} {status}" + (f": {error}" if error else ""))
        self.task_id = task_id
        self.status = status
        self.error = error


class WaitTimeout(ClientError):
    """wait()/progress ran past its timeout before the task finished."""
