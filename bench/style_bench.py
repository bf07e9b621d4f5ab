"""Describing a line's style (issue 28, first step): how well does `describe` measure each field?

Lines of known style are drawn with Pillow (bench/style_lines.py, the renderer the tests use) on
flat backgrounds and on crops of scikit-image's photographs (hard_cases.scene), at random:

  text     Latin phrases (DejaVu Sans, regular or bold) or CJK (Noto Sans CJK, regular or bold)
  size     14-72 px (the font's em size)
  colour   any, at least delta E 40 from the background under the line
  outline  1-4 px of a third colour (30 % of the lines), or
  shadow   a drop shadow offset 2-5 px down-right in a dark or light third colour (20 %)
  angle    0 (half the lines) or up to +-35 degrees, the region a turned polygon
  vertical CJK stacked top to bottom (15 % of the CJK lines)

`describe` runs on the image and the line's region, twice: the drawn polygon (the glyphs' box grown
by a sixth of the size, turned with the line: a caller's exact region) and the polygon the
service's detector finds there (what detect-text hands back: the one overlapping the line most;
a line it misses is counted apart). Each field is scored against what was drawn:

  text_color        CIE76 delta E to the drawn ink colour (target: within 10)
  background_color  delta E to the flat background (flat lines only: a photo has no one colour)
  outline / shadow  found when drawn and not found when not (target: 95 % right); the colour's
                    delta E, the width's and the offset's error in px where both agree
  font_size         relative error to the drawn em size (target: within 10 %)
  angle             degrees off the drawn angle (target: within 2)
  vertical, bold    right or wrong (bold target: 90 %)
  time              ms per line, describe alone: wall clock, and this process's CPU time

  .venv/bin/python bench/style_bench.py [--lines 400] [--seed 0] [--no-detect]   # writes bench/out/style_bench.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import OUT, md_table  # noqa: E402
from hard_cases import SCENES, scene  # noqa: E402
from style_lines import CJK, CJK_BOLD, SANS, SANS_BOLD, Look, delta_e, styled_line  # noqa: E402

from app.engine.ocr import load_ocr  # noqa: E402
from app.engine.ocr.describe import LineStyle, describe  # noqa: E402
from app.geometry import Region  # noqa: E402

WORDS = ("harbour lights market fresh bread summer night city hotel garden open daily coffee shop sale "
         "music festival tickets north station museum river walk best price limited edition welcome home "
         "world news sport weather today grand opening special offer").split()
HANZI = "東京夏祭中文字幕测试限時特價新品上市大阪駅前商店街春夏秋冬天気予報電話番号営業時間案内"
TOL = {"color": 10.0, "size": 0.10, "angle": 2.0}


@dataclass
class Case:
    look: Look
    photo: bool
    background: tuple[int, int, int] | None  # the flat background's colour


@dataclass
class Score:
    case: Case
    got: LineStyle
    ms: float  # wall clock
    cpu_ms: float  # this process's CPU time (less moved by other jobs on the machine)


def _phrase(rng: np.random.Generator) -> str:
    words = [str(w) for w in rng.choice(WORDS, int(rng.integers(2, 4)))]
    text = " ".join(words)
    return text.title() if rng.random() < 0.5 else text[0].upper() + text[1:]


def decoration(rng: np.random.Generator, under: np.ndarray) -> tuple[tuple[int, int, int], Any, Any]:
    """A line's ink colour (standing out from `under`) and its decoration, drawn in this order: an
    outline of 1-4 px (30 %), a drop shadow of 2-5 px (20 %), or none (replace_bench draws the same)."""
    colour = _colour(rng, under)
    outline = shadow = None
    deco = rng.random()
    if deco < 0.3:
        outline = (int(rng.integers(1, 5)), _colour(rng, np.asarray(colour)))
    elif deco < 0.5:
        third = (20, 20, 20) if delta_e(colour, (20, 20, 20)) >= 40 else (235, 235, 235)
        off = int(rng.integers(2, 6))
        shadow = ((off, off), third)
    return colour, outline, shadow


def _colour(rng: np.random.Generator, away_from: np.ndarray) -> tuple[int, int, int]:
    """A random colour at least delta E 40 from `away_from` (the background under the line)."""
    while True:
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        if delta_e(c, tuple(int(v) for v in away_from)) >= 40:  # type: ignore[arg-type]
            return c  # type: ignore[return-value]


def make(rng: np.random.Generator) -> tuple[np.ndarray, Case, tuple[tuple[float, float], ...]]:
    """One line of random style on a random background; the image, the truth and the region."""
    cjk = rng.random() < 0.35
    vertical = cjk and rng.random() < 0.15
    size = int(rng.integers(14, 73))
    bold = rng.random() < 0.5
    font = (CJK_BOLD if bold else CJK) if cjk else (SANS_BOLD if bold else SANS)
    n = int(rng.integers(3, 6 if vertical else 9))
    text = "".join(str(c) for c in rng.choice(list(HANZI), n)) if cjk else _phrase(rng)
    angle = 0.0 if vertical or rng.random() < 0.5 else float(rng.uniform(-35, 35))
    w, h = (260, 520) if vertical else (1000, 420)
    photo = rng.random() < 0.5
    if photo:
        bg = None
        while bg is None:
            bg = scene(str(rng.choice(SCENES)), rng, (w, h))
        flat_colour = None
    else:
        flat_colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        bg = np.full((h, w, 3), flat_colour, np.uint8)
    at = (20, 20)
    under = np.median(bg[h // 4: 3 * h // 4, w // 8: w // 2].reshape(-1, 3), axis=0)
    colour, outline, shadow = decoration(rng, under)
    look = Look(text, size=size, font=font, color=colour, outline=outline, shadow=shadow, angle=angle,
                vertical=vertical)
    img, points = styled_line(bg, look, at)
    return img, Case(look, photo, flat_colour), points  # type: ignore[arg-type]


def _found(detector: Any, img: np.ndarray, points: tuple[tuple[float, float], ...]) -> Region | None:
    """The detected line that overlaps the drawn polygon most (None: the detector missed it)."""
    h, w = img.shape[:2]
    drawn = np.zeros((h, w), np.uint8)
    cv2.fillPoly(drawn, [np.round(np.asarray(points)).astype(np.int32)], 1)
    best, best_overlap = None, 0
    for d in detector.detect(img):
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(np.asarray(d.points)).astype(np.int32)], 1)
        overlap = int((m & drawn).sum())
        if overlap > best_overlap:
            best, best_overlap = d.region(), overlap
    return best


def run(n: int, seed: int, detect: bool) -> tuple[list[Score], list[Score], int]:
    """The scores on the drawn regions, on the detected ones, and how many lines the detector missed."""
    rng = np.random.default_rng(seed)
    drawn, found, missed = [], [], 0
    detector = load_ocr(recognize=False) if detect else None
    describe(np.zeros((32, 32, 3), np.uint8), Region.box(2, 2, 20, 10))  # warm-up
    for _ in range(n):
        img, case, points = make(rng)
        t, c = time.perf_counter(), time.process_time()
        got = describe(img, Region(points))
        drawn.append(Score(case, got, (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000))
        if detector is None:
            continue
        region = _found(detector, img, points)
        if region is None:
            missed += 1
            continue
        t, c = time.perf_counter(), time.process_time()
        got = describe(img, region)
        found.append(Score(case, got, (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000))
    return drawn, found, missed


def _stats(errors: list[float], tol: float | None) -> list[object]:
    if not errors:
        return ["n/a", "n/a", "n/a", 0]
    a = np.asarray(errors, np.float64)
    within = f"{100 * float(np.mean(a <= tol)):.0f} %" if tol is not None else ""
    return [round(float(np.median(a)), 2), round(float(np.percentile(a, 90)), 2), within, len(a)]


def shadow_offset(look: Look) -> tuple[float, float]:
    """The drawn shadow's offset in image coordinates: drawn on the layer, then turned with it."""
    assert look.shadow is not None
    (dx, dy), a = look.shadow[0], np.radians(look.angle)
    return dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)


