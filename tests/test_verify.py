"""No text left behind (API.md, "Text left behind: verification"): the default request removes
every kind of text on every kind of input, checks its own result, repairs what it missed, and says
so; `verify: false` skips the check."""

from __future__ import annotations

import functools
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.verify import MAX_HALO
from tests.support import b64, decode, png_bytes, regions_of, running_app, text_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import hard_cases as hc  # noqa: E402  (the hard-case scenes of bench/hard_cases.py)

LEFT_BOUND = 2.0  # % of ink pixels still standing out: the text is not readable


def scene(kind: str, seed: int = 7, enc: str = "png-rgb"):
    """A photo with three lines of one kind of text: (upload bytes, clean, texted, lines)."""
    rng = np.random.default_rng(seed)
    clean = None
    while clean is None:
        clean = hc.scene(str(rng.choice(hc.SCENES)), rng)
    texted, lines = hc.render(clean, kind, rng, hc.fonts())
    data, _ = hc.encode_as(texted, enc)
    return data, hc.clean_as(clean, enc), hc.clean_as(texted, enc), lines


def ink_left_pct(out: np.ndarray, clean, texted, lines) -> float:
    left, total = hc.ink_left(out, clean, texted, lines)
    assert total > 200  # the scene really has text to remove
    return 100.0 * left / total


def far_from(lines, shape) -> np.ndarray:
    """Pixels farther than padding + the verification halo from every region."""
    far = np.ones(shape[:2], bool)
    for ln in lines:
        x0, y0, x1, y1 = ln.region.bounds()
        m = 8 + MAX_HALO
        far[max(0, int(y0) - m):int(y1) + m + 1, max(0, int(x0) - m):int(x1) + m + 1] = False
    return far


@pytest.mark.parametrize("kind", hc.KINDS)
def test_default_request_removes_every_kind_of_text(client, kind):
    data, clean, texted, lines = scene(kind)
    r = client.post("/api/v1/inpaint-regions", files={"image": ("x.png", data, "image/png")},
                    data={"regions": __import__("json").dumps(regions_of(lines))})
    assert r.status_code == 200, r.text
    out = decode(r.content)
    left, reported = ink_left_pct(out, clean, texted, lines), float(r.headers["X-Residual-Text"])
    # gone, or (a little over the bound) what is left is reported, never called clean
    assert left <= LEFT_BOUND or (left <= 1.5 * LEFT_BOUND and reported > 0.02), (left, reported)
    seen = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    far = far_from(lines, out.shape)
    assert np.array_equal(out[far], seen[far])  # pixels away from the regions are the input's own
    assert int(r.headers["X-Regions-Checked"]) == len(lines)
    assert 0.0 <= float(r.headers["X-Residual-Text"]) <= 1.0


@pytest.mark.parametrize("enc", hc.ENCODINGS)
def test_every_input_encoding_gets_the_text_removed(client, enc):
    for kind in ("outline", "bgcolour"):  # the two kinds where a stroke mask misjudges the ink most
        data, clean, texted, lines = scene(kind, seed=7, enc=enc)
        r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(data), "regions": regions_of(lines)})
        assert r.status_code == 200, r.text
        r = client.post("/api/v1/inpaint-regions", json={"image": b64(data), "regions": regions_of(lines)})
        assert ink_left_pct(decode(r.content), clean, texted, lines) <= LEFT_BOUND, (kind, enc)


def test_a_mask_that_leaves_a_shadow_out_is_grown_over_it(client):
    # tight boxes (no padding) around text with a soft shadow: the boxes leave the shadow out, and
    # verification grows the first mask over it (within the reach) before the model runs, rather than
    # repairing it afterwards with a second pass
    data, clean, texted, lines = hard_scene("softshadow", 1)
    body = {"image": b64(data), "regions": regions_of(lines), "mask_mode": "box", "padding": 0}
    unchecked = client.post("/api/v1/inpaint-regions", json={**body, "verify": False})
    assert unchecked.status_code == 200
    assert "X-Regions-Repaired" not in unchecked.headers
    assert ink_left_pct(decode(unchecked.content), clean, texted, lines) > 10  # the boxes alone leave it
    img = client.post("/api/v1/inpaint-regions", json=body)
    assert int(img.headers["X-Mask-Area"]) > int(unchecked.headers["X-Mask-Area"])
    assert ink_left_pct(decode(img.content), clean, texted, lines) <= LEFT_BOUND
    assert int(img.headers["X-Regions-Checked"]) == len(lines)
    out, seen = decode(img.content), decode(data)
    far = far_from(lines, out.shape)
    assert np.array_equal(out[far], seen[far])  # (tests/test_reach.py holds it to the exact reach)


