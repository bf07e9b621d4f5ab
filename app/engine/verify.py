"""Is the text gone? Independent looks at each repainted region of the result, and a repair plan.

A result that still shows the text is the worst answer the service can give, and one that shows
it and reports itself clean is worse, so every region is checked after inpainting, on its own crop,
by measures that do not share the first mask's blind spots:

- *Ink that still shows.* In the source, a region's ink is every pixel around it (the region grown
  by padding and MAX_HALO, for shadows, glow and outlines) that stands out from its own
  neighbourhood at the text's scale, or from every colour cluster of the ring beyond. Ink the mask
  left out is unchanged in the result: it counts where it still stands out there by the same
  measure, beyond the rate at which the ring's own texture does (background between letters stood
  out in the source only against the text around it: once the text is gone it does not). Where the mask was painted, the model saw none of the ink, so a trace
  there is a ghost drawn from what the mask left: it counts where the fill, smoothed to a stroke's
  width (a coherent ghost stays, a texture's grain does not), stands out at the ink's pixels more
  often than elsewhere in the fill, or, for a mask in the glyphs' own shape, more often than the
  ring; either polarity, any colour (a glyph filled darker than it was, from its shadow, reads as
  well as one left as it was). A zone repainted whole counts nothing there: what stands out in it
  was carried in from beyond the halo, which holds no text (where the model saw the letters, the
  reader reads such a line: `confirm`).
- *The detector.* Where the first measure cannot see a line's text in the source (ink camouflaged
  by its surroundings, a faint watermark: less ink than a line has), the text detector's
  probability on the result against the source, at the line's own scale (crops scaled so a line
  is about 32 px high): of what it saw as text in the source's zone, the share it still sees,
  beyond what it sees in the ring.

- *The reader* (`Verifier.confirm`). Where the first mask covered a line whole, the model saw none
  of its letters: what the first measure finds there is the scene's texture, the fill's smear, or
  letters the fill drew back from around them, and only the last is text. The detector looks
  first, at the line's scale: a line whose text it saw in the source and no longer sees is clean,
  unread (a few ms). Where it still responds, or never saw the text, the recognizer reads the
  line in the source and the same frame of the result, and decides; it also judges the lines
  neither measure can see. A line masked by its strokes stays the ink measure's: a letter's part
  the strokes left out is unchanged, and a reader may not read a fragment.

A region's residual (0-1) is the larger of the first two (or the reader's verdict, where it judged).
Where the part of it a repaint can reach (all of it but ink left out beyond the zone:
`RegionCheck.reachable`) is above REPAIR_ABOVE, the region is repainted again and checked again:
first only the ink the mask left out, grown by a stroke's width, where that is what raised the
flag, or, where a ghost in the fill of a mask in the glyphs' shape raised it, that mask grown by
a stroke's width (`RegionCheck.aim`); else, or where that did not clear it, as its whole zone (its reach:
`reach`), the first mask having shown it could not clear it. What remains is reported, not hidden.

The reach is one rule (`reach`, `_reach_in`): a region changes pixels only inside itself as its
padding draws it, or within padding + halo of it (Euclidean); a mask part, within its halo of its
pixels. The pipeline clips every composite to it.

An uploaded mask is obeyed: its parts (connected components) are checked alike, but a part's zone
is its own pixels grown by its halo (a quarter of its scale, at most MAX_HALO), never its bounding
box, so a repair stays within the mask's dilation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from app.engine.masks import PixelBox, Region, core_and_padded, draw_region, kmeans, pixel_box
from app.engine.ocr import Frame, Reading

# a pixel "stands out" at this colour distance (CIE dE, L in 0..100) or the ring's own 90th
# percentile x _SPREAD, whichever is larger
_T_MIN, _SPREAD = 10.0, 1.5
_PROB = 0.3  # the detector's text threshold (its own DB default)
_DET_HEIGHT = 32.0  # px: the line height the detector's crops are scaled to (within 0.5x..2x)
_DET_MIN = 24  # fewer source pixels seen as text than this (at the detector's scale): no opinion
MAX_HALO = 12  # px beyond region + padding that a repair may reach, at most
REPAIR_ABOVE = 0.02  # residual above which a region is repaired (what API.md calls clean)
UNCOVERED_GROW = 0.05  # a stroke mask that leaves out more of the ink than this grows to it
_BODY_MISSED = 0.4  # a stroke mask that leaves out more of the detector's text body than this missed the letters
_MIN_INK = 12  # fewer ink pixels than this: nothing to judge by contrast
_MIN_SHARE = 0.03  # nor where the text's ink is under this share of the region
_VISIBLE = 0.12  # the contrast measure judges alone where it sees this share of the zone as ink
_READ_SCORE = 0.5  # a reading at least this sure (mean character probability) is one the reader stands by
# a result reading, however unsure, that holds this share of the source's characters still shows the
# line (a clean fill's unsure readings hold at most a character: 0.17 of a six-character line)
_READ_SHARE = 0.2
READ_MAX = 16  # lines a request's reader reads at most (about 40 ms each on two cores): the rest, ink alone
# a line the detector saw in the source and still sees no more than this share of in the result is
# clean, unread (bench/gate_calibration.py: on hard_cases seeds 250 and 750, every line it saw in the
# source scored 0.00 in the result, and none of the 1,093 it cleared is legible)
_GATE_LEFT = 0.1
_GATE_CONTEXT = 0.4  # of a line's height, around it: what the detector sees of the scene in confirm
_GATE_MAX = 64  # lines a request's detector looks at in confirm (about 12 ms each on two cores): the rest, read


class ProbabilityMap(Protocol):
    def probabilities(self, crops: list[np.ndarray]) -> list[np.ndarray]: ...


class LineReader(Protocol):
    """The recognizer (app.engine.ocr.Ocr): what a line says, and what a given frame says."""

    def read(self, rgb: np.ndarray, polygons: list[tuple[tuple[float, float], ...]]) -> list[Reading]: ...

    def read_frames(self, rgb: np.ndarray, frames: list[Frame]) -> list[Reading]: ...


@dataclass
class RegionCheck:
    residual: float  # share of the region's text still there (0-1)
    box: PixelBox  # the crop (image coordinates)
    zone: np.ndarray  # crop-sized bool: where this region may be repainted: its reach (`reach`)
    # the part of `residual` inside the zone, which a repair can change (ink left out beyond the
    # reach is reported, never repainted: repainting the zone again would not touch it)
    reachable: float = 0.0
    read: float | None = None  # the reader's say (`Verifier.confirm`): the share of the line's characters still read
    # crop-sized bool, where a first repair aims: where the flag is ink the mask left out, that ink,
    # still standing out within the zone; where it is a ghost in the fill of a mask in the glyphs'
    # shape, that mask and that ink; grown by a stroke's width (half the halo). None (a ghost in a
    # region's fill, the detector's or a reader's verdict): the repair is the zone
    aim: np.ndarray | None = None
    # the zone was repainted whole: the fill is not scored (what stands out in it was carried in from
    # beyond the halo; for a model that fills blind, nothing there can be the letters): the reader's,
    # for a model that does not
    unscored: bool = False
    blind: bool = False  # neither the contrast measure nor the detector could judge the line: the reader's part


@dataclass(frozen=True)
class MaskPart:
    """One connected part of an uploaded mask: its bounding box and its own pixels (bool, box-sized)."""

    box: PixelBox
    pixels: np.ndarray


def reported(residual: float) -> float:
    """A residual as the API reports it: floored to 3 decimals, so that a region the service judged
    clean (under REPAIR_ABOVE) never reads as 0.02, which API.md tells callers to act on."""
    return math.floor(residual * 1000 + 1e-9) / 1000


def line_scale(region: Region) -> float:
    """The text's height: the short side of the region's minimum-area rectangle."""
    pts = np.asarray(region.points, np.float32)
    (_, _), (w, h), _ = cv2.minAreaRect(pts)
    return float(max(1.0, min(w, h)))


def halo(scale: float) -> int:
    """How far beyond the padded region shadows and glow are looked for (and a repair may reach):
    a quarter of the text's scale, at least 3 px, at most MAX_HALO."""
    return int(min(MAX_HALO, max(3, round(0.25 * scale))))


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def part_scale(pixels: np.ndarray) -> float:
    """A mask part's scale: the short side of its pixels' minimum-area rectangle."""
    pts = cv2.findNonZero(pixels.astype(np.uint8))
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    return float(max(1.0, min(rw, rh)))


