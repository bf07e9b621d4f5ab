"""/openapi.json tells the truth: a schema-driven fuzzer (schemathesis) calls every operation in-process
(ASGI) with data made from the document, and runs all of its checks, none narrowed, on every answer:
statuses, bodies, content types and headers as documented, no 5xx, schema-invalid data refused,
schema-valid data accepted. It is told what the schema's own formats look like (`base64-image`,
image/* parts, `text-pattern`, and `uri`: the callback URLs the service's policy accepts), as a
fuzzer cannot know them."""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any, Callable

import httpx
import numpy as np
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

import schemathesis.core.jsonschema as jsonschema_core
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.coverage import _operation as coverage_operation
from schemathesis.transport.serialization import Binary

from app.api import bodies
from app.api.schemas import FONT_FORMAT, IMAGE_FORMAT, LINE_TEXT_FORMAT, TEXT_PATTERN_FORMAT
from app.engine import fonts, text_filter
from app.errors import InvalidInput
from app.main import build_services, create_app, load_engine
from app.tasks.callbacks import CallbackPolicy, CallbackSender
from app.settings import Settings
from tests.support import callback_urls

# the fuzzer submits tasks faster than this machine runs them: the queue is deep enough for all it
# sends (a full queue is a 503, which it would rightly call a server error)
_settings = Settings(model="cv2", request_timeout=120, max_queue_size=1000)


async def _resolve(host: str, port: int) -> list[str]:
    return ["192.0.2.1"]  # TEST-NET-1: every name resolves, to an address nothing is sent to


# the callback URLs the fuzzer makes name hosts this test must not reach: their callbacks are
# answered here, as a receiver would (204)
_offline = CallbackSender(CallbackPolicy(resolve=_resolve), retries=0,
                          transport=httpx.MockTransport(lambda request: httpx.Response(204)))
service = create_app(_settings, build_services(_settings, callbacks=_offline))
load_engine(service.state.services)


async def app(scope, receive, send):
    """The service, with the model loaded above. Schemathesis ends an app's lifespan after each test
    and starts it again for the next; this service's lifespan runs once per process (its shutdown
    stops the worker threads for good), so the lifespan is answered here and the rest passed on."""
    if scope["type"] != "lifespan":
        return await service(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


schema = schemathesis.openapi.from_asgi("/openapi.json", app)
_SPEC = service.openapi()


# The schema's own formats, which a fuzzer cannot know: what a value of each looks like. They are
# declared in /openapi.json and described in docs/API.md; nothing here leaves out a check or a case.
def _image_file(fmt: str) -> st.SearchStrategy[bytes]:
    """An image file in `fmt` of any small size and mode, flat or noisy."""

    @st.composite
    def draw(draw_) -> bytes:
        w, h = draw_(st.integers(1, 48)), draw_(st.integers(1, 48))
        mode = draw_(st.sampled_from(["RGB", "L", "RGBA"] if fmt in ("PNG", "WEBP", "TIFF") else ["RGB", "L"]))
        seed, flat = draw_(st.integers(0, 2**32 - 1)), draw_(st.booleans())
        pixels = np.random.default_rng(seed).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
        if flat:
            pixels[:] = pixels[0, 0]
        buf = io.BytesIO()
        Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode).save(buf, fmt)
        return buf.getvalue()

    return draw()


_FILE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF",
                 "image/bmp": "BMP", "image/tiff": "TIFF"}
for _media, _fmt in _FILE_FORMATS.items():  # a multipart image part (its encoding's contentType: image/*)
    # as schemathesis wraps its own file contents (Binary), so that its checks can read the body
    # as sent (a bare bytes value made every negative case with a file look invalid as sent)
    schemathesis.openapi.media_type(_media, _image_file(_fmt).map(Binary))
# base64-image: base64 of an image file, maybe as a data: URL
schemathesis.openapi.format(IMAGE_FORMAT, st.builds(
    lambda data, prefix: prefix + base64.b64encode(data).decode(),
    st.one_of(*(_image_file(f) for f in _FILE_FORMATS.values())),
    st.sampled_from(["", "data:image/png;base64,", "data:application/octet-stream;base64,"])))


def _compiles(pattern: str) -> bool:
    try:
        text_filter.compile_patterns([pattern], None)
    except InvalidInput:
        return False
    return True


def _one_part(pattern: str) -> bool:
    """Whether a form reads this pattern, sent as a part of its own, as itself: not as JSON text (a
    list of patterns, or an object it refuses), which goes inside a JSON list there (API.md)."""
    return bodies._patterns_part(pattern) == [pattern]


def _any_case(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(name, upper)))


# text-pattern: a preset's name, in any case, or an RE2 regular expression (the fuzzer sends a form's
# patterns a part each, so none that a form reads as JSON, `{}` or `[ ]`)
schemathesis.openapi.format(TEXT_PATTERN_FORMAT, st.one_of(
    st.sampled_from(sorted(text_filter.PRESETS)).flatmap(_any_case),
    st.text(alphabet=st.sampled_from("ab01 .*+?|()[]^$\\dws{},-@é中"), min_size=1, max_size=24).filter(
        lambda p: _compiles(p) and _one_part(p))))
