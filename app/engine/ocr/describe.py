"""How a text line looks: its colours, outline, shadow, size, angle, direction and weight
(`describe`), so that a caller can write new text the way the old text looked (issue 28).

    region -> its min-area rectangle, the reading direction along its long side (vertical where
        the rectangle stands 1.5x taller than wide and its ink stacks in square-ish glyphs)
        -> the rectangle and a ring around it warped upright (text runs left to right), its
        short side scaled to at most 96 px (the measures are scaled back)
        -> k-means (4 clusters) of the rectangle's pixels in CIE Lab; a cluster is background
        where it is about as present in the ring as inside, foreground where it is not
        -> among the foreground clusters the ink is the deepest one (farthest from the
        background); a foreground cluster of a third colour that hugs the ink all round is an
        outline, one that is the ink's own shape shifted a few pixels is a shadow; one whose
        colour lies between the ink's and the background's is anti-aliasing, ink of a second
        shade (a gradient) is ink
        -> colours, spread, size, stroke width from the ink mask; the angle from the rectangle

Units and rules (docs/API.md says the same to callers):
- colours are `#rrggbb`; `text_color` is the median of the core of the ink's main cluster (the
  half of its pixels farthest from the background colour, so anti-aliased edges do not dilute
  it); `background_color` the median of the ring; `text_color_spread` the 90th percentile of the
  CIE76 delta E between the core of all the ink (its other shades included) and `text_color`
  (about 0-5: one flat colour; 20 and more: a gradient or several colours, `text_color` then
  being the dominant one). An outline's or shadow's colour is the median of the quarter of its
  pixels farthest from both the ink's and the background's colours.
- an outline or a shadow is the better fit of the third colour, tried with the ink and it both
  ways round (a thick outline can look deeper than thin ink); one per line.
- `font_size` is the em size in px: Latin-like ink (an x-height band below taller capitals
  and ascenders) from its cap height (top of the ink to its baseline) over CAP_EM; CJK-like
  ink (square glyphs filling the line) from its height over CJK_EM. Both ratios are Pillow's
  measures of DejaVu Sans / Noto Sans (H: 0.729-0.733 em) and Noto Sans CJK (ideographs:
  0.92 em).
- `angle` is the baseline's direction in degrees, counter-clockwise positive as seen on screen
  (text rising to the right is positive; in image coordinates, y down, it is -atan2(dy, dx) of
  the baseline read left to right), in (-90, 90]. For a vertical line it is the angle of the
  column away from straight down, with the same sign rule.
- `bold`: stroke width (2 x ink area / ink perimeter) over the font size above BOLD_ABOVE for
  Latin-like ink, BOLD_ABOVE_CJK for CJK-like ink (ideographs' strokes are thinner for their em).

Pure numpy and OpenCV, a few ms per line. Imports nothing of the engine (the OCR package's
contract) but the shared geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.geometry import Region

CAP_EM = 0.73  # cap height / em: DejaVu Sans 0.729, Noto Sans 0.733 (Pillow, 'H' at 1000 px)
CJK_EM = 0.92  # ideograph ink height / em: Noto Sans CJK 0.92 (Pillow, '中' at 1000 px)
BOLD_ABOVE = 0.118  # stroke width / em: DejaVu Sans 0.08-0.10, DejaVu Sans Bold 0.13-0.16 (14-72 px)
BOLD_ABOVE_CJK = 0.088  # Noto Sans CJK Regular 0.07-0.08, Bold 0.10-0.15 (14-72 px)
MAX_SIDE = 96  # the upright strip's short side is scaled down to this (speed; size is scaled back)
CLUSTERS = 4
BETWEEN = 12.0  # delta E from the ink-background segment within which a colour is anti-aliasing
HUG = 0.55  # share of a band around the ink (outline) or of the shifted ink (shadow) a third colour covers
MAX_SHADOW = 8  # px (before scaling): farthest shadow offset looked for


@dataclass(frozen=True)
class Outline:
    color: str  # #rrggbb
    width: float  # px


@dataclass(frozen=True)
class Shadow:
    color: str  # #rrggbb
    offset: tuple[float, float]  # px, (dx, dy) in image coordinates: +x right, +y down


@dataclass(frozen=True)
class LineStyle:
    """One line's look (see the module for each field's rule). None where not measured."""

    text_color: str | None
    background_color: str | None
    text_color_spread: float | None
    outline: Outline | None
    shadow: Shadow | None
    font_size: float | None
    angle: float
    vertical: bool
    bold: bool | None


@dataclass(frozen=True)
class _Frame:
    """The region's rectangle: centre, long side along `axis` (unit, image coords), lengths."""

    centre: np.ndarray
    axis: np.ndarray  # reading direction
    length: float  # along the reading direction
    thickness: float  # across it


