"""The one place that knows the API's paths, fields and answers (API.md).

Each endpoint is a function returning a `Call`: the method, the path, the JSON body and a parser
of the response. `Client` and `AsyncClient` only send calls and hand the response to `call.parse`,
so both stay thin and always agree on the contract.
"""

from __future__ import annotations

import base64
import json
import os
import time
import re
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Callable, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from ._version import __version__
from ._images import to_base64, to_bytes
from .errors import ServiceError, TaskFailed, WaitTimeout
from .models import (BatchItem, BoundingBox, CancelResult, DetectResult, Detection, FontList, Health, InpaintResult,
                     Line, ModelInfo, ProgressEvent, RegionsStats, ReplaceResult, ReplaceStats, ServiceInfo, ServiceRoot,
                     TasksSummary, TaskStatus, TaskSubmitted, box, polygon)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

API = "/api/v1"
DEFAULT_URL = "http://localhost:8081"
USER_AGENT = f"iopaint-client/{__version__}"
# Server messages that are about the connection, not the task's progress.
CONTROL_EVENTS = frozenset({"connection_established", "task_subscribed", "task_unsubscribed", "pong"})


TRANSPORTS = ("multipart", "json")


@dataclass(frozen=True)
class Upload:
    """An image to send: file bytes (multipart file, or base64 in JSON), or a base64 string / data
    URL the caller already had (sent as it is, in a form field or in JSON)."""

    data: Optional[bytes] = None
    text: Optional[str] = None

    def base64(self) -> str:
        return self.text if self.text is not None else base64.b64encode(self.data or b"").decode("ascii")


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    ok_statuses: Tuple[int, ...] = ()  # error statuses that are answers, not errors (health's 503)
    multipart: bool = False  # the route also takes multipart/form-data (API.md)

    def request_kwargs(self, transport: str = "multipart") -> Dict[str, Any]:
        """httpx arguments: multipart/form-data (files as bytes, no base64) where the route takes
        it and `transport` is "multipart"; otherwise JSON with images in base64."""
        if self.json is None:
            return {}
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}")
        texts = any(isinstance(v, Upload) and v.text is not None for v in self.json.values())
        if transport == "multipart" and self.multipart and not texts:  # base64 given: JSON carries it as is
            return form_body(self.json)
        return {"json": {k: v.base64() if isinstance(v, Upload) else v for k, v in self.json.items()}}


def form_body(body: Mapping[str, Any]) -> Dict[str, Any]:
    """A JSON body as multipart: images as files, lists/objects as JSON text, booleans as true/false."""
    files: Dict[str, Any] = {}
    data: Dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, Upload):
            if value.data is not None:
                files[key] = (key, value.data, "application/octet-stream")
            else:
                data[key] = value.text or ""
        elif isinstance(value, bool):
            data[key] = "true" if value else "false"
        elif isinstance(value, (dict, list, tuple)):
            data[key] = json.dumps(value)
        else:
            data[key] = str(value)
    return {"files": files, "data": data}


# --- connection settings -------------------------------------------------------------------


