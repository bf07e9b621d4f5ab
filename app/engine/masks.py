"""Regions -> the mask of pixels to repaint.

A region is a polygon in image pixels (a box is its four corners). Boxes are filled to whole
pixels that they touch; polygons are filled with sub-pixel accuracy. `padding` grows every
region; the `text` mask mode keeps, inside each region, only the glyph strokes plus a margin
(see `text_strokes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from app.errors import InvalidInput
from app.geometry import Region as Region  # the engine's callers take it from here too

_SHIFT = 4  # fixed-point bits for cv2.fillPoly: 1/16 px
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class PixelBox:
    """Integer, clipped, half-open box: rows y0:y1, columns x0:x1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.width * self.height

    def grow(self, by: int, width: int, height: int) -> PixelBox:
        return PixelBox(max(0, self.x0 - by), max(0, self.y0 - by), min(width, self.x1 + by), min(height, self.y1 + by))

    def within(self, outer: PixelBox) -> PixelBox:
        """The part of this box inside `outer`, in `outer`'s coordinates."""
        return PixelBox(max(self.x0, outer.x0) - outer.x0, max(self.y0, outer.y0) - outer.y0,
                        min(self.x1, outer.x1) - outer.x0, min(self.y1, outer.y1) - outer.y0)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def on_image(regions: list[Region], width: int, height: int) -> tuple[list[Region], int]:
    """The regions that paint something: those with an area that covers some of the image. A
    region of zero area paints nothing; so does one wholly outside the image, and those are
    counted (the answer's `regions_outside_image`: coordinates in another scale are a client's bug
    it should hear of, not an error that loses the rest of the request). A non-finite coordinate
    (the API's schema bounds them; a region built in code may not be) is 422 `invalid_region`."""
    painted, outside = [], 0
    for i, r in enumerate(regions):
        if not all(math.isfinite(v) for v in r.bounds()):
            raise InvalidInput(f"regions[{i}] has a non-finite coordinate", code="invalid_region")
        if r.area() <= 0:
            continue
        b = pixel_box(r, width, height)
        if b.width > 0 and b.height > 0:
            painted.append(r)
        else:
            outside += 1
    return painted, outside


def pixel_box(region: Region, width: int, height: int) -> PixelBox:
    x0, y0, x1, y1 = region.bounds()
    return PixelBox(
        max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1))
    )


def region_area(regions: list[Region], width: int, height: int) -> int:
    """Sum of the regions' areas inside the image, in pixels (X-Total-Area)."""
    total = 0.0
    for r in regions:
        if r.is_box:
            total += pixel_box(r, width, height).area
        else:
            x0, y0, x1, y1 = r.bounds()
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            bbox = (x1 - x0) * (y1 - y0)
            total += r.area() * ((cx1 - cx0) * (cy1 - cy0) / bbox if bbox > 0 else 0)
    return int(round(total))


