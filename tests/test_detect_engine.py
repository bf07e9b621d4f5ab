"""The offline text detector (app.engine.ocr.detector) on text rendered here with Pillow.

Glyph pixels are known from the render (the text alone, drawn on a blank layer), so each test
checks that the detected polygons cover them. CJK needs Debian's fonts-noto-cjk: without it the
CJK test fails, on purpose.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.engine.masks import Region
from app.engine.ocr import Detection, TextDetector, default_model_path, load_detector
from app.engine.ocr.detector import MODEL_FILE

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian: fonts-noto-cjk
CJK_SC, CJK_JP = 2, 0  # face indexes in the collection: Simplified Chinese, Japanese


def latin_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path = DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)  # Pillow's bundled scalable font


def cjk_font(size: int, index: int) -> ImageFont.FreeTypeFont:
    assert CJK_FONT.is_file(), f"{CJK_FONT} is missing: install the Debian package fonts-noto-cjk"
    return ImageFont.truetype(str(CJK_FONT), size, index=index)


def draw_text(img: np.ndarray, glyphs: np.ndarray, xy, text: str, font, fill, angle: float = 0.0) -> np.ndarray:
    """Render `text` onto img (in place) at top-left xy, rotated by `angle` degrees; its glyph
    pixels (alpha >= 128) are added to `glyphs`. Returns this line's glyph mask."""
    x0, y0, x1, y1 = font.getbbox(text)
    layer = Image.new("RGBA", (x1 - x0 + 8, y1 - y0 + 8), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((4 - x0, 4 - y0), text, font=font, fill=tuple(fill) + (255,))
    if angle:
        layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
    px, py = xy
    h, w = layer.height, layer.width
    assert py + h <= img.shape[0] and px + w <= img.shape[1], "text does not fit the test image"
    pil = Image.fromarray(img)
    pil.paste(layer, (px, py), layer)
    img[...] = np.asarray(pil)
    line = np.zeros(img.shape[:2], bool)
    line[py:py + h, px:px + w] = np.asarray(layer)[:, :, 3] >= 128
    glyphs |= line
    return line


def canvas(h: int, w: int, colour) -> tuple[np.ndarray, np.ndarray]:
    return np.full((h, w, 3), colour, np.uint8), np.zeros((h, w), bool)


def cover(dets, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for d in dets:
        pts = d.points if isinstance(d, (Detection, Region)) else d
        cv2.fillPoly(m, [np.round(np.asarray(pts, np.float64) * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


def recall(dets, glyphs: np.ndarray) -> float:
    return float((cover(dets, *glyphs.shape) & glyphs).sum() / glyphs.sum())


@pytest.fixture(scope="module")
def det() -> TextDetector:
    d = load_detector()
    assert d is not None, "the PP-OCRv4 model in rapidocr_onnxruntime or onnxruntime is missing"
    return d


def test_model_ships_in_the_wheel():
    path = default_model_path(MODEL_FILE)
    assert path and path.endswith("ch_PP-OCRv4_det_infer.onnx") and Path(path).is_file()


def test_latin_dark_on_light(det):
    img, glyphs = canvas(160, 720, (255, 255, 255))
    draw_text(img, glyphs, (20, 30), "Summer sale: 50% off everything", latin_font(34), (10, 10, 10))
    draw_text(img, glyphs, (20, 100), "Open daily 9am - 5pm", latin_font(20), (60, 60, 60))
    found = det.detect(img)
    assert len(found) == 2
    assert recall(found, glyphs) >= 0.98
    for d in found:
        assert len(d.points) >= 4 and 0 < d.score <= 1
        bb = d.bounding_box()
        assert set(bb) == {"x", "y", "width", "height"} and all(isinstance(v, float) for v in bb.values())
        assert bb["width"] > 3 * bb["height"]  # a text line, not a word blob


def test_light_on_dark(det):
    img, glyphs = canvas(140, 640, (20, 25, 40))
    draw_text(img, glyphs, (24, 40), "CONFIDENTIAL draft 2024", latin_font(40, bold=True), (240, 240, 230))
    found = det.detect(img)
    assert len(found) == 1
    assert recall(found, glyphs) >= 0.98


def test_cjk_chinese_and_japanese(det):
    img, glyphs = canvas(220, 640, (250, 248, 240))
    zh = draw_text(img, glyphs, (20, 20), "欢迎光临 限时特价五折优惠", cjk_font(36, CJK_SC), (20, 20, 20))
    ja = draw_text(img, glyphs, (20, 120), "東京タワーへようこそ", cjk_font(40, CJK_JP), (150, 0, 0))
    found = det.detect(img)
    assert recall(found, zh) >= 0.98
    assert recall(found, ja) >= 0.98
    assert recall(found, glyphs) >= 0.98


def test_rotated_text_gets_a_rotated_polygon(det):
    img, glyphs = canvas(420, 640, (235, 235, 235))
    draw_text(img, glyphs, (40, 60), "Rotated text line here", latin_font(36), (0, 0, 90), angle=25)
    found = det.detect(img)
    assert len(found) == 1
    assert recall(found, glyphs) >= 0.98
    angles = [np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])) % 180
              for a, b in zip(found[0].points, found[0].points[1:] + found[0].points[:1])]
    assert any(abs(a - 155) < 6 or abs(a - 25) < 6 for a in angles)  # the sides follow the text
    # a tight rotated polygon, far smaller than the upright box around the tilted line
    ys, xs = np.nonzero(glyphs)
    upright = (xs.max() - xs.min()) * (ys.max() - ys.min())
    assert cover(found, *glyphs.shape).sum() < 0.6 * upright


def test_text_on_a_photograph(det):
    from skimage import data

    img = np.ascontiguousarray(data.astronaut())  # 512 x 512
    glyphs = np.zeros(img.shape[:2], bool)
    draw_text(img, glyphs, (30, 20), "Hello from orbit", latin_font(36, bold=True), (255, 255, 255))
    draw_text(img, glyphs, (40, 440), "你好 世界", cjk_font(40, CJK_SC), (255, 230, 0))
    found = det.detect(img)
    assert recall(found, glyphs) >= 0.98
    assert len(found) <= 3


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_photograph_without_text_gives_nothing(det, name):
    from skimage import data

    assert det.detect(getattr(data, name)()) == []


def test_no_text_at_all(det):
    img, _ = canvas(300, 400, (128, 128, 128))
    assert det.detect(img) == []
    assert det(img) == []


def test_large_image_is_detected_at_bounded_size_and_mapped_back(det):
    img, glyphs = canvas(1200, 2400, (245, 245, 245))
    draw_text(img, glyphs, (100, 200), "Large image, big text line", latin_font(96), (0, 0, 0))
    draw_text(img, glyphs, (1300, 900), "second line", latin_font(64), (0, 60, 0), angle=-20)
    calls = []
    run = det._session.run

    def spy(out, feed):
        calls.append(next(iter(feed.values())).shape)
        return run(out, feed)

    det._session.run = spy
    try:
        found = det.detect(img)
    finally:
        del det._session.run
    # two bounded passes: the whole image at max_side, and once more at small_text_side for small text
    bound = max(det.max_side, det.small_text_side)
    assert len(calls) in (1, 2) and all(max(s[2:]) <= bound and s[2] % 32 == 0 and s[3] % 32 == 0 for s in calls)
    assert max(calls[0][2:]) <= det.max_side
    assert len(found) == 2
    assert recall(found, glyphs) >= 0.98
    for d in found:
        assert all(0 <= x <= 2400 and 0 <= y <= 1200 for x, y in d.points)


def test_within_restricts_to_the_regions(det):
    img, glyphs = canvas(400, 800, (255, 255, 255))
    top = draw_text(img, glyphs, (40, 40), "Keep this line of text", latin_font(32), (0, 0, 0))
    bottom = draw_text(img, glyphs, (40, 300), "Remove that line of text", latin_font(32), (0, 0, 0))
    ys, xs = np.nonzero(bottom)
    region = Region.box(float(xs.min() - 10), float(ys.min() - 10), float(np.ptp(xs) + 20), float(np.ptp(ys) + 20))
    found = det.detect(img, within=[region])
    assert len(found) == 1
    assert recall(found, bottom) >= 0.98
    assert recall(found, top) == 0.0
    # a region over part of a line: the line is found there and some way beyond (the crop's
    # margin), so padding around the region is covered too; the caller cuts it to the region
    part = Region(((300.0, 290.0), (360.0, 290.0), (360.0, 340.0), (300.0, 340.0)))
    found = det.detect(img, within=[part])
    assert len(found) == 1
    near = bottom.copy()
    near[:, : 300 - 32] = False
    near[:, 360 + 32:] = False
    assert recall(found, near) >= 0.98
    # nothing inside the region
    assert det.detect(img, within=[Region.box(600, 150, 150, 100)]) == []
    assert det.detect(img, within=[]) == []
    # two regions: both lines, from two crops
    ys, xs = np.nonzero(top)
    around_top = Region.box(float(xs.min() - 4), float(ys.min() - 4), float(np.ptp(xs) + 8), float(np.ptp(ys) + 8))
    both = det.detect(img, within=[region, around_top])
    assert len(both) == 2 and recall(both, glyphs) >= 0.98


def test_call_returns_region_polygons(det):
    img, glyphs = canvas(120, 520, (255, 255, 255))
    draw_text(img, glyphs, (20, 30), "Region polygons", latin_font(36), (0, 0, 0))
    regions = det(img)
    assert len(regions) == 1
    r = regions[0]
    assert isinstance(r, Region) and r.is_box is False and len(r.points) >= 4
    assert all(isinstance(c, float) for p in r.points for c in p)
    assert recall(regions, glyphs) >= 0.98
    assert det(img, within=[Region.box(0, 0, 520, 120)]) == regions


def test_calls_from_threads(det):
    img, glyphs = canvas(120, 480, (255, 255, 255))
    draw_text(img, glyphs, (20, 30), "thread safe", latin_font(36), (0, 0, 0))
    expected = det.detect(img)
    results: list = [None] * 4

    def work(i):
        results[i] = det.detect(img)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_grey_and_rgba_input(det):
    img, glyphs = canvas(120, 480, (255, 255, 255))
    draw_text(img, glyphs, (20, 30), "grey input", latin_font(36), (0, 0, 0))
    assert recall(det.detect(img[:, :, 0]), glyphs) >= 0.98
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    assert det.detect(rgba) == det.detect(img)


def test_load_detector_without_the_model(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="app.engine.ocr"):
        assert load_detector(str(tmp_path / "missing.onnx")) is None
    assert "model file not found" in caplog.text
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING, logger="app.engine.ocr"):
        assert load_detector(str(bad)) is None
    assert "could not load" in caplog.text


def test_detector_name_and_settings(det):
    assert det.name == "ppocr-v4-det"
    assert det.max_side == 1024
    with pytest.raises(FileNotFoundError):
        TextDetector("/nonexistent/model.onnx")
