"""The synchronous routes, as a backend written from API.md calls them."""

import io
import json
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from app.engine.verify import MAX_HALO
from tests.support import b64, decode, photo, png_bytes, running_app, services_with_model, text_image

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}


def test_inpaint_with_mask_repaints_only_the_mask(client):
    img = text_image()
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[80:120, 40:200] = 255
    r = client.post("/api/v1/inpaint", json={"image": b64(png_bytes(img)), "mask": b64(png_bytes(mask))})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = decode(r.content)
    assert out.shape == img.shape
    assert np.array_equal(out[mask == 0], img[mask == 0])
    assert np.abs(out[85:115, 45:195].astype(int) - [200, 180, 160]).mean() < 10  # the bar is gone
    assert float(r.headers["X-Processing-Time"]) > 0


def test_inpaint_regions_returns_image_and_headers(client):
    img = text_image()
    body = {"image": "data:image/png;base64," + b64(png_bytes(img)), "regions": [BOX], "padding": 0}
    r = client.post("/api/v1/inpaint-regions", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["X-Regions-Count"] == "1"
    assert r.headers["X-Total-Area"] == str(160 * 40)
    assert float(r.headers["X-Processing-Time"]) >= 0
    datetime.fromisoformat(r.headers["X-Timestamp"])
    out = decode(r.content)
    assert np.abs(out[85:115, 45:195].astype(int) - [200, 180, 160]).mean() < 10


def test_inpaint_regions_json_stats(client):
    img = text_image(w=300, h=200)
    body = {"image": b64(png_bytes(img)), "regions": [BOX, {"bounding_box": {"x": 1, "y": 1, "width": 10, "height": 10}}],
            "padding": 0}
    r = client.post("/api/v1/inpaint-regions-json", json=body)
    assert r.status_code == 200
    j = r.json()
    assert j["success"] is True and isinstance(j["message"], str)
    st = j["processing_stats"]
    assert st["regions_processed"] == 2
    assert st["total_area"] == 160 * 40 + 100
    assert st["image_dimensions"] == {"width": 300, "height": 200}
    assert st["processing_time"] > 0
    assert set(st["stage_times"]) >= {"decode", "mask", "model", "composite", "encode"}
    datetime.fromisoformat(j["timestamp"])


def test_every_legacy_field_and_unknown_fields_are_accepted(client):
    body = {"image": b64(png_bytes(text_image())), "regions": [BOX],
            "sd_seed": 42, "sd_steps": 25, "sd_strength": 1.0, "sd_guidance_scale": 7.5, "sd_sampler": "ddim",
            "hd_strategy": "Original", "hd_strategy_crop_trigger_size": 1280, "hd_strategy_crop_margin": 32,
            "hd_strategy_resize_limit": 2048, "prompt": "", "negative_prompt": "",
            "some_future_field": {"nested": True}, "client_version": "3.1"}
    for route in ("/api/v1/inpaint-regions", "/api/v1/inpaint-regions-json"):
        assert client.post(route, json=body).status_code == 200


@pytest.mark.parametrize("strategy", ["Crop", "Resize"])
def test_hd_strategies_are_honoured(client, strategy):
    img = photo(600)
    body = {"image": b64(png_bytes(img)), "regions": [BOX], "hd_strategy": strategy,
            "hd_strategy_crop_trigger_size": 256, "hd_strategy_resize_limit": 300}
    r = client.post("/api/v1/inpaint-regions", json=body)
    assert r.status_code == 200
    out = decode(r.content)
    assert out.shape == img.shape
    mask = np.zeros(img.shape[:2], bool)
    m = MAX_HALO  # verification may grow a repair this far beyond region + padding
    mask[76 - m:124 + m, 36 - m:204 + m] = True
    assert np.array_equal(out[~mask], img[~mask])


def test_float_regions_and_polygons(client):
    img = np.full((200, 200, 3), 128, np.uint8)
    img[20:180, 20:180] = 0  # a dark square that the triangle covers partly
    tri = {"points": [[20, 20], [180, 20], [20, 180]]}
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [tri], "padding": 0})
    assert r.status_code == 200
    out = decode(r.content)
    assert not np.array_equal(out[40, 40], img[40, 40])  # inside the triangle: repainted
    assert np.array_equal(out[160, 160], img[160, 160])  # inside its bounding box, outside the polygon: kept
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "padding": 0,
                                                         "regions": [{"x": 10.5, "y": 10.25, "width": 20.5, "height": 5.5}]})
    assert r.status_code == 200
    assert r.json()["processing_stats"]["total_area"] == 21 * 6  # pixels touched: x 10..31, y 10..16


