"""bench/gpu_check.sh, the GPU path's one prepared run, kept from rotting: the same script on a CPU
with its --quick sizes (the tests' tiny LaMa stand-in), both precisions (fp16 falls back to fp32
on a CPU, and says so), and IOPaint's own server where bench/.venv-iopaint exists."""

import json
import os
import subprocess
import sys

from tests.support import REPO


def test_gpu_check_runs_on_a_cpu(tmp_path):
    r = subprocess.run(["bash", "bench/gpu_check.sh", "--device", "cpu", "--quick", "--precision", "fp32", "fp16",
                        "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    servers = {x["server"]: x for x in report["results"]}
    assert {"service fp32", "service fp16"} <= set(servers)
    assert servers["service fp16"]["precision_in_effect"] == "fp32"  # autocast fp16 needs CUDA
    assert any("fp16 autocast needs CUDA" in n for n in report["notes"])
    for s in servers.values():
        assert s["first_answer_s"] > 0 and s["rps"] > 0 and s["peak_memory_mb"] > 0
    if (REPO / "bench" / ".venv-iopaint" / "bin" / "iopaint").exists():
        assert "IOPaint 1.6.0" in servers
    else:
        assert any("IOPaint's server: skipped" in n for n in report["notes"])
    assert "| service fp16 |" in (tmp_path / "gpu_check.md").read_text()
