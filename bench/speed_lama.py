"""Speed with the model users deploy: this service and IOPaint 1.6.0's own server, both loading
the same LaMa-shaped TorchScript file (bench/lama_shaped.py: big-lama's generator, random
weights), side by side in one run.

Requests: a photo (scikit-image's astronaut, resized, seeded grain) at 1024 and 2048 px with 3-6
text lines covering 3-5 % of the image (drawn here; the table says how much), sent as PNG and as
JPEG, answered in the input's format. The service gets the lines' boxes as `regions` on
POST /api/v1/inpaint-regions (multipart, its defaults: text mask mode, verification on; JPEG with
`output_format=original`); IOPaint's server gets the boxes grown by the same 4 px as a mask on
POST /api/v1/inpaint, once with its schema's default hd_strategy (Crop, margin 128) and once with
Resize (to 1280 px; its only other HD strategy below Original's whole image).

Per request (median of N sequential requests per cell, servers interleaved, after one warm-up):
client-side total; the service's model time and verification's share (verify stage + its
repaints) from Server-Timing, the rest = total - model. Then requests/s with 4 concurrent
clients against the model's own throughput (1 / the median model time of the same requests),
peak RSS of each server (VmHWM), and the first request after start against the next.

  .venv/bin/python bench/speed_lama.py                # writes bench/out/speed_lama.md
  .venv/bin/python bench/speed_lama.py --quick        # 1024 px only, one request per cell
  .venv/bin/python bench/speed_lama.py --precision fp32 bf16   # the service once per MODEL_PRECISION
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lama_shaped  # noqa: E402
from common import BENCH, OUT, ROOT, ForeignLoad, Server, free_port, load_photo, md_table  # noqa: E402

IOPAINT_VENV = BENCH / ".venv-iopaint"
PADDING = 4  # the service's TEXT_MODE_PADDING; IOPaint's mask is grown the same
WORDS = ["Summer", "SALE", "50%", "off", "every", "item", "Grand", "Opening", "Today", "only", "Free", "delivery",
         "New", "Collection", "2026", "Limited", "edition", "Visit", "us", "online"]


# ---------------------------------------------------------------- inputs

def make_case(size: int, fmt: str, lines: int, seed: int) -> dict:
    """The photo at `size` with `lines` text lines: a two-line caption block and lines spread
    over the rest, font 2.5 % of the side."""
    rng = np.random.default_rng(seed)
    base = load_photo("astronaut")
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC if size > base.shape[0] else cv2.INTER_AREA)
    img = np.clip(img.astype(np.int16) + rng.normal(0, 3, img.shape).astype(np.int16), 0, 255).astype(np.uint8)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    font_px = round(size * 0.025)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", font_px)
    except OSError:
        font = ImageFont.load_default()
    boxes = []
    band = size / (lines + 1)
    for i in range(lines):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 5))))
        x0 = int(rng.integers(size // 20, size // 3))
        # lines 0 and 1 form one caption block (a line apart); the others sit in their own band
        y0 = int(band * 0.6 + (band * i if i > 1 else band * 0.0 + i * font_px * 1.35))
        l, t, r, b = draw.textbbox((x0, y0), text, font=font, stroke_width=2)
        if r > size - 8:
            x0 -= r - size + 8
            l, t, r, b = draw.textbbox((x0, y0), text, font=font, stroke_width=2)
        colour = tuple(int(c) for c in rng.choice([[255, 255, 255], [250, 220, 40], [20, 20, 20]]))
        draw.text((x0, y0), text, font=font, fill=colour, stroke_width=2, stroke_fill=(0, 0, 0))
        boxes.append((l - 2, t - 2, r - l + 4, b - t + 4))
    buf = io.BytesIO()
    pil.save(buf, "PNG", compress_level=6) if fmt == "PNG" else pil.save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    mask = np.zeros((size, size), np.uint8)
    for x, y, w, h in boxes:
        mask[max(0, y - PADDING):y + h + PADDING, max(0, x - PADDING):x + w + PADDING] = 255
    mbuf = io.BytesIO()
    Image.fromarray(mask).save(mbuf, "PNG")
    import httpx

    form = {"regions": json.dumps([{"x": x, "y": y, "width": w, "height": h} for x, y, w, h in boxes])}
    if fmt == "JPEG":
        form.update(output_format="original", quality="100")
    mp = httpx.Request("POST", "http://x/", files={"image": ("image", data, "application/octet-stream")}, data=form)
    mp.read()
    b64 = base64.b64encode(data).decode()
    m64 = base64.b64encode(mbuf.getvalue()).decode()
    area = sum(w * h for _, _, w, h in boxes) / size ** 2
    return {"size": size, "fmt": fmt, "lines": lines, "area": area, "svc_body": mp.content,
            "svc_ctype": mp.headers["content-type"],
            "iop_crop": json.dumps({"image": b64, "mask": m64, "hd_strategy": "Crop"}).encode(),
            "iop_resize": json.dumps({"image": b64, "mask": m64, "hd_strategy": "Resize"}).encode()}


# ---------------------------------------------------------------- servers

def start_service(name: str, home: str, precision: str) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(IOPAINT_HOST="127.0.0.1", IOPAINT_PORT=str(port), IOPAINT_MODEL="lama", IOPAINT_MODEL_FALLBACK="none",
               TORCH_HOME=home, LOG_LEVEL="WARNING", MODEL_PRECISION=precision)
    env.pop("IOPAINT_MODEL_DIR", None)
    srv = Server(name, [str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "serve"], env, port, "/api/v1/health")
    srv.wait_ready(300)
    return srv


def start_iopaint(home: str) -> Server:
    exe = IOPAINT_VENV / "bin" / "iopaint"
    if not exe.exists():
        raise SystemExit(f"{exe} is missing: run bash bench/setup_iopaint_venv.sh first (bench/README.md)")
    port = free_port()
    env = dict(os.environ)
    env.update(PYTHONPATH=str(BENCH / "iopaint_stub"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONUNBUFFERED="1", TORCH_HOME=home)
    env.pop("VIRTUAL_ENV", None)
    cmd = [str(exe), "start", "--model", "lama", "--device", "cpu", "--host", "127.0.0.1", "--port", str(port),
           "--model-dir", home]  # IOPaint sets TORCH_HOME to its model dir: the same file
    srv = Server("iopaint-lama", cmd, env, port, "/api/v1/server-config")
    srv.wait_ready(300)
    return srv


def peak_rss_mb(srv: Server) -> float:
    """VmHWM of the server's process and its children (the service writes large PNGs in one)."""
    pids = [srv.proc.pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            pass
    return total


class Target:
    def __init__(self, label: str, srv: Server, path: str, body: str, ctype: str | None = None):
        self.label, self.srv, self.path, self.body, self.ctype = label, srv, path, body, ctype
        self.local = threading.local()

    def post(self, case: dict) -> dict:
        import httpx

        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = httpx.Client(base_url=self.srv.url, timeout=900.0)
        ctype = case[self.ctype] if self.ctype else "application/json"
        t0 = time.perf_counter()
        r = c.post(self.path, content=case[self.body], headers={"content-type": ctype})
        total = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"{self.label}: HTTP {r.status_code}: {r.text[:300]}")
        fmt = Image.open(io.BytesIO(r.content)).format
        assert fmt == case["fmt"], (self.label, fmt, case["fmt"])
        stages = {}
        for part in r.headers.get("server-timing", "").split(","):
            if ";dur=" in part:
                k, v = part.strip().split(";dur=")
                stages[k] = float(v) / 1000
        return {"total": total, "stages": stages, "repaired": r.headers.get("x-regions-repaired")}


