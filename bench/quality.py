"""Quality of text removal on real photographs with known ground truth.

Text is rendered with Pillow onto scikit-image's bundled photos (several fonts, sizes, colours,
outlines, rotations; seeded). The clean photo is the ground truth; the regions are what an OCR
detector returns: the tight box around each line (a rotated quad for rotated text) plus 2 px.
Every method runs on the same texted PNG:

  input            nothing removed (the floor any method must beat)
  baseline         plain OpenCV: the full boxes as mask, cv2.inpaint Telea radius 3 on the whole image
  svc box p=N      the service's pipeline (app.engine.pipeline.run), mask_mode box, padding N
  svc text m=N     the service's pipeline, mask_mode text, text_margin N (padding 4 unless noted)
  ... Telea r3     the same with model_params cv2_flag=INPAINT_TELEA, cv2_radius=3 (IOPaint's cv2
                   default is Navier-Stokes, radius 4): separates mask effects from the algorithm
  svc lama ...     IOPaint's real LaMa, only where its weights are on disk (never downloaded)

Measured inside the regions (the unpadded polygons) against the clean photo: PSNR (pooled
over all images: one MSE over every region pixel) and mean absolute error; outside: the share
of pixels that differ from the input, outside the regions and outside the mask actually asked
for (regions grown by padding: must be 0 for PNG output).

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
             f"seed {args.seed}); fonts: {len(fonts)} DejaVu/Liberation files"]
    if have_lama:
        models["lama"] = load_model("lama", "cpu", fallback=None)[0]
    else:
        notes.append("lama: weights not on disk (big-lama.pt under TORCH_HOME); its rows are skipped")
    limits = pipeline.Limits()
    meths = methods(have_lama)

    # accumulators per method
    acc = {m["name"]: {"se": 0.0, "ae": 0.0, "n": 0, "out_reg": 0, "out_mask": 0, "n_out_reg": 0, "n_out_mask": 0,
                       "t": 0.0, "calls": 0, "fallbacks": 0, "regions": 0, "mask_px": 0, "psnrs": {}} for m in meths}
    rng = np.random.default_rng(args.seed)
    n_regions = n_rot = 0
    for pname, clean in photos.items():
        for v in range(args.variants):
            tag = f"{pname}-{chr(ord('a') + v)}"
            texted, lines = render_text(clean, rng, fonts, args.lines)
            regions = [Region(l.points, is_box=l.is_box) for l in lines]
            n_regions += len(regions)
            n_rot += sum(1 for l in lines if not l.is_box)
            h, w = clean.shape[:2]
            png = encode(texted, "PNG")
            inside = masks.regions_to_mask(regions, w, h, 0) > 0
            clean3 = as_rgb(clean).astype(np.float64)
            texted3 = as_rgb(texted)
            results: dict[str, np.ndarray] = {}
            for m in meths:
                t0 = time.perf_counter()
                fb = 0
                if m["kind"] == "input":
                    res = texted3
                    pad = 0
                elif m["kind"] == "baseline":
                    res = as_rgb(baseline(texted, regions))
                    pad = 0
                else:
                    pad = m["padding"]
                    job = pipeline.InpaintInput(image=png, regions=regions, padding=pad, mask_mode=m["mode"],
                                                text_margin=m.get("margin", DEFAULT_MARGIN),
                                                model_params=dict(m.get("params", {})), output_format="png")
                    o = pipeline.run(job, models[m["model"]], limits)
                    res = decode_rgb(o.data)
                    fb = o.text_fallbacks
                dt = time.perf_counter() - t0
                a = acc[m["name"]]
                err = res[inside].astype(np.float64) - clean3[inside]
                a["se"] += float((err ** 2).sum())
                a["ae"] += float(np.abs(err).sum())
                a["n"] += err.size
                mse = float((err ** 2).mean())
                a["psnrs"][tag] = 10 * math.log10(255 ** 2 / mse) if mse > 0 else float("inf")
                changed = (res != texted3).any(axis=2)
                padded = masks.regions_to_mask(regions, w, h, pad) > 0
                a["out_reg"] += int((changed & ~inside).sum())
                a["n_out_reg"] += int((~inside).sum())
                a["out_mask"] += int((changed & ~padded).sum())
                a["n_out_mask"] += int((~padded).sum())
                a["mask_px"] += int(changed.sum())
                a["t"] += dt
                a["calls"] += 1
                a["fallbacks"] += fb
                a["regions"] += len(regions)
                results[m["name"]] = res
            # side by side: texted | baseline | box (default) | text (default) | clean
            show = [("texted", texted3), ("baseline Telea", results["baseline cv2.inpaint Telea r3, boxes"]),
                    (f"svc box p={DEFAULT_PADDING}", results[f"svc cv2 box p={DEFAULT_PADDING}"]),
                    (f"svc text m={DEFAULT_MARGIN}", results[f"svc cv2 text m={DEFAULT_MARGIN}"]),
                    ("clean", as_rgb(clean))]
            row = np.concatenate([s[1] for s in show], axis=1)
            img = Image.fromarray(row)
            canvas = Image.new("RGB", (img.width, img.height + 22), (255, 255, 255))
            canvas.paste(label_strip(img.width, [s[0] for s in show], w), (0, 0))
            canvas.paste(img, (0, 22))
            canvas.save(out_dir / f"{tag}.png", compress_level=3)
            print(f"[quality] {tag}: {len(regions)} regions done", file=sys.stderr)

    notes.append(f"{n_regions} text lines in all, {n_rot} of them rotated (sent as quads)")
    header = ["method", "PSNR in regions (dB)", "MAE in regions", "changed outside regions (%)",
              "changed outside mask (%)", "repainted px / region px", "text fallbacks", "ms / image"]
    rows = []
    for m in meths:
        a = acc[m["name"]]
        psnr = 10 * math.log10(255 ** 2 / (a["se"] / a["n"])) if a["se"] > 0 else float("inf")
        region_px = a["n"] / 3
        rows.append([m["name"] + (" (default)" if m["default"] else ""), round(psnr, 2), round(a["ae"] / a["n"], 2),
                     round(100 * a["out_reg"] / a["n_out_reg"], 3), round(100 * a["out_mask"] / a["n_out_mask"], 4),
                     round(a["mask_px"] / region_px, 2),
                     f"{a['fallbacks']}/{a['regions']}" if m["kind"] == "svc" and m["mode"] == "text" else "-",
                     round(1000 * a["t"] / a["calls"], 1)])
    table = md_table(header, rows)

    tags = list(next(iter(acc.values()))["psnrs"])
    per_cols = ["baseline cv2.inpaint Telea r3, boxes", f"svc cv2 box p={DEFAULT_PADDING}",
                f"svc cv2 text m={DEFAULT_MARGIN}", "svc cv2 box p=0 Telea r3", "svc cv2 text m=3 Telea r3"]
    per_rows = [[t] + [round(acc[c]["psnrs"][t], 2) for c in per_cols] for t in tags]
    per_table = md_table(["image", "baseline", f"box p={DEFAULT_PADDING}", f"text m={DEFAULT_MARGIN}",
                          "box p=0 Telea", "text m=3 Telea"], per_rows)

    svc = [(r[0], r[1]) for r, m in zip(rows, meths) if m["kind"] == "svc" and not m.get("params")]
    best_box = max(((r, m) for r, m in zip(rows, meths) if m["kind"] == "svc" and m["mode"] == "box"
                    and not m.get("params")), key=lambda x: x[0][1])
    best_text = max(((r, m) for r, m in zip(rows, meths) if m["kind"] == "svc" and m["mode"] == "text"
                     and not m.get("params")), key=lambda x: x[0][1])
    summary = [f"best box padding by PSNR: {best_box[1]['padding']} ({best_box[0][1]} dB)",
               f"best text setting by PSNR: margin {best_text[1].get('margin')}, padding {best_text[1]['padding']} "
               f"({best_text[0][1]} dB)"]
    text = ("# Text removal quality (bench/quality.py)\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\n"
            + table + "\n\nPer image, PSNR in regions (dB):\n\n" + per_table + "\n\n"
            + "\n".join(f"- {s}" for s in summary) + "\n")
    print(text)
    (OUT / "quality.md").write_text(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r[0] for r in rows]
    vals = [r[1] for r in rows]
    colours = ["#999999" if m["kind"] == "input" else "#d62728" if m["kind"] == "baseline"
               else "#1f77b4" if m["mode"] == "box" else "#2ca02c" for m in meths]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(names) + 1.2))
    ax.barh(range(len(names)), vals, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    lo = min(vals) - 2
    ax.set_xlim(lo, max(vals) + 2)
    for i, v in enumerate(vals):
        ax.text(v + 0.1, i, f"{v:.2f}", va="center", fontsize=7)
    ax.set_xlabel("PSNR inside the text regions vs the clean photo (dB, pooled; higher is better)")
    ax.set_title("Text removal quality: grey input, red OpenCV baseline, blue box mode, green text mode", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "quality_psnr.png", dpi=110)
    print(f"[quality] wrote {OUT / 'quality.md'}, {OUT / 'quality_psnr.png'}, {out_dir}/*.png", file=sys.stderr)
    bad = [r[0] for r, m in zip(rows, meths) if m["kind"] == "svc" and r[4] > 0]
    if bad:
        print(f"[quality] WARNING: pixels changed outside the mask for: {', '.join(bad)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
