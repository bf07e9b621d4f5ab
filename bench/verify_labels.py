"""A labelled calibration set for the verifier: answers whose truth is known by construction.

The verifier (app/engine/verify.py) reports, per text line of a result, a residual (0-1): the share
of the line's text still there; above a threshold the service repaints the line again. This script
asks where that threshold should sit and what it costs, on answers built here from scenes whose
clean picture is known (bench/hard_cases.py draws them: every kind of text, on photos and busy,
light and dark textures), each in several input encodings (decoded as hard_cases.encode_as returns
them; the clean scene goes through the same encoding, so a perfect fill is the clean picture as
that encoding would show it). Every answer keeps the input outside the lines' reach (each region
grown by padding + MAX_HALO, and the text's own bounds grown 2 px); inside it:

  (a) perfect   clean: the clean scene itself
  (b) telea     clean: cv2.inpaint (Telea, radius 3) of every pixel the text changed (|texted - clean|
                in Lab > 2, grown 2 px)
  (c) ns        clean: the same with Navier-Stokes
  (d) ghost     clean + alpha x (texted - clean), the difference Gaussian-blurred with sigma 0, 1, 2 or
                0.15 x the line's font size (letters blurred in place); alpha 0.35, 0.5, 0.7 or 1.0
  (e) fragment  (b) with part of the glyph pixels put back from the input: random connected components
                of the glyph mask, or random vertical strips (a fifth of the font size wide), until
                8-40 % of the line's glyph pixels are back
  (f) smear     (b) with the input Gaussian-blurred (sigma 0.1-0.25 x font size) put back within the
                glyphs grown 2 px (a glyph-shaped smudge of the text's colours)

Labels, per line, by construction:

  negative   (a); (b) and (c) where hard_cases.ink_left_lines finds under 2 % of the line's ink left
             (a line of (b)/(c) at 2 % or more is relabelled ambiguous, construction b!/c!)
  positive   (d) with alpha >= 0.35; (e) with >= 8 % of the glyph pixels back; (f)
  ambiguous  (d) with alpha 0.1-0.2 (construction d-faint); (e) with under 8 % back (aimed at 2-5 %:
             e-few): counted, never in the rates

Each answer is checked as the pipeline does: Verifier(input, regions, padding 4, detector), keep_looks(),
then check(answer, 255 where the answer differs from the input, every line). Per line it records the
residual, `detected` (the detector's share) and `readable` (the recognizer's), the latter two where the
verifier reports them (before that: detected = residual, readable = 0), and hard_cases' ink-left share
for reference. A miss: a positive line with residual <= T; a false alarm: a negative line with
residual > T.

Scenes are split by seed: a calibration split (--seed, default 0) picks the thresholds, a held-out split
(--held-out-seed, default 500; disjoint scenes) reports them. Writes bench/out/verify_labels.md (printed
too) and every line's record to bench/out/verify_labels.csv.

  .venv/bin/python bench/verify_labels.py [--scenes N] [--ghosts K] [--quick]   # N scenes per kind and split

A full run (1 scene per kind and split, 4 ghosts: 2808 lines) takes about 1 min on 2 cores with the
contrast-only verifier, about 4 min with the detector + recognizer one; --quick about a third of that.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, md_table  # noqa: E402
from hard_cases import BACKGROUNDS, KINDS, Line, background, encode_as, fonts, ink_left_lines, render  # noqa: E402

from app.engine import verify  # noqa: E402
from app.engine.masks import draw_region  # noqa: E402
from app.engine.ocr import load_ocr  # noqa: E402

PADDING = 4
THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3)
DEFAULT_ENCODINGS = ("png-rgb", "jpeg75", "png-gray")
GHOST_ALPHAS = (0.35, 0.5, 0.7, 1.0)
GHOST_SIGMAS: tuple[float | str, ...] = (0.0, 1.0, 2.0, "0.15s")  # "0.15s": 0.15 x the line's font size
FAINT_ALPHAS = (0.1, 0.2)
CLEAN_INK_MAX = 0.02  # a (b)/(c) line keeping this share of its ink or more is not a clean answer
FRAGMENT_MIN = 0.08  # a fragment with this share of the glyph pixels back or more: text remains
CONSTRUCTIONS = {"a": "perfect fill", "b": "telea", "c": "ns", "d": "ghost", "e": "fragment", "f": "smear"}
FIELDS = ("residual", "detected", "readable")
QUICK_KINDS = ("plain", "outline", "glow", "watermark", "cjk", "rotated")


@dataclass
class Scene:
    """One scene in one encoding: the input as decoded, the clean picture alike, and where answers differ."""

    split: str
    seed: int
    kind: str
    bg: str
    enc: str
    clean: np.ndarray  # the clean scene through the same encoding (RGB uint8)
    texted: np.ndarray  # the input, decoded (RGB uint8)
    lines: list[Line]
    owner: np.ndarray  # int HxW: the line whose reach holds each pixel (-1: none)

    @property
    def reach(self) -> np.ndarray:
        return self.owner >= 0


@dataclass
class Answer:
    construction: str  # a..f (see CONSTRUCTIONS)
    detail: str  # the construction's parameters
    image: np.ndarray
    labels: list[str]  # per line: "neg", "pos" or "amb" (before the ink-left check of b/c)
    notes: list[str]  # per line: what varies by line (a fragment's share back, a smear's sigma)


@dataclass
class Record:
    split: str
    seed: int
    kind: str
    enc: str
    bg: str
    line: int
    construction: str
    detail: str
    label: str
    residual: float
    detected: float
    readable: float
    checked: bool  # False where check() returned None (counted as 0 in the rates)
    ink_left: float  # hard_cases' share of the line's ink still standing out
    ink_px: int
    size: int


# ---- scenes ----

def line_owner(lines: list[Line], shape: tuple[int, ...]) -> np.ndarray:
    """Which line's reach (region + padding + MAX_HALO, and its bounds + 2 px) holds each pixel."""
    h, w = shape[:2]
    owner = np.full((h, w), -1, np.int32)
    grow = PADDING + int(getattr(verify, "MAX_HALO", 12))
    for i, ln in enumerate(lines):
        m = np.zeros((h, w), np.uint8)
        draw_region(m, ln.region, grow)
        x0, y0, x1, y1 = ln.bounds
        m[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = 255
        owner[(m > 0) & (owner < 0)] = i
    return owner


def scenes(split: str, seed: int, n: int, kinds: list[str], encs: list[str], fl: dict[str, list[str]]
           ) -> Iterator[Scene]:
    """n scenes per kind (backgrounds in turn, shifted by kind), each in every encoding."""
    for kind in kinds:
        for si in range(n):
            s = seed + 1000 * KINDS.index(kind) + si
            rng = np.random.default_rng(s)
            bg = BACKGROUNDS[(si + KINDS.index(kind)) % len(BACKGROUNDS)]
            clean = background(bg, rng)
            texted, lines = render(clean, kind, rng, fl)
            if not lines:
                continue
            owner = line_owner(lines, clean.shape)
            for enc in encs:
                yield Scene(split, s, kind, bg, enc, encode_as(clean, enc)[1], encode_as(texted, enc)[1], lines, owner)


# ---- answers ----

def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def within_reach(sc: Scene, inside: np.ndarray) -> np.ndarray:
    """The input outside the lines' reach, `inside` (float or uint8 RGB) within it."""
    out = sc.texted.copy()
    r = sc.reach
    out[r] = np.clip(np.asarray(inside, np.float32)[r] + 0.5, 0, 255).astype(np.uint8)
    return out


def inpainted(sc: Scene, flag: int) -> np.ndarray:
    """cv2.inpaint (radius 3) of every pixel the text changed (Lab difference > 2, grown 2 px)."""
    changed = np.linalg.norm(_lab(sc.texted) - _lab(sc.clean), axis=2) > 2.0
    mask = cv2.dilate(changed.astype(np.uint8) * 255, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return within_reach(sc, cv2.inpaint(sc.texted, mask, 3, flag))


def _line_crop(sc: Scene, i: int, margin: int) -> tuple[slice, slice]:
    h, w = sc.texted.shape[:2]
    x0, y0, x1, y1 = sc.lines[i].bounds
    m = margin + PADDING + int(getattr(verify, "MAX_HALO", 12))
    return slice(max(0, y0 - m), min(h, y1 + m)), slice(max(0, x0 - m), min(w, x1 + m))


def ghost(sc: Scene, alpha: float, sigma: float | str) -> np.ndarray:
    """clean + alpha x (texted - clean), the difference blurred per line (sigma px, or "0.15s")."""
    diff = sc.texted.astype(np.float32) - sc.clean.astype(np.float32)
    acc = np.zeros_like(diff)
    for i, ln in enumerate(sc.lines):
        s = 0.15 * ln.size if sigma == "0.15s" else float(sigma)
        ys, xs = _line_crop(sc, i, math.ceil(3 * s) + 2)
        d = diff[ys, xs] * (sc.owner[ys, xs] == i)[:, :, None]
        acc[ys, xs] += cv2.GaussianBlur(d, (0, 0), s) if s > 0 else d
    return within_reach(sc, sc.clean.astype(np.float32) + alpha * acc)


def _pieces(glyphs: np.ndarray, size: int, strips: bool) -> list[np.ndarray]:
    """A line's glyph mask cut into pieces: its connected components, or vertical strips."""
    if strips:
        xs = np.flatnonzero(glyphs.any(axis=0))
        sw = max(2, round(size / 5))
        out = []
        for x in range(int(xs.min()), int(xs.max()) + 1, sw):
            p = np.zeros_like(glyphs)
            p[:, x:x + sw] = glyphs[:, x:x + sw]
            out.append(p)
        return [p for p in out if p.any()]
    n, lab = cv2.connectedComponents(glyphs.astype(np.uint8), connectivity=8)
    return [lab == k for k in range(1, n)]


def _some_pieces(glyphs: np.ndarray, size: int, strips: bool, lo: float, hi: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """Random pieces of the glyph mask, until a share drawn from lo..hi of its pixels is back (never
    past hi); components too coarse for that fall back to strips."""
    total = float(glyphs.sum())
    target = float(rng.uniform(lo, hi))
    keep = np.zeros_like(glyphs)
    pieces = _pieces(glyphs, size, strips)
    for k in rng.permutation(len(pieces)):
        if keep.sum() / total >= target:
            break
        if (keep.sum() + pieces[k].sum()) / total <= hi:
            keep |= pieces[k]
    if keep.sum() / total < lo and not strips:
        return _some_pieces(glyphs, size, True, lo, hi, rng)
    return keep


def fragment(sc: Scene, base: np.ndarray, lo: float, hi: float, strips: bool, rng: np.random.Generator
             ) -> tuple[np.ndarray, list[float]]:
    """`base` with random pieces of each line's glyphs put back from the input; the shares put back."""
    out = base.copy()
    shares = []
    for ln in sc.lines:
        g = ln.glyphs if ln.glyphs is not None else np.zeros(out.shape[:2], bool)
        if not g.any():
            shares.append(0.0)
            continue
        ys, xs = np.nonzero(g)
        box = slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1)
        keep = _some_pieces(g[box], ln.size, strips, lo, hi, rng)
        out[box][keep] = sc.texted[box][keep]
        shares.append(float(keep.sum() / g[box].sum()))
    return out, shares


def smear(sc: Scene, base: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """`base` with the input blurred (sigma 0.1-0.25 x font size) put back within the glyphs grown 2 px."""
    out = base.copy()
    sigmas = []
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for i, ln in enumerate(sc.lines):
        s = float(rng.uniform(0.1, 0.25)) * ln.size
        sigmas.append(s)
        if ln.glyphs is None:
            continue
        ys, xs = _line_crop(sc, i, math.ceil(3 * s))
        blurred = cv2.GaussianBlur(sc.texted[ys, xs].astype(np.float32), (0, 0), s)
        where = cv2.dilate(ln.glyphs[ys, xs].astype(np.uint8), disk) > 0
        patch = out[ys, xs]
        patch[where] = np.clip(blurred[where] + 0.5, 0, 255).astype(np.uint8)
    return out, sigmas


def answers(sc: Scene, rng: np.random.Generator, n_ghosts: int) -> Iterator[Answer]:
    """Every construction for one scene: a, b, c, n_ghosts of the 16 ghosts (drawn), fragments by
    components and by strips, a smear, a faint ghost and a few-pixel fragment (ambiguous)."""
    n = len(sc.lines)
    yield Answer("a", "clean scene", within_reach(sc, sc.clean), ["neg"] * n, [""] * n)
    telea = inpainted(sc, cv2.INPAINT_TELEA)
    yield Answer("b", "telea r3", telea, ["neg"] * n, [""] * n)
    yield Answer("c", "ns r3", inpainted(sc, cv2.INPAINT_NS), ["neg"] * n, [""] * n)
    grid = [(a, s) for a in GHOST_ALPHAS for s in GHOST_SIGMAS]
    for k in sorted(rng.choice(len(grid), size=min(n_ghosts, len(grid)), replace=False)):
        a, s = grid[int(k)]
        yield Answer("d", f"ghost a{a} s{s}", ghost(sc, a, s), ["pos"] * n, [""] * n)
    for strips in (False, True):
        img, shares = fragment(sc, telea, FRAGMENT_MIN, 0.40, strips, rng)
        yield Answer("e", "fragment " + ("strips" if strips else "components"), img,
                     ["pos" if x >= FRAGMENT_MIN else "amb" for x in shares], [f"{100 * x:.0f} %" for x in shares])
    img, sigmas = smear(sc, telea, rng)
    yield Answer("f", "smear", img, ["pos"] * n, [f"sigma {x:.1f}" for x in sigmas])
    a = float(rng.choice(FAINT_ALPHAS))
    s = GHOST_SIGMAS[int(rng.integers(len(GHOST_SIGMAS)))]
    yield Answer("d-faint", f"ghost a{a} s{s}", ghost(sc, a, s), ["amb"] * n, [""] * n)
    img, shares = fragment(sc, telea, 0.02, 0.05, bool(rng.integers(2)), rng)
    yield Answer("e-few", "fragment few", img, ["pos" if x >= FRAGMENT_MIN else "amb" for x in shares],
                 [f"{100 * x:.0f} %" for x in shares])


# ---- checking ----

def check_scene(sc: Scene, det: verify.ProbabilityMap | None, n_ghosts: int, whole_reach: bool = False
                ) -> list[Record]:
    """Every answer of one scene, checked by the verifier; one record per line."""
    regions = [ln.region for ln in sc.lines]
    v = verify.Verifier(sc.texted, regions, PADDING, det)
    v.keep_looks()
    rng = np.random.default_rng([sc.seed, DEFAULT_ENCODINGS.index(sc.enc) if sc.enc in DEFAULT_ENCODINGS else 9])
    recs = []
    for ans in answers(sc, rng, n_ghosts):
        changed = sc.reach if whole_reach else (ans.image != sc.texted).any(axis=2)
        repainted = changed.astype(np.uint8) * 255
        got = v.check(ans.image, repainted, list(range(len(regions))))
        inks = ink_left_lines(ans.image, sc.clean, sc.texted, sc.lines)
        for i, ln in enumerate(sc.lines):
            left, total = inks[i]
            share = left / total if total else 0.0
            label, con = ans.labels[i], ans.construction
            if con in ("b", "c") and share >= CLEAN_INK_MAX:
                label, con = "amb", con + "!"
            c = got.get(i)
            res = float(c.residual) if c is not None else 0.0
            det_v = float(getattr(c, "detected", res)) if c is not None else 0.0
            read_v = float(getattr(c, "readable", 0.0)) if c is not None else 0.0
            detail = ans.detail + (f" ({ans.notes[i]})" if ans.notes[i] else "")
            recs.append(Record(sc.split, sc.seed, sc.kind, sc.enc, sc.bg, i, con, detail, label, res, det_v, read_v,
                               c is not None, share, total, ln.size))
    return recs


def collect(args: argparse.Namespace, split: str, seed: int, det: verify.ProbabilityMap | None,
            fl: dict[str, list[str]]) -> list[Record]:
    recs: list[Record] = []
    t0 = time.perf_counter()
    last = ""
    for sc in scenes(split, seed, args.scenes, args.kinds, args.encodings, fl):
        if sc.kind != last and last:
            print(f"[verify_labels] {split} {last} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        last = sc.kind
        recs += check_scene(sc, det, args.ghosts, args.repainted == "reach")
    print(f"[verify_labels] {split} done: {len(recs)} lines, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return recs


# ---- report ----

def counts(recs: list[Record], t: float, field: str = "residual") -> tuple[int, int, int, int]:
    """(misses, positives, false alarms, negatives) at threshold t."""
    pos = [getattr(r, field) for r in recs if r.label == "pos"]
    neg = [getattr(r, field) for r in recs if r.label == "neg"]
    return sum(x <= t for x in pos), len(pos), sum(x > t for x in neg), len(neg)


def pct(a: int, b: int) -> float:
    return 100.0 * a / b if b else float("nan")


def frac(a: int, b: int) -> str:
    return f"{a}/{b} ({pct(a, b):.1f} %)" if b else "-"


def curve(recs: list[Record]) -> str:
    head = ["T"] + [f"{f}: {w} %" for f in FIELDS for w in ("misses", "false alarms")]
    rows = []
    for t in THRESHOLDS:
        row: list[object] = [t]
        for f in FIELDS:
            m, p, fa, n = counts(recs, t, f)
            row += [pct(m, p), pct(fa, n)]
        rows.append(row)
    return md_table(head, rows)


def choose(recs: list[Record]) -> tuple[float | None, float | None, float]:
    """The largest grid T with no miss, the exact bound (misses start at the lowest positive), and the
    T (grid or an observed residual) that minimises misses % + false alarms % (ties: the larger T)."""
    pos = [r.residual for r in recs if r.label == "pos"]
    zero = [t for t in THRESHOLDS if counts(recs, t)[0] == 0]
    bound = min(pos) if pos else None
    cands = sorted(set(THRESHOLDS) | {r.residual for r in recs if r.label in ("pos", "neg")})

    def err(t: float) -> float:
        m, p, fa, n = counts(recs, t)
        return pct(m, p) + pct(fa, n) if p and n else float("inf")

    best = min(cands, key=lambda t: (err(t), -t)) if cands else 0.02
    return (max(zero) if zero else None), bound, best


def breakdown(recs: list[Record], key: Callable[[Record], str], keys: list[str], ts: list[float]) -> str:
    head = ["", "ambiguous"] + [f"T={t:g}: {w}" for t in ts for w in ("misses", "false alarms")]
    rows = []
    for k in keys + ["**all**"]:
        sel = [r for r in recs if k == "**all**" or key(r) == k]
        if not sel:
            continue
        row: list[object] = [k, sum(r.label == "amb" for r in sel)]
        for t in ts:
            m, p, fa, n = counts(sel, t)
            row += [frac(m, p), frac(fa, n)]
        rows.append(row)
    return md_table(head, rows)


def composition(recs: list[Record]) -> str:
    rows = []
    for con in sorted({r.construction for r in recs}):
        sel = [r for r in recs if r.construction == con]
        rows.append([con, CONSTRUCTIONS.get(con[0], ""), sum(r.label == "pos" for r in sel),
                     sum(r.label == "neg" for r in sel), sum(r.label == "amb" for r in sel),
                     100 * float(np.median([r.ink_left for r in sel])), float(np.median([r.residual for r in sel])),
                     float(np.percentile([r.residual for r in sel], 10)), float(np.percentile([r.residual for r in sel], 90)),
                     sum(not r.checked for r in sel)])
    return md_table(["construction", "", "positive", "negative", "ambiguous", "median ink left %", "median residual",
                     "p10 residual", "p90 residual", "unchecked (None)"], rows)


def ghost_grid(recs: list[Record], t: float = 0.02) -> str:
    """Ghosts (d) by alpha x sigma: median residual, and misses % at t."""
    rows = []
    for a in GHOST_ALPHAS:
        row: list[object] = [a]
        for s in GHOST_SIGMAS:
            sel = [r.residual for r in recs if r.construction == "d" and r.detail == f"ghost a{a} s{s}"]
            row.append(f"{np.median(sel):.3f} / {pct(sum(x <= t for x in sel), len(sel)):.0f} % (n {len(sel)})"
                       if sel else "-")
        rows.append(row)
    return md_table(["alpha \\ sigma"] + [str(s) for s in GHOST_SIGMAS], rows)


def worst_missed(recs: list[Record], t: float, n: int = 12) -> str:
    missed = [r for r in recs if r.label == "pos" and r.residual <= t]
    missed.sort(key=lambda r: (-r.ink_left, r.residual))
    rows = [[r.construction, r.detail, r.kind, r.enc, r.bg, r.size, f"{r.residual:.3f}", f"{r.detected:.3f}",
             f"{r.readable:.3f}", f"{100 * r.ink_left:.1f}", r.seed] for r in missed[:n]]
    return md_table(["con", "detail", "kind", "encoding", "background", "font px", "residual", "detected", "readable",
                     "ink left %", "seed"], rows) if rows else "(none)"


def worst_alarms(recs: list[Record], t: float, n: int = 8) -> str:
    alarms = sorted((r for r in recs if r.label == "neg" and r.residual > t), key=lambda r: -r.residual)
    rows = [[r.construction, r.kind, r.enc, r.bg, r.size, f"{r.residual:.3f}", f"{r.detected:.3f}", f"{r.readable:.3f}",
             f"{100 * r.ink_left:.2f}", r.seed] for r in alarms[:n]]
    return md_table(["con", "kind", "encoding", "background", "font px", "residual", "detected", "readable",
                     "ink left %", "seed"], rows) if rows else "(none)"


def report(args: argparse.Namespace, cal: list[Record], held: list[Record], secs: float) -> str:
    zero, bound, best = choose(cal)
    chosen = zero if zero is not None else best
    ts = sorted({chosen, 0.02} | ({best} if best != chosen else set()))
    placeholders = all(r.readable == 0 and r.detected == r.residual for r in cal + held)
    bound_s = f"{bound:.4f}" if bound is not None else "n/a"
    parts = [
        "# Verifier calibration: labelled answers\n",
        f"{args.scenes} scenes per kind and split, {len(args.kinds)} kinds, encodings {', '.join(args.encodings)}; "
        f"{args.ghosts} of 16 ghosts per scene; calibration seed {args.seed}, held-out seed {args.held_out_seed}; "
        f"{secs:.0f} s in all; repainted = {args.repainted}. Lines: calibration {len(cal)}, held-out {len(held)}.\n",
        "*This verifier reports neither `detected` nor `readable`: their columns are placeholders (detected = "
        "residual, readable = 0).*\n" if placeholders else "",
        "## What the answers are (calibration split)\n", composition(cal), "",
        "## Calibration: misses (positives with score <= T) and false alarms (negatives with score > T)\n",
        curve(cal), "",
        "## Calibration: ghosts by alpha x sigma (median residual / misses % at T=0.02)\n", ghost_grid(cal), "",
        "## Threshold chosen (calibration split, residual)\n",
        f"- largest T on the grid with 0 misses: **{zero if zero is not None else 'none'}** (the lowest positive "
        f"residual is {bound_s}" + (": a positive scores 0, no T misses none)" if bound is not None and bound <= 0
                                     else ": any T below it misses none)"),
        f"- T minimising misses % + false alarms %: **{best:.4g}** "
        f"({'%.1f' % pct(*counts(cal, best)[:2])} % misses, {'%.1f' % pct(*counts(cal, best)[2:])} % false alarms)",
        f"- reported on the held-out split below: {', '.join(f'{t:g}' for t in ts)}\n",
        "## Held-out: by construction\n",
        breakdown(held, lambda r: r.construction, sorted({r.construction for r in held}), ts), "",
        "## Held-out: by kind\n", breakdown(held, lambda r: r.kind, list(args.kinds), ts), "",
        "## Held-out: by encoding\n", breakdown(held, lambda r: r.enc, list(args.encodings), ts), "",
        f"## Held-out: worst missed lines at T={chosen:g} (most ink left first)\n", worst_missed(held, chosen), "",
        f"## Held-out: highest-scoring clean lines (false alarms at T={chosen:g})\n", worst_alarms(held, chosen), "",
    ]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=1, help="scenes per kind and split (3 lines each; every "
                                                          "background in turn over the kinds)")
    ap.add_argument("--seed", type=int, default=0, help="scene seed offset of the calibration split")
    ap.add_argument("--held-out-seed", type=int, default=500, help="scene seed offset of the held-out split")
    ap.add_argument("--ghosts", type=int, default=4, help="ghosts per scene, drawn from the 16 (alpha x sigma)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--encodings", default=",".join(DEFAULT_ENCODINGS))
    ap.add_argument("--repainted", choices=("changed", "reach"), default="changed",
                    help="what check() is told was repainted: the pixels the answer changed, or every line's whole "
                         "reach (as a box-mode repaint reports)")
    ap.add_argument("--quick", action="store_true", help=f"2 ghosts, kinds {','.join(QUICK_KINDS)}: a smoke run")
    ap.add_argument("--out", default="verify_labels.md", help="report file under bench/out/ (records: .csv beside)")
    args = ap.parse_args()
    if args.quick:
        args.scenes, args.ghosts, args.kinds = 1, 2, ",".join(QUICK_KINDS)
    args.kinds, args.encodings = args.kinds.split(","), args.encodings.split(",")
    if abs(args.seed - args.held_out_seed) < args.scenes:
        raise SystemExit("--seed and --held-out-seed must be at least --scenes apart (disjoint scenes)")
    t0 = time.perf_counter()
    fl, det = fonts(), load_ocr()
    cal = collect(args, "calibration", args.seed, det, fl)
    held = collect(args, "held-out", args.held_out_seed, det, fl)
    text = report(args, cal, held, time.perf_counter() - t0)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / args.out).write_text(text)
    with open((OUT / args.out).with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(Record.__dataclass_fields__))
        w.writeheader()
        w.writerows(asdict(r) for r in cal + held)
    print(text)


if __name__ == "__main__":
    main()
