"""Regions -> the mask of pixels to repaint.

A region is a polygon in image pixels (a box is its four corners). Boxes are filled to whole
pixels that they touch; polygons are filled with sub-pixel accuracy. `padding` grows every
region; the `text` mask mode keeps, inside each region, only the glyph strokes plus a margin
(see `text_strokes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import InvalidInput

_SHIFT = 4  # fixed-point bits for cv2.fillPoly: 1/16 px
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Region:
    """A polygon in pixel coordinates (top-left origin). `is_box` keeps the fast box path."""

    points: tuple[tuple[float, float], ...]
    is_box: bool = False

    @classmethod
    def box(cls, x: float, y: float, w: float, h: float) -> Region:
        return cls(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), is_box=True)

    def shifted(self, dx: float, dy: float) -> Region:
        return Region(tuple((x + dx, y + dy) for x, y in self.points), self.is_box)

    def bounds(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    def area(self) -> float:
        pts = np.asarray(self.points, dtype=np.float64)
        x, y = pts[:, 0], pts[:, 1]
        return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


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

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def pixel_box(region: Region, width: int, height: int) -> PixelBox:
    x0, y0, x1, y1 = region.bounds()
    return PixelBox(
        max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1))
    )


def validate_regions(regions: list[Region], width: int, height: int) -> None:
    """Every region must have an area and overlap the image: anything else is a client error."""
    for i, r in enumerate(regions):
        x0, y0, x1, y1 = r.bounds()
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise InvalidInput(f"regions[{i}] has a non-finite coordinate", code="invalid_region")
        if x1 - x0 <= 0 or y1 - y0 <= 0 or (not r.is_box and r.area() <= 0):
            raise InvalidInput(f"regions[{i}] has zero size", code="invalid_region")
        b = pixel_box(r, width, height)
        if b.width <= 0 or b.height <= 0:
            raise InvalidInput(
                f"regions[{i}] ({x0:g},{y0:g})-({x1:g},{y1:g}) lies entirely outside the {width}x{height} image",
                code="region_outside_image",
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


def draw_region(mask: np.ndarray, region: Region, padding: int = 0) -> None:
    """Fill one region (grown by `padding` pixels) into `mask` in place, with 255."""
    h, w = mask.shape
    if region.is_box:
        b = pixel_box(region, w, h).grow(padding, w, h)
        mask[b.slices] = 255
        return
    pts = np.round(np.asarray(region.points, dtype=np.float64) * _ONE).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=_SHIFT)
    if padding > 0:  # a thick outline is the polygon's dilation by `padding`, at outline cost
        cv2.polylines(mask, [pts], True, 255, thickness=2 * padding + 1, lineType=cv2.LINE_8, shift=_SHIFT)


def regions_to_mask(regions: list[Region], width: int, height: int, padding: int = 0) -> np.ndarray:
    """The union of all regions, each grown by `padding`: H x W uint8, 255 = repaint."""
    mask = np.zeros((height, width), np.uint8)
    for r in regions:
        draw_region(mask, r, padding)
    return mask


def text_strokes(crop: np.ndarray, core: np.ndarray, allowed: np.ndarray, margin: int) -> np.ndarray | None:
    """Inside one region, the pixels that belong to text strokes, grown by `margin`.

    `crop` is the region's surroundings (RGB), `core` the region itself and `allowed` the region
    grown by the padding (the stroke mask never leaves it). Text differs from its local background
    in colour or brightness: the background colour is estimated from the ring of pixels around
    the region (what OCR boxes leave out), and pixels far from it in Lab space are strokes (Otsu's
    threshold on that distance). Returns None where that does not hold, and the caller repaints
    the whole region: low contrast, "text" covering most of the region, a background as busy as
    the text, or region pixels that are neither strokes nor background (text whose fill is close
    to the background, with only its outline standing out).
    """
    inside = core > 0
    n_inside = int(inside.sum())
    if n_inside < 16:
        return None
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    ring_px = lab[allowed == 0]
    if len(ring_px) < 8:  # the region fills its surroundings (image edge): use its own border
        edge = np.zeros_like(inside)
        edge[[0, -1], :] = True
        edge[:, [0, -1]] = True
        ring_px = lab[edge]
    bg = np.median(ring_px, axis=0)
    dist = np.linalg.norm(lab - bg, axis=2)
    d8 = np.clip(dist[inside], 0, 255).astype(np.uint8).reshape(-1, 1)
    t, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = max(float(t), 12.0)
    strokes = (dist > t) & inside
    share = strokes.sum() / n_inside
    ring_d = np.linalg.norm(ring_px - bg, axis=1)
    spread = float(np.median(ring_d))
    if share < 0.005 or share > 0.75 or spread > t * 0.6:
        return None
    k = 2 * margin + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    grown = cv2.dilate(strokes.astype(np.uint8) * 255, kernel)
    rest = dist[inside & (grown == 0)]  # what would be kept: it must look like the background
    if rest.size and float(np.percentile(rest, 90)) > max(3 * float(np.percentile(ring_d, 90)), 10.0):
        return None
    return grown & allowed


def text_aware_mask(rgb: np.ndarray, regions: list[Region], padding: int, margin: int) -> tuple[np.ndarray, int]:
    """The `text` mask mode: each region's strokes plus `margin`, or the whole region where the
    strokes cannot be told from the background. Returns the mask and how many regions fell back."""
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    fallbacks = 0
    for r in regions:
        outer = pixel_box(r, w, h).grow(padding + max(3, margin), w, h)
        local = r.shifted(-outer.x0, -outer.y0)
        core = np.zeros((outer.height, outer.width), np.uint8)
        draw_region(core, local, 0)
        allowed = core.copy()
        if padding:
            draw_region(allowed, local, padding)
        strokes = text_strokes(rgb[outer.slices], core, allowed, margin)
        if strokes is None:
            fallbacks += 1
            strokes = allowed
        mask[outer.slices] |= strokes
    return mask, fallbacks
