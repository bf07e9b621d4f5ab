"""The asynchronous client (httpx.AsyncClient; progress over websockets' asyncio client)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterable, Optional, TypeVar, Union

import httpx

from . import _api
from .client import _Base, _left
from .errors import ClientError, ServiceError, TransportError, WaitTimeout
from .models import (CancelResult, DetectResult, FontList, Health, InpaintResult, ModelInfo, ProgressEvent, RegionsStats,
                     ReplaceResult, ReplaceStats, ServiceInfo, ServiceRoot, TasksSummary, TaskStatus, TaskSubmitted)

AsyncProgressCallback = Callable[[ProgressEvent], Union[Any, Awaitable[Any]]]


T = TypeVar("T")

class AsyncClient(_Base):
    """Asynchronous client of the text-removal service; same methods as `Client`, awaited.

    >>> async with AsyncClient("http://localhost:8081") as c:
    ...     sub = await c.submit("in.png", [box(10, 10, 80, 20)])
    ...     async for ev in c.progress(sub.task_id):
    ...         print(ev.type, ev.percent)
    ...     png = (await c.task_result(sub.task_id)).image
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 300.0,
                 auth: str = "header", headers: Optional[Dict[str, str]] = None, ws_key_in_query: bool = False,
                 http_client: Optional[httpx.AsyncClient] = None, transport: str = "multipart", **httpx_kwargs: Any):
        super().__init__(base_url, api_key, timeout, auth, headers, ws_key_in_query, transport)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(base_url=self.base_url, headers=self._headers,
                                                      timeout=self._timeout, **httpx_kwargs)

    # plumbing
    async def _send(self, call: "_api.Call[T]") -> T:
        try:
            response = await self._http.request(call.method, self.base_url + call.path,
                                                headers=None if self._owns_http else self._headers,
                                                **call.request_kwargs(self.transport))
        except httpx.HTTPError as e:
            raise TransportError(f"{call.method} {call.path}: {type(e).__name__}: {e}") from e
        return call.parse(_api.check(response, call.ok_statuses))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # service information
    async def root(self) -> ServiceRoot:
        return await self._send(_api.root())

    async def health(self) -> Health:
        """The health answer, also while starting or broken (503): check `.healthy`."""
        return await self._send(_api.health())

    async def wait_until_healthy(self, timeout: float = 120.0, interval: float = 1.0) -> Health:
        deadline = _api.deadline(timeout)
        last: Union[Health, ClientError, None] = None
        while True:
            try:
                last = await self.health()
                if last.healthy:
                    return last
            except (TransportError, ServiceError) as e:
                last = e
            await asyncio.sleep(_api.pause(deadline, interval,
                                           f"the service at {self.base_url} was not healthy after {timeout:g} s: {last}"))

    async def model(self) -> ModelInfo:
        return await self._send(_api.model())

    async def info(self) -> ServiceInfo:
        return await self._send(_api.info())

    # synchronous inpainting
    async def inpaint(self, image: Any, mask: Any, **params: Any) -> InpaintResult:
        return await self._send(_api.inpaint(image, mask, params))

    async def inpaint_regions(self, image: Any, regions: Any = None, *, mask: Any = None,
                              detect: Optional[bool] = None, recognize: Optional[bool] = None, describe: Optional[bool] = None,
                              remove_text: _api.Patterns = None, keep_text: _api.Patterns = None,
                              **params: Any) -> InpaintResult:
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return await self._send(_api.inpaint_regions(image, regions, params, mask=mask, detect=detect))

    async def inpaint_regions_json(self, image: Any, regions: Any = None, *, mask: Any = None,
                                   detect: Optional[bool] = None, recognize: Optional[bool] = None, describe: Optional[bool] = None,
                                   remove_text: _api.Patterns = None, keep_text: _api.Patterns = None,
                                   **params: Any) -> RegionsStats:
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return await self._send(_api.inpaint_regions_json(image, regions, params, mask=mask, detect=detect))

    async def detect_text(self, image: Any, regions: Any = None, *, recognize: Optional[bool] = None, describe: Optional[bool] = None,
                          **params: Any) -> DetectResult:
        return await self._send(_api.detect_text(image, regions, {**params, **_api.text_params(recognize, describe=describe)}))

    # rewriting text
    async def replace_text(self, image: Any, lines: Any, **params: Any) -> ReplaceResult:
        """Remove each line's old text and write its new text in its place, the way the old text
        looked. `lines`: Line(region, text, style, align), dicts of the same fields, or (region,
        text) pairs. Params: padding, mask_mode, output_format, quality, verify. The result's
        `font_sizes` and `shrunk` are per line, in the lines' order."""
        return await self._send(_api.replace_text(image, lines, params))

    async def replace_text_json(self, image: Any, lines: Any, **params: Any) -> ReplaceStats:
        """As replace_text; answers what was written in each line (font, font_size, shrunk,
        wanted_size, style) and the removal's statistics."""
        return await self._send(_api.replace_text_json(image, lines, params))

    async def fonts(self) -> FontList:
        """The installed fonts a line's style.font may name (by family), besides "sans" and "serif"."""
        return await self._send(_api.fonts())

    # asynchronous tasks
    async def submit(self, image: Any, regions: Any = None, *, task_id: Optional[str] = None,
                     callback_url: Optional[str] = None, mask: Any = None, detect: Optional[bool] = None,
                     enable_progress: Optional[bool] = None, progress_interval: Optional[float] = None,
                     recognize: Optional[bool] = None, describe: Optional[bool] = None, remove_text: _api.Patterns = None,
                     keep_text: _api.Patterns = None, **params: Any) -> TaskSubmitted:
        params = {**params, **_api.text_params(recognize, remove_text, keep_text, describe)}
        return await self._send(_api.submit(image, regions, params, mask=mask, detect=detect, task_id=task_id,
                                            callback_url=callback_url, enable_progress=enable_progress,
                                            progress_interval=progress_interval))

    async def submit_batch(self, items: Iterable[Any], *, task_id: Optional[str] = None,
                           callback_url: Optional[str] = None, enable_progress: Optional[bool] = None,
                           progress_interval: Optional[float] = None, **params: Any) -> TaskSubmitted:
        return await self._send(_api.submit_batch(items, params, task_id=task_id, callback_url=callback_url,
                                                  enable_progress=enable_progress,
                                                  progress_interval=progress_interval))

    async def task_status(self, task_id: str) -> TaskStatus:
        return await self._send(_api.task_status(task_id))

    async def cancel(self, task_id: str) -> CancelResult:
        return await self._send(_api.cancel(task_id))

    async def task_result(self, task_id: str, index: Optional[int] = None) -> InpaintResult:
        return await self._send(_api.task_result(task_id, index))

    async def tasks(self) -> TasksSummary:
        return await self._send(_api.tasks())

    async def wait(self, task_id: str, *, timeout: Optional[float] = None, poll_interval: float = 0.5,
                   on_status: Optional[Callable[[TaskStatus], Any]] = None) -> TaskStatus:
        """Poll task-status until the task has finished; the final status (not raised on error)."""
        deadline = _api.deadline(timeout)
        while True:
            st = await self.task_status(task_id)
            if on_status:
                r = on_status(st)
                if asyncio.iscoroutine(r):
                    await r
            if st.finished:
                return st
            await asyncio.sleep(_api.pause(deadline, poll_interval, f"task {task_id} still {st.status} after {timeout:g} s"))

    async def _poll_events(self, flt: "_api.EventFilter", deadline: Optional[float],
                           interval: float) -> AsyncIterator[ProgressEvent]:
        while not flt.done:
            st = await self.task_status(flt.task_id)
            ev = flt.accept_status(st)
            if ev is not None:
                yield ev
            if not flt.done:
                await asyncio.sleep(_api.pause(deadline, interval,
                                               f"task {flt.task_id} still {st.status} after the timeout"))

    async def progress(self, task_id: str, *, timeout: Optional[float] = None, include_control: bool = False,
                       poll_fallback: bool = True, poll_interval: float = 0.5) -> AsyncIterator[ProgressEvent]:
        """Async iterator of the task's ProgressEvents over WS /api/v1/ws/progress/{task_id},
        ending after the final one (task_completed / task_failed / task_cancelled). Falls back to
        polling task-status if the WebSocket cannot be opened or drops early (poll_fallback)."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        flt = _api.EventFilter(task_id, include_control)
        deadline = _api.deadline(timeout)
        cause: Optional[Exception] = None
        ws = None
        try:
            ws = await connect(self.ws_url(task_id), additional_headers=self._ws_headers(),
                               user_agent_header=_api.USER_AGENT, open_timeout=min(10.0, self.timeout),
                               max_size=4 * 1024 * 1024)
        except InvalidStatus as e:
            err = self._ws_refused(e)
            if err is not None and err.status in (401, 403):
                raise err from e
            cause = e
        except (OSError, WebSocketException, asyncio.TimeoutError) as e:
            cause = e
        if ws is not None:
            try:
                while not flt.done:
                    left = _left(deadline)
                    if left is not None and left <= 0:
                        raise WaitTimeout(f"no final message for task {task_id} within the timeout")
                    try:
                        raw = await asyncio.wait_for(ws.recv(), left)
                    except asyncio.TimeoutError:
                        raise WaitTimeout(f"no final message for task {task_id} within the timeout") from None
                    ev = _api.parse_event(raw)
                    if flt.accept(ev):
                        yield ev  # type: ignore[misc]
                return
            except ConnectionClosed as e:
                cause = e
            finally:
                await ws.close()
        if not poll_fallback:
            raise TransportError(f"progress of task {task_id}: {type(cause).__name__}: {cause}") from cause
        async for ev in self._poll_events(flt, deadline, poll_interval):
            yield ev

    async def remove(self, image: Any, regions: Any = None, *, mask: Any = None, detect: Optional[bool] = None,
                     on_progress: Optional[AsyncProgressCallback] = None, timeout: Optional[float] = None,
                     task_id: Optional[str] = None, **params: Any) -> InpaintResult:
        """Submit as a task, follow its progress (on_progress gets each event), return the image.
        Raises TaskFailed if it ends in error or is cancelled."""
        task_id = task_id or uuid.uuid4().hex
        sub = await self.submit(image, regions, mask=mask, detect=detect, task_id=task_id, **params)
        final = None
        async for ev in self.progress(sub.task_id, timeout=timeout):
            if on_progress:
                r = on_progress(ev)
                if asyncio.iscoroutine(r):
                    await r
            if ev.is_final:
                final = ev
        _api.raise_for_final(sub.task_id, final)
        return await self.task_result(sub.task_id)
