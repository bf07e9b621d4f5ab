"""Text detection benchmark: app.engine.ocr.TextDetector vs RapidOCR's default detection call.

Photographs bundled with scikit-image, scaled to 1024 and 2048 px (longest side), get text lines
rendered onto them in several fonts, sizes, colours and rotations (about a third CJK). The
glyph pixels of every line are known from the render, so per configuration we measure:

  * recall: share of glyph pixels inside the detected polygons: Latin and CJK lines of font size
    >= 2 % of the longest side, and small lines (12 and 16 px fonts, both scripts) apart
  * lines < 0.9: rendered lines of which less than 90 % of the glyph pixels are covered
  * non-glyph: share of the detected polygons' area that is not glyph pixels
  * area / boxes: detected polygon area over the area of the true text boxes (min-area
    rectangles of each line's glyphs)
  * FP on plain photos: detections on the same photographs without rendered text
  * time: median seconds per image (all configurations run back to back on each image)

End to end (appended to the same file): the service's pipeline in-process (model cv2, CPU) on
the texted 1024 px photos with `detect: true` and no regions, against the same request given the
true text boxes (axis-aligned tight boxes of each rendered line, `detect: false`), for
mask_mode box and text at padding 2: PSNR against the clean photo inside the text (glyph pixels
dilated by 2 px), Latin and CJK apart and pooled; repainted pixels (InpaintOutput.mask_area)
over the true boxes' area; seconds per image for the whole pipeline.inpaint call.

Run:  .venv/bin/python bench/detect_bench.py            (writes bench/out/detect.md)
      .venv/bin/python bench/detect_bench.py --quick    (fewer images)
      .venv/bin/python bench/detect_bench.py --e2e-only (only the end-to-end section, appended)
Needs `shapely six` (requirements-dev.txt) for the RapidOCR comparison, and fonts-noto-cjk.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.ocr import TextDetector  # noqa: E402

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
NOTO = Path("/usr/share/fonts/opentype/noto")
LATIN_FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
               "DejaVuSansMono.ttf", "DejaVuSansCondensed-Bold.ttf"]
CJK_FONTS = [("NotoSansCJK-Regular.ttc", 0), ("NotoSansCJK-Bold.ttc", 2), ("NotoSerifCJK-Regular.ttc", 2)]
LATIN_TEXT = ["Summer sale: 50% off everything", "Hello, world!", "Open 9am - 5pm daily",
              "The quick brown fox jumps over the lazy dog", "www.example.com", "Call 555-0123",
              "CONFIDENTIAL", "Photo by J. Smith, 2024", "Limited edition", "Best coffee in town",
              "Do not disturb", "Room 42"]
CJK_TEXT = ["你好世界", "欢迎光临本店", "限时特价 五折优惠", "こんにちは世界", "東京タワーへようこそ",
            "本日休業", "新品上市", "ありがとうございます"]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "camera"]
SMALL = 16  # a line is "small" when its font size is at most this many pixels (at the image's own size)


@dataclass
class Scene:
    name: str
    rgb: np.ndarray
    plain: np.ndarray
    latin: np.ndarray  # bool glyph masks
    cjk: np.ndarray
    small: np.ndarray
    lines: list[np.ndarray] = field(default_factory=list)  # per-line glyph masks (bool, full size)
    boxes: np.ndarray | None = None  # union of the true min-area text boxes
    scripts: list[str] = field(default_factory=list)  # "latin" / "cjk" per line (any size)


def photo(name: str, side: int) -> np.ndarray:
    import skimage.data as sd

    img = getattr(sd, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    s = side / max(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)


def render_scene(name: str, side: int, seed: int, n_lines: int = 9) -> Scene:
    rng = random.Random(f"{name}-{side}-{seed}")
    base = photo(name, side)
    h, w = base.shape[:2]
    img = Image.fromarray(base)
    latin, cjk, small = (np.zeros((h, w), bool) for _ in range(3))
    taken = np.zeros((h, w), bool)
    scene = Scene(f"{name}#{seed}", base, base, latin, cjk, small)
    sizes = [12, 16] + [round(side * f) for f in (0.02, 0.03, 0.045, 0.07)]
    boxes = np.zeros((h, w), np.uint8)
    for i in range(n_lines):
        is_cjk = i % 3 == 2
        if is_cjk:
            fname, index = rng.choice(CJK_FONTS)
            text = rng.choice(CJK_TEXT)
        else:
            fname, index = rng.choice(LATIN_FONTS), 0
            text = rng.choice(LATIN_TEXT)
        size = rng.choice(sizes)
        font = ImageFont.truetype(str((NOTO if is_cjk else DEJAVU) / fname), size, index=index)
        angle = rng.choice([0, 0, 0, 0, rng.uniform(-30, 30), rng.uniform(-12, 12)])
        stroke = max(1, size // 12) if rng.random() < 0.2 else 0
        x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke)
        pad = 4 + stroke
        layer = Image.new("RGBA", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), (0, 0, 0, 0))
        rot_w, rot_h = layer.size
        if angle:
            rot_w, rot_h = layer.rotate(angle, expand=True).size
        if rot_w >= w or rot_h >= h:
            continue
        for _ in range(60):  # a free spot
            px, py = rng.randrange(0, w - rot_w), rng.randrange(0, h - rot_h)
            if not taken[py:py + rot_h, px:px + rot_w].any():
                break
        else:
            continue
        lum = float(np.mean(base[py:py + rot_h, px:px + rot_w] @ np.array([0.299, 0.587, 0.114])))
        if lum > 128:
            fill = tuple(rng.randrange(0, 90) for _ in range(3))
            outline = (255, 255, 255)
        else:
            fill = tuple(rng.randrange(170, 256) for _ in range(3))
            outline = (0, 0, 0)
        if rng.random() < 0.3:  # a saturated colour
            fill = rng.choice([(220, 30, 30), (250, 200, 0), (30, 90, 220), (20, 160, 60)]) if lum <= 128 else \
                rng.choice([(160, 0, 0), (0, 60, 160), (0, 100, 30), (90, 0, 120)])
        ImageDraw.Draw(layer).text((pad - x0, pad - y0), text, font=font, fill=fill + (255,),
                                   stroke_width=stroke, stroke_fill=outline + (255,))
        if angle:
            layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
        img.paste(layer, (px, py), layer)
        alpha = np.asarray(layer)[:, :, 3] >= 128
        line = np.zeros((h, w), bool)
        line[py:py + rot_h, px:px + rot_w] = alpha
        scene.lines.append(line)
        scene.scripts.append("cjk" if is_cjk else "latin")
        (small if size <= SMALL else cjk if is_cjk else latin)[line] = True
        taken[max(0, py - 6):py + rot_h + 6, max(0, px - 6):px + rot_w + 6] = True
        ys, xs = np.nonzero(line)
        rect = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
        cv2.fillPoly(boxes, [np.round(cv2.boxPoints(rect) * 16).astype(np.int32)], 1, shift=4)
    scene.rgb = np.asarray(img)
    scene.boxes = boxes.astype(bool)
    return scene


def polygons_mask(polys, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(np.asarray(p, np.float64) * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


@dataclass
class Tally:
    hit: dict = field(default_factory=lambda: {"latin": 0, "cjk": 0, "small": 0})
    tot: dict = field(default_factory=lambda: {"latin": 0, "cjk": 0, "small": 0})
    lines: int = 0
    missed: int = 0
    poly_area: int = 0
    poly_glyph: int = 0
    box_area: int = 0
    fp: int = 0
    times: list = field(default_factory=list)

    def add(self, scene: Scene, mask: np.ndarray, seconds: float) -> None:
        for k in ("latin", "cjk", "small"):
            g = getattr(scene, k)
            self.hit[k] += int((g & mask).sum())
            self.tot[k] += int(g.sum())
        for line in scene.lines:
            self.lines += 1
            self.missed += int((line & mask).sum() < 0.9 * line.sum())
        glyph = scene.latin | scene.cjk | scene.small
        self.poly_area += int(mask.sum())
        self.poly_glyph += int((mask & glyph).sum())
        self.box_area += int(scene.boxes.sum())
        self.times.append(seconds)

    def recall(self, k: str) -> float:
        return self.hit[k] / max(1, self.tot[k])


class Ours:
    def __init__(self, label: str, **kw):
        self.label = label
        self.det = TextDetector(**kw)

    def __call__(self, rgb: np.ndarray) -> list:
        return [d.points for d in self.det.detect(rgb)]


class Rapid:
    label = "RapidOCR() default call"

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def __call__(self, rgb: np.ndarray) -> list:
        boxes, _ = self.engine(np.ascontiguousarray(rgb[:, :, ::-1]), use_det=True, use_cls=False, use_rec=False)
        return [] if boxes is None else [np.asarray(b, np.float64) for b in boxes]


def time_rounds(side: int, scenes: list[Scene], runners: list, rounds: int) -> list[list[str]]:
    """Seconds per image, per round (the detectors take turns on each image, so load spikes from
    other processes hit them alike); the median and the best round."""
    per = {r.label: [] for r in runners}
    for k in range(rounds):
        spent = dict.fromkeys(per, 0.0)
        for sc in scenes:
            for r in runners[k % len(runners):] + runners[: k % len(runners)]:
                t = time.perf_counter()
                r(sc.rgb)
                spent[r.label] += time.perf_counter() - t
        for label, s in spent.items():
            per[label].append(s / len(scenes))
    ref = per.get(Rapid.label)
    out = []
    for label, ts in per.items():
        med, best = statistics.median(ts), min(ts)
        out.append([f"{side}", label, f"{med:.3f}", f"{best:.3f}",
                    f"{statistics.median(ref) / med:.1f}x" if ref else "-", f"{min(ref) / best:.1f}x" if ref else "-"])
    return out


def small_within(side: int, scenes: list[Scene], det: TextDetector) -> tuple[int, float, float]:
    """Recall of the small lines when the detector is pointed at them with `within` boxes."""
    from app.engine.masks import Region

    hit = tot = 0
    times = []
    for sc in scenes:
        regions = []
        for line in sc.lines:
            if (line & sc.small).any():
                ys, xs = np.nonzero(line)
                regions.append(Region.box(xs.min() - 8.0, ys.min() - 8.0, np.ptp(xs) + 16.0, np.ptp(ys) + 16.0))
        if not regions:
            continue
        t = time.perf_counter()
        found = det.detect(sc.rgb, within=regions)
        times.append(time.perf_counter() - t)
        mask = polygons_mask([d.points for d in found], *sc.rgb.shape[:2])
        hit += int((mask & sc.small).sum())
        tot += int(sc.small.sum())
    return side, hit / max(1, tot), statistics.median(times) if times else 0.0


# -- end to end: pipeline.inpaint with detect:true vs the true boxes ------------------------------

E2E_SIDE = 1024
E2E_PADDING = 2  # the service default
E2E_TARGET_DB = 0.5  # detect:true within this many dB of the true-box request
E2E_TARGET_AREA = 0.7  # detect:true repaints at most this share of the true boxes' area


def true_boxes(scene: Scene) -> list:
    """The tight axis-aligned box of each rendered line's glyph pixels, as service regions."""
    from app.engine.masks import Region

    out = []
    for line in scene.lines:
        ys, xs = np.nonzero(line)
        out.append(Region.box(float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                              float(ys.max() - ys.min() + 1)))
    return out


