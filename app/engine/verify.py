"""Is the text gone? A look at each repainted region of the result, and a repair plan.

A result that still shows the text is the worst answer the service can give, so every region is
checked after inpainting, on its own crop only:

- *Ink in the source.* Pixels of the region (grown by a halo band for shadows and glow) that
  stand out from the background: far from every colour cluster of the ring around the region,
  or far from their own neighbourhood's median (local contrast at the text's scale, which finds
  ink even where its colour also occurs around the box).
- *Ink left.* Those pixels that are still in the result as they were (the mask missed them) and
  still stand out; beyond what the ring's own texture explains.
- *The detector.* Where the ink measure finds nothing to repair, the text detector's probability
  on the result, over a window around the region with the context it needs: the region's area
  still detected as text, against the share a line of text fills (so 1 = a whole line is there).

The residual of a region is the larger of the two shares (0-1). Where it is above a small
threshold, the repair grows the mask over what was left (strokes, outlines, shadows, glow, up to
a halo beyond region + padding) or, for a region masked by its strokes (whose stroke mask has
proven wrong) and on a second round, over the whole region; then the region is inpainted again.
The pre-check of the text mask mode (`Verifier.uncovered_share`) uses the same look at the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from app.engine.masks import PixelBox, Region, draw_region, kmeans, pixel_box

# a pixel "stands out" at this colour distance (CIE dE, L in 0..100) or the ring's own 90th
# percentile x _SPREAD, whichever is larger; unchanged: within _SAME dE of the source
_T_MIN, _SPREAD, _SAME = 10.0, 1.5, 4.0
_PROB = 0.3  # the detector's text threshold (its own DB default)
MAX_HALO = 12  # px beyond region + padding that a repair may reach, at most
REPAIR_ABOVE = 0.02  # residual above which a region is repaired
UNCOVERED_FALLBACK = 0.05  # a stroke mask that leaves out more of the ink than this: the whole region
_MIN_INK = 12  # fewer ink pixels than this: nothing to judge
_VISIBLE = 0.12  # ink measure trusted alone where it finds this share of region + padding as ink
_TEXT_SHARE = 0.25  # share of a text line's box the detector marks as text (bench/hard_cases.py)


class ProbabilityMap(Protocol):
    def probability(self, rgb: np.ndarray) -> np.ndarray: ...


@dataclass
class RegionCheck:
    residual: float  # share of the region's text still there (0-1)
    leftover: np.ndarray  # crop-sized bool: pixels that still look like text
    box: PixelBox  # the crop (image coordinates)
    zone: np.ndarray  # crop-sized bool: where this region may be repainted (region + padding + halo)


def line_scale(region: Region) -> float:
    """The text's height: the short side of the region's minimum-area rectangle."""
    pts = np.asarray(region.points, np.float32)
    (_, _), (w, h), _ = cv2.minAreaRect(pts)
    return float(max(1.0, min(w, h)))


def halo(scale: float) -> int:
    """How far beyond the padded region shadows and glow are looked for (and a repair may reach)."""
    return int(min(MAX_HALO, max(3, round(0.25 * scale))))


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2LAB)


def _ring_clusters(lab_ring: np.ndarray) -> np.ndarray:
    step = max(1, len(lab_ring) // 600)
    cent, lab_r = kmeans(lab_ring[::step], 3)
    keep = np.bincount(lab_r, minlength=len(cent)) >= max(4, 0.08 * len(lab_r))
    return cent[keep] if keep.any() else cent


def _dist(lab: np.ndarray, cent: np.ndarray) -> np.ndarray:
    d = np.full(lab.shape[:2], np.inf, np.float32)
    for c in cent:
        d = np.minimum(d, np.linalg.norm(lab - c, axis=2))
    return d


def standout(rgb: np.ndarray, ring: np.ndarray, scale: float, cent: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a crop that stand out from the background (see the module docstring), and the
    ring's background clusters used (so that source and result are judged alike)."""
    lab = _lab(rgb)
    ring_px = lab[ring]
    if cent is None:
        cent = _ring_clusters(ring_px)
    d = _dist(lab, cent)
    t = max(_T_MIN, _SPREAD * float(np.percentile(d[ring], 90)))
    k = int(min(41, max(5, round(0.8 * scale)))) | 1
    med = _lab(cv2.medianBlur(np.ascontiguousarray(rgb), k))
    lc = np.linalg.norm(lab - med, axis=2)
    t_lc = max(_T_MIN, _SPREAD * float(np.percentile(lc[ring], 90)))
    return (d > t) | (lc > t_lc), cent


