"""Replacing text (issue 28): does the new text read, look like the old, stay in its line's region
and cover the old text, and what does writing cost?

Scenes: one line of known style per image, drawn with Pillow (bench/style_lines.py, the renderer
tests/test_describe.py and bench/style_bench.py use) on a flat colour or a crop of scikit-image's
photographs (hard_cases.scene), at random, seeded per line (line i of seed s is the same whatever
--lines says):

  script   Latin phrases (DejaVu Sans) 55 %, CJK (Noto Sans CJK, Chinese the recognizer knows) 30 %,
           vertical CJK (stacked top to bottom) 15 %; regular or bold
  size     14-72 px (the font's em size); colour at least dE 40 from the background under the line
  effects  a 1-4 px outline of a third colour (30 %) or a drop shadow offset 2-5 px (20 %)
  angle    0 (half the horizontal lines, two thirds of the vertical ones) or up to +-35 degrees,
           the region a turned polygon
  new text Latin: another phrase, half of them shorter (down to half the old one's length), half
           longer (up to 1.6 times: a translation's spread); CJK: fewer or more characters, alike

Each line goes through the service's own job (the API's ReplaceParams.to_input, so the defaults
are the service's: text mask mode, padding 4, verification on, align start) and
`pipeline.inpaint` with the cv2 model and the service's detector, twice: with the new text, and
with an empty text (the old text removed, nothing written: what the new text is written on).
Per line:

  CER        edit distance / length of the new text (spaces not counted) of the service's own
             recognizer reading the result, two ways: in the old line's region as the service
             reads a region (`Ocr.read`: it also guesses which way up), and in the new text's own
             box (its ink's turned rectangle grown by a sixth of its size, as the old line's region
             was drawn) read in the direction it was written (`read_frames`: the recognizer's
             upside-down guess now and then turns a short line it would read right). Beside each,
             the floor: the same reading of the ORIGINAL line (the old text in its drawn region).
             Targets: <= 3 % for Latin lines of 16 px and up, <= 8 % for CJK. tesseract is a
             second reader (the own box, warped upright) where it is installed.
  colour     CIE76 dE: the new ink's core (fully covered fill pixels) in the result against the
             colour written (Written.style.text_color); that written colour against the drawn
             one (describe's error); the core against the drawn colour (what a viewer sees)
  effects    the outline / shadow drawn on the old line is written on the new one (and none is
             added where none was drawn)
  outside    pixels the writing changed (answer vs the removal-only answer) beyond the region
             grown by the padding (must be 0), and the removal's own (removal-only answer vs
             source) beyond its reach, padding + halo (verification's repairs, issue 26); new ink (fill and outline,
             coverage > 0.5) outside the region itself (lines, and the farthest px); the share of
             the new glyphs' ink missing from the answer (cut by the clip to region + padding or by
             the edge of the renderer's canvas), against the glyphs' own ink at the size written
  old ink    old text's pixels (source vs the clean scene, dE > 15, effects included) not under
             the new ink (its coverage grown by 2 px): the share still closer to the old ink than
             to the clean scene and off it by dE > 15; and the service's own X-Residual-Text
             (verification.residual_max)
  size       the em size the service would write (measured, before any shrinking) against the
             drawn one; lines that shrank to fit, by new text longer / shorter than the old
             (advance width at the old size; CJK: characters)
  time       ms per line of the write stage (stage_times["write"]), of describe on the line, and
             of the whole request in-process

The new ink's coverage is found by writing the same line again with engine/render.py's `write`
in marker colours on a black canvas (same look, same layout: only colours differ); the bench
checks that writing it in its real colours onto the removal-only answer gives the service's
answer bit for bit.

  .venv/bin/python bench/replace_bench.py [--lines 240] [--seed 0] [--quick] [--save DIR]
      writes bench/out/replace_bench.md
"""

from __future__ import annotations

import argparse
import heapq
import io
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import OUT, md_table  # noqa: E402
from hard_cases import SCENES, scene  # noqa: E402
from recognize_bench import HANZI, edit_distance  # noqa: E402
from style_bench import WORDS, decoration  # noqa: E402
from style_lines import CJK, CJK_BOLD, SANS, SANS_BOLD, Look, delta_e, styled_line  # noqa: E402

