"""The answers of the HTTP API (API.md): they document the answers in /openapi.json and check
them on the way out. Each is built in one place, its `.of(...)`, from what the engine, the
execution service or the task layer returns (dataclasses, never dicts), and the routes return it.
Answers may carry more fields than they document (diagnostics)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema
from pydantic_core import core_schema

from app import SERVICE_NAME, __version__
from app.api.style_schema import Style
from app.engine import render, stats, text_filter
from app.engine.fonts import Face, FontBook, font_book
from app.engine.models import ModelStatus
from app.engine.pipeline import Detector, InpaintOutput, Stage
from app.geometry import Size
from app.metrics import ModelTime
from app.execution.service import DetectedLine, DetectedText
from app.settings import Settings
from app.tasks import records
from app.tasks.manager import Activity, BackendState, TaskCounts
from app.wire import plain

_open = ConfigDict(extra="allow")  # answers may carry more fields than documented (diagnostics)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Dimensions(BaseModel):
    width: int
    height: int

    @classmethod
    def of(cls, size: Size) -> Dimensions:
        return cls(width=size.width, height=size.height)


class Verification(BaseModel):
    regions_checked: int = Field(description="repainted regions looked at for text left behind")
    regions_repaired: int = Field(description="regions where text was still there and was repainted again")
    residual_max: float = Field(description="largest share (0-1) of a region's text still detectable after repair")

    @classmethod
    def of(cls, v: stats.Verification) -> Verification:
        return cls(regions_checked=v.regions_checked, regions_repaired=v.regions_repaired,
                   residual_max=v.residual_max)


def _documented(**fields: dict[str, Any]) -> Any:
    """Fields an answer carries only at times (what a line says: only when asked, as it may be
    private): documented in the schema, absent from the answer rather than null."""
    def add(schema: dict[str, Any]) -> None:
        schema.setdefault("properties", {}).update(fields)
    return add


_TEXT = {"type": "string", "description": "what the line says (only with recognize: true)"}
_TEXT_SCORE = {"type": "number", "description": "the recognizer's confidence, 0-1"}


class TextLine(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=_documented(text=_TEXT))
    bounding_box: dict[str, float] = Field(description="{x, y, width, height}")
    status: Literal["removed", "partly_removed", "kept"]
    matched: list[str] = Field(description="the patterns that decided it (remove_text, or keep_text when kept)")
    text_score: float | None = Field(None, description="the recognizer's confidence, 0-1 (null where not read)")
    style: Style | None = Field(None, description="how the line looks (only with describe: true)")

    @classmethod
    def of(cls, line: text_filter.LineReport) -> TextLine:
        said = {"text": line.text} if line.text is not None else {}  # only when asked: it may be private
        return cls(bounding_box=plain(line.bounding_box), status=line.status, matched=line.matched,
                   text_score=line.text_score, style=Style.of(line.style) if line.style is not None else None,
                   **said)


class TextLines(BaseModel):
    model_config = _open
    found: int = Field(description="lines looked at (detected, or the caller's regions)")
    read: int = Field(description="lines read with confidence (text_score >= 0.5)")
    removed: int
    partly_removed: int = Field(description="lines where only the part that matched was removed")
    kept: int
    unmatched_patterns: list[str] = Field(description="patterns that matched no line (and so removed or kept nothing)")
    lines: list[TextLine]

    @classmethod
    def of(cls, t: text_filter.TextReport) -> TextLines:
        return cls(found=t.found, read=t.read, removed=t.removed, partly_removed=t.partly_removed, kept=t.kept,
                   unmatched_patterns=t.unmatched_patterns, lines=[TextLine.of(line) for line in t.lines])


class ProcessingStats(BaseModel):
    model_config = _open
    regions_processed: int
    total_area: int
    processing_time: float
    image_dimensions: Dimensions
    mask_area: int | None = None
    crops: int | None = None
    stage_times: dict[str, float] | None = None
    text_lines_detected: int | None = None
    regions_outside_image: int = Field(0, description="regions wholly outside the image: nothing was removed there")
    mask_scaled_from: Dimensions | None = Field(
        None, description="an uploaded mask's own size, when it was not the image's and was scaled to it")
    verification: Verification | None = None
    jpeg_blocks_reencoded: float | None = Field(
        None, description="JPEG in, JPEG out (`original`): share of the 8x8 blocks encoded again (1 = all)")
    jpeg_blocks: dict[str, Any] | None = Field(
        None, description="kept_untouched_blocks, blocks_total, blocks_reencoded, and the reason when none were kept")
    text_lines: TextLines | None = Field(None, description="with remove_text, keep_text or recognize: each line's outcome")

    @classmethod
    def of(cls, out: InpaintOutput) -> ProcessingStats:
        s = out.stats()
        return cls(
            regions_processed=s.regions_processed, total_area=s.total_area, processing_time=s.processing_time,
            image_dimensions=Dimensions.of(s.image_dimensions), mask_area=s.mask_area, crops=s.crops,
            stage_times=s.stage_times, text_lines_detected=s.text_lines_detected,
            regions_outside_image=s.regions_outside_image,
            mask_scaled_from=Dimensions.of(s.mask_scaled_from) if s.mask_scaled_from else None,
            verification=Verification.of(s.verification) if s.verification else None,
            jpeg_blocks_reencoded=s.jpeg_blocks_reencoded,
            jpeg_blocks=plain(s.jpeg_blocks) if s.jpeg_blocks else None,
            text_lines=TextLines.of(s.text_lines) if s.text_lines else None)


class RegionsJsonResult(BaseModel):
    model_config = _open
    success: bool
    message: str
    processing_stats: ProcessingStats
    timestamp: str

    @classmethod
    def of(cls, out: InpaintOutput) -> RegionsJsonResult:
        found = f", {out.detected} text line(s) detected" if out.detected is not None else ""
        if out.regions_outside:
            found += (f", {out.regions_outside} region(s) wholly outside the {out.width}x{out.height} image "
                      "(nothing removed there)")
        if out.text_lines is not None:
            t = out.text_lines
            found += f", {t.removed + t.partly_removed} removed (of them {t.partly_removed} in part), {t.kept} kept"
            if t.unmatched_patterns:
                found += "; matched no line: " + ", ".join(t.unmatched_patterns)
        return cls(success=True,
                   message=f"processed {out.regions_count} region(s) in {sum(out.timings.values()):.3f} s{found}",
                   processing_stats=ProcessingStats.of(out), timestamp=_now())


class WrittenLine(BaseModel):
    """What replace-text wrote in one line."""

    model_config = _open
    font: str | None = Field(description="the face the text was written in (null: no text, nothing written)")
    font_size: float | None = Field(description="px, the em size written")
    shrunk: bool = Field(description="true where the text was made smaller than wanted_size to fit its box")
    wanted_size: float | None = Field(description="px, the em size measured on the old text (or given)")
    style: Style = Field(description="the look written: the measured style, with the given fields in its place")
    truncated: bool = Field(description="true where the text fits its box at no size down to 4 px: written at "
                            "4 px and cut where the box grown by the padding ends")

    @classmethod
    def of(cls, w: render.Written) -> WrittenLine:
        return cls(font=w.font, font_size=w.font_size, shrunk=w.shrunk, wanted_size=w.wanted_size,
                   style=Style.of(w.style), truncated=w.truncated)


class ReplaceJsonResult(BaseModel):
    model_config = _open
    success: bool
    message: str
    lines: list[WrittenLine] = Field(description="per line, in the request's order: what was written")
    processing_stats: ProcessingStats = Field(description="the removal's statistics, as inpaint-regions-json's")
    timestamp: str

    @classmethod
    def of(cls, out: InpaintOutput) -> ReplaceJsonResult:
        written = out.written or []
        shrunk, cut = sum(1 for w in written if w.shrunk), sum(1 for w in written if w.truncated)
        message = (f"rewrote {sum(1 for w in written if w.font is not None)} line(s) of {len(written)} in "
                   f"{sum(out.timings.values()):.3f} s" + (f", {shrunk} made smaller to fit" if shrunk else "")
                   + (f", {cut} too long for their box even at 4 px (cut)" if cut else ""))
        return cls(success=True, message=message, lines=[WrittenLine.of(w) for w in written],
                   processing_stats=ProcessingStats.of(out), timestamp=_now())


class Font(BaseModel):
    model_config = _open
    name: str = Field(description="the face, e.g. `Noto Sans CJK SC Bold`")
    family: str = Field(description="what a line's style.font names")
    bold: bool
    kind: Literal["sans", "serif", "sans-cjk", "serif-cjk", "own"] = Field(
        description="sans or serif (and their CJK fonts), or `own`: from FONTS_DIR")

    @classmethod
    def of(cls, face: Face) -> Font:
        return cls.model_validate({"name": face.name, "family": face.family, "bold": face.bold, "kind": face.kind})


class FontList(BaseModel):
    model_config = _open
    fonts: list[Font]

    @classmethod
    def of(cls, book: FontBook) -> FontList:
        return cls(fonts=[Font.of(f) for f in book.faces])


class ServiceRoot(BaseModel):
    model_config = _open
    name: str
    version: str
    status: Literal["running"]
    docs: str
    health: str
    model: str
    device: str

    @classmethod
    def of(cls, st: ModelStatus) -> ServiceRoot:
        return cls(name=SERVICE_NAME, version=__version__, status="running", docs="/docs", health="/api/v1/health",
                   model=st.active or st.requested, device=st.device)


class Health(BaseModel):
    """200 with status "healthy" once requests can be served; 503 with "starting" or "unhealthy"."""

    model_config = _open
    status: Literal["healthy", "starting", "unhealthy"]
    message: str
    timestamp: str
    version: str
    model: str | None = Field(None, description="the model really serving (null while loading)")
    requested_model: str | None = None
    fallback: bool | None = None
    fallback_reason: str | None = None
    device: str | None = None
    text_detector: str | None = None
    text_recognizer: str | None = None
    active_tasks: int | None = Field(None, description="tasks pending or running in the whole service "
                                                       "(every replica's, with TASK_BACKEND=redis)")
    active_tasks_here: int | None = Field(None, description="of those, the ones this replica runs now")
    inference: dict[str, Any] | None = Field(
        None, description="threads, workers, precision, warm-up, and the model's own time per image vs the rest")

    @classmethod
    def of(cls, st: ModelStatus, *, elsewhere: str | None, detector: Detector | None, queue: dict[str, int],
           memory_mb: float | None, activity: Activity, backend: BackendState, workers: int,
           model_time: ModelTime) -> Health:
        """Readiness: healthy once requests can be served here (or by the workers, `elsewhere`: their
        description on an API-only replica), starting while the model loads, else unhealthy."""
        if elsewhere is not None:  # no model here: the workers run the work
            status, message = "healthy", elsewhere
        elif st.state == "ready":
            status = "healthy"
            if st.fallback:
                message = f"serving fallback model {st.active!r} because {st.requested!r} could not load: {st.reason}"
            else:
                message = f"model {st.active!r} loaded on {st.device}"
        elif st.state == "loading":
            status, message = "starting", f"loading model {st.requested!r}"
        else:
            status, message = "unhealthy", f"model {st.requested!r} failed to load: {st.reason}"
        return cls(
            status=status, message=message, timestamp=_now(), version=__version__, model=st.active,
            requested_model=st.requested, fallback=st.fallback, fallback_reason=st.reason if st.fallback else None,
            device=st.device, model_state=st.state, text_detector=getattr(detector, "name", None),
            text_recognizer=getattr(getattr(detector, "reader", None), "name", None), queue=queue,
            memory_mb=memory_mb, active_tasks=activity.active_tasks, active_tasks_here=activity.active_tasks_here,
            websocket_connections=activity.websocket_connections, task_backend=_task_backend(backend),
            inference={**(plain(st.details.inference) if st.details else {}), "workers": workers,
                       "model_time": plain(model_time)})

    def body(self) -> dict[str, Any]:
        """The answer's JSON, in the order it has always had: the documented fields and ours interleaved
        (the route answers it itself, 200 or 503)."""
        body = self.model_dump(mode="json")
        return {k: body[k] for k in (*_HEALTH_ORDER, *body) if k in body}


_HEALTH_ORDER = ("status", "message", "timestamp", "version", "model", "requested_model", "fallback",
                 "fallback_reason", "device", "model_state", "text_detector", "text_recognizer", "queue", "memory_mb",
                 "active_tasks", "active_tasks_here", "websocket_connections", "task_backend", "inference")


def _task_backend(b: BackendState) -> dict[str, Any]:
    """Health's `task_backend`: the store and whether it answers (its last error once that has
    changed), then with a shared store this replica, its dispatcher and the tasks it runs."""
    r = b.reach
    body: dict[str, Any] = {"backend": r.backend, "state": r.state, **({"error": r.error} if r.changed else {})}
    shared = (("replica", b.replica), ("runs_work", b.runs_work), ("taken_over", b.taken_over), ("queue", b.queue),
              ("running_here", b.running_here))
    return {**body, **{k: v for k, v in shared if v is not None}}


class ModelInfo(BaseModel):
    model_config = _open
    name: str
    device: str
    status: str = Field(description="loaded, loading or failed")
    parameters: dict[str, Any]

    @classmethod
    def of(cls, st: ModelStatus, settings: Settings) -> ModelInfo:
        return cls(name=st.active or st.requested, device=st.device, status={"ready": "loaded"}.get(st.state, st.state),
                   parameters={"requested": st.requested, "fallback": st.fallback, "reason": st.reason,
                               "device_note": st.device_note, "load_seconds": st.load_seconds,
                               "low_mem": settings.low_mem, "cpu_offload": settings.cpu_offload,
                               **(plain(st.details) if st.details else {})})


class ServiceLimits(BaseModel):
    model_config = _open
    max_image_size: int
    max_file_size: int
    request_timeout: float

    @classmethod
    def of(cls, cfg: Settings) -> ServiceLimits:
        return cls(max_image_size=cfg.max_image_size, max_file_size=cfg.max_file_size,
                   request_timeout=cfg.request_timeout, max_image_pixels=cfg.max_image_pixels,
                   max_queue_size=cfg.max_queue_size, max_regions=cfg.max_regions,
                   output_formats=["png", "jpeg", "webp", "original"], mask_modes=["box", "text"])


class ServiceInfo(BaseModel):
    model_config = _open
    name: str
    version: str
    model: ModelInfo
    capabilities: list[str]
    limits: ServiceLimits

    @classmethod
    def of(cls, st: ModelStatus, settings: Settings, detector: Detector | None) -> ServiceInfo:
        caps = ["inpaint", "inpaint-regions", "inpaint-regions-json", "polygon-regions", "multipart-upload",
                "text-aware-mask", "output-formats"]
        caps += ["async-tasks", "batch", "websocket-progress", "callbacks"]
        if font_book(settings.fonts_dir).faces:
            caps.append("replace-text")
        if detector is not None:
            caps.append("text-detection")
            if getattr(detector, "reader", None) is not None:
                caps.append("text-recognition")
        return cls(name=SERVICE_NAME, version=__version__, model=ModelInfo.of(st, settings), capabilities=caps,
                   limits=ServiceLimits.of(settings))


class DetectedRegion(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=_documented(text=_TEXT, text_score=_TEXT_SCORE))
    points: list[tuple[float, float]]
    bounding_box: dict[str, float] = Field(description="{x, y, width, height}")
    score: float
    style: Style | None = Field(None, description="how the line looks (only with describe: true)")

    @classmethod
    def of(cls, line: DetectedLine) -> DetectedRegion:
        said = {k: v for k, v in (("text", line.text), ("text_score", line.text_score)) if v is not None}
        return cls(points=line.points, bounding_box=plain(line.bounding_box), score=line.score,
                   style=Style.of(line.style) if line.style is not None else None, **said)


class DetectResult(BaseModel):
    model_config = _open
    regions: list[DetectedRegion]
    image_dimensions: Dimensions
    regions_outside_image: int = Field(0, description="search regions wholly outside the image (nothing searched there)")
    processing_time: float

    @classmethod
    def of(cls, d: DetectedText) -> DetectResult:
        names = {"detector": d.detector, **({"recognizer": d.recognizer} if d.recognizer is not None else {})}
        return cls(regions=[DetectedRegion.of(line) for line in d.regions],
                   image_dimensions=Dimensions.of(d.image_dimensions), regions_outside_image=d.regions_outside_image,
                   processing_time=d.processing_time, **names)


# one of the task layer's statuses (records.TaskState), checked and documented as a Literal of their
# values: inline, with no schema of its own (an Enum annotation would add one)
TaskState = Annotated[str, GetPydanticSchema(
    lambda _t, _h: core_schema.literal_schema([s.value for s in records.TaskState]))]
_STAGES = list(Stage)


class SubmitAnswer(BaseModel):
    task_id: str
    status: TaskState
    message: str
    estimated_time: float | None
    websocket_url: str | None = Field(description="ws://<host>/api/v1/ws/progress/<task_id>; null without progress")
    status_url: str
    result_url: str

    @classmethod
    def of(cls, task: records.Task, what: str, websocket_url: str | None) -> SubmitAnswer:
        return cls(task_id=task.task_id, status=task.status, message=f"{what} accepted; {task.message}",
                   estimated_time=task.estimate_seconds, websocket_url=websocket_url,
                   status_url=f"/api/v1/task-status/{task.task_id}", result_url=f"/api/v1/task-result/{task.task_id}")


class BatchItemStatus(BaseModel):
    index: int
    name: str | None
    status: TaskState
    error: str | None
    result_path: str | None

    @classmethod
    def of(cls, item: records.ItemStatus) -> BatchItemStatus:
        return cls(index=item.index, name=item.name, status=item.status, error=item.error,
                   result_path=item.result_path)


class TaskStatus(BaseModel):
    model_config = _open
    task_id: str
    status: TaskState
    stage: str | None = Field(description=f"{', '.join(_STAGES[:-1])} or {_STAGES[-1]}")
    overall_progress: float = Field(ge=0, le=100)
    stage_progress: float = Field(ge=0, le=100)
    current_region: int
    total_regions: int
    message: str
    elapsed_time: float
    estimated_remaining: float | None
    error: str | None
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    items: list[BatchItemStatus] | None = Field(None, description="a batch's items")

    @classmethod
    def of(cls, task: records.Task) -> TaskStatus:
        """GET /task-status: the fields API.md lists, then a few of ours (the statistics once it has
        completed, as the task keeps them, and their verification: API.md)."""
        s = task.snapshot()
        ours: dict[str, Any] = {"result_path": s.result_path, "kind": s.kind}
        if s.stats is not None:
            ours["processing_stats"] = plain(s.stats)
            if not isinstance(s.stats, records.DetectStats) and s.stats.verification is not None:
                ours["verification"] = plain(s.stats.verification)
        return cls(
            task_id=s.task_id, status=s.status, stage=s.stage, overall_progress=s.overall_progress,
            stage_progress=s.stage_progress, current_region=s.current_region, total_regions=s.total_regions,
            message=s.message, elapsed_time=s.elapsed_time, estimated_remaining=s.estimated_remaining,
            error=s.error, created_at=s.created_at, started_at=s.started_at, completed_at=s.completed_at,
            items=[BatchItemStatus.of(i) for i in s.items] if s.items is not None else None, **ours)


class CancelAnswer(BaseModel):
    task_id: str
    status: Literal[records.TaskState.CANCELLED]
    message: str

    @classmethod
    def of(cls, task: records.Task) -> CancelAnswer:
        """A task cancelled, or told to stop at its next step (it runs)."""
        done = task.status == records.TaskState.CANCELLED
        return cls(task_id=task.task_id, status=records.TaskState.CANCELLED,
                   message="cancelled" if done else "cancelling: stops at its next step")


class TasksSummary(BaseModel):
    model_config = _open
    total_tasks: int
    active_tasks: int = Field(description="pending or running, in the whole service (every replica's)")
    active_tasks_here: int | None = Field(None, description="of those, the ones this replica runs now")
    completed_tasks: int
    error_tasks: int
    active_task_ids: list[str]

    @classmethod
    def of(cls, c: TaskCounts, queue: dict[str, int]) -> TasksSummary:
        """The counts, then ours: the rest of the store's (the memory store's own among them), this
        replica's connections, and the queue of this process."""
        ours = {k: v for k, v in (("cancelled_tasks", c.cancelled_tasks), ("pending_tasks", c.pending_tasks),
                                  ("stored_result_bytes", c.stored_result_bytes), ("evicted_tasks", c.evicted_tasks))
                if v is not None}
        return cls(total_tasks=c.total_tasks, active_tasks=c.active_tasks, active_tasks_here=c.active_tasks_here,
                   completed_tasks=c.completed_tasks, error_tasks=c.error_tasks, active_task_ids=c.active_task_ids,
                   **ours, websocket_connections=c.websocket_connections, queue=queue)


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: field names and list indexes")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: existing clients read `detail`; `error` is a stable machine code."""

    detail: str = Field(description="human-readable message")
    error: str = Field(description="stable machine-readable code")
    errors: list[FieldError] | None = Field(None, description="each invalid field (422 only)")


_ERRORS: dict[int, str] = {
    400: "undecodable image or base64",
    401: "a valid API key is required (with IOPAINT_API_KEY set)",
    404: "no such task (or item)",
    409: "conflict: the task id is in use, or the task is not finished / already ended",
    413: "the body, an upload or the image is too large",
    415: "the body is neither application/json nor multipart/form-data",
    422: "invalid fields; `errors` lists them",
    500: "the model failed (details in the service log, never in the answer)",
    503: "the queue is full or the model is not ready: retry after Retry-After seconds",
    504: "processing took longer than REQUEST_TIMEOUT",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the real body (ErrorBody)."""
    return {code: {"model": ErrorBody, "description": _ERRORS[code],
                   **({"headers": _RETRY_AFTER} if code == 503 else {})} for code in codes}


BODY_ERRORS = (413, 415, 422)  # any route that reads a body
WORK_ERRORS = (400, 500, 503, 504)  # any route that runs the model
ERROR_RESPONSES = error_responses(*BODY_ERRORS, *WORK_ERRORS)
