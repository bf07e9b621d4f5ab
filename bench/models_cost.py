"""What each model costs on this CPU: every IOPaint model the service offers, at 512, 1024 and 2048
px with three lines of text, through the service's own pipeline in-process (mask, crops, model,
composite, verification, encode), one process per model for its peak RSS.

Weights: stand-ins of each model's size with random weights (bench/model_shapes.py says where
each shape comes from, and which are approximate). IOPaint's own code loads and runs every one:
lama from bench/lama_shaped.py's TorchScript file; mat and fcf from state dicts of IOPaint's own
Generators at their published widths; ldm, zits, manga and migan from small TorchScript files
(tests/standins.py) that IOPaint's loader reads, whose modules are then replaced by the
published-size networks of bench/model_shapes.py (eager, where the real files are TorchScript).
Each answers a smooth fill, so verification repaints no noise. cv2 is the baseline.

Requests: scikit-image's astronaut at the size, three lines of text (font 2.5 % of the side: two
lines of a caption and one more), the lines' boxes as regions, the service's defaults (text mask
mode, padding 4, CROP_CONTEXT 64, verification on, without the text detector). Per size: one
request to warm up, then the median of --reps.

  .venv/bin/python bench/models_cost.py                         # every model, 512 1024 2048
  .venv/bin/python bench/models_cost.py --models lama,mat --sizes 512
Writes bench/out/models_cost.md and .json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
HOME = OUT / "models-home"
MODELS = ["cv2", "lama", "ldm", "zits", "mat", "fcf", "manga", "migan"]
SHAPES = {  # where each stand-in's shape comes from (bench/model_shapes.py)
    "cv2": "no network (OpenCV Telea)",
    "lama": "big-lama's generator as published (bench/lama_shaped.py)",
    "ldm": "CompVis inpainting_big UNet + VQ-f4, IOPaint's own copy of the classes",
    "zits": "approximate: ZITS's parts as published (FFC 9 blocks, TSR 16 layers, HAWP backbone)",
    "mat": "IOPaint's own Generator, published widths (state dict)",
    "fcf": "IOPaint's own Generator, published widths (state dict)",
    "manga": "approximate: MangaInpainting's parts (semantic net, DeepFill v2 with contextual attention, U-Net lines)",
    "migan": "MI-GAN's generator at 512 as published",
}


SWAPPED = {"ldm", "zits", "manga", "migan"}  # IOPaint loads placeholders, then the sized networks replace them


def _environment() -> None:
    os.environ["TORCH_HOME"] = str(HOME / "torch")
    os.environ["XDG_CACHE_HOME"] = str(HOME / "cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for p in (BENCH, ROOT):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def _write_state_dict(name: str) -> None:
    """mat, fcf: IOPaint's Generator at the widths its init_model passes, random weights."""
    import torch

    from iopaint.helper import get_cache_path_by_url

    if name == "mat":
        from iopaint.model import mat

        url = mat.MAT_MODEL_URL
        build = lambda: mat.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=512, img_channels=3,  # noqa: E731
                                      mapping_kwargs={"torch_dtype": torch.float32})
    else:
        from iopaint.model import fcf

        url = fcf.FCF_MODEL_URL
        kw = {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}
        build = lambda: fcf.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=512, img_channels=3,  # noqa: E731
                                      synthesis_kwargs=kw, encoder_kwargs=kw, mapping_kwargs={"num_layers": 2})
    path = Path(get_cache_path_by_url(url))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build().state_dict(), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)


def prepare(name: str) -> None:
    """Files where IOPaint's loader looks for them."""
    if name == "cv2":
        return
    if name == "lama":
        import lama_shaped

        if not (HOME / "torch" / "hub" / "checkpoints" / "big-lama.pt").exists():
            lama_shaped.write(HOME / "torch")
    elif name in ("mat", "fcf"):
        _write_state_dict(name)
    else:
        from tests.standins import WRITERS

        WRITERS[name]()


