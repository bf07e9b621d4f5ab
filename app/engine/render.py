"""Writing a line's new text where its old text was, the way it looked (replace-text).

    the line's look: what describe measured on the source (engine/ocr/describe.py), each field the
        caller gave replacing the measure
    -> its frame: the region's extent along the reading direction (the look's angle; vertical
        lines read top to bottom) and across it
    -> the font (engine/fonts.py's rule) at the look's size; the text laid out on an upright
        canvas: on the old text's baseline (Latin-like lines) or centred on its ink (CJK-like and
        vertical lines), starting where the old ink started (align `start`), centred on it
        (`center`) or ending where it ended (`end`); a text longer than the line's box shrinks
        until it fits, a shorter one keeps its size
    -> glyph coverage (anti-aliased by FreeType) for the fill, the outline (the glyphs stroked
        by the outline's width) and the shadow (the outlined glyphs moved by its offset), each
        turned into the image by one affine warp (bilinear) and clipped to the region grown by the
        removal's padding (nothing beyond it changes)
    -> composited: shadow, outline, fill, each in its colour.

A line without a measured size takes the one that fills its box across; without a colour, black
or white, whichever stands out more from the cleaned background. Pure numpy, OpenCV and Pillow;
no web imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.engine import masks
from app.engine.fonts import Face, FontBook
from app.engine.ocr.describe import InkSpan, LineStyle, Measured, Outline, Shadow
from app.errors import InvalidInput
from app.geometry import Region

ALIGNS = ("start", "center", "end")
MIN_SIZE = 4.0  # px: the smallest em a line shrinks to
DEFAULT_FONT = "sans"


@dataclass(frozen=True)
class StyleWish:
    """The look a caller asks for: the fields in `given` replace what is measured (a given null
    outline or shadow: none); `font` is a family (engine/fonts.py), `sans` by default."""

    text_color: str | None = None
    outline: Outline | None = None
    shadow: Shadow | None = None
    font_size: float | None = None
    angle: float | None = None
    vertical: bool | None = None
    bold: bool | None = None
    font: str | None = None
    given: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewText:
    """One line to write: where (the old line's region), what, how it should look, and where along
    the line it sits when shorter than the old text (start, center or end)."""

    region: Region
    text: str
    style: StyleWish = field(default_factory=StyleWish)
    align: str = "start"


@dataclass(frozen=True)
class Written:
    """What was written for a line: the face, the em size used (px), whether the text had to shrink
    to fit its box (and the size it would have had), and the look it was written in."""

    font: str | None
    font_size: float | None
    shrunk: bool
    wanted_size: float | None
    style: LineStyle
    truncated: bool = False  # too long for its box even at the least size: cut where the box (and padding) ends


def check_fonts(lines: list[NewText], book: FontBook) -> None:
    """Refuse (422, naming the line and the field) what no installed font can write, before any
    work is done: an unknown font, or a text with a character no font holds."""
    for i, line in enumerate(lines):
        font = line.style.font or DEFAULT_FONT
        if not book.known(font):
            families = sorted({f.family for f in book.faces})
            raise InvalidInput(
                f"lines[{i}].style.font: no font {font!r} is installed (sans, serif, or one of: "
                f"{', '.join(families) or 'none'})", code="unknown_font",
                errors=[_error(i, "style", "font", f"no font {font!r} is installed", "unknown_font")])
        if line.text.strip() and book.pick(line.text, font, bool(line.style.bold)) is None:
            missing = "".join(book.missing(line.text)) or line.text
            why = (f"no installed font holds a glyph for {missing!r}" if book.faces
                   else "no fonts are installed (see docs/DEPLOYMENT.md, fonts)")
            raise InvalidInput(f"lines[{i}].text cannot be written: {why}", code="unrenderable_text",
                               errors=[_error(i, "text", None, why, "unrenderable_text")])


def _error(i: int, name: str, sub: str | None, msg: str, kind: str) -> dict[str, object]:
    loc: list[object] = ["lines", i, name] + ([sub] if sub else [])
    return {"loc": loc, "msg": msg, "type": kind}


def look_of(measured: LineStyle, wish: StyleWish) -> LineStyle:
    """The measured look with the caller's given fields in its place."""
    given = {f.name: getattr(wish, f.name) for f in fields(wish) if f.name in wish.given and f.name != "font"}
    return replace(measured, **given)


@dataclass(frozen=True)
class Planned:
    """A line laid out before anything is repainted (`plan`), for `write` to draw afterwards."""

    line: NewText
    style: LineStyle  # the look written (the size: the one drawn)
    face: Face | None  # None: no text, nothing to draw
    wanted: float | None  # the em the look asked for
    layout: _Layout | None = None
    frame: _Frame | None = None
    offset: tuple[float, float] = (0.0, 0.0)
    truncated: bool = False  # it fits at no size down to MIN_SIZE: written at it, cut at the reach


def plan(lines: list[NewText], measured: list[Measured], book: FontBook, width: int, height: int) -> list[Planned]:
    """Each line's face, size and place on a `width` x `height` image, from its look, worked out
    before the removal (what it costs does not grow with the repainted image)."""
    out = []
    for line, m in zip(lines, measured):
        style = look_of(m.style, line.style)
        overridden = any(k in line.style.given for k in ("angle", "vertical"))
        out.append(_plan_line(line, style, None if overridden else m.ink, book, width, height))
    return out


def write(out: np.ndarray, planned: list[Planned], padding: int) -> tuple[list[Written], np.ndarray]:
    """Draw every planned line into `out` (H x W x 3 uint8 RGB, in place). Returns what was written
    and the pixels changed (H x W bool)."""
    h, w = out.shape[:2]
    changed = np.zeros((h, w), bool)
    report = []
    for p in planned:
        if p.face is None or p.layout is None or p.frame is None:
            report.append(Written(None, None, False, None, p.style))
            continue
        colour = p.style.text_color or _contrasting(out, p.line.region)
        style = replace(p.style, text_color=colour)
        _composite(out, changed, p.layout, p.frame, p.offset, style, colour, p.line.region, padding)
        size = p.layout.size
        report.append(Written(p.face.name, size, size < round(p.wanted or size), round(p.wanted or size, 1), style,
                              p.truncated))
    return report, changed


@dataclass(frozen=True)
class _Frame:
    """An upright canvas laid on the image: its (0, 0) at `origin`, +x along `u`, +y along `v`
    (unit vectors in image pixels); `size` covers the region."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    size: tuple[float, float]  # width, height

    def canvas(self, p: tuple[float, float]) -> tuple[float, float]:
        d = np.asarray(p, np.float64) - self.origin
        return float(d @ self.u), float(d @ self.v)


def _frame(region: Region, angle: float, vertical: bool) -> _Frame:
    """Horizontal: +x along the baseline, +y down the glyphs. Vertical: +x to the column's right,
    +y down the column. The angle's sign rule is describe's (counter-clockwise on screen)."""
    a = math.radians(angle)
    if vertical:
        axis = np.array([math.sin(a), math.cos(a)])
        u, v = np.array([axis[1], -axis[0]]), axis
    else:
        u = np.array([math.cos(a), -math.sin(a)])
        v = np.array([-u[1], u[0]])
    pts = np.asarray(region.points, np.float64)
    xs, ys = pts @ u, pts @ v
    origin = u * xs.min() + v * ys.min()
    return _Frame(origin, u, v, (float(xs.max() - xs.min()), float(ys.max() - ys.min())))


@dataclass(frozen=True)
class _Layout:
    font: ImageFont.FreeTypeFont
    size: float
    stroke: int
    glyphs: list[tuple[str, float, float]]  # (text, x, y) anchored at its left baseline ("ls")
    box: tuple[float, float, float, float]  # the ink's extent on the canvas, the stroke included


def _font(face: Face, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size=max(1.0, size), index=face.index, layout_engine=ImageFont.Layout.BASIC)


def _lay(face: Face, text: str, size: float, stroke_of_em: float, vertical: bool, rough: bool = False) -> _Layout:
    """The text at `size`, its ink's extent with its left baseline at (0, 0) (horizontal), or its
    glyphs stacked one em apart, each centred on x = 0, the first em's top at y = 0 (vertical).
    `rough`: the extent from the font's metrics alone (no glyph drawn: cheap at any size), for a
    first fit."""
    font = _font(face, size)
    stroke = max(1, round(stroke_of_em * size)) if stroke_of_em > 0 else 0
    if rough:
        if vertical:
            return _Layout(font, size, stroke, [], (-size / 2, 0.0, size / 2, len(text) * size))
        x0, y0, x1, y1 = font.getbbox(text, anchor="ls", stroke_width=stroke)
        return _Layout(font, size, stroke, [], (float(x0), float(y0), float(x1), float(y1)))
    if not vertical:
        return _Layout(font, size, stroke, [(text, 0.0, 0.0)], _ink_box(font, text, stroke))
    glyphs, boxes = [], []
    ascent, descent = font.getmetrics()
    for k, c in enumerate(text):
        if c.isspace():
            continue
        gx0, gy0, gx1, gy1 = _ink_box(font, c, stroke)
        x = -(gx0 + gx1) / 2  # centred on the column
        y = k * size + size * ascent / max(1, ascent + descent)  # the em box's baseline
        glyphs.append((c, x, y))
        boxes.append((x + gx0, y + gy0, x + gx1, y + gy1))
    if not boxes:
        return _Layout(font, size, stroke, [], (0.0, 0.0, 0.0, 0.0))
    b = np.asarray(boxes)
    return _Layout(font, size, stroke, glyphs, (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))


def _ink_box(font: ImageFont.FreeTypeFont, text: str, stroke: int) -> tuple[float, float, float, float]:
    """The inked pixels' extent of `text` anchored at its left baseline (Pillow's getbbox counts
    the advance from the pen, side bearings included: the ink is what must align and fit)."""
    mask, (ox, oy) = font.getmask2(text, anchor="ls", stroke_width=stroke)
    bb = mask.getbbox()
    if bb is None:
        x0, y0, x1, y1 = font.getbbox(text, anchor="ls", stroke_width=stroke)
        return float(x0), float(y0), float(x1), float(y1)
    return float(ox + bb[0]), float(oy + bb[1]), float(ox + bb[2]), float(oy + bb[3])


def _plan_line(line: NewText, style: LineStyle, ink: InkSpan | None, book: FontBook, width: int,
               height: int) -> Planned:
    if not line.text.strip():
        return Planned(line, style, None, None)
    face = book.pick(line.text, line.style.font or DEFAULT_FONT, bool(style.bold))
    assert face is not None, "check_fonts refuses a line no font can write"
    frame = _frame(line.region.clamped(width, height), style.angle, style.vertical)
    across = frame.size[0] if style.vertical else frame.size[1]
    span = _span_on(frame, ink, style.vertical, style.outline.width if style.outline else 0.0) if ink else None
    wanted = style.font_size
    if wanted is None or ("font_size" not in line.style.given and not 0.2 * across <= wanted <= 1.5 * across):
        # none measured, or a misreading (a size the line could not hold): its ink's place is no guide either
        wanted, span = _filling_size(face, line.text, across, style.vertical), None
    stroke_of_em = style.outline.width / wanted if style.outline is not None else 0.0
    least = min(MIN_SIZE, float(round(wanted)))
    # whole pixel sizes (FreeType hints at whole ppem: 11.4 px draws as 11); a first fit from the
    # metrics (a long text at a large size is never drawn whole), then by the ink
    rough = _room(_lay(face, line.text, round(wanted), stroke_of_em, style.vertical, rough=True), frame, span,
                  line.align, style.vertical)
    size = float(round(wanted)) if rough <= 1.0 else max(least, float(math.floor(wanted / rough)))
    lay = _lay(face, line.text, size, stroke_of_em, style.vertical)
    room = _room(lay, frame, span, line.align, style.vertical)
    for step in range(12):  # shrink until it fits, a pixel at a time at least (then the least size, once)
        if room <= 1.0 or size <= least:
            break
        size = least if step == 11 else max(least, min(size - 1, float(math.floor(size / room))))
        lay = _lay(face, line.text, size, stroke_of_em, style.vertical)
        room = _room(lay, frame, span, line.align, style.vertical)
    # a text that fits at no size down to the least is written at it and cut at the reach: reported
    offset = _place(lay, frame, span, line.align, style.vertical)
    return Planned(line, replace(style, font_size=size), face, wanted, lay, frame, offset, truncated=room > 1.0)


@dataclass(frozen=True)
class _Span:
    """The old ink on the canvas: its extent along the line (x0, x1 horizontal; y0, y1 vertical),
    across it, and its baseline's y (Latin-like horizontal lines)."""

    along: tuple[float, float]
    across: tuple[float, float]
    baseline: float | None


