"""Quality of text removal on real photographs with known ground truth.

Text is rendered with Pillow onto scikit-image's bundled photos (several fonts, sizes, colours,
outlines, rotations; seeded). The clean photo is the ground truth. The regions are what an OCR
detector returns, in two scenarios: "ocr+2px", the tight box around each line (a rotated quad for
rotated text) plus 2 px; "ocr-clipped", the tight box with each edge moved by -2..+1 px, as
detectors that cut into anti-aliased glyph edges do (where padding earns its keep). Every method
runs on the same texted PNG:

  input            nothing removed (the floor any method must beat)
  baseline         plain OpenCV: the full boxes as mask, cv2.inpaint Telea radius 3 on the whole image
  svc box p=N      the service's pipeline (app.engine.pipeline.inpaint), mask_mode box, padding N
  svc text m=N     the service's pipeline, mask_mode text, text_margin N (padding 4 unless noted)
  ... Telea r3     the same with model_params cv2_flag=INPAINT_TELEA, cv2_radius=3 (IOPaint's cv2
                   default is Navier-Stokes, radius 4): separates mask effects from the algorithm
  svc lama ...     IOPaint's real LaMa, only where its weights are on disk (never downloaded)

Measured inside the true text regions (tight + 2 px, whatever boxes the method was given)
against the clean photo: PSNR (pooled over all images: one MSE over every region pixel), mean
absolute error, and the share of rendered-text pixels left untouched; outside: the share of
pixels that differ from the input, outside the true regions and outside the mask actually asked
for (the given regions grown by padding: must be 0 for PNG output).

  .venv/bin/python bench/quality.py            # writes bench/out/quality.md, quality_psnr.png, quality/*.png
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, as_rgb, available_photos, decode_rgb, encode, find_fonts, md_table, render_text  # noqa: E402

from app.engine import masks, pipeline  # noqa: E402
from app.engine.masks import Region  # noqa: E402
from app.engine.models import load_model  # noqa: E402
from app.engine.ocr import load_ocr  # noqa: E402

TELEA = {"cv2_flag": "INPAINT_TELEA", "cv2_radius": 3}
DEFAULT_PADDING, DEFAULT_MARGIN = 4, 3  # the service's defaults (DEFAULT_PADDING, InpaintInput.text_margin)


def methods(have_lama: bool) -> list[dict]:
    m: list[dict] = [{"name": "input (nothing removed)", "kind": "input"},
                     {"name": "baseline cv2.inpaint Telea r3, boxes", "kind": "baseline"}]
    for p in (0, 2, 4, 8):
        m.append({"name": f"svc cv2 box p={p}", "kind": "svc", "model": "cv2", "mode": "box", "padding": p})
    for mg in (0, 1, 2, 3, 5, 8):
        m.append({"name": f"svc cv2 text m={mg}", "kind": "svc", "model": "cv2", "mode": "text", "padding": 4,
                  "margin": mg})
    for p in (0, 8):
        m.append({"name": f"svc cv2 text m=3 p={p}", "kind": "svc", "model": "cv2", "mode": "text", "padding": p,
                  "margin": 3})
    m.append({"name": "svc cv2 box p=0 Telea r3", "kind": "svc", "model": "cv2", "mode": "box", "padding": 0,
              "params": TELEA})
    m.append({"name": "svc cv2 box p=4 Telea r3", "kind": "svc", "model": "cv2", "mode": "box", "padding": 4,
              "params": TELEA})
    m.append({"name": "svc cv2 text m=3 Telea r3", "kind": "svc", "model": "cv2", "mode": "text", "padding": 4,
              "margin": 3, "params": TELEA})
    # verification off: what the model alone does on the same masks (the floor verification's cost is
    # measured against)
    m.append({"name": "svc cv2 box p=0 Telea r3, verify off", "kind": "svc", "model": "cv2", "mode": "box",
              "padding": 0, "params": TELEA, "verify": False})
    m.append({"name": "svc cv2 box p=4, verify off", "kind": "svc", "model": "cv2", "mode": "box", "padding": 4,
              "verify": False})
    m.append({"name": "svc cv2 text m=3, verify off", "kind": "svc", "model": "cv2", "mode": "text", "padding": 4,
              "margin": 3, "verify": False})
    if have_lama:
        m.append({"name": "svc lama box p=4", "kind": "svc", "model": "lama", "mode": "box", "padding": 4})
        m.append({"name": "svc lama text m=3", "kind": "svc", "model": "lama", "mode": "text", "padding": 4,
                  "margin": 3})
    for x in m:
        x["default"] = (x.get("kind") == "svc" and not x.get("params") and x.get("padding") == DEFAULT_PADDING
                        and x.get("margin", DEFAULT_MARGIN) == DEFAULT_MARGIN)
    return m


def lama_weights_present() -> bool:
    try:
        from iopaint.model import models as iop_models

        return bool(iop_models["lama"].is_downloaded())
    except Exception:
        return False


SCENARIOS = {
    "ocr+2px": "detector boxes = tight box around each line + 2 px on every side",
    "ocr-clipped": "detector boxes = tight box with each edge moved by -2..+1 px (may clip glyph edges)",
}


def detector_regions(lines, scenario: str, rng: np.random.Generator) -> list[Region]:
    if scenario == "ocr+2px":
        return [Region(l.points, is_box=l.is_box) for l in lines]
    return [Region(l.region_points(tuple(float(v) for v in rng.integers(-2, 2, 4))), is_box=l.is_box) for l in lines]


def new_acc() -> dict:
    return {"se": 0.0, "ae": 0.0, "n": 0, "out_reg": 0, "out_mask": 0, "n_out_reg": 0, "n_out_mask": 0, "t": 0.0,
            "calls": 0, "fallbacks": 0, "regions": 0, "mask_px": 0, "text_left": 0, "text_px": 0, "psnrs": {}}


def baseline(texted: np.ndarray, regions: list[Region]) -> np.ndarray:
    h, w = texted.shape[:2]
    m = masks.regions_to_mask(regions, w, h, 0)
    if texted.ndim == 2:
        return cv2.inpaint(texted, m, 3, cv2.INPAINT_TELEA)
    bgr = np.ascontiguousarray(texted[:, :, ::-1])
    return np.ascontiguousarray(cv2.inpaint(bgr, m, 3, cv2.INPAINT_TELEA)[:, :, ::-1])


def label_strip(width: int, labels: list[str], tile_w: int) -> Image.Image:
    strip = Image.new("RGB", (width, 22), (255, 255, 255))
    d = ImageDraw.Draw(strip)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 14)
    except OSError:
        font = ImageFont.load_default()
    for i, t in enumerate(labels):
        d.text((i * tile_w + 6, 3), t, fill=(0, 0, 0), font=font)
    return strip


def run_method(m: dict, texted: np.ndarray, png: bytes, regions: list[Region], models: dict,
               limits: pipeline.Limits, detector=None) -> tuple[np.ndarray, int, int, float]:
    """(result as RGB, padding used, text-mode fallbacks, seconds). `detector`: the OCR the service
    loads (TEXT_DETECTION, TEXT_RECOGNITION), which verification uses."""
    t0 = time.perf_counter()
    if m["kind"] == "input":
        return as_rgb(texted), 0, 0, 0.0
    if m["kind"] == "baseline":
        res = as_rgb(baseline(texted, regions))
        return res, 0, 0, time.perf_counter() - t0
    job = pipeline.InpaintInput(image=png, regions=regions, padding=m["padding"], mask_mode=m["mode"],
                                text_margin=m.get("margin", DEFAULT_MARGIN), model_params=dict(m.get("params", {})),
                                output_format="png", verify=m.get("verify", True))
    o = pipeline.inpaint(job, models[m["model"]], limits, detector=detector)
    return decode_rgb(o.data), m["padding"], o.text_fallbacks, time.perf_counter() - t0


def score(a: dict, res: np.ndarray, texted3: np.ndarray, clean3: np.ndarray, inside: np.ndarray,
          given: list[Region], pad: int, text_px: np.ndarray, tag: str) -> None:
    h, w = inside.shape
    err = res[inside].astype(np.float64) - clean3[inside]
    a["se"] += float((err ** 2).sum())
    a["ae"] += float(np.abs(err).sum())
    a["n"] += err.size
    mse = float((err ** 2).mean())
    a["psnrs"][tag] = 10 * math.log10(255 ** 2 / mse) if mse > 0 else float("inf")
    changed = (res != texted3).any(axis=2)
    asked = masks.regions_to_mask(given, w, h, pad) > 0
    a["out_reg"] += int((changed & ~inside).sum())
    a["n_out_reg"] += int((~inside).sum())
    a["out_mask"] += int((changed & ~asked).sum())
    a["n_out_mask"] += int((~asked).sum())
    a["mask_px"] += int(changed.sum())
    a["text_left"] += int((text_px & ~changed).sum())
    a["text_px"] += int(text_px.sum())


def table_for(meths: list[dict], acc: dict) -> tuple[str, list[list]]:
    header = ["method", "PSNR in regions (dB)", "MAE in regions", "text px left (%)", "changed outside regions (%)",
              "changed outside asked mask (%)", "changed px / region px", "text fallbacks", "ms / image"]
    rows = []
    for m in meths:
        a = acc[m["name"]]
        psnr = 10 * math.log10(255 ** 2 / (a["se"] / a["n"])) if a["se"] > 0 else float("inf")
        rows.append([m["name"] + (" (default)" if m["default"] else ""), round(psnr, 2), round(a["ae"] / a["n"], 2),
                     round(100 * a["text_left"] / max(1, a["text_px"]), 2),
                     round(100 * a["out_reg"] / a["n_out_reg"], 3), round(100 * a["out_mask"] / a["n_out_mask"], 4),
                     round(a["mask_px"] / (a["n"] / 3), 2),
                     f"{a['fallbacks']}/{a['regions']}" if m["kind"] == "svc" and m["mode"] == "text" else "-",
                     round(1000 * a["t"] / max(1, a["calls"]), 1)])
    return md_table(header, rows), rows


def best(rows: list[list], meths: list[dict], mode: str) -> str:
    cands = [(r, m) for r, m in zip(rows, meths) if m["kind"] == "svc" and m["mode"] == mode and not m.get("params")
             and m["model"] == "cv2"]
    r, m = max(cands, key=lambda x: x[0][1])
    extra = f"margin {m['margin']}, " if mode == "text" else ""
    return f"best cv2 {mode} mode by PSNR: {extra}padding {m['padding']} ({r[1]} dB)"


def side_by_side(path: Path, tiles: list[tuple[str, np.ndarray]]) -> None:
    w = tiles[0][1].shape[1]
    img = Image.fromarray(np.concatenate([t[1] for t in tiles], axis=1))
    canvas = Image.new("RGB", (img.width, img.height + 22), (255, 255, 255))
    canvas.paste(label_strip(img.width, [t[0] for t in tiles], w), (0, 0))
    canvas.paste(img, (0, 22))
    canvas.save(path, compress_level=3)


def plot(rows_by_scenario: dict[str, list[list]], meths: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r[0] for r in next(iter(rows_by_scenario.values()))]
    colours = ["#999999" if m["kind"] == "input" else "#d62728" if m["kind"] == "baseline"
               else "#1f77b4" if m["mode"] == "box" else "#2ca02c" for m in meths]
    n = len(rows_by_scenario)
    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, 0.36 * len(names) + 1.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (scen, rows) in zip(axes, rows_by_scenario.items()):
        vals = [r[1] for r in rows]
        ax.barh(range(len(names)), vals, color=colours)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlim(min(vals) - 1, max(vals) + 2)
        for i, v in enumerate(vals):
            ax.text(v + 0.1, i, f"{v:.2f}", va="center", fontsize=7)
        ax.set_title(f"{scen}: {SCENARIOS[scen]}", fontsize=8)
        ax.set_xlabel("PSNR inside the text regions vs the clean photo (dB, pooled)", fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("Text removal quality (higher is better): grey input, red OpenCV baseline, blue box mode, "
                 "green text mode", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--variants", type=int, default=2, help="texted versions per photo")
    ap.add_argument("--lines", type=int, default=6, help="text lines per image")
    args = ap.parse_args()

    out_dir = OUT / "quality"
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = available_photos()
    fonts = find_fonts()
    have_lama = lama_weights_present()
    models = {"cv2": load_model("cv2", "cpu", fallback=None)[0]}
    notes = [f"photos: {', '.join(photos)} ({args.variants} texted variants each, {args.lines} lines per image, "
             f"seed {args.seed}); fonts: {len(fonts)} DejaVu/Liberation files; sizes 12-44 px, outlines 0-3 px, "
             "a third of the lines rotated by up to 30 degrees"]
    if have_lama:
        models["lama"] = load_model("lama", "cpu", fallback=None)[0]
    else:
        notes.append("lama: IOPaint's big-lama.pt is not on disk (it is never downloaded here): its rows are skipped")
    limits = pipeline.Limits.defaults()
    ocr = load_ocr()  # the detector and the recognizer, as the service loads them by default
    meths = methods(have_lama)
    acc = {s: {m["name"]: new_acc() for m in meths} for s in SCENARIOS}
    rng = np.random.default_rng(args.seed)
    jitter_rng = np.random.default_rng(args.seed + 1)
    n_regions = n_rot = 0
    for pname, clean in photos.items():
        for v in range(args.variants):
            tag = f"{pname}-{chr(ord('a') + v)}"
            texted, lines = render_text(clean, rng, fonts, args.lines)
            n_regions += len(lines)
            n_rot += sum(1 for l in lines if not l.is_box)
            h, w = clean.shape[:2]
            png = encode(texted, "PNG")
            truth = [Region(l.points, is_box=l.is_box) for l in lines]  # tight + 2 px: where text is
            inside = masks.regions_to_mask(truth, w, h, 0) > 0
            clean3 = as_rgb(clean)
            texted3 = as_rgb(texted)
            text_px = (np.abs(texted3.astype(np.int16) - clean3.astype(np.int16)) > 16).any(axis=2)
            for scen in SCENARIOS:
                given = detector_regions(lines, scen, jitter_rng)
                results = {}
                for m in meths:
                    res, pad, fb, dt = run_method(m, texted, png, given, models, limits, ocr)
                    a = acc[scen][m["name"]]
                    score(a, res, texted3, clean3.astype(np.float64), inside, given, pad, text_px, tag)
                    a["t"] += dt
                    a["calls"] += 1 if m["kind"] != "input" else 0
                    a["fallbacks"] += fb
                    a["regions"] += len(given)
                    results[m["name"]] = res
                if scen == "ocr+2px":
                    side_by_side(out_dir / f"{tag}.png", [
                        ("texted", texted3), ("baseline Telea", results["baseline cv2.inpaint Telea r3, boxes"]),
                        (f"svc box p={DEFAULT_PADDING}", results[f"svc cv2 box p={DEFAULT_PADDING}"]),
                        (f"svc text m={DEFAULT_MARGIN}", results[f"svc cv2 text m={DEFAULT_MARGIN}"]),
                        ("clean", clean3)])
            print(f"[quality] {tag}: {len(lines)} lines done", file=sys.stderr)

    notes.append(f"{n_regions} text lines in all, {n_rot} of them rotated (sent as rotated quads)")
    notes.append("PSNR/MAE: inside the true text regions (tight box + 2 px), RGB, vs the clean photo; PSNR pooled "
                 "over all images. text px left: rendered-text pixels (|texted - clean| > 16) the method did not "
                 "touch. changed outside asked mask: pixels changed outside the regions sent, grown by padding "
                 "(must be 0). changed px / region px: how much was repainted, relative to the true regions.")
    parts = ["# Text removal quality (bench/quality.py)\n", *(f"- {n}" for n in notes), ""]
    rows_by = {}
    for scen, desc in SCENARIOS.items():
        table, rows = table_for(meths, acc[scen])
        rows_by[scen] = rows
        parts += [f"## {scen}: {desc}\n", table, "", f"- {best(rows, meths, 'box')}", f"- {best(rows, meths, 'text')}",
                  ""]
    a0 = acc["ocr+2px"]
    tags = list(next(iter(a0.values()))["psnrs"])
    per_cols = ["baseline cv2.inpaint Telea r3, boxes", f"svc cv2 box p={DEFAULT_PADDING}",
                f"svc cv2 text m={DEFAULT_MARGIN}", "svc cv2 box p=0", "svc cv2 text m=3 p=0"]
    per_rows = [[t] + [round(a0[c]["psnrs"][t], 2) for c in per_cols] for t in tags]
    parts += ["## Per image (ocr+2px), PSNR in regions (dB)\n",
              md_table(["image", "baseline", f"box p={DEFAULT_PADDING}", f"text m={DEFAULT_MARGIN}", "box p=0",
                        "text m=3 p=0"], per_rows), ""]
    text = "\n".join(parts)
    print(text)
    (OUT / "quality.md").write_text(text)
    plot(rows_by, meths, OUT / "quality_psnr.png")
    print(f"[quality] wrote {OUT / 'quality.md'}, {OUT / 'quality_psnr.png'}, {out_dir}/*.png", file=sys.stderr)
    bad = [f"{s}: {r[0]}" for s, rows in rows_by.items() for r, m in zip(rows, meths) if m["kind"] == "svc" and r[5] > 0]
    if bad:
        print(f"[quality] WARNING: pixels changed outside the asked mask: {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