def _err_colour(got: str | None, want: tuple[int, int, int]) -> float:
    return delta_e(got, want) if got else 100.0


def table(scores: list[Score], title: str) -> str:
    """Every field's error over `scores`: median, p90, share within tolerance, lines."""
    rows: list[list[object]] = []
    flat = [s for s in scores if not s.case.photo]

    rows.append(["text_color (dE)", *_stats([_err_colour(s.got.text_color, s.case.look.color) for s in scores],
                                            TOL["color"])])
    rows.append(["background_color (dE, flat)", *_stats(
        [_err_colour(s.got.background_color, s.case.background) for s in flat if s.case.background], TOL["color"])])
    outlined = [s for s in scores if s.case.look.outline]
    both_o = [s for s in outlined if s.got.outline is not None]
    rows.append(["outline found right (share)", *_presence(scores, lambda s: s.case.look.outline is not None,
                                                          lambda s: s.got.outline is not None)])
    rows.append(["outline colour (dE)", *_stats([delta_e(s.got.outline.color, s.case.look.outline[1])  # type: ignore[union-attr,index]
                                                for s in both_o], TOL["color"])])
    rows.append(["outline width (px)", *_stats([abs(s.got.outline.width - s.case.look.outline[0])  # type: ignore[union-attr,index]
                                               for s in both_o], 1.0)])
    shadowed = [s for s in scores if s.case.look.shadow and s.got.shadow is not None]
    rows.append(["shadow found right (share)", *_presence(scores, lambda s: s.case.look.shadow is not None,
                                                         lambda s: s.got.shadow is not None)])
    rows.append(["shadow offset (px)", *_stats([
        float(np.hypot(*np.subtract(s.got.shadow.offset, shadow_offset(s.case.look))))  # type: ignore[union-attr]
        for s in shadowed], 1.5)])
    rows.append(["font_size (relative)", *_stats([abs((s.got.font_size or 0) - s.case.look.size) / s.case.look.size
                                                 for s in scores], TOL["size"])])
    rows.append(["angle (degrees)", *_stats([abs(s.got.angle - s.case.look.angle) for s in scores], TOL["angle"])])
    rows.append(["vertical right (share)", *_presence(scores, lambda s: s.case.look.vertical, lambda s: s.got.vertical)])
    rows.append(["bold right (share)", *_presence(scores, lambda s: s.case.look.bold, lambda s: bool(s.got.bold))])
    rows.append(["time (ms per line)", *_stats([s.ms for s in scores], None)])
    rows.append(["CPU time (ms per line)", *_stats([s.cpu_ms for s in scores], None)])
    return f"**{title}** ({len(scores)} lines)\n\n" + md_table(["field", "median", "p90", "within tolerance", "lines"],
                                                               rows)


