"""The GPU path, measured in one short run (bench/gpu_check.sh starts it): this service with the
LaMa-shaped model (bench/lama_shaped.py) at MODEL_PRECISION fp32 and fp16, against IOPaint
1.6.0's own server on the same device, at 2048 px.

Per server: the time from its start to its first answer (start, load, warm-up, one request);
the median of --reps sequential requests (a photo with three lines of text: the service gets the
boxes as regions, IOPaint the boxes + 4 px as a mask, with its default Crop strategy); --clients
concurrent clients against the model's own throughput (1 / the median model time, from
Server-Timing); peak device memory (nvidia-smi's per-process figure, sampled every 0.2 s; on a
CPU the process's VmHWM). Targets (issue 29): on a GPU, the service at least 3x IOPaint's server
with fp16 and 2x with fp32; four clients at least 0.9x the model's own throughput.

IOPaint's server runs from bench/.venv-iopaint (bench/setup_iopaint_venv.sh); where that venv is
absent (or cannot use the device), its half is skipped and the table says so.

  bash bench/gpu_check.sh                         # cuda, 2048 px, fp32 + fp16
  bash bench/gpu_check.sh --device cpu --quick    # the plumbing on a CPU in about a minute (CI)
Writes bench/out/gpu_check.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lama_shaped  # noqa: E402
from common import BENCH, OUT, ROOT, Server, free_port, md_table  # noqa: E402
from speed_lama import Target, make_case  # noqa: E402

IOPAINT_VENV = BENCH / ".venv-iopaint"


class DeviceMemory:
    """Peak memory of a server's process: nvidia-smi's used_memory for its pid (GPU), sampled in a
    thread, or VmHWM (CPU)."""

    def __init__(self, pid: int, device: str) -> None:
        self.pid, self.gpu = pid, device.startswith("cuda") and shutil.which("nvidia-smi") is not None
        self.peak_mb = 0.0
        self._stop = threading.Event()
        if self.gpu:
            threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            for line in out.splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) == 2 and parts[0] == str(self.pid) and parts[1].isdigit():
                    self.peak_mb = max(self.peak_mb, float(parts[1]))

    def stop(self) -> float:
        self._stop.set()
        if not self.gpu:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    self.peak_mb = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024
            except (OSError, StopIteration):
                pass
        return self.peak_mb


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TORCH_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)
    env.pop("IOPAINT_MODEL_DIR", None)
    return env


def start_service(home: Path, device: str, precision: str) -> tuple[Server, float]:
    port = free_port()
    env = _env(home, IOPAINT_HOST="127.0.0.1", IOPAINT_PORT=str(port), IOPAINT_MODEL="lama",
               IOPAINT_MODEL_FALLBACK="none", IOPAINT_DEVICE=device, MODEL_PRECISION=precision, LOG_LEVEL="WARNING",
               TEXT_DETECTION="false")
    t0 = time.perf_counter()
    srv = Server(f"gpu-check-service-{precision}", [sys.executable, "-m", "app", "serve"], env, port, "/api/v1/health")
    srv.wait_ready(600)
    return srv, t0


def iopaint_python() -> Path | None:
    exe = IOPAINT_VENV / "bin" / "iopaint"
    return exe if exe.exists() else None


def start_iopaint(home: Path, device: str) -> tuple[Server, float]:
    exe = iopaint_python()
    assert exe is not None
    port = free_port()
    env = _env(home, PYTHONPATH=str(BENCH / "iopaint_stub"))
    env.pop("VIRTUAL_ENV", None)
    t0 = time.perf_counter()
    srv = Server("gpu-check-iopaint", [str(exe), "start", "--model", "lama", "--device", device.split(":")[0],
                                       "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(home)],
                 env, port, "/api/v1/server-config")
    srv.wait_ready(600)
    return srv, t0


def measure(label: str, srv: Server, t0: float, target: Target, case: dict, reps: int, clients: int, requests: int,
            device: str) -> dict:
    memory = DeviceMemory(srv.proc.pid, device)
    first = target.post(case)
    to_first = time.perf_counter() - t0
    runs = [target.post(case) for _ in range(reps)]
    with ThreadPoolExecutor(clients) as ex:
        t = time.perf_counter()
        list(ex.map(lambda _: target.post(case), range(requests)))
        rps = requests / (time.perf_counter() - t)
    total = statistics.median(r["total"] for r in runs)
    model = statistics.median(r["stages"].get("model", 0.0) for r in runs) or float("nan")
    return {"server": label, "first_answer_s": to_first, "first_request_s": first["total"], "total_s": total,
            "model_s": model, "rps": rps, "model_rps": 1 / model if model == model else float("nan"),
            "peak_memory_mb": memory.stop()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=12, help="requests in the concurrent run")
    ap.add_argument("--precision", nargs="+", default=None, help="the service once per MODEL_PRECISION "
                    "(default: fp32 fp16 on cuda, fp32 elsewhere)")
    ap.add_argument("--quick", action="store_true", help="256 px, one request each, the tests' tiny LaMa stand-in: "
                    "the script's plumbing, not a measurement")
    ap.add_argument("--no-iopaint", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT, help="where gpu_check.md and .json go")
    args = ap.parse_args()
    precisions = args.precision or (["fp32", "fp16"] if args.device.startswith("cuda") else ["fp32"])
    if args.quick:
        args.size, args.reps, args.requests = 256, 1, args.clients
    OUT.mkdir(parents=True, exist_ok=True)
    if args.quick:
        home = OUT / "gpu-check-home"
        sys.path.insert(0, str(ROOT))
        os.environ["TORCH_HOME"] = str(home)
        from tests.standins import write_lama

        write_lama()
        weights = "the tests' tiny LaMa stand-in (tests/standins.py): plumbing only"
    else:
        home = lama_shaped.HOME
        if not (home / "hub" / "checkpoints" / "big-lama.pt").exists():
            lama_shaped.write(home)
        weights = "bench/lama_shaped.py (big-lama's generator, random weights)"
    started = time.perf_counter()
    case = make_case(args.size, "PNG", 3, seed=args.size)
    results, notes = [], []
    for p in precisions:
        srv, t0 = start_service(home, args.device, p)
        try:
            target = Target(f"service {p}", srv, "/api/v1/inpaint-regions", "svc_body", "svc_ctype")
            results.append(measure(f"service {p}", srv, t0, target, case, args.reps, args.clients, args.requests,
                                   args.device))
            import httpx

            inference = httpx.get(srv.url + "/api/v1/health").json().get("inference", {})
            results[-1]["precision_in_effect"] = inference.get("precision")
            if inference.get("precision_note"):
                notes.append(f"service {p}: {inference['precision_note']}")
        finally:
            srv.stop()
        print(f"[gpu_check] {results[-1]}", file=sys.stderr, flush=True)
    if args.no_iopaint:
        notes.append("IOPaint's server: skipped (--no-iopaint)")
    elif iopaint_python() is None:
        notes.append(f"IOPaint's server: skipped ({IOPAINT_VENV} is absent: bash bench/setup_iopaint_venv.sh)")
    else:
        try:
            srv, t0 = start_iopaint(home, args.device)
        except RuntimeError as e:
            notes.append(f"IOPaint's server: did not start on {args.device} ({str(e).splitlines()[0]})")
        else:
            try:
                target = Target("IOPaint Crop (default)", srv, "/api/v1/inpaint", "iop_crop")
                results.append(measure("IOPaint 1.6.0", srv, t0, target, case, args.reps, args.clients, args.requests,
                                       args.device))
            finally:
                srv.stop()
    iop = next((r for r in results if r["server"].startswith("IOPaint")), None)
    ms = lambda v: round(v * 1000) if v == v else float("nan")  # noqa: E731
    rows = [[r["server"], r.get("precision_in_effect") or "-", round(r["first_answer_s"], 1), ms(r["total_s"]),
             ms(r["model_s"]), f"{iop['total_s'] / r['total_s']:.2f}x" if iop and r is not iop else "-",
             round(r["rps"], 2), f"{r['rps'] / r['model_rps']:.2f}x" if r["model_rps"] == r["model_rps"] else "-",
             round(r["peak_memory_mb"])] for r in results]
    gpu = args.device.startswith("cuda")
    header = ["server", "precision", "start to first answer (s)", f"{args.size} px, 1 client (ms)", "model (ms)",
              "vs IOPaint", f"{args.clients} clients (req/s)", "vs the model's own throughput",
              "peak GPU memory (MB)" if gpu else "peak RSS (MB)"]
    notes = [f"device: {args.device}; weights: {weights}; {args.size} px, three lines; median of {args.reps} "
             f"sequential requests, then {args.requests} from {args.clients} clients; run took "
             f"{time.perf_counter() - started:.0f} s", *notes]
    text = "\n".join(["# GPU check (bench/gpu_check.sh)\n", *(f"- {n}" for n in notes), "", md_table(header, rows), ""])
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.md").write_text(text)
    (args.out / "gpu_check.json").write_text(json.dumps({"results": results, "notes": notes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