# line-text (replace-text's lines[].text): one line of characters an installed font holds (the
# fonts' own alphabets: Latin, Greek, Cyrillic, CJK, kana, Hangul), as API.md's "Replacing text" says
schemathesis.openapi.format(LINE_TEXT_FORMAT, st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x17F, blacklist_categories=("Cc", "Cs")),
    st.characters(min_codepoint=0x391, max_codepoint=0x44F, blacklist_categories=("Cn",)),
    st.sampled_from("中文字幕测试日本語のカタカナ한국어")), max_size=40))
# font-name (replace-text's style.font): sans, serif or an installed family (GET /api/v1/fonts), any case
schemathesis.openapi.format(FONT_FORMAT, st.sampled_from(
    ["sans", "serif", *sorted({f.family for f in fonts.font_book().faces})]).flatmap(_any_case))
# uri (callback_url): an http(s) URL outside the refused targets, as API.md's Callback says
schemathesis.openapi.format("uri", callback_urls())


def _is_callback_url(value: object) -> bool:
    try:
        CallbackPolicy().check_url(str(value))
    except InvalidInput:
        return False
    return True


def _read_uri_as_this_document_means_it() -> None:
    """A fix to schemathesis 4.32.5, not a narrowing: it generates `uri` values from the strategy
    above, but judges them by RFC 3986 alone wherever it asks whether data is valid (its checks,
    and the overlay that puts the application's own string literals into valid cases). By RFC 3986
    `fd00:ec2::/32`, one of app.tasks.callbacks' refused networks, is a URI (scheme `fd00`), so it
    went out as valid data and the service's right answer (422) counted as a failure. In this
    document `uri` is a callback URL (API.md, Callback), and schemathesis now reads it so."""
    original = jsonschema_core.supplemental_formats

    def formats(validator_cls: type) -> dict[str, Callable[[Any], bool]]:
        return {**(original(validator_cls) or {}), "uri": _is_callback_url}

    jsonschema_core.supplemental_formats = formats


_read_uri_as_this_document_means_it()


def _read_file_parts_as_sent() -> None:
    """A fix to schemathesis 4.32.5, not a narrowing: to tell whether a negative multipart case is
    still invalid once sent (an empty list sends no part, so `padding: []` arrives as no padding),
    it validates the body with its file parts as its own `Binary` values, which jsonschema_rs
    refuses to read (ValueError: Unsupported type 'Binary'); every such case then counted as
    invalid as sent, and the service's right answer (200) as a failure. A file part is a string
    to the schema (`format: binary`), so it is read as one; every check still runs on every case."""
    original = openapi_checks._form_body_is_valid_as_sent

    def valid_as_sent(response, case, media_type):
        body = case.body
        if not isinstance(body, dict) or not any(isinstance(v, Binary) for v in body.values()):
            return original(response, case, media_type)
        case.body = {k: "" if isinstance(v, Binary) else _as_read(case, k, v) for k, v in body.items()}
        try:
            return original(response, case, media_type)
        finally:
            case.body = body

    openapi_checks._form_body_is_valid_as_sent = valid_as_sent


def _as_read(case, name: str, value: object) -> object:
    """A part its encoding declares JSON (application/json), as the service reads it: the value
    its text holds (text that is no JSON stays text, and is as invalid as sent)."""
    op = _SPEC["paths"].get(case.path, {}).get(case.method.lower(), {})
    encoding = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("encoding", {})
    if isinstance(value, str) and encoding.get(name, {}).get("contentType") == "application/json":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_read_file_parts_as_sent()


def _fill_required_parts_as_documented() -> None:
    """A fix to schemathesis 4.32.5, not a narrowing: its coverage phase builds a multipart body
    around the parts it has a strategy for (the image files) and fills every other required part
    with an empty string, calling the case valid. replace-text's `lines` is required, a JSON list
    (its encoding: application/json), and an empty part is rightly refused. Such a part gets its
    documented example instead, as JSON text; every other case is as schemathesis draws it."""
    original = coverage_operation._generate_multipart_body_from_custom_strategies

    def generate(body):
        out = original(body)
        if out is None:
            return out
        result, content_types = out
        for name, prop in body.form_properties.items():
            if result.get(name) == "" and prop.get("examples") and prop.get("type") in ("array", "object"):
                result[name] = json.dumps(prop["examples"][0])
        return result, content_types

    coverage_operation._generate_multipart_body_from_custom_strategies = generate


_fill_required_parts_as_documented()


