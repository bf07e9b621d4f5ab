"""Nothing a request asks for changes a pixel beyond its reach (API.md, "How far a repair may reach").

A region may change only what it draws grown by its padding (a box grows as a box), and, for
shadows and glow, what lies within padding + its halo (a quarter of the line's height, 3-12 px)
of its outline, as an exact Euclidean distance: never the square corners of a box grown by the
halo. An uploaded mask may change its own pixels and what lies within each connected part's halo
of that part; `detect: true` reaches as the lines found would as regions, and never past the
caller's regions grown by padding. A client sends a region to have that text removed, and counts
on the rest of the picture being its own: each case here compares a PNG answer with the decoded
input, on every route and mask mode that repaints, with the repairs verification makes. The
distances are measured here (cv2.pointPolygonTest, cv2.distanceTransform), not by the service's
own zone code: only its `draw_region`, `line_scale` and `halo` are shared."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.engine.masks import Region, draw_region
from app.engine.verify import halo, line_scale
from tests.support import b64, decode, png_bytes, regions_of, wait_status

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import hard_cases as hc  # noqa: E402  (the hard-case scenes of bench/hard_cases.py)

TOL = 1.0  # px: a pixel's centre against the exact outline, for rasterisation


# --- scenes ---------------------------------------------------------------------------------------

def hard_scene(kind: str, si: int):
    """One scene of bench/hard_cases.py, as its run makes it: (PNG bytes, decoded input, lines)."""
    rng = np.random.default_rng(1000 * hc.KINDS.index(kind) + si)
    clean = hc.background(hc.BACKGROUNDS[si % len(hc.BACKGROUNDS)], rng)
    texted, lines = hc.render(clean, kind, rng, hc.fonts())
    data, seen = hc.encode_as(texted, "png-rgb")
    return data, seen, lines


def photo_scene(kind: str = "plain", seed: int = 7):
    """A 512x384 photo with three lines of text (tests/test_verify.py's scene): as hard_scene."""
    rng = np.random.default_rng(seed)
    clean = None
    while clean is None:
        clean = hc.scene(str(rng.choice(hc.SCENES)), rng)
    texted, lines = hc.render(clean, kind, rng, hc.fonts())
    data, seen = hc.encode_as(texted, "png-rgb")
    return data, seen, lines


def glyph_mask(lines) -> np.ndarray:
    """An exact mask of the glyphs, grown by 1 px (no shadow, no glow): uint8, 255 = repaint."""
    glyphs = np.logical_or.reduce([ln.glyphs for ln in lines])
    return cv2.dilate(glyphs.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))


def to_region(r: dict) -> Region:
    if "points" in r:
        return Region(tuple((float(x), float(y)) for x, y in r["points"]))
    return Region.box(float(r["x"]), float(r["y"]), float(r["width"]), float(r["height"]))


def padding_of(client, body: dict) -> int:
    """How far a region grows (API.md: `padding`, else DEFAULT_PADDING, TEXT_MODE_PADDING in the
    text mode; a region the text mode repaints whole grows by `padding`, else DEFAULT_PADDING):
    the larger of the two."""
    s = client.app.state.services.settings
    mode = body.get("mask_mode") or s.default_mask_mode
    given = body.get("padding")
    if given is not None:
        return int(given)
    return max(s.text_mode_padding if mode == "text" else s.default_padding, s.default_padding)


# --- the reach -------------------------------------------------------------------------------------