@dataclass
class _Look:
    """One region's crop of the source: where it may be repainted, its ring, and its ink."""

    box: PixelBox
    src: np.ndarray  # the source's pixels in the box (a copy: the result may be written over the source)
    zone: np.ndarray  # region + padding + band
    allowed: np.ndarray  # region + padding
    ring: np.ndarray
    ink: np.ndarray  # pixels of the zone that stand out in the source
    cent: np.ndarray
    texture: float  # share of ring pixels that stand out: what the background itself shows
    scale: float


def _look(src: np.ndarray, region: Region, padding: int) -> _Look | None:
    """A region's crop of the source (the region grown by padding, halo band and ring) and its ink."""
    h, w = src.shape[:2]
    scale = line_scale(region)
    band = halo(scale)
    box = pixel_box(region, w, h).grow(padding + band + max(3, band // 2), w, h)
    local = region.shifted(-box.x0, -box.y0)
    zone_u8 = np.zeros((box.height, box.width), np.uint8)
    draw_region(zone_u8, local, padding + band)
    allowed_u8 = np.zeros_like(zone_u8)
    draw_region(allowed_u8, local, padding)
    zone = zone_u8 > 0
    ring = ~zone
    if ring.sum() < 16 or zone.sum() < 16:
        return None
    crop = src[box.slices].copy()
    ink, cent = standout(crop, ring, scale)
    return _Look(box, crop, zone, allowed_u8 > 0, ring, ink & zone, cent, float(ink[ring].mean()), scale)


class Verifier:
    """Checks one request's regions against its source image; each region's look at the source
    (crop, ring, ink) is computed once and shared by the mask's pre-check and every round.
    `keep_looks()` takes every look before the result is written over the source, so that the
    pipeline needs no full-size copy of the image: only the regions' crops are kept."""

    def __init__(self, src: np.ndarray, regions: list[Region], padding: int, detector: ProbabilityMap | None):
        self.src: np.ndarray | None = src
        self.regions, self.padding, self.detector = regions, padding, detector
        # per region: masked by its strokes (the text mode). A stroke mask that left text has
        # misjudged the ink, so its repair repaints the whole region at once.
        self.by_strokes = [False] * len(regions)
        self._looks: dict[int, _Look | None] = {}

    def look(self, i: int) -> _Look | None:
        if i not in self._looks:
            if self.src is None:
                raise RuntimeError("the source is gone: call keep_looks() before writing over it")
            self._looks[i] = _look(self.src, self.regions[i], self.padding)
        return self._looks[i]

    def keep_looks(self) -> None:
        """Look at every region now and let go of the full-size source."""
        for i in range(len(self.regions)):
            self.look(i)
        self.src = None

    def uncovered_share(self, i: int, mask: np.ndarray) -> float:
        """Before inpainting: the share of region i's ink (within region + padding) that `mask` leaves
        out, beyond what the background's own texture explains. High where a stroke mask misjudged
        which colour is ink."""
        look = self.look(i)
        if look is None:
            return 0.0
        m = mask[look.box.slices] > 0
        ink = look.ink & look.allowed
        n_ink = float(ink.sum()) - look.texture * float(look.allowed.sum())
        n_out = float((ink & ~m).sum()) - look.texture * float((look.allowed & ~m).sum())
        return 0.0 if n_ink < _MIN_INK else min(1.0, max(0.0, n_out) / n_ink)

    def check(self, out: np.ndarray, repainted: np.ndarray, indices: list[int]) -> dict[int, RegionCheck | None]:
        """How much of each region's text is still in `out`. The ink measure first; the detector
        (one pass per window of nearby regions) where that measure finds nothing to repair but
        could not see the region's text well in the source either (ink camouflaged by its
        surroundings): a measure that saw the text before will see it after."""
        own = {i: self._own(i, out, repainted) for i in indices}
        ask = [i for i, c in own.items() if c is not None and c.residual <= REPAIR_ABOVE
               and not self._sees_text(i)]
        if self.detector is not None and ask:
            h, w = out.shape[:2]
            for win, members in _windows([self.regions[i] for i in ask], w, h):
                p = self.detector.probability(out[win.slices])
                for j in members:
                    i = ask[j]
                    c, look = own[i], self.look(i)
                    assert c is not None and look is not None
                    b = look.box
                    own[i] = _with_detection(c, look, p[b.y0 - win.y0:b.y1 - win.y0, b.x0 - win.x0:b.x1 - win.x0])
        return own

    def _sees_text(self, i: int) -> bool:
        """Whether the ink measure finds, in the source, as much ink as a line of text has."""
        look = self.look(i)
        if look is None:
            return False
        n_ink = float((look.ink & look.allowed).sum()) - look.texture * float(look.allowed.sum())
        return n_ink >= _VISIBLE * float(look.allowed.sum())

    def _own(self, i: int, out: np.ndarray, repainted: np.ndarray) -> RegionCheck | None:
        look = self.look(i)
        if look is None:
            return None
        sl = look.box.slices
        s, o, m = look.src, out[sl], repainted[sl] > 0
        ink_out, _ = standout(o, look.ring, look.scale, look.cent)
        same = np.linalg.norm(_lab(o) - _lab(s), axis=2) < _SAME
        left = look.ink & ink_out & same
        n_ink = float(look.ink.sum()) - look.texture * float(look.zone.sum())
        n_left = float(left.sum()) - look.texture * float((look.zone & ~m).sum())
        residual = 0.0 if n_ink < _MIN_INK else min(1.0, max(0.0, n_left) / n_ink)
        return RegionCheck(residual, left, look.box, look.zone)


def _with_detection(check: RegionCheck, look: _Look, prob: np.ndarray) -> RegionCheck:
    """A check with the detector's view added: the share of the region's box still detected as text."""
    still = (prob > _PROB) & look.zone
    # a line of text fills about a quarter of its box with probability above the threshold
    det = min(1.0, float((still & look.allowed).sum()) / max(1.0, _TEXT_SHARE * float(look.allowed.sum())))
    if det <= check.residual:
        return check
    left = check.leftover | (cv2.dilate(still.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    return RegionCheck(det, left, check.box, check.zone)


def _windows(regions: list[Region], w: int, h: int) -> list[tuple[PixelBox, list[int]]]:
    """Detector windows: each region with the context the detector needs to recognise its text (the
    text's height on every side, at least 16 px), overlapping windows merged; one window for the
    whole image where they would cover most of it anyway."""
    wins: list[tuple[PixelBox, list[int]]] = []
    for i, r in enumerate(regions):
        box = pixel_box(r, w, h).grow(int(max(16, line_scale(r))), w, h)
        members = [i]
        merged = True
        while merged:
            merged = False
            for j, (o, mem) in enumerate(wins):
                if box.x0 < o.x1 and o.x0 < box.x1 and box.y0 < o.y1 and o.y0 < box.y1:
                    box = PixelBox(min(box.x0, o.x0), min(box.y0, o.y0), max(box.x1, o.x1), max(box.y1, o.y1))
                    members += mem
                    del wins[j]
                    merged = True
                    break
        wins.append((box, members))
    if sum(b.area for b, _ in wins) >= 0.6 * w * h:
        return [(PixelBox(0, 0, w, h), list(range(len(regions))))]
    return wins


def repair_mask(mask: np.ndarray, check: RegionCheck, region: Region, padding: int, whole_region: bool) -> None:
    """Grow `mask` (in place) over what a check found left, within the region's zone."""
    crop = mask[check.box.slices]
    grow = np.zeros(crop.shape, np.uint8)
    if whole_region:
        draw_region(grow, region.shifted(-check.box.x0, -check.box.y0), padding)
    left = check.leftover.astype(np.uint8)
    if left.any():
        k = 5
        # OpenCV's stubs type every image as integer-or-float; dilating a uint8 mask keeps uint8
        grown = cast("npt.NDArray[np.uint8]", cv2.dilate(left, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))))
        grow |= grown * 255
    grow &= check.zone.astype(np.uint8) * 255
    crop |= grow


def regions_of_mask(mask: np.ndarray, limit: int = 64) -> list[Region]:
    """Boxes around the connected parts of an uploaded mask (the largest `limit`), to check them
    like regions."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    order = sorted(range(1, n), key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))[:limit]
    return [Region.box(float(stats[i, 0]), float(stats[i, 1]), float(stats[i, 2]), float(stats[i, 3]))
            for i in order if stats[i, cv2.CC_STAT_AREA] >= 4]