def _psnr(sse: float, n: int) -> float:
    if n == 0:
        return float("nan")
    mse = sse / n
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def e2e_section(photos: list[str], seeds: int) -> str:
    """pipeline.inpaint on each texted photo: detect:true (no regions) and the true boxes, box and text
    mask modes at padding 2; the markdown section."""
    from app.engine import models, pipeline
    from app.engine.masks import regions_to_mask
    from app.engine.ocr import load_ocr

    t0 = time.perf_counter()
    model, _ = models.load_model("cv2", "cpu", fallback=None)
    detector = load_ocr()
    if detector is None:
        raise SystemExit("text detector not available (rapidocr_onnxruntime model / onnxruntime missing)")
    load_s = time.perf_counter() - t0
    limits = pipeline.Limits.defaults()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # glyphs dilated by 2 px

    scenes = [render_scene(p, E2E_SIDE, s) for p in photos for s in range(seeds)]
    configs = [(mode, req) for mode in ("box", "text") for req in ("detect", "boxes")]
    keys = ("latin", "cjk", "all")
    acc = {c: {"sse": dict.fromkeys(keys, 0.0), "n": dict.fromkeys(keys, 0), "area": 0, "t": [], "mask_t": [],
               "model_t": [], "lines": 0, "fallbacks": 0} for c in configs}
    floor = {"sse": dict.fromkeys(keys, 0.0), "n": dict.fromkeys(keys, 0)}
    box_area = rect_area = n_lines = 0
    n_script = dict.fromkeys(("latin", "cjk"), 0)

    def warm(sc):
        png = cv2.imencode(".png", np.ascontiguousarray(sc.rgb[:, :, ::-1]))[1].tobytes()
        pipeline.inpaint(pipeline.InpaintInput(image=png, detect=True, padding=E2E_PADDING), model, limits, None,
                     detector)

    warm(scenes[0])
    for sc in scenes:
        h, w = sc.rgb.shape[:2]
        png = cv2.imencode(".png", np.ascontiguousarray(sc.rgb[:, :, ::-1]))[1].tobytes()
        clean = sc.plain.astype(np.float64)
        zones = {}
        for k in ("latin", "cjk"):
            g = np.zeros((h, w), np.uint8)
            for line, script in zip(sc.lines, sc.scripts):
                if script == k:
                    g[line] = 1
            zones[k] = cv2.dilate(g, kernel).astype(bool)
            n_script[k] += sum(1 for s in sc.scripts if s == k)
        zones["all"] = zones["latin"] | zones["cjk"]
        regions = true_boxes(sc)
        box_area += int((regions_to_mask(regions, w, h, 0) > 0).sum())
        rect_area += int(sc.boxes.sum())
        n_lines += len(regions)

        def tally(dst, out_rgb):
            err = ((out_rgb.astype(np.float64) - clean) ** 2).sum(axis=2)
            for k in keys:
                dst["sse"][k] += float(err[zones[k]].sum())
                dst["n"][k] += int(zones[k].sum()) * 3

        tally(floor, sc.rgb)
        for mode, req in configs:
            job = pipeline.InpaintInput(image=png, detect=req == "detect", regions=None if req == "detect" else regions,
                                        padding=E2E_PADDING, mask_mode=mode)
            t = time.perf_counter()
            res = pipeline.inpaint(job, model, limits, None, detector)
            dt = time.perf_counter() - t
            out = cv2.imdecode(np.frombuffer(res.data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
            a = acc[(mode, req)]
            tally(a, out)
            a["area"] += res.mask_area
            a["t"].append(dt)
            a["mask_t"].append(res.timings.get("mask", 0.0))
            a["model_t"].append(res.timings.get("model", 0.0) + res.timings.get("composite", 0.0))
            a["lines"] += res.detected if res.detected is not None else 0
            a["fallbacks"] += res.text_fallbacks

    def ps(d, k):
        return _psnr(d["sse"][k], d["n"][k])

    head = ["mask_mode", "request", "PSNR Latin", "PSNR CJK", "PSNR pooled", "vs true boxes (pooled)",
            "area / true boxes", "area / min-area rects", "s / image (median)", "mask stage s", "inpaint s",
            "lines found"]
    md = [f"## End to end: pipeline.inpaint, detect:true vs the true boxes ({E2E_SIDE} px, padding {E2E_PADDING}, "
          "model cv2 on CPU)", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md.append("| - | input (nothing removed) | " + " | ".join(f"{ps(floor, k):.2f}" for k in keys)
              + " | - | - | - | - | - | - | - |")
    verdicts = []
    for mode, req in configs:
        a = acc[(mode, req)]
        ref = acc[(mode, "boxes")]
        delta = ps(a, "all") - ps(ref, "all")
        label = "detect:true, no regions" if req == "detect" else "true boxes, detect:false"
        found = f"{a['lines']} (true: {n_lines})" if req == "detect" else "-"
        if mode == "text" and req == "boxes":
            found = f"- ({a['fallbacks']} text-mode fallbacks)"
        md.append(" | ".join([
            f"| {mode}", label, *(f"{ps(a, k):.2f}" for k in keys),
            f"{delta:+.2f} dB" if req == "detect" else "(ref)",
            f"{a['area'] / max(1, box_area):.2f}", f"{a['area'] / max(1, rect_area):.2f}",
            f"{statistics.median(a['t']):.3f}", f"{statistics.median(a['mask_t']):.3f}",
            f"{statistics.median(a['model_t']):.3f}", found]) + " |")
        if req == "detect":
            gap = ps(ref, "all") - ps(a, "all")
            ratio = a["area"] / max(1, box_area)
            per = ", ".join(f"{k} {ps(a, k) - ps(ref, k):+.2f} dB" for k in ("latin", "cjk"))
            verdicts.append(
                f"- {mode}: PSNR {'MET' if gap <= E2E_TARGET_DB else 'NOT MET'} (pooled "
                f"{-gap:+.2f} dB vs true boxes, target >= -{E2E_TARGET_DB} dB; {per}); area "
                f"{'MET' if ratio <= E2E_TARGET_AREA else 'NOT MET'} ({ratio:.2f}x the true boxes, target <= "
                f"{E2E_TARGET_AREA}x)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    md += ["", "Targets (detect:true without regions vs the same request with the true boxes):", *verdicts, "",
           f"{len(scenes)} images ({len(photos)} photographs x {seeds} layout(s), the scenes of the detection "
           f"table at {E2E_SIDE} px): {n_lines} lines, {n_script['latin']} Latin / {n_script['cjk']} CJK (all sizes, "
           "12 px up). PSNR: RGB against the clean photo, one MSE pooled over all images, inside the glyph "
           "pixels of the lines of that script dilated by 2 px (not the boxes). True boxes: each rendered "
           "line's tight axis-aligned box (`Region.box`; rotated lines get their upright bounding box); "
           "area / true boxes = InpaintOutput.mask_area summed over images / the union of those boxes, "
           "unpadded; area / min-area rects = the same over the lines' tight rotated rectangles "
           f"(true boxes are {box_area / max(1, rect_area):.2f}x those). Time: wall seconds of one pipeline.inpaint "
           "(decode, detection or mask, cv2 inpaint, encode), median over images; mask stage = detection "
           "plus mask building. "
           f"{cores} CPU cores; model + detector load {load_s:.1f} s (not counted); load average at end "
           f"{os.getloadavg()[0]:.2f}."]
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--seeds", type=int, default=1, help="text layouts per photograph")
    ap.add_argument("--quick", action="store_true", help="4 photographs, 1 layout")
    ap.add_argument("--no-rapid", action="store_true")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (3 images each, detectors interleaved)")
    ap.add_argument("--out", default=str(ROOT / "bench/out/detect.md"))
    ap.add_argument("--e2e-only", action="store_true",
                    help="only the end-to-end pipeline section (appended to --out)")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end pipeline section")
    args = ap.parse_args()
    photos = PHOTOS[:4] if args.quick else PHOTOS
    seeds = 1 if args.quick else args.seeds
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.e2e_only:
        append_e2e(out, photos, seeds)
        return

    runners = [
        Ours("ours max_side=1024 unclip=2.0 (default)"),
        Ours("ours max_side=960 unclip=2.0", max_side=960),
        Ours("ours max_side=1280 unclip=2.0", max_side=1280),
        Ours("ours max_side=1024 unclip=1.6", unclip_ratio=1.6),
        Ours("ours full-res (max_side=4096) unclip=1.6", max_side=4096, unclip_ratio=1.6),
    ]
    if not args.no_rapid:
        runners.append(Rapid())

    rows, timing, within = [], [], []
    for side in args.sizes:
        tallies = {r.label: Tally() for r in runners}
        scenes = [render_scene(p, side, s) for p in photos for s in range(seeds)]
        for r in runners:  # warm-up at this size
            r(scenes[0].rgb)
        for sc in scenes:
            h, w = sc.rgb.shape[:2]
            for r in runners:
                t = time.perf_counter()
                polys = r(sc.rgb)
                dt = time.perf_counter() - t
                tallies[r.label].add(sc, polygons_mask(polys, h, w), dt)
        for p in photos:  # false positives on the photographs without text
            plain = photo(p, side)
            for r in runners:
                tallies[r.label].fp += len(r(plain))
        rapid_t = statistics.median(tallies[Rapid.label].times) if not args.no_rapid else None
        for r in runners:
            t = tallies[r.label]
            med = statistics.median(t.times)
            rows.append([
                f"{side}", r.label, f"{t.recall('latin'):.4f}", f"{t.recall('cjk'):.4f}", f"{t.recall('small'):.4f}",
                f"{t.missed}/{t.lines}", f"{1 - t.poly_glyph / max(1, t.poly_area):.3f}",
                f"{t.poly_area / max(1, t.box_area):.2f}", f"{t.fp}", f"{med:.3f}", f"{min(t.times):.3f}",
                f"{rapid_t / med:.1f}x" if rapid_t else "-",
            ])
        within.append(small_within(side, scenes, runners[0].det))
        timing += time_rounds(side, scenes[:3], [runners[0], runners[1]] + runners[-1:], args.rounds)
        print(f"done {side}px: {len(scenes)} images", file=sys.stderr)

    head = ["px", "detector", "recall Latin", "recall CJK", "recall small", "lines < 0.9", "non-glyph",
            "area / boxes", f"FP on {len(photos)} plain photos", "median s", "min s", "speed vs RapidOCR"]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    head = ["px", "detector", "s / image, median round", "s / image, best round", "speed vs RapidOCR (median)",
            "(best)"]
    md += ["", f"Timing: {args.rounds} rounds over 3 of the images per size, detectors interleaved in each round.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in timing]
    md += ["", "Small text with `within` (a box around each small line, as a caller would give): crops are "
           "detected at their own resolution.", "",
           "| px | detector | recall small, within boxes | median s |", "|---|---|---|---|"]
    md += [f"| {side} | {runners[0].label} | {r:.4f} | {t:.3f} |" for side, r, t in within]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = (f"{len(photos)} photographs x {seeds} layout(s) per size, up to 9 lines each (1/3 CJK, some rotated "
            f"up to 30 deg, some outlined); Latin/CJK: fonts of 2-7 % of the longest side; small: 12 and "
            f"16 px fonts; speed = RapidOCR median / ours median (all detectors run back to back per image); "
            f"{cores} CPU cores; load average at end {os.getloadavg()[0]:.2f}")
    text = "\n".join(md) + "\n\n" + info + "\n"
    print(text)
    out.write_text(text)
    if not args.no_e2e:
        append_e2e(out, photos, seeds)


def append_e2e(out: Path, photos: list[str], seeds: int) -> None:
    text = e2e_section(photos, seeds)
    print(text)
    with out.open("a") as f:
        f.write("\n" + text)


if __name__ == "__main__":
    main()