@dataclass
class Reach:
    """Where an answer may change pixels: `inside` (the regions drawn grown by padding, an uploaded
    mask's pixels), or within `limit` px of a shape (a region's outline, a mask part); with
    `within`, never outside it (detect with regions: the caller's regions grown by padding)."""

    shape: tuple[int, int]
    inside: np.ndarray = field(init=False)
    outlines: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (contour, padding + halo)
    parts: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (bool part, its halo)
    within: np.ndarray | None = None
    within_outlines: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (contour, padding)

    def __post_init__(self) -> None:
        self.inside = np.zeros(self.shape, bool)

    def add_region(self, region: Region, padding: int) -> None:
        m = np.zeros(self.shape, np.uint8)
        draw_region(m, region, padding)
        self.inside |= m > 0
        self.outlines.append((_contour(region), padding + halo(line_scale(region))))

    def add_mask(self, mask: np.ndarray) -> None:
        self.inside |= mask > 0
        n, labels = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
        for i in range(1, n):
            part = labels == i
            ys, xs = np.nonzero(part)
            (_, _), (w, h), _ = cv2.minAreaRect(np.stack([xs, ys], axis=1).astype(np.float32))
            self.parts.append((part, halo(max(1.0, min(w, h)))))

    def limit_to(self, regions: list[Region], padding: int) -> None:
        self.within = np.zeros(self.shape, bool)
        for r in regions:
            m = np.zeros(self.shape, np.uint8)
            draw_region(m, r, padding)
            self.within |= m > 0
            self.within_outlines.append((_contour(r), float(padding)))

    def past(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pixel: how far past its nearest allowance it lies (px; <= TOL: within reach),
        and its distance from the nearest shape."""
        past = np.full(len(ys), np.inf)
        near = np.full(len(ys), np.inf)
        out = ~self.inside[ys, xs]
        for contour, limit in self.outlines:
            d = _polygon_distance(contour, ys, xs)
            past, near = np.minimum(past, d - limit), np.minimum(near, d)
        for part, limit in self.parts:
            d = cv2.distanceTransform((~part).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[ys, xs]
            past, near = np.minimum(past, d - limit), np.minimum(near, d)
        past = np.where(out, past, -np.inf)
        if self.within is not None:
            outside = ~self.within[ys, xs]
            beyond = np.full(len(ys), np.inf)
            for contour, limit in self.within_outlines:
                beyond = np.minimum(beyond, _polygon_distance(contour, ys, xs) - limit)
            # outside the caller's regions grown by padding: beyond, however near (at least TOL past)
            past = np.where(outside, np.maximum(past, np.maximum(beyond, 2 * TOL)), past)
        return past, near


def _contour(region: Region) -> np.ndarray:
    return np.asarray(region.points, np.float32).reshape(-1, 1, 2)


def _polygon_distance(contour: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Exact distance of each pixel's centre from the polygon (0 inside)."""
    return np.array([max(0.0, -cv2.pointPolygonTest(contour, (float(x) + 0.5, float(y) + 0.5), True))
                     for y, x in zip(ys.tolist(), xs.tolist())], np.float64)


def region_reach(shape, regions: list[dict], padding: int) -> Reach:
    reach = Reach(shape[:2])
    for r in regions:
        reach.add_region(to_region(r), padding)
    return reach


def assert_within(answer: bytes, seen: np.ndarray, reach: Reach, what: str, grows: bool = False) -> None:
    """The answer changed something, and nothing beyond the reach. `grows`: a case made to need more
    than its regions grown by padding (a shadow past a tight box) must have changed some pixel there
    (a repair, or a first mask grown by the halo), or its halo went unchecked."""
    out = decode(answer)
    assert out.shape == seen.shape, (out.shape, seen.shape)
    changed = (out != seen).any(axis=2)
    assert changed.any(), f"{what}: the answer changed nothing"
    if grows:
        assert (changed & ~reach.inside).any(), f"{what}: nothing changed past the regions grown by padding (no repair, no halo)"
    ys, xs = np.nonzero(changed)
    past, near = reach.past(ys, xs)
    bad = past > TOL
    if bad.any():
        i = int(np.argmax(np.where(bad, past, -np.inf)))
        far = float(near[bad].max())
        pytest.fail(f"{what}: {int(bad.sum())} of {len(ys)} changed pixels lie beyond the reach; the farthest is "
                    f"{past[i]:.2f} px past it ({near[i]:.2f} px from the nearest region or mask part) at "
                    f"x={xs[i]}, y={ys[i]}; the farthest from every shape is {far:.2f} px away")


def form_of(body: dict) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, (bool, list, dict)) else str(v) for k, v in body.items()}


def post_regions(client, data: bytes, body: dict, form: bool, route: str = "/api/v1/inpaint-regions"):
    if form:
        r = client.post(route, files={"image": ("x.png", data, "image/png")}, data=form_of(body))
    else:
        r = client.post(route, json={"image": b64(data), **body})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return r


