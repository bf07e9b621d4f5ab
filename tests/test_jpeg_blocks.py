"""JPEG in, JPEG out (`original`): blocks that no repaint touches keep their coefficients, so they
decode to exactly the input's pixels; inputs where that cannot apply are re-encoded and say so."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from app.engine import images
from app.engine.stats import JpegBlocks
from tests.support import photo

LIMITS = {"max_bytes": 1 << 26, "max_pixels": 1 << 26}
BOX = (slice(100, 134), slice(90, 250))  # rows, cols repainted (not MCU-aligned on purpose)


def _jpeg(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _repaint(data: bytes):
    """Decode, paint a flat box (what a model would do), answer as `original`."""
    img = images.decode_image(data, **LIMITS)
    out = img.rgb.copy()
    out[BOX] = (40, 200, 90)
    touched = np.zeros(out.shape[:2], np.uint8)
    touched[BOX] = 255
    answer, stats = images.encode_answer(out, img, "JPEG", touched, requested="original")
    return img, out, answer, stats


def _reencoded_area(shape, mcu: int) -> np.ndarray:
    """Pixels of the MCUs that BOX touches."""
    area = np.zeros(shape[:2], bool)
    r, c = BOX
    area[r.start // mcu * mcu:-(-r.stop // mcu) * mcu, c.start // mcu * mcu:-(-c.stop // mcu) * mcu] = True
    return area


@pytest.mark.parametrize("subsampling,mcu", [(0, 8), (2, 16)], ids=["444", "420"])
@pytest.mark.parametrize("restarts", [False, True], ids=["plain", "restart-markers"])
@pytest.mark.parametrize("with_exif", [False, True], ids=["no-exif", "exif"])
def test_untouched_blocks_decode_to_the_input_pixels(subsampling, mcu, restarts, with_exif):
    src = photo(320)[:, :300]
    kw = {"quality": 88, "subsampling": subsampling}
    if restarts:
        kw["restart_marker_blocks"] = 4
    if with_exif:
        exif = Image.Exif()
        exif[0x0112] = 1  # upright
        exif[0x010F] = "TestCam"
        kw["exif"] = exif.tobytes()
    data = _jpeg(src, **kw)
    assert (b"\xff\xd0" in data) == restarts
    img, out, answer, stats = _repaint(data)
    assert stats.reason is None and JpegBlocks.of(stats).kept_untouched_blocks

    before, after = _pixels(data), _pixels(answer)
    area = _reencoded_area(before.shape, mcu)
    if subsampling:  # smooth chroma upsampling reads one chroma sample across the MCU edge
        area = cv2.dilate(area.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.array_equal(after[~area], before[~area])
    assert np.abs(after[BOX].astype(int) - out[BOX]).mean() < 4  # the repaint is there
    # share of blocks: the touched MCUs only (Y blocks + chroma blocks of those MCUs)
    mcus = _reencoded_area(before.shape, mcu)[::mcu, ::mcu].sum()
    per_mcu = 6 if subsampling else 3
    assert stats.blocks_reencoded == mcus * per_mcu
    assert 0 < stats.share < 0.1
    assert Image.open(io.BytesIO(answer)).getexif().get(0x010F) is None  # EXIF is not carried


def test_grayscale_jpeg_keeps_its_blocks():
    src = np.ascontiguousarray(photo(256)[:, :, 1])
    data = _jpeg(src, quality=80)
    img, out, answer, stats = _repaint(data)
    assert stats.reason is None and Image.open(io.BytesIO(answer)).mode == "L"
    before, after = _pixels(data), _pixels(answer)
    area = _reencoded_area(before.shape, 8)
    assert np.array_equal(after[~area], before[~area])


def test_icc_profile_is_kept_with_the_blocks():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _, _, answer, stats = _repaint(_jpeg(photo(256), quality=90, icc_profile=icc))
    assert stats.reason is None and Image.open(io.BytesIO(answer)).info.get("icc_profile") == icc


@pytest.mark.parametrize("case", ["progressive", "rotated", "requested-jpeg"])
def test_inputs_that_cannot_keep_blocks_are_reencoded_and_say_so(case):
    src = photo(256)
    if case == "rotated":
        exif = Image.Exif()
        exif[0x0112] = 6
        data = _jpeg(src, quality=90, exif=exif.tobytes())
    else:
        data = _jpeg(src, quality=90, progressive=case == "progressive")
    img = images.decode_image(data, **LIMITS)
    touched = np.zeros(img.rgb.shape[:2], np.uint8)
    touched[10:20, 10:20] = 255
    answer, stats = images.encode_answer(img.rgb, img, "JPEG", touched,
                                         requested="jpeg" if case == "requested-jpeg" else "original")
    assert Image.open(io.BytesIO(answer)).size == (img.width, img.height)
    if case == "requested-jpeg":  # `jpeg` asks for a quality: no block keeping, nothing to report
        assert stats is None
        return
    assert stats.share == 1.0 and not JpegBlocks.of(stats).kept_untouched_blocks
    assert ("progressive" if case == "progressive" else "orientation") in stats.reason


def test_service_reports_the_share_of_blocks(client):
    from tests.support import b64

    data = _jpeg(photo(256), quality=90)
    body = {"image": b64(data), "regions": [{"x": 40, "y": 80, "width": 60, "height": 20}],
            "output_format": "original"}
    r = client.post("/api/v1/inpaint-regions", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    share = float(r.headers["X-Jpeg-Blocks-Reencoded"])
    assert 0 < share < 0.2
    before, after = _pixels(data), _pixels(r.content)
    far = np.ones(before.shape[:2], bool)
    far[48:144, 0:128] = False  # the region, its padding and its MCUs, with room to spare
    assert np.array_equal(after[far], before[far])
    stats = client.post("/api/v1/inpaint-regions-json", json=body).json()["processing_stats"]
    assert stats["jpeg_blocks_reencoded"] == share and stats["jpeg_blocks"]["kept_untouched_blocks"]
    png = client.post("/api/v1/inpaint-regions-json", json={**body, "output_format": "png"}).json()
    assert png["processing_stats"].get("jpeg_blocks_reencoded") is None


@pytest.mark.parametrize("dtype", [np.uint8, bool])
def test_one_touched_pixel_reencodes_exactly_its_mcu(dtype):
    data = _jpeg(photo(256)[:, :200], quality=85, subsampling=2)  # 16 x 16 MCUs
    img = images.decode_image(data, **LIMITS)
    touched = np.zeros(img.rgb.shape[:2], dtype)
    touched[37, 101] = 255 if dtype is np.uint8 else True  # MCU (row 2, col 6)
    touched[255, 199] = 1  # the image's last pixel: MCU (15, 12), a partial MCU at the right edge
    answer, stats = images.encode_answer(img.rgb, img, "JPEG", touched, requested="original")
    # a whole MCU: 4 Y + 2 chroma blocks; the edge MCU holds only the 2 Y blocks of column 24 (200 px
    # wide) beside its 2 chroma blocks
    assert stats.blocks_reencoded == 6 + 4
    assert np.array_equal(_pixels(answer)[:16], _pixels(data)[:16])  # MCU row 0 untouched


def test_data_libjpeg_only_warns_about_is_reencoded_not_an_error(client):
    """A stray marker in the entropy-coded data: decoders warn and go on, reading the coefficients
    fails; the answer is still a JPEG, re-encoded whole, and says why."""
    from tests.support import b64

    data = bytearray(_jpeg(photo(256), quality=90))
    at = len(data) // 2
    data[at:at + 2] = b"\xff\xaf"
    img = images.decode_image(bytes(data), **LIMITS)  # decodes (with a warning)
    touched = np.zeros(img.rgb.shape[:2], np.uint8)
    touched[10:20, 10:20] = 255
    answer, stats = images.encode_answer(img.rgb, img, "JPEG", touched, requested="original")
    assert Image.open(io.BytesIO(answer)).size == (256, 256)
    assert stats.share == 1.0 and "could not be read" in stats.reason
    r = client.post("/api/v1/inpaint-regions-json", json={"image": b64(bytes(data)), "output_format": "original",
                                                           "regions": [{"x": 10, "y": 10, "width": 40, "height": 20}]})
    assert r.status_code == 200 and r.json()["processing_stats"]["jpeg_blocks_reencoded"] == 1.0