def _reach_in(core: npt.NDArray[np.uint8], padded: npt.NDArray[np.uint8], distance: float) -> np.ndarray:
    """`padded` (the region as its padding draws it) and every pixel within `distance` (Euclidean)
    of `core` (the region itself): the one rule of how far a line may change pixels."""
    if not core.any():
        return padded > 0
    d = cv2.distanceTransform((core == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return cast(np.ndarray, (padded > 0) | (d <= distance))


def _region_reach(region: Region, box: PixelBox, padding: int,
                  drawn: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]] | None = None) -> np.ndarray:
    """A region's reach within `box`: drawn with its padding, or within padding + halo of it.
    `drawn`: its `core_and_padded` in `box`, where already made."""
    core, padded = drawn if drawn is not None else core_and_padded(region, box, padding)
    # a polygon's drawn pixels may lie up to a pixel outside its exact outline (the rasterizer puts
    # pixel centres on integers): measured from them, a pixel less; a box's are exact
    return _reach_in(core, padded, padding + halo(line_scale(region)) - (0 if region.is_box else 1))


def _part_reach(part: MaskPart, box: PixelBox) -> np.ndarray:
    """A mask part's reach within `box`: its pixels, and every pixel within its halo of them."""
    core = np.zeros((box.height, box.width), np.uint8)
    b = part.box
    core[b.y0 - box.y0:b.y1 - box.y0, b.x0 - box.x0:b.x1 - box.x0][part.pixels] = 255
    return _reach_in(core, core, halo(part_scale(part.pixels)))


def reach(width: int, height: int, regions: list[Region], padding: int, parts: list[MaskPart] | None = None
          ) -> np.ndarray:
    """Where a request may change pixels (H x W bool): every region's reach, and every mask part's.
    The pipeline clips every composite to it (MaskPlan.allowed)."""
    out = np.zeros((height, width), bool)
    for r in regions:
        box = pixel_box(r, width, height).grow(padding + MAX_HALO + 1, width, height)
        if box.width > 0 and box.height > 0:
            out[box.slices] |= _region_reach(r, box, padding)
    for p in parts or []:
        box = p.box.grow(MAX_HALO + 1, width, height)
        out[box.slices] |= _part_reach(p, box)
    return out


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2LAB)