# --- regions ----------------------------------------------------------------------------------------

# (kind, scene, request, multipart, grows): the backgrounds take turns (0 photo, 1 busy, 2 light, 3 dark
# busy); `padding: 0` around a soft shadow or glow leaves ink past the boxes: the text mode's first mask
# grows over it (`grows`: see assert_within); in the box mode verification repairs it, aimed at what
# it finds, within the reach
TIGHT_BOX, TIGHT_TEXT = {"mask_mode": "box", "padding": 0}, {"mask_mode": "text", "padding": 0}
REGION_CASES = [
    pytest.param("plain", 1, {}, False, False, id="plain-busy-default"),
    pytest.param("plain", 0, {"mask_mode": "box"}, True, False, id="plain-photo-box-form"),
    pytest.param("softshadow", 1, TIGHT_BOX, False, False, id="softshadow-tight-box-repair"),
    pytest.param("softshadow", 1, TIGHT_BOX, True, False, id="softshadow-tight-box-repair-form"),
    pytest.param("softshadow", 1, {**TIGHT_BOX, "verify": False}, False, False, id="softshadow-tight-box-no-verify"),
    pytest.param("softshadow", 1, TIGHT_TEXT, False, True, id="softshadow-tight-text-grown"),
    pytest.param("softshadow", 2, {}, True, False, id="softshadow-light-default-form"),
    pytest.param("glow", 0, {}, False, False, id="glow-photo-default"),
    pytest.param("glow", 1, TIGHT_BOX, False, False, id="glow-busy-tight-box-repair"),
    pytest.param("outline", 2, {"mask_mode": "text", "padding": 2}, True, False, id="outline-light-text-form"),
    pytest.param("rotated", 0, {}, False, False, id="rotated-photo-polygons-default"),
    pytest.param("rotated", 1, TIGHT_BOX, False, False, id="rotated-busy-polygons-tight-box"),
    pytest.param("thinshadow", 0, {}, True, False, id="thinshadow-photo-polygons-default-form"),
]


@pytest.mark.parametrize("kind,si,body,form,grows", REGION_CASES)
def test_regions_change_nothing_beyond_their_reach(client, kind, si, body, form, grows):
    data, seen, lines = hard_scene(kind, si)
    regions = regions_of(lines)
    r = post_regions(client, data, {"regions": regions, **body}, form)
    assert_within(r.content, seen, region_reach(seen.shape, regions, padding_of(client, body)), f"{kind} {body}",
                  grows=grows)


def test_the_issue_example_changes_nothing_beyond_the_reach(client):
    # a 512x384 photo, three regions, default settings
    data, seen, lines = photo_scene("plain")
    assert seen.shape == (384, 512, 3) and len(lines) == 3
    regions = regions_of(lines)
    r = post_regions(client, data, {"regions": regions}, form=False)
    assert_within(r.content, seen, region_reach(seen.shape, regions, padding_of(client, {})), "the issue's example")


def test_the_json_route_repaints_within_reach_too(client):
    # inpaint-regions-json answers statistics only: the same request's image answer is checked
    data, seen, lines = hard_scene("softshadow", 1)
    body = {"regions": regions_of(lines), **TIGHT_BOX}
    stats = client.post("/api/v1/inpaint-regions-json", json={"image": b64(data), **body})
    assert stats.status_code == 200, stats.text
    assert stats.json()["processing_stats"]["verification"]["regions_checked"] == len(lines)
    r = post_regions(client, data, body, form=False)
    assert_within(r.content, seen, region_reach(seen.shape, body["regions"], 0), "the image of a repaired request",
                  grows=True)


def test_a_task_changes_nothing_beyond_its_reach(client):
    data, seen, lines = hard_scene("softshadow", 1)
    body = {"regions": regions_of(lines), **TIGHT_BOX}
    r = client.post("/api/v1/inpaint-regions-async", json={"image": b64(data), **body})
    assert r.status_code in (200, 202), r.text
    tid = r.json()["task_id"]
    assert wait_status(client, tid)["status"] == "completed"
    res = client.get(f"/api/v1/task-result/{tid}")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert_within(res.content, seen, region_reach(seen.shape, body["regions"], 0), "a task", grows=True)


