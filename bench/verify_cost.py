"""What verification and the small-text search cost, side by side in one run.

  * a 2048 px photo with five lines of text (the service's pipeline in-process, offline cv2 model,
    and IOPaint's real LaMa code over a TorchScript stand-in): the default request against the same
    request with `verify: false`, interleaved, median of N rounds; the verify stage's own time
  * detection of a whole 2048 px photo: one pass at DETECT_MAX_SIDE against the two-pass small-text
    search (DETECT_SMALL_TEXT_SIDE=2048), interleaved

Targets: verification adds at most 25 % to the 2048 px request with five lines (cv2; its repair
passes included); detection with the small-text search at most 1 s at 2048 px. Other load on the machine is printed with the figures.

  .venv/bin/python bench/verify_cost.py [--rounds 15] [--lama-shaped]   # writes bench/out/verify_cost.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
LAMA_SHAPED = "--lama-shaped" in sys.argv  # big-lama's shape (bench/lama_shaped.py) instead of the tiny stand-in
if LAMA_SHAPED:
    os.environ["TORCH_HOME"] = str(Path(__file__).resolve().parent / "out" / "lama-home")
os.environ.setdefault("TORCH_HOME", tempfile.mkdtemp(prefix="torch-home-"))
from common import OUT, ForeignLoad, md_table  # noqa: E402
from hard_cases import encode_as, fonts, render, scene  # noqa: E402

from app.engine import pipeline  # noqa: E402
from app.engine.models import load_model  # noqa: E402
from app.engine.ocr import TextDetector, load_ocr  # noqa: E402


def lama_standin():
    """IOPaint's LaMa over a tiny TorchScript module (as tests/support.py writes it), or, with
    --lama-shaped, over big-lama's shape (bench/lama_shaped.py: what a real forward pass costs)."""
    if LAMA_SHAPED:
        from lama_shaped import write

        write(Path(os.environ["TORCH_HOME"]))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support import write_lama_standin

        write_lama_standin()
    return load_model("lama", "cpu", fallback=None)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--lama-shaped", action="store_true", help="LaMa with big-lama's shape (bench/lama_shaped.py), "
                                                               "not the tiny stand-in")
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    clean = scene("astronaut", rng, size=(2048, 1536))
    texted, lines = render(clean, "plain", rng, fonts(), n_lines=5)
    data, _ = encode_as(texted, "png-rgb")
    regions = [ln.region for ln in lines]
    det = load_ocr()  # the detector and the recognizer beside it, as the service loads them (TEXT_RECOGNITION)
    load = ForeignLoad()
    rows = []
    lama_label = "lama-shaped (big-lama's cost)" if LAMA_SHAPED else "lama stand-in"
    for label, model in (("cv2", load_model("cv2", "cpu", fallback=None)[0]), (lama_label, lama_standin())):
        times: dict[bool, list[float]] = {True: [], False: []}
        stage: list[float] = []
        for _ in range(args.rounds + 1):
            for verify in (False, True):
                job = pipeline.InpaintInput(image=data, regions=regions, mask_mode="text", padding=4, whole_padding=2,
                                            verify=verify)
                t0 = time.perf_counter()
                out = pipeline.inpaint(job, model, pipeline.Limits.defaults(), detector=det)
                times[verify].append(time.perf_counter() - t0)
                if verify:
                    stage.append(out.timings.get("verify", 0.0))
                    repaired = out.verification.regions_repaired if out.verification else 0
        off, on = statistics.median(times[False][1:]), statistics.median(times[True][1:])
        rows.append([label, f"{1000 * off:.1f}", f"{1000 * on:.1f}", f"{1000 * statistics.median(stage[1:]):.1f}",
                     str(repaired), f"{100 * (on - off) / off:+.1f} %"])
    big = scene("astronaut", np.random.default_rng(12), size=(2048, 1536))
    one, two = TextDetector(small_text_side=0), TextDetector(small_text_side=2048)
    dt: dict[str, list[float]] = {"one": [], "two": []}
    for _ in range(max(3, args.rounds // 3) + 1):
        for name, d in (("one", one), ("two", two)):
            t0 = time.perf_counter()
            d.detect(big)
            dt[name].append(time.perf_counter() - t0)
    cores = load.cores()
    text = "\n".join([
        "# Verification and small-text search: cost", "",
        f"2048x1536 photo, {len(lines)} lines of text; median of {args.rounds} interleaved rounds; other processes "
        f"kept {cores:.2f} of {os.cpu_count()} cores busy meanwhile.", "",
        md_table(["model", "verify: false, ms", "default (verify), ms", "verify stage, ms", "regions repaired",
                  "added"],
                 [[str(c) for c in r] for r in rows]), "",
        "Detection of a whole 2048x1536 photo:", "",
        md_table(["passes", "median s", "min s"],
                 [["one (DETECT_MAX_SIDE 1024)", f"{statistics.median(dt['one'][1:]):.3f}", f"{min(dt['one'][1:]):.3f}"],
                  ["two (+ small text at 2048)", f"{statistics.median(dt['two'][1:]):.3f}", f"{min(dt['two'][1:]):.3f}"]]),
        "",
    ])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "verify_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
