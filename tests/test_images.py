"""Images as phones and scanners send them: orientation, colour profiles, alpha, odd modes, size."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.engine.images import decode_mask, same_shape
from app.errors import InvalidInput
from tests.support import b64, png_bytes, running_app, text_image

BOX = {"x": 40, "y": 80, "width": 160, "height": 40}


def _post(client, data: bytes, **extra):
    return client.post("/api/v1/inpaint-regions", json={"image": b64(data), "regions": [BOX], **extra})


def _encode(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied_before_regions(client):
    upright = text_image(320, 200)
    stored = Image.fromarray(upright).rotate(90, expand=True)  # what the camera wrote: 200x320
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    r = _post(client, data)
    assert r.status_code == 200
    out = Image.open(io.BytesIO(r.content))
    assert out.size == (320, 200)  # upright, as OCR tools saw it
    assert out.getexif().get(0x0112) in (None, 1)
    arr = np.asarray(out.convert("RGB")).astype(int)
    assert np.abs(arr[90:110, 60:180] - [200, 180, 160]).mean() < 15  # the bar inside the box is gone


def test_icc_profile_is_kept(client):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _encode(Image.fromarray(text_image()), "PNG", icc_profile=icc)
    for fmt in ("png", "jpeg", "webp"):
        out = Image.open(io.BytesIO(_post(client, data, output_format=fmt).content))
        assert out.info.get("icc_profile") == icc, fmt


def test_alpha_is_kept(client):
    rgba = np.dstack([text_image(), np.full((200, 320), 255, np.uint8)])
    rgba[:40, :, 3] = 0
    rgba[150:, :, 3] = 128
    r = _post(client, _encode(Image.fromarray(rgba, "RGBA")))
    out = Image.open(io.BytesIO(r.content))
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[:, :, 3], rgba[:, :, 3])


def test_grayscale_stays_grayscale(client):
    gray = np.asarray(Image.fromarray(text_image()).convert("L"))
    out = Image.open(io.BytesIO(_post(client, _encode(Image.fromarray(gray, "L"))).content))
    assert out.mode == "L" and out.size == (320, 200)
    arr = np.asarray(out)
    assert np.array_equal(arr[:70], gray[:70])
    assert arr[90:110, 60:180].mean() > 150


def test_palette_16bit_and_cmyk_inputs(client):
    base = Image.fromarray(text_image())
    cases = {
        "palette": _encode(base.convert("P", palette=Image.ADAPTIVE, colors=16)),
        "16-bit": _encode(Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)),
        "cmyk": _encode(base.convert("CMYK"), "JPEG", quality=95),
        "tiff": _encode(base, "TIFF"),
        "bmp": _encode(base, "BMP"),
    }
    for name, data in cases.items():
        r = _post(client, data)
        assert r.status_code == 200, (name, r.text)
        out = Image.open(io.BytesIO(r.content))
        assert out.size == (320, 200), name
        arr = np.asarray(out.convert("L")).astype(int)
        assert arr[90:110, 60:180].mean() > 120, name  # the dark bar is gone
        assert abs(arr[10:60, 10:300].mean() - np.asarray(base.convert("L"))[10:60, 10:300].mean()) < 3, name


def test_images_larger_than_max_image_size_come_back_full_size():
    big = np.zeros((900, 1200, 3), np.uint8)
    big[:] = (90, 120, 150)
    big[100:800, 100:1100] = (10, 10, 10)  # a huge region: its crop exceeds MAX_IMAGE_SIZE
    region = {"x": 95, "y": 95, "width": 1010, "height": 710}
    with running_app(model="cv2", max_image_size=256) as c:
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(_encode(Image.fromarray(big))), "regions": [region],
                                                    "padding": 0})
    assert r.status_code == 200
    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    assert out.shape == big.shape
    inside = np.zeros(big.shape[:2], bool)
    inside[95:805, 95:1105] = True
    assert np.array_equal(out[~inside], big[~inside])  # composited into the full-size original
    assert np.abs(out[300:600, 300:900].astype(int) - [90, 120, 150]).mean() < 20


def test_png_exif_orientation_is_applied_too(client):
    upright = text_image(320, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(Image.fromarray(upright).rotate(90, expand=True), "PNG", exif=exif.tobytes())
    out = Image.open(io.BytesIO(_post(client, data).content))
    assert out.size == (320, 200)


def test_a_mask_is_of_the_image_shape_within_one_percent_of_its_aspect():
    """|mw/mh - w/h| <= 1% of w/h, exactly at the edge: a 96x64 image (aspect 1.5) takes a 303x200
    mask (1.515, 1% off) and refuses a 304x200 one (1.52); its own size and any multiple of it are
    its shape."""
    image = (96, 64)
    assert same_shape((96, 64), image) and same_shape((48, 32), image) and same_shape((960, 640), image)
    assert same_shape((303, 200), image) and same_shape((297, 200), image)
    assert not same_shape((304, 200), image) and not same_shape((296, 200), image)
    assert not same_shape((40, 40), image) and not same_shape((1000, 1), image) and not same_shape((64, 96), image)


def test_decode_mask_scales_the_image_shape_and_refuses_another():
    limits = {"max_bytes": 10**7, "max_pixels": 10**7}
    half = np.zeros((32, 48), np.uint8)
    half[:16] = 255
    m, sent = decode_mask(png_bytes(half), width=96, height=64, **limits)
    assert sent == (48, 32) and m.shape == (64, 96) and (m[:32] == 255).all() and not m[32:].any()
    with pytest.raises(InvalidInput) as e:
        decode_mask(png_bytes(np.zeros((40, 40), np.uint8)), width=96, height=64, **limits)
    assert e.value.code == "mask_size_mismatch" and e.value.status_code == 422
    assert "40x40" in e.value.detail and "96x64" in e.value.detail
