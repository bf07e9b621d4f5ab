"""The `replicas` compose profile, checked from the host (scripts/container-smoke.sh runs it):
submit through the balancer, follow the task on a replica directly, SIGKILL the replica that runs
it, and see it complete on the other one, once; then restart Redis (its append-only file kept) and
see the task accepted before and a new one complete, with no restart of the replica. Standard
library only.

    python3 scripts/replicas-smoke.py BALANCER_URL REPLICA1_URL REPLICA2_URL -- COMPOSE-COMMAND...
"""

from __future__ import annotations

import base64
import json
import random
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def noise_png(w: int, h: int, seed: int) -> bytes:
    """A noisy RGB PNG (noise makes inpainting work hard), written without Pillow."""
    rnd = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rnd.getrandbits(8) for _ in range(w * 3)) for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def health(base: str) -> dict:
    st, body = call(base, "GET", "/api/v1/health", timeout=5)
    return json.loads(body) if st == 200 else {}


def main() -> None:
    balancer, r1, r2 = sys.argv[1:4]
    compose = sys.argv[sys.argv.index("--") + 1:]
    names = {r1: "replica-1", r2: "replica-2"}
    for base in (balancer, r1, r2):
        h = health(base)
        if h.get("status") != "healthy" or h.get("task_backend", {}).get("state") != "up":
            fail(f"{base}: health {h}")
    print("PASS: balancer and both replicas healthy, task store (Redis) up")

    size = 640
    for attempt in range(4):  # a task long enough to be caught running (grows until it is)
        img = base64.b64encode(noise_png(size, size, attempt)).decode()
        regions = [{"x": x, "y": y, "width": size // 6, "height": size // 6}
                   for x in range(10, size - size // 6, size // 4) for y in range(10, size - size // 6, size // 4)]
        task_id = f"replicas-smoke-{int(time.time())}-{attempt}"
        items = [{"image": img, "regions": regions}] * 3
        st, body = call(balancer, "POST", "/api/v1/inpaint-batch-async",
                        {"items": items, "task_id": task_id, "mask_mode": "box"})
        if st != 200:
            fail(f"submit through the balancer: HTTP {st} {body[:300]!r}")
        runner, deadline = None, time.time() + 60
        while runner is None and time.time() < deadline:
            for base in (r1, r2):
                if task_id in health(base).get("task_backend", {}).get("running_here", []):
                    runner = base
            st, body = call(r1, "GET", f"/api/v1/task-status/{task_id}")
            if runner is None and json.loads(body).get("status") in ("completed", "error"):
                break
            time.sleep(0.1)
        if runner is not None:
            break
        size = int(size * 1.6)
    else:
        fail("no task lasted long enough to be seen running")
    other = r2 if runner == r1 else r1
    st, body = call(other, "GET", f"/api/v1/task-status/{task_id}")
    if st != 200 or json.loads(body)["task_id"] != task_id:
        fail(f"follow on {names[other]} directly: HTTP {st} {body[:200]!r}")
    print(f"PASS: task {task_id} submitted through the balancer runs on {names[runner]}; "
          f"{names[other]} answers for it ({json.loads(body)['status']})")

    killed_at = time.time()
    subprocess.run(compose + ["kill", "-s", "SIGKILL", names[runner]], check=True, capture_output=True)
    final, again = {}, None
    while time.time() - killed_at < 180:
        if again is None and task_id in health(other).get("task_backend", {}).get("running_here", []):
            again = time.time() - killed_at
        st, body = call(other, "GET", f"/api/v1/task-status/{task_id}")
        final = json.loads(body) if st == 200 else {}
        if final.get("status") in ("completed", "error", "cancelled"):
            break
        time.sleep(0.2)
    if final.get("status") != "completed":
        fail(f"after killing {names[runner]}: task {final}")
    st, body = call(balancer, "GET", f"/api/v1/task-result/{task_id}")
    if st != 200 or body[:2] != b"PK":
        fail(f"result through the balancer: HTTP {st}")
    running_again = f"running again after {again:.1f} s, " if again is not None else ""
    print(f"PASS: {names[runner]} killed (SIGKILL) mid-task; {names[other]} took the task over "
          f"({running_again}completed after {time.time() - killed_at:.1f} s); result through the balancer")

    # Redis restarted (its append-only file kept, as the profile runs it): nothing is lost, and
    # work resumes on the surviving replica with no restart of it
    img = base64.b64encode(noise_png(320, 200, 99)).decode()
    small = {"image": img, "regions": [{"x": 20, "y": 20, "width": 80, "height": 40}], "mask_mode": "box"}
    before = f"replicas-smoke-before-restart-{int(time.time())}"
    st, body = call(other, "POST", "/api/v1/inpaint-regions-async", {**small, "task_id": before})
    if st != 200:
        fail(f"submit before the Redis restart: HTTP {st} {body[:300]!r}")
    subprocess.run(compose + ["restart", "redis"], check=True, capture_output=True)
    restarted_at, after = time.time(), f"replicas-smoke-after-restart-{int(time.time())}"
    while True:
        st, body = call(other, "POST", "/api/v1/inpaint-regions-async", {**small, "task_id": after})
        if st == 200:
            break
        if st != 503 or time.time() - restarted_at > 60:
            fail(f"submit after the Redis restart: HTTP {st} {body[:300]!r}")
        time.sleep(0.2)
    for tid in (before, after):
        deadline, final = time.time() + 120, {}
        while time.time() < deadline and final.get("status") not in ("completed", "error", "cancelled"):
            st, body = call(other, "GET", f"/api/v1/task-status/{tid}")
            final = json.loads(body) if st == 200 else {}
            time.sleep(0.2)
        if final.get("status") != "completed":
            fail(f"after the Redis restart: task {tid} {final}")
    if health(other).get("task_backend", {}).get("state") != "up":
        fail(f"after the Redis restart: {names[other]} health {health(other)}")
    print(f"PASS: Redis restarted; the task accepted before it and a new one completed on {names[other]} "
          f"{time.time() - restarted_at:.1f} s after the restart began, with no restart of the replica")


if __name__ == "__main__":
    main()
