"""Is /api/v1/health still quick while the service runs at full throughput? (issue 15's target:
p99 under 50 ms)

Starts the service (cv2 model, `python -m app serve` on a free port), keeps it saturated with
`--clients` concurrent inpaint requests (a 2048 px PNG with three boxes, multipart), and polls
`/api/v1/health` every 50 ms from another client meanwhile; then the same polling with the service
idle. Prints the health latency percentiles side by side, and the throughput reached.

  .venv/bin/python bench/health_under_load.py [--seconds 20] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, ForeignLoad, encode, load_photo, md_table  # noqa: E402
from speed import start_service  # noqa: E402

BOXES = [{"x": 200, "y": 300, "width": 400, "height": 60}, {"x": 900, "y": 1200, "width": 300, "height": 40},
         {"x": 1500, "y": 600, "width": 350, "height": 50}]


def poll_health(url: str, seconds: float) -> list[float]:
    out = []
    with httpx.Client(timeout=10) as c:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            r = c.get(url + "/api/v1/health")
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200
            time.sleep(0.05)
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    photo = load_photo("astronaut")
    import cv2

    img = encode(cv2.resize(photo, (2048, 2048), interpolation=cv2.INTER_CUBIC))
    srv = start_service("health-under-load", "cv2")
    load = ForeignLoad()
    try:
        idle = poll_health(srv.url, min(10.0, args.seconds / 2))
        stop = threading.Event()
        done: list[float] = []
        codes: dict[int, int] = {}

        def worker() -> None:
            with httpx.Client(timeout=120) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    r = c.post(srv.url + "/api/v1/inpaint-regions", files={"image": ("p.png", img, "image/png")},
                               data={"regions": json.dumps(BOXES)})
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        done.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(2)  # let the queue fill
        t0 = time.perf_counter()
        busy = poll_health(srv.url, args.seconds)
        wall = time.perf_counter() - t0
        n_done = len(done)
        stop.set()
        for t in threads:
            t.join(120)
    finally:
        srv.stop()
    cores = load.cores()
    rows = [[name, len(xs), f"{pct(xs, 50):.1f}", f"{pct(xs, 95):.1f}", f"{pct(xs, 99):.1f}", f"{1000 * max(xs):.1f}"]
            for name, xs in (("idle", idle), (f"{args.clients} clients inpainting", busy))]
    text = "\n".join([
        "# /api/v1/health latency at full throughput", "",
        f"cv2 model, 2048 px PNG with three boxes, {args.clients} concurrent clients; {n_done / wall:.2f} requests/s "
        f"(median {1000 * statistics.median(done):.0f} ms each, answers {codes}); other processes kept {cores:.2f} "
        f"cores busy.", "",
        md_table(["service", "health polls", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows), ""])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "health_under_load.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