def med(xs) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1024 px only, one request per cell")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--reps", type=int, default=3, help="sequential requests per cell (after one warm-up)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--tput-requests", type=int, default=8, help="requests in the concurrent run (2048 px PNG)")
    ap.add_argument("--precision", nargs="+", default=["fp32"], help="the service once per MODEL_PRECISION")
    ap.add_argument("--no-iopaint", action="store_true")
    ap.add_argument("--no-resize", action="store_true", help="skip IOPaint's Resize strategy")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps, args.tput_requests = [1024], 1, 4
    OUT.mkdir(parents=True, exist_ok=True)
    home = lama_shaped.HOME
    path = home / "hub" / "checkpoints" / "big-lama.pt"
    if not path.exists():
        lama_shaped.write(home)
    started = time.perf_counter()
    load0 = os.getloadavg()
    foreign = ForeignLoad()
    cases = {}
    for size in args.sizes:
        lines = 5 if size >= 2048 else 4
        for fmt in ("PNG", "JPEG"):
            cases[(size, fmt)] = make_case(size, fmt, lines, seed=size)

    servers: list[Server] = []
    targets: list[Target] = []
    first: dict[str, tuple[float, float]] = {}
    first_case = cases[(max(args.sizes), "PNG")]
    try:
        for p in args.precision:
            t0 = time.perf_counter()
            srv = start_service(f"service-lama-{p}", str(home), p)
            servers.append(srv)
            targets.append(Target(f"service {p}", srv, "/api/v1/inpaint-regions", "svc_body", "svc_ctype"))
            print(f"[speed_lama] service {p} up in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        if not args.no_iopaint:
            iop = start_iopaint(str(home))
            servers.append(iop)
            targets.append(Target("IOPaint Crop (default)", iop, "/api/v1/inpaint", "iop_crop"))
            if not args.no_resize:
                targets.append(Target("IOPaint Resize", iop, "/api/v1/inpaint", "iop_resize"))
        # the first request after start, then the same again: what warm-up is for
        for t in targets:
            if t.label == "IOPaint Resize":
                continue
            a, b = t.post(first_case)["total"], t.post(first_case)["total"]
            first[t.label] = (a, b)
            print(f"[speed_lama] {t.label}: first {a:.2f}s, second {b:.2f}s", file=sys.stderr)

        runs: dict[tuple, list[dict]] = {}
        for (size, fmt), case in cases.items():
            for t in targets:
                if (size, fmt) != (max(args.sizes), "PNG") or t.label == "IOPaint Resize":
                    t.post(case)  # warm-up per cell (done above for the first case)
            for i in range(args.reps):
                for t in (targets if i % 2 == 0 else targets[::-1]):
                    runs.setdefault((t.label, size, fmt), []).append(t.post(case))
            print(f"[speed_lama] {size} {fmt}: " + ", ".join(
                f"{t.label} {med(r['total'] for r in runs[(t.label, size, fmt)]):.2f}s" for t in targets)
                + f" ({time.perf_counter() - started:.0f}s)", file=sys.stderr)

        tput: dict[str, float] = {}
        tcase = cases[(max(args.sizes), "PNG")]
        for t in targets:
            if not t.label.startswith("service"):
                continue
            with ThreadPoolExecutor(args.clients) as ex:
                t0 = time.perf_counter()
                list(ex.map(lambda _: t.post(tcase), range(args.tput_requests)))
                tput[t.label] = args.tput_requests / (time.perf_counter() - t0)
            print(f"[speed_lama] {t.label}: {tput[t.label]:.3f} req/s with {args.clients} clients", file=sys.stderr)
        rss = {t.label: peak_rss_mb(t.srv) for t in targets}
    finally:
        for s in servers:
            s.stop()
    load1 = os.getloadavg()
    foreign_cores = foreign.cores()

    # ---------------------------------------------------------------- report
    ms = lambda v: round(v * 1000) if v == v else float("nan")  # noqa: E731
    fastest_iop = {}
    for (size, fmt) in cases:
        iops = [med(r["total"] for r in runs[(t.label, size, fmt)]) for t in targets if t.label.startswith("IOPaint")]
        fastest_iop[(size, fmt)] = min(iops) if iops else float("nan")
    rows = []
    for (size, fmt), case in cases.items():
        for t in targets:
            rs = runs[(t.label, size, fmt)]
            total = med(r["total"] for r in rs)
            svc = t.label.startswith("service")
            model = med(r["stages"].get("model", 0.0) for r in rs) if svc else float("nan")
            verify = med(r["stages"].get("verify", 0.0) + r["stages"].get("repaint", 0.0) for r in rs) if svc else None
            repaired = "/".join(str(r["repaired"]) for r in rs) if svc else "-"
            rows.append([size, fmt, f"{case['lines']} lines, {100 * case['area']:.1f} %", t.label, ms(total),
                         ms(min(r["total"] for r in rs)), ms(model), ms(total - model) if svc else "-",
                         f"{100 * (total - model) / total:.1f} %" if svc else "-",
                         f"{100 * verify / total:.1f} %" if verify is not None else "-", repaired,
                         f"{fastest_iop[(size, fmt)] / total:.2f}x" if svc else "-"])
    header = ["px", "input", "text", "server", "total (ms)", "best (ms)", "model (ms)", "rest (ms)", "rest share",
              "verification share (checks + repaints)", "regions repaired per request", "vs IOPaint's faster"]
    big = max(args.sizes)
    t_rows = []
    for label, rps in tput.items():
        model = med(r["stages"].get("model", 0.0) for r in runs[(label, big, "PNG")])
        t_rows.append([label, f"{big} PNG", args.clients, args.tput_requests, round(rps, 3), round(1 / model, 3),
                       f"{rps * model:.2f}x"])
    f_rows = [[label, round(a, 2), round(b, 2), f"{a / b:.2f}x"] for label, (a, b) in first.items()]
    r_rows = [[label, round(v)] for label, v in rss.items() if not label.endswith("Resize")]
    notes = [
        f"machine: {os.cpu_count()} cores; load average {load0[0]:.2f} at start, {load1[0]:.2f} at the end; other "
        f"processes kept {foreign_cores:.2f} cores busy on average; run took {time.perf_counter() - started:.0f} s",
        f"model: {path.name} from bench/lama_shaped.py ({path.stat().st_size / 1e6:.0f} MB, big-lama's generator, random "
        "weights, smooth fill), loaded by both servers through IOPaint's LaMa code",
        f"latency: median of {args.reps} sequential requests per cell, servers interleaved, after one warm-up; "
        "measured at the client (httpx, same cores)",
        "service: POST /api/v1/inpaint-regions (multipart), defaults (text mask mode, padding 4, verification on, "
        "CROP_CONTEXT 64); JPEG answered with output_format=original; model/verification from Server-Timing",
        "IOPaint 1.6.0: POST /api/v1/inpaint (base64 JSON, its only way) with the boxes + 4 px as the mask; Crop is "
        "its schema's default (margin 128, trigger 800 px), Resize scales to 1280 px; answers in the input's format",
    ]
    text = "\n".join([
        "# Speed with a LaMa-shaped model (bench/speed_lama.py)\n", *(f"- {n}" for n in notes), "",
        "## Per request\n", md_table(header, rows), "",
        f"## {args.clients} concurrent clients vs the model's own throughput\n",
        md_table(["server", "request", "clients", "requests", "requests/s", "model's own (1 / model time)",
                  "ratio"], t_rows), "",
        "## First request after start vs the next (s)\n",
        md_table(["server", "first", "second", "first / second"], f_rows), "",
        "## Peak RSS (MB, VmHWM, process + children)\n", md_table(["server", "peak RSS"], r_rows), "",
    ])
    print(text)
    (OUT / "speed_lama.md").write_text(text)
    (OUT / "speed_lama.json").write_text(json.dumps({f"{k[0]} {k[1]} {k[2]}": v for k, v in runs.items()}, indent=1))
    print(f"[speed_lama] wrote {OUT / 'speed_lama.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
