"""The text recognizer (app.engine.ocr.recognizer) and the pattern matching (app.engine.text_filter)
on lines rendered here with Pillow: what a line says, read upright at any angle, with each
character's place along it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.engine import text_filter
from app.engine.ocr import Ocr, Reading, TextRecognizer, load_ocr, load_recognizer, reading_frame
from app.errors import InvalidInput

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # Debian: fonts-noto-cjk


@pytest.fixture(scope="module")
def det() -> Ocr:
    d = load_ocr()
    assert d is not None and d.reader is not None, "the PP-OCRv4 models in rapidocr_onnxruntime are missing"
    return d


def line_image(text: str, size: int = 28, angle: float = 0.0, font: str = DEJAVU, index: int = 0,
               fill=(25, 25, 25), bg=(245, 245, 240)) -> np.ndarray:
    f = ImageFont.truetype(font, size, index=index)
    x0, y0, x1, y1 = f.getbbox(text)
    layer = Image.new("RGBA", (x1 - x0 + 2 * size, y1 - y0 + 2 * size), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((size - x0, size - y0), text, font=f, fill=tuple(fill) + (255,))
    if angle:
        layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
    img = Image.new("RGB", layer.size, bg)
    img.paste(layer, (0, 0), layer)
    return np.asarray(img)


def read_all(det: Ocr, rgb: np.ndarray) -> list[Reading]:
    return det.read(rgb, [d.points for d in det.detect(rgb)])


def test_model_and_characters_come_from_the_wheel():
    rec = load_recognizer()
    assert isinstance(rec, TextRecognizer)
    assert Path(rec.model_path).name == "ch_PP-OCRv4_rec_infer.onnx"
    # blank, the model's list, space: one per output class
    assert rec.characters[0] == "" and rec.characters[-1] == " " and len(rec.characters) == 6625
    assert {"a", "Z", "7", "@", "测"} <= set(rec.characters)


@pytest.mark.parametrize("text", ["Contact: jane.roe@example.org", "Invoice 2024-0042 total 1,299.00", "SALE 50% OFF"])
def test_reads_latin_and_digits(det, text):
    [r] = read_all(det, line_image(text))
    assert r.text.strip() == text and r.score > 0.9


def test_reads_chinese(det):
    [r] = read_all(det, line_image("文字识别测试", 32, font=CJK_FONT, index=2))
    assert r.text.strip() == "文字识别测试"


@pytest.mark.parametrize("angle", [20, -35, 90, 180, 270])
def test_reads_rotated_lines_upright(det, angle):
    [r] = read_all(det, line_image("Rotated 42 text", 30, angle))
    assert r.text.strip() == "Rotated 42 text", angle


def test_upside_down_digits_are_turned_by_the_direction_classifier(det):
    # turned, they are digits still ("0958" reads "8560" with confidence): only the classifier knows
    for text in ("0958", "1068 6080", "SOS NOON"):
        [r] = read_all(det, line_image(text, 30, 180))
        assert r.text.strip() == text


def test_character_positions_follow_the_glyphs(det):
    text = "Call 555-0134 now"
    f = ImageFont.truetype(DEJAVU, 28)
    rgb = line_image(text, 28)
    [r] = read_all(det, rgb)
    assert r.text == text
    # each character's span lies over its own glyph (within a third of the font size)
    x0 = 28 - f.getbbox(text)[0]
    tl, tr = np.array(r.frame[0]), np.array(r.frame[1])
    for i, (a, b) in enumerate(r.spans):
        g0, g1 = x0 + f.getlength(text[:i]), x0 + f.getlength(text[: i + 1])
        centre = tl[0] + (a + b) / 2 * (tr[0] - tl[0])
        assert g0 - 9 <= centre <= g1 + 9, (text[i], g0, g1, centre)
    # the piece for "555-0134" covers its glyphs and not "Call" or "now"
    a, b = r.bounds(5, 13)
    piece = np.asarray(r.piece(a, b).points)
    left, right = piece[:, 0].min(), piece[:, 0].max()
    assert x0 + f.getlength("Call") < left <= x0 + f.getlength("Call ") + 1
    assert x0 + f.getlength("Call 555-0134") - 1 <= right < x0 + f.getlength("Call 555-0134 ")


def test_reading_frame_orders_corners_for_reading():
    # a box given clockwise from the bottom-right: still read from its top-left
    tl, tr, br, bl = reading_frame(((110, 40), (10, 40), (10, 20), (110, 20)))
    assert tl == pytest.approx((10, 20)) and tr == pytest.approx((110, 20)) and br == pytest.approx((110, 40))
    # a tall narrow box is a vertical line, read downwards
    tl, tr, br, bl = reading_frame(((0, 0), (20, 0), (20, 200), (0, 200)))
    assert tr[1] > tl[1] + 150


def test_recognizer_missing_is_reported(tmp_path, caplog):
    assert load_recognizer(str(tmp_path / "nope.onnx")) is None
    assert "text recognition disabled" in caplog.text
    d = load_ocr(recognize=False)
    assert d is not None and d.reader is None
    with pytest.raises(InvalidInput) as e:
        d.read(np.zeros((8, 8, 3), np.uint8), [((0, 0), (8, 0), (8, 8))])
    assert e.value.code == "recognition_unavailable"


# -- patterns -------------------------------------------------------------------------------


def reading(text: str, score: float = 0.99) -> Reading:
    n = max(1, len(text))
    return Reading(text, score, ((0, 0), (10 * n, 0), (10 * n, 20), (0, 20)),
                   tuple((i / n, (i + 1) / n) for i in range(len(text))))


def outcome(texts: list[str], remove=None, keep=None):
    lines = text_filter.select([reading(t) for t in texts], text_filter.compile_patterns(remove, keep))
    return [(line.status, [line.reading.text[a:b] for a, b in line.parts]) for line in lines]


def test_presets_find_what_redaction_needs():
    got = outcome(["Mail jane.roe@example.org now", "Tel: +44 20 7946 0958", "Due 2024-12-31, 12 items",
                   "see www.example.com/offers", "Total 1,299.00"], ["@email", "@phone"])
    assert got == [("partly_removed", ["jane.roe@example.org"]), ("partly_removed", ["+44 20 7946 0958"]),
                   ("kept", []), ("kept", []), ("kept", [])]
    got = outcome(["see www.example.com/offers", "write to a@b.io", "Total 1,299.00"], ["@url"])
    assert got == [("partly_removed", ["www.example.com/offers"]), ("kept", []), ("kept", [])]
    assert outcome(["Total 1,299.00"], ["@number"]) == [("partly_removed", ["1,299.00"])]
    # dates are no phone numbers, even with the year's first digit lost; 3-2-2 phone numbers are
    assert outcome(["2024-03-05", "024-03-05", "31.12.2024", "12/31/2024", "123-45-67", "555-12-34"], ["@phone"]) == [
        ("kept", []), ("kept", []), ("kept", []), ("kept", []), ("removed", []), ("removed", [])]


def test_email_survives_what_recognizers_do_to_its_neighbours():
    # the space after it dropped, or read as a dot; "io" read as "i0"; a two-part domain
    got = outcome(["Mail x@mail.comtoday", "Call jane.dev@firma.de.today", "li.wei68@studio.i0", "a.b@mail.co.uk ok"],
                  ["@email"])
    assert got == [("partly_removed", ["x@mail.com"]), ("partly_removed", ["jane.dev@firma.de"]), ("removed", []),
                   ("partly_removed", ["a.b@mail.co.uk"])]


def test_spaces_the_recognizer_puts_next_to_punctuation_are_ignored():
    assert outcome(["jane . roe @ example . org"], ["@email"]) == [("removed", [])]
    assert text_filter.normalise("A  B , c")[0] == "A B,c"
    assert text_filter.normalise("ｊａｎｅ＠ｘ．ｉｏ")[0] == "jane@x.io"  # full-width, as NFKC reads it


def test_case_insensitive_keep_wins_and_no_remove_pattern_means_every_line():
    assert outcome(["ACME Shop", "acme shop 555 0134 222"], ["@phone", "shop"], ["^acme shop$"]) == [
        ("kept", []), ("partly_removed", ["shop", "555 0134 222"])]
    assert outcome(["ACME", "Sale"], None, ["acme"]) == [("kept", []), ("removed", [])]


def test_unread_lines_match_nothing():
    lines = text_filter.select([reading("jane@x.io", score=0.2)], text_filter.compile_patterns(["@email"], None))
    assert lines[0].status == "kept"


@pytest.mark.parametrize("bad, why", [("(a)\\1", "not a valid RE2"), ("(?=a)", "not a valid RE2"),
                                      ("x{1000}{1000}", "not a valid RE2"), ("@creditcard", "no preset"),
                                      ("a" * 300, "over the limit"), ("  ", "empty")])
def test_bad_patterns_are_refused_by_name(bad, why):
    with pytest.raises(InvalidInput) as e:
        text_filter.compile_patterns(["@email"], [bad])
    assert "keep_text[0]" in e.value.detail and why in e.value.detail
    assert e.value.code == {"over the limit": "pattern_too_long", "empty": "empty_pattern"}.get(why, "invalid_pattern")


def test_too_many_patterns():
    text_filter.compile_patterns(["a", "b"], ["c", "d"], max_count=2)
    with pytest.raises(InvalidInput, match="keep_text has 3 patterns, over the limit of 2"):
        text_filter.compile_patterns(["a", "b"], ["c", "d", "e"], max_count=2)


def test_a_backtracking_bomb_runs_in_linear_time():
    p = text_filter.compile_patterns(["(a+)+$", "(a|a)*b", "(.*a){20}"], None)
    started = time.perf_counter()
    lines = text_filter.select([reading("a" * 5000 + "!")], p)
    assert time.perf_counter() - started < 0.5
    assert lines[0].status == "partly_removed"  # (.*a){20} matches; the others do not, in linear time
