"""Shared by bench/quality.py and bench/speed.py: photos, text rendering, servers.

Nothing here downloads anything: photos are scikit-image's bundled samples (those that need
pooch/network are skipped), fonts are the system's TrueType fonts.
"""

from __future__ import annotations

import glob
import io
import math
import os
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# scikit-image samples shipped in the wheel (no download); gray ones stay gray
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry"]


def load_photo(name: str) -> np.ndarray | None:
    """A bundled scikit-image sample as uint8 (H x W x 3, or H x W for gray); None where the
    sample would need a download."""
    from skimage import data

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = getattr(data, name)()
    except Exception:  # ModuleNotFoundError (pooch) or a failed download: skip it
        return None
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float64) * (255.0 / max(1.0, float(arr.max())))).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def available_photos() -> dict[str, np.ndarray]:
    out = {}
    for n in PHOTOS:
        a = load_photo(n)
        if a is not None:
            out[n] = a
        else:
            print(f"[bench] photo {n!r} needs a download: skipped", file=sys.stderr)
    return out


def find_fonts() -> list[str]:
    """TrueType fonts for the text overlays: DejaVu and Liberation where installed."""
    paths: list[str] = []
    try:
        res = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, timeout=20)
        paths = [p.strip() for p in res.stdout.splitlines() if p.strip()]
    except Exception:
        pass
    if not paths:
        paths = glob.glob("/usr/share/fonts/**/*.ttf", recursive=True)
    keep = sorted({p for p in paths if p.lower().endswith(".ttf") and ("dejavu" in p.lower() or "liberation" in p.lower())
                   and "math" not in p.lower()})
    if not keep:
        raise SystemExit("no DejaVu/Liberation TrueType fonts found (fc-list, /usr/share/fonts)")
    return keep


# ---------------------------------------------------------------- text overlays

WORDS = ("SALE", "50% OFF", "Hello world", "Lorem ipsum dolor", "www.example.com", "Summer 2024",
         "Привет мир", "ΑΒΓ δέλτα", "Call 555-0199", "© Studio", "FREE SHIPPING", "new arrivals",
         "Watermark", "No. 42", "Été à Paris", "Best price!", "scan me", "limited edition")


@dataclass
class TextLine:
    text: str
    font: str
    size: int
    fill: tuple[int, int, int]
    stroke: int
    stroke_fill: tuple[int, int, int]
    angle: float
    points: tuple[tuple[float, float], ...]  # the region an OCR detector would return (tight + slack)
    is_box: bool
    tight: tuple  # axis-aligned text: (x0, y0, x1, y1) pixel edges; rotated: cv2 rect ((cx, cy), (w, h), a)

    def region_points(self, grow: tuple[float, float, float, float]) -> tuple[tuple[float, float], ...]:
        """The tight geometry grown by (left, top, right, bottom) px (negative: clipped into the text)."""
        l, t, r, b = grow
        if self.is_box:
            x0, y0, x1, y1 = self.tight
            x0, y0, x1, y1 = x0 - l, y0 - t, x1 + r, y1 + b
            return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
        (cx, cy), (w, h), a = self.tight
        th = math.radians(a)
        ux, uy, vx, vy = math.cos(th), math.sin(th), -math.sin(th), math.cos(th)
        # shift the centre by half the difference of opposite sides, along the rect's axes
        dx, dy = (r - l) / 2, (b - t) / 2
        c = (cx + dx * ux + dy * vx, cy + dx * uy + dy * vy)
        return _quad_from_rect((c, (w + l + r, h + t + b), a), 0)


def _quad_from_rect(rect, slack: float) -> tuple[tuple[float, float], ...]:
    (cx, cy), (w, h), a = rect
    pts = cv2.boxPoints(((cx, cy), (w + 2 * slack, h + 2 * slack), a))
    return tuple((float(x), float(y)) for x, y in pts)


