"""Helpers of the tests (no test module imports another): apps built from real settings, real
IOPaint model loading (cv2 offline, and IOPaint's LaMa code over a tiny TorchScript stand-in),
images made on the spot, a live service, a real redis-server, a callback receiver.

tests/conftest.py sets the environment (an empty weights cache, no hub access) before this
module, or anything else, imports torch or IOPaint."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from app.main import build_services, create_app
from app.settings import Settings

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # Debian fonts-noto-cjk
FINALS = ("task_completed", "task_failed", "task_cancelled")
STAGES = ["preparing", "masking", "inpainting", "finalizing"]


def lama_path() -> Path:
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "big-lama.pt"


def write_lama_standin(path: Path | None = None) -> Path:
    """A tiny TorchScript module with LaMa's interface: model(image, mask) -> image, 1x3xHxW in 0..1.
    It fills the masked pixels with the mean colour of the unmasked ones."""
    import torch

    class StandIn(torch.nn.Module):
        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            keep = 1.0 - mask
            mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
            return image * keep + mean * mask

    path = path or lama_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(StandIn()).save(str(path))
    return path


class SlowModel:
    """A stand-in model that holds each call until released (or for `delay` seconds); counts calls."""

    name, device = "slow", "cpu"

    def __init__(self, delay: float | None = None):
        import threading

        self.release, self.started, self.calls, self.delay = threading.Event(), threading.Event(), 0, delay

    def __call__(self, rgb, mask, params):
        import time

        self.calls += 1
        self.started.set()
        if self.delay is not None:
            time.sleep(self.delay)
        else:
            self.release.wait(30)
        return np.full_like(rgb, 200)


def store_limits() -> dict:
    """A task store's retention and caps as Settings' defaults give them (the one place they live)."""
    s = Settings()
    return {"retention": s.task_retention, "max_result_bytes": s.task_result_max_bytes,
            "max_records": s.task_max_records}


def services_with_model(model, **settings):
    """The app's services, with `model` installed as the loaded model (no IOPaint loading)."""
    from app.engine.models import ModelStatus

    s = Settings(**{"model": "cv2", **settings})
    services = build_services(s)
    services.models.use(model, ModelStatus(requested=model.name, device="cpu", state="ready", active=model.name))
    return services


@contextmanager
def running_app(services=None, **settings):
    """The real app with its lifespan (model loading included), ready to serve."""
    settings.setdefault("model", "cv2")
    s = Settings(**settings)
    app = create_app(s, services or build_services(s))
    with TestClient(app, raise_server_exceptions=False) as client:
        holder = app.state.services.models
        assert holder.ready.wait(120), "model did not load"
        # a model installed beforehand (services_with_model) is ready at once; the detector still
        # loads in the background
        deadline = time.monotonic() + 120
        while app.state.services.settings.text_detection and holder.detector is None:
            assert time.monotonic() < deadline, "the text detector did not load"
            time.sleep(0.05)
        yield client


def png_bytes(arr: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **save)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def text_image(w: int = 320, h: int = 200, bg=(200, 180, 160), fg=(10, 10, 10)) -> np.ndarray:
    """A flat background with a dark bar of 'text' at (40, 80)-(200, 120)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    img[85:115, 45:195] = fg
    return img


def photo(size: int | None = None, name: str = "astronaut") -> np.ndarray:
    """A real photograph (scikit-image's bundled samples: astronaut, chelsea, coffee), optionally resized."""
    from skimage import data

    img = getattr(data, name)()
    if size:
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS))
    return np.ascontiguousarray(img)


REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(tmp: Path, command: list[str] | None = None, **env_extra: str):
    """The real service as a subprocess (`python -m app serve`, or `command` with "{port}" filled in;
    cv2) on a free loopback port, once healthy. Returns (process, base URL, log file); stop it with
    stop_service."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("IOPAINT_API_KEY", "IOPAINT_URL")}
    env.update({
        "IOPAINT_MODEL": "cv2", "IOPAINT_HOST": "127.0.0.1", "IOPAINT_PORT": str(port),
        "TORCH_HOME": str(tmp / "torch"), "XDG_CACHE_HOME": str(tmp / "cache"), "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **env_extra,
    })
    log = open(tmp / f"service-{port}.log", "wb")
    argv = [a.replace("{port}", str(port)) for a in command or [sys.executable, "-m", "app", "serve"]]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"the service exited with {proc.returncode}:\n{(tmp / log.name).read_text()[-3000:]}")
        try:
            r = httpx.get(f"{url}/api/v1/health", timeout=2)
            if r.status_code == 200 and r.json().get("status") == "healthy":
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the service did not become healthy within 180 s")
        time.sleep(0.3)
    return proc, url, log


def stop_service(proc, log) -> None:
    import subprocess

    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


def render(img: np.ndarray, lines: list[tuple[str, tuple[int, int], int]], fill=(250, 250, 250)):
    """Draw text lines onto a copy of img; returns (image, glyph mask)."""
    pil = Image.fromarray(img.copy())
    glyphs = Image.new("L", pil.size, 0)
    for text, xy, size in lines:
        font = ImageFont.truetype(CJK_FONT, size, index=2)
        ImageDraw.Draw(pil).text(xy, text, font=font, fill=fill, stroke_width=2, stroke_fill=(0, 0, 0))
        ImageDraw.Draw(glyphs).text(xy, text, font=font, fill=255, stroke_width=2, stroke_fill=255)
    return np.asarray(pil), np.asarray(glyphs) > 0


def wait_for_pong(port: int, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start on port {port}")


class RedisServer:
    """A real redis-server (Debian's package): its own process on a free loopback port, no
    persistence unless asked for. It can be stopped and started again on the same port, as an
    outage looks to the service; `extra` arguments make it, say, a replica of another."""

    def __init__(self, workdir: Path, persistent: bool = False, extra: list[str] | None = None):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed: run `bash scripts/system-packages.sh` (Debian's redis-server)")
        self.port = free_port()
        self.workdir = workdir / f"redis-{self.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.exe, self.persistent, self.extra = exe, persistent, extra or []
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--save", "", "--protected-mode", "no", "--loglevel", "warning", "--daemonize", "no"]
        # persistent: an append-only file, so a restart keeps the tasks (as a production Redis would)
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args + self.extra, stdout=open(self.workdir / "redis.log", "ab"),
                                     stderr=subprocess.STDOUT)
        wait_for_pong(self.port, "redis-server")

    def kill(self) -> None:
        """SIGKILL: the machine under it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (Redis writes its append-only file and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Sentinels:
    """A master, its replica and three redis-sentinel processes watching them (quorum 2), each on
    a free loopback port: a failover as production runs one, in about two seconds."""

    def __init__(self, workdir: Path, service: str = "mymaster"):
        exe = shutil.which("redis-sentinel")
        if exe is None:
            pytest.fail("redis-sentinel is not installed: run `bash scripts/system-packages.sh`")
        self.service = service
        import redis

        self.master = RedisServer(workdir, extra=["--repl-diskless-sync-delay", "0"])
        self.master.start()
        self.replica = RedisServer(workdir, extra=["--replicaof", "127.0.0.1", str(self.master.port)])
        self.replica.start()
        deadline = time.monotonic() + 20
        while redis.Redis(port=self.replica.port).info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
        self.ports = [free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen] = []
        for port in self.ports:
            conf = workdir / f"sentinel-{port}.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {workdir}\n"
                            f"sentinel monitor {service} 127.0.0.1 {self.master.port} 2\n"
                            f"sentinel down-after-milliseconds {service} 1000\n"
                            f"sentinel failover-timeout {service} 5000\n"
                            f"sentinel parallel-syncs {service} 1\n")
            self.procs.append(subprocess.Popen([exe, str(conf)], stdout=open(workdir / f"sentinel-{port}.log", "ab"),
                                               stderr=subprocess.STDOUT))
            wait_for_pong(port, "redis-sentinel")

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def replicated(self) -> None:
        """Wait until the replica has everything the master has (replication is asynchronous:
        what the replica has not got, a failover loses)."""
        import redis

        assert redis.Redis(port=self.master.port).wait(1, 5000) == 1

    def master_port(self) -> int:
        import redis

        host, port = redis.Redis(port=self.ports[0]).sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait(5)
        self.master.kill()
        self.replica.kill()


class Receiver:
    """A local HTTP server that records callbacks; fails the first `fail` attempts with 500, and
    holds the first `hold` ones unanswered until `release` is set (a receiver, or a network, that
    hangs while the sender dies). `answered` keeps (time, delivery id) of each 2xx it sent."""

    def __init__(self, fail=0, hold=0):
        self.calls, self.fail, self.hold = [], fail, hold
        self.received = []  # (headers, raw body) of every attempt
        self.answered: list[tuple[float, str]] = []
        self.release = threading.Event()
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["content-length"]))
                rec.received.append((dict(self.headers), raw))
                body = json.loads(raw)
                rec.calls.append(body)
                if len(rec.calls) <= rec.hold:
                    rec.release.wait(60)
                    return
                code = 500 if len(rec.calls) <= rec.fail else 200
                self.send_response(code)
                self.end_headers()
                if code == 200:
                    rec.answered.append((time.monotonic(), self.headers["X-IOPaint-Delivery"]))

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()

    def wait(self, n, timeout=15):
        deadline = time.time() + timeout
        while len(self.calls) < n and time.time() < deadline:
            time.sleep(0.02)
        return self.calls