def clip_polygon(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The polygon cut to the window (Sutherland-Hodgman): inside the window it fills the same
    pixels, whatever its shape, and a rasterizer never walks the millions of rows a polygon
    reaching far past a small image would make it walk (seconds per polygon)."""
    if len(points) and points[:, 0].min() >= x0 and points[:, 0].max() <= x1 \
            and points[:, 1].min() >= y0 and points[:, 1].max() <= y1:
        return points
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(points) == 0:
            break
        inside = points[:, axis] >= bound if keep_above else points[:, axis] <= bound
        out: list[np.ndarray] = []
        for k in range(len(points)):
            cur, prev = points[k], points[k - 1]
            if inside[k] != inside[k - 1]:  # the edge crosses the bound: keep the crossing
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(prev + t * (cur - prev))
            if inside[k]:
                out.append(cur)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
    return points


def draw_region(mask: np.ndarray, region: Region, padding: int = 0) -> None:
    """Fill one region (grown by `padding` pixels) into `mask` in place, with 255."""
    h, w = mask.shape
    if region.is_box:
        b = pixel_box(region, w, h).grow(padding, w, h)
        mask[b.slices] = 255
        return
    # far past the mask (an outline `padding` thick cannot reach it from there), yet near enough
    # that a rasterizer walks a few image heights, not the millions of rows a polygon reaching
    # 10^7 px away spans; a polygon inside it is drawn as it is
    margin = padding + 2 + 2 * max(w, h)
    clipped = clip_polygon(np.asarray(region.points, dtype=np.float64), -margin, -margin, w + margin, h + margin)
    if len(clipped) < 3:
        return
    pts = np.round(clipped * _ONE).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=_SHIFT)
    if padding > 0:  # a thick outline is the polygon's dilation by `padding`, at outline cost
        cv2.polylines(mask, [pts], True, 255, thickness=2 * padding + 1, lineType=cv2.LINE_8, shift=_SHIFT)


def core_and_padded(region: Region, box: PixelBox, padding: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Within `box` (box-sized, 0 or 255): the region itself, and the region grown by `padding`."""
    local = region.shifted(-box.x0, -box.y0)
    core = np.zeros((box.height, box.width), np.uint8)
    draw_region(core, local, 0)
    padded = core.copy()
    if padding:
        draw_region(padded, local, padding)
    return core, padded


def regions_to_mask(regions: list[Region], width: int, height: int, padding: int = 0) -> np.ndarray:
    """The union of all regions, each grown by `padding`: H x W uint8, 255 = repaint."""
    mask = np.zeros((height, width), np.uint8)
    for r in regions:
        draw_region(mask, r, padding)
    return mask


# chosen on bench/quality.py (cv2 model): ring width around the padded region, ring colour clusters,
# stroke threshold = max(_T_MIN, _T_SPREAD * the ring's own 90th-percentile distance to its clusters),
# a cluster is the text's colour when its share inside exceeds _OVER x its share in the ring + 5 %,
# fall back above _MAX_SHARE strokes, fill enclosed holes below _HOLE of the region
_RING, _K, _T_MIN, _T_SPREAD, _OVER, _MAX_SHARE, _HOLE = 3, 3, 12.0, 1.5, 2.0, 0.75, 0.1
# bench/hard_cases.py: in gray (chroma's 90th percentile under _MIN_CHROMA, OpenCV Lab units) and
# busy surroundings (ring spread over _GRAY_BUSY) the stroke mask left far more ink than the whole
# region on every kind of text: use the region there. Gray and flat (a page, a sky) stays safe.
_MIN_CHROMA, _GRAY_BUSY = 8.0, 4.0


def kmeans(x: np.ndarray, k: int, iters: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (farthest-point start from the median): centres and labels."""
    c = [np.median(x, axis=0)]
    d = ((x - c[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        i = int(d.argmax())
        if d[i] < 25.0:  # everything already within 5 Lab units of a centre
            break
        c.append(x[i])
        d = np.minimum(d, ((x - x[i]) ** 2).sum(axis=1))
    cent = np.asarray(c, np.float32)
    lab = np.zeros(len(x), np.int64)
    for _ in range(iters):
        lab = _nearest(x, cent)[1]
        for j in range(len(cent)):
            sel = lab == j
            if sel.any():
                cent[j] = x[sel].mean(axis=0)
    return cent, lab


def _nearest(x: np.ndarray, cent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every row of `x` to its nearest centre, and that centre's index."""
    best = ((x - cent[0]) ** 2).sum(axis=1)
    j = np.zeros(len(x), np.int64)
    for i in range(1, len(cent)):
        d2 = ((x - cent[i]) ** 2).sum(axis=1)
        closer = d2 < best
        best = np.where(closer, d2, best)
        j[closer] = i
    return np.sqrt(best), j


def text_strokes(crop: npt.NDArray[np.uint8], core: npt.NDArray[np.uint8], allowed: npt.NDArray[np.uint8],
                 margin: int) -> npt.NDArray[np.uint8] | None:
    """Inside one region, the pixels that belong to text strokes, grown by `margin`.

    `crop` is the region's surroundings (RGB), `core` the region itself and `allowed` the region
    grown by the padding (the stroke mask never leaves it). The background is estimated from the
    ring of pixels around the region (what OCR boxes leave out) as up to three colour clusters in
    Lab space; region pixels far from every cluster are strokes, and so are pixels of a cluster
    that is much more common inside the region than in the ring (text in a colour the background
    also has). Holes enclosed by strokes (the fill of outlined glyphs, close to the background)
    are strokes too. Returns None where that does not hold, and the caller repaints the whole
    region: gray and busy surroundings (no colour to tell ink by), low contrast, text covering
    most of the region, or a background as busy as the text.
    """
    region = allowed > 0
    n_region = int(region.sum())
    if int((core > 0).sum()) < 16:
        return None
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray = float(np.percentile(np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128), 90)) < _MIN_CHROMA
    ring_px = lab[~region]
    if len(ring_px) < 16:  # the region fills its surroundings (image edge): use its own border
        edge = np.zeros_like(region)
        edge[[0, -1], :] = True
        edge[:, [0, -1]] = True
        ring_px = lab[edge]
    step = max(1, len(ring_px) // 1500)
    cent, lab_r = kmeans(ring_px[::step], _K)
    keep = np.bincount(lab_r, minlength=len(cent)) >= max(4, 0.08 * len(lab_r))  # drop stray clusters
    cent = cent[keep]
    ring_d, ring_j = _nearest(ring_px, cent)
    spread = float(np.percentile(ring_d, 90))
    if gray and spread > _GRAY_BUSY:
        return None  # gray and busy: lightness alone cannot tell ink from background safely
    t = max(_T_MIN, _T_SPREAD * spread)
    in_px = lab[region]
    in_d, in_j = _nearest(in_px, cent)
    # clusters much more common inside than in the ring: the text's own colour
    s_ring = np.bincount(ring_j[ring_d <= t], minlength=len(cent)) / len(ring_px)
    s_in = np.bincount(in_j[in_d <= t], minlength=len(cent)) / n_region
    textish = (s_in > _OVER * s_ring + 0.05)
    is_stroke = (in_d > t) | textish[in_j]
    strokes: npt.NDArray[np.uint8] = np.zeros(region.shape, np.uint8)
    strokes[region] = is_stroke.astype(np.uint8) * 255
    share = float(is_stroke.mean())
    if share < 0.005 or share > _MAX_SHARE:
        return None
    # fill holes enclosed by strokes (outlined glyphs whose fill is close to the background)
    contours, hier = cv2.findContours(strokes, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is not None:
        limit = _HOLE * n_region
        holes = [c for c, hh in zip(contours, hier[0]) if hh[3] >= 0 and cv2.contourArea(c) < limit]
        if holes:
            cv2.drawContours(strokes, holes, -1, 255, thickness=cv2.FILLED)
    if margin > 0:
        k = 2 * margin + 1
        # OpenCV's stubs type every image as integer-or-float; dilating a uint8 mask keeps uint8
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        strokes = cast("npt.NDArray[np.uint8]", cv2.dilate(strokes, kernel))
    return strokes & allowed


def text_aware_mask(rgb: np.ndarray, regions: list[Region], padding: int, margin: int,
                    whole_padding: int | None = None) -> tuple[np.ndarray, list[bool]]:
    """The `text` mask mode: each region's strokes plus `margin`, or the whole region (grown by
    `whole_padding`, default `padding`) where the strokes cannot be told from the background.
    Returns the mask and, per region, whether it is masked by its strokes (False: the whole region)."""
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    by_strokes = []
    for r in regions:
        outer = pixel_box(r, w, h).grow(padding + _RING, w, h)
        core, allowed = core_and_padded(r, outer, padding)
        strokes = text_strokes(rgb[outer.slices], core, allowed, margin)
        by_strokes.append(strokes is not None)
        if strokes is None:
            draw_region(mask, r, padding if whole_padding is None else whole_padding)
        else:
            mask[outer.slices] |= strokes
    return mask, by_strokes
