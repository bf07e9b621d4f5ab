"""The Python client (clients/python: `iopaint_client`) and its CLI against the real service,
started as a subprocess (`python -m app serve`, cv2 model) on a free port."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
CLIENT_DIR = REPO / "clients" / "python"
try:
    import iopaint_client  # noqa: F401  (installed with pip install -e clients/python)
except ImportError:
    sys.path.insert(0, str(CLIENT_DIR))

from iopaint_client import (AsyncClient, BatchItem, Client, DetectResult, InvalidSignature,  # noqa: E402
                            ServiceError, TaskFailed, TransportError, box, polygon, verify_signature)

API_KEY = "client-test-key"
W, H = 240, 160
RECT = (80, 60, 160, 100)  # x0, y0, x1, y1 of the dark block the tests remove


# --- the service ---------------------------------------------------------------------------


from tests.support import free_port as _free_port, start_service as _start_service, stop_service as _stop_service  # noqa: E402,E501


@pytest.fixture(scope="module")
def tmp_module():
    with tempfile.TemporaryDirectory(prefix="client-test-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def keyed_service(tmp_module):
    """A second service that requires IOPAINT_API_KEY."""
    proc, url, log = _start_service(tmp_module, IOPAINT_API_KEY=API_KEY)
    yield url
    _stop_service(proc, log)


@pytest.fixture()
def client(service):
    with Client(service) as c:
        yield c


# --- images --------------------------------------------------------------------------------


def scene() -> Image.Image:
    """A smooth gradient with a dark block at RECT."""
    img = Image.new("RGB", (W, H))
    img.putdata([(60 + x // 2, 90 + y // 2, 150) for y in range(H) for x in range(W)])
    ImageDraw.Draw(img).rectangle((RECT[0], RECT[1], RECT[2] - 1, RECT[3] - 1), fill=(10, 10, 10))
    return img


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def block_mask(pad: int = 3) -> Image.Image:
    m = Image.new("L", (W, H), 0)
    ImageDraw.Draw(m).rectangle((RECT[0] - pad, RECT[1] - pad, RECT[2] + pad, RECT[3] + pad), fill=255)
    return m


def block_region(pad: int = 3):
    return box(RECT[0] - pad, RECT[1] - pad, RECT[2] - RECT[0] + 2 * pad, RECT[3] - RECT[1] + 2 * pad)


def mean_in_block(data: bytes) -> float:
    img = Image.open(io.BytesIO(data)).convert("L")
    assert img.size == (W, H)
    crop = img.crop((RECT[0] + 5, RECT[1] + 5, RECT[2] - 5, RECT[3] - 5))
    px = crop.tobytes()
    return sum(px) / len(px)


def assert_block_removed(data: bytes) -> None:
    assert mean_in_block(png(scene())) < 15
    assert mean_in_block(data) > 60, "the dark block is still there"


def text_image() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Black text on white, and the box it was drawn in."""
    img = Image.new("RGB", (480, 200), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=44)
    draw.text((40, 70), "HELLO TEXT 42", fill="black", font=font)
    bbox = draw.textbbox((40, 70), "HELLO TEXT 42", font=font)
    return img, bbox


def dark_pixels(data: bytes, bbox) -> int:
    img = Image.open(io.BytesIO(data)).convert("L").crop(bbox)
    return sum(1 for p in img.tobytes() if p < 100)


# --- service information -------------------------------------------------------------------


def test_health_info_model(client):
    h = client.health()
    assert h.healthy and h.status == "healthy" and h.version
    assert h.model == "cv2"
    m = client.model()
    assert m.name == "cv2" and m.device
    info = client.info()
    assert info.supports("inpaint-regions") and info.limits.max_file_size > 0
    assert info.model is not None and info.model.name == "cv2"
    root = client.root()
    assert root.status == "running" and root.health == "/api/v1/health"
    assert client.wait_until_healthy(5).healthy


# --- synchronous inpainting ----------------------------------------------------------------


