"""The /playground page: served files, and one real session in headless Chromium.

The browser test starts the real service (cv2 model) as a subprocess with the playground router
included, drives Debian's Chromium over the DevTools protocol (the `websockets` package, no
driver), uploads a generated image, draws a box with the mouse, clicks "Remove text", waits for
the before/after images and checks their pixels in the page. It leaves a screenshot in
test-artifacts/playground.png. A second session finds coloured text (with describe: each line's
style swatch), types new text and clicks "Replace text" (test-artifacts/playground-replace.png).
Chromium comes from Debian: `apt-get install chromium`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from app.api import playground
from tests.support import start_service, stop_service

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
API_KEY = "playground-test-key"


# ---------------------------------------------------------------- the served files (no browser)

@pytest.fixture(scope="module")
def pg_client():
    app = FastAPI()
    app.include_router(playground.router)
    with TestClient(app) as c:
        yield c



def test_page_and_assets_are_served(pg_client):
    r = pg_client.get("/playground")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert 'src="playground/static/playground.js"' in html and 'href="playground/static/playground.css"' in html
    assert "http://" not in html and "https://" not in html  # nothing from outside
    for name, ctype in (("playground.js", "text/javascript"), ("playground.css", "text/css")):
        a = pg_client.get(f"/playground/static/{name}")
        assert a.status_code == 200 and a.headers["content-type"].startswith(ctype), name
        assert len(a.content) > 1000
        assert "http://" not in a.text and "https://" not in a.text, f"{name} refers to an outside URL"


@pytest.mark.parametrize("path", ["/playground/static/index.html", "/playground/static/nope.js",
                                  "/playground/static/..%2F..%2Fapi%2Fplayground.py",
                                  "/playground/static/%2e%2e/%2e%2e/main.py"])
def test_only_the_listed_files_are_served(pg_client, path):
    assert pg_client.get(path).status_code == 404


# ---------------------------------------------------------------- a real browser session

def stop(proc: subprocess.Popen) -> None:
    """End a process this test started (and its own process group), by id."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The real service, with an API key that the page must send (header, and ?api_key= on WS)."""
    proc, base, log = start_service(tmp_path_factory.mktemp("pg-service"), IOPAINT_API_KEY=API_KEY)
    yield base
    stop_service(proc, log)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Headless Chromium with the DevTools protocol on a free port; yields the browser's ws URL."""
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail("/usr/bin/chromium is missing: install Debian's `chromium` package "
                    "(apt-get install -y chromium chromium-driver); scripts/system-packages.sh should do it")
    profile = tmp_path_factory.mktemp("chromium-profile")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,900",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             "about:blank"]
    log = open(profile.parent / f"{profile.name}.log", "w+b")
    proc = subprocess.Popen([str(CHROMIUM), *flags], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"chromium did not start:\n{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        stop(proc)
        log.close()


class CDP:
    """A minimal DevTools-protocol client: one browser connection, one flattened page session."""

    def __init__(self, ws):
        self.ws, self.next_id, self.pending, self.events = ws, 0, {}, []
        self.session: str | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            fut = self.pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif "method" in msg:
                self.events.append(msg)

    async def send(self, method: str, params: dict | None = None, *, browser: bool = False, timeout: float = 30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        answer = await asyncio.wait_for(fut, timeout)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def js(self, expression: str, *, await_promise: bool = False):
        r = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": await_promise})
        if "exceptionDetails" in r:
            raise AssertionError(f"page JS failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                state = await self.js("document.documentElement.dataset.state + ' / ' + "
                                      "document.getElementById('error').textContent")
                raise AssertionError(f"timed out waiting for {what} (page: {state})")
            await asyncio.sleep(0.1)

    async def mouse(self, kind: str, x: float, y: float, pressed: bool):
        await self.send("Input.dispatchMouseEvent", {
            "type": kind, "x": x, "y": y, "button": "left" if (pressed or kind != "mouseMoved") else "none",
            "buttons": 1 if pressed else 0, "clickCount": 1 if kind != "mouseMoved" else 0})

    async def click(self, selector: str):
        # into view first (instantly): a mouse event only reaches what is on screen
        r = await self.js(f"(() => {{ const el = document.querySelector({selector!r}); "
                          "el.scrollIntoView({block: 'center', behavior: 'instant'}); "
                          "return JSON.stringify(el.getBoundingClientRect()); })()")
        r = json.loads(r)
        x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
        await self.mouse("mouseMoved", x, y, False)
        await self.mouse("mousePressed", x, y, True)
        await self.mouse("mouseReleased", x, y, False)


def sample_image() -> np.ndarray:
    """A light, slightly graded background with two lines of dark 'words' (bars)."""
    h, w = 300, 480
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = 225 + (xx * 20 // w)
    img[..., 1] = 220 + (yy * 15 // h)
    img[..., 2] = 205
    for x0, x1 in ((60, 130), (145, 190), (205, 300)):  # line A: removed (inside the drawn box)
        img[84:108, x0:x1] = (25, 25, 35)
    for x0, x1 in ((60, 150), (165, 260)):  # line B: kept (outside it)
        img[200:222, x0:x1] = (25, 25, 35)
    return img


BOX = (45, 70, 330, 122)  # x0, y0, x1, y1 in image pixels: line A and a margin
LINE_A = (60, 84, 300, 108)
LINE_B = (60, 200, 260, 222)
TEXT_BOX = (20, 35, 400, 125)  # around the first line of text_image()

def read_pixels_js() -> str:
    # base64 of the raw RGB bytes of both images, built in chunks (the images are small)
    return """
(() => {
  const read = (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 4) s += String.fromCharCode(d[i], d[i + 1], d[i + 2]);
    return {w: c.width, h: c.height, rgb: btoa(s)};
  };
  return JSON.stringify({before: read(document.getElementById('before-img')),
                         after: read(document.getElementById('after-img'))});
})()
"""


def decode_pixels(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["rgb"]), np.uint8).reshape(d["h"], d["w"], 3)


def text_image() -> tuple[np.ndarray, np.ndarray]:
    """Real dark text on a light background (Pillow's own font, no system font needed), and its glyph mask."""
    from PIL import ImageDraw, ImageFont

    pil = Image.fromarray(np.full((260, 520, 3), (236, 232, 222), np.uint8))
    glyphs = Image.new("L", pil.size, 0)
    font = ImageFont.load_default(size=44)
    for draw, fill in ((ImageDraw.Draw(pil), (20, 20, 30)), (ImageDraw.Draw(glyphs), 255)):
        draw.text((40, 50), "SALE 50% OFF", font=font, fill=fill)
        draw.text((40, 150), "Hello there", font=font, fill=fill)
    return np.asarray(pil), np.asarray(glyphs) > 0


def count(cdp: CDP):
    return cdp.js("document.getElementById('region-count').textContent")


async def find_text(cdp, lines_shown: str, what: str) -> None:
    """Press Find text and wait until the list shows the lines (`lines_shown`, a JS condition) or an
    error; no error is shown."""
    await cdp.click("#find-text")
    await cdp.wait_for("document.documentElement.dataset.state === 'ready' && (" + lines_shown
                       + " || !document.getElementById('error').hidden)", 30, what)
    assert await cdp.js("document.getElementById('error').hidden"), \
        await cdp.js("document.getElementById('error').textContent")


async def remove_and_wait(cdp: CDP) -> None:
    await cdp.click("#remove-text")
    await cdp.wait_for("['done', 'failed'].includes(document.documentElement.dataset.state)", 90,
                       "the task to finish")
    state = await cdp.js("document.documentElement.dataset.state")
    error = await cdp.js("document.getElementById('error').textContent")
    assert state == "done", f"the page says: {error}"
    progress = await cdp.js("[document.getElementById('progress-pct').textContent, "
                            "document.getElementById('progress-bar').style.width, "
                            "document.getElementById('progress-stage').textContent]")
    assert progress == ["100%", "100%", "completed"], progress
    assert await cdp.js("document.documentElement.dataset.progressVia") == "websocket"
    assert await cdp.js("document.getElementById('after-img').complete && "
                        "document.getElementById('after-img').naturalWidth > 0")


async def screenshot(cdp: CDP) -> bytes:
    await cdp.js("window.scrollTo(0, 0)")
    await asyncio.sleep(0.5)  # let the progress bar's transition and the smooth scroll end
    content = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
    shot = await cdp.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1}})
    return base64.b64decode(shot["data"])


