"""replace-text through the Python client (clients/python: `iopaint_client`) and its CLI, against
the real service started as a subprocess (`python -m app serve`, cv2 model) on a free port, as in
tests/test_client_python.py: the image answer's per-line headers, the typed JSON answer, the
fonts, a 422 with its code and `loc`, and `iopaint-client replace`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CLIENT_DIR = REPO / "clients" / "python"
try:
    import iopaint_client  # noqa: F401  (installed with pip install -e clients/python)
except ImportError:
    sys.path.insert(0, str(CLIENT_DIR))

from iopaint_client import (AsyncClient, Client, FontList, Line, ReplaceResult, ReplaceStats, ServiceError,  # noqa: E402
                            Style, WrittenLine, box)
from iopaint_client import _api  # noqa: E402

from bench.style_lines import Look, styled_line  # noqa: E402
from tests.support import png_bytes  # noqa: E402

W, H = 420, 200
BG = (235, 235, 230)
RED, DARK, BLUE = (200, 30, 30), (30, 30, 30), (30, 60, 200)


# --- the service ---------------------------------------------------------------------------


# `service`: the service subprocess the client tests share (tests/conftest.py)


@pytest.fixture()
def client(service):
    with Client(service) as c:
        yield c


# --- the image: three lines of known look (bench/style_lines.py) ----------------------------


def scene() -> tuple[Image.Image, list[tuple[tuple[float, float], ...]]]:
    """"SALE" (red, 32 px), "OPEN" (dark, 28 px) and "BYE" (blue, 24 px) on a flat background, and
    each line's region (4 points)."""
    arr = np.full((H, W, 3), BG, np.uint8)
    arr, sale = styled_line(arr, Look("SALE", size=32, color=RED), at=(0, -10))
    arr, open_ = styled_line(arr, Look("OPEN", size=28, color=DARK), at=(0, 50))
    arr, bye = styled_line(arr, Look("BYE", size=24, color=BLUE), at=(220, 110))
    return Image.fromarray(arr), [sale, open_, bye]


def png(img: Image.Image) -> bytes:
    return png_bytes(np.asarray(img))


def lines_of(regions) -> list[Line]:
    """SALE -> NEW (shorter: its own size), OPEN -> a long text (shrunk to fit), BYE -> nothing."""
    sale, open_, bye = regions
    return [Line(sale, "NEW"), Line(open_, "OPEN ALL NIGHT LONG"), Line(bye, "")]


def bbox(points) -> tuple[int, int, int, int]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1