def test_an_easy_case_needs_no_repair(client):
    img = text_image()  # a dark bar on a flat background
    r = client.post("/api/v1/inpaint-regions-json",
                    json={"image": b64(png_bytes(img)), "regions": [{"x": 40, "y": 80, "width": 160, "height": 40}]})
    v = r.json()["processing_stats"]["verification"]
    assert v == {"regions_checked": 1, "regions_repaired": 0, "residual_max": 0.0}


def test_verify_false_skips_the_check(client):
    body = {"image": b64(png_bytes(text_image())), "regions": [{"x": 40, "y": 80, "width": 160, "height": 40}],
            "verify": False}
    r = client.post("/api/v1/inpaint-regions-json", json=body)
    assert "verification" not in {k for k, v in r.json()["processing_stats"].items() if v is not None}
    r = client.post("/api/v1/inpaint-regions", json=body)
    assert not {"X-Regions-Repaired", "X-Residual-Text"} & set(r.headers)
    form = client.post("/api/v1/inpaint-regions", files={"image": ("x.png", png_bytes(text_image()), "image/png")},
                       data={"regions": '[{"x": 40, "y": 80, "width": 160, "height": 40}]', "verify": "false"})
    assert form.status_code == 200 and "X-Residual-Text" not in form.headers


def test_uploaded_mask_is_verified_too(client):
    mask = np.zeros((200, 320), np.uint8)
    mask[80:120, 40:200] = 255  # the parts of the mask are checked like regions
    r = client.post("/api/v1/inpaint", json={"image": b64(png_bytes(text_image())), "mask": b64(png_bytes(mask))})
    assert r.status_code == 200 and r.headers["X-Regions-Checked"] == "1"
    assert r.headers["X-Regions-Repaired"] == "0"


def test_tasks_and_callbacks_report_verification():
    from tests.support import Receiver, wait_status

    rec = Receiver()
    data, _, _, lines = scene("outline")
    with running_app(model="cv2") as c:
        tid = c.post("/api/v1/inpaint-regions-async",
                     json={"image": b64(data), "regions": regions_of(lines), "callback_url": rec.url}).json()["task_id"]
        status = wait_status(c, tid)
        assert status["status"] == "completed"
        assert status["verification"]["regions_checked"] == len(lines)
        cb = rec.wait(1)[-1]
        assert cb["verification"] == status["verification"]
    rec.server.shutdown()


