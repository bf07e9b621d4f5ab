"""The image routes' response headers, in one table that both emits them (`emit`) and documents
them (`document`, for OpenAPI; tests/test_openapi.py checks that docs/API.md lists each one), so
that what is sent and what is written cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from app.engine.pipeline import InpaintOutput
from app.engine.render import Written
from app.engine.stats import Verification
from app.engine.text_filter import TextReport

Value = Callable[[InpaintOutput], "str | None"]  # None: the header is absent from this answer
MASK, REGIONS, REPLACE = "mask", "regions", "replace"  # /inpaint; /inpaint-regions (and its async result); /replace-text


@dataclass(frozen=True)
class Header:
    name: str
    kind: str  # its OpenAPI type
    description: str
    value: Value
    routes: tuple[str, ...] = (MASK, REGIONS, REPLACE)


def _stages(out: InpaintOutput) -> str:
    stages = [f"{k};dur={v * 1000:.1f}" for k, v in out.timings.items()]
    if out.verification is not None:
        stages.append(f"repaint;dur={out.repaint_seconds * 1000:.1f}")
    return ", ".join(stages)


def _verification(value: Callable[[Verification], str]) -> Value:
    """A figure of the verification (absent with verify: false)."""
    return lambda out: None if out.verification is None else value(out.verification)


def _text_lines(count: Callable[[TextReport], int]) -> Value:
    """A count of the lines' report (absent without remove_text, keep_text or recognize)."""
    return lambda out: None if out.text_lines is None else str(count(out.text_lines))


def _per_line(out: InpaintOutput, value: Callable[[Written], str]) -> str | None:
    return None if out.written is None else ",".join(value(w) for w in out.written)


_READ = "(with remove_text, keep_text or recognize)"
HEADERS: tuple[Header, ...] = (
    Header("X-Processing-Time", "number", "seconds the pipeline took", lambda out: f"{sum(out.timings.values()):.4f}"),
    Header("X-Regions-Count", "integer", "regions processed (the lines found, with detect: true)",
           lambda out: str(out.regions_count), (REGIONS, REPLACE)),
    Header("X-Total-Area", "integer", "pixels inside the regions", lambda out: str(out.total_area), (REGIONS, REPLACE)),
    Header("X-Mask-Area", "integer", "pixels repainted (the final mask, padding included)",
           lambda out: str(out.mask_area)),
    Header("X-Regions-Outside-Image", "integer", "regions wholly outside the image, where nothing was removed "
           "(absent when there are none)", lambda out: str(out.regions_outside) if out.regions_outside else None,
           (REGIONS, REPLACE)),
    Header("X-Mask-Scaled-From", "string", "the uploaded mask's own size (`WxH`), when it was not the image's and "
           "was scaled to it (absent otherwise)",
           lambda out: "{}x{}".format(*out.mask_scaled_from) if out.mask_scaled_from else None),
    Header("X-Timestamp", "string", "ISO 8601, UTC", lambda out: datetime.now(timezone.utc).isoformat()),
    Header("Server-Timing", "string", "each stage's time in ms (decode, mask, model, composite, verify, encode; "
           "`repaint`: the part of model + composite spent on verification's repaints)", lambda out: _stages(out)),
    Header("X-Text-Lines-Detected", "integer", "text lines the detector found (with detect: true)",
           lambda out: None if out.detected is None else str(out.detected), (REGIONS,)),
    Header("X-Regions-Checked", "integer", "regions checked for text left behind (absent with verify: false)",
           _verification(lambda v: str(v.regions_checked))),
    Header("X-Regions-Repaired", "integer", "regions repainted again (absent with verify: false)",
           _verification(lambda v: str(v.regions_repaired))),
    Header("X-Residual-Text", "number",
           "0-1, the largest share of a region's text still found (absent with verify: false)",
           _verification(lambda v: f"{v.residual_max:.3f}")),
    Header("X-Text-Lines-Read", "integer", f"lines read with confidence {_READ}", _text_lines(lambda t: t.read),
           (REGIONS,)),
    Header("X-Text-Lines-Removed", "integer", f"lines removed whole {_READ}", _text_lines(lambda t: t.removed),
           (REGIONS,)),
    Header("X-Text-Lines-Partly-Removed", "integer", f"lines of which only the part that matched was removed {_READ}",
           _text_lines(lambda t: t.partly_removed), (REGIONS,)),
    Header("X-Text-Lines-Kept", "integer", f"lines left as they are {_READ}", _text_lines(lambda t: t.kept),
           (REGIONS,)),
    Header("X-Text-Patterns-Unmatched", "integer", "patterns that matched no line",
           _text_lines(lambda t: len(t.unmatched_patterns)), (REGIONS,)),
    Header("X-Lines-Written", "integer", "lines new text was written in (an empty `text` writes none)",
           lambda out: str(sum(1 for w in out.written or [] if w.font is not None)), (REPLACE,)),
    Header("X-Font-Sizes", "string", "each line's em size in px as written, comma-separated in the lines' order "
           "(`-` for a line with no text)", lambda out: _per_line(out, lambda w: "-" if w.font_size is None
                                                                   else f"{w.font_size:g}"), (REPLACE,)),
    Header("X-Text-Shrunk", "string", "per line, comma-separated: `true` where the text was made smaller than the "
           "old text's size to fit its box", lambda out: _per_line(out, lambda w: str(w.shrunk).lower()), (REPLACE,)),
    Header("X-Text-Truncated", "string", "per line, comma-separated: `true` where the text fits its box at no size "
           "down to 4 px, and was written at 4 px and cut at the box grown by the padding",
           lambda out: _per_line(out, lambda w: str(w.truncated).lower()), (REPLACE,)),
    Header("X-Jpeg-Blocks-Reencoded", "number",
           "JPEG in, JPEG out (`original`): the share of the 8x8 blocks encoded again (1 = all)",
           lambda out: str(out.jpeg.share) if out.jpeg else None),
)


def emit(out: InpaintOutput, route: str) -> dict[str, str]:
    """The headers of one answer of `route`."""
    values = ((h.name, h.value(out)) for h in HEADERS if route in h.routes)
    return {name: v for name, v in values if v is not None}


def document(route: str) -> dict[str, dict[str, Any]]:
    """OpenAPI `headers` of `route`'s 200 answer."""
    return {h.name: {"description": h.description, "schema": {"type": h.kind}} for h in HEADERS if route in h.routes}


def markdown() -> str:
    """docs/API.md's table of these headers (tests/test_openapi.py keeps it equal to this)."""
    names = {MASK: "inpaint", REGIONS: "inpaint-regions", REPLACE: "replace-text"}
    where: dict[tuple[str, ...], str] = {(MASK, REGIONS, REPLACE): "all"}
    rows = [f"| `{h.name}` | {h.kind} | {where.get(h.routes) or ', '.join(names[r] for r in h.routes)} | "
            f"{h.description} |" for h in HEADERS]
    return "\n".join(["| header | type | on | what |", "|---|---|---|---|", *rows])