# --- an uploaded mask ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,si,form", [pytest.param("softshadow", 1, True, id="softshadow-busy-form"),
                                          pytest.param("glow", 0, False, id="glow-photo-json"),
                                          pytest.param("rotated", 3, True, id="rotated-darkbusy-form")])
def test_an_uploaded_mask_changes_nothing_beyond_its_parts_halo(client, kind, si, form):
    data, seen, lines = hard_scene(kind, si)
    mask = glyph_mask(lines)
    if form:
        r = client.post("/api/v1/inpaint", files={"image": ("x.png", data, "image/png"),
                                                  "mask": ("m.png", png_bytes(mask), "image/png")})
    else:
        r = client.post("/api/v1/inpaint", json={"image": b64(data), "mask": b64(png_bytes(mask))})
    assert r.status_code == 200, r.text
    reach = Reach(seen.shape[:2])
    reach.add_mask(mask)
    assert_within(r.content, seen, reach, f"{kind}: an uploaded mask")


@pytest.mark.parametrize("body", [pytest.param({}, id="default"),
                                  pytest.param(TIGHT_BOX, id="tight-box")])
def test_regions_beside_a_mask_reach_as_each_does(client, body):
    data, seen, lines = hard_scene("softshadow", 1)
    mask = glyph_mask(lines[:1])  # the first line by its glyphs, the others as regions
    regions = regions_of(lines[1:])
    r = client.post("/api/v1/inpaint-regions",
                    json={"image": b64(data), "mask": b64(png_bytes(mask)), "regions": regions, **body})
    assert r.status_code == 200, r.text
    reach = region_reach(seen.shape, regions, padding_of(client, body))
    reach.add_mask(mask)
    assert_within(r.content, seen, reach, f"a mask and regions {body}")


# --- detect: true -----------------------------------------------------------------------------------------

def found_lines(client, data: bytes, regions: list[dict] | None = None) -> list[dict]:
    r = client.post("/api/v1/detect-text", json={"image": b64(data), **({"regions": regions} if regions else {})})
    assert r.status_code == 200, r.text
    return [{"points": f["points"]} for f in r.json()["regions"]]


@pytest.mark.parametrize("kind,si,body", [pytest.param("softshadow", 1, {}, id="softshadow-busy-default"),
                                          pytest.param("glow", 0, TIGHT_BOX, id="glow-photo-tight-box"),
                                          pytest.param("rotated", 0, {}, id="rotated-photo-default")])
def test_detected_lines_reach_as_regions_do(client, kind, si, body):
    data, seen, _ = hard_scene(kind, si)
    lines = found_lines(client, data)
    assert lines, "the detector found no text"
    r = post_regions(client, data, {"detect": True, **body}, form=False)
    assert int(r.headers["X-Text-Lines-Detected"]) == len(lines)
    assert_within(r.content, seen, region_reach(seen.shape, lines, padding_of(client, body)), f"detect {kind} {body}")


@pytest.mark.parametrize("body", [pytest.param({}, id="default"),
                                  pytest.param(TIGHT_BOX, id="tight-box")])
def test_detect_within_regions_stays_inside_them(client, body):
    data, seen, lines = hard_scene("softshadow", 1)
    regions = regions_of(lines[:2])  # the third line is not asked for
    found = found_lines(client, data, regions)
    assert found, "the detector found no text in the regions"
    r = post_regions(client, data, {"detect": True, "regions": regions, **body}, form=True)
    padding = padding_of(client, body)
    reach = region_reach(seen.shape, found, padding)
    reach.limit_to([to_region(x) for x in regions], padding)
    assert_within(r.content, seen, reach, f"detect within regions {body}")


def test_the_input_is_read_back_as_sent():
    # the comparison's premise: a PNG decodes to the very pixels it was made from
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
    assert np.array_equal(decode(png_bytes(rgb)), rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(rgb))).convert("RGB")), rgb)