def test_small_text_on_a_large_photo_is_found(client):
    # 12-16 px text on a 2048 px photo: too small for the whole-image pass at DETECT_MAX_SIDE
    rng = np.random.default_rng(3)
    clean = hc.scene("astronaut", rng, size=(2048, 1536))
    from PIL import ImageDraw, ImageFont

    canvas = Image.fromarray(clean)
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for i, (x, y) in enumerate([(300, 400), (1200, 900), (700, 1300)]):
        font = ImageFont.truetype(hc.fonts()["regular"][0], 12 + 2 * i)
        draw.text((x, y), "Photo by J. Smith", font=font, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
        boxes.append(draw.textbbox((x, y), "Photo by J. Smith", font=font, stroke_width=1))
    r = client.post("/api/v1/detect-text", json={"image": b64(png_bytes(np.asarray(canvas)))})
    assert r.status_code == 200
    found = r.json()["regions"]
    for x0, y0, x1, y1 in boxes:  # every line is covered by a detected polygon's box
        assert any(f["bounding_box"]["x"] <= x0 + 2 and f["bounding_box"]["y"] <= y0 + 2
                   and f["bounding_box"]["x"] + f["bounding_box"]["width"] >= x1 - 2
                   and f["bounding_box"]["y"] + f["bounding_box"]["height"] >= y1 - 2 for f in found), (x0, y0)


def hard_scene(kind: str, si: int, enc: str = "png-rgb"):
    """One scene of bench/hard_cases.py, as its run makes it: (upload bytes, clean, texted, lines)."""
    rng = np.random.default_rng(1000 * hc.KINDS.index(kind) + si)
    clean = hc.background(hc.BACKGROUNDS[si % len(hc.BACKGROUNDS)], rng)
    texted, lines = hc.render(clean, kind, rng, hc.fonts())
    data, _ = hc.encode_as(texted, enc)
    return data, hc.clean_as(clean, enc), hc.clean_as(texted, enc), lines


def lines_left(out, clean, texted, lines) -> list[float]:
    return [a / b for a, b in hc.ink_left_lines(out, clean, texted, lines) if b >= 30]


# lines the first mask misses: a soft shadow past the glyphs, an outline, a thin light line on a
# rotated polygon with a soft shadow (the whole word stayed readable and the answer said 0), JPEG q75
@pytest.mark.parametrize("kind,si,enc", [("softshadow", 1, "png-rgb"), ("outline", 2, "png-rgb"),
                                         ("thinshadow", 0, "png-rgb"), ("thinshadow", 0, "jpeg75"),
                                         ("plain", 1, "jpeg75")])
def test_text_the_first_mask_misses_is_repaired_or_reported(client, kind, si, enc):
    data, clean, texted, lines = hard_scene(kind, si, enc)
    r = client.post("/api/v1/inpaint-regions", files={"image": ("x", data, "application/octet-stream")},
                    data={"regions": __import__("json").dumps(regions_of(lines))})
    assert r.status_code == 200, r.text
    reported = float(r.headers["X-Residual-Text"])
    left = lines_left(decode(r.content), clean, texted, lines)
    assert left and all(x < 0.05 or reported > 0.02 for x in left), (left, reported)


def test_an_uploaded_mask_is_obeyed_and_what_it_leaves_is_reported(client):
    import cv2

    # a soft shadow past an exact mask of the glyphs: a repair may grow only within the mask's halo
    data, clean, texted, lines = hard_scene("softshadow", 1)
    glyphs = np.logical_or.reduce([ln.glyphs for ln in lines])
    mask = cv2.dilate(glyphs.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    r = client.post("/api/v1/inpaint", files={"image": ("x.png", data, "image/png"),
                                              "mask": ("m.png", png_bytes(mask), "image/png")})
    assert r.status_code == 200, r.text
    out = decode(r.content)
    seen = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    reach = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MAX_HALO + 1,) * 2)) > 0
    changed = (out != seen).any(axis=2)
    assert changed.any() and not changed[~reach].any()
    left = lines_left(out, clean, texted, lines)
    reported = float(r.headers["X-Residual-Text"])
    assert all(x < 0.05 or reported > 0.02 for x in left), (left, reported)


def test_many_neighbours_are_found_as_when_each_is_drawn(client, monkeypatch):
    """A region's neighbours (their text kept out of its ring) come from one count of every region
    once there are many of them, so that a thousand piled-up regions cost a draw each, not a
    million: the answer is the same, pixel for pixel, as drawing each neighbour for each region."""
    from app.engine import verify

    data, clean, texted, lines = hard_scene("softshadow", 1)
    words = []  # each line as 40 overlapping word boxes: every region has more than 32 neighbours
    for ln in lines:
        x0, y0, x1, y1 = ln.region.bounds()
        step = (x1 - x0) / 40
        words += [{"x": float(x0 + k * step), "y": float(y0), "width": float(3 * step), "height": float(y1 - y0)}
                  for k in range(38)]
    body = {"image": b64(data), "regions": words, "padding": 2}
    answers = []
    for many in (10**9, 0):  # each neighbour drawn; the count, for every region
        monkeypatch.setattr(verify, "_MANY_NEIGHBOURS", many)
        r = client.post("/api/v1/inpaint-regions", json=body)
        assert r.status_code == 200
        answers.append((r.content, r.headers["X-Regions-Repaired"], r.headers["X-Residual-Text"]))
    assert answers[0] == answers[1]


@functools.cache
def _detector():
    from app.engine.ocr import load_ocr

    return load_ocr()


def still_legible(out, clean, texted, lines) -> list[bool]:
    """Per line (as lines_left counts them): whether the recognizer still reads, where and the way up
    it read the line in the input, a third or more of what it read there (bench/hard_cases.Reader)."""
    reader = hc.Reader(_detector())
    reader.source(texted, lines)
    per = hc.ink_left_lines(out, clean, texted, lines)
    return [ok for ok, (_, n) in zip(reader.legible(out), per) if n >= 30]


