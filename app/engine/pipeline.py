"""The one path from request bytes to answer bytes, shared by every route, task and batch item.

    decode -> mask (regions, text strokes, detection, or an uploaded mask)
           -> plan crops around groups of nearby masked pixels
           -> run the model on each crop (scaled to MAX_IMAGE_SIZE where larger)
           -> composite only masked pixels back into the original -> encode

Cost follows the text, not the image: a 4096 px photo with three small boxes runs the model on
three small crops. Pixels outside the mask are the input's own, bit for bit. Callers differ
only in the `progress` callback they pass; it may raise to cancel between steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable, Protocol, cast

import cv2
import numpy as np

from app.engine import fonts, images, masks, render, text_filter, verify
from app.engine.jpeg_blocks import BlockStats
from app.engine.masks import PixelBox, Region
from app.engine.models import BatchInpaintModel, Fit, InpaintModel, batch_capable, crop_fit, fft_friendly, fills_blind
from app.engine.ocr import Ocr
from app.engine.ocr.describe import Measured, describe, measure
from app.engine.stats import JpegBlocks, Stats, Verification
from app.engine.text_filter import TextReport
from app.errors import InvalidInput, detection_unavailable, recognition_unavailable
from app.geometry import Size

if TYPE_CHECKING:
    from app.engine.ocr import Reading
    from app.settings import Settings


class Stage(StrEnum):
    """The stage names of the async API (API.md): the same for every caller, in the order they run."""

    PREPARING = "preparing"
    MASKING = "masking"
    INPAINTING = "inpainting"
    FINALIZING = "finalizing"


Progress = Callable[[Stage, float, int, int, str], None]
"""progress(stage, stage_fraction 0..1, current_region, total_regions, message); may raise to cancel."""


class Detector(Protocol):
    """What the pipeline and the verifier need of a text detector (app.engine.ocr.Ocr
    is the one implementation; tests pass stand-ins)."""

    def __call__(self, rgb: np.ndarray, within: list[Region] | None = None) -> list[Region]: ...

    def probabilities(self, crops: list[np.ndarray]) -> list[np.ndarray]: ...

    def read(self, rgb: np.ndarray, polygons: list[tuple[tuple[float, float], ...]]) -> list[Reading]: ...


@dataclass
class Limits:
    """The parts of the settings the pipeline obeys."""

    max_file_size: int
    max_image_pixels: int
    max_image_size: int
    crop_context: int
    png_compress_level: int
    max_regions: int
    text_pattern_max_length: int
    text_patterns_max: int
    fonts_dir: str | None = None  # an operator's fonts (engine/fonts.py), besides the system's

    @classmethod
    def defaults(cls) -> Limits:
        """The settings' defaults (and this environment's variables): the defaults live there only."""
        from app.settings import Settings

        return cls.from_settings(Settings())

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.max_file_size, s.max_image_pixels, s.max_image_size, s.crop_context, s.png_compress_level,
                   s.max_regions, text_pattern_max_length=s.text_pattern_max_length,
                   text_patterns_max=s.text_patterns_max, fonts_dir=s.fonts_dir)


@dataclass
class InpaintInput:
    """One image to clean, as the API layer parsed it (nothing decoded yet)."""

    image: bytes | str  # str: base64 (decoded in the worker, not on the event loop)
    mask: bytes | str | None = None
    regions: list[Region] | None = None
    detect: bool = False
    padding: int = 4
    whole_padding: int | None = None  # text mode: padding of a region repainted whole (None: padding)
    mask_mode: str = "box"  # box | text
    text_margin: int = 3
    verify: bool = True  # look for text left behind in each repainted region, and repair it
    output_format: str | None = None
    quality: int = 90
    model_params: dict[str, Any] = field(default_factory=dict)
    hd_strategy: str | None = None  # None/Original: crops around the text; Crop: crops with the
    crop_margin: int = 32  # caller's margin above crop_trigger px; Resize: IOPaint's own, on the
    crop_trigger: int = 1280  # whole image
    remove_text: list[str] | None = None  # patterns (engine/text_filter.py): remove only the lines matching
    keep_text: list[str] | None = None  # patterns: never remove the lines matching
    recognize: bool = False  # read the lines, and report what each says in the stats
    describe: bool = False  # report each line's look (engine/ocr/describe.py) in the stats
    write: list[render.NewText] | None = None  # replace-text: new text written where each line's old text was


@dataclass
class InpaintOutput:
    data: bytes
    media_type: str
    width: int
    height: int
    regions_count: int
    total_area: int  # sum of the regions' areas inside the image (pixels)
    mask_area: int  # pixels actually repainted
    crops: int
    timings: dict[str, float]
    detected: int | None = None  # text lines the detector found, when asked to detect
    text_fallbacks: int = 0  # regions where the text mode repainted the whole region
    verification: Verification | None = None  # what the check for text left behind found
    repaint_seconds: float = 0.0  # of the model and composite stages: verification's repaints
    jpeg: BlockStats | None = None  # JPEG answered as JPEG with `original`: blocks kept or not
    text_lines: TextReport | None = None  # what was read, removed and kept (text_filter.report)
    regions_outside: int = 0  # regions with an area wholly outside the image: nothing removed there
    mask_scaled_from: tuple[int, int] | None = None  # the uploaded mask's size, when it was scaled to the image
    written: list[render.Written] | None = None  # replace-text: what was written in each line

    def stats(self) -> Stats:
        """The statistics an answer reports (`processing_stats`)."""
        return Stats(
            regions_processed=self.regions_count,
            regions_outside_image=self.regions_outside,
            total_area=self.total_area,
            mask_area=self.mask_area,
            crops=self.crops,
            processing_time=round(sum(self.timings.values()), 4),
            stage_times={k: round(v, 4) for k, v in self.timings.items()},
            image_dimensions=Size(self.width, self.height),
            text_lines_detected=self.detected,
            verification=self.verification,
            jpeg_blocks_reencoded=self.jpeg.share if self.jpeg else None,
            jpeg_blocks=JpegBlocks.of(self.jpeg) if self.jpeg else None,
            text_lines=self.text_lines,
            mask_scaled_from=Size(*self.mask_scaled_from) if self.mask_scaled_from else None,
        )


def _no_progress(*_: Any) -> None:
    return None


def plan_crops(mask: np.ndarray, context: int) -> list[PixelBox]:
    """Boxes around groups of masked pixels, each grown by `context`. Pixels closer than about
    2 x context share a crop (their contexts would overlap anyway). Works on a reduced copy of
    the mask, so planning costs little even at 4096 px."""
    h, w = mask.shape
    f = max(1, math.ceil(max(h, w) / 1024))
    small = cv2.resize(mask, (math.ceil(w / f), math.ceil(h / f)), interpolation=cv2.INTER_AREA) if f > 1 else mask
    small = (small > 0).astype(np.uint8)
    k = 2 * math.ceil(context / f) + 1
    joined = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    crops = []
    for i in range(1, n):
        x, y, bw, bh = stats[i, :4]
        area = PixelBox(x * f, y * f, min(w, (x + bw) * f), min(h, (y + bh) * f))
        sub = mask[area.slices]
        rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
        if len(rows) == 0:
            continue
        tight = PixelBox(area.x0 + cols[0], area.y0 + rows[0], area.x0 + cols[-1] + 1, area.y0 + rows[-1] + 1)
        crops.append(tight.grow(context, w, h))
    crops.sort(key=lambda b: (b.y0, b.x0))
    return crops


def _plan(mask: np.ndarray, job: InpaintInput, limits: Limits) -> list[PixelBox]:
    """IOPaint's hd_strategy semantics on top of the crop planner: Resize hands the whole image to
    IOPaint; Crop below its trigger size runs the whole image, above it crops with the caller's
    margin; Original (the default) crops with CROP_CONTEXT, at full resolution."""
    h, w = mask.shape
    if not mask.any():
        return []
    whole = [PixelBox(0, 0, w, h)]
    if job.hd_strategy == "Resize":
        return whole
    if job.hd_strategy == "Crop":
        return plan_crops(mask, max(8, job.crop_margin)) if max(h, w) > job.crop_trigger else whole
    return plan_crops(mask, limits.crop_context)


def _forward(model: InpaintModel, rgbs: list[np.ndarray], masks_: list[np.ndarray], params: dict[str, Any]
             ) -> list[np.ndarray]:
    """One forward pass over the crops. A batch-capable model takes even a single crop on its own
    path (FFT-friendly padding, autocast, the same pixels as in a batch of one shape); IOPaint's
    call stays for the rest, and for `Resize`, which is IOPaint's own whole-image strategy."""
    if batch_capable(model) and params.get("hd_strategy") != "Resize":
        return cast(BatchInpaintModel, model).inpaint_batch(rgbs, masks_, params)
    assert len(rgbs) == 1, "several crops in one pass only where the model takes a batch"
    return [model(rgbs[0], masks_[0], params)]