def test_inpaint_with_mask(client, tmp_path):
    r = client.inpaint(scene(), block_mask())
    assert r.media_type == "image/png" and r.processing_time is not None and r.processing_time >= 0
    assert_block_removed(r.image)
    # the same with paths and bytes as input
    (tmp_path / "in.png").write_bytes(png(scene()))
    (tmp_path / "mask.png").write_bytes(png(block_mask()))
    r2 = client.inpaint(tmp_path / "in.png", png(block_mask()))
    assert_block_removed(r2.image)
    r3 = client.inpaint(str(tmp_path / "in.png"), str(tmp_path / "mask.png"))
    assert r3.to_pil().size == (W, H)


def test_inpaint_regions_headers(client):
    tri = polygon([(10, 10), (40, 10), (25, 40)])
    r = client.inpaint_regions(scene(), [block_region(), tri])
    assert r.regions_count == 2
    assert r.total_area is not None and r.total_area > (RECT[2] - RECT[0]) * (RECT[3] - RECT[1])
    assert r.processing_time is not None and r.processing_time >= 0
    assert datetime.fromisoformat(r.timestamp.replace("Z", "+00:00"))
    assert r.headers["x-regions-count"] == "2"
    assert_block_removed(r.image)
    # other region shapes: (x, y, w, h), nested bounding_box; output format
    nested = {"bounding_box": {"x": 5, "y": 120, "width": 30, "height": 20}, "text": "ignored"}
    j = client.inpaint_regions(png(scene()), [(RECT[0] - 3, RECT[1] - 3, 86, 46), nested],
                               output_format="jpeg", quality=80, padding=2, mask_mode="box")
    assert j.media_type == "image/jpeg" and j.image[:2] == b"\xff\xd8" and j.regions_count == 2
    assert_block_removed(j.image)


def test_inpaint_regions_json_stats(client):
    s = client.inpaint_regions_json(scene(), [block_region()], some_unknown_field="x")
    assert s.success is True
    st = s.processing_stats
    assert st.regions_processed == 1 and st.total_area > 0 and st.processing_time >= 0
    assert (st.image_dimensions.width, st.image_dimensions.height) == (W, H)
    assert st.regions_outside_image == 0 and st.mask_scaled_from is None