from app.api.schemas.requests import ReplaceParams  # noqa: E402
from app.engine import fonts, masks, pipeline, render, verify  # noqa: E402
from app.engine.models import load_model  # noqa: E402
from app.engine.ocr import Frame, load_ocr, reading_frame  # noqa: E402
from app.engine.ocr.describe import Measured, Outline, Shadow, measure  # noqa: E402
from app.errors import InvalidInput  # noqa: E402
from app.geometry import Region  # noqa: E402
from app.settings import Settings  # noqa: E402

CER_TARGET = {"latin": 0.03, "cjk": 0.08}
LATIN_MIN_SIZE = 16  # px: the Latin target's lines
DE_INK = 15.0  # a colour difference that reads as ink
COLOUR_TOL, SIZE_TOL = 10.0, 0.10  # describe's tolerances (issue 28's first step)
NO_CLIP = 400  # px: a padding the clip never reaches (the renderer's canvas still bounds the layout)
BANDS = ((14, 23), (24, 47), (48, 72))
MISSING = 0.05  # share of a line's glyph ink not drawn that counts as cut (warping blurs the sum a little)


@dataclass
class Scene:
    """A drawn line: the scene without it (what tells the old ink), with it, its region, its look,
    and the text that replaces it."""

    clean: np.ndarray
    image: np.ndarray
    points: tuple[tuple[float, float], ...]
    look: Look
    new: str
    photo: bool

    @property
    def script(self) -> str:
        return "vertical" if self.look.vertical else "cjk" if self.look.font in (CJK, CJK_BOLD) else "latin"

    @property
    def effect(self) -> str:
        return "outline" if self.look.outline else "shadow" if self.look.shadow else "plain"


@dataclass
class Result:
    """One replaced line's measures (see the module)."""

    scene: Scene
    edits: int  # the service's recognizer on the result, against the new text
    chars: int
    floor_edits: int  # the same recognizer on the source in the line's region, against the old text
    floor_chars: int
    read: str
    tight_edits: int  # in the new text's own box (as a detector would hand it), read the way it was written
    floor_tight_edits: int  # the old text in its drawn region, read the way it was drawn
    second: int | None  # tesseract's edits on the result, where installed
    de_written: float  # rendered core vs the colour written
    de_describe: float  # the colour written vs the drawn one
    de_true: float  # rendered core vs the drawn colour
    effects_kept: bool
    outside_px: int  # the writing's changes (answer vs removal-only answer) beyond region + padding
    removal_outside_px: int  # the removal's (removal-only answer vs source) beyond its reach, padding + halo
    ink_outside_region: bool
    beyond_px: float  # how far (px) the new ink reaches beyond the region, at most
    cut: float  # new glyph ink (coverage) missing from the answer
    body: float  # new glyph ink (coverage) the text has at the size written
    left_px: int  # old ink pixels not under the new ink that still look like it
    uncovered_px: int  # old ink pixels not under the new ink
    residual: float  # the service's X-Residual-Text
    wanted: float | None
    written: float | None
    shrunk: bool
    longer: bool  # the new text is longer than the old (advance width at the old size; CJK: characters)
    write_ms: float
    describe_ms: float
    request_ms: float
    same_as_service: bool  # the bench's re-render of the line matches the answer bit for bit


def _phrase(rng: np.random.Generator, words: int) -> str:
    text = " ".join(str(w) for w in rng.choice(WORDS, words))
    return text.title() if rng.random() < 0.5 else text[0].upper() + text[1:]


def _new_latin(rng: np.random.Generator, old: str) -> str:
    """Another phrase, shorter (down to half) or longer (up to 1.6 times: a translation's spread)
    than `old` by at least two characters, at random."""
    shorter = rng.random() < 0.5 and len(old) > 8
    lo, hi = (len(old) / 2, len(old) - 2) if shorter else (len(old) + 2, 1.6 * len(old))
    text = old
    for _ in range(200):
        text = _phrase(rng, int(rng.integers(1, 5)))
        if lo <= len(text) <= hi:
            break
    return text


