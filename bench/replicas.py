"""Replicas on Redis (TASK_BACKEND=redis) against the in-memory backend, on this machine.

1. Throughput: the same async workload (cv2, 512 px photo, 4 regions; each client subscribes to
   its task's WebSocket, submits, waits for task_completed) at the same concurrency against one
   memory replica, one Redis replica and two Redis replicas.
2. Latency Redis adds: one task at a time (320x200, one region), submit -> task_completed on
   the WebSocket, memory vs Redis (target: <= 20 ms more).
3. Recovery: two Redis replicas; the one running a long batch task is killed (SIGKILL); time
   until the other runs it again (target <= 30 s; QUEUE_CLAIM_IDLE, default 10 s) and completes it.
4. Redis comes back (target: work resumes within 5 s of Redis answering again): two replicas,
   Redis restarted with its data (append-only file) and without it, and a failover through three
   Sentinels (the master SIGKILLed); from Redis answering again to a new task completed, and for
   the restart with data the task accepted before it. Then a replica SIGKILLed after ending a task
   and before its callback is delivered: time until the other replica delivers it (target:
   QUEUE_CLAIM_IDLE + the retry delay), and how many delivery ids the receiver saw (target: 1).

    .venv/bin/python bench/replicas.py [--tasks 40] [--concurrency 8] [--claim-idle 10] [--parts ...]

Starts its own redis-server (Debian's) and `python -m app serve` processes on free loopback ports.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import OUT, ForeignLoad, Server, encode, env_without, free_port, load_photo, md_table  # noqa: E402


class Redis:
    def __init__(self):
        self.port, self.dir = free_port(), tempfile.mkdtemp(prefix="bench-redis-")
        exe = shutil.which("redis-server") or sys.exit("redis-server is missing: bash scripts/system-packages.sh")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def start(name: str, **env: str) -> Server:
    port = free_port()
    full = env_without("IOPAINT_API_KEY")
    full.update({"IOPAINT_MODEL": "cv2", "IOPAINT_HOST": "127.0.0.1", "IOPAINT_PORT": str(port),
                 "LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1", "TEXT_DETECTION": "false", "MAX_QUEUE_SIZE": "64",
                 **env})
    return Server(name, [sys.executable, "-m", "app", "serve"], full, port, "/api/v1/health",
                  lambda r: r.status_code == 200 and r.json().get("status") == "healthy")


def start_all(specs: list[tuple[str, dict]]) -> list[Server]:
    servers = [start(name, **env) for name, env in specs]
    for s in servers:
        s.wait_ready()
    return servers


def one_task(base: str, body: dict) -> float:
    """Submit with a WebSocket subscription made first; seconds until task_completed."""
    tid = uuid.uuid4().hex
    with connect(f"ws://{base.split('://', 1)[1]}/api/v1/ws/progress/{tid}", max_size=1 << 20) as ws:
        ws.recv(timeout=10)  # connection_established
        ws.recv(timeout=10)  # task_subscribed
        t0 = time.perf_counter()
        r = httpx.post(f"{base}/api/v1/inpaint-regions-async", json={**body, "task_id": tid}, timeout=30)
        r.raise_for_status()
        while True:
            m = json.loads(ws.recv(timeout=120))
            if m["type"] == "task_completed":
                return time.perf_counter() - t0
            if m["type"] in ("task_failed", "task_cancelled"):
                raise RuntimeError(m)


def throughput(bases: list[str], body: dict, n: int, concurrency: int) -> tuple[float, float]:
    """Tasks per second and median latency with `concurrency` clients spread over `bases`."""
    one_task(bases[0], body)  # warm-up
    lat: list[float] = []
    left = iter(range(n))
    lock = threading.Lock()

    def client(i: int) -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            took = one_task(bases[i % len(bases)], body)
            with lock:
                lat.append(took)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - t0), statistics.median(lat)


def regions_body(img: np.ndarray, k: int) -> dict:
    h, w = img.shape[:2]
    regions = [{"x": int(w * (0.1 + 0.2 * i)), "y": int(h * 0.4), "width": int(w * 0.12), "height": int(h * 0.08)}
               for i in range(k)]
    return {"image": base64.b64encode(encode(img)).decode(), "regions": regions, "mask_mode": "box"}


def health(base: str) -> dict:
    return httpx.get(f"{base}/api/v1/health", timeout=5).json()


def recovery(redis_url: str, claim_idle: float) -> tuple[float, float]:
    """Seconds from SIGKILL of the running replica to the task running again, and to its completion."""
    a, b = start_all([(f"recovery-{i}", {"TASK_BACKEND": "redis", "REDIS_URL": redis_url, "REPLICA_NAME": f"rec-{i}",
                                          "QUEUE_CLAIM_IDLE": str(claim_idle)}) for i in (1, 2)])
    try:
        big = np.ascontiguousarray(np.tile(load_photo("astronaut"), (2, 2, 1)))  # 1024 px
        item = regions_body(big, 4)
        tid = uuid.uuid4().hex
        r = httpx.post(f"{a.url}/api/v1/inpaint-batch-async",
                       json={"items": [item] * 12, "task_id": tid, "mask_mode": "box"}, timeout=60)
        r.raise_for_status()
        deadline = time.time() + 60
        runner = None
        while runner is None and time.time() < deadline:
            runner = next((s for s in (a, b) if tid in health(s.url)["task_backend"]["running_here"]), None)
            time.sleep(0.05)
        if runner is None:
            raise RuntimeError("the task was not seen running")
        time.sleep(0.5)
        other = b if runner is a else a
        t0 = time.perf_counter()
        os.killpg(runner.proc.pid, signal.SIGKILL)
        runner.proc.wait(10)
        again = None
        while True:
            if again is None and tid in health(other.url)["task_backend"]["running_here"]:
                again = time.perf_counter() - t0
            st = httpx.get(f"{other.url}/api/v1/task-status/{tid}", timeout=5).json()
            if st["status"] in ("completed", "error", "cancelled"):
                if st["status"] != "completed":
                    raise RuntimeError(st)
                return again if again is not None else float("nan"), time.perf_counter() - t0
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("no recovery within 300 s")
            time.sleep(0.05)
    finally:
        for s in (a, b):
            s.stop()


def _until(what: str, check, timeout: float = 60.0, period: float = 0.02):
    deadline = time.perf_counter() + timeout
    while True:
        try:
            got = check()
        except (httpx.HTTPError, ValueError, KeyError):
            got = None
        if got:
            return got
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(period)


def _completed(base: str, tid: str) -> bool:
    r = httpx.get(f"{base}/api/v1/task-status/{tid}", timeout=5)
    if r.status_code == 200 and r.json()["status"] in ("error", "cancelled"):
        raise RuntimeError(r.json())
    return r.status_code == 200 and r.json()["status"] == "completed"


def _submit(base: str, body: dict, **extra) -> str:
    """Submit until accepted (503 while the store comes back); the task id."""
    tid = uuid.uuid4().hex
    _until("submit", lambda: httpx.post(f"{base}/api/v1/inpaint-regions-async", json={**body, "task_id": tid, **extra},
                                        timeout=10).status_code == 200, timeout=60, period=0.05)
    return tid


def _pong(port: int) -> bool:
    import redis as redis_py

    try:
        return bool(redis_py.Redis(port=port, socket_timeout=0.2).ping())
    except redis_py.RedisError:
        return False


def resilience(claim_idle: float, body: dict) -> list[list]:
    """Section 4: Redis restarted (with and without its data), a Sentinel failover, a crash before
    a callback is delivered."""
    from tests.support import Receiver, RedisServer, Sentinels

    rows: list[list] = []
    work = Path(tempfile.mkdtemp(prefix="bench-resilience-"))
    replica_env = {"TASK_BACKEND": "redis", "QUEUE_CLAIM_IDLE": str(claim_idle), "REDIS_TIMEOUT": "1"}
    for persistent in (True, False):
        server = RedisServer(work, persistent=persistent)
        server.start()
        group = start_all([(f"restart-{i}", {**replica_env, "REDIS_URL": server.url, "REPLICA_NAME": f"rs-{i}"})
                           for i in (1, 2)])
        try:
            before = _submit(group[0].url, body)
            _until("before", lambda: _completed(group[1].url, before))
            pending = _submit(group[0].url, body) if persistent else None
            server.stop()
            server.start()
            answered = time.perf_counter()
            tid = _submit(group[1].url, body)
            _until("new task", lambda: _completed(group[0].url, tid))
            resumed = time.perf_counter() - answered
            if pending is not None:
                _until("task accepted before", lambda: _completed(group[1].url, pending))
            old = httpx.get(f"{group[0].url}/api/v1/task-status/{before}", timeout=5).status_code
            rows.append([f"Redis restarted {'with its data (AOF)' if persistent else 'empty'}", round(resumed, 2),
                         "Redis answering -> a new task completed; the old task's status: "
                         f"{old}" + ("; the task accepted before the restart: completed" if pending else ""),
                         "<= 5 s"])
        finally:
            for s in group:
                s.stop()
            server.stop()
    sentinels = Sentinels(work / "sentinel")
    group = start_all([(f"failover-{i}", {**replica_env, "REDIS_URL": "redis://localhost/0",
                                          "REDIS_SENTINELS": sentinels.addresses, "REPLICA_NAME": f"fo-{i}"})
                       for i in (1, 2)])
    try:
        tid = _submit(group[0].url, body)
        _until("before", lambda: _completed(group[1].url, tid))
        sentinels.replicated()
        old = sentinels.master_port()
        killed = time.perf_counter()
        sentinels.master.kill()
        _until("failover", lambda: sentinels.master_port() != old, timeout=60, period=0.05)
        promoted = time.perf_counter()
        tid = _submit(group[1].url, body)
        _until("new task", lambda: _completed(group[0].url, tid))
        rows.append(["Sentinel failover (master SIGKILLed)", round(time.perf_counter() - promoted, 2),
                     f"new master elected -> a new task completed (elected {promoted - killed:.2f} s after the "
                     "kill: Sentinel's down-after 1 s + election)", "<= 5 s"])
    finally:
        for s in group:
            s.stop()
        sentinels.stop()
    server = RedisServer(work)
    server.start()
    receiver = Receiver(hold=1)
    group = start_all([(f"callback-{i}", {**replica_env, "REDIS_URL": server.url, "REPLICA_NAME": f"cb-{i}"})
                       for i in (1, 2)])
    try:
        big = np.ascontiguousarray(np.tile(load_photo("astronaut"), (2, 2, 1)))
        item = regions_body(big, 4)
        tid = uuid.uuid4().hex
        httpx.post(f"{group[0].url}/api/v1/inpaint-batch-async", json={"items": [item] * 4, "task_id": tid,
                                                                      "callback_url": receiver.url},
                   timeout=60).raise_for_status()
        runner = _until("running", lambda: next((s for s in group if tid in health(s.url)["task_backend"]
                                                 ["running_here"]), None))
        _until("first attempt", lambda: receiver.received, timeout=120)
        killed = time.perf_counter()
        os.killpg(runner.proc.pid, signal.SIGKILL)
        runner.proc.wait(10)
        _until("delivered", lambda: receiver.answered, timeout=60)
        delay = receiver.answered[0][0] - killed
        time.sleep(2)  # room for a duplicate, were there one
        ids = {h["X-IOPaint-Delivery"] for h, _ in receiver.received}
        rows.append(["callback after a crash (finished, not yet delivered)", round(delay, 2),
                     f"SIGKILL -> callback delivered by the other replica; {len(receiver.received)} attempts, "
                     f"{len(ids)} delivery id(s), {len(receiver.answered)} answered",
                     f"<= {claim_idle:g} + retry delay"])
    finally:
        for s in group:
            s.stop()
        receiver.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-runs", type=int, default=40)
    ap.add_argument("--claim-idle", type=float, default=10.0)
    ap.add_argument("--parts", default="throughput,resilience",
                    help="throughput (sections 1-3), resilience (section 4), or both")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    load = ForeignLoad()
    if "throughput" in args.parts:
        throughput_parts(args, load)
    if "resilience" in args.parts:
        body = regions_body(load_photo("astronaut")[::2, ::2][:200, :320].copy(), 1)
        print(f"\n## Redis comes back, callbacks survive crashes (QUEUE_CLAIM_IDLE={args.claim_idle:g} s)\n")
        print(md_table(["case", "s", "from -> to; also", "target"], resilience(args.claim_idle, body)))
        print(f"\nother processes used {load.cores():.2f} cores on average while this ran")


def throughput_parts(args: argparse.Namespace, load: ForeignLoad) -> None:
    redis, redis2 = Redis(), Redis()  # one per Redis setup: their queues and channels stay apart
    photo = load_photo("astronaut")
    work = regions_body(photo, 4)
    small = regions_body(photo[::2, ::2][:200, :320].copy(), 1)
    rows, lat_rows = [], []
    try:
        # every setup up at once, rounds alternating between them: load from elsewhere hits all alike
        setups = {"memory, 1 replica": [("tp-memory", {})],
                  "redis, 1 replica": [("tp-redis1", {"TASK_BACKEND": "redis", "REDIS_URL": redis2.url})],
                  "redis, 2 replicas": [(f"tp-redis2-{i}", {"TASK_BACKEND": "redis", "REDIS_URL": redis.url,
                                                            "REPLICA_NAME": f"t2-{i}"}) for i in (1, 2)]}
        servers = {label: start_all(spec) for label, spec in setups.items()}
        results: dict[str, list[tuple[float, float]]] = {label: [] for label in setups}
        try:
            for _ in range(args.rounds):
                for label, group in servers.items():
                    results[label].append(throughput([s.url for s in group], work, args.tasks, args.concurrency))
        finally:
            for group in servers.values():
                for s in group:
                    s.stop()
        for label, res in results.items():
            tps = statistics.median(r[0] for r in res)
            rows.append([label, args.concurrency, args.tasks, args.rounds, round(tps, 2),
                         round(statistics.median(r[1] for r in res) * 1000, 1)])
        # latency: both backends up at once, tasks alternating, so that load from elsewhere hits both alike
        mem, red = start_all([("latency-memory", {}), ("latency-redis", {"TASK_BACKEND": "redis",
                                                                         "REDIS_URL": redis.url, "REPLICA_NAME": "l"})])
        try:
            runs: dict[str, list[float]] = {"memory": [], "redis": []}
            for _ in range(2):
                one_task(mem.url, small), one_task(red.url, small)
            for _ in range(args.latency_runs):
                runs["memory"].append(one_task(mem.url, small))
                runs["redis"].append(one_task(red.url, small))
        finally:
            mem.stop()
            red.stop()
        for label, r in runs.items():
            lat_rows.append([label, round(statistics.median(r) * 1000, 1), round(sorted(r)[int(0.9 * len(r)) - 1] * 1000, 1)])
        diffs = sorted(b - a for a, b in zip(runs["memory"], runs["redis"]))
        again, done = recovery(redis.url, args.claim_idle)
    finally:
        redis.stop()
        redis2.stop()
    print("\n## Throughput (cv2, 512 px, 4 regions; async tasks followed on the WebSocket)\n")
    print(md_table(["setup", "concurrency", "tasks per round", "rounds", "tasks/s (median)",
                    "median latency ms"], rows))
    print(f"\nTwo replicas vs one (redis): {rows[2][4] / rows[1][4]:.2f}x throughput "
          f"on {os.cpu_count()} cores shared by every process")
    print("\n## Latency Redis adds (one task at a time, 320x200, one region, submit -> task_completed)\n")
    print(md_table(["backend", "median ms", "p90 ms"], lat_rows))
    print(f"\nRedis adds {lat_rows[1][1] - lat_rows[0][1]:.1f} ms (difference of medians; median of paired "
          f"differences {statistics.median(diffs) * 1000:.1f} ms; target <= 20 ms)")
    print(f"\n## Recovery (QUEUE_CLAIM_IDLE={args.claim_idle:g} s; SIGKILL of the replica running a batch)\n")
    print(md_table(["running again after s", "completed after s", "target"], [[round(again, 2), round(done, 2),
                                                                              "running again <= 30 s"]]))
    print(f"\nother processes used {load.cores():.2f} cores on average while this ran")


if __name__ == "__main__":
    main()