def render_text(clean: np.ndarray, rng: np.random.Generator, fonts: list[str], n_lines: int, *,
                slack: int = 2, rotate_share: float = 0.35) -> tuple[np.ndarray, list[TextLine]]:
    """Render `n_lines` non-overlapping lines of text onto a copy of `clean` (RGB or gray).
    Each line's region is its tight box (or, for rotated text, its tight rotated quad) grown by
    `slack` px: what an OCR detector returns. Deterministic for a given rng state."""
    gray = clean.ndim == 2
    base = np.repeat(clean[:, :, None], 3, axis=2) if gray else clean
    h, w = base.shape[:2]
    canvas = Image.fromarray(base).convert("RGBA")
    taken = np.zeros((h, w), bool)
    lines: list[TextLine] = []
    palette = [(255, 255, 255), (0, 0, 0), (255, 220, 0), (220, 20, 20), (30, 90, 255), (0, 200, 80)]
    for _ in range(n_lines):
        for _attempt in range(60):
            text = str(rng.choice(WORDS))
            font_path = str(rng.choice(fonts))
            size = int(rng.choice([12, 16, 20, 26, 34, 44]))
            fill = palette[int(rng.integers(len(palette)))] if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(0, 256, 3))
            stroke = int(rng.choice([0, 0, 1, 2, 3]))
            lum = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
            stroke_fill = (0, 0, 0) if lum > 128 else (255, 255, 255)
            angle = float(rng.uniform(-30, 30)) if rng.random() < rotate_share else 0.0
            font = ImageFont.truetype(font_path, size)
            l, t, r, b = font.getbbox(text, stroke_width=stroke)
            tw, th = r - l + 4, b - t + 4
            if tw >= w - 16 or th >= h - 16:
                continue
            layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
            ImageDraw.Draw(layer).text((2 - l, 2 - t), text, font=font, fill=fill + (255,), stroke_width=stroke,
                                       stroke_fill=stroke_fill + (255,))
            if angle:
                layer = layer.rotate(angle, resample=Image.BICUBIC, expand=True)
            lw, lh = layer.size
            if lw >= w - 16 or lh >= h - 16:
                continue
            x = int(rng.integers(6, w - lw - 6))
            y = int(rng.integers(6, h - lh - 6))
            alpha = np.asarray(layer)[:, :, 3] > 0
            ys, xs = np.nonzero(alpha)
            if len(xs) == 0:
                continue
            x0, y0, x1, y1 = x + xs.min() - slack, y + ys.min() - slack, x + xs.max() + 1 + slack, y + ys.max() + 1 + slack
            if taken[max(0, y0 - 6):y1 + 6, max(0, x0 - 6):x1 + 6].any():
                continue
            taken[y0:y1, x0:x1] = True
            canvas.alpha_composite(layer, (x, y))
            if angle:
                pts = np.stack([xs + x, ys + y], axis=1).astype(np.float32)
                # the rect around pixel centres, + 0.5 px to reach the pixels' outer edges
                (cx, cy), (rw, rh), a = cv2.minAreaRect(pts)
                rect = ((float(cx) + 0.5, float(cy) + 0.5), (float(rw) + 1, float(rh) + 1), float(a))
                quad = _quad_from_rect(rect, slack)
                lines.append(TextLine(text, font_path, size, fill, stroke, stroke_fill, angle, quad, False, rect))
            else:
                box = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
                tight = (x0 + slack, y0 + slack, x1 - slack, y1 - slack)
                lines.append(TextLine(text, font_path, size, fill, stroke, stroke_fill, 0.0,
                                      tuple((float(a), float(b)) for a, b in box), True, tuple(map(float, tight))))
            break
    out = np.asarray(canvas.convert("RGB"))
    if gray:
        out = np.asarray(Image.fromarray(out).convert("L"))
    return np.ascontiguousarray(out), lines


def encode(arr: np.ndarray, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if fmt == "PNG":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, fmt, quality=quality)
    return buf.getvalue()


def decode_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def as_rgb(arr: np.ndarray) -> np.ndarray:
    return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr


# ---------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess on 127.0.0.1; its log goes to bench/out/<name>.log."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, ready_path: str,
                 ready_check=None):
        self.name, self.cmd, self.port, self.ready_path = name, cmd, port, ready_path
        self.ready_check = ready_check or (lambda r: r.status_code == 200)
        OUT.mkdir(parents=True, exist_ok=True)
        self.log_path = OUT / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout: float = 180.0) -> float:
        import httpx

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-3000:])
            try:
                r = httpx.get(self.url + self.ready_path, timeout=2.0)
                if self.ready_check(r):
                    return time.perf_counter() - t0
            except Exception:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # only the process this object started
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def md_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "n/a"
            return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def env_without(*names: str) -> dict[str, str]:
    env = dict(os.environ)
    for n in names:
        env.pop(n, None)
    return env


class ForeignLoad:
    """How much CPU other processes used while a benchmark ran (this process and its waited-for
    children excluded), in cores on average: other sessions on a shared machine skew timings."""

    def __init__(self):
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        import resource

        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def cores(self) -> float:
        """Average cores busy with other processes since construction (call after children exit)."""
        wall = time.perf_counter() - self.t0
        try:
            return max(0.0, (self._busy() - self.busy0) - (self._own() - self.own0)) / wall
        except OSError:
            return float("nan")
