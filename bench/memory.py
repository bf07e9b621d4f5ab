"""Peak memory of one large request, in the pipeline (decode -> mask -> model -> encode).

Each case runs in a fresh subprocess: after a warm-up on a small image (imports, the model),
the peak resident set growth over one 4096 px request (Linux: VmHWM after resetting it through
/proc/self/clear_refs) is measured and divided by the
raw image (W x H x 3 bytes). Also reported: Python-visible allocations (tracemalloc, which sees
numpy's buffers). Model: cv2 (what this machine serves without LaMa weights).

    .venv/bin/python bench/memory.py [--size 4096]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import io, json, sys, tracemalloc
from dataclasses import replace
sys.path.insert(0, {root!r})
import numpy as np, cv2
from PIL import Image
from app.engine import pipeline
from app.engine.masks import Region
from app.engine.models import load_model

size, path, verify = {size}, {path!r}, {verify}
model, _ = load_model("cv2", "cpu", fallback=None)
boxes = lambda n: [Region.box(n * 0.1, n * 0.2, 160, 34), Region.box(n * 0.5, n * 0.5, 160, 34),
                   Region.box(n * 0.2, n * 0.8, 160, 34)]
limits = replace(pipeline.Limits.defaults(), max_image_pixels=80_000_000, max_file_size=200 << 20)
small = Image.open(path).reduce(8)
buf = io.BytesIO(); small.save(buf, Image.open(path).format)
pipeline.inpaint(pipeline.InpaintInput(image=buf.getvalue(), regions=boxes(512), output_format="original"),
             model, limits)  # warm-up
del small, buf
with open(path, "rb") as f:
    job = pipeline.InpaintInput(image=f.read(), regions=boxes(size), output_format="original", verify=verify)
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
import gc; gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM, the peak resident set, to the current one
base = status("VmRSS")
tracemalloc.start()
out = pipeline.inpaint(job, model, limits)
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
peak = status("VmHWM")
print(json.dumps({{"raw": size * size * 3, "input": len(job.image), "output": len(out.data),
                  "rss_growth": max(0, peak - base), "traced_peak": traced, "crops": out.crops}}))
"""


def photo_file(size: int, fmt: str, folder: Path) -> Path:
    """The astronaut at `size` px with a little grain (so PNG does not compress it away)."""
    import cv2
    import numpy as np
    from PIL import Image
    from skimage import data

    a = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_CUBIC)
    a = np.clip(a + np.random.default_rng(0).normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    path = folder / f"photo-{size}.{fmt.lower()}"
    Image.fromarray(a).save(path, fmt, **({"compress_level": 6} if fmt == "PNG" else {"quality": 92}))
    return path


def measure(size: int, fmt: str, verify: bool) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(root=str(ROOT), size=size, path=str(photo_file(size, fmt, Path(tmp))), verify=verify)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    args = ap.parse_args()
    mb = 1 << 20
    print("| input | verify | raw image (MB) | file in (MB) | file out (MB) | peak RSS growth (MB) | x raw | "
          "traced peak (MB) | x raw |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fmt in ("PNG", "JPEG"):
        for verify in (True, False):
            r = measure(args.size, fmt, verify)
            print(f"| {args.size} px {fmt}, 3 boxes | {'on' if verify else 'off'} | {r['raw'] / mb:.0f} | "
                  f"{r['input'] / mb:.1f} | {r['output'] / mb:.1f} | {r['rss_growth'] / mb:.0f} | "
                  f"{r['rss_growth'] / r['raw']:.2f} | {r['traced_peak'] / mb:.0f} | {r['traced_peak'] / r['raw']:.2f} |")


if __name__ == "__main__":
    main()
