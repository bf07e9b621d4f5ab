"""Typed results of every route (API.md), and helpers that build regions.

Models accept fields they do not know (`extra="allow"`): the service may add diagnostics, and a
client that rejected them would break on every server upgrade. Unknown fields stay readable as
attributes and in `model_extra`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field

_open = ConfigDict(extra="allow", populate_by_name=True)

FINAL_EVENT_TYPES = frozenset({"task_completed", "task_failed", "task_cancelled"})
FINISHED_STATUSES = frozenset({"completed", "error", "cancelled"})


class _Model(BaseModel):
    model_config = _open


# --- regions -------------------------------------------------------------------------------

Point = Tuple[float, float]


def box(x: float, y: float, width: float, height: float) -> Dict[str, float]:
    """A rectangular region `{x, y, width, height}` (pixels, top-left origin)."""
    if width <= 0 or height <= 0:
        raise ValueError("a box region needs a positive width and height")
    return {"x": x, "y": y, "width": width, "height": height}


def polygon(points: Sequence[Sequence[float]]) -> Dict[str, List[List[float]]]:
    """A polygon region `{points: [[x, y], ...]}` (3 or more points), filled as a polygon."""
    pts = [[float(p[0]), float(p[1])] for p in points]
    if len(pts) < 3:
        raise ValueError("a polygon region needs at least 3 points")
    return {"points": pts}


class BoundingBox(_Model):
    x: float
    y: float
    width: float
    height: float

    def as_region(self) -> Dict[str, float]:
        return box(self.x, self.y, self.width, self.height)


class Dimensions(_Model):
    width: int
    height: int


# --- service information -------------------------------------------------------------------


class Health(_Model):
    """GET /api/v1/health. Returned for 200 *and* 503 (a service that is starting or broken);
    check `healthy`. Diagnostics (model, device, fallback, queue, ...) are extra fields."""

    status: str
    message: str = ""
    timestamp: Optional[str] = None
    version: Optional[str] = None
    model: Optional[str] = None
    requested_model: Optional[str] = None
    fallback: Optional[bool] = None
    fallback_reason: Optional[str] = None
    device: Optional[str] = None
    http_status: int = Field(200, exclude=True)

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


class ModelInfo(_Model):
    """GET /api/v1/model."""

    name: Optional[str] = None
    device: Optional[str] = None
    status: Optional[str] = None
    parameters: Dict[str, Any] = Field(default_factory=dict)


class Limits(_Model):
    max_image_size: Optional[int] = None
    max_file_size: Optional[int] = None
    request_timeout: Optional[float] = None


class ServiceInfo(_Model):
    """GET /api/v1/info."""

    name: str
    version: Optional[str] = None
    model: Optional[ModelInfo] = None
    capabilities: List[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities


class ServiceRoot(_Model):
    """GET /."""

    name: str
    version: Optional[str] = None
    status: Optional[str] = None
    docs: Optional[str] = None
    health: Optional[str] = None
    model: Optional[str] = None
    device: Optional[str] = None


# --- synchronous inpainting ----------------------------------------------------------------


def _num(headers: Mapping[str, str], name: str, kind: Callable[[str], Any] = float) -> Any:
    v = headers.get(name)
    if v is None or v == "":
        return None
    try:
        return kind(v)
    except ValueError:
        return None


R = TypeVar("R", bound="InpaintResult")


def _flag(v: str) -> bool:
    return v.strip().lower() == "true"


def _size(v: str) -> Optional[float]:
    try:
        return float(v)
    except ValueError:  # "-": a line with no text, nothing written
        return None


def _per_line(headers: Mapping[str, str], name: str, kind: Callable[[str], Any]) -> List[Any]:
    """A comma-separated per-line header (replace-text) as a list; [] when absent."""
    v = headers.get(name)
    if v is None or v.strip() == "":
        return []
    return [kind(part.strip()) for part in v.split(",")]


@dataclass
class InpaintResult:
    """An image answer (inpaint, inpaint-regions, task-result): the bytes plus what the headers say."""

    image: bytes
    media_type: str = "image/png"
    processing_time: Optional[float] = None  # X-Processing-Time, seconds
    regions_count: Optional[int] = None  # X-Regions-Count
    total_area: Optional[int] = None  # X-Total-Area, pixels
    mask_area: Optional[int] = None  # X-Mask-Area, pixels
    text_lines_detected: Optional[int] = None  # X-Text-Lines-Detected (detect: true)
    # with remove_text / keep_text / recognize: X-Text-Lines-Read, -Removed, -Partly-Removed, -Kept
    text_lines_read: Optional[int] = None
    text_lines_removed: Optional[int] = None
    text_lines_partly_removed: Optional[int] = None
    text_lines_kept: Optional[int] = None
    text_patterns_unmatched: Optional[int] = None  # X-Text-Patterns-Unmatched: patterns that matched no line
    regions_outside_image: Optional[int] = None  # X-Regions-Outside-Image: regions that missed the image (absent: 0)
    mask_scaled_from: Optional[str] = None  # X-Mask-Scaled-From: "WxH", a mask of another size scaled to the image
    # verification (absent with verify=False): X-Regions-Checked, X-Regions-Repaired, X-Residual-Text (0-1)
    regions_checked: Optional[int] = None
    regions_repaired: Optional[int] = None
    residual_text: Optional[float] = None
    timestamp: Optional[str] = None  # X-Timestamp, ISO 8601
    task_id: Optional[str] = None  # X-Task-Id (task-result)
    headers: Dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def _more(cls, headers: Mapping[str, str]) -> Dict[str, Any]:
        """The fields a subclass reads from the headers besides these."""
        return {}

    @classmethod
    def from_response(cls: Type[R], content: bytes, headers: Mapping[str, str]) -> R:
        return cls(
            image=content,
            media_type=(headers.get("content-type") or "application/octet-stream").split(";")[0].strip(),
            processing_time=_num(headers, "x-processing-time"),
            regions_count=_num(headers, "x-regions-count", int),
            total_area=_num(headers, "x-total-area", int),
            mask_area=_num(headers, "x-mask-area", int),
            text_lines_detected=_num(headers, "x-text-lines-detected", int),
            text_lines_read=_num(headers, "x-text-lines-read", int),
            text_lines_removed=_num(headers, "x-text-lines-removed", int),
            text_lines_partly_removed=_num(headers, "x-text-lines-partly-removed", int),
            text_lines_kept=_num(headers, "x-text-lines-kept", int),
            text_patterns_unmatched=_num(headers, "x-text-patterns-unmatched", int),
            regions_outside_image=_num(headers, "x-regions-outside-image", int),
            mask_scaled_from=headers.get("x-mask-scaled-from"),
            regions_checked=_num(headers, "x-regions-checked", int),
            regions_repaired=_num(headers, "x-regions-repaired", int),
            residual_text=_num(headers, "x-residual-text"),
            timestamp=headers.get("x-timestamp"),
            task_id=headers.get("x-task-id"),
            headers={k.lower(): v for k, v in headers.items()},
            **cls._more(headers),
        )

    _REPR: ClassVar[Tuple[str, ...]] = ("processing_time", "regions_count", "total_area", "mask_area", "text_lines_detected",
             "text_lines_removed", "text_lines_partly_removed", "text_lines_kept", "residual_text", "timestamp",
             "task_id")

    def __repr__(self) -> str:
        stats = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._REPR if getattr(self, k) not in (None, []))
        return f"{type(self).__name__}(<{len(self.image)} bytes {self.media_type}>" + (f", {stats})" if stats else ")")

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
                "application/zip": "zip"}.get(self.media_type, "bin")

    def save(self, path: Union[str, Path]) -> Path:
        p = Path(path)
        p.write_bytes(self.image)
        return p

    def to_pil(self) -> Any:
        """The image as a PIL image (needs Pillow)."""
        from PIL import Image

        img = Image.open(io.BytesIO(self.image))
        img.load()
        return img

    def __bytes__(self) -> bytes:
        return self.image


@dataclass(repr=False)
class ReplaceResult(InpaintResult):
    """The answer of replace-text: the image, plus per line (in the request's order) the em size
    written (X-Font-Sizes; None for a line with empty text) and whether the text was made smaller
    to fit its box (X-Text-Shrunk) or was too long for it even at 4 px and cut (X-Text-Truncated),
    and how many lines new text was written in (X-Lines-Written)."""

    lines_written: Optional[int] = None
    font_sizes: List[Optional[float]] = field(default_factory=list)  # px
    shrunk: List[bool] = field(default_factory=list)
    truncated: List[bool] = field(default_factory=list)

    _REPR: ClassVar[Tuple[str, ...]] = ("lines_written", "font_sizes", "shrunk", "truncated", *InpaintResult._REPR)

    @classmethod
    def _more(cls, headers: Mapping[str, str]) -> Dict[str, Any]:
        return {"lines_written": _num(headers, "x-lines-written", int),
                "font_sizes": _per_line(headers, "x-font-sizes", _size),
                "shrunk": _per_line(headers, "x-text-shrunk", _flag),
                "truncated": _per_line(headers, "x-text-truncated", _flag)}


class Outline(_Model):
    color: str  # #rrggbb
    width: float  # px beyond the ink


class Shadow(_Model):
    color: str  # #rrggbb
    offset: Tuple[float, float]  # [dx, dy] px, +x right, +y down


class Style(_Model):
    """How a line looks (describe=True; API.md, "Describing a line"): null where not measured."""

    text_color: Optional[str] = None  # #rrggbb, the ink's dominant colour
    background_color: Optional[str] = None  # #rrggbb, around the line
    text_color_spread: Optional[float] = None  # CIE76 delta E, p90 of the ink about text_color (20+: a gradient)
    outline: Optional[Outline] = None
    shadow: Optional[Shadow] = None
    font_size: Optional[float] = None  # px, the em size
    angle: float = 0.0  # degrees, counter-clockwise positive on screen
    vertical: bool = False
    bold: Optional[bool] = None


class TextLine(_Model):
    """One line's outcome under remove_text / keep_text (and its look with describe=True)."""

    bounding_box: BoundingBox
    status: str  # removed | partly_removed | kept
    matched: List[str] = Field(default_factory=list)  # the patterns that decided it
    text_score: Optional[float] = None
    text: Optional[str] = None  # what it says: only with recognize=True
    style: Optional[Style] = None  # how it looks: only with describe=True


class TextLines(_Model):
    """processing_stats.text_lines: what was read, removed and kept."""

    found: int
    read: int
    removed: int
    partly_removed: int = 0
    kept: int
    unmatched_patterns: List[str] = Field(default_factory=list)  # patterns that matched no line
    lines: List[TextLine] = Field(default_factory=list)


class Verification(_Model):
    """processing_stats.verification: the check for text left behind (absent with verify=False)."""

    regions_checked: int
    regions_repaired: int
    residual_max: float  # 0-1, the largest share of a region's text still found


class ProcessingStats(_Model):
    regions_processed: int
    total_area: int
    processing_time: float
    image_dimensions: Dimensions
    mask_area: Optional[int] = None
    text_lines_detected: Optional[int] = None
    regions_outside_image: int = 0  # regions wholly outside the image: nothing was removed there
    mask_scaled_from: Optional[Dimensions] = None  # an uploaded mask's own size, when it was scaled to the image
    text_lines: Optional[TextLines] = None  # with remove_text, keep_text, recognize or describe
    verification: Optional[Verification] = None  # with verify (the default)


class RegionsStats(_Model):
    """POST /api/v1/inpaint-regions-json."""

    success: bool
    message: str = ""
    processing_stats: ProcessingStats
    timestamp: Optional[str] = None


# --- replacing text ------------------------------------------------------------------------


@dataclass
class Line:
    """One line to rewrite (replace-text): where the old text is (a region as for inpaint_regions:
    box(), polygon(), a dict, a Detection, (x, y, w, h)), the new text (empty: only removed), and
    what to change of the look the service measures on the old text (`style`, any of text_color
    "#rrggbb", outline {color, width} or None, shadow {color, offset: [dx, dy]} or None,
    font_size, angle, vertical, bold, font "sans" | "serif" | a family of fonts()). `align`:
    where a shorter text sits: "start" (default), "center" or "end"."""

    region: Any
    text: str
    style: Optional[Mapping[str, Any]] = None
    align: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class WrittenLine(_Model):
    """What replace-text wrote in one line."""

    font: Optional[str] = None  # the face written in (None: empty text, nothing written)
    font_size: Optional[float] = None  # px, the em size written
    shrunk: bool = False  # made smaller than wanted_size to fit its box
    truncated: bool = False  # too long for its box even at 4 px: written at 4 px and cut at the box's reach
    wanted_size: Optional[float] = None  # px, the em size measured on the old text (or given)
    style: Style = Field(default_factory=Style)  # the look written: the measure, with the given fields in its place

    @property
    def written(self) -> bool:
        return self.font is not None


class ReplaceStats(_Model):
    """POST /api/v1/replace-text-json: what was written in each line (in the request's order) and
    the removal's statistics."""

    success: bool
    message: str = ""
    lines: List[WrittenLine] = Field(default_factory=list)
    processing_stats: ProcessingStats
    timestamp: Optional[str] = None


class Font(_Model):
    """One installed face replace-text can write in."""

    name: str  # e.g. "DejaVu Sans Bold"
    family: str  # what a line's style.font names
    bold: bool = False
    kind: str  # sans | serif | sans-cjk | serif-cjk | own (from the service's FONTS_DIR)


class FontList(_Model):
    """GET /api/v1/fonts."""

    fonts: List[Font] = Field(default_factory=list)

    @property
    def families(self) -> List[str]:
        """The family names a line's style.font may take (besides "sans" and "serif")."""
        return sorted({f.family for f in self.fonts})

    def __len__(self) -> int:
        return len(self.fonts)


# --- text detection ------------------------------------------------------------------------


class Detection(_Model):
    """One text line found: a polygon, its bounding box and the detector's score."""

    points: List[Tuple[float, float]]
    bounding_box: BoundingBox
    score: Optional[float] = None
    text: Optional[str] = None  # what the line says (recognize=True)
    text_score: Optional[float] = None  # the recognizer's confidence, 0-1 (recognize=True)
    style: Optional[Style] = None  # how the line looks (describe=True)

    def as_region(self) -> Dict[str, Any]:
        """The polygon, ready to send back as a region."""
        return polygon(self.points)


class DetectResult(_Model):
    """POST /api/v1/detect-text."""

    regions: List[Detection] = Field(default_factory=list)
    image_dimensions: Optional[Dimensions] = None
    regions_outside_image: int = 0  # search regions wholly outside the image
    processing_time: Optional[float] = None

    def as_regions(self) -> List[Dict[str, Any]]:
        return [d.as_region() for d in self.regions]

    def __len__(self) -> int:
        return len(self.regions)


# --- asynchronous tasks --------------------------------------------------------------------


class TaskSubmitted(_Model):
    """The answer of inpaint-regions-async and inpaint-batch-async."""

    task_id: str
    status: str
    message: str = ""
    estimated_time: Optional[float] = None
    websocket_url: Optional[str] = None
    status_url: Optional[str] = None
    result_url: Optional[str] = None


class BatchItemStatus(_Model):
    index: int
    name: Optional[str] = None
    status: str
    error: Optional[str] = None
    result_path: Optional[str] = None


class TaskStatus(_Model):
    """GET /api/v1/task-status/{task_id}."""

    task_id: str
    status: str
    stage: Optional[str] = None
    overall_progress: float = 0
    stage_progress: Optional[float] = None
    current_region: Optional[int] = None
    total_regions: Optional[int] = None
    message: Optional[str] = None
    elapsed_time: Optional[float] = None
    estimated_remaining: Optional[float] = None
    error: Optional[str] = None
    created_at: Optional[str] = None
    started_at: Optional[str] = None
    completed_at: Optional[str] = None
    result_path: Optional[str] = None
    kind: Optional[str] = None
    processing_stats: Optional[Dict[str, Any]] = None
    items: Optional[List[BatchItemStatus]] = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def text_lines(self) -> Optional[TextLines]:
        """What was read, removed and kept (a finished task with remove_text, keep_text or recognize)."""
        found = (self.processing_stats or {}).get("text_lines")
        return TextLines.model_validate(found) if isinstance(found, dict) and "found" in found and "lines" in found \
            else None


class CancelResult(_Model):
    """POST /api/v1/cancel-task/{task_id}."""

    task_id: str
    status: str
    message: str = ""


class TasksSummary(_Model):
    """GET /api/v1/tasks."""

    total_tasks: int
    active_tasks: int
    completed_tasks: int
    error_tasks: int
    active_task_ids: List[str] = Field(default_factory=list)
    cancelled_tasks: Optional[int] = None
    pending_tasks: Optional[int] = None
    queue: Optional[Dict[str, Any]] = None


class ProgressEvent(_Model):
    """One server message of WS /api/v1/ws/progress: `type` plus the fields of that type
    (connection_established, task_subscribed, progress_update, task_completed, task_failed,
    task_cancelled, error, pong; see API.md). Missing fields are None."""

    type: str
    timestamp: Optional[str] = None
    task_id: Optional[str] = None
    status: Optional[str] = None
    stage: Optional[str] = None
    overall_progress: Optional[float] = None
    progress: Optional[float] = None
    stage_progress: Optional[float] = None
    current_region: Optional[int] = None
    total_regions: Optional[int] = None
    message: Optional[str] = None
    elapsed_time: Optional[float] = None
    estimated_remaining: Optional[float] = None
    error: Optional[str] = None
    error_message: Optional[str] = None
    result_path: Optional[str] = None
    connection_id: Optional[str] = None

    @property
    def is_final(self) -> bool:
        return self.type in FINAL_EVENT_TYPES

    @property
    def percent(self) -> Optional[float]:
        """0-100 for a progress_update (overall_progress, or the legacy `progress`); 100 when completed."""
        if self.type == "task_completed":
            return 100.0
        return self.overall_progress if self.overall_progress is not None else self.progress

    @classmethod
    def from_status(cls, st: TaskStatus) -> "ProgressEvent":
        """A progress_update (or final event) synthesised from a polled status."""
        kind = {"completed": "task_completed", "error": "task_failed",
                "cancelled": "task_cancelled"}.get(st.status, "progress_update")
        data = st.model_dump(exclude={"items", "processing_stats", "created_at", "started_at", "completed_at", "kind"})
        data = {k: v for k, v in data.items() if k in cls.model_fields}
        return cls(type=kind, progress=st.overall_progress, **data)


RegionLike = Union[Mapping[str, Any], Detection, BoundingBox, Sequence[float], Sequence[Sequence[float]]]


@dataclass
class BatchItem:
    """One image of a batch: regions, a mask, or detect (at least one of them)."""

    image: Any
    regions: Optional[Sequence[RegionLike]] = None
    mask: Any = None
    detect: bool = False
    name: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
