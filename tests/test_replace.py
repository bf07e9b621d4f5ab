"""Replacing a line's text (issue 28): POST /api/v1/replace-text and -json against the real app
(cv2), on lines of known style drawn with Pillow (bench/style_lines.py). What a caller relies on:
the old text is gone, the new text is there (read back by the service's own recognizer), in the
old look, inside the old line's box; nothing beyond the box grown by the reach changes; a request
the service cannot honour is a 422 that names the line and the field, and nothing is done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.engine import fonts, render
from app.engine.ocr import load_ocr
from app.engine.ocr.describe import Outline, Shadow, describe
from app.engine.pipeline import InpaintInput
from app.geometry import Region
from app.tasks.redis.store import decode_jobs, encode_jobs
from bench.style_lines import CJK, Look, delta_e, styled_line
from tests.support import b64, decode, photo, png_bytes

PAPER = (236, 230, 212)
PADDING = 4  # the default padding: the reach of a region's repaint, and of its new text
MAX_HALO = 12  # API.md: a verified region's repaint reaches at most this much past its padding


@pytest.fixture(scope="module")
def ocr():
    d = load_ocr()
    assert d is not None and d.reader is not None, "the PP-OCRv4 models in rapidocr_onnxruntime are missing"
    return d


def scene(look: Look, size=(900, 260), bg=PAPER, at=(30, 30)):
    img = np.full((size[1], size[0], 3), bg, np.uint8) if isinstance(bg, tuple) else bg
    return styled_line(img, look, at)


def region_of(points) -> dict:
    return {"points": [list(p) for p in points]}


def replace(client, img, lines, path="/api/v1/replace-text", **options):
    return client.post(path, json={"image": b64(png_bytes(img)), "lines": lines, **options})


def read_back(ocr, rgb, points) -> str:
    return ocr.read(rgb, [tuple(tuple(p) for p in points)])[0].text.strip()


def ink_of(rgb, colour, within: np.ndarray, tol=40.0) -> np.ndarray:
    """Pixels near `colour` (delta E under `tol`) inside `within`."""
    import cv2

    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    want = cv2.cvtColor(np.array([[colour]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0]
    return (np.linalg.norm(lab - want, axis=2) < tol) & within


def box_mask(points, shape, grow=0) -> np.ndarray:
    from app.engine.masks import regions_to_mask

    return regions_to_mask([Region(tuple(tuple(p) for p in points))], shape[1], shape[0], grow) > 0


def test_old_text_gone_new_text_read_back_in_the_old_colour(client, ocr):
    red = (200, 30, 30)
    img, pts = scene(Look("Grand Opening Today", size=40, color=red))
    assert read_back(ocr, img, pts) == "Grand Opening Today"
    r = replace(client, img, [{"region": region_of(pts), "text": "Closing Soon"}])
    assert r.status_code == 200, r.text
    out = decode(r.content)
    assert read_back(ocr, out, pts) == "Closing Soon"
    assert r.headers["X-Lines-Written"] == "1" and r.headers["X-Text-Shrunk"] == "false"
    assert r.headers["X-Text-Truncated"] == "false"
    assert abs(float(r.headers["X-Font-Sizes"]) - 40) <= 4  # the old size kept
    inside = box_mask(pts, img.shape)
    new_ink = ink_of(out, red, inside)
    assert new_ink.sum() > 200  # written in the old colour
    # the old glyphs where the new ones are not: background again
    import cv2

    old_ink = ink_of(img, red, inside)
    left = old_ink & ~(cv2.dilate(new_ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    assert ink_of(out, red, left).sum() <= 0.02 * left.sum()
    assert float(r.headers["X-Residual-Text"]) < 0.02


def test_nothing_changes_beyond_the_box_grown_by_the_reach(client):
    img, pts = scene(Look("Harbour lights glow", size=36, color=(20, 20, 20), outline=(2, (250, 250, 250)),
                          shadow=((3, 3), (90, 90, 90))), bg=photo(900)[:260])
    r = replace(client, img, [{"region": region_of(pts), "text": "Night market opens at nine tonight"}])
    assert r.status_code == 200, r.text
    out = decode(r.content)
    changed = np.any(out != img, axis=2)
    assert changed.any()
    assert not (changed & ~box_mask(pts, img.shape, PADDING + MAX_HALO)).any()
    # the new text (written after the removal) stays inside the box grown by the padding
    j = replace(client, img, [{"region": region_of(pts), "text": "Night market opens at nine tonight"}],
                path="/api/v1/replace-text-json").json()
    assert j["lines"][0]["shrunk"] is True


def test_a_shorter_text_keeps_its_size_and_starts_where_the_old_one_did(client):
    img, pts = scene(Look("Welcome to the harbour", size=32, color=(20, 60, 160)))
    r = replace(client, img, [{"region": region_of(pts), "text": "Hi"}], path="/api/v1/replace-text-json")
    line = r.json()["lines"][0]
    assert line["shrunk"] is False and abs(line["font_size"] - line["wanted_size"]) <= 0.5  # whole pixels
    assert abs(line["font_size"] - 32) <= 3
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "Hi"}]).content)
    inside = box_mask(pts, img.shape)
    old_cols = np.flatnonzero(ink_of(img, (20, 60, 160), inside).any(axis=0))
    new_cols = np.flatnonzero(ink_of(out, (20, 60, 160), inside).any(axis=0))
    assert abs(int(new_cols[0]) - int(old_cols[0])) <= 3  # align: start
    assert new_cols[-1] - new_cols[0] < 0.3 * (old_cols[-1] - old_cols[0])


def test_align_end_ends_where_the_old_text_ended(client):
    img, pts = scene(Look("Welcome to the harbour", size=32, color=(20, 60, 160)))
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "Hi", "align": "end"}]).content)
    inside = box_mask(pts, img.shape)
    old_cols = np.flatnonzero(ink_of(img, (20, 60, 160), inside).any(axis=0))
    new_cols = np.flatnonzero(ink_of(out, (20, 60, 160), inside).any(axis=0))
    assert abs(int(new_cols[-1]) - int(old_cols[-1])) <= 3


def test_a_given_style_replaces_the_measure(client):
    img, pts = scene(Look("Fresh bread daily", size=40, color=(30, 30, 30)))
    style = {"text_color": "#1E90FF", "outline": {"color": "#ffd700", "width": 3}}
    r = replace(client, img, [{"region": region_of(pts), "text": "Fresh fish", "style": style}],
                path="/api/v1/replace-text-json")
    written = r.json()["lines"][0]["style"]
    assert written["text_color"] == "#1e90ff" and written["outline"] == {"color": "#ffd700", "width": 3.0}
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "Fresh fish", "style": style}]).content)
    inside = box_mask(pts, img.shape, PADDING)
    assert ink_of(out, (0x1E, 0x90, 0xFF), inside, 10).sum() > 100
    assert ink_of(out, (0xFF, 0xD7, 0x00), inside, 10).sum() > 100  # the outline, in its colour
    assert ink_of(out, (30, 30, 30), inside, 10).sum() < 20  # none of the old ink


def test_outline_and_shadow_are_written_as_measured(client):
    look = Look("Big Sale", size=56, color=(255, 220, 0), outline=(2, (24, 24, 28)))
    img, pts = scene(look)
    r = replace(client, img, [{"region": region_of(pts), "text": "New Deal"}], path="/api/v1/replace-text-json")
    style = r.json()["lines"][0]["style"]
    assert style["outline"] is not None and delta_e(style["outline"]["color"], (24, 24, 28)) < 10
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "New Deal"}]).content)
    inside = box_mask(pts, img.shape, PADDING)
    assert ink_of(out, (24, 24, 28), inside, 12).sum() > 150 and ink_of(out, (255, 220, 0), inside, 12).sum() > 150
    shadowed, spts = scene(Look("Night Show", size=48, color=(250, 250, 250), shadow=((3, 3), (70, 70, 70))),
                           bg=(30, 60, 120))
    r = replace(client, shadowed, [{"region": region_of(spts), "text": "Day Show"}],
                path="/api/v1/replace-text-json")
    assert r.json()["lines"][0]["style"]["shadow"] is not None


def test_a_turned_line_is_written_at_its_angle(client, ocr):
    img, pts = scene(Look("Harbour lights", size=40, color=(20, 20, 20), angle=20), size=(700, 400), at=(60, 60))
    r = replace(client, img, [{"region": region_of(pts), "text": "Market square"}])
    out = decode(r.content)
    assert read_back(ocr, out, pts) == "Market square"
    assert abs(describe(out, Region(tuple(tuple(p) for p in pts))).angle - 20) <= 3


def test_cjk_is_written_in_a_font_that_holds_it_and_read_back(client, ocr):
    """Chinese: the recognizer (PP-OCRv4, a Chinese model) reads hanzi; it drops most kana even
    drawn by Pillow itself, so a Japanese line is checked by its face, not read back."""
    img, pts = scene(Look("中文字体测试", size=40, font=CJK, color=(20, 20, 120)))
    r = replace(client, img, [{"region": region_of(pts), "text": "新的文字内容"}], path="/api/v1/replace-text-json")
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["font"] == "Noto Sans CJK SC Regular"
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "新的文字内容"}]).content)
    assert read_back(ocr, out, pts) == "新的文字内容"
    kana, kpts = scene(Look("日本語の文字です", size=40, font=CJK, color=(20, 20, 120)))
    r = replace(client, kana, [{"region": region_of(kpts), "text": "新しい文字です"}], path="/api/v1/replace-text-json")
    assert r.json()["lines"][0]["font"] == "Noto Sans CJK JP Regular"  # kana: the Japanese face


def test_vertical_cjk_stays_vertical(client):
    img, pts = scene(Look("縦書きの文字", size=40, font=CJK, color=(20, 20, 20), vertical=True), size=(200, 420))
    r = replace(client, img, [{"region": region_of(pts), "text": "新しい言葉"}], path="/api/v1/replace-text-json")
    assert r.json()["lines"][0]["style"]["vertical"] is True
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "新しい言葉"}]).content)
    ink = ink_of(out, (20, 20, 20), box_mask(pts, img.shape, PADDING))
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows[-1] - rows[0] > 3 * (cols[-1] - cols[0])  # a column, top to bottom


def test_an_empty_text_removes_and_writes_nothing(client):
    img, pts = scene(Look("Remove me", size=40, color=(200, 30, 30)))
    r = replace(client, img, [{"region": region_of(pts), "text": ""}])
    assert r.status_code == 200 and r.headers["X-Lines-Written"] == "0" and r.headers["X-Font-Sizes"] == "-"
    out = decode(r.content)
    assert ink_of(out, (200, 30, 30), box_mask(pts, img.shape, PADDING)).sum() < 20


def test_multipart_takes_lines_as_a_json_part(client):
    img, pts = scene(Look("Open late", size=40))
    r = client.post("/api/v1/replace-text", files={"image": ("a.png", png_bytes(img), "image/png")},
                    data={"lines": json.dumps([{"region": region_of(pts), "text": "Closed"}]), "output_format": "jpeg"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.headers["X-Lines-Written"] == "1"


@pytest.mark.parametrize("lines,code,loc", [
    ([], "invalid_input", ["lines"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "\ue000"}], "unrenderable_text",
     ["lines", 0, "text"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "ok"},
      {"region": {"x": 5000, "y": 10, "width": 50, "height": 20}, "text": "ok"}], "region_outside_image",
     ["lines", 1, "region"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "ok", "style": {"text_color": "red"}}],
     "invalid_input", ["lines", 0, "style", "text_color"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "ok", "style": {"colour": "#ffffff"}}],
     "invalid_input", ["lines", 0, "style", "colour"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "ok", "style": {"font": "Comic Sans"}}],
     "unknown_font", ["lines", 0, "style", "font"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "two\nlines"}], "invalid_input",
     ["lines", 0, "text"]),
    ([{"region": {"x": 10, "y": 10, "width": 50, "height": 20}, "text": "ok", "style": {"outline": {"color": "#000000"}}}],
     "invalid_input", ["lines", 0, "style", "outline", "width"]),
    ([{"region": {"x": 10, "y": 10, "width": -5, "height": 20}, "text": "ok"}], "invalid_region", None),
])
def test_what_cannot_be_honoured_is_a_422_naming_the_line(client, lines, code, loc):
    img, _ = scene(Look("Some text", size=30))
    r = replace(client, img, lines)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == code, body
    if loc is not None:
        assert any(e["loc"] == loc for e in body["errors"]), body
    else:
        assert "lines[0].region" in body["detail"]
    assert client.get("/api/v1/health").status_code == 200  # and the service keeps serving


def test_fonts_lists_the_installed_faces(client):
    faces = client.get("/api/v1/fonts").json()["fonts"]
    kinds = {f["kind"] for f in faces}
    assert {"sans", "serif", "sans-cjk"} <= kinds
    assert any(f["family"] == "DejaVu Serif" and f["bold"] for f in faces)
    assert "replace-text" in client.get("/api/v1/info").json()["capabilities"]


def test_pick_follows_the_documented_order():
    book = fonts.font_book()
    assert book.pick("Hello").name == "DejaVu Sans"
    assert book.pick("Hello", "serif", bold=True).name == "DejaVu Serif Bold"
    assert book.pick("Hello 世界").name == "Noto Sans CJK SC Regular"  # Latin alone cannot: CJK, Chinese
    assert book.pick("안녕하세요", "serif").name == "Noto Serif CJK KR Regular"
    assert book.pick("\ue000") is None


def test_an_operators_font_in_fonts_dir_is_listed_and_used(tmp_path):
    from fontTools.ttLib import TTFont

    src = next(f for f in fonts.font_book().faces if f.name == "DejaVu Serif").path
    font = TTFont(src)
    for rec in font["name"].names:
        if rec.nameID in (1, 4, 16):
            rec.string = "House Serif"
    font.save(str(tmp_path / "HouseSerif.ttf"))
    shutil.copy(src, tmp_path / "not-a-font.txt")
    book = fonts.font_book(str(tmp_path))
    own = [f for f in book.faces if f.kind == "own"]
    assert [f.family for f in own] == ["House Serif"]
    assert book.known("house serif") and book.pick("Hello", "House Serif").family == "House Serif"
    assert book.pick("Hello").family == "DejaVu Sans"  # sans stays the default


def test_replace_jobs_travel_to_a_worker_as_they_were():
    """ROLE=api hands the job to a worker through Redis as JSON: the lines come back typed."""
    line = render.NewText(Region.box(1, 2, 30, 10), "hi", render.StyleWish(
        outline=Outline("#000000", 2.0), shadow=None, angle=5.0, given=("outline", "shadow", "angle")), "center")
    job = InpaintInput(image=b"\x89PNG", regions=[line.region], write=[line])
    assert decode_jobs(encode_jobs([job])) == [job]
    assert render.look_of(describe(np.full((40, 60, 3), 255, np.uint8), line.region), line.style).shadow is None


def test_written_look_keeps_the_measure_where_nothing_was_given():
    measured = describe(*_one_line())
    wished = render.look_of(measured, render.StyleWish(text_color="#00ff00", shadow=Shadow("#000000", (1, 1)),
                                                       given=("text_color",)))
    assert wished.text_color == "#00ff00" and wished.shadow is None and wished.font_size == measured.font_size


def _one_line():
    img, pts = scene(Look("Measured", size=30))
    return img, Region(tuple(tuple(p) for p in pts))


def test_the_written_text_is_inside_a_region_even_without_ink_to_measure(client, ocr):
    """A region over a blank area: no old text to measure; the size fills the box, black on light."""
    img = np.full((200, 600, 3), 245, np.uint8)
    r = replace(client, img, [{"region": {"x": 40, "y": 60, "width": 300, "height": 50}, "text": "Placeholder"}])
    assert r.status_code == 200
    out = decode(r.content)
    changed = np.any(out != img, axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= 40 - PADDING and xs.max() < 340 + PADDING and ys.min() >= 60 - PADDING and ys.max() < 110 + PADDING
    assert read_back(ocr, out, [(40, 60), (340, 60), (340, 110), (40, 110)]) == "Placeholder"
    assert out[changed].mean() < 120  # dark ink on a light background


def test_the_api_md_documents_the_routes():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "API.md").read_text()
    for needle in ("POST /api/v1/replace-text", "/api/v1/replace-text-json", "GET /api/v1/fonts", "unrenderable_text",
                   "region_outside_image", "unknown_font", "FONTS_DIR"):
        assert needle in doc, needle


@pytest.mark.parametrize("line", [
    {"region": {"x": -5_000_000, "y": 10, "width": 10_000_000, "height": 50}, "text": "W" * 1000,
     "style": {"font_size": 2000}},
    {"region": {"x": 10, "y": -5_000_000, "width": 50, "height": 10_000_000}, "text": "字" * 1000,
     "style": {"font_size": 2000, "vertical": True}},
    {"region": {"points": [[-9e6, -9e6], [9e6, -9e6], [9e6, 9e6]]}, "text": "x" * 1000},
])
def test_huge_regions_and_sizes_are_measured_within_the_image_in_bounded_memory(client, line):
    """Coordinates far off the image and the largest sizes the schema allows: the line is measured
    and laid out on its part of the image (a canvas of the image's size at most); a thousand
    characters fit it at no size down to the least: written at it, cut at the reach, and said."""
    img = np.full((300, 400, 3), 200, np.uint8)
    r = replace(client, img, [line], path="/api/v1/replace-text-json")
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["truncated"] is True and r.json()["lines"][0]["font_size"] == 4


def test_a_text_too_long_at_any_size_is_cut_and_said_and_a_small_size_is_never_enlarged(client):
    img = np.full((120, 300, 3), 230, np.uint8)
    box = {"x": 20, "y": 20, "width": 100, "height": 20}
    r = replace(client, img, [{"region": box, "text": "abcdefghij" * 6, "style": {"font_size": 3}}])
    assert r.status_code == 200 and r.headers["X-Text-Truncated"] == "true"
    changed = np.any(decode(r.content) != img, axis=2)
    assert not changed[:, :20 - PADDING].any() and not changed[:, 120 + PADDING:].any()  # cut at the reach
    r = replace(client, img, [{"region": box, "text": "tiny", "style": {"font_size": 3}}], path="/api/v1/replace-text-json")
    line = r.json()["lines"][0]
    assert line["font_size"] == 3 and line["shrunk"] is False and line["truncated"] is False  # as given


def test_a_turned_column_leans_the_way_it_was_turned(client):
    """describe's angle of a vertical line and the writing share one sign rule: measure, write,
    measure again gives the angle drawn."""
    img, pts = scene(Look("中文字幕测试", size=40, font=CJK, color=(20, 20, 20), vertical=True, angle=20),
                     size=(420, 460), at=(60, 30))
    region = Region(tuple(tuple(p) for p in pts))
    measured = describe(img, region)
    assert measured.vertical and abs(measured.angle - 20) <= 3, measured
    r = replace(client, img, [{"region": region_of(pts), "text": "新的字幕内容"}], path="/api/v1/replace-text-json")
    assert r.status_code == 200, r.text
    out = decode(replace(client, img, [{"region": region_of(pts), "text": "新的字幕内容"}]).content)
    again = describe(out, region)
    assert again.vertical and abs(again.angle - 20) <= 3, again
    changed = np.any(out != img, axis=2)
    assert not (changed & ~box_mask(pts, img.shape, PADDING + MAX_HALO)).any()


def test_a_style_field_given_as_null_is_measured_but_a_null_outline_is_none(client):
    look = Look("Big Sale", size=56, color=(255, 220, 0), outline=(2, (24, 24, 28)), angle=10)
    img, pts = scene(look, size=(700, 300))
    style = {"angle": None, "font_size": None, "text_color": None, "vertical": None, "bold": None, "font": None}
    r = replace(client, img, [{"region": region_of(pts), "text": "New Deal", "style": style}],
                path="/api/v1/replace-text-json")
    assert r.status_code == 200, r.text
    written = r.json()["lines"][0]["style"]
    assert abs(written["angle"] - 10) <= 3 and written["outline"] is not None  # measured
    r = replace(client, img, [{"region": region_of(pts), "text": "New Deal", "style": {"outline": None}}],
                path="/api/v1/replace-text-json")
    assert r.json()["lines"][0]["style"]["outline"] is None  # none, as asked