def _ring_clusters(lab_ring: np.ndarray) -> np.ndarray:
    step = max(1, len(lab_ring) // 600)
    cent, lab_r = kmeans(lab_ring[::step], 3)
    keep = np.bincount(lab_r, minlength=len(cent)) >= max(4, 0.08 * len(lab_r))
    return cent[keep] if keep.any() else cent


def _norm(a: np.ndarray) -> np.ndarray:
    """The Euclidean norm over the last axis (H x W x 3 -> H x W), as np.linalg.norm's, sooner."""
    return np.asarray(np.sqrt(np.einsum("...i,...i->...", a, a)))


def _dist(lab: np.ndarray, cent: np.ndarray) -> np.ndarray:
    """Each pixel's colour distance to the nearest of the clusters `cent`."""
    d2 = np.full(lab.shape[:2], np.inf, np.float32)
    for c in cent:
        diff = lab - c
        d2 = np.minimum(d2, np.einsum("...i,...i->...", diff, diff))
    return np.sqrt(d2)


def _kernel(scale: float) -> int:
    """The median window of the local contrast: about the text's height."""
    return int(min(41, max(5, round(0.8 * scale)))) | 1


def local_contrast(rgb: np.ndarray, k: int) -> np.ndarray:
    """Each pixel's Lab colour minus its neighbourhood's median (window k): H x W x 3."""
    return np.asarray(_lab(rgb) - _lab(cv2.medianBlur(np.ascontiguousarray(rgb), k)))


@dataclass
class _Look:
    """One region's crop of the source: where it may be repainted, its ring, its ink, and what the
    detector saw there."""

    box: PixelBox
    zone: np.ndarray  # where a repair may reach: region + padding + halo band (a mask part: its pixels
    # grown by its halo)
    seen: np.ndarray  # where ink is looked for: the region grown by padding + MAX_HALO (a mask part: its
    # pixels grown by MAX_HALO), so that a shadow past what a repair may reach is reported
    ring: np.ndarray
    ink: np.ndarray  # pixels of `seen` that stand out in the source
    core: np.ndarray  # the region + padding (a mask part: its pixels); the rest of `seen` is its band
    texture: float  # share of ring pixels that stand out: what the background itself shows
    k: int
    band: int  # the halo
    ring_ink: np.ndarray  # ring pixels that stand out in the source (the texture's own)
    stands: _Stands  # what standing out means here (applied to the result too)

    def text_ink(self, sel: np.ndarray) -> float:
        """How many of the ink pixels in `sel` are text, beyond texture: in the core, beyond the
        texture rate of the band or the ring, whichever is lower (a line's own band is the truest
        sample of the background right behind it, unless a shadow or glow fills it); in the band,
        beyond the ring's rate (what is more there is a shadow, a glow, an outline)."""
        band = self.seen & ~self.core
        n_band = max(1, int(band.sum()))
        tex_core = min(self.texture, float((self.ink & band).sum()) / n_band)
        in_core = float((self.ink & sel & self.core).sum()) - tex_core * float((sel & self.core).sum())
        in_band = float((self.ink & sel & band).sum()) - self.texture * float((sel & band).sum())
        return max(0.0, in_core) + max(0.0, in_band)

    @cached_property
    def text_total(self) -> float:
        """All of the line's text ink (`text_ink` of `seen`): the denominator of every share, fixed on
        the source, so worked out once."""
        return self.text_ink(self.seen)

    @property
    def judged(self) -> bool:
        """Whether there is enough text ink to judge by contrast (else: no opinion, the detector's part)."""
        return self.text_total >= max(_MIN_INK, _MIN_SHARE * float(self.core.sum()))

    text_seen: np.ndarray | None = None  # zone pixels the detector saw as text in the source
    # `seen` pixels the detector saw as text in the source's crop that confirm looks at (the line and
    # _GATE_CONTEXT around it)
    gate_seen: np.ndarray | None = None
    source: np.ndarray | None = None  # the source's crop (`box`), kept for the reader
    reading: Reading | None = None  # what the reader read in the source (in `box`'s crop), once asked


def _look(src: np.ndarray, region: Region, padding: int, part: MaskPart | None = None,
          others: np.ndarray | None = None) -> _Look | None:
    """A region's crop of the source (the region grown by padding, halo band and ring) and its ink.
    `others` (crop-sized bool, optional): the other regions' text, kept out of the ring, whose
    texture would otherwise hide this region's ink."""
    h, w = src.shape[:2]
    if part is None:
        scale = line_scale(region)
    else:
        scale, padding = part_scale(part.pixels), 0
    band = halo(scale)
    box = pixel_box(region, w, h).grow(padding + MAX_HALO + max(3, MAX_HALO // 2), w, h)
    if part is None:
        drawn = core_and_padded(region, box, padding)
        allowed_u8 = drawn[1]
        zone = _region_reach(region, box, padding, drawn)
        seen_u8 = np.zeros_like(allowed_u8)
        draw_region(seen_u8, region.shifted(-box.x0, -box.y0), padding + MAX_HALO)
        seen = seen_u8 > 0
    else:
        b = part.box
        allowed_u8 = np.zeros((box.height, box.width), np.uint8)
        allowed_u8[b.y0 - box.y0:b.y1 - box.y0, b.x0 - box.x0:b.x1 - box.x0] = part.pixels.astype(np.uint8) * 255
        zone = _part_reach(part, box)
        seen = cv2.dilate(allowed_u8, _disk(MAX_HALO)) > 0
    ring = ~seen
    if others is not None and (ring & ~others).sum() >= 16:
        ring &= ~others
    if ring.sum() < 16 or zone.sum() < 16:
        return None
    crop = src[box.slices]
    k = _kernel(scale)
    stands = _Stands.of(crop, ring, k)
    ink = stands(crop)
    return _Look(box, zone, seen, ring, ink & seen, allowed_u8 > 0, _texture(ink, ring), k, band, ink & ring, stands)


@dataclass(frozen=True)
class _Stands:
    """What "stands out" means around one line, fixed on the source: far (CIE dE) from every colour
    cluster of the ring, or from its own neighbourhood's median at the text's scale, by more than
    the ring's own 90th percentile x _SPREAD (at least _T_MIN). Applied to the result as well, so
    that ink the mask left out is counted by the same measure that found it."""

    clusters: np.ndarray
    t: float
    t_lc: float
    k: int

    @classmethod
    def of(cls, crop: np.ndarray, ring: np.ndarray, k: int) -> _Stands:
        lab = _lab(crop)
        cent = _ring_clusters(lab[ring])
        d = _dist(lab, cent)
        lc = _norm(local_contrast(crop, k))
        t = max(_T_MIN, _SPREAD * float(np.percentile(d[ring], 90)))
        t_lc = max(_T_MIN, _SPREAD * float(np.percentile(lc[ring], 90)))
        return cls(cent, t, t_lc, k)

    def __call__(self, crop: np.ndarray, contrast: np.ndarray | None = None) -> np.ndarray:
        """Where `crop` stands out; `contrast`: its local_contrast at this k, where already made."""
        lc = _norm(local_contrast(crop, self.k) if contrast is None else contrast)
        return cast(np.ndarray, (_dist(_lab(crop), self.clusters) > self.t) | (lc > self.t_lc))


def _texture(ink: np.ndarray, ring: np.ndarray) -> float:
    """The share of ring pixels that stand out: the median over the ring's four sides, so that one
    side crossing a bright stripe or an edge of the scene does not pass for the texture all round
    (and hide a thin line's whole ink)."""
    rates = [float(ink[ring & side].mean()) for side in _sides(*ring.shape) if (ring & side).sum() >= 16]
    return float(np.median(rates)) if rates else float(ink[ring].mean())


@lru_cache(maxsize=64)
def _sides(h: int, w: int) -> tuple[np.ndarray, ...]:
    """A crop's four sides (top, bottom, left, right: the triangles its diagonals cut), by shape:
    a request's lines share a few."""
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = (yy - h / 2) / max(1, h), (xx - w / 2) / max(1, w)
    sides = ((np.abs(dy) >= np.abs(dx)) & (dy < 0), (np.abs(dy) >= np.abs(dx)) & (dy >= 0),
             (np.abs(dx) > np.abs(dy)) & (dx < 0), (np.abs(dx) > np.abs(dy)) & (dx >= 0))
    for side in sides:
        side.flags.writeable = False  # (shared)
    return sides


_MANY_NEIGHBOURS = 32  # past this many, a region's neighbours come from one count (Verifier._covered_by_others)


def _drawn(region: Region, box: PixelBox, grow: int) -> np.ndarray:
    """Region grown by `grow`, drawn in `box` (box-sized, 0 or 1)."""
    m = np.zeros((box.height, box.width), np.uint8)
    draw_region(m, region.shifted(-box.x0, -box.y0), grow)
    return (m > 0).astype(np.uint8)


class Verifier:
    """Checks one request's regions (or an uploaded mask's parts) against its source image; each
    region's look at the source (crop, ring, ink, what the detector saw) is computed once and
    shared by the mask's pre-check and every round. `keep_looks()` takes every look before the
    result is written over the source, so that the pipeline needs no full-size copy of the image."""

    def __init__(self, src: np.ndarray, regions: list[Region], padding: int, detector: ProbabilityMap | None,
                 parts: list[MaskPart] | None = None, reader: LineReader | None = None):
        self.src: np.ndarray | None = src
        self.regions, self.padding, self.detector, self.parts = regions, padding, detector, parts
        self.reader = reader if parts is None else None  # (a mask part is no line to read)
        self._mask: np.ndarray | None = None  # an uploaded mask (its parts' neighbours)
        self._bounds: np.ndarray | None = None  # the regions' bounds (n x 4), for finding neighbours
        self._cover: np.ndarray | None = None  # how many regions cover each pixel (see _covered_by_others)
        # per region: masked by its strokes (the text mode); the pipeline sets it
        self.by_strokes = [False] * len(regions)
        # the model fills the mask without seeing what it covers (models.fills_blind); the pipeline
        # sets it: then a line covered whole holds no ghost of its letters, and the detector may clear it
        self.blind_fill = False
        self._looks: dict[int, _Look | None] = {}
        self._detected = False  # _detect_blind has run
        self._reads = 0  # source lines the reader has read (READ_MAX)
        self._gated = 0  # source lines the detector has looked at in confirm (_GATE_MAX)

    @classmethod
    def of_mask(cls, src: np.ndarray, mask: np.ndarray, detector: ProbabilityMap | None,
                parts: list[MaskPart] | None = None) -> Verifier:
        """A verifier of an uploaded mask's parts (mask_parts: the largest 64)."""
        parts = mask_parts(mask) if parts is None else parts
        regions = [Region.box(p.box.x0, p.box.y0, p.box.width, p.box.height) for p in parts]
        v = cls(src, regions, 0, detector, parts)
        v._mask = mask
        return v

    def look(self, i: int) -> _Look | None:
        if i not in self._looks:
            if self.src is None:
                raise RuntimeError("the source is gone: call keep_looks() before writing over it")
            self._looks[i] = _look(self.src, self.regions[i], self.padding, self.parts[i] if self.parts else None,
                                   self._others(i))
        return self._looks[i]

    def _others(self, i: int) -> np.ndarray:
        """Around region i (its look's box), the text of every other region or mask part, grown by
        MAX_HALO: bool, box-sized."""
        assert self.src is not None
        h, w = self.src.shape[:2]
        r = self.regions[i]
        box = pixel_box(r, w, h).grow(self.padding + 2 * MAX_HALO, w, h)
        if self._mask is not None:
            crop = (self._mask[box.slices] > 0).astype(np.uint8)
            part = cast(list[MaskPart], self.parts)[i]
            b = part.box
            crop[b.y0 - box.y0:b.y1 - box.y0, b.x0 - box.x0:b.x1 - box.x0][part.pixels] = 0
            grown = cv2.dilate(crop, _disk(MAX_HALO)) > 0
        else:
            if self._bounds is None:  # every region's bounds, once: a request may send a thousand
                self._bounds = np.array([o.bounds() for o in self.regions], np.float64).reshape(-1, 4)
            x0, y0, x1, y1 = self._bounds.T
            reach = self.padding + MAX_HALO  # how far a neighbour's drawing reaches past its bounds
            near = np.flatnonzero((x0 < box.x1 + reach) & (box.x0 - reach < x1)
                                  & (y0 < box.y1 + reach) & (box.y0 - reach < y1))
            if len(near) > _MANY_NEIGHBOURS:
                grown = self._covered_by_others(i, box)
            else:
                m = np.zeros((box.height, box.width), np.uint8)
                for j in near:
                    if j != i:
                        draw_region(m, self.regions[j].shifted(-box.x0, -box.y0), self.padding + MAX_HALO)
                grown = m > 0
        # the look's box, within this one
        inner = pixel_box(r, w, h).grow(self.padding + MAX_HALO + max(3, MAX_HALO // 2), w, h)
        return grown[inner.y0 - box.y0:inner.y1 - box.y0, inner.x0 - box.x0:inner.x1 - box.x0]

    def _covered_by_others(self, i: int, box: PixelBox) -> np.ndarray:
        """In `box`, where a region other than i (grown by padding + MAX_HALO) lies, from a count of
        the regions over each pixel, made once: drawing every neighbour for every region costs
        regions x neighbours draws (a thousand polygons piled on a small image: 20 s), this costs
        one draw per region."""
        assert self.src is not None
        h, w = self.src.shape[:2]
        grow = self.padding + MAX_HALO
        if self._cover is None:
            self._cover = np.zeros((h, w), np.uint16 if len(self.regions) < 2**16 else np.uint32)
            for r in self.regions:
                b = pixel_box(r, w, h).grow(grow + 1, w, h)
                if b.width > 0 and b.height > 0:
                    self._cover[b.slices] += _drawn(r, b, grow)
        own = _drawn(self.regions[i], box, grow)
        others: np.ndarray = self._cover[box.slices].astype(np.int64) - own > 0
        return others

    def keep_looks(self) -> None:
        """Look at every region now (the detector included) and let go of the full-size source,
        keeping each look's crop of it where the reader may be asked (`confirm`: a line the first
        mask covered whole, or one the contrast measure cannot judge)."""
        for i in range(len(self.regions)):
            look = self.look(i)
            if (look is not None and self.reader is not None and self.src is not None
                    and (not self.by_strokes[i] or not look.judged)):
                look.source = self.src[look.box.slices].copy()
        self._detect_blind()
        self.src = None

    def _detect_blind(self) -> None:
        """Once, while the source is here: what the detector sees as text around every region whose
        text the contrast measure cannot see (`_sees_text`), in one pass per window."""
        if self._detected or self.detector is None or self.src is None:
            return
        self._detected = True
        blind = [i for i in range(len(self.regions)) if not self._sees_text(i)]
        for i, prob in self._probabilities(self.src, blind).items():
            look = self._looks[i]
            if look is not None:
                look.text_seen = (prob > _PROB) & look.seen

    def _text_body(self, i: int) -> tuple[_Look, np.ndarray] | None:
        """Region i's look and the text body the detector sees in the source, where the contrast
        measure cannot see its text and the detector sees enough (else None)."""
        self._detect_blind()
        look = self.look(i)
        if look is None or look.text_seen is None or int(look.text_seen.sum()) < _DET_MIN:
            return None
        return look, look.text_seen

    def misses_text_body(self, i: int, mask: np.ndarray) -> bool:
        """Before inpainting, for a region whose text the contrast measure cannot see: whether `mask`
        leaves out more than _BODY_MISSED of the text body the detector sees there. A stroke mask
        that misjudged the letters' colour covers a small part of it (9 % on brown-on-brown after
        JPEG); one that found them covers nearly all (at least 77 % on hard_cases' blind lines)."""
        got = self._text_body(i)
        if got is None:
            return False
        look, body = got
        return float((body & ~(mask[look.box.slices] > 0)).sum()) > _BODY_MISSED * float(body.sum())

    def grow_to_text_body(self, i: int, mask: np.ndarray) -> None:
        """Before inpainting, for a region whose text the contrast measure cannot see: grow `mask` (in
        place) over the text body the detector sees that the mask leaves out (more than
        UNCOVERED_GROW of it), by half the halo, within the reach. A stroke mask built from colour
        can miss the letters' fill where the contrast is low (yellow on orange, after JPEG): the
        detector still sees them, and the check after the model would not."""
        got = self._text_body(i)
        if got is None:
            return
        look, body = got
        left = body & ~(mask[look.box.slices] > 0) & look.zone
        if float(left.sum()) <= UNCOVERED_GROW * float(body.sum()):
            return
        add = cv2.dilate(left.astype(np.uint8), _disk(max(1, look.band // 2))) > 0
        mask[look.box.slices][add & look.zone] = 255

    def _sees_text(self, i: int) -> bool:
        """Whether the contrast measure finds, in the source, as much ink as a line of text has; where
        it does not (ink camouflaged by its surroundings, a faint watermark), the detector judges."""
        look = self.look(i)
        if look is None:
            return True
        return look.text_ink(look.seen) >= _VISIBLE * float(look.zone.sum())

    def uncovered_share(self, i: int, mask: np.ndarray) -> float:
        """Before inpainting: the share of region i's text ink (its band included, for shadows and
        glow) that `mask` leaves out. High where a stroke mask misjudged which colour is ink, or
        where effects reach past it."""
        look = self.look(i)
        if look is None:
            return 0.0
        m = mask[look.box.slices] > 0
        if not look.judged:
            return 0.0  # too little text to judge by
        return min(1.0, look.text_ink(look.seen & ~m) / look.text_total)

    def grow_to_ink(self, i: int, mask: np.ndarray) -> None:
        """Grow `mask` (in place) over the ink of region i it leaves out next to it (a shadow, a glow,
        an outline, anti-aliasing), within the region's reach: the ink that touches the mask, twice
        over, the ink added grown by a pixel (the rest of the mask stays as it was: a pixel round a
        whole line would repaint its clean surroundings). Instead of the whole zone: the model fills
        less, sooner."""
        look = self.look(i)
        if look is None:
            return
        m = mask[look.box.slices] > 0
        step = _disk(max(1, look.band // 2))
        added = np.zeros_like(m)
        for _ in range(2):
            add = look.ink & look.zone & ~m & (cv2.dilate(m.astype(np.uint8), step) > 0)
            if not add.any():
                break
            m |= add
            added |= add
        if added.any():
            mask[look.box.slices][(cv2.dilate(added.astype(np.uint8), _disk(1)) > 0) & look.zone] = 255

    def cover_zone(self, i: int, mask: np.ndarray) -> None:
        """Add region i's whole zone (its reach) to `mask`, in place."""
        look = self.look(i)
        if look is not None:
            mask[look.box.slices][look.zone] = 255

    def check(self, out: np.ndarray, repainted: np.ndarray, indices: list[int]) -> dict[int, RegionCheck | None]:
        """How much of each region's text is still in `out`: the larger of the two measures."""
        own = {i: self._contrast_left(i, out, repainted) for i in indices}
        if self.detector is None:
            return own
        todo = [i for i in indices if own[i] is not None and self._looks[i] is not None
                and cast(_Look, self._looks[i]).text_seen is not None]
        for i, prob in self._probabilities(out, todo).items():
            c, look = own[i], self._looks[i]
            assert c is not None and look is not None and look.text_seen is not None
            own[i] = _with_detection(c, look, prob)
        return own

    def confirm(self, out: np.ndarray, found: dict[int, RegionCheck | None]) -> dict[int, RegionCheck | None]:
        """The reader's say (the detector, then the recognizer) on two kinds of line:
        - a line the ink check flags (residual over REPAIR_ABOVE) that the first mask covered whole
          (not by its strokes): the model saw none of its letters, so what the ink check finds
          there is the scene's texture, a smear of the fill, or letters the fill drew back from
          what lay around, which a reader reads. Where the mask was the strokes, a part of a letter
          it left out stays as it was: the ink check decides there;
        - a line neither the ink check nor the detector could judge (`RegionCheck.blind`: a faint
          watermark): the recognizer is the only judge;
        - where the model does not fill blind, a line whose zone the mask repainted whole
          (`RegionCheck.unscored`, a repair's): the ink check does not score such a fill, and a
          model that saw the letters may have drawn them back there.
        Where the model fills blind (`blind_fill`: it saw none of the letters of a line covered
        whole, so what a reader could find there is what the mask left out, as sharp as it was),
        the detector looks first, at the line's scale, on the source's crop and the result's (a few
        ms): where it saw the line's text in the source and sees no more than _GATE_LEFT of it in
        the result, the line is clean (residual 0, no repair), unread. A fill that saw the letters
        may draw them back blurred, which the detector misses (half of such ghosts a recognizer
        still reads): there, where the detector still responds, or never saw the text, the
        recognizer reads the line in the source (at _READ_SCORE or more)
        and the same frame of `out`: a line of which it still reads _READ_SHARE of the characters
        (or any, surely) has text left (its residual is the ink check's, or the share read where
        that is larger); read less, the line is clean. Where neither can judge, the flag stands."""
        if self.reader is None:
            return found
        asked = [i for i, c in found.items() if c is not None
                 and (c.blind or (c.residual > REPAIR_ABOVE and not self.by_strokes[i])
                      or (c.unscored and not self.blind_fill))]
        asked.sort(key=lambda i: -cast(RegionCheck, found[i]).residual)  # the largest flags first
        confirmed = dict(found)
        clear = (self._detector_clears(out, [i for i in asked if not cast(RegionCheck, found[i]).blind])
                 if self.blind_fill else set())
        todo = []
        for i in asked:
            if i in clear:
                confirmed[i] = replace(cast(RegionCheck, found[i]), residual=0.0, reachable=0.0)
                continue
            look = self._looks.get(i)  # at most READ_MAX lines a request (two reads each): beyond, the other measures judge
            if look is not None and look.reading is None:
                if self._reads >= READ_MAX:
                    continue
                self._reads += 1
            if self._read_source(i):
                todo.append(i)
        for i in todo:
            look = cast(_Look, self._looks[i])
            source = cast(Reading, look.reading)  # (in the look's crop: no copy of the whole result)
            r = self.reader.read_frames(out[look.box.slices], [source.frame])[0]
            c = cast(RegionCheck, found[i])
            share = characters_read(source.text, r.text)
            if share >= _READ_SHARE or (share > 0 and r.score >= _READ_SCORE):
                # (where the reader raised the flag, the repair is the zone: it says the text is there,
                # not where)
                confirmed[i] = replace(c, residual=max(c.residual, share), reachable=max(c.reachable, share), read=share,
                                       aim=c.aim if share <= c.reachable else None)
            else:
                confirmed[i] = replace(c, residual=0.0, reachable=0.0, read=share)
        return confirmed

    def _detector_clears(self, out: np.ndarray, indices: list[int]) -> set[int]:
        """The regions of `indices` whose text the detector saw in the source (at least _DET_MIN
        pixels of its `seen`, at the line's scale) and sees no more than _GATE_LEFT of in `out`.
        Two crops a line (the source's, kept by keep_looks, once; the result's), the line with
        _GATE_CONTEXT of its height around it, all in one batch: at most _GATE_MAX lines a request."""
        if self.detector is None:
            return set()
        h, w = out.shape[:2]
        todo: list[tuple[int, _Look, PixelBox, bool]] = []  # (region, look, crop in the look's box, source's too)
        crops: list[np.ndarray] = []
        scales: list[float] = []
        for i in indices:
            look = self._looks.get(i)
            if look is None:
                continue
            fresh = look.gate_seen is None
            if fresh and (look.source is None or self._gated >= _GATE_MAX):
                continue
            self._gated += fresh
            scale = line_scale(self.regions[i])
            g = pixel_box(self.regions[i], w, h).grow(round(_GATE_CONTEXT * scale), w, h).within(look.box)
            todo.append((i, look, g, fresh))
            crops += ([cast(np.ndarray, look.source)[g.slices]] if fresh else []) + [out[look.box.slices][g.slices]]
            scales += [scale] * (1 + fresh)
        probs = iter(_scaled_probabilities(self.detector, crops, scales))
        clear = set()
        for i, look, g, fresh in todo:
            if fresh:
                look.gate_seen = (_in_box(look, g, next(probs)) > _PROB) & look.seen
            left = _detected_left(look, cast(np.ndarray, look.gate_seen), _in_box(look, g, next(probs)))
            if left is not None and left <= _GATE_LEFT:
                clear.add(i)
        return clear

    def _read_source(self, i: int) -> bool:
        """Whether the reader reads region i in the source (once: its look's crop, kept by keep_looks)."""
        look = self._looks.get(i)
        if look is None or self.reader is None:
            return False
        if look.reading is None:
            if look.source is None:
                return False
            b = look.box
            polygon = tuple((x - b.x0, y - b.y0) for x, y in self.regions[i].points)
            look.reading = self.reader.read(look.source, [polygon])[0]
            look.source = None
        text = "".join(look.reading.text.split())
        return look.reading.score >= _READ_SCORE and len(text) >= 2

    def _probabilities(self, img: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
        """The detector's probability over each region's crop of `img`, at the line's own scale: a
        window of nearby regions a crop, all in one batch."""
        assert self.detector is not None
        h, w = img.shape[:2]
        looks = {i: self._looks[i] for i in indices if self._looks.get(i) is not None}
        keys = list(looks)
        out: dict[int, np.ndarray] = {}
        wins = _windows([cast(_Look, looks[i]).box for i in keys], w, h)
        probs = _scaled_probabilities(self.detector, [img[win.slices] for win, _ in wins],
                                      [float(np.median([line_scale(self.regions[keys[j]]) for j in members]))
                                       for _, members in wins])
        for (win, members), p in zip(wins, probs):
            for j in members:
                b = cast(_Look, looks[keys[j]]).box
                out[keys[j]] = p[b.y0 - win.y0:b.y1 - win.y0, b.x0 - win.x0:b.x1 - win.x0]
        return out

    def _contrast_left(self, i: int, out: np.ndarray, repainted: np.ndarray) -> RegionCheck | None:
        """The share of the region's text ink still showing in `out`: what the mask left out, and the
        ghosts the fill drew from it (see the module docstring)."""
        look = self.look(i)
        if look is None:
            return None
        o, m = out[look.box.slices], repainted[look.box.slices] > 0
        d_out = local_contrast(o, look.k)
        # repainted ink pixels: the fill shows the glyphs where it stands out at the ink's pixels more
        # often than at the fill's other pixels (either polarity, any colour: a glyph filled darker
        # than it was, from its shadow, reads as well as one left as it was). Texture the fill
        # invents, or a scene edge it carries across, stands out at both alike. Judged a little
        # smoothed (a stroke's width): a coherent ghost stays, a busy texture's grain averages out.
        sigma = max(1.0, look.k / 12)
        mag = _norm(cv2.GaussianBlur(d_out, (0, 0), sigma))
        t_out = max(_T_MIN, _SPREAD * float(np.percentile(mag[look.ring], 90)))
        ink_m = look.ink & m
        masked_left = 0.0
        unscored = bool(ink_m.any()) and not (look.zone & ~m).any()
        if ink_m.any() and not unscored:
            # (a zone repainted whole: the model saw none of its pixels, so what stands out in it was
            # carried in from beyond the halo, which holds no text: the scene; nothing is counted)
            stands = mag > t_out
            if self.parts is not None or self.by_strokes[i]:
                # a mask in the glyphs' shape: a fill that stands out anywhere in it draws the glyphs
                filled = m & look.seen
                shown = float(stands[filled].mean()) - float(stands[look.ring].mean())
            else:
                other = m & look.seen & (cv2.dilate(look.ink.astype(np.uint8), _disk(1)) == 0)
                chance = float(stands[other].mean()) if other.sum() >= 30 else float(stands[look.ring].mean())
                shown = float(stands[ink_m].mean()) - chance
            masked_left = max(0.0, shown) * float(ink_m.sum())
        # ink the mask left out is unchanged, whether text (a shadow next to the strokes) or texture;
        # it counts where it still stands out in the result by the same measure, beyond the rate at
        # which the ring's own texture does: background between letters stood out in the source only
        # against the text around it, and stands out no more once the text is gone
        still = look.stands(o, d_out)
        left = look.seen & ~m
        tex = _texture(look.ring_ink & still, look.ring)
        shown_left = look.ink & still & left
        near = left & look.zone
        n_left = masked_left + max(0.0, float(shown_left.sum()) - tex * float(left.sum()))
        n_near = masked_left + max(0.0, float((shown_left & near).sum()) - tex * float(near.sum()))
        # too little text to judge by (a region with no visible text): the detector's part
        if not look.judged:
            return RegionCheck(0.0, look.box, look.zone, blind=True)
        n_ink = look.text_total
        # a first repair aims at the ink left out where the flag is that ink (the ghost alone would
        # not raise it): the ink still standing out within the zone, grown by a stroke's width
        # (made only where the check flags what a repaint can reach: a clean line needs no aim)
        aim: np.ndarray | None = shown_left & near
        if masked_left > REPAIR_ABOVE * n_ink:  # the fill shows a trace: in a mask of the glyphs' shape,
            # the glyphs again, grown (the rim the fill drew it from with them); else the zone
            aim = aim | (m & look.seen) if self.parts is not None or self.by_strokes[i] else None
        grown = None
        if n_near > REPAIR_ABOVE * n_ink and aim is not None and aim.any():
            grown = (cv2.dilate(aim.astype(np.uint8), _disk(max(1, look.band // 2))) > 0) & look.zone
        # (a deficit of ink beyond the zone does not offset what is left inside it)
        return RegionCheck(min(1.0, max(n_left, n_near) / n_ink), look.box, look.zone, min(1.0, n_near / n_ink),
                           aim=grown, unscored=unscored)


def characters_read(source: str, result: str) -> float:
    """The share of the source's characters read in the result, in order (their longest common
    subsequence; spaces and case ignored): what a reader can still make out of the line."""
    a, b = ("".join(t.split()).casefold() for t in (source, result))
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1] / len(a)


def _scaled_probabilities(detector: ProbabilityMap, crops: list[np.ndarray], scales: list[float]) -> list[np.ndarray]:
    """The detector's probability over each crop (one batch), scaled first so that a line `scale`
    px high is about _DET_HEIGHT px (within 0.5x..2x); crop-sized."""
    if not crops:
        return []
    small = []
    for crop, scale in zip(crops, scales):
        h, w = crop.shape[:2]
        f = float(np.clip(_DET_HEIGHT / scale, 0.5, 2.0))
        crop = np.ascontiguousarray(crop)
        small.append(crop if abs(f - 1.0) <= 0.1 else
                     cv2.resize(crop, (max(8, round(w * f)), max(8, round(h * f))),
                                interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR))
    return [p if p.shape[:2] == c.shape[:2] else
            np.asarray(cv2.resize(p, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR))
            for p, c in zip(detector.probabilities(small), crops)]


def _in_box(look: _Look, crop: PixelBox, prob: np.ndarray) -> np.ndarray:
    """A probability map of `crop` (within the look's box) laid in the look's box: 0 beyond it."""
    full = np.zeros(look.seen.shape, np.float32)
    full[crop.slices] = prob
    return full


def _detected_left(look: _Look, seen: np.ndarray, prob: np.ndarray) -> float | None:
    """Of what the detector saw as text in the source (`seen`), the share it still sees in `prob`
    (the result's, the same crop), beyond its rate on the look's ring; None where it saw too little
    to judge by."""
    n_seen = int(seen.sum())
    if n_seen < _DET_MIN:
        return None
    now = prob > _PROB
    base = float(now[look.ring].mean())
    share = float((now & seen).sum()) / n_seen
    return max(0.0, share - base) / max(1e-3, 1.0 - base)


def _with_detection(check: RegionCheck, look: _Look, prob: np.ndarray) -> RegionCheck:
    """A check with the detector's view added: of the zone the detector saw as text in the source,
    the share it still sees, beyond its rate on the ring."""
    assert look.text_seen is not None
    det = _detected_left(look, look.text_seen, prob)
    if det is None:
        return check
    return replace(check, blind=False) if det <= check.residual else replace(check, residual=det, reachable=det,
                                                                               aim=None, blind=False)


def _windows(boxes: list[PixelBox], w: int, h: int) -> list[tuple[PixelBox, list[int]]]:
    """Detector windows: overlapping boxes merged; one window for the whole image where they would
    cover most of it anyway."""
    wins: list[tuple[PixelBox, list[int]]] = []
    for i, box in enumerate(boxes):
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
        return [(PixelBox(0, 0, w, h), list(range(len(boxes))))]
    return wins


def mask_parts(mask: np.ndarray, limit: int = 64) -> list[MaskPart]:
    """The connected parts of an uploaded mask (the largest `limit`, of at least 4 pixels)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    order = sorted(range(1, n), key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))[:limit]
    parts = []
    for i in order:
        if stats[i, cv2.CC_STAT_AREA] < 4:
            continue
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        box = PixelBox(x, y, x + bw, y + bh)
        parts.append(MaskPart(box, labels[box.slices] == i))
    return parts