def test_regions_are_clipped_to_the_image(client):
    img = text_image()
    r = client.post("/api/v1/inpaint-regions-json",
                    json={"image": b64(png_bytes(img)), "padding": 0,
                          "regions": [{"x": -50, "y": -50, "width": 100, "height": 100}]})
    assert r.status_code == 200
    assert r.json()["processing_stats"]["total_area"] == 50 * 50


def test_a_region_wholly_outside_the_image_paints_nothing_and_is_counted(client):
    """Coordinates in another scale are the client's bug: the answer serves the rest and says how
    many regions removed nothing because they miss the image."""
    img = text_image()  # 320 x 200
    away = {"x": 1000, "y": 1000, "width": 10, "height": 10}
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "regions": [BOX, away]})
    assert r.status_code == 200, r.text
    stats = r.json()["processing_stats"]
    assert stats["regions_outside_image"] == 1 and stats["regions_processed"] == 1
    assert "1 region(s) wholly outside the 320x200 image" in r.json()["message"]
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [away]})
    assert r.status_code == 200 and r.headers["X-Regions-Outside-Image"] == "1"
    assert np.array_equal(decode(r.content), img)  # nothing on the image was asked for: nothing changes
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [BOX]})
    assert "X-Regions-Outside-Image" not in r.headers
    assert client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "regions": [BOX]}
                       ).json()["processing_stats"]["regions_outside_image"] == 0


def test_a_mask_of_another_size_is_scaled_to_the_image(client):
    """A mask drawn on a preview a tenth of the size repaints what the same mask at full size does."""
    img = text_image()  # 320 x 200
    full = np.zeros((200, 320), np.uint8)
    full[80:120, 40:200] = 255
    small = np.zeros((20, 32), np.uint8)
    small[8:12, 4:20] = 255
    answers = [client.post("/api/v1/inpaint", json={"image": b64(png_bytes(img)), "mask": b64(png_bytes(m))})
               for m in (full, small)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].headers["X-Mask-Area"] == answers[1].headers["X-Mask-Area"] == str(40 * 160)
    assert np.array_equal(decode(answers[0].content), decode(answers[1].content))
    assert "X-Mask-Scaled-From" not in answers[0].headers and answers[1].headers["X-Mask-Scaled-From"] == "32x20"
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "mask": b64(png_bytes(small))})
    assert r.json()["processing_stats"]["mask_scaled_from"] == {"width": 32, "height": 20}


@pytest.mark.parametrize("route", ["/api/v1/inpaint", "/api/v1/inpaint-regions", "/api/v1/inpaint-regions-json"])
@pytest.mark.parametrize("form", [False, True], ids=["json", "multipart"])
def test_a_mask_of_the_image_shape_at_half_size_is_scaled_and_said(client, route, form):
    """Only a mask of the image's own shape at another size is scaled (another shape is refused:
    tests/test_errors.py), on every route that takes a mask, and the answer says from what size."""
    img = np.full((64, 96, 3), 120, np.uint8)
    mask = np.zeros((32, 48), np.uint8)
    mask[8:16, 8:32] = 255
    if form:
        r = client.post(route, files={"image": ("a.png", png_bytes(img)), "mask": ("m.png", png_bytes(mask))})
    else:
        r = client.post(route, json={"image": b64(png_bytes(img)), "mask": b64(png_bytes(mask))})
    assert r.status_code == 200, r.text
    if route.endswith("-json"):
        assert r.json()["processing_stats"]["mask_scaled_from"] == {"width": 48, "height": 32}
    else:
        assert r.headers["X-Mask-Scaled-From"] == "48x32" and r.headers["X-Mask-Area"] == str(16 * 48)