def shape(model) -> int:
    """Put the published-size networks in place (and the smooth answers); returns their parameters."""
    import model_shapes as ms

    inner = model.manager.model
    name = model.name
    if name == "lama":
        return sum(p.numel() for p in inner.model.parameters())
    if name == "cv2":
        return 0
    if name == "mat":
        inner.model = ms.MatAnswer(inner.model).eval()
        return ms.params(inner.model)
    if name == "fcf":
        inner.model = ms.StackedAnswer(inner.model).eval()
        return ms.params(inner.model)
    if name == "migan":
        inner.model = ms.StackedAnswer(ms.MiganShaped()).eval()
        return ms.params(inner.model)
    if name == "zits":
        inner.wireframe, inner.edge_line = ms.WireframeShaped().eval(), ms.EdgeLineShaped().eval()
        inner.structure_upsample, inner.inpaint = ms.StructureUpsampleShaped().eval(), ms.ZitsInpaintShaped().eval()
        return sum(ms.params(m) for m in (inner.wireframe, inner.edge_line, inner.structure_upsample, inner.inpaint))
    if name == "manga":
        inner.inpaintor_model, inner.line_model = ms.MangaInpaintorShaped().eval(), ms.ErikaShaped().eval()
        return ms.params(inner.inpaintor_model) + ms.params(inner.line_model)
    if name == "ldm":
        inner.model.diffusion_model = ms.LdmDiffusionShaped().eval()
        inner.cond_stage_model_encode, inner.cond_stage_model_decode = ms.LdmEncodeShaped().eval(), ms.LdmDecodeShaped().eval()
        return sum(ms.params(m) for m in (inner.model.diffusion_model, inner.cond_stage_model_encode,
                                          inner.cond_stage_model_decode))
    raise SystemExit(f"unknown model {name}")


def case(size: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The astronaut at `size` with three lines of text; PNG bytes and the lines' boxes."""
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA if size < 512 else cv2.INTER_CUBIC)
    pil = Image.fromarray(np.ascontiguousarray(img))
    draw = ImageDraw.Draw(pil)
    font_px = round(size * 0.025)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", font_px)
    boxes = []
    for i, (text, x, y) in enumerate([("Summer SALE 50% off every item", 0.08, 0.10), ("Grand Opening today only", 0.08, 0.14),
                                      ("Visit us online: free delivery", 0.30, 0.80)]):
        l, t, r, b = draw.textbbox((size * x, size * y), text, font=font, stroke_width=2)
        draw.text((size * x, size * y), text, font=font, fill=(255, 255, 255) if i != 2 else (250, 220, 40),
                  stroke_width=2, stroke_fill=(0, 0, 0))
        boxes.append((int(l) - 2, int(t) - 2, int(r - l) + 4, int(b - t) + 4))
    buf = io.BytesIO()
    pil.save(buf, "PNG", compress_level=1)
    return buf.getvalue(), boxes


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


LDM_STEPS, LDM_DEFAULT_STEPS = 2, 20  # ldm runs 2 steps here; its answer at IOPaint's default 20 is estimated


class Timed:
    """Counts the calls of the module it wraps, and the time they take (ldm's UNet)."""

    def __init__(self, module) -> None:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner, self.seconds, self.calls = inner, 0.0, 0

            def forward(self, *a):
                t = time.perf_counter()
                out = self.inner(*a)
                self.seconds += time.perf_counter() - t
                self.calls += 1
                return out

        self.module = Wrapper(module)


def one(name: str, sizes: list[int], reps: int, max_request_s: float) -> dict:
    """One model, in this process: load, shape, then each size (until a request takes longer than
    max_request_s: the larger sizes are then left out)."""
    _environment()
    prepare(name)
    from app.engine import pipeline
    from app.engine.masks import Region
    from app.engine.models import Tuning, load_model

    t0 = time.perf_counter()
    model, status = load_model(name, "cpu", fallback=None, tuning=Tuning(warmup=False))
    load_s = time.perf_counter() - t0
    n_params = shape(model)
    unet = None
    params: dict = {}
    if name == "ldm":
        inner = model.manager.model.model
        unet = inner.diffusion_model = Timed(inner.diffusion_model).module
        params = {"ldm_steps": LDM_STEPS, "ldm_sampler": "ddim"}
    rss_loaded = peak_rss_mb()
    limits = pipeline.Limits.defaults()
    rows: list[dict] = []
    skipped: list[int] = []
    for size in sizes:
        if rows and rows[-1]["first_s"] > max_request_s:
            skipped.append(size)
            continue
        data, boxes = case(size)
        job = lambda: pipeline.InpaintInput(image=data, regions=[Region.box(*b) for b in boxes], padding=4,  # noqa: E731
                                            whole_padding=2, mask_mode="text", verify=True, model_params=params)
        runs = []
        for i in range(reps + 1):
            if unet is not None:
                unet.seconds, unet.calls = 0.0, 0
            t = time.perf_counter()
            out = pipeline.inpaint(job(), model, limits)
            elapsed, extra = time.perf_counter() - t, 0.0
            if unet is not None and unet.calls:  # the other 18 steps, each one more UNet pass
                extra = (LDM_DEFAULT_STEPS - LDM_STEPS) * unet.seconds / unet.calls
            total = elapsed + extra
            runs.append({"total": total, "model": out.timings.get("model", 0.0) + extra,
                         "crops": out.crops, "repaired": (out.verification or {}).get("regions_repaired")})
            print(f"[models_cost] {name} {size}px: {runs[-1]['total']:.2f}s", file=sys.stderr, flush=True)
            if i == 0 and runs[0]["total"] > max_request_s:
                break
            if i == 0 and runs[0]["total"] > 20:  # slow: one measured request will do
                reps = min(reps, 1)
        first, measured = runs[0], runs[1:] or runs[:1]
        rows.append({"size": size, "first_s": first["total"], "total_s": statistics.median(r["total"] for r in measured),
                     "model_s": statistics.median(r["model"] for r in measured), "crops": first["crops"],
                     "repaired": [r["repaired"] for r in measured], "reps": len(runs) - 1})
    return {"skipped_sizes": skipped, "estimated": name == "ldm","model": name, "params": n_params, "load_s": load_s, "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": peak_rss_mb(), "threads": model.inference.get("intra_op_threads"),
            "pad_mod": model.pad_mod, "min_size": model.min_size,
            "working_size": model.fit.working_size if model.fit else None, "sizes": rows}


