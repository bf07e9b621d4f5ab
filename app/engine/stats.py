"""What one run of the pipeline reports about itself: `Stats` (`InpaintOutput.stats()`), with the
verification's figures and the JPEG blocks kept. Plain dataclasses: the answers are built from
them where they are given (app.api's `ProcessingStats.of`; a task's record and callback), and
their JSON form is app.wire's (a None field declared `OMIT_NONE` is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.engine.jpeg_blocks import BlockStats
from app.engine.text_filter import TextReport
from app.geometry import Size
from app.wire import OMIT_NONE


@dataclass(frozen=True)
class Verification:
    """What the check for text left behind found (engine/verify.py), over the repainted regions."""

    regions_checked: int  # repainted regions looked at for text left behind
    regions_repaired: int  # regions where text was still there and was repainted again
    residual_max: float  # largest share (0-1) of a region's text still detectable after repair


@dataclass(frozen=True)
class JpegBlocks:
    """A JPEG answered as JPEG with `original`: whether the untouched 8x8 blocks were kept."""

    kept_untouched_blocks: bool
    blocks_total: int
    blocks_reencoded: int
    reason: str | None = field(default=None, metadata=OMIT_NONE)  # why every block was encoded again

    @classmethod
    def of(cls, b: BlockStats) -> JpegBlocks:
        return cls(b.reason is None, b.blocks_total, b.blocks_reencoded, b.reason)


@dataclass(frozen=True)
class Stats:
    """One image's statistics (`processing_stats`), its fields in the order a task reports them;
    those that do not apply to a run are None."""

    regions_processed: int
    regions_outside_image: int  # regions wholly outside the image: nothing was removed there
    total_area: int
    mask_area: int
    crops: int
    processing_time: float
    stage_times: dict[str, float]
    image_dimensions: Size
    text_lines_detected: int | None = field(default=None, metadata=OMIT_NONE)  # with detect: true
    verification: Verification | None = field(default=None, metadata=OMIT_NONE)  # with verify: true
    jpeg_blocks_reencoded: float | None = field(default=None, metadata=OMIT_NONE)  # share of 8x8 blocks (1 = all)
    jpeg_blocks: JpegBlocks | None = field(default=None, metadata=OMIT_NONE)
    text_lines: TextReport | None = field(default=None, metadata=OMIT_NONE)  # remove_text, keep_text, recognize
    mask_scaled_from: Size | None = field(default=None, metadata=OMIT_NONE)  # an uploaded mask's own size