def test_padding_grows_the_mask(client):
    img = text_image()
    stats = []
    for pad in (0, 6):
        r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "regions": [BOX],
                                                             "padding": pad, "mask_mode": "box"})
        stats.append(r.json()["processing_stats"]["mask_area"])
    assert stats == [160 * 40, (160 + 12) * (40 + 12)]


def test_pixels_outside_the_mask_are_unchanged_on_a_photograph(client):
    img = photo(512)
    regions = [{"x": 100, "y": 60, "width": 120, "height": 30}, {"x": 300, "y": 400, "width": 150.5, "height": 40},
               {"points": [[50, 300], [200, 280], [205, 320], [55, 340]]}]
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": regions, "padding": 3})
    assert r.status_code == 200
    out = decode(r.content)
    from app.engine.masks import regions_to_mask
    from app.api.schemas import RegionIn

    mask = regions_to_mask([RegionIn(**g).to_region() for g in regions], 512, 512, padding=3) > 0
    assert np.array_equal(out[~mask], img[~mask])
    assert (out[mask] != img[mask]).any()


def test_multipart_upload_like_curl(client):
    img = text_image()
    r = client.post("/api/v1/inpaint-regions-json",
                    files={"image": ("photo.png", png_bytes(img), "image/png")},
                    data={"regions": '[{"x": 40, "y": 80, "width": 160, "height": 40}]', "padding": "0"})
    assert r.status_code == 200, r.text
    assert r.json()["processing_stats"]["total_area"] == 6400
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[80:120, 40:200] = 255
    r = client.post("/api/v1/inpaint", files={"image": ("a.png", png_bytes(img)), "mask": ("m.png", png_bytes(mask))},
                    data={"output_format": "jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_a_form_part_is_json_only_where_the_field_is_not_text(client):
    """In a multipart body, a text field is taken as written, `[` and `{` included; a list (regions)
    is JSON text, and broken JSON there is a 422; an unknown field is never an error."""
    files = {"image": ("photo.png", png_bytes(text_image()), "image/png")}
    regions = '[{"x": 40, "y": 80, "width": 160, "height": 40}]'
    r = client.post("/api/v1/inpaint-regions-json", files=files,
                    data={"regions": regions, "sd_sampler": "[ddim", "prompt": "{a", "extra": "[not json"})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/inpaint-regions-json", files=files, data={"regions": "[{broken"})
    assert r.status_code == 422 and "regions" in r.json()["detail"]


def test_a_form_text_field_stays_text():
    """A text part reaches the model as written, whatever it looks like: `sd_sampler=false` is the
    text "false", not a boolean (only a boolean field reads true/false, only a number field digits)."""
    seen = []

    class Recorder:
        name, device = "recorder", "cpu"

        def __call__(self, rgb, mask, params):
            seen.append(params)
            return rgb

    with running_app(services=services_with_model(Recorder(), text_detection=False)) as c:
        r = c.post("/api/v1/inpaint-regions-json", files={"image": ("a.png", png_bytes(text_image()), "image/png")},
                   data={"regions": json.dumps([BOX]), "sd_sampler": "false", "prompt": "true", "negative_prompt": "12",
                         "verify": "false", "sd_steps": "12"})
    assert r.status_code == 200, r.text
    assert seen and all(p["sd_sampler"] == "false" and p["prompt"] == "true" and p["negative_prompt"] == "12"
                        and p["sd_steps"] == 12 for p in seen)


@pytest.mark.parametrize("field", ["keep_text", "remove_text", "regions"])
@pytest.mark.parametrize("value", ["{}", '{"pattern": "@email"}'])
def test_a_list_field_given_an_object_is_refused(client, field, value):
    """A list given an object is refused, naming the field, as a form part as in JSON; a pattern
    that is itself such text goes inside a JSON list."""
    files = {"image": ("a.png", png_bytes(text_image()), "image/png")}
    data = {"regions": json.dumps([BOX]), field: value}
    answers = [client.post("/api/v1/inpaint-regions-json", files=files, data=data),
               client.post("/api/v1/inpaint-regions-json",
                           json={"image": b64(png_bytes(text_image())), "regions": [BOX], field: json.loads(value)})]
    for r in answers:
        assert r.status_code == 422 and r.json()["error"] == "invalid_input", r.text
        assert r.json()["detail"].startswith(f"{field}: ")
        assert [(e["loc"], e["type"]) for e in r.json()["errors"]] == [([field], "list_type")]


def test_a_pattern_part_that_is_a_json_object_is_refused_among_others(client):
    """One part of a repeated pattern field holding an object refuses the request; the same text
    inside a JSON list is a pattern."""
    files = {"image": ("a.png", png_bytes(text_image()), "image/png")}
    r = client.post("/api/v1/inpaint-regions-json", files=files,
                    data={"regions": json.dumps([BOX]), "keep_text": ["@email", "{}", "@url"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["keep_text"], r.text
    r = client.post("/api/v1/inpaint-regions-json", files=files,
                    data={"regions": json.dumps([BOX]), "keep_text": json.dumps(["{}"])})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("fmt,media", [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_output_formats(client, fmt, media):
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(text_image())), "regions": [BOX],
                                                     "output_format": fmt, "quality": 80})
    assert r.status_code == 200 and r.headers["content-type"] == media
    assert Image.open(io.BytesIO(r.content)).format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]


def test_output_format_original_keeps_jpeg(client):
    buf = io.BytesIO()
    Image.fromarray(text_image()).save(buf, "JPEG", quality=90)
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(buf.getvalue()), "regions": [BOX],
                                                     "output_format": "original"})
    assert r.headers["content-type"] == "image/jpeg"


def test_text_mask_mode_repaints_less_than_the_box(client):
    img = np.full((120, 400, 3), 230, np.uint8)
    from PIL import ImageDraw

    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text((20, 40), "Hello text removal", fill=(20, 20, 20), font_size=32)
    img = np.asarray(pil)
    region = {"x": 15, "y": 35, "width": 330, "height": 45}
    areas = {}
    for mode in ("box", "text"):
        r = client.post("/api/v1/inpaint-regions-json",
                        json={"image": b64(png_bytes(img)), "regions": [region], "mask_mode": mode})
        areas[mode] = r.json()["processing_stats"]["mask_area"]
    assert 0 < areas["text"] < 0.8 * areas["box"]
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [region],
                                                     "mask_mode": "text"})
    out = decode(r.content)
    assert out[35:80, 15:345].min() > 150  # no dark glyph pixel left


def test_a_polygon_reaching_far_past_the_image_fills_what_it_covers(client):
    """OCR or a buggy client may send a polygon with points 10^7 px away: it is cut to the image's
    neighbourhood before it is drawn, and fills the same pixels (here: all of them)."""
    img = text_image()  # 320 x 200
    huge = {"points": [[-1e7, -1e7], [1e7, -1e7], [1e7, 1e7], [-1e7, 1e7]]}
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [huge], "padding": 0,
                                                     "mask_mode": "box"})
    assert r.status_code == 200 and r.headers["X-Mask-Area"] == str(320 * 200)
    beside = {"points": [[400, -1e7], [1e7, -1e7], [400, 1e7]]}  # right of the image, reaching far
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(png_bytes(img)), "regions": [BOX, beside]})
    stats = r.json()["processing_stats"]
    assert r.status_code == 200 and stats["regions_outside_image"] == 1 and stats["regions_processed"] == 1
