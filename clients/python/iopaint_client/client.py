"""The synchronous client (httpx.Client; progress over websockets' sync client)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, TypeVar, Union

import httpx

from . import _api
from .errors import ClientError, ServiceError, TransportError, WaitTimeout
from .models import (CancelResult, DetectResult, FontList, Health, InpaintResult, ModelInfo, ProgressEvent, RegionsStats,
                     ReplaceResult, ReplaceStats, ServiceInfo, ServiceRoot, TasksSummary, TaskStatus, TaskSubmitted)

ProgressCallback = Callable[[ProgressEvent], Any]


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else deadline - time.monotonic()


T = TypeVar("T")

class _Base:
    """What both clients keep: where the service is, and how to authenticate."""

    def __init__(self, base_url: Optional[str], api_key: Optional[str], timeout: float, auth: str,
                 headers: Optional[Dict[str, str]], ws_key_in_query: bool, transport: str = "multipart"):
        if transport not in _api.TRANSPORTS:
            raise ValueError(f"transport must be one of {_api.TRANSPORTS}")
        self.transport = transport  # multipart: image files as bytes; json: base64 in JSON bodies
        self.base_url = _api.normalize_base_url(base_url)
        self.api_key = _api.resolve_api_key(api_key)
        self.auth = auth
        self.timeout = timeout
        self.ws_key_in_query = ws_key_in_query
        self._headers = {**_api.default_headers(self.api_key, auth), **(headers or {})}
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))

    def ws_url(self, task_id: str) -> str:
        return _api.ws_progress_url(self.base_url, task_id, self.api_key if self.ws_key_in_query else None)

    def _ws_headers(self) -> Dict[str, str]:
        return _api.auth_headers(self.api_key, self.auth)

    @staticmethod
    def _ws_refused(exc: Exception) -> Optional[ServiceError]:
        """A handshake answered with an HTTP error (401/403: a wrong key) as a ServiceError."""
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if status is None:
            return None
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, f"http_{status}")
        body = getattr(response, "body", b"") or b""
        return ServiceError(status, code, f"the WebSocket handshake was refused: {body[:300].decode('utf-8', 'replace') or status}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


class Client(_Base):
    """Synchronous client of the text-removal service.

    >>> with Client("http://localhost:8081", api_key="...") as c:
    ...     c.health().healthy
    ...     png = c.inpaint_regions("in.png", [box(10, 10, 80, 20)]).image
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 300.0,
                 auth: str = "header", headers: Optional[Dict[str, str]] = None, ws_key_in_query: bool = False,
                 http_client: Optional[httpx.Client] = None, transport: str = "multipart", **httpx_kwargs: Any):
        super().__init__(base_url, api_key, timeout, auth, headers, ws_key_in_query, transport)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(base_url=self.base_url, headers=self._headers,
                                                 timeout=self._timeout, **httpx_kwargs)

    # plumbing
    def _send(self, call: "_api.Call[T]") -> T:
        try:
            response = self._http.request(call.method, self.base_url + call.path,
                                          headers=None if self._owns_http else self._headers, **call.request_kwargs(self.transport))
        except httpx.HTTPError as e:
            raise TransportError(f"{call.method} {call.path}: {type(e).__name__}: {e}") from e
        return call.parse(_api.check(response, call.ok_statuses))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # service information
    def root(self) -> ServiceRoot:
        return self._send(_api.root())

    def health(self) -> Health:
        """The health answer, also while starting or broken (503): check `.healthy`."""
        return self._send(_api.health())

    def wait_until_healthy(self, timeout: float = 120.0, interval: float = 1.0) -> Health:
        """Poll /health until it says healthy (unreachable counts as not yet); WaitTimeout otherwise."""
        deadline = _api.deadline(timeout)
        last: Union[Health, ClientError, None] = None
        while True:
            try:
                last = self.health()
                if last.healthy:
                    return last
            except (TransportError, ServiceError) as e:
                last = e
            time.sleep(_api.pause(deadline, interval,
                                  f"the service at {self.base_url} was not healthy after {timeout:g} s: {last}"))

    def model(self) -> ModelInfo:
        return self._send(_api.model())

    def info(self) -> ServiceInfo:
        return self._send(_api.info())

    # synchronous inpainting
    def inpaint(self, image: Any, mask: Any, **params: Any) -> InpaintResult:
        """Repaint the white pixels of `mask`. Params: output_format, quality, hd_strategy, sd_*, ..."""
        return self._send(_api.inpaint(image, mask, params))

    def inpaint_regions(self, image: Any, regions: Any = None, *, mask: Any = None, detect: Optional[bool] = None,
                        recognize: Optional[bool] = None, describe: Optional[bool] = None, remove_text: _api.Patterns = None,
                        keep_text: _api.Patterns = None, **params: Any) -> InpaintResult:
        """Remove the text in `regions` (box()/polygon()/dicts/Detections), or the text found
        (`detect=True`); `remove_text` / `keep_text` patterns (e.g. ["@email", "@phone"]) remove
        only the lines, or parts of lines, that match. Params: padding, mask_mode ("box"|"text"),
        output_format, quality, ..."""
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return self._send(_api.inpaint_regions(image, regions, params, mask=mask, detect=detect))

    def inpaint_regions_json(self, image: Any, regions: Any = None, *, mask: Any = None,
                             detect: Optional[bool] = None, recognize: Optional[bool] = None, describe: Optional[bool] = None,
                             remove_text: _api.Patterns = None, keep_text: _api.Patterns = None,
                             **params: Any) -> RegionsStats:
        """As inpaint_regions; answers the statistics (`processing_stats.text_lines` with patterns)."""
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return self._send(_api.inpaint_regions_json(image, regions, params, mask=mask, detect=detect))

    def detect_text(self, image: Any, regions: Any = None, *, recognize: Optional[bool] = None, describe: Optional[bool] = None,
                    **params: Any) -> DetectResult:
        """Find the text lines (polygons); `regions` restricts the search to them; `recognize`
        also reads each (Detection.text, .text_score); `describe` measures how each looks
        (Detection.style: colours, outline, shadow, font size, angle, vertical, bold)."""
        return self._send(_api.detect_text(image, regions, {**params, **_api.text_params(recognize, describe=describe)}))

    # rewriting text
    def replace_text(self, image: Any, lines: Any, **params: Any) -> ReplaceResult:
        """Remove each line's old text and write its new text in its place, the way the old text
        looked. `lines`: Line(region, text, style, align), dicts of the same fields, or (region,
        text) pairs. Params: padding, mask_mode, output_format, quality, verify. The result's
        `font_sizes` and `shrunk` are per line, in the lines' order."""
        return self._send(_api.replace_text(image, lines, params))

    def replace_text_json(self, image: Any, lines: Any, **params: Any) -> ReplaceStats:
        """As replace_text; answers what was written in each line (font, font_size, shrunk,
        wanted_size, style) and the removal's statistics."""
        return self._send(_api.replace_text_json(image, lines, params))

    def fonts(self) -> FontList:
        """The installed fonts a line's style.font may name (by family), besides "sans" and "serif"."""
        return self._send(_api.fonts())

    # asynchronous tasks
    def submit(self, image: Any, regions: Any = None, *, task_id: Optional[str] = None,
               callback_url: Optional[str] = None, mask: Any = None, detect: Optional[bool] = None,
               enable_progress: Optional[bool] = None, progress_interval: Optional[float] = None,
               recognize: Optional[bool] = None, describe: Optional[bool] = None, remove_text: _api.Patterns = None, keep_text: _api.Patterns = None,
               **params: Any) -> TaskSubmitted:
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return self._send(_api.submit(image, regions, params, mask=mask, detect=detect, task_id=task_id,
                                      callback_url=callback_url, enable_progress=enable_progress,
                                      progress_interval=progress_interval))

    def submit_batch(self, items: Iterable[Any], *, task_id: Optional[str] = None, callback_url: Optional[str] = None,
                     enable_progress: Optional[bool] = None, progress_interval: Optional[float] = None,
                     **params: Any) -> TaskSubmitted:
        """Items: BatchItem, {"image", "regions", "mask", "detect", "name"} dicts, or (image, regions)."""
        return self._send(_api.submit_batch(items, params, task_id=task_id, callback_url=callback_url,
                                            enable_progress=enable_progress, progress_interval=progress_interval))

    def task_status(self, task_id: str) -> TaskStatus:
        return self._send(_api.task_status(task_id))

    def cancel(self, task_id: str) -> CancelResult:
        return self._send(_api.cancel(task_id))

    def task_result(self, task_id: str, index: Optional[int] = None) -> InpaintResult:
        """The finished image (a ZIP for a batch; `index` for one batch item)."""
        return self._send(_api.task_result(task_id, index))

    def tasks(self) -> TasksSummary:
        return self._send(_api.tasks())

    def wait(self, task_id: str, *, timeout: Optional[float] = None, poll_interval: float = 0.5,
             on_status: Optional[Callable[[TaskStatus], Any]] = None) -> TaskStatus:
        """Poll task-status until the task has finished (completed, error or cancelled); returns
        the final status without raising for error/cancelled. WaitTimeout after `timeout` s."""
        deadline = _api.deadline(timeout)
        while True:
            st = self.task_status(task_id)
            if on_status:
                on_status(st)
            if st.finished:
                return st
            time.sleep(_api.pause(deadline, poll_interval, f"task {task_id} still {st.status} after {timeout:g} s"))

    def _poll_events(self, flt: "_api.EventFilter", deadline: Optional[float],
                     interval: float) -> Iterator[ProgressEvent]:
        while not flt.done:
            st = self.task_status(flt.task_id)
            ev = flt.accept_status(st)
            if ev is not None:
                yield ev
            if not flt.done:
                time.sleep(_api.pause(deadline, interval, f"task {flt.task_id} still {st.status} after the timeout"))

    def progress(self, task_id: str, *, timeout: Optional[float] = None, include_control: bool = False,
                 poll_fallback: bool = True, poll_interval: float = 0.5) -> Iterator[ProgressEvent]:
        """The task's events from WS /api/v1/ws/progress/{task_id}, ending after the final one
        (task_completed / task_failed / task_cancelled). If the WebSocket cannot be opened or drops
        before the end, polls task-status instead (poll_fallback)."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        flt = _api.EventFilter(task_id, include_control)
        deadline = _api.deadline(timeout)
        try:
            ws = connect(self.ws_url(task_id), additional_headers=self._ws_headers(), user_agent_header=_api.USER_AGENT,
                         open_timeout=min(10.0, self.timeout), max_size=4 * 1024 * 1024)
        except InvalidStatus as e:
            err = self._ws_refused(e)
            if err is not None and err.status in (401, 403):
                raise err from e
            ws = None
            cause: Exception = e
        except (OSError, WebSocketException, TimeoutError) as e:
            ws, cause = None, e
        if ws is not None:
            with ws:
                try:
                    while not flt.done:
                        left = _left(deadline)
                        if left is not None and left <= 0:
                            raise WaitTimeout(f"no final message for task {task_id} within the timeout")
                        try:
                            raw = ws.recv(timeout=left)
                        except TimeoutError:
                            raise WaitTimeout(f"no final message for task {task_id} within the timeout") from None
                        ev = _api.parse_event(raw)
                        if flt.accept(ev):
                            yield ev  # type: ignore[misc]
                    return
                except ConnectionClosed as e:
                    cause = e
        if not poll_fallback:
            raise TransportError(f"progress of task {task_id}: {type(cause).__name__}: {cause}") from cause
        yield from self._poll_events(flt, deadline, poll_interval)

    def remove(self, image: Any, regions: Any = None, *, mask: Any = None, detect: Optional[bool] = None,
               on_progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None,
               task_id: Optional[str] = None, **params: Any) -> InpaintResult:
        """Submit as a task, follow its progress (on_progress gets each event), return the image.
        Raises TaskFailed if it ends in error or is cancelled."""
        task_id = task_id or uuid.uuid4().hex
        sub = self.submit(image, regions, mask=mask, detect=detect, task_id=task_id, **params)
        final = None
        for ev in self.progress(sub.task_id, timeout=timeout):
            if on_progress:
                on_progress(ev)
            if ev.is_final:
                final = ev
        _api.raise_for_final(sub.task_id, final)
        return self.task_result(sub.task_id)