def _call_model(model: InpaintModel, rgb: np.ndarray, mask: np.ndarray, params: dict[str, Any],
               max_side: int) -> np.ndarray:
    """The model on one crop, scaled down first when its longest side exceeds `max_side`."""
    h, w = mask.shape
    scale = max_side / max(h, w)
    if scale >= 1:
        return _forward(model, [rgb], [mask], params)[0]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small_rgb = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    out = _forward(model, [small_rgb], [small_mask], params)[0]
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)


def plan_batches(crops: list[PixelBox], max_side: int, mod: int = 8, waste: float = 1.5,
                 min_size: int | None = None) -> list[list[int]]:
    """Crop indices grouped into shared forward passes. Crops go together while the group's common
    padded shape (largest height x largest width, each rounded up as the model pads it:
    `fft_friendly`, at least `min_size`) costs at most `waste` times their own padded areas and at
    most max_side^2 pixels in all; crops the model would see scaled down run alone. Order within
    the image is kept for single crops."""
    def padded(b: PixelBox) -> tuple[int, int]:
        return max(fft_friendly(b.height, mod), min_size or 0), max(fft_friendly(b.width, mod), min_size or 0)

    alone = [i for i, b in enumerate(crops) if max(b.height, b.width) > max_side]
    rest = sorted((i for i, b in enumerate(crops) if max(b.height, b.width) <= max_side),
                  key=lambda i: padded(crops[i]))
    groups: list[list[int]] = []
    current: list[int] = []
    own = 0
    for i in rest:
        ph, pw = padded(crops[i])
        if current:
            hs = [padded(crops[j]) for j in current] + [(ph, pw)]
            common = max(h for h, _ in hs) * max(w for _, w in hs) * len(hs)
            if common <= waste * (own + ph * pw) and common <= max_side * max_side:
                current.append(i)
                own += ph * pw
                continue
            groups.append(current)
        current, own = [i], ph * pw
    if current:
        groups.append(current)
    return sorted(groups + [[i] for i in alone], key=lambda g: g[0])