def wait_status(client, task_id, want=("completed", "error", "cancelled"), timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = client.get(f"/api/v1/task-status/{task_id}").json()
        if body["status"] in want:
            return body
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} stuck in {body['status']}")


def read_until_final(ws, limit=500):
    msgs = []
    for _ in range(limit):
        m = ws.receive_json()
        msgs.append(m)
        if m["type"] in ("task_completed", "task_failed", "task_cancelled"):
            return msgs
    raise AssertionError("no final message")


def assert_lifecycle(msgs, task_id):
    assert all("timestamp" in m and "type" in m for m in msgs)
    updates = [m for m in msgs if m["type"] == "progress_update"]
    assert updates, msgs
    progress = [m["overall_progress"] for m in updates]
    assert progress == sorted(progress), progress  # never goes down
    assert all(m["progress"] == m["overall_progress"] for m in updates)
    assert all(m["task_id"] == task_id for m in msgs if "task_id" in m and m["type"] != "connection_established")
    seen = [m["stage"] for m in updates if m["stage"]]
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert [s for s in STAGES if s in order] == order, order
    assert msgs[-1]["type"] == "task_completed"
    assert msgs[-1]["result_path"] == f"/api/v1/task-result/{task_id}"
    assert updates[-1]["overall_progress"] == 100 and updates[-1]["status"] == "completed"
    assert max(len(json.dumps(m)) for m in msgs) < 64 * 1024  # no image data in messages


def regions_of(lines) -> list[dict]:
    """bench/hard_cases.py's lines as the API's regions: boxes as {x, y, width, height}, the rest as polygons."""
    out = []
    for ln in lines:
        if ln.region.is_box:
            x0, y0, x1, y1 = ln.region.bounds()
            out.append({"x": float(x0), "y": float(y0), "width": float(x1 - x0), "height": float(y1 - y0)})
        else:
            out.append({"points": [[float(x), float(y)] for x, y in ln.region.points]})
    return out


def callback_urls():
    """A hypothesis strategy of callback URLs the default policy accepts (API.md, Callback), built
    from pieces: http(s) in any case, maybe a user:password@, a host name, an IPv4 address or a
    bracketed IPv6 one outside the refused targets, maybe a port, maybe a path, query or fragment.
    The fuzz test is told `format: uri` looks like this; test_callbacks checks that each is accepted."""
    import ipaddress
    import string

    from hypothesis import strategies as st

    from app.tasks.callbacks import _METADATA_HOSTS, _REFUSED_NETS

    def any_case(word: str):
        return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
            lambda ups: "".join(c.upper() if u else c for c, u in zip(word, ups)))

    def routable(ip) -> bool:
        return not any(ip in net for net in _REFUSED_NETS) and not (ip.version == 6 and int(ip) >> 112 == 0)

    label_chars = string.ascii_letters + string.digits + "-_"
    label = st.text(st.sampled_from(label_chars), min_size=1, max_size=12)
    last_label = st.tuples(st.sampled_from(string.ascii_letters), st.text(st.sampled_from(label_chars), max_size=11))
    name = st.builds(lambda first, last, dot: ".".join([*first, "".join(last)]) + dot,
                     st.lists(label, max_size=3), last_label, st.sampled_from(["", "."])
                     ).filter(lambda n: n.lower().rstrip(".") not in _METADATA_HOSTS)
    ipv4 = st.ip_addresses(v=4).filter(routable).map(str)
    ipv6 = st.tuples(st.ip_addresses(v=6).filter(routable), st.sampled_from(["compressed", "exploded"]),
                     st.booleans()).map(lambda t: getattr(t[0], t[1]).upper() if t[2] else getattr(t[0], t[1]))
    host = st.one_of(name, ipv4, st.one_of(ipv6, st.just(str(ipaddress.IPv6Address(1)))).map("[{}]".format))
    userinfo = st.one_of(st.just(""), st.text(st.sampled_from(
        [c for c in map(chr, range(0x21, 0x7F)) if c not in "@[]\\/?#"]), max_size=8).map("{}@".format))
    port = st.one_of(st.just(""), st.just(":"), st.integers(0, 65535).map(":{}".format))
    rest = st.one_of(st.just(""), st.tuples(st.sampled_from("/?#"), st.text(
        st.characters(min_codepoint=0x21, exclude_characters="\x7f", exclude_categories=["Cs"]), max_size=12)
    ).map("".join))
    return st.builds("{}://{}{}{}{}".format, st.sampled_from(["http", "https"]).flatmap(any_case), userinfo, host,
                     port, rest)