def test_what_missed_the_image_and_a_scaled_mask_are_reported(client):
    """A region wholly outside the image removes nothing, and a mask drawn at another size is
    scaled: both answers say so, in their headers and in the JSON stats."""
    away = box(W + 50, H + 50, 10, 10)
    r = client.inpaint_regions(scene(), [block_region(), away])
    assert r.regions_outside_image == 1 and r.regions_count == 1
    assert client.inpaint_regions_json(scene(), [away]).processing_stats.regions_outside_image == 1
    assert client.inpaint_regions(scene(), [block_region()]).regions_outside_image is None
    small = Image.new("L", (W // 4, H // 4), 0)
    ImageDraw.Draw(small).rectangle([RECT[0] // 4 - 1, RECT[1] // 4 - 1, RECT[2] // 4, RECT[3] // 4], fill=255)
    m = client.inpaint(scene(), png(small))
    assert m.mask_scaled_from == f"{W // 4}x{H // 4}"
    assert_block_removed(m.image)


def test_errors_map_to_service_error(client):
    with pytest.raises(ServiceError) as e:
        client.cancel(f"no-such-task-{uuid.uuid4().hex}")
    assert e.value.status == 404 and e.value.code and isinstance(e.value.code, str) and e.value.detail
    with pytest.raises(ServiceError) as e:
        client.task_status("no-such-task")
    assert e.value.status == 404
    with pytest.raises(ServiceError) as e:  # no regions, no mask, no detect
        client.inpaint_regions(scene(), [])
    assert e.value.status == 422 and e.value.code == "no_regions"
    with pytest.raises(ServiceError) as e:  # an invalid field
        client.inpaint_regions(scene(), [block_region()], padding=-5)
    assert e.value.status == 422 and e.value.code == "invalid_input" and "padding" in e.value.detail
    with pytest.raises(ServiceError) as e:  # bytes that are no image
        client.inpaint_regions(b"definitely not an image" * 10, [block_region()])
    assert e.value.status == 400 and e.value.code


def test_unreachable_service_is_transport_error():
    with Client(f"http://127.0.0.1:{_free_port()}", timeout=3) as c:
        with pytest.raises(TransportError):
            c.info()


# --- asynchronous tasks --------------------------------------------------------------------


def test_async_submit_and_progress(service):
    async def run():
        async with AsyncClient(service) as c:
            sub = await c.submit(scene(), [block_region()], progress_interval=0)
            assert sub.status == "pending" and sub.task_id
            assert sub.websocket_url.endswith(f"/api/v1/ws/progress/{sub.task_id}")
            events = [ev async for ev in c.progress(sub.task_id, timeout=60)]
            st = await c.task_status(sub.task_id)
            res = await c.task_result(sub.task_id)
            return sub, events, st, res

    sub, events, st, res = asyncio.run(run())
    assert events and events[-1].type == "task_completed" and events[-1].is_final
    assert all(ev.task_id == sub.task_id for ev in events)
    percents = [ev.percent for ev in events if ev.type == "progress_update"]
    assert percents and percents == sorted(percents), percents
    assert st.status == "completed" and st.overall_progress == 100 and st.finished
    assert res.task_id == sub.task_id
    assert_block_removed(res.image)


def test_async_subscribe_before_submit(service):
    """Progress opened with a caller-chosen id before the task exists sees it from the start."""
    task_id = f"client-{uuid.uuid4().hex[:10]}"

    async def run():
        async with AsyncClient(service) as c:
            async def collect():
                return [ev async for ev in c.progress(task_id, timeout=60, include_control=True)]

            listener = asyncio.create_task(collect())
            await asyncio.sleep(0.5)  # the WebSocket is subscribed by now
            sub = await c.submit(png(scene()), [block_region()], task_id=task_id)
            assert sub.task_id == task_id
            return await listener

    events = asyncio.run(run())
    types = [ev.type for ev in events]
    assert types[0] == "connection_established" and "task_subscribed" in types
    assert types[-1] == "task_completed"
    percents = [ev.percent for ev in events if ev.type == "progress_update"]
    assert percents == sorted(percents) and percents[-1] == 100


def test_async_remove_and_cancel(service):
    async def run():
        async with AsyncClient(service) as c:
            seen = []
            res = await c.remove(scene(), [block_region()], on_progress=seen.append, timeout=60)
            # cancel: a finished task answers 409, a live one "cancelled"; either way the channel ends
            sub = await c.submit(scene(), [block_region()])
            try:
                cancelled = await c.cancel(sub.task_id)
                assert cancelled.status == "cancelled" and cancelled.task_id == sub.task_id
            except ServiceError as e:
                assert e.status == 409
            events = [ev async for ev in c.progress(sub.task_id, timeout=60)]
            return res, seen, events

    res, seen, events = asyncio.run(run())
    assert_block_removed(res.image)
    assert seen[-1].type == "task_completed"
    assert events[-1].type in ("task_cancelled", "task_completed")


def test_sync_remove_wait_and_summary(client):
    seen = []
    res = client.remove(scene(), [block_region()], on_progress=seen.append, timeout=60)
    assert_block_removed(res.image)
    assert seen and seen[-1].type == "task_completed"
    sub = client.submit(scene(), [block_region()], enable_progress=False)
    assert sub.websocket_url is None
    st = client.wait(sub.task_id, timeout=60, poll_interval=0.1)
    assert st.status == "completed"
    polled = list(client.progress(sub.task_id, timeout=30))  # late subscriber: the final state at once
    assert polled[-1].type == "task_completed"
    summary = client.tasks()
    assert summary.completed_tasks >= 2 and summary.total_tasks >= summary.completed_tasks
    assert isinstance(summary.active_task_ids, list)


def test_progress_falls_back_to_polling(service):
    """With the WebSocket unreachable, progress() polls task-status and still ends properly."""
    with Client(service) as c:
        sub = c.submit(scene(), [block_region()])
        c.ws_url = lambda task_id: f"ws://127.0.0.1:{_free_port()}/nothing"  # type: ignore[method-assign]
        events = list(c.progress(sub.task_id, timeout=60, poll_interval=0.1))
    assert events[-1].type == "task_completed"


def test_task_failure_raises(client):
    # an image that decodes as base64 but is no image: refused at submit (400) or failed as a task
    with pytest.raises((ServiceError, TaskFailed)) as e:
        client.remove(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, [block_region()], timeout=30)
    if isinstance(e.value, TaskFailed):
        assert e.value.status == "error" and e.value.error


def test_batch(client):
    items = [
        (scene(), [block_region()]),
        BatchItem(png(scene()), mask=block_mask(), name="masked"),
        {"image": scene(), "regions": [block_region()], "name": "third"},
    ]
    sub = client.submit_batch(items, output_format="png")
    st = client.wait(sub.task_id, timeout=60, poll_interval=0.1)
    assert st.status == "completed" and st.items and len(st.items) == 3
    assert [i.name for i in st.items] == [None, "masked", "third"]
    z = client.task_result(sub.task_id)
    assert z.media_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(z.image)) as zf:
        names = zf.namelist()
        assert len(names) == 3
        for name in names:
            assert_block_removed(zf.read(name))
    one = client.task_result(sub.task_id, 1)
    assert one.media_type == "image/png"
    assert_block_removed(one.image)
    with pytest.raises(ServiceError) as e:
        client.task_result(sub.task_id, 7)
    assert e.value.status == 404


# --- API key -------------------------------------------------------------------------------


def test_api_key(keyed_service):
    with Client(keyed_service, api_key="") as anon:
        assert anon.health().healthy  # health stays open for probes
        with pytest.raises(ServiceError) as e:
            anon.info()
        assert e.value.status == 401 and e.value.code == "unauthorized"
    for auth in ("header", "bearer"):
        with Client(keyed_service, api_key=API_KEY, auth=auth) as c:
            assert c.info().name
            res = c.remove(scene(), [block_region()], timeout=60)  # HTTP and the WebSocket
            assert_block_removed(res.image)

    async def run():
        async with AsyncClient(keyed_service, api_key=API_KEY, ws_key_in_query=True) as c:
            sub = await c.submit(scene(), [block_region()])
            return [ev async for ev in c.progress(sub.task_id, timeout=60, poll_fallback=False)]

    assert asyncio.run(run())[-1].type == "task_completed"
    with Client(keyed_service, api_key="wrong") as bad:
        with pytest.raises(ServiceError) as e:
            bad.tasks()
        assert e.value.status in (401, 403)
        with pytest.raises(ServiceError) as e:  # the WebSocket handshake is refused as well
            list(bad.progress("some-task", timeout=10, poll_fallback=False))
        assert e.value.status in (401, 403)


# --- CLI -----------------------------------------------------------------------------------


def cli(*args: str, url: str | None = None, cwd: Path | None = None, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if k not in ("IOPAINT_API_KEY",)}
    env["PYTHONPATH"] = os.pathsep.join([str(CLIENT_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if url:
        env["IOPAINT_URL"] = url
    return subprocess.run([sys.executable, "-m", "iopaint_client", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=timeout)


def test_cli_health(service):
    r = cli("health", url=service)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("healthy")
    r = cli("health", "--json", "--url", service)
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "healthy"
    r = cli("--url", f"http://127.0.0.1:{_free_port()}", "health", "--timeout", "3")
    assert r.returncode == 1 and r.stderr


def test_cli_remove(service, tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(png(scene()))
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"regions": [block_region()]}))
    out = tmp_path / "out.png"
    r = cli("remove", str(src), "-o", str(out), "--regions", f"@{regions}", "--progress", "--padding", "2",
            "--mask-mode", "box", url=service)
    assert r.returncode == 0, r.stderr
    assert_block_removed(out.read_bytes())
    assert "100%" in r.stderr and "wrote" in r.stderr
    # inline JSON, format from the extension; a mask
    jpg = tmp_path / "out.jpg"
    r = cli("remove", str(src), "-o", str(jpg), "--regions", json.dumps([block_region()]), "--url", service)
    assert r.returncode == 0, r.stderr
    assert jpg.read_bytes()[:2] == b"\xff\xd8"
    (tmp_path / "mask.png").write_bytes(png(block_mask()))
    out2 = tmp_path / "out2.webp"
    r = cli("remove", str(src), "-o", str(out2), "--mask", str(tmp_path / "mask.png"), "--format", "png",
            "-q", url=service)
    assert r.returncode == 0, r.stderr
    assert_block_removed(out2.read_bytes())


def test_cli_exit_codes(service, tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(png(scene()))
    r = cli("remove", str(src), "-o", str(tmp_path / "o.png"), url=service)  # nothing to remove
    assert r.returncode == 2 and "--regions" in r.stderr
    r = cli("remove", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png"), "--detect", url=service)
    assert r.returncode == 2
    r = cli("remove", str(src), "-o", str(tmp_path / "o.png"), "--regions", "[not json", url=service)
    assert r.returncode == 2
    r = cli("frobnicate", url=service)
    assert r.returncode == 2
    r = cli("remove", str(src), "-o", str(tmp_path / "o.png"), "--regions", "[{\"x\": 1}]", url=service)
    assert r.returncode == 1 and "422" in r.stderr  # the service refuses the region
    r = cli("status", "no-such-task", url=service)
    assert r.returncode == 1 and "404" in r.stderr


def test_cli_download_without_app(tmp_path):
    """Where the service package is not importable, `download` says how to run it in the container."""
    r = cli("download", "--model", "lama", cwd=tmp_path)
    assert r.returncode == 1
    assert "docker compose run --rm iopaint download --model lama" in r.stderr


def test_cli_download_shells_out_to_app(tmp_path):
    """Where `app` is importable, `download` runs `python -m app download --model ... --dir ...`."""
    fake = tmp_path / "app"
    (fake / "engine").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("import sys\nprint('FAKE-APP', *sys.argv[1:])\nsys.exit(0)\n")
    r = cli("download", "--model", "lama", "--dir", str(tmp_path / "w"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"FAKE-APP download --model lama --dir {tmp_path / 'w'}" in r.stdout


# --- text detection (POST /api/v1/detect-text, detect: true) --------------------------------


def test_detect_text(client):
    img, bbox = text_image()
    found = client.detect_text(img)
    assert isinstance(found, DetectResult) and len(found.regions) >= 1
    assert (found.image_dimensions.width, found.image_dimensions.height) == img.size
    for d in found.regions:
        assert len(d.points) >= 3 and d.bounding_box.width > 0 and d.bounding_box.height > 0
    # the lines found cover the text that was drawn
    x0 = min(d.bounding_box.x for d in found.regions)
    y0 = min(d.bounding_box.y for d in found.regions)
    x1 = max(d.bounding_box.x + d.bounding_box.width for d in found.regions)
    y1 = max(d.bounding_box.y + d.bounding_box.height for d in found.regions)
    assert x0 <= bbox[0] + 10 and y0 <= bbox[1] + 10 and x1 >= bbox[2] - 10 and y1 >= bbox[3] - 10
    # restricted to an empty corner: nothing
    empty = client.detect_text(img, [box(0, 0, 30, 30)])
    assert len(empty.regions) == 0
    # the detections go straight back as regions, and the text is gone
    before = dark_pixels(png(img), bbox)
    out = client.inpaint_regions(img, found, padding=4)
    assert before > 100 and dark_pixels(out.image, bbox) < before * 0.05


def test_detect_true(client, service, tmp_path):
    img, bbox = text_image()
    stats = client.inpaint_regions_json(img, detect=True)
    assert stats.processing_stats.text_lines_detected and stats.processing_stats.text_lines_detected >= 1
    res = client.inpaint_regions(img, detect=True)
    assert res.text_lines_detected and res.text_lines_detected >= 1
    assert dark_pixels(res.image, bbox) < dark_pixels(png(img), bbox) * 0.05
    done = client.remove(img, detect=True, timeout=60)
    assert dark_pixels(done.image, bbox) < dark_pixels(png(img), bbox) * 0.05
    src = tmp_path / "text.png"
    img.save(src)
    out = tmp_path / "clean.png"
    r = cli("remove", str(src), "-o", str(out), "--detect", url=service)
    assert r.returncode == 0, r.stderr
    assert dark_pixels(out.read_bytes(), bbox) < dark_pixels(png(img), bbox) * 0.05
    r = cli("detect", str(src), url=service)
    assert r.returncode == 0 and len(json.loads(r.stdout)["regions"]) >= 1


# --- reading the text: recognize, remove_text, keep_text (issue 22) ---------------------------


def redact_image() -> Image.Image:
    img = Image.new("RGB", (520, 160), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 24)
    draw = ImageDraw.Draw(img)
    draw.text((20, 20), "jane.roe@example.org", fill="black", font=font)
    draw.text((20, 90), "Team meeting", fill="black", font=font)
    return img


EMAIL_BOX, KEPT_BOX = (20, 20, 300, 50), (20, 90, 200, 120)


def test_recognize_remove_text_and_keep_text(client, service, tmp_path):
    img = redact_image()
    found = client.detect_text(img, recognize=True)
    assert sorted(d.text.strip() for d in found.regions) == ["Team meeting", "jane.roe@example.org"]
    assert all(d.text_score and d.text_score > 0.9 for d in found.regions)
    assert all(d.text is None for d in client.detect_text(img).regions)
    stats = client.inpaint_regions_json(img, detect=True, remove_text="@email", recognize=True)
    lines = stats.processing_stats.text_lines
    assert lines is not None and (lines.found, lines.removed, lines.kept) == (2, 1, 1)
    assert {(ln.status, ln.text.strip()) for ln in lines.lines} == {("removed", "jane.roe@example.org"),
                                                                   ("kept", "Team meeting")}
    res = client.inpaint_regions(img, detect=True, remove_text=["@email", "@phone"], keep_text=["meeting"])
    assert (res.text_lines_removed, res.text_lines_kept, res.text_patterns_unmatched) == (1, 1, 1)
    assert dark_pixels(res.image, EMAIL_BOX) < 10 and dark_pixels(res.image, KEPT_BOX) == dark_pixels(png(img), KEPT_BOX)
    sub = client.submit(img, detect=True, keep_text=["TEAM"])
    client.wait(sub.task_id, timeout=60)
    st = client.task_status(sub.task_id)
    assert st.text_lines is not None and (st.text_lines.removed, st.text_lines.kept) == (1, 1)
    with pytest.raises(ServiceError) as e:
        client.inpaint_regions(img, detect=True, remove_text=["(a)\\1"])
    assert e.value.status == 422 and e.value.code == "invalid_pattern"
    with pytest.raises(TypeError):
        client.inpaint_regions(img, detect=True, remove_text=[1])
    # the CLI: --redact and --keep-text, and --recognize on detect
    src, out = tmp_path / "r.png", tmp_path / "r-clean.png"
    img.save(src)
    r = cli("remove", str(src), "-o", str(out), "--redact", "email,phone", "--keep-text", "nothing-here", url=service)
    assert r.returncode == 0, r.stderr
    assert "1 removed" in r.stderr and "matched no line: @phone, nothing-here" in r.stderr
    assert dark_pixels(out.read_bytes(), EMAIL_BOX) < 10
    r = cli("remove", str(src), "-o", str(out), "--redact", "ssn", url=service)
    assert r.returncode != 0 and "no preset 'ssn'" in r.stderr
    r = cli("detect", str(src), "--recognize", url=service)
    assert r.returncode == 0 and "jane.roe@example.org" in r.stdout


def _near(colour: str, rgb: tuple[int, int, int]) -> bool:
    return max(abs(int(colour[1 + 2 * i:3 + 2 * i], 16) - rgb[i]) for i in range(3)) <= 16


def test_describe_gives_each_line_its_style(client, service, tmp_path):
    """describe=True on detect_text and the region routes, typed (Style), and `detect --describe`."""
    img = redact_image()
    found = client.detect_text(img, describe=True)
    assert len(found.regions) == 2
    for d in found.regions:
        assert d.style is not None and _near(d.style.text_color, (0, 0, 0))
        assert d.style.background_color is not None and _near(d.style.background_color, (255, 255, 255))
        assert d.style.font_size is not None and abs(d.style.font_size - 24) <= 0.15 * 24
        assert d.style.outline is None and d.style.shadow is None and d.style.bold is False
    assert all(d.style is None for d in client.detect_text(img).regions)
    stats = client.inpaint_regions_json(img, detect=True, describe=True)
    lines = stats.processing_stats.text_lines
    assert lines is not None and all(ln.style is not None and _near(ln.style.text_color, (0, 0, 0)) for ln in lines.lines)
    src = tmp_path / "d.png"
    img.save(src)
    r = cli("detect", str(src), "--describe", url=service)
    assert r.returncode == 0, r.stderr
    assert all(_near(d["style"]["text_color"], (0, 0, 0)) for d in json.loads(r.stdout)["regions"])


# --- transport: multipart files by default, base64 JSON on request ---------------------------


def _recording(kind: str = "sync"):
    sent: list[tuple[str, str]] = []

    def record(request):
        sent.append((request.url.path, request.headers.get("content-type", "")))

    async def arecord(request):
        record(request)

    return sent, {"request": [arecord if kind == "async" else record]}


def test_uploads_are_multipart_files_by_default_and_answers_binary(service):
    sent, hooks = _recording()
    with Client(service, event_hooks=hooks) as c:
        r = c.inpaint_regions(scene(), [block_region()])
        m = c.inpaint(png(scene()), block_mask())
        s = c.inpaint_regions_json(scene(), [block_region()])
        d = c.detect_text(png(scene()))
        sub = c.submit(scene(), [block_region()])
        c.wait(sub.task_id, timeout=60)
        t = c.task_result(sub.task_id)
    assert [ct.split(";")[0] for _, ct in sent[:5]] == ["multipart/form-data"] * 5, sent
    assert r.media_type == "image/png" and r.image[:8] == b"\x89PNG\r\n\x1a\n"
    for data in (r.image, m.image, t.image):
        assert_block_removed(data)
    assert s.processing_stats.regions_processed == 1 and isinstance(d, DetectResult)
    # the same request as base64 JSON gives the same pixels
    sent2, hooks2 = _recording()
    with Client(service, transport="json", event_hooks=hooks2) as c:
        j = c.inpaint_regions(scene(), [block_region()])
    assert sent2[0][1].startswith("application/json")
    assert Image.open(io.BytesIO(j.image)).tobytes() == Image.open(io.BytesIO(r.image)).tobytes()


def test_base64_given_by_the_caller_goes_as_json(service):
    import base64

    sent, hooks = _recording()
    with Client(service, event_hooks=hooks) as c:
        r = c.inpaint_regions(base64.b64encode(png(scene())).decode(), [block_region()])
    assert sent[0][1].startswith("application/json")
    assert_block_removed(r.image)


def test_async_client_uploads_multipart(service):
    async def go():
        sent, hooks = _recording("async")
        async with AsyncClient(service, event_hooks=hooks) as c:
            r = await c.inpaint_regions(scene(), [block_region()], output_format="jpeg")
            sub = await c.submit(png(scene()), [block_region()], mask=png(block_mask()))
            await c.wait(sub.task_id, timeout=60)
            t = await c.task_result(sub.task_id)
        return sent, r, t

    sent, r, t = asyncio.run(go())
    assert all(ct.startswith("multipart/form-data") for path, ct in sent if path.endswith(("-regions", "-async")))
    assert r.media_type == "image/jpeg"
    assert_block_removed(r.image)
    assert_block_removed(t.image)


def test_cli_remove_with_either_transport(service, tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(png(scene()))
    outs = []
    for transport in ("multipart", "json"):
        out = tmp_path / f"out-{transport}.png"
        r = cli("remove", str(src), "-o", str(out), "--regions", json.dumps([block_region()]), "--transport",
                transport, "-q", url=service)
        assert r.returncode == 0, r.stderr
        outs.append(Image.open(out).tobytes())
    assert outs[0] == outs[1]
    assert cli("remove", str(src), "-o", "x.png", "--transport", "base64", url=service).returncode == 2


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError):
        Client("http://127.0.0.1:9", transport="xml")
def _signed(secret: str, body: bytes, t: int) -> str:
    import hashlib
    import hmac

    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_verify_signature_accepts_the_right_one_and_refuses_the_rest():
    body, t = b'{"task_id":"a","status":"completed"}', 1_700_000_000
    good = _signed("k", body, t)
    assert verify_signature(body, good, "k", now=t + 10) == t
    assert verify_signature(body.decode(), good, "k", now=t - 10) == t  # a str body, a slightly fast clock
    assert verify_signature(body, f"{_signed('old', body, t)},v1={good.split('v1=')[1]}", "k", now=t) == t  # rotation
    for sig, now in [(good, t + 301), (good, t - 301), (_signed("k", body + b" ", t), t), (_signed("x", body, t), t),
                     ("", t), (None, t), ("v1=abc", t), (f"t={t}", t), ("t=soon,v1=ab", t), ("garbage", t)]:
        with pytest.raises(InvalidSignature):
            verify_signature(body, sig, "k", now=now)
    assert verify_signature(body, good, "k", now=t + 3000, tolerance=3600) == t
    with pytest.raises(ValueError):
        verify_signature(body, good, "", now=t)
