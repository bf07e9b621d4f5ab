"""Text detection through the API: /detect-text, and `detect: true` on the region routes."""

import numpy as np
import pytest

from app.engine.verify import MAX_HALO
from tests.support import b64, decode, photo, png_bytes, render



@pytest.fixture(scope="module")
def texted():
    base = photo(768, "chelsea")  # a photo with no text of its own
    img, glyphs = render(base, [("SALE 50% OFF", (60, 80), 48), ("文字を消す 测试", (300, 600), 44)])
    return base, img, glyphs


def test_detect_text_finds_latin_and_cjk_lines(client, texted):
    base, img, glyphs = texted
    r = client.post("/api/v1/detect-text", json={"image": b64(png_bytes(img))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image_dimensions"] == {"width": 768, "height": 768}
    assert len(body["regions"]) >= 2 and body["processing_time"] > 0
    from app.engine.masks import Region, regions_to_mask

    polys = [Region(tuple(map(tuple, d["points"]))) for d in body["regions"]]
    covered = regions_to_mask(polys, 768, 768) > 0
    assert covered[glyphs].mean() > 0.98
    for d in body["regions"]:
        assert set(d["bounding_box"]) == {"x", "y", "width", "height"} and 0 < d["score"] <= 1
    # the polygons go straight back as regions
    again = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "regions": body["regions"]})
    assert again.status_code == 200


def test_detect_true_without_regions_removes_all_text(client, texted):
    base, img, glyphs = texted
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "detect": True})
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Text-Lines-Detected"]) >= 2
    out = decode(r.content).astype(int)
    err_before = np.abs(img.astype(int) - base)[glyphs].mean()
    err_after = np.abs(out - base)[glyphs].mean()
    assert err_after < 0.35 * err_before  # the glyphs are gone
    far = np.ones(glyphs.shape, bool)
    m = MAX_HALO  # verification may grow a repair this far beyond a line + padding
    far[40 - m:160 + m, 30 - m:520 + m] = False
    far[570 - m:680 + m, 270 - m:760 + m] = False
    assert np.array_equal(out[far], img[far])  # pixels away from the text are untouched


def test_detect_with_regions_removes_only_text_inside_them(client, texted):
    base, img, glyphs = texted
    region = {"x": 40, "y": 60, "width": 440, "height": 90}  # the Latin line only
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "detect": True,
                                                         "regions": [region]})
    assert r.status_code == 200
    assert r.json()["processing_stats"]["text_lines_detected"] >= 1
    out = decode(client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "detect": True,
                                                             "regions": [region]}).content)
    assert np.array_equal(out[500:, :], img[500:, :])  # the CJK line outside the region stays


def test_a_region_over_part_of_a_line_repaints_only_inside_it(client, texted):
    base, img, glyphs = texted
    region = {"x": 40, "y": 60, "width": 200, "height": 90}  # the left part of "SALE 50% OFF" only
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "detect": True,
                                                     "regions": [region]})
    assert r.status_code == 200
    out = decode(r.content)
    pad = 4  # the text mode's padding: the mask never leaves the regions grown by it, repairs included
    inside = np.zeros(glyphs.shape, bool)
    inside[60 - pad:150 + pad, 40 - pad:240 + pad] = True
    assert np.array_equal(out[~inside], img[~inside])  # the rest of the line is left as it is
    assert not np.array_equal(out[inside], img[inside])


def test_text_free_image_gives_no_regions_and_comes_back_unchanged(client):
    base = photo(512, "chelsea")
    r = client.post("/api/v1/detect-text", files={"image": ("p.png", png_bytes(base))})
    assert r.status_code == 200 and r.json()["regions"] == []
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(base)), "detect": True})
    assert r.status_code == 200 and r.headers["X-Text-Lines-Detected"] == "0"
    assert np.array_equal(decode(r.content), base)


def test_detect_errors(client):
    assert client.post("/api/v1/detect-text", json={"image": "@@"}).status_code == 400
    assert client.post("/api/v1/detect-text", json={}).status_code == 422
    r = client.post("/api/v1/detect-text", json={"image": b64(png_bytes(photo(64))),
                                                 "regions": [{"x": 500, "y": 500, "width": 5, "height": 5}]})
    # a search region wholly outside the image holds no text: served, and counted
    assert r.status_code == 200 and r.json()["regions"] == [] and r.json()["regions_outside_image"] == 1


def test_detect_in_an_async_task_reports_the_count(client, texted):
    _, img, _ = texted
    tid = client.post("/api/v1/inpaint-regions-async", json={"image": b64(png_bytes(img)), "detect": True}).json()["task_id"]
    import time

    for _ in range(300):
        st = client.get(f"/api/v1/task-status/{tid}").json()
        if st["status"] in ("completed", "error"):
            break
        time.sleep(0.05)
    assert st["status"] == "completed"
    assert st["processing_stats"]["text_lines_detected"] >= 2
    assert st["total_regions"] >= 2