def _presence(scores: list[Score], drawn: object, found: object) -> list[object]:
    """Share of lines where `found` agrees with `drawn`, with the misses and false alarms."""
    d = [bool(drawn(s)) for s in scores]  # type: ignore[operator]
    f = [bool(found(s)) for s in scores]  # type: ignore[operator]
    right = sum(a == b for a, b in zip(d, f))
    missed = sum(a and not b for a, b in zip(d, f))
    false = sum(b and not a for a, b in zip(d, f))
    return ["", "", f"{100 * right / max(1, len(d)):.0f} % ({missed} missed, {false} false)", len(d)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-detect", action="store_true", help="only the drawn regions (no detector)")
    args = ap.parse_args()
    scores, found, missed = run(args.lines, args.seed, not args.no_detect)
    latin = [s for s in scores if s.case.look.font in (SANS, SANS_BOLD)]
    cjk = [s for s in scores if s.case.look.font in (CJK, CJK_BOLD)]
    parts = [
        table(scores, "All lines"),
        table([s for s in scores if not s.case.photo], "Flat backgrounds"),
        table([s for s in scores if s.case.photo], "Photographs"),
        table(latin, "Latin"),
        table(cjk, "CJK (vertical included)"),
        table([s for s in scores if s.case.look.angle != 0], "Turned lines (up to 35 degrees)"),
    ]
    if found:
        parts += [
            table(found, f"All lines, on the detector's polygons ({missed} of {args.lines} lines not detected)"),
            table([s for s in found if s.case.look.angle != 0], "Turned lines, on the detector's polygons"),
            table([s for s in found if s.case.look.vertical], "Vertical CJK, on the detector's polygons"),
        ]
    text = f"seed {args.seed}, {args.lines} lines\n\n" + "\n\n".join(parts) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "style_bench.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
