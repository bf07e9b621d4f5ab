"""A text line's look as answers carry it (`style`, with `describe: true`; API.md, "Describing a
line"). The fields mirror app.engine.ocr.describe.LineStyle, and `Style.of` is the one way from
that dataclass to this model (the responses' `.of` builders call it; where plain JSON travels,
tasks, callbacks and workers, the dataclass goes in app.wire's form; tests keep the two equal)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.engine.ocr.describe import LineStyle

Color = Annotated[str, Field(pattern="^#[0-9a-f]{6}$")]  # #rrggbb
_from_dataclass = ConfigDict(from_attributes=True)


class Outline(BaseModel):
    model_config = _from_dataclass
    color: Color = Field(description="#rrggbb: the band of a third colour around the ink")
    width: float = Field(description="px: how far the band reaches beyond the ink")


class Shadow(BaseModel):
    model_config = _from_dataclass
    color: Color = Field(description="#rrggbb: the shadow's colour")
    offset: tuple[float, float] = Field(description="[dx, dy] px from the ink to its shadow, image coordinates "
                                        "(+x right, +y down)")


class Style(BaseModel):
    """How the line looks; a field is null where it could not be measured."""

    model_config = _from_dataclass
    text_color: Color | None = Field(description=(
        "#rrggbb: the ink's dominant colour (the median of its core, anti-aliased edges left out)"))
    background_color: Color | None = Field(description=(
        "#rrggbb: the colour around the line (the median of a ring around its region)"))
    text_color_spread: float | None = Field(description=(
        "how much the ink's colour varies: the 90th percentile of the CIE76 delta E between the ink's core "
        "pixels and text_color; about 0-5 for one flat colour, 20 and more for a gradient or several colours "
        "(text_color is then the dominant one)"))
    outline: Outline | None = Field(description="a thin band of a third colour hugging the ink, or null")
    shadow: Shadow | None = Field(description="a copy of the ink in another colour, offset a few px, or null")
    font_size: float | None = Field(description=(
        "px: the em size of a font that renders the line at its measured height (Latin: cap height / 0.73; "
        "CJK: ink height / 0.92)"))
    angle: float = Field(description=(
        "degrees of the baseline, counter-clockwise positive as seen on screen (text rising to the right is "
        "positive), in (-90, 90]; for a vertical line, the column's turn away from straight down"))
    vertical: bool = Field(description="true for a top-to-bottom line (glyphs stacked down a column)")
    bold: bool | None = Field(description=(
        "stroke width / font_size above 0.118 for Latin (DejaVu Sans 0.08-0.10, Bold 0.13-0.16), above 0.088 for "
        "CJK (Noto Sans CJK Regular 0.07-0.08, Bold 0.10-0.15)"))

    @classmethod
    def of(cls, style: LineStyle) -> Style:
        """The answer's model of the engine's measure."""
        return cls.model_validate(style)
