"""Bytes <-> pixels: decoding what phones and scanners send, and encoding the answer.

Decoding normalises every input to 8-bit RGB (plus alpha, plus what is needed to give the
client back an image like the one it sent: grayscale-ness, ICC profile, format). Sizes are
checked from the header before any pixel is allocated, so a decompression bomb costs nothing.

EXIF orientation is applied on decode, as OCR tools (OpenCV's imread, PaddleOCR, Tesseract via
Pillow, browsers) see the image: regions are read in the upright frame, and the result is upright
with no orientation tag. Other EXIF data is not carried to the output (it may hold GPS data).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import warnings
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from app.engine import jpeg_blocks, png_process
from app.errors import InvalidImage, InvalidInput, TooLarge

try:  # fpng: an SSE/NEON PNG writer, ~10x faster than zlib level 1 at the same size (docs/DEPENDENCIES.md)
    from fpng import fpng_ext as _fpng
except ImportError:  # pragma: no cover - the pinned wheel exists for x86_64 and aarch64
    _fpng = None
try:  # libspng: ~30% faster PNG decoding than OpenCV's libpng
    import pyspng as _spng
except ImportError:  # pragma: no cover
    _spng = None
# fpng and libspng's bindings hold Python's GIL while they run (OpenCV's codecs release it): on a
# 2048 px image that stalls the event loop, health checks and WebSocket pings included, for 40-80 ms
# per request under load (bench/health_under_load.py: health p99 156 ms with them in-process). So
# their bindings are used on images up to this size only, where the stall stays short; a larger
# PNG is written by fpng in a child process and read by libspng through ctypes, which releases
# the GIL (engine/png_process.py).
GIL_CODEC_MAX_PIXELS = 2_000_000

# We check sizes ourselves against the service's limits (and with a clear 413), so Pillow's
# own bomb warning (a warning at 89 Mpx, an error at 2x that) would only get in the way.
Image.MAX_IMAGE_PIXELS = None

OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DATA_URL = re.compile(r"^data:[^,]{0,100},", re.IGNORECASE)
_GRAY_MODES = {"1", "L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclass
class DecodedImage:
    """An input image as the pipeline uses it, and what is needed to encode a faithful answer."""

    rgb: np.ndarray  # H x W x 3, uint8, C-contiguous
    alpha: np.ndarray | None = None  # H x W, uint8; kept unchanged in the output
    grayscale: bool = False  # answer in grayscale too
    format: str | None = None  # Pillow's name of the input format: PNG, JPEG, WEBP, ...
    icc_profile: bytes | None = None
    source: bytes | None = None  # a JPEG input's bytes: its untouched blocks can be kept
    upright_as_stored: bool = True  # no EXIF orientation had to be applied
    coefficients: Future[Any] | None = None  # Future of the source's DCT coefficients, once `prepare_answer` started it

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


# what a base64 payload must hold: a character that is not ASCII white space; a payload without one
# is empty (the API's schema: minLength 1, and the format base64-image, which no blank text is)
NOT_BLANK = r"[^ \t\n\r\f\v]"


def require_payload(data: bytes | str, field: str = "image") -> None:
    """A base64 payload must not be empty (422 `missing_image`); checked where the body is read,
    and again where it is decoded."""
    if isinstance(data, str) and re.search(NOT_BLANK, data) is None:
        raise InvalidInput(f"{field} is empty", code="missing_image")


def b64decode(data: str, *, max_bytes: int, field: str = "image") -> bytes:
    """Decode a base64 string (optionally a data: URL); the size is checked before decoding."""
    if not isinstance(data, str):
        raise InvalidInput(f"{field} is empty", code="missing_image")
    require_payload(data, field)
    data = _DATA_URL.sub("", data.strip(), count=1)
    if len(data) * 3 // 4 > max_bytes + 3:
        raise TooLarge(f"{field} is larger than the limit of {max_bytes} bytes", code="file_too_large")
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise InvalidImage(f"{field} is not valid base64", code="invalid_base64") from None


def payload_bytes(payload: bytes | str, *, max_bytes: int, field: str = "image") -> bytes:
    """A multipart file's bytes as they are, or a JSON field's base64 string decoded."""
    return b64decode(payload, max_bytes=max_bytes, field=field) if isinstance(payload, str) else payload


def _open(data: bytes, *, max_bytes: int, max_pixels: int, field: str, load: bool = True
          ) -> tuple[Image.Image, str | None]:
    """Open, check the size from the header, and (with `load`) apply EXIF orientation and decode.
    Returns (image, format)."""
    if len(data) > max_bytes:
        raise TooLarge(f"{field} is {len(data)} bytes, over the limit of {max_bytes}", code="file_too_large")
    if not data:
        raise InvalidImage(f"{field} is empty", code="invalid_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidImage(f"{field} is not a decodable image (PNG, JPEG, WebP, TIFF, BMP, GIF ...)") from None
    w, h = img.size
    if w < 1 or h < 1:
        raise InvalidImage(f"{field} has no pixels")
    if w * h > max_pixels:
        raise TooLarge(
            f"{field} is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}", code="image_too_large"
        )
    fmt = img.format
    return (_load(img, field) if load else img), fmt


def _load(img: Image.Image, field: str) -> Image.Image:
    try:
        img = ImageOps.exif_transpose(img)  # also loads the pixels
        img.load()
    except Image.DecompressionBombError:
        raise TooLarge(f"{field} decompresses beyond the pixel limit", code="image_too_large") from None
    except Exception:  # truncated or corrupt data: Pillow raises many types here
        raise InvalidImage(f"{field} is truncated or corrupt") from None
    return img


def _orientation(raw_exif: bytes) -> int:
    e = Image.Exif()
    e.load(raw_exif)
    return cast(int, e.get(0x0112, 1))  # Pillow types EXIF values as Any


def _png_spng(data: bytes) -> np.ndarray | None:
    """8- or 16-bit truecolor/gray PNG through libspng (16-bit keeps its high byte, as Pillow does)."""
    if _spng is None or len(data) < 26 or data[24] not in (8, 16) or data[25] not in (0, 2):
        return None
    if int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big") > GIL_CODEC_MAX_PIXELS:
        return png_process.decode(data)  # libspng with the GIL released (or None: OpenCV's turn)
    try:
        arr = _spng.load(data)
    except Exception:  # corrupt or truncated: let Pillow say so
        return None
    if arr.ndim == 3:  # 16-bit comes back with an opaque alpha channel; 1-channel gray as H x W x 1
        arr = arr[:, :, :3] if data[25] == 2 else arr[:, :, 0]
    return np.ascontiguousarray(_to_uint8(arr))


def _fast_pixels(data: bytes, img: Image.Image, fmt: str | None) -> np.ndarray | None:
    """Plain upright RGB or gray PNG/JPEG/WebP: libspng (PNG) and OpenCV (JPEG through
    libjpeg-turbo, WebP through libwebp) decode those straight into the array we need, about
    twice as fast as Pillow plus a conversion. Anything else takes Pillow's path."""
    if fmt not in ("PNG", "JPEG", "WEBP") or img.mode not in ("RGB", "L") or "transparency" in img.info:
        return None
    try:
        if fmt == "PNG":  # Pillow's getexif() would decode a whole PNG to look for a late eXIf chunk;
            exif = img.info.get("exif")  # PNG's spec puts eXIf before the pixel data
            if exif and _orientation(exif) != 1:
                return None
        elif img.getexif().get(0x0112, 1) != 1:
            return None
    except Exception:
        return None
    arr = _png_spng(data) if fmt == "PNG" else None
    if arr is None:
        flags = (cv2.IMREAD_COLOR_RGB if img.mode == "RGB" else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if arr is None or arr.shape[:2] != (img.height, img.width) or arr.ndim != (3 if img.mode == "RGB" else 2):
        return None  # corrupt or truncated: let Pillow say so
    return arr


def _to_uint8(arr: np.ndarray) -> npt.NDArray[np.uint8]:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(arr, initial=0)) <= 1.0 else 1.0
        clipped: np.ndarray = np.clip(np.nan_to_num(arr) * scale, 0, 255)  # numpy types np.clip as Any
        return clipped.astype(np.uint8)
    # 16-bit (I;16*) and 32-bit integer images hold 16-bit samples: keep the high byte
    high_byte: np.ndarray = np.clip(arr.astype(np.int64) >> 8, 0, 255)
    return high_byte.astype(np.uint8)


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode an uploaded image into 8-bit RGB (+ alpha), upright, with its ICC profile."""
    img, fmt = _open(data, max_bytes=max_bytes, max_pixels=max_pixels, field="image", load=False)
    icc = img.info.get("icc_profile")
    fast = _fast_pixels(data, img, fmt)
    if fast is not None:
        gray = fast.ndim == 2
        return DecodedImage(rgb=cv2.cvtColor(fast, cv2.COLOR_GRAY2RGB) if gray else fast, grayscale=gray,
                            format=fmt, icc_profile=icc, source=data if fmt == "JPEG" else None)
    upright = True
    if fmt == "JPEG":
        try:
            upright = img.getexif().get(0x0112, 1) == 1
        except Exception:
            upright = False
    img = _load(img, "image")
    mode = img.mode
    alpha = None
    gray = False
    if mode in _GRAY_MODES:
        gray = True
        g = _to_uint8(np.asarray(img))
        rgb = np.repeat(g[:, :, None], 3, axis=2)
    elif mode in ("LA", "La", "PA") or (mode == "P" and "transparency" not in img.info):
        if mode == "P":
            rgb = np.asarray(img.convert("RGB"))
        else:
            la = np.asarray(img.convert("LA") if mode != "PA" else img.convert("RGBA"))
            if mode == "PA":
                rgb, alpha = la[:, :, :3], la[:, :, 3]
            else:
                gray = True
                rgb, alpha = np.repeat(la[:, :, :1], 3, axis=2), la[:, :, 1]
    else:
        if mode == "CMYK":
            icc = None  # a CMYK profile does not describe the RGB pixels we send back
        has_alpha = mode in ("RGBA", "RGBa", "P") or "transparency" in img.info
        arr = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
        rgb = arr[:, :, :3]
        alpha = arr[:, :, 3] if has_alpha else None
    if alpha is not None and alpha.min() == 255:
        alpha = None  # an opaque alpha channel adds cost and nothing else
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        alpha=None if alpha is None else np.ascontiguousarray(alpha),
        grayscale=gray,
        format=fmt,
        icc_profile=icc,
        source=data if fmt == "JPEG" else None,
        upright_as_stored=upright,
    )


MASK_ASPECT_PERCENT = 1  # a mask of another size is the image's shape when its aspect is this close


def same_shape(mask: tuple[int, int], image: tuple[int, int]) -> bool:
    """Whether a mask of (w, h) is drawn on the image's shape: its aspect within MASK_ASPECT_PERCENT
    of the image's, |mw/mh - w/h| / (w/h) <= 1%, in integers (no rounding at the edge)."""
    (mw, mh), (w, h) = mask, image
    return 100 * abs(mw * h - w * mh) <= MASK_ASPECT_PERCENT * w * mh