@dataclass(frozen=True)
class InkSpan:
    """Where a line's ink lies (image coordinates), for writing new text in its place
    (engine/render.py): the corners of the ink's rectangle along the line (start-top, end-top,
    end-bottom, start-bottom, reading left to right or top to bottom), and for Latin-like ink
    its baseline, as two points (start, end). Not part of the answers."""

    corners: tuple[tuple[float, float], ...]
    baseline: tuple[tuple[float, float], tuple[float, float]] | None


@dataclass(frozen=True)
class Measured:
    style: LineStyle
    ink: InkSpan | None


def describe(rgb: np.ndarray, region: Region) -> LineStyle:
    """The look of the line `region` covers in an H x W x 3 uint8 RGB image."""
    return measure(rgb, region).style


def measure(rgb: np.ndarray, region: Region) -> Measured:
    """`describe`'s look, and where the ink lies (None where no ink was found)."""
    on_image = region.clamped(rgb.shape[1], rgb.shape[0])  # what can be looked at, whatever the coordinates
    frame, vertical = _frame(on_image if on_image.area() >= 1 else region)
    angle = _angle(frame.axis, vertical)
    strip, inner, scale, origin = _upright(rgb, frame) if on_image.area() >= 1 else (None, None, 1.0, None)
    if strip is None or inner is None or origin is None:
        return Measured(LineStyle(None, None, None, None, None, None, angle, vertical, None), None)
    lab = cv2.cvtColor(strip.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    main, ink, deco, bg_lab = _separate(lab, inner)
    ring_rgb = strip[~inner]
    background = _hex(np.median(ring_rgb, axis=0)) if len(ring_rgb) else None
    if not main.any():
        return Measured(LineStyle(None, background, None, None, None, None, angle, vertical, None), None)
    outline = shadow = None
    if deco is not None:
        reach = max(1, round(MAX_SHADOW * scale))
        fit, turned = _fit(ink, deco, reach), _fit(deco, ink, reach)
        if turned.kind is not None and turned.score > fit.score + 0.05:  # the ink is the outline's or shadow's colour
            main, ink, deco, fit = deco, deco, ink, turned
        if fit.kind is None:  # a third colour that is neither: ink too
            ink, deco = ink | deco, None
    text_lab = np.median(_core(lab[main], bg_lab), axis=0)  # the dominant colour: its main cluster's
    edge_lab = bg_lab  # what the ink's edges blend with
    if deco is not None:
        deco_lab = _own_colour(lab[deco], (text_lab, bg_lab))
        outline, shadow = _decoration(fit, _hex(_lab_to_rgb(deco_lab)), scale, frame.axis)
        if outline is not None:  # the ink lies inside its outline: what touches the background is a blend
            inside = ink & ~_touching(~(ink | deco) & inner | ~inner)
            ink = inside if inside.any() else ink
            edge_lab = deco_lab
        ink = _unblended(lab, ink, deco, text_lab, deco_lab, bg_lab)
    vertical = vertical and _stacked(ink)
    spread = float(np.percentile(np.linalg.norm(_core(lab[ink], bg_lab) - text_lab, axis=1), 90))
    size, cjk = _font_size(ink, vertical)
    stroke = _stroke_width(lab, ink, deco, text_lab, edge_lab)
    bold = None if size is None or stroke is None else bool(stroke / size > (BOLD_ABOVE_CJK if cjk else BOLD_ABOVE))
    style = LineStyle(
        text_color=_hex(_lab_to_rgb(text_lab)), background_color=background, text_color_spread=round(spread, 1),
        outline=outline, shadow=shadow, font_size=None if size is None else round(size / scale, 1),
        angle=angle, vertical=vertical, bold=bold)
    return Measured(style, _span(ink, cjk, origin, frame.axis, scale))


def _frame(region: Region) -> tuple[_Frame, bool]:
    """The region's min-area rectangle and whether it stands (1.5x taller than wide: a candidate
    vertical line). The reading direction points right (horizontal) or down (vertical)."""
    pts = np.asarray(region.points, np.float32)
    (cx, cy), (w, h), a = cv2.minAreaRect(pts)
    t = np.deg2rad(a)
    u = np.array([np.cos(t), np.sin(t)])  # the side of length w
    v = np.array([-np.sin(t), np.cos(t)])  # the side of length h
    long_axis, long_len, short_len = (u, w, h) if w >= h else (v, h, w)
    steep = abs(long_axis[1]) > abs(long_axis[0])
    vertical = steep and long_len >= 1.5 * short_len
    if not vertical and steep:  # a short line or a box taller than long: read across its width
        long_axis, long_len, short_len = (v, h, w) if w >= h else (u, w, h)
    if vertical:
        long_axis = long_axis if long_axis[1] > 0 else -long_axis
    else:
        long_axis = long_axis if long_axis[0] > 0 else -long_axis
    return _Frame(np.array([cx, cy]), long_axis, float(long_len), float(short_len)), bool(vertical)


def _angle(axis: np.ndarray, vertical: bool) -> float:
    """Degrees, counter-clockwise positive on screen (see the module)."""
    if vertical:  # the column's turn away from straight down: turned counter-clockwise, its foot swings right
        deg = float(np.degrees(np.arctan2(axis[0], axis[1])))
    else:
        deg = float(np.degrees(np.arctan2(-axis[1], axis[0])))
    return round(deg, 1) + 0.0


def _upright(rgb: np.ndarray, frame: _Frame) -> tuple[np.ndarray | None, np.ndarray, float, np.ndarray]:
    """The line's rectangle and a ring of a quarter of its thickness (at least 3 px) around it,
    warped so that the text runs left to right; the mask of the rectangle; the scale applied; the
    image point of the strip's top-left corner (a strip pixel (x, y) is at origin + axis * x /
    scale + across * y / scale)."""
    if frame.length < 2 or frame.thickness < 2:
        return None, np.zeros((0, 0), bool), 1.0, frame.centre
    scale = min(1.0, MAX_SIDE / frame.thickness)
    margin = max(3.0, 0.25 * frame.thickness)
    out_w = max(4, round((frame.length + 2 * margin) * scale))
    out_h = max(4, round((frame.thickness + 2 * margin) * scale))
    across = np.array([-frame.axis[1], frame.axis[0]])  # 90 degrees clockwise on screen: "down" of the text
    origin = frame.centre - frame.axis * (frame.length / 2 + margin) - across * (frame.thickness / 2 + margin)
    src = np.array([origin, origin + frame.axis * (out_w / scale), origin + across * (out_h / scale)], np.float32)
    dst = np.array([[0, 0], [out_w, 0], [0, out_h]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    strip = cv2.warpAffine(rgb, m, (out_w, out_h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    inner = np.zeros((out_h, out_w), bool)
    mx, my = round(margin * scale), round(margin * scale)
    inner[my:out_h - my, mx:out_w - mx] = True
    if not inner.any() or inner.all():
        return None, inner, scale, origin
    return strip, inner, scale, origin


def _span(ink: np.ndarray, cjk: bool, origin: np.ndarray, axis: np.ndarray, scale: float) -> InkSpan | None:
    """The ink's rectangle and (Latin-like ink) baseline, from the strip back to the image."""
    rows, cols = _rows(ink), np.flatnonzero(ink.any(axis=0))
    if rows is None or len(cols) == 0:
        return None
    top, bottom, base = rows
    x0, x1 = float(cols[0]), float(cols[-1] + 1)
    across = np.array([-axis[1], axis[0]])

    def at(x: float, y: float) -> tuple[float, float]:
        p = origin + axis * (x / scale) + across * (y / scale)
        return round(float(p[0]), 2), round(float(p[1]), 2)

    baseline = None if cjk else (at(x0, base), at(x1, base))
    return InkSpan((at(x0, top), at(x1, top), at(x1, bottom), at(x0, bottom)), baseline)


def _separate(lab: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The main ink cluster's mask, the ink's (with its other shades), a third colour's mask
    (outline or shadow, not yet judged; None if none), and the background colour (Lab), from
    k-means of the rectangle's pixels."""
    inside = lab[inner]
    sample = inside[:: max(1, len(inside) // 4000)]  # every n-th pixel: enough for 4 colours, and fast
    k = min(CLUSTERS, len(sample))
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(sample.astype(np.float32), k, None,  # type: ignore[call-overload]
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5), 2,
                               cv2.KMEANS_PP_CENTERS)
    _, nearest = cv2.batchDistance(np.ascontiguousarray(lab.reshape(-1, 3)), centres, cv2.CV_32F,
                                   normType=cv2.NORM_L2SQR, K=1)  # each pixel's nearest centre
    labels = nearest.reshape(lab.shape[:2]).astype(np.intp)
    ring = ~inner
    in_share = np.bincount(labels[inner], minlength=k) / max(1, int(inner.sum()))
    ring_share = np.bincount(labels[ring], minlength=k) / max(1, int(ring.sum()))
    background = (ring_share >= 0.35 * in_share) | (in_share < 0.01)
    if background.all():  # nothing stands out from the ring: the least present in it
        background[int(np.argmin(ring_share / np.maximum(in_share, 1e-6)))] = False
    bg_weights = np.where(background, ring_share, 0)
    bg_lab = centres[int(np.argmax(bg_weights))] if bg_weights.sum() > 0 else np.median(lab[ring], axis=0)
    fore = [c for c in range(k) if not background[c]]
    is_bg = np.isin(labels, np.flatnonzero(background)) | ring
    depth = cv2.distanceTransform((~is_bg).astype(np.uint8), cv2.DIST_L2, 3)
    counts = np.bincount(labels[inner], minlength=k)
    depths = np.bincount(labels[inner], weights=depth[inner], minlength=k) / np.maximum(counts, 1)
    ink_c = max(fore, key=lambda c: float(depths[c]) if counts[c] else -1.0)
    main = (labels == ink_c) & inner
    ink = main.copy()
    deco = np.zeros_like(ink)
    for c in fore:
        if c == ink_c:
            continue
        px = (labels == c) & inner
        if _between(centres[c], centres[ink_c], bg_lab) or np.linalg.norm(centres[c] - centres[ink_c]) < 25:
            if np.linalg.norm(centres[c] - centres[ink_c]) < 25:
                ink |= px  # another shade of the ink (a gradient)
            continue  # anti-aliasing between ink and background
        deco |= px
    if deco.sum() < 8:
        return main, ink | deco, None, bg_lab
    return main, ink, deco, bg_lab


def _between(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether colour `c` lies near the segment from `a` to `b` (a blend of the two)."""
    ab = b - a
    t = float(np.clip(np.dot(c - a, ab) / max(1e-6, float(np.dot(ab, ab))), 0, 1))
    return float(np.linalg.norm(c - (a + t * ab))) < BETWEEN


def _core(ink_lab: np.ndarray, bg_lab: np.ndarray) -> np.ndarray:
    """The half of the ink's pixels farthest from the background: its core, not its edges (which
    anti-aliasing blends with the background)."""
    d = np.linalg.norm(ink_lab - bg_lab, axis=1)
    core: np.ndarray = ink_lab[d >= np.median(d)]
    return core


def _own_colour(lab_px: np.ndarray, others: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The median of the quarter of the pixels farthest from both `others` (the ink's and the
    background's colours): a thin band's own colour, not its blends with its neighbours."""
    d = np.minimum(*(np.linalg.norm(lab_px - o, axis=1) for o in others))
    own: np.ndarray = np.median(lab_px[d >= np.percentile(d, 75)], axis=0)
    return own


@dataclass(frozen=True)
class _Fit:
    """How a third colour sits against the ink: `kind` outline or shadow (None: neither), how well
    (0-1), the outline's width and the shadow's shift (strip px)."""

    kind: str | None
    score: float
    width: float
    shift: tuple[int, int]


def _fit(ink: np.ndarray, deco: np.ndarray, reach: int) -> _Fit:
    """An outline (the third colour covers a band all round the ink, and little else) or a shadow
    (it covers the ink's own shape shifted by a few px, and little else: an outline's colour fills
    any small shift but only one side of it is covered), whichever fits better; neither where the
    colour does neither."""
    best, shift = _best_shift(ink, deco, reach)
    dist = cv2.distanceTransform((1 - ink.astype(np.uint8)), cv2.DIST_L2, 3)
    width = float(np.percentile(dist[deco], 90)) if deco.any() else 0.0  # how far the third colour reaches
    band = (dist > 0) & (dist <= max(1.0, width))
    inside = float((band & deco).sum())
    hug = min(inside / max(1, int(band.sum())), inside / max(1.0, float(deco.sum())))
    if hug >= HUG and hug >= best:
        return _Fit("outline", hug, width, shift)
    if best >= HUG:
        return _Fit("shadow", best, width, shift)
    return _Fit(None, max(hug, best), width, shift)


def _unblended(lab: np.ndarray, ink: np.ndarray, deco: np.ndarray, ink_lab: np.ndarray, deco_lab: np.ndarray,
               bg_lab: np.ndarray) -> np.ndarray:
    """The ink less the pixels next to the outline or shadow whose colour is nearer a blend of it
    and the background than the ink's own (a shadow's soft lower edge would lower the baseline)."""
    edge = ink & _touching(deco)
    px = lab[edge]
    ab = bg_lab - deco_lab
    t = np.clip(((px - deco_lab) @ ab) / max(1e-6, float(ab @ ab)), 0, 1)
    to_blend = np.linalg.norm(px - (deco_lab + t[:, None] * ab), axis=1)
    blend = np.zeros_like(ink)
    blend[edge] = to_blend < np.linalg.norm(px - ink_lab, axis=1)
    kept = ink & ~blend
    return kept if kept.any() else ink


def _touching(mask: np.ndarray) -> np.ndarray:
    """The mask grown by 1 px (its 8 neighbours)."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _decoration(fit: _Fit, colour: str, scale: float, axis: np.ndarray) -> tuple[Outline | None, Shadow | None]:
    """The fit in image pixels (the strip's x and y turned back along the line's axis)."""
    if fit.kind == "outline":
        return Outline(colour, round(fit.width / scale, 1)), None
    if fit.kind == "shadow":
        dx, dy = fit.shift
        u, v = axis, np.array([-axis[1], axis[0]])
        img = (dx * u + dy * v) / scale
        return None, Shadow(colour, (round(float(img[0]), 1) + 0.0, round(float(img[1]), 1) + 0.0))  # no -0.0
    return None, None


def _best_shift(ink: np.ndarray, deco: np.ndarray, reach: int) -> tuple[float, tuple[int, int]]:
    """The shift d (|dx|, |dy| <= reach, not 0) of the ink whose uncovered part (the ink moved by d,
    less the ink) the third colour fills best, and how well: the smaller of the share of that part
    it fills and the share of the third colour in it. All shifts at once, by FFT correlation."""
    h, w = ink.shape
    size = (cv2.getOptimalDFTSize(h + reach), cv2.getOptimalDFTSize(w + reach))  # no shift wraps round

    def spectrum(m: np.ndarray) -> np.ndarray:
        padded = np.zeros(size, np.float32)
        padded[:h, :w] = m
        return cv2.dft(padded)

    def correlate(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # [d] = sum_p x(p) y(p - d)
        return cv2.idft(cv2.mulSpectrums(x, y, 0, conjB=True), flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)

    b, a = spectrum(ink), spectrum(deco & ~ink)
    hit = correlate(a, b)  # the third colour outside the ink, under the ink moved by d
    own = correlate(b, b)  # the ink's overlap with itself moved by d
    ys, xs = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    hits, off = hit[ys, xs], float(ink.sum()) - own[ys, xs]  # negative indexes: the wrapped shifts
    cover = np.minimum(hits / np.maximum(off, 1.0), hits / max(1.0, float(deco.sum())))
    cover[(off < 8) | ((ys == 0) & (xs == 0))] = 0.0
    k = int(np.argmax(cover))
    best, best_d = float(cover.flat[k]), (int(xs.flat[k]), int(ys.flat[k]))
    return best, best_d


def _font_size(ink: np.ndarray, vertical: bool) -> tuple[float | None, bool]:
    """The em size (strip px) by the rule in the module: cap height / CAP_EM for Latin-like ink,
    ink height / CJK_EM for CJK-like ink (a vertical line's always); and whether it was CJK-like."""
    rows = _rows(ink)
    if rows is None:
        return None, False
    top, bottom, baseline = (int(v) for v in rows)
    height = bottom - top
    if vertical or _cjk_like(ink, top, bottom):
        return height / CJK_EM, True
    return max(1, baseline - top) / CAP_EM, False


def _rows(ink: np.ndarray) -> tuple[float, float, float] | None:
    """The ink's top and bottom rows (those with at least 4 % of the fullest row's ink: stray
    pixels aside) and its baseline (below the last row with 35 % of it: descenders aside), strip px."""
    rows = ink.sum(axis=1).astype(np.float64)
    if rows.max() <= 0:
        return None
    lit = np.flatnonzero(rows >= 0.04 * rows.max())
    body = np.flatnonzero(rows >= 0.35 * rows.max())
    return float(lit[0]), float(lit[-1] + 1), float(body[-1] + 1)


def _cjk_like(ink: np.ndarray, top: int, bottom: int) -> bool:
    """CJK-like ink: dense top to bottom (no sparse band of ascenders or descenders) and many
    strokes across each column (ideographs cross 3 and more; Latin letters 1 to 3)."""
    band = ink[top:bottom]
    h = bottom - top
    if h < 4:
        return False
    rows = band.sum(axis=1).astype(np.float64)
    upper = rows[: max(1, h // 4)].mean()
    middle = rows[h // 4: max(h // 4 + 1, 3 * h // 4)].mean()
    cols = band[:, band.any(axis=0)]
    if cols.size == 0:
        return False
    runs = (np.diff(cols.astype(np.int8), axis=0) == 1).sum(axis=0) + cols[0]
    return bool(upper >= 0.6 * middle and float(np.mean(runs)) >= 2.0)


def _stroke_width(lab: np.ndarray, ink: np.ndarray, deco: np.ndarray | None, ink_lab: np.ndarray,
                  bg_lab: np.ndarray) -> float | None:
    """2 x area / perimeter of the ink (strip px): a long stroke's width. The area counts each
    pixel near the ink by its coverage (where its colour lies from the background's to the ink's),
    so that anti-aliased edges count by half and small text is measured as well as large."""
    near = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if deco is not None:
        near &= ~deco
    d = ink_lab - bg_lab
    alpha = np.clip(((lab[near] - bg_lab) @ d) / max(1e-6, float(d @ d)), 0, 1)
    area = float(alpha.sum())
    half = np.zeros(ink.shape, np.uint8)
    half[near] = alpha >= 0.5
    contours, _ = cv2.findContours(half, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    edge = sum(max(2.0, cv2.arcLength(c, True)) for c in contours)  # a 1 px stroke's contour runs both sides
    return 2.0 * area / edge if edge else None


def _stacked(ink: np.ndarray) -> bool:
    """Glyphs stacked down a column (CJK-like): along the upright strip, ink in 2 or more blocks
    about as long as the column is wide."""
    cols = ink.any(axis=0)
    h = ink.any(axis=1).sum()
    if h == 0:
        return False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], cols.astype(np.int8), [0]])))
    blocks = [(b - a) for a, b in zip(edges[::2], edges[1::2])]
    square = [b for b in blocks if b >= 0.5 * h]
    return len(square) >= 2 or (len(blocks) >= 2 and float(np.median(blocks)) >= 0.5 * h)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    px = np.asarray(lab, np.float32).reshape(1, 1, 3)
    rgb: np.ndarray = np.clip(cv2.cvtColor(px, cv2.COLOR_Lab2RGB).reshape(3) * 255.0, 0, 255)
    return rgb


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(v))) for v in np.clip(rgb, 0, 255))
    return f"#{r:02x}{g:02x}{b:02x}"