def near(data: bytes, points, rgb: tuple[int, int, int], tol: int = 60) -> int:
    """Pixels within `tol` (per channel) of `rgb` inside the points' box."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    x0, y0, x1, y1 = bbox(points)
    crop = arr[y0:y1, x0:x1]
    return int((np.abs(crop - np.asarray(rgb)).max(axis=2) <= tol).sum())


def _near_colour(colour: str | None, rgb: tuple[int, int, int], tol: int = 24) -> bool:
    return colour is not None and max(abs(int(colour[1 + 2 * i:3 + 2 * i], 16) - rgb[i]) for i in range(3)) <= tol


# --- no service: the requests built and the headers read (sans-I/O, _api) -------------------


def test_lines_are_normalised_and_sent_as_the_api_takes_them():
    pts = ((1, 2), (50, 2), (50, 20), (1, 20))
    got = _api.lines_field([Line(pts, "a", style={"text_color": "#ff0000", "outline": None}, align="center"),
                            {"region": (5, 6, 7, 8), "text": "b", "align": "end"},
                            (box(1, 1, 10, 10), "")])
    assert got == [
        {"region": {"points": [[1.0, 2.0], [50.0, 2.0], [50.0, 20.0], [1.0, 20.0]]}, "text": "a",
         "style": {"text_color": "#ff0000", "outline": None}, "align": "center"},
        {"region": {"x": 5, "y": 6, "width": 7, "height": 8}, "text": "b", "align": "end"},
        {"region": {"x": 1, "y": 1, "width": 10, "height": 10}, "text": ""},
    ]
    assert _api.lines_field({"lines": [{"region": box(0, 0, 5, 5), "text": "x"}]}) == [
        {"region": {"x": 0, "y": 0, "width": 5, "height": 5}, "text": "x"}]
    with pytest.raises(ValueError):
        _api.lines_field([{"region": box(0, 0, 5, 5)}])  # no text
    with pytest.raises(TypeError):
        _api.lines_field([Line(box(0, 0, 5, 5), 42)])  # type: ignore[arg-type]
    # multipart: the image a file, `lines` a JSON text part
    call = _api.replace_text(b"\x89PNG...", [Line(box(0, 0, 5, 5), "x")], {"padding": 2, "verify": False})
    kw = call.request_kwargs("multipart")
    assert call.path == "/api/v1/replace-text" and set(kw["files"]) == {"image"}
    assert json.loads(kw["data"]["lines"]) == [{"region": {"x": 0, "y": 0, "width": 5, "height": 5}, "text": "x"}]
    assert kw["data"]["padding"] == "2" and kw["data"]["verify"] == "false"
    assert set(call.request_kwargs("json")["json"]) == {"image", "lines", "padding", "verify"}


def test_replace_headers_are_parsed_per_line():
    r = ReplaceResult.from_response(b"png", {"content-type": "image/png", "x-lines-written": "2",
                                             "x-font-sizes": "30.1,-,12", "x-text-shrunk": "false,false,true",
                                             "x-regions-checked": "3", "x-regions-repaired": "0",
                                             "x-residual-text": "0.000", "x-regions-count": "3"})
    assert (r.lines_written, r.font_sizes, r.shrunk) == (2, [30.1, None, 12.0], [False, False, True])
    assert (r.regions_checked, r.regions_repaired, r.residual_text, r.regions_count) == (3, 0, 0.0, 3)
    assert "lines_written=2" in repr(r) and repr(r).startswith("ReplaceResult(")
    bare = ReplaceResult.from_response(b"png", {"content-type": "image/png"})
    assert (bare.lines_written, bare.font_sizes, bare.shrunk, bare.residual_text) == (None, [], [], None)


# --- the sync client -----------------------------------------------------------------------


def test_replace_text_writes_each_line_and_reads_the_headers(service):
    img, regions = scene()
    sent: list[str] = []
    hooks = {"request": [lambda request: sent.append(request.headers.get("content-type", ""))]}
    with Client(service, event_hooks=hooks) as c:
        r = c.replace_text(png(img), lines_of(regions))
    assert sent[0].startswith("multipart/form-data")
    assert isinstance(r, ReplaceResult) and r.media_type == "image/png" and r.image[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.lines_written == 2 and r.regions_count == 3
    assert len(r.font_sizes) == 3 and r.font_sizes[2] is None
    assert r.shrunk == [False, True, False]
    assert abs(r.font_sizes[0] - 32) <= 0.15 * 32  # the old text's size, measured
    assert r.font_sizes[1] < 28  # made smaller to fit OPEN's box
    assert r.regions_checked == 3 and r.residual_text is not None and 0 <= r.residual_text <= 1
    assert r.headers["x-font-sizes"].split(",")[2] == "-"
    sale, _, bye = regions
    assert near(r.image, sale, RED) > 40  # NEW, in SALE's red
    assert near(png(img), bye, BLUE) > 40 and near(r.image, bye, BLUE) == 0  # BYE removed, nothing written
    # the same request as base64 JSON: the same pixels
    sent.clear()
    with Client(service, transport="json", event_hooks=hooks) as c:
        j = c.replace_text(png(img), lines_of(regions))
    assert sent[0].startswith("application/json")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(j.image))), np.asarray(Image.open(io.BytesIO(r.image))))


def test_replace_text_json_is_typed(client):
    img, regions = scene()
    lines = lines_of(regions)
    lines[0] = Line(regions[0], "NEW", style={"text_color": "#0000ff", "outline": None}, align="center")
    s = client.replace_text_json(img, lines, padding=2, verify=False)
    assert isinstance(s, ReplaceStats) and s.success and "rewrote 2 line(s) of 3" in s.message
    assert len(s.lines) == 3 and all(isinstance(ln, WrittenLine) for ln in s.lines)
    new, long, gone = s.lines
    assert new.written and new.font and new.font.startswith("DejaVu Sans") and not new.shrunk
    assert isinstance(new.style, Style) and new.style.text_color == "#0000ff"  # given, in place of the measure
    assert new.font_size is not None and new.wanted_size is not None and abs(new.wanted_size - 32) <= 0.15 * 32
    assert long.shrunk and long.font_size is not None and long.wanted_size is not None
    assert long.font_size < long.wanted_size
    assert long.style is not None and _near_colour(long.style.text_color, DARK)  # measured on OPEN
    assert not gone.written and gone.font_size is None and not gone.shrunk
    st = s.processing_stats
    assert st.regions_processed == 3 and (st.image_dimensions.width, st.image_dimensions.height) == (W, H)
    assert st.verification is None  # verify=False
    assert client.replace_text_json(img, lines).processing_stats.verification is not None


def test_fonts(client):
    found = client.fonts()
    assert isinstance(found, FontList) and len(found) >= 1
    assert "DejaVu Sans" in found.families
    assert all(f.name and f.family and f.kind for f in found.fonts)
    assert any(f.family == "DejaVu Sans" and f.bold for f in found.fonts)


def test_detected_lines_and_their_style_go_straight_into_replace(client):
    """describe=True exposes each line's look (Detection.style); a Detection is a line's region."""
    img, regions = scene()
    found = client.detect_text(img, describe=True)
    assert len(found.regions) == 3
    for d in found.regions:
        assert isinstance(d.style, Style) and d.style.font_size is not None and d.style.text_color is not None
    red = [d for d in found.regions if _near_colour(d.style.text_color, RED, 40)]  # type: ignore[union-attr]
    assert len(red) == 1
    r = client.replace_text(img, [Line(red[0], "HI", style={"bold": True})])
    assert r.lines_written == 1 and r.shrunk == [False]
    assert near(r.image, regions[0], RED) > 40


def test_a_refused_line_is_a_service_error_with_its_code_and_loc(client):
    img, regions = scene()
    sale, open_, _ = regions
    cases = [
        ([Line(sale, "NEW", style={"font": "no-such-font"})], "unknown_font", ["lines", 0, "style", "font"]),
        ([Line(sale, "NEW"), Line(open_, "\u0e01\u0e02")], "unrenderable_text", ["lines", 1, "text"]),
        ([Line(box(W + 50, H + 50, 20, 20), "X")], "region_outside_image", ["lines", 0, "region"]),
        ([Line(sale, "NEW", style={"text_color": "red"})], "invalid_input", ["lines", 0, "style", "text_color"]),
    ]
    for lines, code, loc in cases:
        with pytest.raises(ServiceError) as e:
            client.replace_text(img, lines)
        assert e.value.status == 422 and e.value.code == code, e.value
        assert e.value.loc == loc and e.value.errors[0]["loc"] == loc
        assert e.value.detail
    with pytest.raises(ServiceError) as e:
        client.replace_text_json(img, [Line(sale, "NEW", style={"font": "no-such-font"})])
    assert e.value.code == "unknown_font" and e.value.loc == ["lines", 0, "style", "font"]


# --- the async client ----------------------------------------------------------------------


def test_async_client_replace(service):
    img, regions = scene()

    async def go():
        async with AsyncClient(service) as c:
            r = await c.replace_text(png(img), lines_of(regions), output_format="jpeg", quality=85)
            s = await c.replace_text_json(img, lines_of(regions))
            f = await c.fonts()
            try:
                await c.replace_text(img, [Line(regions[0], "X", style={"font": "nope"})])
            except ServiceError as e:
                err = e
            return r, s, f, err

    r, s, f, err = asyncio.run(go())
    assert r.media_type == "image/jpeg" and r.image[:2] == b"\xff\xd8"
    assert r.lines_written == 2 and r.shrunk == [False, True, False] and r.font_sizes[2] is None
    assert [ln.font_size for ln in s.lines] == r.font_sizes
    assert [ln.shrunk for ln in s.lines] == r.shrunk
    assert "DejaVu Sans" in f.families
    assert err.status == 422 and err.code == "unknown_font" and err.loc == ["lines", 0, "style", "font"]


# --- the CLI -------------------------------------------------------------------------------


def cli(*args: str, url: str | None = None, cwd: Path | None = None, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if k not in ("IOPAINT_API_KEY",)}
    env["PYTHONPATH"] = os.pathsep.join([str(CLIENT_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if url:
        env["IOPAINT_URL"] = url
    return subprocess.run([sys.executable, "-m", "iopaint_client", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=timeout)


def _json_lines(regions) -> list[dict]:
    sale, open_, bye = regions
    return [{"region": {"points": [list(p) for p in sale]}, "text": "NEW"},
            {"region": {"points": [list(p) for p in open_]}, "text": "OPEN ALL NIGHT LONG", "align": "start"},
            {"region": {"points": [list(p) for p in bye]}, "text": ""}]


def test_cli_replace_writes_the_image_and_reports_each_line(service, tmp_path):
    img, regions = scene()
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(png(img))
    lines = tmp_path / "lines.json"
    lines.write_text(json.dumps(_json_lines(regions)))
    r = cli("replace", str(src), "--lines", str(lines), "-o", str(out), url=service)
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (W, H)
    assert near(out.read_bytes(), regions[0], RED) > 40 and near(out.read_bytes(), regions[2], BLUE) == 0
    report = r.stdout.strip().splitlines()
    assert len(report) == 3, r.stdout
    assert report[0].startswith("line 1: ") and report[0].endswith(" px")
    assert report[1].startswith("line 2: ") and report[1].endswith("shrunk to fit")
    assert report[2] == "line 3: no text (old text removed)"
    assert "wrote" in r.stderr and "2 of 3 line(s) written" in r.stderr
    # {"lines": [...]} in the file, the format from the extension, the options after the command
    (tmp_path / "req.json").write_text(json.dumps({"lines": _json_lines(regions)[:1]}))
    jpg = tmp_path / "out.jpg"
    r = cli("replace", str(src), "--lines", f"@{tmp_path / 'req.json'}", "-o", str(jpg), "--padding", "2",
            "--no-verify", "-q", "--url", service)
    assert r.returncode == 0, r.stderr
    assert jpg.read_bytes()[:2] == b"\xff\xd8" and r.stdout == "" and r.stderr == ""
    # --json: what was written, as JSON
    r = cli("replace", str(src), "--lines", str(lines), "--json", "--transport", "json", url=service)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["success"] is True and [ln["shrunk"] for ln in body["lines"]] == [False, True, False]
    assert body["lines"][0]["style"]["text_color"].startswith("#")


def test_cli_replace_refusals_and_fonts(service, tmp_path):
    img, regions = scene()
    src = tmp_path / "in.png"
    src.write_bytes(png(img))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**_json_lines(regions)[0], "style": {"font": "no-such-font"}}]))
    r = cli("replace", str(src), "--lines", str(bad), "-o", str(tmp_path / "o.png"), url=service)
    assert r.returncode == 1 and "422" in r.stderr and "unknown_font" in r.stderr
    assert not (tmp_path / "o.png").exists()
    r = cli("replace", str(src), "--lines", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o.png"), url=service)
    assert r.returncode == 2 and "--lines" in r.stderr
    (tmp_path / "empty.json").write_text("[]")
    r = cli("replace", str(src), "--lines", str(tmp_path / "empty.json"), "-o", str(tmp_path / "o.png"), url=service)
    assert r.returncode == 2
    r = cli("replace", str(src), "--lines", str(bad), url=service)  # neither -o nor --json
    assert r.returncode == 2 and "-o" in r.stderr
    r = cli("replace", str(src), "--lines", str(bad), "-o", "x.png", "--json", url=service)
    assert r.returncode == 2
    r = cli("replace", str(tmp_path / "nope.png"), "--lines", str(bad), "-o", "x.png", url=service)
    assert r.returncode == 2
    r = cli("fonts", url=service)
    assert r.returncode == 0 and "DejaVu Sans" in r.stdout
    r = cli("fonts", "--json", url=service)
    assert r.returncode == 0 and any(f["family"] == "DejaVu Sans" for f in json.loads(r.stdout)["fonts"])