def table(results: list[dict], sizes: list[int]) -> str:
    head = ["model", "stand-in", "parameters"] + [f"{s} px (ms)" for s in sizes] + [
        "model share at the largest", "load (s)", "peak RSS (MB)", "other processes (cores busy)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        by = {row["size"]: row for row in r["sizes"]}
        cells = [r["model"], SHAPES[r["model"]], f"{r['params'] / 1e6:.1f} M" if r["params"] else "-"]
        approx = "≈ " if r.get("estimated") else ""
        cells += [f"{approx}{by[s]['total_s'] * 1000:,.0f}" if s in by else
                  ("not run" if s in r.get("skipped_sizes", []) else "-") for s in sizes]
        big = by.get(max(sizes))
        loaded = r["model"] not in SWAPPED  # the others load small placeholder files: their load time says nothing
        cells += [f"{100 * big['model_s'] / big['total_s']:.0f} %" if big else "-",
                  f"{r['load_s']:.1f}" if loaded else "-",
                  f"{r['peak_rss_mb']:,.0f}", f"{r.get('foreign_cores', float('nan')):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--reps", type=int, default=2, help="measured requests per size, after one to warm up")
    ap.add_argument("--max-request-s", type=float, default=300,
                    help="a model whose first request at a size takes longer is not run at the larger sizes")
    ap.add_argument("--report", action="store_true", help="only print the table of the last run (models_cost.json)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    _environment()
    if args.one:
        result = one(args.one, sizes, args.reps, args.max_request_s)
        assert args.json is not None
        args.json.write_text(json.dumps(result))
        return 0
    from common import ForeignLoad

    if args.report:
        print(table(json.loads((OUT / "models_cost.json").read_text()), sizes))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    started, load0 = time.perf_counter(), os.getloadavg()
    results = []
    for name in args.models.split(","):
        out = OUT / f"models_cost_{name}.json"
        t, foreign = time.perf_counter(), ForeignLoad()
        subprocess.run([sys.executable, __file__, "--one", name, "--sizes", args.sizes, "--reps", str(args.reps),
                        "--max-request-s", str(args.max_request_s), "--json", str(out)], check=True, cwd=ROOT)
        results.append({**json.loads(out.read_text()), "foreign_cores": foreign.cores()})
        print(f"[models_cost] {name} done in {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    notes = [f"machine: {os.cpu_count()} cores (torch threads {results[0]['threads']}); load average "
             f"{load0[0]:.2f} at start, {load1[0]:.2f} at the end; run took {time.perf_counter() - started:.0f} s",
             f"ldm: {LDM_STEPS} DDIM steps run, the other {LDM_DEFAULT_STEPS - LDM_STEPS} of IOPaint's default "
             f"{LDM_DEFAULT_STEPS} added at the measured time of one UNet pass each (≈)",
             f"not run: a size after one whose first request took over {args.max_request_s:.0f} s",
             f"per size: median of {args.reps} requests after one to warm up (one where a request took over 20 s), "
             "in-process through app.engine.pipeline.inpaint: decode, text-mode mask, crops fitted to the model, "
             "model, composite, verification (no text detector), PNG encode"]
    text = "\n".join(["# Every model: cost on this CPU (bench/models_cost.py)\n", *(f"- {n}" for n in notes), "",
                      table(results, sizes), ""])
    print(text)
    (OUT / "models_cost.md").write_text(text)
    (OUT / "models_cost.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