def decode_mask(data: bytes, *, width: int, height: int, max_bytes: int, max_pixels: int
                ) -> tuple[np.ndarray, tuple[int, int]]:
    """A mask image -> H x W uint8 of 0/255, and the mask's own size as sent. Non-zero means
    repaint (for JPEG masks, > 127, because JPEG noise would turn a black background into
    speckles). Transparent pixels of a mask with alpha are never repainted. A mask of the image's
    shape at another size (drawn on a preview, say) is scaled to the image, nearest neighbour, so it
    covers the same share of it; the answer says so (`mask_scaled_from`). A mask of another shape
    would be stretched: it is the caller's mistake, 422 `mask_size_mismatch`."""
    img, fmt = _open(data, max_bytes=max_bytes, max_pixels=max_pixels, field="mask")
    sent = img.size
    if sent != (width, height):
        if not same_shape(sent, (width, height)):
            raise InvalidInput(
                f"mask is {sent[0]}x{sent[1]} but the image is {width}x{height}: send the image's size, or its "
                f"shape at another size (aspect within {MASK_ASPECT_PERCENT}%), which is scaled to it",
                code="mask_size_mismatch")
        img = img.resize((width, height), Image.Resampling.NEAREST)
    threshold = 127 if fmt == "JPEG" else 0
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        la = np.asarray(img.convert("LA"))
        on = (la[:, :, 0] > threshold) & (la[:, :, 1] > 0)
    else:
        on = _to_uint8(np.asarray(img if img.mode in _GRAY_MODES else img.convert("L"))) > threshold
    return on.astype(np.uint8) * 255, sent


