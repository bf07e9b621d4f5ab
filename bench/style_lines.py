"""Text lines of known style, drawn with Pillow: the truth tests/test_describe.py and
bench/style_bench.py measure `describe` against (one renderer for both).

A line is drawn on a transparent layer (shadow first, then the ink with its outline), turned by
`angle` degrees counter-clockwise on screen (Pillow's rotate: the service's sign convention),
and laid over the background. Its region is the polygon around the drawn glyphs, grown by a
sixth of the size, turned the same way: what a detector would hand back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SANS_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # Debian fonts-noto-cjk
CJK_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """What is drawn: the truth a description is scored against."""

    text: str
    size: int = 32  # px, the font's em size
    font: str = SANS
    color: RGB = (200, 30, 30)
    gradient_to: RGB | None = None  # the ink runs from `color` (left) to this (right)
    outline: tuple[int, RGB] | None = None  # width px, colour
    shadow: tuple[tuple[int, int], RGB] | None = None  # (dx, dy) px, colour
    angle: float = 0.0  # degrees, counter-clockwise on screen
    vertical: bool = False  # characters stacked top to bottom

    @property
    def bold(self) -> bool:
        return "Bold" in self.font


def styled_line(bg: np.ndarray, look: Look, at: tuple[int, int] = (30, 30)) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """`bg` (H x W x 3 uint8) with the line drawn on it at `at` (the layer's top-left), and the
    line's region (4 points, image pixels)."""
    font = ImageFont.truetype(look.font, look.size)
    pad = look.size
    if look.vertical:
        w, h = look.size, look.size * len(look.text)
    else:
        ascent, descent = font.getmetrics()
        w, h = int(font.getlength(look.text)) + 1, ascent + descent
    ink = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(ink)

    def text(dx: int, dy: int, fill: tuple[int, ...], **kw: object) -> None:
        if look.vertical:
            for i, ch in enumerate(look.text):
                draw.text((pad + dx, pad + dy + i * look.size), ch, font=font, fill=fill, **kw)  # type: ignore[arg-type]
        else:
            draw.text((pad + dx, pad + dy), look.text, font=font, fill=fill, **kw)  # type: ignore[arg-type]

    if look.shadow:
        (sx, sy), colour = look.shadow
        text(sx, sy, (*colour, 255))
    if look.gradient_to is not None:  # the ink's shape, filled with a left-to-right ramp
        shape = Image.new("L", ink.size, 0)
        ImageDraw.Draw(shape).text((pad, pad), look.text, font=font, fill=255)
        t = np.linspace(0, 1, ink.width)[None, :, None]
        ramp = (np.asarray(look.color) * (1 - t) + np.asarray(look.gradient_to) * t).astype(np.uint8)
        ramp = np.repeat(ramp, ink.height, axis=0)
        ink.paste(Image.fromarray(ramp, "RGB"), (0, 0), shape)
    elif look.outline:
        width, colour = look.outline
        text(0, 0, (*look.color, 255), stroke_width=width, stroke_fill=(*colour, 255))
    else:
        text(0, 0, (*look.color, 255))
    box = ink.getbbox() or (0, 0, ink.width, ink.height)
    turned = ink.rotate(look.angle, resample=Image.Resampling.BICUBIC, expand=True)
    out = Image.fromarray(bg).convert("RGBA")
    out.alpha_composite(turned, at)
    grow = max(3, look.size // 6)
    x0, y0, x1, y1 = box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow
    a = math.radians(look.angle)
    cx, cy, tx, ty = ink.width / 2, ink.height / 2, turned.width / 2, turned.height / 2
    points = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        dx, dy = x - cx, y - cy  # turned counter-clockwise on screen (y down)
        points.append((at[0] + tx + dx * math.cos(a) + dy * math.sin(a), at[1] + ty - dx * math.sin(a) + dy * math.cos(a)))
    return np.asarray(out.convert("RGB")), tuple(points)


def delta_e(a: str | RGB, b: str | RGB) -> float:
    """CIE76 delta E between two colours (#rrggbb or RGB)."""
    import cv2

    def lab(c: str | RGB) -> np.ndarray:
        rgb = tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) if isinstance(c, str) else c
        px = np.asarray(rgb, np.float32).reshape(1, 1, 3) / 255.0
        return np.asarray(cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(3), np.float64)

    return float(np.linalg.norm(lab(a) - lab(b)))