def _reader_scene(kind: str, bg: str, seed: int):
    """A scene of bench/hard_cases.py on a chosen background: (clean, texted, lines)."""
    rng = np.random.default_rng(seed)
    clean = hc.background(bg, rng)
    texted, lines = hc.render(clean, kind, rng, hc.fonts())
    return clean, texted, lines


class _Ghosting:
    """A model that leaves each letter as a blurred blob in its place (what a fill drawn from missed
    ink looks like), then, asked again, fills from the context it is given."""

    def __init__(self):
        self.calls = 0

    def __call__(self, rgb, mask, params):
        import cv2

        self.calls += 1
        if self.calls == 1:
            return cv2.GaussianBlur(rgb, (0, 0), 2.5)
        return cv2.inpaint(rgb, (mask > 0).astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)


def test_a_blob_shaped_ghost_is_repaired_or_reported():
    """Letters blurred in place, the shapes still legible: the check finds them, and the answer
    repairs them or says so; what is still legible is never called gone."""
    from app.engine import pipeline
    from app.engine.ocr import load_ocr

    clean, texted, lines = _reader_scene("plain", "photo", 21)
    job = pipeline.InpaintInput(image=png_bytes(texted), regions=[ln.region for ln in lines], mask_mode="box",
                                padding=2)
    model = _Ghosting()
    res = pipeline.inpaint(job, model, pipeline.Limits.defaults(), detector=load_ocr())
    v = res.verification
    assert v is not None and v.regions_checked == len(lines)
    assert model.calls >= 2 and v.regions_repaired >= 1  # the ghost was found and repainted
    out = decode(res.data)
    assert not any(still_legible(out, clean, texted, lines)) or v.residual_max > 0.02


class _SeesFaintInk:
    """A detector (ProbabilityMap) that sees text wherever a pixel differs from the flat background by
    a little: faint letters no contrast measure can tell from the background."""

    def probabilities(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        return [(np.abs(c.astype(np.int16) - np.array([200, 90, 50], np.int16)).sum(axis=2) > 3).astype(np.float32)
                for c in crops]


def test_a_mask_that_misses_letters_only_the_detector_sees_grows_over_them_within_the_reach():
    """Letters the contrast measure cannot see (the detector judges them) and the first mask leaves
    out: the mask grows over what the detector sees as text before the model runs, never beyond the
    region's reach; with nothing seen there it stays as it was."""
    from app.engine import verify
    from app.engine.masks import Region

    img = np.zeros((120, 240, 3), np.uint8)
    img[:] = (200, 90, 50)
    for c in range(40, 200, 12):  # faint letters, 4 px wide, every 12 px
        img[50:66, c:c + 4] = (204, 93, 52)
    region = Region.box(36, 46, 170, 24)
    v = verify.Verifier(img, [region], 4, _SeesFaintInk())
    assert not v._sees_text(0)  # the contrast measure sees no text here: the detector judges
    mask = np.zeros(img.shape[:2], np.uint8)
    v.grow_to_text_body(0, mask)
    letters = np.zeros(img.shape[:2], bool)
    letters[50:66, 40:200] = (img[50:66, 40:200] != (200, 90, 50)).any(axis=2)
    assert (mask[letters] > 0).mean() > 0.95  # the letters are masked
    reach = verify.reach(240, 120, [region], 4)
    assert not (mask[~reach] > 0).any()  # never beyond the reach
    still = np.zeros(img.shape[:2], np.uint8)
    verify.Verifier(img.copy(), [region], 4, None).grow_to_text_body(0, still)
    assert not still.any()  # no detector, no opinion: the mask as it was


class _CleanFill:
    """A perfect model: it fills each crop with the scene as it was before the text was drawn (the
    crop is found in the texted image, where the first pass takes it from)."""

    def __init__(self, texted: np.ndarray, clean: np.ndarray):
        self.texted, self.clean = texted, clean

    def __call__(self, rgb, mask, params):
        import cv2

        h, w = rgb.shape[:2]
        _, _, (x, y), _ = cv2.minMaxLoc(-cv2.matchTemplate(self.texted, np.ascontiguousarray(rgb), cv2.TM_SQDIFF))
        return self.clean[y:y + h, x:x + w].copy()


@pytest.mark.parametrize("bg,seed", [("busy", 3), ("darkbusy", 5), ("photo", 8)])
def test_a_clean_fill_on_a_busy_texture_is_neither_repaired_nor_reported(bg, seed):
    """The text filled with exactly what was behind it: the texture that stands out where the
    letters were is the scene's own, and the reader finds no letter, so nothing is repainted again
    and the answer says the text is gone."""
    from app.engine import pipeline
    from app.engine.ocr import load_ocr

    clean, texted, lines = _reader_scene("plain", bg, seed)
    job = pipeline.InpaintInput(image=png_bytes(texted), regions=[ln.region for ln in lines])
    res = pipeline.inpaint(job, _CleanFill(texted, clean), pipeline.Limits.defaults(), detector=load_ocr())
    v = res.verification
    assert v is not None and v.regions_checked == len(lines)
    left, ink = hc.ink_left(decode(res.data), clean, texted, lines)
    assert left <= 0.005 * ink  # the fill is the clean scene (but for a stray anti-aliased pixel)
    assert v.regions_repaired == 0 and v.residual_max < 0.02, v


class _Says:
    """A recognizer stand-in (verify.LineReader): the source reads `source`; the result, `result`."""

    def __init__(self, source: str, result: str, score: float):
        self.source, self.result, self.score = source, result, score

    def read(self, rgb, polygons):
        from app.engine.ocr import Reading

        return [Reading(self.source, 0.95, ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)), ()) for _ in polygons]

    def read_frames(self, rgb, frames):
        from app.engine.ocr import Reading

        return [Reading(self.result, self.score, f, ()) for f in frames]