def resolve_output_format(requested: str | None, source_format: str | None) -> str:
    """`png` (default), `jpeg`/`jpg`, `webp`, or `original`/`input` (the input's own format
    where it is one of those three, PNG otherwise) -> Pillow's format name."""
    req = (requested or "png").lower()
    if req in ("original", "input", "same"):
        return source_format if source_format in MEDIA_TYPES else "PNG"
    if req not in OUTPUT_FORMATS:
        raise InvalidInput(
            f"output_format {requested!r} is not one of png, jpeg, webp, original", code="invalid_output_format"
        )
    return OUTPUT_FORMATS[req]


def encode_image(
    rgb: np.ndarray,
    *,
    fmt: str = "PNG",
    alpha: np.ndarray | None = None,
    grayscale: bool = False,
    icc_profile: bytes | None = None,
    quality: int = 90,
    png_compress_level: int = 1,
) -> bytes:
    """Encode the result like the input: grayscale stays grayscale, alpha and ICC are kept
    (JPEG has no alpha: it is dropped there). PNG is lossless at every setting: fpng for 8-bit
    RGB/RGBA, OpenCV's zlib (RLE strategy, `png_compress_level`) for gray and where fpng is missing."""
    if grayscale:
        base = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # exact for unchanged (g, g, g) pixels
        arr, mode = (np.dstack((base, alpha)), "LA") if alpha is not None and fmt != "JPEG" else (base, "L")
    elif alpha is not None and fmt != "JPEG":
        arr, mode = np.dstack((rgb, alpha)), "RGBA"
    else:
        arr, mode = rgb, "RGB"
    if fmt == "PNG":
        return encode_png(arr, mode, png_compress_level, icc_profile)
    img = Image.fromarray(np.ascontiguousarray(arr), mode)
    buf = io.BytesIO()
    opts: dict[str, Any] = {}
    if icc_profile:
        opts["icc_profile"] = icc_profile
    if fmt == "JPEG":
        opts.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        opts.update(quality=quality, method=4)
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def _keeps_blocks(img: DecodedImage, fmt: str, requested: str | None) -> bool:
    return fmt == "JPEG" and img.source is not None and (requested or "").lower() in ("original", "input", "same")