def _new_cjk(rng: np.random.Generator, old: str) -> str:
    """Other characters: fewer (down to half, not under 2) or more (up to 1.6 times) than `old`."""
    n = len(old)
    if rng.random() < 0.5 and n >= 4:
        n = int(rng.integers(max(2, math.ceil(n / 2)), n))
    else:
        n = int(rng.integers(n + 1, max(n + 1, int(1.6 * n)) + 1))
    return "".join(str(c) for c in rng.choice(list(HANZI), n))


def _canvas(look: Look) -> tuple[int, int]:
    """An image size that holds the drawn layer turned by the look's angle, with a margin."""
    font = ImageFont.truetype(look.font, look.size)
    if look.vertical:
        w, h = look.size, look.size * len(look.text)
    else:
        ascent, descent = font.getmetrics()
        w, h = int(font.getlength(look.text)) + 1, ascent + descent
    w, h = w + 2 * look.size, h + 2 * look.size
    a = math.radians(look.angle)
    tw = w * abs(math.cos(a)) + h * abs(math.sin(a))
    th = w * abs(math.sin(a)) + h * abs(math.cos(a))
    return max(320, math.ceil(tw) + 40), max(200, math.ceil(th) + 40)


def make(rng: np.random.Generator) -> Scene:
    """One line of random style on a random background, and the text that replaces it."""
    u = rng.random()
    cjk, vertical = u >= 0.55, u >= 0.85
    size = int(rng.integers(14, 73))
    bold = rng.random() < 0.5
    font = (CJK_BOLD if bold else CJK) if cjk else (SANS_BOLD if bold else SANS)
    if cjk:
        old = "".join(str(c) for c in rng.choice(list(HANZI), int(rng.integers(3, 6 if vertical else 9))))
        new = _new_cjk(rng, old)
    else:
        old = _phrase(rng, int(rng.integers(2, 4)))
        new = _new_latin(rng, old)
    turned = rng.random() < (1 / 3 if vertical else 0.5)
    angle = float(rng.uniform(-35, 35)) if turned else 0.0
    w, h = _canvas(Look(old, size=size, font=font, angle=angle, vertical=vertical))
    photo = rng.random() < 0.5
    if photo:
        bg = None
        while bg is None:
            bg = scene(str(rng.choice(SCENES)), rng, (w, h))
    else:
        bg = np.full((h, w, 3), [int(v) for v in rng.integers(0, 256, 3)], np.uint8)
    under = np.median(bg[h // 4: 3 * h // 4, w // 8: 7 * w // 8].reshape(-1, 3), axis=0)
    colour, outline, shadow = decoration(rng, under)
    look = Look(old, size=size, font=font, color=colour, outline=outline, shadow=shadow, angle=angle,
                vertical=vertical)
    img, points = styled_line(bg, look, (20, 20))
    return Scene(bg, img, points, look, new, photo)  # type: ignore[arg-type]


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(round(float(v))):02x}" for v in rgb)


def _chars(text: str) -> str:
    return "".join(text.split())


class Tesseract:
    """tesseract as a second, independent reader of the result, where it is installed."""

    def __init__(self) -> None:
        self.exe = shutil.which("tesseract")
        self.langs: set[str] = set()
        if self.exe:
            out = subprocess.run([self.exe, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
            self.langs = {s.strip() for s in out.splitlines()[1:]}

    def usable(self, script: str) -> bool:
        return bool(self.exe) and ("eng" in self.langs if script == "latin" else "chi_sim" in self.langs)

    def read(self, rgb: np.ndarray, frame: Frame, script: str) -> str:
        """The line warped upright from its reading rectangle (tesseract reads upright lines; a
        vertical one as a standing column, with chi_sim_vert where installed)."""
        lang = "eng" if script == "latin" else "chi_sim_vert" if script == "vertical" else "chi_sim"
        lang = lang if lang in self.langs else "chi_sim"
        with tempfile.NamedTemporaryFile(suffix=".png") as f:
            Image.fromarray(_upright(rgb, frame, script == "vertical")).save(f.name)
            psm = "5" if script == "vertical" else "7"
            out = subprocess.run([str(self.exe), f.name, "-", "-l", lang, "--psm", psm], capture_output=True,
                                 text=True, timeout=60)
        return out.stdout.strip()


def _upright(rgb: np.ndarray, frame: Frame, vertical: bool) -> np.ndarray:
    """The reading rectangle warped upright: a row left to right, or a column top to bottom."""
    tl, tr, _, bl = (np.asarray(p, np.float32) for p in frame)
    length, height = float(np.linalg.norm(tr - tl)), float(np.linalg.norm(bl - tl))
    w, h = (height, length) if vertical else (length, height)
    w, h = max(1, round(w)), max(1, round(h))
    # a column's reading rectangle starts at its top right and runs down; "down" for its glyphs is leftwards
    dst = [[w, 0], [w, h], [0, h], [0, 0]] if vertical else [[0, 0], [w, 0], [w, h], [0, h]]
    m = cv2.getPerspectiveTransform(np.asarray(frame, np.float32), np.asarray(dst, np.float32))
    return cv2.warpPerspective(rgb, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


class Bench:
    """What every line needs: the service's settings, model, detector (and reader) and fonts."""

    def __init__(self) -> None:
        self.settings = Settings()
        s = self.settings
        self.limits = pipeline.Limits.from_settings(s)
        self.model = load_model("cv2", "cpu", fallback=None)[0]
        self.ocr = load_ocr(max_side=s.detect_max_side, small_text_side=s.detect_small_text_side, recognize=True)
        if self.ocr is None or self.ocr.reader is None:
            raise SystemExit("bench/replace_bench.py needs the service's detector and recognizer (onnxruntime)")
        self.book = fonts.font_book(s.fonts_dir)
        self.tesseract = Tesseract()

    def job(self, sc: Scene, text: str, png: bytes) -> pipeline.InpaintInput:
        """The request the service would build from the JSON body (its defaults included)."""
        body = {"lines": [{"region": {"points": [list(p) for p in sc.points]}, "text": text}]}
        return ReplaceParams.model_validate(body).to_input(png, None, self.settings)

    def cover(self, shape: tuple[int, ...], line: render.NewText, m: Measured, fill: str, outline: str,
              shadow: str, padding: int) -> np.ndarray:
        """The line written again in marker colours on black (0..1): same look and layout as the
        service's, so the result is the coverage of whichever parts are drawn white."""
        st = render.look_of(m.style, line.style)
        wish = render.StyleWish(
            text_color=fill, outline=Outline(outline, st.outline.width) if st.outline else None,
            shadow=Shadow(shadow, st.shadow.offset) if st.shadow else None, given=("text_color", "outline", "shadow"))
        canvas = np.zeros((*shape[:2], 3), np.uint8)
        planned = render.plan([render.NewText(line.region, line.text, wish, line.align)], [m], self.book, shape[1],
                              shape[0])
        render.write(canvas, planned, padding)
        return canvas[..., 0].astype(np.float32) / 255.0

    def glyph_ink(self, written: render.Written, text: str) -> float:
        """The text's fill coverage at the size written (px): each glyph drawn alone by FreeType,
        as the renderer draws it, before any warp or clip (sizes are whole pixels)."""
        face = next((f for f in self.book.faces if f.name == written.font), None)
        if face is None or not written.font_size:
            return 0.0
        font = ImageFont.truetype(face.path, size=max(1.0, written.font_size), index=face.index,
                                  layout_engine=ImageFont.Layout.BASIC)
        total = 0.0
        for c in _chars(text):
            x0, y0, x1, y1 = font.getbbox(c)
            im = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
            ImageDraw.Draw(im).text((2 - x0, 2 - y0), c, fill=255, font=font)
            total += float(np.asarray(im, np.float32).sum()) / 255.0
        return total

    def line(self, sc: Scene) -> tuple[Result, np.ndarray, np.ndarray]:
        """Replace one line; its measures, the removal-only answer and the answer."""
        png = _png(sc.image)
        job = self.job(sc, sc.new, png)
        t = time.perf_counter()
        res = pipeline.inpaint(job, self.model, self.limits, detector=self.ocr)
        request_ms = (time.perf_counter() - t) * 1000
        bare = pipeline.inpaint(self.job(sc, "", png), self.model, self.limits, detector=self.ocr)
        out, removed, src = _rgb(res.data), _rgb(bare.data), sc.image
        assert job.write is not None and res.written is not None
        line, written = job.write[0], res.written[0]
        region = Region(sc.points)
        t = time.perf_counter()
        m = measure(src, region)
        describe_ms = (time.perf_counter() - t) * 1000
        h, w = src.shape[:2]
        padding = job.padding

        # the service's answer, again: the line written onto the removal-only answer
        again = removed.copy()
        _, touched = render.write(again, render.plan([line], [m], self.book, w, h), padding)
        same = bool(np.array_equal(again, out))

        # the new ink: its fill, its body (fill + outline), unclipped
        fill = self.cover(src.shape, line, m, "#ffffff", "#000000", "#000000", NO_CLIP)
        body = self.cover(src.shape, line, m, "#ffffff", "#ffffff", "#000000", NO_CLIP)
        allowed = masks.regions_to_mask([region], w, h, padding) > 0
        inside = masks.regions_to_mask([region], w, h, 0) > 0
        clipped = np.where(allowed, fill, 0.0)

        # reading: in the old line's region, and in the new text's own box
        # (the service's way, `read`, which also decides which way up; and in a known direction,
        # `read_frames`: the recognizer's orientation guess now and then turns a line it reads well)
        floor_read = self.ocr.read(src, [sc.points])[0].text
        floor_tight = self.ocr.read_frames(src, [_along(sc.points, sc.look.angle, sc.look.vertical)])[0].text
        read = self.ocr.read(out, [sc.points])[0].text
        own = _own_box(np.where(allowed, body, 0.0) > 0.5, written.font_size or sc.look.size)
        tight = self.ocr.read_frames(out, [_along(own, written.style.angle, written.style.vertical)])[0].text \
            if own else ""
        second = None
        if self.tesseract.usable(sc.script):
            frame = _along(own or sc.points, written.style.angle, written.style.vertical)
            second = edit_distance(_chars(self.tesseract.read(out, frame, sc.script)), _chars(sc.new))

        # colour: the fill's fully covered pixels in the answer
        core = clipped >= 0.98
        if core.sum() < 5 and clipped.max() > 0.3:
            core = clipped >= 0.9 * clipped.max()
        style = written.style
        true_hex = _hex(np.asarray(sc.look.color))
        if core.any() and style.text_color:
            seen = _hex(np.median(out[core].reshape(-1, 3), axis=0))
            de_written, de_true = delta_e(seen, style.text_color), delta_e(seen, true_hex)
        else:
            de_written = de_true = float("nan")
        de_describe = delta_e(style.text_color, true_hex) if style.text_color else float("nan")
        kept = (style.outline is not None) == (sc.look.outline is not None) and \
            (style.shadow is not None) == (sc.look.shadow is not None)

        # the old ink not under the new
        old = np.linalg.norm(_lab(src) - _lab(sc.clean), axis=2) > DE_INK
        near_new = cv2.dilate(touched.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        zone = old & ~near_new
        d_clean = np.linalg.norm(_lab(out) - _lab(sc.clean), axis=2)
        d_src = np.linalg.norm(_lab(out) - _lab(src), axis=2)
        left = zone & (d_clean > DE_INK) & (d_src < d_clean)

        out_ink = (body > 0.5) & ~inside
        beyond = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        expected = self.glyph_ink(written, sc.new)
        v = res.verification
        result = Result(
            scene=sc, edits=edit_distance(_chars(read), _chars(sc.new)), chars=len(_chars(sc.new)),
            floor_edits=edit_distance(_chars(floor_read), _chars(sc.look.text)),
            floor_chars=len(_chars(sc.look.text)), read=read,
            tight_edits=edit_distance(_chars(tight), _chars(sc.new)),
            floor_tight_edits=edit_distance(_chars(floor_tight), _chars(sc.look.text)), second=second,
            de_written=de_written, de_describe=de_describe, de_true=de_true, effects_kept=kept,
            outside_px=int(((out != removed).any(axis=2) & ~allowed).sum()),
            removal_outside_px=int(((removed != src).any(axis=2) & ~_reach(region, w, h, padding)).sum()),
            ink_outside_region=bool(out_ink.any()), beyond_px=float(beyond[out_ink].max()) if out_ink.any() else 0.0,
            cut=max(0.0, expected - float(clipped.sum())), body=expected,
            left_px=int(left.sum()), uncovered_px=int(zone.sum()),
            residual=v.residual_max if v is not None else 0.0,
            wanted=written.wanted_size, written=written.font_size, shrunk=written.shrunk,
            longer=_longer(sc),
            write_ms=res.timings.get("write", 0.0) * 1000, describe_ms=describe_ms, request_ms=request_ms,
            same_as_service=same)
        return result, removed, out


def _reach(region: Region, w: int, h: int, padding: int) -> np.ndarray:
    """How far the removal may change pixels (verify.py's rule, issue 26): the region drawn with its
    padding, or within padding + halo of it (a polygon's drawn pixels: a pixel less)."""
    core, padded = masks.core_and_padded(region, masks.PixelBox(0, 0, w, h), padding)
    d = cv2.distanceTransform((core == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (padded > 0) | (d <= padding + verify.halo(verify.line_scale(region)) - (0 if region.is_box else 1))


def _longer(sc: Scene) -> bool:
    if sc.script != "latin":
        return len(_chars(sc.new)) > len(_chars(sc.look.text))
    font = ImageFont.truetype(sc.look.font, sc.look.size)
    return font.getlength(sc.new) > font.getlength(sc.look.text)


def _along(points: tuple[tuple[float, float], ...], angle: float, vertical: bool) -> Frame:
    """The polygon's reading rectangle (the recognizer's) put the way the text runs: left to right
    along `angle`, or down a column."""
    a = math.radians(angle)
    direction = np.array([math.sin(a), math.cos(a)] if vertical else [math.cos(a), -math.sin(a)])
    f = reading_frame(points)
    tl, tr, br, bl = f
    return f if float(np.subtract(tr, tl) @ direction) >= 0 else (br, bl, tl, tr)


def _own_box(ink: np.ndarray, size: float) -> tuple[tuple[float, float], ...] | None:
    """The new text's region as a detector would hand it: its ink's turned rectangle grown by a
    sixth of its size (style_lines' rule for the old line's region); None where nothing is drawn."""
    ys, xs = np.nonzero(ink)
    if len(xs) < 3:
        return None
    (cx, cy), (rw, rh), a = cv2.minAreaRect(np.stack([xs, ys], axis=1).astype(np.float32))
    g = max(3.0, size / 6)
    quad = cv2.boxPoints(((cx + 0.5, cy + 0.5), (rw + 1 + 2 * g, rh + 1 + 2 * g), a))
    return tuple((float(x), float(y)) for x, y in quad)


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}" if b else "n/a"


def _med(values: list[float]) -> str:
    v = [x for x in values if not math.isnan(x)]
    return f"{float(np.median(v)):.1f}" if v else "n/a"


def _spread(values: list[float], q: float = 90) -> str:
    v = [x for x in values if not math.isnan(x)]
    return f"{float(np.median(v)):.1f} / {float(np.percentile(v, q)):.1f}" if v else "n/a"


def _share(flags: list[bool]) -> str:
    return f"{100 * sum(flags) / len(flags):.0f} %" if flags else "n/a"


def groups(results: list[Result]) -> list[tuple[str, list[Result]]]:
    """Every group the issue asks for, then all lines."""
    out: list[tuple[str, list[Result]]] = []
    for name, key in (("Latin", "latin"), ("CJK", "cjk"), ("vertical CJK", "vertical")):
        out.append((name, [r for r in results if r.scene.script == key]))
    vertical = [r for r in results if r.scene.script == "vertical"]
    out.append(("... upright", [r for r in vertical if r.scene.look.angle == 0]))
    out.append(("... turned", [r for r in vertical if r.scene.look.angle != 0]))
    for lo, hi in BANDS:
        out.append((f"{lo}-{hi} px", [r for r in results if lo <= r.scene.look.size <= hi]))
    out.append(("flat", [r for r in results if not r.scene.photo]))
    out.append(("photo", [r for r in results if r.scene.photo]))
    for e in ("outline", "shadow", "plain"):
        out.append((e, [r for r in results if r.scene.effect == e]))
    out.append(("angle 0", [r for r in results if r.scene.look.angle == 0]))
    out.append(("turned", [r for r in results if r.scene.look.angle != 0]))
    out.append(("new text shorter", [r for r in results if not r.longer]))
    out.append(("new text longer", [r for r in results if r.longer]))
    out.append(("**all**", results))
    return out


def _cer(rs: list[Result], tight: bool = False) -> str:
    return _pct(sum(r.tight_edits if tight else r.edits for r in rs), sum(r.chars for r in rs))


def _floor(rs: list[Result], tight: bool = False) -> str:
    return _pct(sum(r.floor_tight_edits if tight else r.floor_edits for r in rs), sum(r.floor_chars for r in rs))


def tables(results: list[Result], second: bool) -> str:
    """The two per-group tables: reading and look; place, old ink, size and time."""
    rows_a, rows_b = [], []
    for name, rs in groups(results):
        if not rs:
            continue
        row: list[object] = [name, len(rs), f"{_cer(rs)} ({_floor(rs)})", f"{_cer(rs, True)} ({_floor(rs, True)})"]
        if second:
            sec = [r for r in rs if r.second is not None]
            row.append(_pct(sum(r.second or 0 for r in sec), sum(r.chars for r in sec)))
        row += [_share([r.edits == 0 for r in rs]), _spread([r.de_written for r in rs], 100),
                _spread([r.de_describe for r in rs]), _spread([r.de_true for r in rs]),
                _share([r.de_true <= COLOUR_TOL for r in rs]), _share([r.effects_kept for r in rs])]
        rows_a.append(row)
        size_err = [abs(r.wanted - r.scene.look.size) / r.scene.look.size for r in rs if r.wanted]
        longer, shorter = [r for r in rs if r.longer], [r for r in rs if not r.longer]
        rows_b.append([
            name, len(rs), sum(r.outside_px for r in rs), sum(r.removal_outside_px for r in rs),
            f"{_share([not r.ink_outside_region for r in rs])} ({max(r.beyond_px for r in rs):.1f})", _pct(sum(r.cut for r in rs), sum(r.body for r in rs)),
            _pct(sum(r.left_px for r in rs), sum(r.uncovered_px for r in rs)),
            f"{float(np.median([r.residual for r in rs])):.3f} / {max(r.residual for r in rs):.3f}",
            f"{100 * float(np.median(size_err)):.1f}" if size_err else "n/a",
            _share([e <= SIZE_TOL for e in size_err]),
            f"{sum(r.shrunk for r in longer)}/{len(longer)}, {sum(r.shrunk for r in shorter)}/{len(shorter)}",
            _med([r.write_ms for r in rs]), _med([r.describe_ms for r in rs]), _med([r.request_ms for r in rs]),
        ])
    head_a = ["group", "lines", "CER % in the line's region (floor)", "CER % in the new text's box (floor)"] + (
        ["tesseract CER %"] if second else []) + [
        "read exactly", "dE ink vs written (median / max)", "dE written vs drawn (median / p90)",
        "dE ink vs drawn (median / p90)",
        f"ink within dE {COLOUR_TOL:g} of drawn", "effects as drawn"]
    head_b = ["group", "lines", "px the writing changed beyond region + padding",
              "px the removal changed beyond region + padding + halo", "new ink inside region (farthest out, px)",
              "new glyph ink missing %", "old ink left %", "X-Residual-Text median / max",
              "size error % (median)", f"size within {100 * SIZE_TOL:.0f} %", "shrunk: longer, shorter text",
              "write ms", "describe ms", "request ms"]
    return md_table(head_a, rows_a) + "\n\n" + md_table(head_b, rows_b)


def targets(results: list[Result]) -> str:
    """The issue's targets beside the measures."""
    latin = [r for r in results if r.scene.script == "latin" and r.scene.look.size >= LATIN_MIN_SIZE]
    cjk = [r for r in results if r.scene.script != "latin"]
    vert = [r for r in results if r.scene.script == "vertical"]
    rows: list[list[object]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    def cer_row(what: str, rs: list[Result], target: float) -> None:
        if not rs:
            return
        n = max(1, sum(r.chars for r in rs))
        cer, tight = sum(r.edits for r in rs) / n, sum(r.tight_edits for r in rs) / n
        rows.append([f"{what} ({len(rs)} lines)", f"<= {100 * target:.0f} %", f"{100 * cer:.1f} % ({_floor(rs)} %)",
                     f"{100 * tight:.1f} % ({_floor(rs, True)} %)", f"{verdict(cer <= target)} / {verdict(tight <= target)}"])

    cer_row(f"CER, Latin {LATIN_MIN_SIZE} px and up", latin, CER_TARGET["latin"])
    cer_row("CER, CJK (vertical included)", cjk, CER_TARGET["cjk"])
    cer_row("CER, vertical CJK upright", [r for r in vert if r.scene.look.angle == 0], CER_TARGET["cjk"])
    cer_row("CER, vertical CJK turned", [r for r in vert if r.scene.look.angle != 0], CER_TARGET["cjk"])
    n = len(results)
    for what, count in (("pixels the writing changed beyond the region + padding", sum(r.outside_px for r in results)),
                        ("pixels the removal changed beyond the region + padding + halo (issue 26)",
                         sum(r.removal_outside_px for r in results)),
                        ("lines whose new ink leaves the region", sum(r.ink_outside_region for r in results)),
                        ("lines whose new ink reaches more than 1 px beyond it", sum(r.beyond_px > 1 for r in results)),
                        (f"lines missing over {100 * MISSING:.0f} % of their new glyph ink",
                         sum(r.cut > MISSING * r.body for r in results))):
        rows.append([what, "0", f"{count}" + (f" of {n}" if what.startswith("lines") else ""), "", verdict(count == 0)])
    return md_table(["target", "wanted", "in the line's region (floor: the old text there)",
                     "in the new text's own box (floor: the old text's drawn region)", "verdict (region / own box)"],
                    rows)


def _strip(sc: Scene, removed: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Source | old text removed | new text, cut around the line (stacked down)."""
    xs, ys = [p[0] for p in sc.points], [p[1] for p in sc.points]
    h, w = out.shape[:2]
    x0, y0 = max(0, int(min(xs)) - 16), max(0, int(min(ys)) - 16)
    x1, y1 = min(w, int(max(xs)) + 17), min(h, int(max(ys)) + 17)
    parts = [a[y0:y1, x0:x1] for a in (sc.image, removed, out)]
    gap = np.full((6, x1 - x0, 3), 255, np.uint8)
    return np.concatenate([parts[0], gap, parts[1], gap, parts[2]])


def run(n: int, seed: int, save: Path | None, examples: int = 8) -> tuple[list[Result], dict[str, int]]:
    """Every line of the run; with `save`, the first and the worst-read lines' before/after strips."""
    bench = Bench()
    results: list[Result] = []
    worst: list[tuple[float, int, np.ndarray, str]] = []
    notes = {"different": 0, "refused": 0}
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sc = make(np.random.default_rng([seed, i]))
        try:
            r, removed, out = bench.line(sc)
        except InvalidInput as e:  # a line the service refuses (a 422): counted, not measured
            notes["refused"] += 1
            print(f"line {i} refused: {e.code}: {e}", file=sys.stderr)
            continue
        results.append(r)
        notes["different"] += not r.same_as_service
        if save is None:
            continue
        cer = r.edits / max(1, r.chars)
        name = (f"{i:03d}-{sc.script}-{sc.look.size}px-{sc.effect}-{'photo' if sc.photo else 'flat'}"
                f"-a{sc.look.angle:+.0f}-cer{100 * cer:.0f}.png")
        if i < examples:
            Image.fromarray(_strip(sc, removed, out)).save(save / name)
        elif cer > 0:
            item = (cer, i, _strip(sc, removed, out), name)
            (heapq.heappush if len(worst) < examples else heapq.heappushpop)(worst, item)
    for _, _, strip, name in worst:
        Image.fromarray(strip).save(save / f"worst-{name}")  # type: ignore[operator]
    return results, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="40 lines: a smoke run")
    ap.add_argument("--save", type=Path, help="write before/after strips (source, removed, new) of the first and "
                                              "the worst-read lines here")
    args = ap.parse_args()
    n = 40 if args.quick else args.lines
    t = time.perf_counter()
    results, notes = run(n, args.seed, args.save)
    secs = time.perf_counter() - t
    second = any(r.second is not None for r in results)
    tess = "tesseract: " + ("used as a second reader" if second else "not installed (no second reader)")
    text = (f"seed {args.seed}, {n} lines, {secs:.0f} s; cv2 model; {tess}; the bench's re-render differs from the "
            f"service's answer in {notes['different']} of {n} lines; lines refused (422): {notes['refused']}\n\n"
            + targets(results) + "\n\n" + tables(results, second) + "\n")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replace_bench.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