def _span_on(frame: _Frame, ink: InkSpan, vertical: bool, outline: float) -> _Span:
    """The old ink on the canvas, its outline included (the new text's extent includes its own)."""
    pts = [frame.canvas(p) for p in ink.corners]
    xs = [min(p[0] for p in pts) - outline, max(p[0] for p in pts) + outline]
    ys = [min(p[1] for p in pts) - outline, max(p[1] for p in pts) + outline]
    if vertical:
        return _Span((min(ys), max(ys)), (min(xs), max(xs)), None)
    base = None
    if ink.baseline is not None:
        base = sum(frame.canvas(p)[1] for p in ink.baseline) / 2
    return _Span((min(xs), max(xs)), (min(ys), max(ys)), base)


def _filling_size(face: Face, text: str, across: float, vertical: bool) -> float:
    """The em at which a line of the face's full height fills 90 % of `across` (no size measured):
    a capital and a descender (`Hg`), or an ideograph for a CJK face, whatever the text itself
    reaches, so that `x` in a box is as large as `Hg` would be, not a capital's size."""
    probe = 100.0
    sample = "中" if face.cjk and (vertical or not text.isascii()) else "W" if vertical else "Hg"
    lay = _lay(face, sample, probe, 0.0, vertical, rough=True)
    x0, y0, x1, y1 = lay.box
    ink = (x1 - x0) if vertical else (y1 - y0)
    return max(MIN_SIZE, probe * 0.9 * across / max(1.0, ink))