@pytest.mark.parametrize("result,score,still", [
    ("", 0.0, False),  # nothing read: clean, whatever the ink check counted
    ("H", 0.2, False),  # one unsure character of ten: a clean fill's noise
    ("H", 0.9, True),  # one character read surely: still there
    ("Hlowrd", 0.3, True),  # most of it, unsurely: still there
    ("Hello world", 0.99, True),
])
def test_the_reader_decides_whether_a_flagged_line_keeps_its_text(result, score, still):
    """A line the ink check flags is kept as text only where the recognizer still reads some of the
    source line's characters in the result's same frame; else it is clean and not repaired."""
    from app.engine import verify
    from app.engine.masks import Region

    img = np.full((60, 120, 3), 128, np.uint8)
    img[20:36, 20:100:6] = 20
    v = verify.Verifier(img, [Region.box(16, 16, 90, 24)], 4, None, reader=_Says("Hello world", result, score))
    v.keep_looks()
    look = v.look(0)
    assert look is not None
    flagged = {0: verify.RegionCheck(0.3, look.box, look.zone, 0.3)}
    c = v.confirm(img, flagged)[0]
    assert c is not None
    read = verify.characters_read("Hello world", result)
    assert c.read == pytest.approx(read)
    if still:
        assert c.residual == pytest.approx(max(0.3, read)) and c.reachable > verify.REPAIR_ABOVE
    else:
        assert c.residual == 0.0 and c.reachable == 0.0
    clean = {0: verify.RegionCheck(0.01, look.box, look.zone, 0.01)}
    assert v.confirm(img, clean)[0] is clean[0]  # a line the ink check calls clean is not read


def test_characters_read_counts_the_source_characters_still_read_in_order():
    from app.engine.verify import characters_read

    assert characters_read("Call 555-0199", "Call5 r.") == pytest.approx(5 / 12)
    assert characters_read("SALE", "") == 0.0 and characters_read("", "x") == 0.0
    assert characters_read("abc", "xaybzc") == 1.0  # what is read besides does not count against it
    assert characters_read("Hello", "olleh") == pytest.approx(2 / 5)  # "ll": in order only


def test_a_faint_watermark_only_the_reader_sees_is_repaired():
    """A watermark too faint for the contrast measure and the detector, which the first mask barely
    touches: the recognizer still reads it in the result, so its zone is repainted, and nothing of
    it is legible in the answer."""
    from app.engine import pipeline
    from app.engine.ocr import load_ocr

    clean, texted, lines = _reader_scene("watermark", "light", 5502)  # bench/hard_cases.py, seed 500's
    job = pipeline.InpaintInput(image=png_bytes(texted), regions=[ln.region for ln in lines], mask_mode="text",
                                padding=4, whole_padding=2)  # the service's default request
    from app.engine.models import load_model

    reader = hc.Reader(_detector())
    reader.source(texted, lines)
    assert reader.legible(texted)[2]  # the faint line reads in the input
    res = pipeline.inpaint(job, load_model("cv2", "cpu", fallback=None)[0], pipeline.Limits.defaults(),
                           detector=load_ocr())
    v = res.verification
    assert v is not None and v.regions_repaired >= 1
    assert not any(reader.legible(decode(res.data))) or v.residual_max > 0.02