async def upload(cdp: CDP, path: Path) -> None:
    doc = await cdp.send("DOM.getDocument")
    node = await cdp.send("DOM.querySelector", {"nodeId": doc["root"]["nodeId"], "selector": "#file"})
    await cdp.send("DOM.setFileInputFiles", {"nodeId": node["nodeId"], "files": [str(path)]})
    await cdp.wait_for(f"document.documentElement.dataset.state === 'ready' && "
                       f"document.getElementById('file-info').textContent.startsWith({path.name!r})",
                       20, "the image to load")


async def open_page(cdp: CDP, base: str) -> str:
    """A new tab on the playground, attached (flattened); answers its target id."""
    target = await cdp.send("Target.createTarget", {"url": "about:blank"})
    attached = await cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
    cdp.session = attached["sessionId"]
    for domain in ("Page", "Runtime", "Log", "DOM"):
        await cdp.send(f"{domain}.enable")
    await cdp.send("Emulation.setDeviceMetricsOverride",
                   {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    await cdp.send("Page.navigate", {"url": base + "/playground"})
    await cdp.wait_for("document.readyState === 'complete' && document.documentElement.dataset.state === 'empty'",
                       20, "the page to load")
    return target["targetId"]


def page_problems(events: list[dict], expected_status: tuple[str, ...] = ("401",)) -> list[dict]:
    """Exceptions and errors the page logged, less the failed requests the test asked for (by status)."""
    def expected(entry: dict) -> bool:
        return entry.get("source") == "network" and any(code in entry["text"] for code in expected_status)

    return [e for e in events
            if e["method"] == "Runtime.exceptionThrown"
            or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
            or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
                and not expected(e["params"]["entry"]) and "favicon" not in e["params"]["entry"].get("url", ""))]


async def session(browser_ws: str, base: str, bars_path: Path, text_path: Path) -> dict:
    import websockets

    out: dict = {}
    async with websockets.connect(browser_ws, max_size=None, open_timeout=20) as ws:
        cdp = CDP(ws)
        target_id = await open_page(cdp, base)
        assert await cdp.js("document.getElementById('remove-text').disabled") is True
        assert await cdp.js("document.getElementById('replace-text').disabled") is True

        # 1. upload the bars, draw a box over line A with the mouse (image px -> CSS px of the canvas)
        await upload(cdp, bars_path)
        size = await cdp.js("[document.getElementById('canvas').width, document.getElementById('canvas').height]")
        assert size == [480, 300]

        async def at(x, y):  # image pixels -> CSS pixels of the canvas as shown
            r = json.loads(await cdp.js("JSON.stringify(Object.assign(document.getElementById('canvas')"
                                        ".getBoundingClientRect().toJSON(), {w: document.getElementById('canvas').width}))"))
            k = r["width"] / r["w"]
            return r["x"] + x * k, r["y"] + y * k

        async def drag(a, b, steps=5):
            await cdp.mouse("mouseMoved", *a, False)
            await cdp.mouse("mousePressed", *a, True)
            for i in range(1, steps + 1):
                await cdp.mouse("mouseMoved", a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps, True)
            await cdp.mouse("mouseReleased", *b, False)

        await drag(await at(BOX[0], BOX[1]), await at(BOX[2], BOX[3]))
        assert await count(cdp) == "1"
        items = await cdp.js("[...document.querySelectorAll('#region-list li')].map(li => li.textContent)")
        assert len(items) == 1 and "box 285 × 52 at (45, 70)" in items[0], items
        await drag(await at(350, 240), await at(420, 280), steps=2)  # a stray second box, removed with its button
        assert await count(cdp) == "2"
        await cdp.click("#region-list li:nth-child(2) .remove-region")
        assert await count(cdp) == "1"
        await cdp.js("document.getElementById('mask-mode').value = 'box'; document.getElementById('padding').value = '3'")

        # 2. the server wants a key: without it, a clear error and the page stays usable
        await cdp.click("#remove-text")
        await cdp.wait_for("!document.getElementById('error').hidden && document.documentElement.dataset.state === 'ready'",
                           20, "the missing-key error")
        error = await cdp.js("document.getElementById('error').textContent")
        assert "401" in error and "API key" in error, error

        # 3. type the key (sent as X-API-Key, and as ?api_key= on the WebSocket), then Remove
        await cdp.click("details.field summary")
        await cdp.click("#api-key")
        await cdp.send("Input.insertText", {"text": API_KEY})
        await remove_and_wait(cdp)
        assert await cdp.js("document.getElementById('error').hidden") is True
        out["bars"] = json.loads(await cdp.js(read_pixels_js()))
        out["screenshot"] = await screenshot(cdp)

        # 4. another image: a box around the first line, Find text (inside it), the polygon found
        #    becomes the region, Remove
        await upload(cdp, text_path)
        assert await count(cdp) == "0"
        await drag(await at(*TEXT_BOX[:2]), await at(*TEXT_BOX[2:]))
        assert await count(cdp) == "1"
        await cdp.js("document.getElementById('mask-mode').value = ''; document.getElementById('padding').value = ''")
        await find_text(cdp, "document.querySelectorAll('#region-list li.polygon').length > 0", "text detection")
        out["detected"] = await cdp.js("[...document.querySelectorAll('#region-list li')].map(li => li.className)")
        await remove_and_wait(cdp)
        out["text"] = json.loads(await cdp.js(read_pixels_js()))
        out["screenshot_detect"] = await screenshot(cdp)

        # 5. the same image, Find text on all of it: each line says what it reads; tick "keep" on
        #    "Hello there", Remove: only "SALE 50% OFF" goes
        await upload(cdp, text_path)
        await cdp.click("#find-text")
        await cdp.wait_for("document.documentElement.dataset.state === 'ready' && "
                           "document.querySelectorAll('#region-list li.polygon').length === 2", 30, "two lines read")
        out["read"] = await cdp.js("[...document.querySelectorAll('#region-list li span')].map(s => s.textContent)")
        await cdp.js("[...document.querySelectorAll('#region-list li')].find(li => li.textContent.includes('Hello'))"
                     ".querySelector('.keep-line input').click()")
        assert await cdp.js("document.querySelectorAll('#region-list li.kept').length") == 1
        out["screenshot_keep"] = await screenshot(cdp)
        await remove_and_wait(cdp)
        out["kept"] = json.loads(await cdp.js(read_pixels_js()))
        out["kept_info"] = await cdp.js("document.getElementById('result-info').textContent")

        out["problems"] = page_problems(cdp.events)
        await cdp.send("Target.closeTarget", {"targetId": target_id}, browser=True)
        cdp.reader.cancel()
    return out


def test_playground_session_in_chromium(service, chromium, tmp_path):
    """Draw a box, remove (with the API key), check pixels; then Find text and remove what it found."""
    bars = sample_image()
    Image.fromarray(bars).save(tmp_path / "bars.png")
    text, glyphs = text_image()
    Image.fromarray(text).save(tmp_path / "text.png")

    out = asyncio.run(asyncio.wait_for(session(chromium, service, tmp_path / "bars.png", tmp_path / "text.png"), 240))

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "playground.png").write_bytes(out["screenshot"])
    (ARTIFACTS / "playground-detect.png").write_bytes(out["screenshot_detect"])
    (ARTIFACTS / "playground-keep.png").write_bytes(out["screenshot_keep"])
    assert not out["problems"], f"errors in the page: {out['problems']}"

    # the drawn box: line A gone, everything outside the box (and a margin) unchanged
    before, after = decode_pixels(out["bars"]["before"]), decode_pixels(out["bars"]["after"])
    assert before.shape == after.shape == bars.shape
    assert np.array_equal(before, bars), "the before image is not the uploaded one"
    x0, y0, x1, y1 = LINE_A
    assert before[y0:y1, x0:x1].mean() < 90
    assert after[y0:y1, x0:x1].mean() > 180 and after[y0:y1, x0:x1].min() > 120, after[y0:y1, x0:x1].mean()
    x0, y0, x1, y1 = LINE_B
    assert np.array_equal(after[y0:y1, x0:x1], bars[y0:y1, x0:x1])
    assert (after[205, 100] == bars[205, 100]).all() and (after[10, 10] == bars[10, 10]).all()
    outside = np.ones(bars.shape[:2], bool)
    outside[BOX[1] - 16:BOX[3] + 16, BOX[0] - 16:BOX[2] + 16] = False
    assert np.array_equal(after[outside], bars[outside])

    # Find text inside the box: one polygon (the first line), its glyphs repainted, the second line kept
    assert out["detected"] == ["polygon"], out["detected"]
    before, after = decode_pixels(out["text"]["before"]), decode_pixels(out["text"]["after"])
    assert np.array_equal(before, text)
    first, second = glyphs.copy(), glyphs.copy()
    first[TEXT_BOX[3]:] = False
    second[:TEXT_BOX[3]] = False
    assert text[first].mean() < 110 and after[first].mean() > 170, after[first].mean()
    assert np.array_equal(after[second], text[second])
    assert (after[5, 5] == text[5, 5]).all() and (after[250, 510] == text[250, 510]).all()

    # the lines as read, one ticked "keep": that one untouched, the other gone
    assert sorted(out["read"]) == ["“Hello there” (99%)", "“SALE 50% OFF” (99%)"] or \
        {r.split("”")[0] for r in out["read"]} == {"“SALE 50% OFF", "“Hello there"}, out["read"]
    after = decode_pixels(out["kept"]["after"])
    assert text[first].mean() < 110 and after[first].mean() > 170, after[first].mean()
    assert np.array_equal(after[second], text[second])
    assert "1 region(s)" in out["kept_info"], out["kept_info"]

    png = out["screenshot"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert shot.shape[1] >= 1000 and shot.shape[0] >= 600
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50, "the screenshot is nearly blank"


# ---------------------------------------------------------------- describe's swatches, and replace-text

RED, BLUE = (200, 30, 30), (30, 60, 170)
SALE_BOX = (30, 40, 360, 110)  # x0, y0, x1, y1 around the first line of color_text_image()
HELLO_BOX = (30, 140, 280, 215)


def color_text_image() -> np.ndarray:
    """Two lines of coloured text on a light background: red "SALE 50% OFF", blue "Hello there"."""
    from PIL import ImageDraw, ImageFont

    pil = Image.fromarray(np.full((260, 520, 3), (236, 232, 222), np.uint8))
    draw, font = ImageDraw.Draw(pil), ImageFont.load_default(size=44)
    draw.text((40, 50), "SALE 50% OFF", font=font, fill=RED)
    draw.text((40, 150), "Hello there", font=font, fill=BLUE)
    return np.asarray(pil)


def line_js(words: str, then: str) -> str:
    """An expression on the list item whose line reads `words` (`li`)."""
    return (f"(() => {{ const li = [...document.querySelectorAll('#region-list li')]"
            f".find(li => li.querySelector('.line-desc').textContent.includes({words!r})); return {then}; }})()")


async def type_into(cdp: CDP, words: str, text: str) -> None:
    """Click the new-text box of the line reading `words`, select what it holds, type `text` over it."""
    n = await cdp.js(line_js(words, "[...li.parentNode.children].indexOf(li) + 1"))
    await cdp.click(f"#region-list li:nth-child({n}) .replace-input")
    await cdp.js(line_js(words, "li.querySelector('.replace-input').select()"))
    await cdp.send("Input.insertText", {"text": text})


async def replace_session(browser_ws: str, base: str, path: Path) -> dict:
    import websockets

    out: dict = {}
    async with websockets.connect(browser_ws, max_size=None, open_timeout=20) as ws:
        cdp = CDP(ws)
        target_id = await open_page(cdp, base)
        # the key first (a new tab: nothing stored); leaving the field loads the fonts to choose from
        await cdp.click("details.field summary")
        await cdp.click("#api-key")
        await cdp.send("Input.insertText", {"text": API_KEY})
        await cdp.js("document.getElementById('api-key').blur()")
        await cdp.wait_for("document.documentElement.dataset.fonts", 20, "the font list")
        out["fonts"] = await cdp.js("[...document.getElementById('font').options].map(o => o.value)")

        # 1. Find text with describe: a swatch per line, in the line's colour
        await upload(cdp, path)
        await find_text(cdp, "document.querySelectorAll('#region-list li .line-style').length === 2",
                        "two lines described")
        for words in ("SALE", "Hello"):
            out[words] = await cdp.js(line_js(words, (
                "{color: li.querySelector('.chip.text-color').dataset.color, "
                "shown: getComputedStyle(li.querySelector('.chip.text-color')).backgroundColor, "
                "label: li.querySelector('.chip.text-color').title, "
                "background: li.querySelector('.chip.background-color').dataset.color, "
                "style: li.querySelector('.line-style').textContent}")))

        # 2. new text that no font can write: 422, its detail next to that line, the page still usable
        await type_into(cdp, "SALE", "\u0d9a\u0d9c")
        await cdp.click("#replace-text")
        await cdp.wait_for("document.documentElement.dataset.state === 'ready' && "
                           "!document.getElementById('error').hidden", 30, "the unwritable-text error")
        out["line_error"] = await cdp.js(line_js("SALE", "li.querySelector('.line-result.error').textContent"))
        out["other_line"] = await cdp.js(line_js("Hello", "li.querySelector('.line-result').textContent"))
        out["error"] = await cdp.js("document.getElementById('error').textContent")

        # 3. "NEW" over SALE, Hello left empty (removed, nothing written): Replace text
        await type_into(cdp, "SALE", "NEW")
        await cdp.click("#replace-text")
        await cdp.wait_for("['done', 'ready'].includes(document.documentElement.dataset.state) && "
                           "(!document.getElementById('results').hidden || "
                           "!document.getElementById('error').hidden)", 60, "the replaced image")
        assert await cdp.js("document.getElementById('error').hidden"), \
            await cdp.js("document.getElementById('error').textContent")
        assert await cdp.js("document.documentElement.dataset.state") == "done"
        assert await cdp.js("document.getElementById('after-img').complete && "
                            "document.getElementById('after-img').naturalWidth > 0")
        out["written"] = {w: await cdp.js(line_js(w, "li.querySelector('.line-result').textContent"))
                          for w in ("SALE", "Hello")}
        out["info"] = await cdp.js("document.getElementById('result-info').textContent")
        out["download"] = await cdp.js("document.getElementById('download').download")
        out["requests"] = await cdp.js("performance.getEntriesByType('resource').map(e => e.name)"
                                       ".filter(n => n.includes('/api/v1/'))")
        out["pixels"] = json.loads(await cdp.js(read_pixels_js()))
        out["screenshot"] = await screenshot(cdp)
        out["problems"] = page_problems(cdp.events, ("401", "422"))
        await cdp.send("Target.closeTarget", {"targetId": target_id}, browser=True)
        cdp.reader.cancel()
    return out


def test_playground_swatches_and_replace_in_chromium(service, chromium, tmp_path):
    """Find text with describe: a swatch in each line's text colour; type new text, Replace text: the
    image with it, and per line the size written (X-Font-Sizes) or the error that names the line."""
    img = color_text_image()
    Image.fromarray(img).save(tmp_path / "color.png")

    out = asyncio.run(asyncio.wait_for(replace_session(chromium, service, tmp_path / "color.png"), 180))

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "playground-replace.png").write_bytes(out["screenshot"])
    assert not out["problems"], f"errors in the page: {out['problems']}"
    assert out["fonts"][:3] == ["", "sans", "serif"] and "DejaVu Serif" in out["fonts"], out["fonts"]

    # the swatches: each line's measured text colour, shown as such, on the background measured
    for words, ink in (("SALE", RED), ("Hello", BLUE)):
        sw = out[words]
        rgb = tuple(int(sw["color"][i:i + 2], 16) for i in (1, 3, 5))
        assert max(abs(a - b) for a, b in zip(rgb, ink)) <= 24, (words, sw)
        assert sw["shown"] == "rgb({}, {}, {})".format(*rgb), sw
        assert sw["color"] in sw["label"] and sw["background"] == "#ece8de", sw
        assert " px" in sw["style"] and "°" in sw["style"], sw

    # the 422: its detail beside the line it names, and in the page's error
    assert "cannot be written" in out["line_error"], out["line_error"]
    assert out["other_line"] == "", out["other_line"]
    assert "422" in out["error"] and "cannot be written" in out["error"], out["error"]

    # replace-text was called; the sizes written, per line, from its headers
    assert any(n.endswith("/api/v1/replace-text") for n in out["requests"]), out["requests"]
    assert out["written"]["SALE"].startswith("written at ") and out["written"]["SALE"].split()[2].replace(".", "").isdigit(), \
        out["written"]
    assert out["written"]["Hello"] == "removed, nothing written", out["written"]
    assert out["info"].startswith("2 line(s): 1 written"), out["info"]
    assert out["download"] == "color-new-text.png", out["download"]

    # the pixels: red "NEW" where SALE was, its old tail gone; the blue line gone; the rest untouched
    before, after = decode_pixels(out["pixels"]["before"]), decode_pixels(out["pixels"]["after"])
    assert np.array_equal(before, img)

    def inked(a: np.ndarray, ink: tuple[int, int, int]) -> int:
        return int((np.abs(a.astype(int) - ink).max(axis=2) < 60).sum())

    x0, y0, x1, y1 = SALE_BOX
    assert inked(before[y0:y1, x0:x1], RED) > 800 and inked(after[y0:y1, x0:x1], RED) > 150, \
        inked(after[y0:y1, x0:x1], RED)
    assert inked(after[y0:y1, 200:x1], RED) < 20  # "NEW" (start-aligned) is shorter than "SALE 50% OFF"
    x0, y0, x1, y1 = HELLO_BOX
    assert inked(before[y0:y1, x0:x1], BLUE) > 800 and inked(after[y0:y1, x0:x1], BLUE) < 20
    outside = np.ones(img.shape[:2], bool)
    outside[SALE_BOX[1] - 20:SALE_BOX[3] + 20, SALE_BOX[0] - 20:SALE_BOX[2] + 20] = False
    outside[HELLO_BOX[1] - 20:HELLO_BOX[3] + 20, HELLO_BOX[0] - 20:HELLO_BOX[2] + 20] = False
    assert np.array_equal(after[outside], img[outside])