# A rule across two fields, which JSON Schema cannot say (API.md, `mask`): a mask is of its image's
# shape, at the image's size or another (a preview's); one of another shape is 422
# `mask_size_mismatch` (tests/test_errors.py). So a mask the fuzzer drew is sent at its image's
# size, or at twice it where the mask drawn was the larger: its pixels, format and mode as drawn.
def _image_in(value: object) -> tuple[Image.Image, str] | None:
    """The image a body's field holds (a file part, or base64 maybe as a data: URL) and how it was
    written ("" for a file, else the data: prefix); None where it holds none."""
    if isinstance(value, Binary):
        data, prefix = value.data, ""
    elif isinstance(value, str):
        prefix = value[:value.index(",") + 1] if value.startswith("data:") and "," in value else ""
        try:
            data = base64.b64decode(value[len(prefix):], validate=True)
        except ValueError:
            return None
    else:
        return None
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:  # not an image: the case is about that, and is sent as drawn
        return None
    return img, prefix


def _of_the_image_shape(body: dict) -> None:
    image, mask = _image_in(body.get("image")), _image_in(body.get("mask"))
    if image is None or mask is None:
        return
    (w, h), (m, prefix) = image[0].size, mask
    size = (2 * w, 2 * h) if m.width * m.height > w * h else (w, h)
    if m.size == size:
        return
    buf = io.BytesIO()
    m.resize(size, Image.Resampling.NEAREST).save(buf, m.format)
    data = buf.getvalue()
    body["mask"] = Binary(data) if isinstance(body["mask"], Binary) else prefix + base64.b64encode(data).decode()


# Another rule across fields (API.md, replace-text): a line's region covers part of its image (one
# wholly outside it, or with no width or height there, is 422 `region_outside_image`,
# tests/test_replace.py). So a line's box or polygon the fuzzer drew is moved, as drawn, to begin
# inside the image, and a box or polygon with less than a pixel of width (or height) gets one pixel
# of it; otherwise its size and form are kept.
def _lines_on_the_image(body: dict) -> None:
    image, lines = _image_in(body.get("image")), body.get("lines")
    if image is None:
        return
    if isinstance(lines, str):  # a multipart part: JSON text
        try:
            parsed = json.loads(lines)
        except ValueError:
            return
        if isinstance(parsed, list):
            _move_onto(parsed, *image[0].size)
            body["lines"] = json.dumps(parsed)
    elif isinstance(lines, list):
        _move_onto(lines, *image[0].size)


def _move_onto(lines: list, w: int, h: int) -> None:
    def num(v: object) -> bool:  # a coordinate the schema admits (one it refuses stays as drawn)
        return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 10_000_000

    for line in lines:
        region = line.get("region") if isinstance(line, dict) else None
        if not isinstance(region, dict):
            continue
        box = region.get("bounding_box") if isinstance(region.get("bounding_box"), dict) else region
        if num(box.get("x")) and num(box.get("y")):
            box["x"], box["y"] = min(max(box["x"], 0), w - 1), min(max(box["y"], 0), h - 1)
        for side in ("width", "height"):  # under a pixel (5e-324 vanishes beside a coordinate): one pixel
            if num(box.get(side)) and 0 < box[side] < 1:
                box[side] = 1
        points = region.get("points")
        if isinstance(points, list) and points and all(isinstance(p, list) and len(p) == 2 and all(map(num, p))
                                                       for p in points):
            dx = min(max(min(p[0] for p in points), 0), w - 1) - min(p[0] for p in points)
            dy = min(max(min(p[1] for p in points), 0), h - 1) - min(p[1] for p in points)
            moved = [[p[0] + dx, p[1] + dy] for p in points]
            if len(moved) >= 3 and len({p[0] for p in moved}) == 1:  # no width: a line needs some, on the image
                moved[1][0] += 1
            if len(moved) >= 3 and len({p[1] for p in moved}) == 1:
                moved[2][1] += 1
            region["points"] = moved


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Each mask of the image's shape (a batch's items' too), and each line on its image, as above."""
    if isinstance(case.body, dict):
        for body in [case.body, *(i for i in case.body.get("items") or [] if isinstance(i, dict))]:
            _of_the_image_shape(body)
        _lines_on_the_image(case.body)


@schema.parametrize()
# derandomize: the same cases on every run, so CI is repeatable; for more and new cases, run it with
# FUZZ_EXAMPLES=100 FUZZ_RANDOM=1
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 15)), derandomize=not os.environ.get("FUZZ_RANDOM"),
          database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    case.call_and_validate()


def test_the_header_table_is_what_api_md_and_openapi_say():
    """app/api/headers.py both sends the image answers' headers and documents them: docs/API.md
    holds its table as it is, and OpenAPI lists each route's headers from it."""
    from pathlib import Path

    from app.api import headers

    doc = (Path(__file__).resolve().parent.parent / "docs" / "API.md").read_text()
    section = doc.split("<!-- headers:begin -->\n", 1)[1].split("\n<!-- headers:end -->", 1)[0]
    assert section == headers.markdown()
    for path, route in (("/api/v1/inpaint", headers.MASK), ("/api/v1/inpaint-regions", headers.REGIONS),
                        ("/api/v1/replace-text", headers.REPLACE)):
        documented = _SPEC["paths"][path]["post"]["responses"]["200"]["headers"]
        assert set(documented) == {h.name for h in headers.HEADERS if route in h.routes}