def test_the_reader_reads_at_most_read_max_lines_a_request():
    """A request with many flagged lines costs at most READ_MAX lines' reading (the largest flags
    first); the lines beyond keep the ink check's verdict."""
    from app.engine import verify
    from app.engine.masks import Region

    class Counting(_Says):
        def __init__(self):
            super().__init__("Hello world", "", 0.0)
            self.sources = self.results = 0

        def read(self, rgb, polygons):
            self.sources += len(polygons)
            return super().read(rgb, polygons)

        def read_frames(self, rgb, frames):
            self.results += len(frames)
            return super().read_frames(rgb, frames)

    img = np.full((400, 400, 3), 128, np.uint8)
    regions = [Region.box(10 + 48 * (k % 8), 10 + 48 * (k // 8), 40, 20) for k in range(40)]
    for r in regions:
        x0, y0, x1, y1 = (int(v) for v in r.bounds())
        img[y0 + 5:y1 - 5, x0 + 4:x1 - 4:5] = 20
    reader = Counting()
    v = verify.Verifier(img, regions, 2, None, reader=reader)
    v.keep_looks()
    found = {}
    for i in range(len(regions)):
        look = v.look(i)
        assert look is not None
        found[i] = verify.RegionCheck(0.1 + i / 1000, look.box, look.zone, 0.1)
    got = v.confirm(img, found)
    assert reader.sources == verify.READ_MAX and reader.results == verify.READ_MAX
    read = sorted(i for i, c in got.items() if c is not None and c.read is not None)
    assert read == list(range(40 - verify.READ_MAX, 40))  # the largest flags
    assert all(got[i] is found[i] for i in range(40 - verify.READ_MAX))  # the rest: the ink check's verdict


class _CountingOcr:
    """The service's recognizer, counting what it is asked to read."""

    def __init__(self):
        from app.engine.ocr import load_ocr

        self.ocr, self.reads = load_ocr(), 0

    def read(self, rgb, polygons):
        self.reads += len(polygons)
        return self.ocr.read(rgb, polygons)

    def read_frames(self, rgb, frames):
        self.reads += len(frames)
        return self.ocr.read_frames(rgb, frames)


def _flagged_lines(texted, regions, blind_fill: bool):
    """A verifier over `regions` with the service's detector and a counting recognizer, and every
    line flagged by the ink check (0.3), as covered whole."""
    from app.engine import verify

    reader = _CountingOcr()
    v = verify.Verifier(texted, regions, 4, reader.ocr, reader=reader)
    v.blind_fill = blind_fill
    v.keep_looks()
    found = {}
    for i in range(len(regions)):
        look = v.look(i)
        assert look is not None
        found[i] = verify.RegionCheck(0.3, look.box, look.zone, 0.3)
    return v, found, reader


def _filled(texted, regions, fill):
    """`texted` with its regions (box, padding 2) replaced by `fill`'s pixels."""
    from app.engine import masks

    h, w = texted.shape[:2]
    m = masks.regions_to_mask(regions, w, h, 2) > 0
    out = texted.copy()
    out[m] = fill[m]
    return out


@pytest.mark.parametrize("bg,seed", [("busy", 3), ("photo", 21)])
def test_a_blind_fill_the_detector_no_longer_sees_text_in_is_clean_unread(bg, seed):
    """A model that fills without seeing the letters (cv2, LaMa): where the detector saw a flagged
    line's text in the source and sees none in the result, the line is clean, and the recognizer
    reads nothing; a line left as it was is still seen, read, and keeps its flag."""
    import cv2

    from app.engine import masks

    clean, texted, lines = _reader_scene("plain", bg, seed)
    regions = [ln.region for ln in lines]
    h, w = texted.shape[:2]
    telea = cv2.inpaint(texted, masks.regions_to_mask(regions, w, h, 2), 3, cv2.INPAINT_TELEA)
    v, found, reader = _flagged_lines(texted, regions, blind_fill=True)
    got = v.confirm(_filled(texted, regions, telea), found)
    assert all(c is not None and c.residual == 0.0 and c.reachable == 0.0 for c in got.values())
    assert reader.reads == 0  # the detector judged every line: no recognizer pass
    v, found, reader = _flagged_lines(texted, regions, blind_fill=True)
    got = v.confirm(texted, found)  # the text as it was
    assert all(c is not None and c.residual >= 0.3 for c in got.values())
    assert reader.reads > 0


def test_a_fill_that_saw_the_letters_is_judged_by_the_recognizer():
    """A fill that saw the letters (not an erase model) and drew them back blurred in place, which
    the detector may miss: the recognizer reads each flagged line, and a line it still reads keeps
    its flag."""
    import cv2

    from app.engine.models import fills_blind, load_model

    clean, texted, lines = _reader_scene("plain", "photo", 21)
    regions = [ln.region for ln in lines]
    out = _filled(texted, regions, cv2.GaussianBlur(texted, (0, 0), 4))
    v, found, reader = _flagged_lines(texted, regions, blind_fill=False)
    got = v.confirm(out, found)
    assert reader.reads >= 2 * len(regions)  # every line read, in the source and in the result
    legible = still_legible(out, clean, texted, lines)
    assert any(legible)
    for i, still in enumerate(legible):
        c = got[i]
        assert c is not None and (not still or c.residual > 0.02)
    assert fills_blind(load_model("cv2", "cpu", fallback=None)[0]) and not fills_blind(_Ghosting())


class _AlwaysGhosting:
    """A model that sees what its mask covers and, every time it is asked, leaves each letter as a
    blurred blob in its place (a diffusion model at a low strength might)."""

    def __call__(self, rgb, mask, params):
        import cv2

        return cv2.GaussianBlur(rgb, (0, 0), 2.5)


def test_a_zone_repainted_whole_by_a_model_that_sees_the_letters_is_read():
    """A repair repaints a flagged line's whole zone, where the ink check cannot tell a ghost from
    the scene carried in (it counts nothing there: for a model that fills blind, nothing there
    can be the letters). A model that saw the letters may draw them back there: the recognizer
    reads every such line, and a line still legible is reported, never called clean."""
    from app.engine import pipeline
    from app.engine.ocr import load_ocr

    clean, texted, lines = _reader_scene("plain", "darkbusy", 5)
    job = pipeline.InpaintInput(image=png_bytes(texted), regions=[ln.region for ln in lines], mask_mode="box",
                                padding=2)
    res = pipeline.inpaint(job, _AlwaysGhosting(), pipeline.Limits.defaults(), detector=load_ocr())
    v = res.verification
    assert v is not None and v.regions_repaired == len(lines)  # every line flagged, its zone repainted
    out = decode(res.data)
    assert any(still_legible(out, clean, texted, lines))  # the blobs still read
    assert v.residual_max > 0.02, v


def _hello_line(seed: int):
    """A dark "Hello" (28 px) on a light, lightly noisy background: the image, its dark pixels, their
    bounds (x0, y0, x1, y1) and the region round them (2 px)."""
    from PIL import Image, ImageDraw, ImageFont

    from app.engine.masks import Region

    rng = np.random.default_rng(seed)
    im = Image.fromarray(np.clip(200 + rng.normal(0, 3, (120, 260, 3)), 0, 255).astype(np.uint8))
    ImageDraw.Draw(im).text((40, 40), "Hello", font=ImageFont.truetype(hc.fonts()["regular"][0], 28),
                           fill=(20, 20, 20))
    img = np.asarray(im).copy()
    dark = (img.astype(int).sum(axis=2) < 300).astype(np.uint8)
    ys, xs = np.nonzero(dark)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    return img, dark, (x0, y0, x1, y1), Region.box(x0 - 2, y0 - 2, x1 - x0 + 4, y1 - y0 + 4)


def test_a_repair_aims_at_the_ink_the_first_mask_left_out():
    """A dot of the text's ink just past the padding, too far from the strokes for the first mask to
    grow over it (it grows over ink that touches it) and too little to repaint the line whole, but
    more than the check calls clean: the repair repaints that ink, grown by a stroke's width, not
    the line's whole zone; the answer is clean."""
    from app.engine import pipeline
    from app.engine.masks import regions_to_mask
    from app.engine.models import load_model
    from app.engine.ocr import load_ocr

    img, _, (x0, y0, x1, y1), region = _hello_line(3)
    dot = (slice(y0 + 8, y0 + 13), slice(x1 + 8, x1 + 12))  # past region + padding 4, within its halo
    img[dot] = (20, 20, 20)
    model, ocr, outs = load_model("cv2", "cpu", fallback=None)[0], load_ocr(), {}
    for check in (False, True):
        job = pipeline.InpaintInput(image=png_bytes(img), regions=[region], mask_mode="text", padding=4,
                                    verify=check)
        res = pipeline.inpaint(job, model, pipeline.Limits.defaults(), detector=ocr)
        outs[check] = decode(res.data)
    v = res.verification
    assert v is not None and v.regions_repaired == 1 and v.residual_max < 0.02, v
    assert (outs[True][dot] > 150).all()  # the dot is gone
    repaired = (outs[True] != outs[False]).any(axis=2) & (regions_to_mask([region], 260, 120, 4) == 0)
    near = np.zeros(repaired.shape, bool)
    near[dot[0].start - 8:dot[0].stop + 8, dot[1].start - 8:dot[1].stop + 8] = True
    assert repaired.any() and not (repaired & ~near).any()  # the repair stayed by the dot


def test_ink_left_out_past_what_the_check_passes_is_masked_before_the_model():
    """A stroke mask leaving out 2-5 % of a line's ink (more than the check after the model
    passes) grows over that ink before the model runs, so that the line needs no repair; nowhere
    else does the mask grow (a pixel round the whole line would repaint clean surroundings)."""
    from app.engine import pipeline, verify
    from app.engine.masks import Region

    rgb = np.zeros((120, 320, 3), np.uint8)
    rgb[:] = (200, 180, 160)
    for x in range(60, 260, 20):  # ten strokes, 8 px wide: a line of "letters"
        rgb[40:80, x:x + 8] = (20, 20, 20)
    checker = verify.Verifier(rgb, [Region.box(50, 30, 220, 60)], 4, None)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    mask[40:80, 60:260] = (rgb[40:80, 60:260] < 100).all(axis=2) * 255
    mask[40:80, 246:248] = 0  # a sliver of the last stroke left out: a twentieth of its ink
    before = mask.copy()
    assert verify.REPAIR_ABOVE < checker.uncovered_share(0, mask) < verify.UNCOVERED_GROW
    pipeline._cover_left_ink(checker, mask, 0)
    assert checker.uncovered_share(0, mask) <= verify.REPAIR_ABOVE
    grown = (mask > 0) & (before == 0)
    near_cut = np.zeros_like(grown)
    near_cut[30:90, 236:258] = True
    assert grown.any() and not grown[~near_cut].any()


def test_a_residual_judged_clean_never_reads_as_one_to_act_on():
    """API.md: under 0.02 the text is gone as far as the service can tell. A region under the repair
    threshold is not repaired, so its residual must not read 0.02 (rounded up) either."""
    from app.engine import verify

    assert verify.reported(0.0199) < verify.REPAIR_ABOVE
    assert verify.reported(0.0205) == verify.REPAIR_ABOVE
    assert [verify.reported(x) for x in (0.0, 0.029, 0.5, 1.0)] == [0.0, 0.029, 0.5, 1.0]


def test_a_ghost_in_a_stroke_mask_s_fill_is_repaired_as_the_strokes_grown_not_the_zone():
    """Where the fill of a mask in the glyphs' shape shows them again, the first repair repaints the
    glyphs' mask grown by a stroke's width (the rim the fill drew them from with it), not the line's
    whole zone: the answer is clean, and the zone's pixels away from the letters are untouched."""
    import cv2

    from app.engine import pipeline
    from app.engine.ocr import load_ocr

    img, dark, (x0, y0, x1, y1), region = _hello_line(4)
    model = _Ghosting()
    job = pipeline.InpaintInput(image=png_bytes(img), regions=[region], mask_mode="text", padding=4)
    res = pipeline.inpaint(job, model, pipeline.Limits.defaults(), detector=load_ocr())
    v = res.verification
    assert v is not None and v.regions_repaired == 1 and v.residual_max < 0.02, v
    assert model.calls == 2  # one repair cleared it
    out = decode(res.data)
    near = cv2.dilate(dark, np.ones((21, 21), np.uint8)) > 0  # the letters, 10 px round
    zone = np.zeros(dark.shape, bool)
    zone[y0 - 2 - 4 - 6:y1 + 2 + 4 + 6, x0 - 2 - 4 - 6:x1 + 2 + 4 + 6] = True  # the box + padding + halo
    changed = (out != img).any(axis=2)
    assert (zone & ~near).sum() > 200  # a zone repair would have touched these
    assert not (changed & ~near).any()