def _extent(lay: _Layout, vertical: bool) -> tuple[float, float, float, float]:
    """along length, across length, along start offset, across start offset of the laid ink."""
    x0, y0, x1, y1 = lay.box
    return ((y1 - y0, x1 - x0, y0, x0) if vertical else (x1 - x0, y1 - y0, x0, y0))


def _anchor(frame: _Frame, span: _Span | None, vertical: bool) -> tuple[float, float, float]:
    """The along positions the text may use: where it starts (start), its centre (center), where it
    ends (end): the old ink's, or the box's where no ink was measured; and the box's end."""
    length = frame.size[1] if vertical else frame.size[0]
    a0, a1 = span.along if span is not None else (0.0, length)
    a0, a1 = max(0.0, a0), min(length, a1)
    return a0, a1, length


def _room(lay: _Layout, frame: _Frame, span: _Span | None, align: str, vertical: bool) -> float:
    """How many times the text overfills the room it has (> 1: it must shrink)."""
    along, across, _, _ = _extent(lay, vertical)
    a0, a1, length = _anchor(frame, span, vertical)
    if align == "start":
        avail = length - a0
    elif align == "end":
        avail = a1
    else:
        c = (a0 + a1) / 2
        avail = 2 * min(c, length - c)
    thick = frame.size[0] if vertical else frame.size[1]
    return max(along / max(1.0, avail), across / max(1.0, thick))