def normalize_base_url(base_url: Optional[str]) -> str:
    url = (base_url or os.environ.get("IOPAINT_URL") or DEFAULT_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if url.endswith(API):  # given the API root instead of the service root
        url = url[: -len(API)]
    return url


def auth_headers(api_key: Optional[str], auth: str = "header") -> Dict[str, str]:
    """`X-API-Key: <key>` (auth="header", the default) or `Authorization: Bearer <key>` (auth="bearer")."""
    if not api_key:
        return {}
    if auth == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    if auth == "header":
        return {"X-API-Key": api_key}
    raise ValueError("auth must be 'header' or 'bearer'")


def default_headers(api_key: Optional[str], auth: str = "header") -> Dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept": "application/json, image/*", **auth_headers(api_key, auth)}


def resolve_api_key(api_key: Optional[str]) -> Optional[str]:
    return api_key if api_key is not None else (os.environ.get("IOPAINT_API_KEY") or None)


def ws_progress_url(base_url: str, task_id: str, api_key: Optional[str] = None) -> str:
    """ws(s)://<host>/api/v1/ws/progress/<task_id>, with `?api_key=` when a key is given."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}{API}/ws/progress/{_id(task_id)}"
    query = urlencode({"api_key": api_key}) if api_key else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _id(task_id: str) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("task_id must be a non-empty string")
    return quote(task_id, safe="")


# --- errors --------------------------------------------------------------------------------


def error_from(response: httpx.Response) -> ServiceError:
    """ServiceError(status, code, detail) from the service's `{detail, error}` (or whatever came)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        pass
    detail: Any = None
    code: Any = None
    if isinstance(body, dict):
        detail, code = body.get("detail"), body.get("error")
    if isinstance(detail, list):  # FastAPI's default 422 shape, should a route ever answer it
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    if not detail:
        text = response.text.strip() if body is None else ""
        detail = text[:500] or response.reason_phrase or f"HTTP {status}"
    if not isinstance(code, str) or not code:
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                413: "too_large", 422: "invalid_input", 429: "busy", 503: "busy", 504: "timeout"}.get(
                    status, f"http_{status}")
    retry_after: Optional[float] = None
    ra = response.headers.get("retry-after")
    if ra:
        try:
            retry_after = float(ra)
        except ValueError:
            pass
    return ServiceError(status, code, str(detail), retry_after=retry_after, body=body)


def check(response: httpx.Response, ok_statuses: Tuple[int, ...] = ()) -> httpx.Response:
    if response.status_code >= 400 and response.status_code not in ok_statuses:
        raise error_from(response)
    return response


def _json_model(model: Type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise ServiceError(response.status_code, "unexpected_response",
                               f"could not read the answer of {response.request.url.path} as {model.__name__}: {e}")
    return parse


def _image(response: httpx.Response) -> InpaintResult:
    return _image_as(InpaintResult)(response)


R = TypeVar("R", bound=InpaintResult)


def _image_as(kind: Type[R]) -> Callable[[httpx.Response], R]:
    def parse(response: httpx.Response) -> R:
        ctype = response.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            raise ServiceError(response.status_code, "unexpected_response", "expected an image, got JSON")
        return kind.from_response(response.content, response.headers)
    return parse


# --- bodies --------------------------------------------------------------------------------

_B64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def _is_base64_text(image: Any) -> bool:
    return isinstance(image, str) and (image.startswith("data:") or (
        len(image) >= 64 and not os.path.exists(image) and bool(_B64.match(image[:4096]))))


def image_field(image: Any, what: str = "image") -> str:
    """Base64 of bytes/path/PIL/file; a data URL or a long base64 string (not a file) as given."""
    if _is_base64_text(image):
        return str(image)
    return to_base64(image, what=what)


def upload(image: Any, what: str = "image") -> Upload:
    """The bytes of bytes/path/PIL/file, read once; a data URL or base64 string kept as text."""
    if _is_base64_text(image):
        return Upload(text=image)
    return Upload(data=to_bytes(image, what=what))


def region(r: Any) -> Dict[str, Any]:
    """One region as JSON: a dict (flat, nested bounding_box or points) as given, a Detection or
    BoundingBox, (x, y, w, h), or a sequence of [x, y] points."""
    if isinstance(r, Detection):
        return r.as_region()
    if isinstance(r, BoundingBox):
        return r.as_region()
    if isinstance(r, BaseModel):
        return r.model_dump(exclude_none=True)
    if isinstance(r, Mapping):
        return dict(r)
    if isinstance(r, Sequence) and not isinstance(r, (str, bytes)):
        if len(r) == 4 and all(isinstance(v, Real) for v in r):
            return box(*r)
        if all(isinstance(p, Sequence) and len(p) == 2 for p in r):
            return polygon(r)
    raise TypeError(f"not a region: {r!r} (use box(x, y, w, h), polygon(points) or a dict)")


def regions_field(regions: Optional[Iterable[Any]]) -> List[Dict[str, Any]]:
    if regions is None:
        return []
    if isinstance(regions, DetectResult):
        regions = regions.regions
    elif isinstance(regions, Mapping):  # {"regions": [...]} (a saved request) or one region
        regions = regions["regions"] if "regions" in regions else [regions]
    return [region(r) for r in regions]


def line(item: Any) -> Dict[str, Any]:
    """One line of replace-text as JSON: a Line, a dict `{region, text, style?, align?}` (its
    region normalised as for regions: a Detection, (x, y, w, h), points...), or a (region, text)
    pair. The style goes as given: a field left out is measured on the old text, a None outline
    or shadow asks for none."""
    if isinstance(item, Line):
        out: Dict[str, Any] = {**item.extra, "region": region(item.region), "text": item.text}
        if item.style is not None:
            out["style"] = dict(item.style)
        if item.align is not None:
            out["align"] = item.align
    elif isinstance(item, Mapping):
        if "region" not in item or "text" not in item:
            raise ValueError(f"a line needs a `region` and a `text`: {dict(item)!r}")
        out = {**item, "region": region(item["region"])}
        if item.get("style") is not None:
            out["style"] = dict(item["style"])
    elif isinstance(item, tuple) and len(item) == 2:
        out = {"region": region(item[0]), "text": item[1]}
    else:
        raise TypeError(f"not a line: {item!r} (use Line(region, text, style, align), a dict or (region, text))")
    if not isinstance(out["text"], str):
        raise TypeError(f"a line's text is a string, got {out['text']!r}")
    return out


def lines_field(lines: Any) -> List[Dict[str, Any]]:
    """replace-text's `lines`: a list of lines, or `{"lines": [...]}` (a saved request)."""
    if isinstance(lines, (Line, tuple)):
        lines = [lines]
    elif isinstance(lines, Mapping):
        lines = lines["lines"] if "lines" in lines else [lines]
    if isinstance(lines, (str, bytes)):
        raise TypeError("lines: a list of Line / {region, text, ...} dicts")
    return [line(item) for item in lines]


def params_field(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Optional request parameters: None means "the service's default" and is not sent."""
    return {k: v for k, v in params.items() if v is not None}


Patterns = Union[str, Sequence[str], None]
"""remove_text / keep_text: RE2 patterns or presets (@email, @phone, @url, @number); one string is one pattern."""


def text_params(recognize: Optional[bool] = None, remove_text: Patterns = None,
                keep_text: Patterns = None, describe: Optional[bool] = None) -> Dict[str, Any]:
    """`recognize`, `remove_text`, `keep_text` and `describe` as the service takes them (API.md,
    "Remove only what matches", "Describing a line"); what is None is not sent."""
    out: Dict[str, Any] = {}
    for key, value in (("remove_text", remove_text), ("keep_text", keep_text)):
        if value is None:
            continue
        items = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(p, str) for p in items):
            raise TypeError(f"{key}: patterns are strings, got {items!r}")
        out[key] = items
    if recognize is not None:
        out["recognize"] = bool(recognize)
    if describe is not None:
        out["describe"] = bool(describe)
    return out


def _regions_body(image: Any, regions: Any, mask: Any, detect: Optional[bool], params: Mapping[str, Any]) -> Dict[str, Any]:
    body: Dict[str, Any] = {**params_field(params), "image": upload(image)}
    body["regions"] = regions_field(regions)
    if mask is not None:
        body["mask"] = upload(mask, "mask")
    if detect is not None:
        body["detect"] = bool(detect)
    return body


# --- endpoints -----------------------------------------------------------------------------


def root() -> Call[ServiceRoot]:
    return Call("GET", "/", _json_model(ServiceRoot))


def _health(response: httpx.Response) -> Health:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:  # e.g. a proxy's 503 page
        raise error_from(response)
    return Health.model_validate({**body, "http_status": response.status_code})


def health() -> Call[Health]:
    return Call("GET", f"{API}/health", _health, ok_statuses=(503,))


def model() -> Call[ModelInfo]:
    return Call("GET", f"{API}/model", _json_model(ModelInfo))


def info() -> Call[ServiceInfo]:
    return Call("GET", f"{API}/info", _json_model(ServiceInfo))


def inpaint(image: Any, mask: Any, params: Mapping[str, Any]) -> Call[InpaintResult]:
    body = {**params_field(params), "image": upload(image), "mask": upload(mask, "mask")}
    return Call("POST", f"{API}/inpaint", _image, json=body, multipart=True)


def inpaint_regions(image: Any, regions: Any, params: Mapping[str, Any], mask: Any = None,
                    detect: Optional[bool] = None) -> Call[InpaintResult]:
    return Call("POST", f"{API}/inpaint-regions", _image, json=_regions_body(image, regions, mask, detect, params),
                multipart=True)


def inpaint_regions_json(image: Any, regions: Any, params: Mapping[str, Any], mask: Any = None,
                         detect: Optional[bool] = None) -> Call[RegionsStats]:
    return Call("POST", f"{API}/inpaint-regions-json", _json_model(RegionsStats),
                json=_regions_body(image, regions, mask, detect, params), multipart=True)


def detect_text(image: Any, regions: Any = None, params: Optional[Mapping[str, Any]] = None) -> Call[DetectResult]:
    body: Dict[str, Any] = {**params_field(params or {}), "image": upload(image)}
    if regions is not None:
        body["regions"] = regions_field(regions)
    return Call("POST", f"{API}/detect-text", _json_model(DetectResult), json=body, multipart=True)


def _replace_body(image: Any, lines: Any, params: Mapping[str, Any]) -> Dict[str, Any]:
    return {**params_field(params), "image": upload(image), "lines": lines_field(lines)}


def replace_text(image: Any, lines: Any, params: Mapping[str, Any]) -> Call[ReplaceResult]:
    return Call("POST", f"{API}/replace-text", _image_as(ReplaceResult), json=_replace_body(image, lines, params),
                multipart=True)


def replace_text_json(image: Any, lines: Any, params: Mapping[str, Any]) -> Call[ReplaceStats]:
    return Call("POST", f"{API}/replace-text-json", _json_model(ReplaceStats), json=_replace_body(image, lines, params),
                multipart=True)


def fonts() -> Call[FontList]:
    return Call("GET", f"{API}/fonts", _json_model(FontList))


def _task_options(task_id: Optional[str], callback_url: Optional[str], enable_progress: Optional[bool],
                  progress_interval: Optional[float]) -> Dict[str, Any]:
    return params_field({"task_id": task_id, "callback_url": callback_url, "enable_progress": enable_progress,
                         "progress_interval": progress_interval})


def submit(image: Any, regions: Any, params: Mapping[str, Any], *, mask: Any = None, detect: Optional[bool] = None,
           task_id: Optional[str] = None, callback_url: Optional[str] = None, enable_progress: Optional[bool] = None,
           progress_interval: Optional[float] = None) -> Call[TaskSubmitted]:
    body = {**_regions_body(image, regions, mask, detect, params),
            **_task_options(task_id, callback_url, enable_progress, progress_interval)}
    return Call("POST", f"{API}/inpaint-regions-async", _json_model(TaskSubmitted), json=body, multipart=True)


def batch_item(item: Any) -> Dict[str, Any]:
    if isinstance(item, BatchItem):
        out: Dict[str, Any] = {**item.extra, "image": image_field(item.image), "regions": regions_field(item.regions)}
        if item.mask is not None:
            out["mask"] = image_field(item.mask, "mask")
        if item.detect:
            out["detect"] = True
        if item.name is not None:
            out["name"] = item.name
        return out
    if isinstance(item, Mapping):
        if "image" not in item:
            raise ValueError("a batch item needs an `image`")
        out = {**params_field(item), "image": image_field(item["image"])}
        out["regions"] = regions_field(item.get("regions"))
        if item.get("mask") is not None:
            out["mask"] = image_field(item["mask"], "mask")
        return out
    if isinstance(item, tuple) and len(item) == 2:  # (image, regions)
        return {"image": image_field(item[0]), "regions": regions_field(item[1])}
    raise TypeError("a batch item is a BatchItem, a dict with `image`, or an (image, regions) pair")


def submit_batch(items: Iterable[Any], params: Mapping[str, Any], *, task_id: Optional[str] = None,
                 callback_url: Optional[str] = None, enable_progress: Optional[bool] = None,
                 progress_interval: Optional[float] = None) -> Call[TaskSubmitted]:
    body = {**params_field(params), "items": [batch_item(i) for i in items],
            **_task_options(task_id, callback_url, enable_progress, progress_interval)}
    return Call("POST", f"{API}/inpaint-batch-async", _json_model(TaskSubmitted), json=body)


def task_status(task_id: str) -> Call[TaskStatus]:
    return Call("GET", f"{API}/task-status/{_id(task_id)}", _json_model(TaskStatus))


def cancel(task_id: str) -> Call[CancelResult]:
    return Call("POST", f"{API}/cancel-task/{_id(task_id)}", _json_model(CancelResult))


def task_result(task_id: str, index: Optional[int] = None) -> Call[InpaintResult]:
    """The finished image (a ZIP for a batch), or with `index` one item of a batch."""
    path = f"{API}/task-result/{_id(task_id)}" + ("" if index is None else f"/{int(index)}")
    return Call("GET", path, _image)


def tasks() -> Call[TasksSummary]:
    return Call("GET", f"{API}/tasks", _json_model(TasksSummary))


# --- progress ------------------------------------------------------------------------------


def parse_event(raw: Any) -> Optional[ProgressEvent]:
    """A WebSocket frame as a ProgressEvent (None for something that is not a JSON object with a type)."""
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    try:
        return ProgressEvent.model_validate(data)
    except ValidationError:
        return ProgressEvent.model_construct(type=data["type"], **{k: v for k, v in data.items() if k != "type"})


def deadline(timeout: Optional[float]) -> Optional[float]:
    """The monotonic time by which a wait must end (None: no limit)."""
    return None if timeout is None else time.monotonic() + timeout


def pause(until: Optional[float], interval: float, timeout_message: str) -> float:
    """The seconds to sleep before the next poll, never past `until`; WaitTimeout once it has passed.
    Shared by every polling loop of both clients."""
    if until is None:
        return interval
    left = until - time.monotonic()
    if left <= 0:
        raise WaitTimeout(timeout_message)
    return min(interval, left)


@dataclass
class EventFilter:
    """Which frames of a task's channel reach the caller: this task's messages, control messages
    only when asked, and nothing after the final one. Shared by the sync and async iterators."""

    task_id: str
    include_control: bool = False
    done: bool = False
    final: Optional[ProgressEvent] = None
    last_percent: float = field(default=-1.0)
    _last_status: Optional[Tuple[Any, ...]] = field(default=None, repr=False)

    def accept(self, ev: Optional[ProgressEvent]) -> bool:
        if ev is None or self.done:
            return False
        if ev.type in CONTROL_EVENTS:
            return self.include_control
        if ev.task_id is not None and ev.task_id != self.task_id:
            return False
        if ev.is_final:
            self.done, self.final = True, ev
        elif ev.percent is not None:
            self.last_percent = max(self.last_percent, ev.percent)
        return True

    def accept_status(self, st: TaskStatus) -> Optional[ProgressEvent]:
        """A polled task-status as an event, or None when it says nothing new (the polling fallback)."""
        ev = ProgressEvent.from_status(st)
        key = (ev.type, st.status, st.stage, st.overall_progress)
        if key == self._last_status or not self.accept(ev):
            return None
        self._last_status = key
        return ev


def raise_for_final(task_id: str, final: Optional[ProgressEvent]) -> None:
    """TaskFailed unless the final event says the task completed."""
    if final is None:
        raise TaskFailed(task_id, "unknown", "the progress channel ended before the task finished")
    if final.type == "task_failed":
        raise TaskFailed(task_id, "error", final.error or final.error_message)
    if final.type == "task_cancelled":
        raise TaskFailed(task_id, "cancelled")


def raise_for_status(st: TaskStatus) -> None:
    if st.status == "error":
        raise TaskFailed(st.task_id, "error", st.error)
    if st.status == "cancelled":
        raise TaskFailed(st.task_id, "cancelled")
