"""The request bodies of the HTTP API (API.md), and `to_input()`: a body as the pipeline's input.
Unknown fields are accepted and ignored, as existing backends send more than this service reads."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import (AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat,
                      field_validator, model_validator)

from app.engine import images, render, text_filter
from app.engine.ocr.describe import Outline, Shadow
from app.engine.images import NOT_BLANK
from app.engine.masks import Region
from app.engine.pipeline import InpaintInput
from app.errors import InvalidInput
from app.settings import Settings

_lenient = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)


_POSITIVE: dict[str, Any] = {"exclusiveMinimum": 0}  # documented; refused as invalid_region (see to_region)
# pixels, numbers only (never true/false or "12"), and bounded: far beyond any image, short of overflow
Coord = Annotated[StrictFloat, Field(ge=-10_000_000, le=10_000_000)]


class BoundingBox(BaseModel):
    model_config = _lenient
    x: Coord
    y: Coord
    width: Coord = Field(json_schema_extra=_POSITIVE)
    height: Coord = Field(json_schema_extra=_POSITIVE)


def _region_shapes(schema: dict[str, Any]) -> None:
    """Document the three accepted shapes (the model validator enforces them)."""
    box_ref = next(o for o in schema["properties"]["bounding_box"]["anyOf"] if "$ref" in o)
    number = {"type": "number", "minimum": -10_000_000, "maximum": 10_000_000}
    positive = {**number, **_POSITIVE}
    schema["anyOf"] = [
        {"required": ["x", "y", "width", "height"],
         "properties": {"x": number, "y": number, "width": positive, "height": positive}},
        {"required": ["bounding_box"], "properties": {"bounding_box": box_ref}},
        {"required": ["points"], "properties": {"points": {"type": "array"}}},
    ]


class RegionIn(BaseModel):
    """A region: flat `{x, y, width, height}`, nested `{bounding_box: {...}}`, or a polygon
    `{points: [[x, y], ...]}` (3+ points, filled as a polygon)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False,
                              json_schema_extra=_region_shapes)
    x: Coord | None = None
    y: Coord | None = None
    width: Coord | None = None
    height: Coord | None = None
    bounding_box: BoundingBox | None = None
    points: list[tuple[Coord, Coord]] | None = Field(None, min_length=3,
                                                                  description="polygon, 3 or more [x, y] points")

    @model_validator(mode="after")
    def _one_shape(self) -> RegionIn:
        if self.points is not None:
            if len(self.points) < 3:
                raise ValueError("a polygon region needs at least 3 points")
        elif self.bounding_box is None and None in (self.x, self.y, self.width, self.height):
            raise ValueError("a region needs x, y, width and height, a bounding_box, or points")
        return self

    def to_region(self, where: str = "a region") -> Region:
        """The engine's region; a box with a negative or zero width or height is refused (422), never
        turned around (a bounding_box given beside points included)."""
        b = self.bounding_box
        if b is not None and (b.width <= 0 or b.height <= 0):
            raise _not_positive(where, b.width, b.height)
        if self.points is not None:
            return Region(tuple((float(x), float(y)) for x, y in self.points))
        box = b or self
        assert box.x is not None and box.y is not None and box.width is not None and box.height is not None
        if box.width <= 0 or box.height <= 0:
            raise _not_positive(where, box.width, box.height)
        return Region.box(box.x, box.y, box.width, box.height)


def _not_positive(where: str, width: float, height: float) -> InvalidInput:
    return InvalidInput(f"{where} has width {width:g} and height {height:g}; both must be positive",
                        code="invalid_region")


def _not_a_bool(v: Any) -> Any:
    """JSON's true/false is not a number (pydantic would read it as 1/0); a form's "3" still is."""
    if isinstance(v, bool):
        raise ValueError("a number is required, not a boolean")
    return v


Int = Annotated[int, BeforeValidator(_not_a_bool)]
Float = Annotated[float, BeforeValidator(_not_a_bool)]