def _place(lay: _Layout, frame: _Frame, span: _Span | None, align: str, vertical: bool) -> tuple[float, float]:
    """The canvas offset of the layout's origin: along by `align`, across on the old baseline (or
    centred on the old ink, or on the box), then moved inside the box where it would leave it."""
    along, across, a_off, c_off = _extent(lay, vertical)
    a0, a1, length = _anchor(frame, span, vertical)
    start = a0 if align == "start" else a1 - along if align == "end" else (a0 + a1 - along) / 2
    start = min(max(start, 0.0), max(0.0, length - along))
    thick = frame.size[0] if vertical else frame.size[1]
    if not vertical and span is not None and span.baseline is not None:
        top = span.baseline + c_off  # c_off: the ink's top relative to the baseline (negative)
    elif span is not None:
        top = (span.across[0] + span.across[1] - across) / 2
    else:
        top = (thick - across) / 2
    top = min(max(top, 0.0), max(0.0, thick - across))
    if vertical:
        return top - c_off, start - a_off
    return start - a_off, top - c_off


def _contrasting(out: np.ndarray, region: Region) -> str:
    """Black or white, whichever stands out more from the (cleaned) pixels under the region (drawn
    on its own bounding box, not a mask of the whole image)."""
    h, w = out.shape[:2]
    box = masks.pixel_box(region, w, h)
    m = masks.regions_to_mask([region.shifted(-box.x0, -box.y0)], box.width, box.height, 0) > 0
    luma = float(np.mean(out[box.slices][m] @ np.array([0.299, 0.587, 0.114]))) if m.any() else 255.0
    return "#000000" if luma > 128 else "#ffffff"


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.float32)