def prepare_answer(img: DecodedImage, fmt: str, requested: str | None) -> None:
    """Right after decoding: where the answer will keep a JPEG's blocks, start reading its
    coefficients in the background (they are needed only by `encode_answer`)."""
    source = img.source
    if source is not None and _keeps_blocks(img, fmt, requested) \
            and jpeg_blocks.why_not(source, img.upright_as_stored) is None:
        img.coefficients = jpeg_blocks.prefetch(source)


def encode_answer(
    rgb: np.ndarray,
    img: DecodedImage,
    fmt: str,
    touched: np.ndarray,
    *,
    requested: str | None,
    quality: int = 90,
    png_compress_level: int = 1,
) -> tuple[bytes, jpeg_blocks.BlockStats | None]:
    """The answer's bytes, and for a JPEG answered as JPEG with `original`, how many of its blocks
    were encoded again: there only the MCUs that `touched` (non-zero = repainted) covers are, with
    the input's own tables (jpeg_blocks); elsewhere, or where that cannot apply, the whole image is."""
    stats = None
    source = img.source
    if source is not None and _keeps_blocks(img, fmt, requested):
        # prepare_answer started the coefficients only where blocks can be kept: no second look
        reason = None if img.coefficients is not None else jpeg_blocks.why_not(source, img.upright_as_stored)
        if reason is None:
            try:
                return jpeg_blocks.reencode_touched(source, rgb, touched, img.coefficients)
            except jpeg_blocks.NotApplicable as e:
                reason = str(e)
        stats = jpeg_blocks.BlockStats(reason=reason)
    data = encode_image(rgb, fmt=fmt, alpha=img.alpha, grayscale=img.grayscale, icc_profile=img.icc_profile,
                        quality=quality, png_compress_level=png_compress_level)
    return data, stats


_TO_BGR = {"RGB": cv2.COLOR_RGB2BGR, "RGBA": cv2.COLOR_RGBA2BGRA}


def encode_png(arr: np.ndarray, mode: str, level: int = 1, icc_profile: bytes | None = None,
               *, writer: str = "auto") -> bytes:
    """Lossless PNG of an 8-bit RGB/RGBA/L/LA array. `writer`: auto (fpng where it applies: in this
    process up to GIL_CODEC_MAX_PIXELS, in a child beyond; OpenCV otherwise), fpng (in this process),
    or cv2 (bench/speed.py compares them). The ICC profile goes in an iCCP chunk."""
    arr = np.ascontiguousarray(arr)
    fpng_fits = _fpng is not None and mode in ("RGB", "RGBA")
    if writer == "fpng" and not fpng_fits:
        raise RuntimeError("fpng is not installed or cannot write this mode")
    data: bytes | None = None
    if fpng_fits and writer != "cv2":
        if writer == "fpng" or arr.shape[0] * arr.shape[1] <= GIL_CODEC_MAX_PIXELS:
            data = _fpng.encode_ndarray(arr)
        else:  # large: fpng in a child process, the GIL stays free (None where it cannot run)
            data = png_process.encode(arr)
    if data is None and mode == "LA":  # OpenCV writes 1, 3 or 4 channels only
        buf = io.BytesIO()
        Image.fromarray(arr, mode).save(buf, "PNG", compress_level=level)
        data = buf.getvalue()
    elif data is None:
        data = _png_cv2(arr, mode, level)
    return _with_iccp(data, icc_profile) if icc_profile else data


def _with_iccp(png: bytes, icc_profile: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (PNG requires it before PLTE and IDAT)."""
    body = b"iCCP" + b"ICC Profile\0\0" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:end_ihdr] + chunk + png[end_ihdr:]


def _png_cv2(arr: np.ndarray, mode: str, level: int) -> bytes:
    """OpenCV's PNG encoder with the RLE strategy: about twice as fast as Pillow's at level 1 on
    photos, and smaller (bench/speed.py); the fallback where fpng does not apply."""
    if mode in _TO_BGR:
        arr = cv2.cvtColor(arr, _TO_BGR[mode])
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, level,
                                         cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()