class InpaintParams(BaseModel):
    """Parameters every inpainting route accepts. The sd_* and hd_* fields are IOPaint's."""

    model_config = _lenient
    sd_seed: Int = -1
    sd_steps: Int = Field(25, ge=1, le=200)
    sd_strength: Float = Field(1.0, ge=0, le=1)
    sd_guidance_scale: Float = Field(7.5, ge=0, le=50)
    sd_sampler: str = "ddim"
    hd_strategy: Literal["Original", "Crop", "Resize"] = Field(
        "Original",
        description="Original: the model sees the image at full resolution (this service crops around the "
        "regions); Crop: crops with hd_strategy_crop_margin of context; Resize: the whole image scaled to "
        "hd_strategy_resize_limit (IOPaint's own strategy)",
    )
    hd_strategy_crop_trigger_size: Int = Field(1280, ge=1)
    hd_strategy_crop_margin: Int = Field(32, ge=0, le=4096)
    hd_strategy_resize_limit: Int = Field(2048, ge=64)
    prompt: str = ""
    negative_prompt: str = ""
    padding: Annotated[int, Field(ge=0, le=256), BeforeValidator(_not_a_bool)] | None = Field(None, description="pixels each region grows by (default: DEFAULT_PADDING)")
    mask_mode: Literal["box", "text"] | None = Field(
        None, description="box: repaint whole regions; text: only the glyph strokes plus a margin"
    )
    output_format: Literal["png", "jpeg", "jpg", "webp", "original", "input"] = Field(
        "png", description="png (default), jpeg, webp, or original: the input's own format"
    )
    quality: Int = Field(90, ge=1, le=100, validation_alias=AliasChoices("quality", "output_quality"),
                         description="JPEG/WebP quality")
    verify: StrictBool = Field(True, description="after inpainting, look for text left behind in each repainted "
                         "region and repaint what remains (false skips the check and its cost)")

    @field_validator("hd_strategy", mode="before")
    @classmethod
    def _strategy_case(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"original": "Original", "crop": "Crop", "resize": "Resize"}.get(v.strip().lower(), v)
        return v

    @field_validator("output_format", mode="before")
    @classmethod
    def _format_case(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    def to_input(self, image: bytes | str, mask: bytes | str | None, settings: Settings,
                 where: str = "") -> InpaintInput:
        """This body as the pipeline's input, its defaults from the settings. What the pipeline would
        refuse of the request as a whole (an empty payload here; nothing to remove, too many
        regions, a bad pattern in RegionsParams) is refused now, before a queue slot. `where`
        names a batch's item ("items[3]") in the errors."""
        images.require_payload(image)
        if mask is not None:
            images.require_payload(mask, "mask")
        mode = self.mask_mode or settings.default_mask_mode
        padding = self.padding if self.padding is not None else (
            settings.text_mode_padding if mode == "text" else settings.default_padding)
        return InpaintInput(
            image=image, mask=mask, padding=padding, mask_mode=mode,
            whole_padding=self.padding if self.padding is not None else settings.default_padding,
            output_format=self.output_format, quality=self.quality, verify=self.verify,
            model_params=self.model_params(), hd_strategy=self.hd_strategy if self.hd_strategy != "Original" else None,
            crop_margin=self.hd_strategy_crop_margin, crop_trigger=self.hd_strategy_crop_trigger_size)

    def model_params(self) -> dict[str, Any]:
        """What is passed to IOPaint (it ignores what it does not know)."""
        skip = {"padding", "mask_mode", "output_format", "quality", "image", "mask", "regions", "detect", "verify", "lines",
                "remove_text", "keep_text", "recognize", "describe"}
        out = {k: v for k, v in self.model_dump().items() if k not in skip}
        out.update({k: v for k, v in (self.model_extra or {}).items() if k.startswith(("cv2_", "sd_", "ldm_", "zits_"))})
        return out


# a pattern: an RE2 regular expression or a preset's name (@email...), the format `text-pattern`
# (API.md, "Remove only what matches"; checked by text_filter.compile_patterns, which JSON Schema
# cannot say); some text that is not only spaces, and the schema's maxLength and maxItems come from
# the settings
TEXT_PATTERN_FORMAT = "text-pattern"
TextPattern = Annotated[str, Field(min_length=1, pattern=NOT_BLANK, json_schema_extra={"format": TEXT_PATTERN_FORMAT})]


class TextParams(BaseModel):
    """Which lines to remove by what they say (API.md, "Remove only what matches"): the lines are
    the detected ones (`detect: true`) or the caller's regions."""

    model_config = _lenient
    remove_text: list[TextPattern] | None = Field(
        None, description="remove only the lines that match one of these patterns (RE2 regular expressions, "
        "case-insensitive; presets @email, @phone, @url, @number); where part of a line matches, only that part")
    keep_text: list[TextPattern] | None = Field(None, description="never remove a line that matches one of these patterns")
    recognize: StrictBool = Field(False, description="report what each line says (`text`) in the statistics")
    describe: StrictBool = Field(False, description="report how each line looks (`style`) in the statistics")


def something_to_remove(schema: dict[str, Any]) -> None:
    """Document the rule `RegionsParams.to_input` enforces (422 `no_regions`): a request names at least
    one region, a mask, or `detect: true`. Each branch repeats its field's own schema, so that a
    branch read alone (as a fuzzer may) still describes a valid value."""
    props = {k: {a: v for a, v in p.items() if a != "default"} for k, p in schema.get("properties", {}).items()}
    schema["anyOf"] = [{"required": [k], "properties": {k: {**props.get(k, {}), **rule}}}
                       for k, rule in (("regions", {"minItems": 1}), ("mask", {"type": "string"}),
                                       ("detect", {"const": True}))]


# a base64 image or mask, the format `base64-image`: base64 of an image file Pillow decodes (PNG,
# JPEG, WebP, GIF, BMP, TIFF...), maybe as a data: URL; what is not is 400 (`invalid_base64`,
# `invalid_image`), which JSON Schema cannot say. Not empty (422 `missing_image`, when it is read).
IMAGE_FORMAT = "base64-image"
B64Image = Annotated[str, Field(json_schema_extra={"format": IMAGE_FORMAT, "minLength": 1})]


def _string_or_null(schema: dict[str, Any]) -> None:
    """`{type: [string, null], format...}` for an optional image, not `anyOf` [the string, null]: the
    same values, with its format where a reader (a fuzzer, a code generator) looks for it."""
    options = schema.pop("anyOf")
    text = next(o for o in options if o.get("type") == "string")
    schema.update({**text, "type": ["string", "null"]})


OPTIONAL_IMAGE: dict[str, Any] = {"default": None, "json_schema_extra": _string_or_null}


class RegionsParams(InpaintParams, TextParams):
    model_config = ConfigDict(**_lenient, json_schema_extra=something_to_remove)
    regions: list[RegionIn] = Field(default_factory=list, description="text regions to remove")
    detect: StrictBool = Field(False, description="find the text with the built-in detector (inside `regions` if given)")

    def to_input(self, image: bytes | str, mask: bytes | str | None, settings: Settings,
                 where: str = "") -> InpaintInput:
        """InpaintParams.to_input, with the regions, `detect` and the text patterns."""
        job = super().to_input(image, mask, settings, where)
        what, prefix = where or "the request", f"{where}." if where else ""
        regions = [r.to_region(f"{prefix}regions[{i}]") for i, r in enumerate(self.regions)]
        if not regions and not self.detect and mask is None:
            raise InvalidInput(f"{what} has no regions: give at least one region, a mask, or detect: true",
                               code="no_regions")
        if len(regions) > settings.max_regions:
            raise InvalidInput(f"{len(regions)} regions in {what}, over the limit of {settings.max_regions}",
                               code="too_many_regions")
        # refused here, before a queue slot, as the pipeline would (one rule: text_filter.compile_patterns)
        text_filter.compile_patterns(self.remove_text, self.keep_text, max_length=settings.text_pattern_max_length,
                                     max_count=settings.text_patterns_max)
        return replace(job, regions=regions, detect=self.detect, remove_text=self.remove_text,
                       keep_text=self.keep_text, recognize=self.recognize, describe=self.describe)


_strict = ConfigDict(extra="forbid", allow_inf_nan=False)  # a style's misspelt field is an error, not ignored
# a font a line may name (the format `font-name`): sans, serif or an installed family, any case
# (GET /api/v1/fonts; checked by engine/render.check_fonts: which fonts are installed is the server's)
FONT_FORMAT = "font-name"
ColorIn = Annotated[str, Field(pattern="^#[0-9a-fA-F]{6}$", description="#rrggbb")]
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # one line: no newline, tab or other control character


class OutlineIn(BaseModel):
    model_config = _strict
    color: ColorIn
    width: Float = Field(gt=0, le=64, description="px the band reaches beyond the glyphs")


Offset = Annotated[float, Field(ge=-64, le=64), BeforeValidator(_not_a_bool)]  # px, a shadow's reach each way


class ShadowIn(BaseModel):
    model_config = _strict
    color: ColorIn
    offset: tuple[Offset, Offset] = Field(description="[dx, dy] px, image coordinates (+x right, +y down), at most "
                                          "64 each way")


class StyleIn(BaseModel):
    """How the new text should look: each field given replaces what the service measures on the old
    line (`describe`'s style); a field left out is measured. `outline: null` or `shadow: null` asks
    for none."""

    model_config = _strict
    text_color: ColorIn | None = Field(None, description="#rrggbb of the glyphs")
    outline: OutlineIn | None = Field(None, description="{color, width}, or null for none")
    shadow: ShadowIn | None = Field(None, description="{color, offset: [dx, dy]}, or null for none")
    # bounds inside the optional type, so that the schema states them (JSON Schema's minimum, maximum)
    font_size: Annotated[float, Field(ge=1, le=2000), BeforeValidator(_not_a_bool)] | None = Field(
        None, description="px, the em size to start from (it shrinks where the text would leave its box)")
    angle: Annotated[float, Field(ge=-180, le=180), BeforeValidator(_not_a_bool)] | None = Field(
        None, description="degrees of the baseline (describe's sign rule)")
    vertical: StrictBool | None = Field(None, description="write top to bottom, glyphs stacked down a column")
    bold: StrictBool | None = Field(None, description="the bold face")
    font: Annotated[str, Field(min_length=1, max_length=100, json_schema_extra={"format": FONT_FORMAT})] | None = Field(
        None, description="`sans` (the default), `serif`, or an installed font's family name (GET /api/v1/fonts)")

    @field_validator("text_color")
    @classmethod
    def _lower(cls, v: str | None) -> str | None:
        return v.lower() if v is not None else v

    def wish(self) -> render.StyleWish:
        """The engine's request: the given fields (null included) replace the measure."""
        # a null outline or shadow asks for none; any other null is as if left out: measured
        given = tuple(k for k in self.model_fields_set if k in ("outline", "shadow") or getattr(self, k) is not None)
        return render.StyleWish(
            text_color=self.text_color,
            outline=Outline(self.outline.color.lower(), self.outline.width) if self.outline else None,
            shadow=Shadow(self.shadow.color.lower(), self.shadow.offset) if self.shadow else None,
            font_size=self.font_size, angle=self.angle, vertical=self.vertical, bold=self.bold, font=self.font,
            given=given)


# one line of text an installed font can write (the format `line-text`: API.md, "Replacing text";
# checked by engine/render.check_fonts, which JSON Schema cannot say: which glyphs the fonts hold)
LINE_TEXT_FORMAT = "line-text"


class LineIn(BaseModel):
    model_config = _strict
    region: RegionIn = Field(description="where the old line is: a box or a polygon, as in `regions`")
    text: str = Field(max_length=1000, pattern=NO_CONTROL, json_schema_extra={"format": LINE_TEXT_FORMAT},
                      description="the new text, one line (empty: the old text is removed, nothing written)")
    style: StyleIn | None = Field(None, description="what to change of the measured look (any field of `style`)")
    align: Literal["start", "center", "end"] = Field("start", description=(
        "where a text shorter than the old one sits: from where the old text started (start), on its centre, or "
        "ending where it ended"))


class ReplaceParams(InpaintParams):
    model_config = _lenient
    lines: list[LineIn] = Field(min_length=1, description="the lines to rewrite: where, what, and how it looks",
                                examples=[[{"region": {"x": 40, "y": 80, "width": 160, "height": 40}, "text": "SALE"}]])

    def to_input(self, image: bytes | str, mask: bytes | str | None, settings: Settings,
                 where: str = "") -> InpaintInput:
        """InpaintParams.to_input, with each line's region to remove and its new text to write."""
        job = super().to_input(image, mask, settings, where)
        if len(self.lines) > settings.max_regions:
            raise InvalidInput(f"{len(self.lines)} lines, over the limit of {settings.max_regions}",
                               code="too_many_regions")
        write = [render.NewText(line.region.to_region(f"lines[{i}].region"), line.text,
                                line.style.wish() if line.style else render.StyleWish(), line.align)
                 for i, line in enumerate(self.lines)]
        return replace(job, regions=[w.region for w in write], write=write)


class ReplaceBody(ReplaceParams):
    image: B64Image = Field(description="base64 image (a data: URL prefix is allowed)")


class InpaintBody(InpaintParams):
    image: B64Image = Field(description="base64 image (a data: URL prefix is allowed)")
    mask: B64Image = Field(description="base64 mask image, white (non-zero) = repaint; of the image's shape: at "
                           "another size (aspect within 1%) it is scaled to the image, another shape is 422 "
                           "mask_size_mismatch")


class RegionsBody(RegionsParams):
    image: B64Image = Field(description="base64 image (a data: URL prefix is allowed)")
    mask: B64Image | None = Field(description="optional base64 mask, added to the regions", **OPTIONAL_IMAGE)


class DetectParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    regions: list[RegionIn] = Field(default_factory=list, description="search only inside these regions")
    recognize: StrictBool = Field(False, description="also read each line: its `text` and `text_score`")
    describe: StrictBool = Field(False, description="also measure how each line looks: its `style`")


class DetectBody(DetectParams):
    image: B64Image = Field(description="base64 image (a data: URL prefix is allowed)")


class AsyncOptions(BaseModel):
    task_id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$",
                                description="caller-chosen id, used as given (a new UUID otherwise)")
    enable_progress: StrictBool = True
    progress_interval: Float = Field(0.0, ge=0, le=60, description="seconds between progress_update messages")
    # checked in code (app.tasks.callbacks, CallbackPolicy.check_url), kept as sent
    callback_url: str | None = Field(None, max_length=2048, json_schema_extra={"format": "uri"}, description=(
        "http(s) URL told the end of the task (POST, JSON). Valid: http or https, an optional user:password@, "
        "an ASCII host name (its last label no number), a plain dotted IPv4 address or a bracketed IPv6 address "
        "without zone id, an optional port 0-65535 without leading zeros, no space or control character; "
        "cloud-metadata, link-local, multicast and unspecified targets are refused (API.md, Callback)"))


class AsyncRegionsParams(RegionsParams, AsyncOptions):
    pass


class AsyncRegionsBody(RegionsBody, AsyncRegionsParams):
    pass


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=something_to_remove)
    image: B64Image = Field(min_length=1, description="base64 image (a data: URL prefix is allowed)")
    regions: list[RegionIn] = Field(default_factory=list)
    mask: B64Image | None = Field(**OPTIONAL_IMAGE)
    detect: StrictBool = False
    name: str | None = Field(None, max_length=200, description="echoed in the result file name")


class BatchBody(InpaintParams, TextParams, AsyncOptions):
    items: list[BatchItemIn] = Field(min_length=1, description="images, each with its regions, mask or detect")