def _composite(out: np.ndarray, changed: np.ndarray, lay: _Layout, frame: _Frame, offset: tuple[float, float],
               style: LineStyle, colour: str, region: Region, padding: int) -> None:
    """Draw the layout's fill, outline and shadow coverage on a canvas, warp each into the image,
    clip to the region grown by `padding`, and composite them in their colours."""
    h, w = out.shape[:2]
    shadow = style.shadow.offset if style.shadow is not None else (0.0, 0.0)
    grow = 2 + lay.stroke + math.ceil(max(abs(shadow[0]), abs(shadow[1])))
    cw, ch = math.ceil(frame.size[0]) + 2 * grow, math.ceil(frame.size[1]) + 2 * grow
    fill = Image.new("L", (cw, ch), 0)
    outer = Image.new("L", (cw, ch), 0) if lay.stroke else None
    for text, x, y in lay.glyphs:
        at = (x + offset[0] + grow, y + offset[1] + grow)
        ImageDraw.Draw(fill).text(at, text, fill=255, font=lay.font, anchor="ls")
        if outer is not None:
            ImageDraw.Draw(outer).text(at, text, fill=255, font=lay.font, anchor="ls", stroke_width=lay.stroke,
                                       stroke_fill=255)
    # the canvas (with its margin) onto the image, and the part of the image it can touch
    origin = frame.origin - (frame.u + frame.v) * grow
    corners = [origin + frame.u * cx + frame.v * cy for cx in (0, cw) for cy in (0, ch)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    x0, y0 = max(0, math.floor(min(xs)) - 1), max(0, math.floor(min(ys)) - 1)
    x1, y1 = min(w, math.ceil(max(xs)) + 2), min(h, math.ceil(max(ys)) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    allowed = masks.regions_to_mask([region.shifted(-x0, -y0)], x1 - x0, y1 - y0, padding) > 0

    def warped(layer: Image.Image, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        o = origin + np.array([dx, dy]) - np.array([x0, y0])
        m = np.array([[frame.u[0], frame.v[0], o[0]], [frame.u[1], frame.v[1], o[1]]], np.float32)
        a = cv2.warpAffine(np.asarray(layer, np.float32) / 255.0, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a[~allowed] = 0
        return a

    body = outer if outer is not None else fill
    patch = out[y0:y1, x0:x1].astype(np.float32)
    layers: list[tuple[np.ndarray, str]] = []
    if style.shadow is not None:
        layers.append((warped(body, *style.shadow.offset), style.shadow.color))
    if outer is not None and style.outline is not None:
        layers.append((warped(outer), style.outline.color))
    layers.append((warped(fill), colour))
    touched = np.zeros(allowed.shape, bool)
    for alpha, c in layers:
        a = alpha[..., None]
        patch = patch * (1 - a) + _rgb(c) * a
        touched |= alpha > 0.002
    new = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1][touched] = new[touched]
    changed[y0:y1, x0:x1] |= touched