def fit_crop(box: PixelBox, fit: Fit | None, width: int, height: int) -> PixelBox:
    """The part of the image the model sees for a crop: the crop grown about its centre to the
    shape the model pads it to (Fit.crop_shape), moved inside the image, so that the padding is
    the image's own pixels rather than a mirror of the crop; the crop itself without a Fit."""
    if fit is None:
        return box
    h, w = fit.crop_shape(box.height, box.width)
    h, w = min(h, height), min(w, width)
    y0 = min(max(0, box.y0 - (h - box.height) // 2), height - h)
    x0 = min(max(0, box.x0 - (w - box.width) // 2), width - w)
    return PixelBox(x0, y0, x0 + w, y0 + h)


def share_views(crops: list[PixelBox], fit: Fit | None) -> list[PixelBox]:
    """At a fixed working size, crops whose union still fits in it become one crop: the model sees
    that much of the image for each of them anyway, so one pass does the work of several."""
    size = fit.working_size if fit else None
    if not size:
        return crops
    out: list[PixelBox] = []
    for b in crops:
        for i, o in enumerate(out):
            u = PixelBox(min(o.x0, b.x0), min(o.y0, b.y0), max(o.x1, b.x1), max(o.y1, b.y1))
            if u.width <= size and u.height <= size:
                out[i] = u
                break
        else:
            out.append(b)
    return out


def _inpaint_group(model: InpaintModel, out: np.ndarray, mask: np.ndarray, boxes: list[PixelBox], params: dict[str, Any],
               max_side: int) -> list[np.ndarray]:
    """The model on a group of crops of `out`: one call per crop, or one batched call."""
    if len(boxes) == 1:
        box = boxes[0]
        return [_call_model(model, np.ascontiguousarray(out[box.slices]), np.ascontiguousarray(mask[box.slices]),
                           params, max_side)]
    # several boxes in a group only where plan_batches ran, that is where batch_capable(model) holds
    return _forward(model, [np.ascontiguousarray(out[b.slices]) for b in boxes],
                    [np.ascontiguousarray(mask[b.slices]) for b in boxes], params)


@dataclass
class MaskPlan:
    """What to repaint, and the regions verification looks at afterwards."""

    mask: np.ndarray  # H x W uint8, 255 = repaint
    regions: list[Region]  # the caller's regions
    detected: int | None = None  # text lines the detector found, when asked to detect
    # the regions to verify (the caller's or the lines found, and which are masked by their
    # strokes), sharing its look at each with the pre-check; None for an uploaded mask, whose parts
    # are checked instead
    checker: verify.Verifier | None = None
    text_fallbacks: int = 0  # text mode: regions repainted whole
    # where pixels may change (H x W bool): the lines' reach (verify.reach), inside the caller's regions
    # with detect, outside what keep_text keeps; every composite is clipped to it; None: the mask alone
    allowed: np.ndarray | None = None
    text_lines: TextReport | None = None  # remove_text / keep_text / recognize: the lines' report
    regions_outside: int = 0  # regions with an area wholly outside the image (they paint nothing)
    mask_scaled_from: tuple[int, int] | None = None  # an uploaded mask's own size, when not the image's
    parts: list[verify.MaskPart] | None = None  # an uploaded mask's parts (verified like regions)


def _checker(rgb: np.ndarray, lines: list[Region], job: InpaintInput, detector: Detector | None) -> verify.Verifier:
    """The lines' verifier: the mask's pre-check, and with `verify` the check after the model, with
    the detector (whose pass for lines the contrast cannot see serves the mask too) and the
    recognizer loaded beside it, if one is, as the reader. Without `verify`, neither: no cost."""
    if not job.verify:
        return verify.Verifier(rgb, lines, job.padding, None)
    reader = detector if isinstance(detector, Ocr) and detector.reader is not None else None
    return verify.Verifier(rgb, lines, job.padding, detector, reader=reader)


def _stroke_mask(rgb: np.ndarray, job: InpaintInput, checker: verify.Verifier) -> tuple[np.ndarray, int]:
    """The text mode's stroke mask over the checker's regions. Where the strokes leave ink out (a
    misjudged colour), or, with verification, much of the text body the detector sees where the
    contrast cannot, the whole region; then, for every region, `_cover_left_ink`. Returns the mask
    and how many regions are repainted whole."""
    mask, by_strokes = masks.text_aware_mask(rgb, checker.regions, job.padding, job.text_margin, _whole(job))
    for i, r in enumerate(checker.regions):
        if by_strokes[i] and (checker.uncovered_share(i, mask) > verify.UNCOVERED_GROW
                              or checker.misses_text_body(i, mask)):
            masks.draw_region(mask, r, _whole(job))
            by_strokes[i] = False
        _cover_left_ink(checker, mask, i)
    checker.by_strokes = by_strokes
    return mask, by_strokes.count(False)


def _cover_left_ink(checker: verify.Verifier, mask: np.ndarray, i: int) -> None:
    """Where `mask` leaves out more of region i's ink than the check after the model would pass
    (REPAIR_ABOVE: a shadow or a glow past the glyphs, or past the box), grow it over that ink,
    within the line's reach; where that still leaves more than UNCOVERED_GROW out, the whole reach.
    The check would send that ink to a repair, a second model pass: done here, it costs none.
    Where the checker has the detector (with `verify`), a region whose text the contrast measure
    cannot see grows over the text body the detector sees (`grow_to_text_body`)."""
    checker.grow_to_text_body(i, mask)
    if checker.uncovered_share(i, mask) > verify.REPAIR_ABOVE:
        checker.grow_to_ink(i, mask)
        if checker.uncovered_share(i, mask) > verify.UNCOVERED_GROW:
            checker.cover_zone(i, mask)


def _box_mask(rgb: np.ndarray, job: InpaintInput, checker: verify.Verifier) -> np.ndarray:
    """The box mode's mask: the regions grown by padding; with verification, `_cover_left_ink` too."""
    h, w = rgb.shape[:2]
    mask = masks.regions_to_mask(checker.regions, w, h, job.padding)
    if job.verify:
        for i in range(len(checker.regions)):
            _cover_left_ink(checker, mask, i)
    return mask


def _whole(job: InpaintInput) -> int:
    """The padding of a region repainted whole in the text mode."""
    return job.padding if job.whole_padding is None else job.whole_padding


def _reach(rgb: np.ndarray, lines: list[Region], job: InpaintInput, parts: list[verify.MaskPart] | None = None
           ) -> np.ndarray:
    """Where the lines (or mask parts) may change pixels: verify.reach at the request's padding."""
    h, w = rgb.shape[:2]
    return verify.reach(w, h, lines, max(job.padding, _whole(job)), parts)


def _select_text(rgb: np.ndarray, lines: list[Region], job: InpaintInput, limits: Limits,
                 detector: Detector | None) -> tuple[list[Region], np.ndarray | None, TextReport | None]:
    """remove_text / keep_text (engine/text_filter.py): the lines, or parts of lines, to remove;
    where nothing may be repainted (what is kept of the lines, outside what is removed); and the
    report. Without patterns or `recognize`, every line and nothing read; with `describe`, each
    line's look in the report (measured on the source, before anything is repainted)."""
    patterns = text_filter.compile_patterns(job.remove_text, job.keep_text, max_length=limits.text_pattern_max_length,
                                            max_count=limits.text_patterns_max)
    styles = [describe(rgb, r) for r in lines] if job.describe else None
    if not patterns.active and not job.recognize:
        if styles is None:
            return lines, None, None
        unread = [text_filter.Line("removed", None) for _ in lines]
        return lines, None, text_filter.report(unread, lines, patterns, with_text=False, styles=styles)
    if detector is None:
        raise recognition_unavailable()
    decided = text_filter.select(detector.read(rgb, [r.points for r in lines]), patterns)
    remove, keep = text_filter.removed_regions(decided, lines)
    h, w = rgb.shape[:2]
    guard = None
    if keep:
        guard = (masks.regions_to_mask(keep, w, h, 0) > 0) & (masks.regions_to_mask(remove, w, h, 0) == 0)
    return remove, guard, text_filter.report(decided, lines, patterns, with_text=job.recognize, styles=styles)


def _outside(allowed: np.ndarray, guard: np.ndarray | None) -> np.ndarray:
    """`allowed` less what keep_text keeps (`guard`, if any)."""
    return allowed if guard is None else allowed & ~guard


def build_mask(rgb: np.ndarray, job: InpaintInput, limits: Limits, detector: Detector | None) -> MaskPlan:
    """The mask for a decoded image, from the caller's regions, the detector or an uploaded mask."""
    h, w = rgb.shape[:2]
    regions = list(job.regions or [])
    if len(regions) > limits.max_regions:
        raise InvalidInput(f"{len(regions)} regions, over the limit of {limits.max_regions}", code="too_many_regions")
    given = bool(regions)
    regions, outside = masks.on_image(regions, w, h)  # zero-area ones and those off the image paint nothing
    if job.detect:
        plan = _mask_of_detected(rgb, job, limits, detector, regions, given)
    elif job.mask is not None:
        plan = _mask_of_upload(rgb, job, limits, detector, regions)
    elif not given:
        raise InvalidInput("no regions given (and detect is not set)", code="no_regions")
    else:
        plan = _mask_of_regions(rgb, job, limits, detector, regions)
    return replace(plan, regions_outside=outside)


def _mask_of_detected(rgb: np.ndarray, job: InpaintInput, limits: Limits, detector: Detector | None,
                      regions: list[Region], given: bool) -> MaskPlan:
    """The lines the detector finds (inside the caller's regions, if any were given)."""
    h, w = rgb.shape[:2]
    if detector is None:
        raise detection_unavailable()
    found = detector(rgb, within=regions or None) if regions or not given else []
    detected = len(found)
    found, guard, read = _select_text(rgb, found, job, limits, detector)
    checker = _checker(rgb, found, job, detector)
    if job.mask_mode == "text":  # strokes, never beyond the padded lines
        lines, fallbacks = _stroke_mask(rgb, job, checker)
    else:
        lines, fallbacks = _box_mask(rgb, job, checker), 0
    allowed = _outside(_reach(rgb, found, job), guard)
    if given:  # only the text inside the caller's regions, none of the text kept
        allowed &= masks.regions_to_mask(regions, w, h, job.padding) > 0
    lines[~allowed] = 0
    return MaskPlan(lines, regions, detected, checker, fallbacks, allowed, read)


def _mask_of_upload(rgb: np.ndarray, job: InpaintInput, limits: Limits, detector: Detector | None,
                    regions: list[Region]) -> MaskPlan:
    """The mask's pixels as given (scaled to the image if it is its shape at another size); patterns
    choose among the regions beside it."""
    h, w = rgb.shape[:2]
    assert job.mask is not None
    m, sent = images.decode_mask(images.payload_bytes(job.mask, max_bytes=limits.max_file_size, field="mask"),
                                 width=w, height=h, max_bytes=limits.max_file_size, max_pixels=limits.max_image_pixels)
    regions, guard, read = _select_text(rgb, regions, job, limits, detector)
    # the mask as given and (where verification may repair) its parts' reach, and the regions' beside it
    parts = verify.mask_parts(m, 1024) if job.verify else []
    allowed = (m > 0) | _reach(rgb, [], job, parts) if parts else m > 0
    if regions:
        extra = masks.regions_to_mask(regions, w, h, job.padding)
        if guard is not None:
            extra[guard] = 0
        m |= extra
        allowed |= _outside(_reach(rgb, regions, job), guard)
        parts = verify.mask_parts(m, 64) if job.verify else []  # the regions are checked as the mask's parts
    # the 64 largest parts are checked (mask_parts orders them by area)
    return MaskPlan(m, regions, allowed=allowed, parts=parts[:64] if job.verify else None, text_lines=read,
                    mask_scaled_from=sent if sent != (w, h) else None)


def _mask_of_regions(rgb: np.ndarray, job: InpaintInput, limits: Limits, detector: Detector | None,
                     regions: list[Region]) -> MaskPlan:
    """The caller's regions (their strokes with mask_mode text), less the lines keep_text keeps."""
    h, w = rgb.shape[:2]
    if not regions:  # only regions that paint nothing
        return MaskPlan(np.zeros((h, w), np.uint8), regions)
    regions, guard, read = _select_text(rgb, regions, job, limits, detector)
    checker = _checker(rgb, regions, job, detector)
    if job.mask_mode == "text":
        m, fallbacks = _stroke_mask(rgb, job, checker)
    else:
        m, fallbacks = _box_mask(rgb, job, checker), 0
    if guard is not None:
        m[guard] = 0
    return MaskPlan(m, regions, None, checker, fallbacks, _outside(_reach(rgb, regions, job), guard), read)


def _inpaint_crops(out: np.ndarray, mask: np.ndarray, crops: list[PixelBox], model: InpaintModel,
                   params: dict[str, Any], limits: Limits, lap: Callable[[str], None], allowed: np.ndarray | None,
                   on_crop: Callable[[int, int, PixelBox | None], None] | None = None) -> None:
    """Run the model on the crops and composite their masked pixels into `out` in place. With a
    model that takes a batch, crops of similar size share forward passes (plan_batches, with as
    much padding as the model's `batch_waste` allows). Later passes read `out`, so a neighbour
    that is already clean is clean context. `on_crop(k, n, box)` counts crops in the order they
    are done (box None: before the pass that does crop k). Every pixel composited lies in
    `allowed` (the reach: MaskPlan.allowed), first pass and repairs alike. A model with a Fit
    sees each crop grown to its shape (`fit_crop`) and scaled to its working size where it has
    one; only the crop's own masked pixels are composited."""
    fit = crop_fit(model)
    crops = share_views(crops, fit)
    size = fit.working_size if fit else None
    max_side = min(limits.max_image_size, size) if size else limits.max_image_size
    if batch_capable(model):
        batcher = cast(BatchInpaintModel, model)
        groups = plan_batches(crops, max_side, batcher.pad_mod, batcher.batch_waste, getattr(batcher, "min_size", None))
    else:
        groups = [[i] for i in range(len(crops))]
    seen = [fit_crop(b, fit, mask.shape[1], mask.shape[0]) for b in crops]
    done = 0
    for group in groups:
        if on_crop:
            on_crop(done, len(crops), None)
        results = _inpaint_group(model, out, mask, [seen[i] for i in group], params, max_side)
        lap("model")
        for i, result in zip(group, results):
            box, view = crops[i], seen[i]
            sel = mask[box.slices] > 0
            if allowed is not None:
                sel &= allowed[box.slices]
            out[box.slices][sel] = result[box.y0 - view.y0:box.y1 - view.y0, box.x0 - view.x0:box.x1 - view.x0][sel]
            if on_crop:
                on_crop(done, len(crops), box)
            done += 1
        lap("composite")


def _verify_and_repair(checker: verify.Verifier, out: np.ndarray, mask: np.ndarray, allowed: np.ndarray | None,
                       model: InpaintModel, params: dict[str, Any], limits: Limits,
                       lap: Callable[[str], None], note: Callable[[str], None]) -> Verification:
    """Check every line of `out` (engine/verify.py); repaint each line where text is still found,
    check those again, and report what is left. A first repair aims at what the check found
    (`RegionCheck.aim`: ink the first mask left out or, for a ghost in the fill of a mask in the
    glyphs' shape, that mask; grown by a stroke's width); a line it does not clear, or whose flag
    is something else (a ghost in a region's fill, a reader's verdict), is repainted as its zone
    (its reach)."""
    found = checker.confirm(out, checker.check(out, mask, list(range(len(checker.regions)))))
    lap("verify")
    residual = {i: c.residual if c is not None else 0.0 for i, c in found.items()}
    aimed: dict[int, bool] = {}  # line repaired -> whether its last repair aimed (False: the zone)
    for first in (True, False):
        todo, extra = [], np.zeros_like(mask)
        for i, c in found.items():
            if c is None or c.reachable <= verify.REPAIR_ABOVE or not (first or aimed.get(i)):
                continue
            free = mask[c.box.slices] == 0
            if allowed is not None:
                free &= allowed[c.box.slices]
            target = c.aim if first and c.aim is not None and (c.aim & free).any() else c.zone
            add = target & free
            if add.any():
                extra[c.box.slices] |= add.astype(np.uint8) * 255
                todo.append(i)
                aimed[i] = target is not c.zone
        if not todo:
            break
        mask |= extra
        note(f"text left in {len(todo)} region(s): repainting")  # a cancel takes effect here
        # the crops around what was added, repainted with every masked pixel in them: the first
        # fill next to a missed stroke is no context to trust
        _inpaint_crops(out, mask, plan_crops(extra, limits.crop_context), model, params, limits, lap, allowed)
        for i, c in checker.confirm(out, checker.check(out, mask, todo)).items():
            found[i] = c
            residual[i] = c.residual if c is not None else 0.0
        lap("verify")
    return Verification(regions_checked=len(checker.regions), regions_repaired=len(aimed),
                        residual_max=verify.reported(max(residual.values(), default=0.0)))


class _Tracker:
    """One run's bookkeeping, apart from its steps: the time of each stage (`lap`) and the progress
    the caller hears (regions count as done once the crop holding their centre is painted)."""

    def __init__(self, report: Progress):
        self.report, self._clock = report, time.perf_counter()
        self.timings: dict[str, float] = {}
        self.total, self.done = 0, 0
        self._centres: list[tuple[float, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._clock
        self._clock = now

    def painting(self) -> float:
        """Seconds spent so far in the model and compositing its answers."""
        return self.timings.get("model", 0.0) + self.timings.get("composite", 0.0)

    def say(self, stage: Stage, fraction: float, message: str) -> None:
        self.report(stage, fraction, self.done, self.total, message)

    def count(self, regions: list[Region], detected: int | None) -> None:
        """The regions progress counts: the caller's (by their centres), or the lines detected."""
        self.total = detected if detected is not None else len(regions)
        self._centres = [(sum(p[0] for p in r.points) / len(r.points), sum(p[1] for p in r.points) / len(r.points))
                         for r in (regions if detected is None else [])]

    def on_crop(self, i: int, n: int, box: PixelBox | None) -> None:
        if box is None:  # before crop i
            self.say(Stage.INPAINTING, i / n, f"inpainting area {i + 1} of {n}")
        elif self._centres:
            inside = sum(1 for cx, cy in self._centres if box.x0 <= cx < box.x1 and box.y0 <= cy < box.y1)
            self.done = min(self.total, self.done + inside)
        else:
            self.done = round(self.total * (i + 1) / n)


def inpaint(
    job: InpaintInput,
    model: InpaintModel,
    limits: Limits,
    progress: Progress | None = None,
    detector: Detector | None = None,
) -> InpaintOutput:
    """Decode, mask, inpaint crop by crop, composite, verify, encode. Raises ServiceError for bad input."""
    track = _Tracker(progress or _no_progress)
    if job.write is not None:  # what no font can write is refused before any work (the fonts: found once)
        render.check_fonts(job.write, fonts.font_book(limits.fonts_dir))
    track.say(Stage.PREPARING, 0.0, "decoding image")
    img = images.decode_image(images.payload_bytes(job.image, max_bytes=limits.max_file_size),
                              max_bytes=limits.max_file_size, max_pixels=limits.max_image_pixels)
    fmt = images.resolve_output_format(job.output_format, img.format)
    images.prepare_answer(img, fmt, job.output_format)
    planned = (render.plan(job.write, _measure_lines(img.rgb, job.write), fonts.font_book(limits.fonts_dir),
                           img.width, img.height) if job.write is not None else [])
    track.lap("decode")
    track.say(Stage.PREPARING, 1.0, f"decoded {img.width}x{img.height}")

    track.say(Stage.MASKING, 0.0, "detecting text" if job.detect else "building mask")
    plan = build_mask(img.rgb, job, limits, detector)
    mask, regions, detected = plan.mask, plan.regions, plan.detected
    crops = _plan(mask, job, limits)
    track.lap("mask")
    track.count(regions, detected)
    track.say(Stage.MASKING, 1.0, f"{len(crops)} area(s) to repaint"
              + (f", {detected} text line(s) found" if detected is not None else ""))

    params = dict(job.model_params)
    params["hd_strategy"] = "Resize" if job.hd_strategy == "Resize" else "Original"
    checker = None
    if job.verify and crops:  # what verification needs of the source, before the result overwrites it
        checker = plan.checker or verify.Verifier.of_mask(img.rgb, mask, detector, plan.parts)
        checker.blind_fill = fills_blind(model)
        checker.keep_looks()
        track.lap("verify")
    # the result is composited into the decoded image itself: no second full-size copy
    out = img.rgb if img.rgb.flags.writeable else img.rgb.copy()
    _inpaint_crops(out, mask, crops, model, params, limits, track.lap, plan.allowed, track.on_crop)
    track.done = track.total
    track.say(Stage.INPAINTING, 1.0, "inpainting done")

    verification = None
    first_pass = track.painting()
    if checker is not None:
        track.say(Stage.FINALIZING, 0.0, "checking for text left behind")
        verification = _verify_and_repair(checker, out, mask, plan.allowed, model, params, limits, track.lap,
                                          lambda msg: track.say(Stage.FINALIZING, 0.0, msg))
    repaint = track.painting() - first_pass
    written, touched = None, mask
    if job.write is not None:
        track.say(Stage.FINALIZING, 0.0, f"writing {len(job.write)} line(s)")
        written, drawn = render.write(out, planned, job.padding)
        touched = mask | (drawn.astype(np.uint8) * 255)
        track.lap("write")
    track.say(Stage.FINALIZING, 0.0, f"encoding {fmt}")
    data, jpeg = images.encode_answer(out, img, fmt, touched, requested=job.output_format, quality=job.quality,
                                      png_compress_level=limits.png_compress_level)
    track.lap("encode")
    h, w = mask.shape
    return InpaintOutput(
        data=data, media_type=images.MEDIA_TYPES[fmt], width=w, height=h, regions_count=track.total,
        total_area=masks.region_area(regions, w, h) if regions else int(np.count_nonzero(mask)),
        mask_area=int(np.count_nonzero(mask)), crops=len(crops), timings=track.timings, detected=detected,
        text_fallbacks=plan.text_fallbacks, verification=verification, repaint_seconds=repaint, jpeg=jpeg,
        text_lines=plan.text_lines, regions_outside=plan.regions_outside, mask_scaled_from=plan.mask_scaled_from,
        written=written)


def _measure_lines(rgb: np.ndarray, lines: list[render.NewText]) -> list[Measured]:
    """Each line's look and ink, measured on the source before anything is repainted; a line that
    covers no part of the image (wholly outside it, or with no extent on it) is refused (422 naming
    it): nothing could be written there."""
    h, w = rgb.shape[:2]
    for i, line in enumerate(lines):
        x0, y0, x1, y1 = line.region.clamped(w, h).bounds()
        if not (x1 > x0 and y1 > y0):
            why = f"covers no part of the {w}x{h} image"
            raise InvalidInput(f"lines[{i}].region {why}", code="region_outside_image",
                               errors=[{"loc": ["lines", i, "region"], "msg": why, "type": "region_outside_image"}])
    return [measure(rgb, line.region) for line in lines]
