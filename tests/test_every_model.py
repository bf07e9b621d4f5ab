"""Every model the README lists, and migan: stand-in weights written where and how IOPaint 1.6.0
reads them (tests/standins.py), loaded by IOPaint's own model classes through the service, and
served: named by health and /api/v1/model with no fallback, a region repainted, nothing changed
beyond the reach, verification run, the legacy parameters the model reads handed to IOPaint; a
weights file that is there but broken fails in one line naming it, and stays where it is.

The app runs in-process (the narrowed MAT and FcF are patched in this process), without its text
detector and without warm-up passes, so that the file stays fast on two cores."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app.engine import models as engine_models
from app.engine.models import ModelLoadError, load_model
from app.engine.verify import MAX_HALO
from tests.standins import NARROW, WRITERS
from tests.support import b64, decode, png_bytes, running_app

MODELS = ["lama", "ldm", "zits", "mat", "fcf", "manga", "migan"]
GREY = (128, 128, 128)  # the narrowed MAT and FcF paint 0 of -1..1: 128
REGION = {"x": 40, "y": 40, "width": 48, "height": 16}
PADDING = 2
# what each model reads of the legacy parameters, sent as a backend sends them; every IOPaint
# erase model reads sd_keep_unmasked_area (InpaintModel._pad_forward)
PARAMS = {"ldm": {"ldm_steps": 4, "ldm_sampler": "ddim"}, "zits": {"zits_wireframe": False}}


@pytest.fixture
def standin(request, monkeypatch):
    """The model's stand-in files (and, for mat and fcf, IOPaint's narrowed Generator), removed after."""
    name = request.param
    if name in NARROW:
        NARROW[name](monkeypatch)
    paths = WRITERS[name]()
    yield name, paths
    for p in paths:
        p.unlink(missing_ok=True)


@pytest.fixture
def configs(monkeypatch):
    """Every InpaintRequest the service builds for IOPaint (IOPaintModel.config), in order."""
    seen = []
    original = engine_models.IOPaintModel.config

    def spy(self, params):
        config = original(self, params)
        seen.append(config)
        return config

    monkeypatch.setattr(engine_models.IOPaintModel, "config", spy)
    return seen


def scene(bg=GREY) -> np.ndarray:
    """128 x 96, a flat background and a dark bar of 'text' inside REGION."""
    img = np.empty((96, 128, 3), np.uint8)
    img[:] = bg
    img[44:52, 44:84] = (20, 20, 20)
    return img


def reach(shape) -> np.ndarray:
    """Where the answer may differ (API.md, the reach): REGION grown by padding and the largest halo."""
    out = np.zeros(shape[:2], bool)
    grow = PADDING + MAX_HALO + 1
    out[REGION["y"] - grow:REGION["y"] + REGION["height"] + grow, REGION["x"] - grow:REGION["x"] + REGION["width"] + grow] = True
    return out


def counted(owner, attr: str) -> list[int]:
    """Wrap owner.<attr> (a TorchScript module IOPaint calls) and count its calls."""
    import torch

    inner = getattr(owner, attr)
    calls: list[int] = []

    class Counter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, *a, **k):
            calls.append(1)
            return self.inner(*a, **k)

    setattr(owner, attr, Counter())
    return calls


@pytest.mark.parametrize("standin", MODELS, indirect=True)
def test_model_serves_through_iopaints_own_class(standin, configs):
    name, _ = standin
    with running_app(model=name, model_fallback="none", text_detection=False, model_warmup=False) as c:
        health = c.get("/api/v1/health").json()
        assert health["status"] == "healthy" and health["model"] == name and health["fallback"] is False, health
        info = c.get("/api/v1/model").json()
        assert info["name"] == name and info["parameters"]["fallback"] is False
        model = c.app.state.services.models.model
        from iopaint.model import models as iopaint_models

        assert type(model.manager.model) is iopaint_models[name]  # IOPaint's own class loaded the files
        inner = model.manager.model
        steps = counted(inner.model, "diffusion_model") if name == "ldm" else None
        wireframe = counted(inner, "wireframe") if name == "zits" else None

        img = scene()
        body = {"image": b64(png_bytes(img)), "regions": [REGION], "mask_mode": "box", "padding": PADDING,
                "sd_keep_unmasked_area": False, **PARAMS.get(name, {})}
        r = c.post("/api/v1/inpaint-regions", json=body)
        assert r.status_code == 200, r.text
        out = decode(r.content)
        assert int(r.headers["X-Regions-Checked"]) == 1  # verification ran
        bar = (slice(44, 52), slice(44, 84))
        assert np.abs(out[bar].astype(int) - img[bar]).min() > 60, "the text bar was not repainted"
        # the surroundings' grey (ldm's last DDIM step keeps 4 % of its noise: within 25)
        assert np.abs(out[bar].astype(int) - GREY).max() <= (25 if name == "ldm" else 2), out[bar].reshape(-1, 3)[:4]
        changed = (out != img).any(axis=2)
        assert not (changed & ~reach(img.shape)).any(), "pixels changed beyond the reach"

        if model.batches:  # LaMa: the service runs IOPaint's TorchScript module itself; it reads no parameter
            assert configs == []
            return
        config = configs[-1]
        assert config.sd_keep_unmasked_area is False
        if name == "ldm":
            assert (config.ldm_steps, config.ldm_sampler) == (4, "ddim")
            assert len(steps) == 4  # IOPaint's DDIM sampler took the steps asked for
        if name == "zits":
            assert config.zits_wireframe is False and wireframe == []
            r = c.post("/api/v1/inpaint-regions", json={**body, "zits_wireframe": True})
            assert r.status_code == 200 and configs[-1].zits_wireframe is True and len(wireframe) == 1


@pytest.mark.parametrize("standin", MODELS, indirect=True)
def test_a_broken_weights_file_fails_in_one_line_and_stays(standin):
    name, paths = standin
    broken = paths[-1]
    broken.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError) as e:
        load_model(name, "cpu", fallback=None)
    message = str(e.value)
    assert "\n" not in message and "corrupt" in message and str(broken) in message, message
    assert broken.read_bytes() == b"not a model at all"  # IOPaint would have deleted it


def test_broken_weights_serve_the_fallback_and_health_says_why(monkeypatch):
    paths = WRITERS["migan"]()
    paths[0].write_bytes(b"truncated")
    try:
        with running_app(model="migan", text_detection=False, model_warmup=False) as c:
            body = c.get("/api/v1/health").json()
            assert body["status"] == "healthy" and body["model"] == "cv2" and body["fallback"] is True
            assert "corrupt" in body["fallback_reason"] and paths[0].name in body["fallback_reason"]
    finally:
        for p in paths:
            p.unlink(missing_ok=True)


@pytest.mark.parametrize("standin", ["ldm"], indirect=True)
def test_a_value_iopaint_cannot_take_is_a_422(standin):
    with running_app(model="ldm", model_fallback="none", text_detection=False, model_warmup=False) as c:
        body = {"image": b64(png_bytes(scene())), "regions": [REGION]}
        r = c.post("/api/v1/inpaint-regions", json={**body, "ldm_sampler": "euler"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_model_parameter", r.text
        r = c.post("/api/v1/inpaint-regions", json={**body, "ldm_steps": "many"})
        assert r.status_code == 422 and "ldm_steps" in r.json()["detail"], r.text
        # IOPaint's uniform schedule for 3 steps ends at timestep 1000, past its last: an IndexError
        r = c.post("/api/v1/inpaint-regions", json={**body, "ldm_steps": 3})
        assert r.status_code == 422 and "2 or 4 would run" in r.json()["detail"], r.text


@pytest.mark.parametrize("standin", ["manga"], indirect=True)
def test_manga_keeps_the_inputs_colour(standin):
    """IOPaint's manga model paints grey; the service keeps its luminance under the colour of the
    surroundings (API.md, models), and leaves a grey image grey."""
    red = (200, 70, 60)
    with running_app(model="manga", model_fallback="none", text_detection=False, model_warmup=False) as c:
        img = scene(red)
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(img)), "regions": [REGION],
                                                    "mask_mode": "box", "padding": PADDING})
        assert r.status_code == 200, r.text
        out = decode(r.content)
        bar = out[44:52, 44:84].astype(int)
        assert (bar.max(axis=2) - bar.min(axis=2)).min() > 90, "the repainted area came out grey"
        assert np.abs(bar - red).max() <= 16
        assert not ((out != img).any(axis=2) & ~reach(img.shape)).any()
        grey = scene((150, 150, 150))
        out = decode(c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(grey)), "regions": [REGION],
                                                              "mask_mode": "box"}).content)
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


class Recorder:
    """A model that records the shape of each crop it is given and paints it white."""

    name, device = "recorder", "cpu"

    def __init__(self, fit):
        self.fit, self.shapes = fit, []

    def __call__(self, rgb, mask, params):
        self.shapes.append(rgb.shape[:2])
        return np.full_like(rgb, 255)


def _run(model, img, regions):
    from app.engine import pipeline
    from app.engine.masks import Region

    job = pipeline.InpaintInput(image=png_bytes(img), regions=[Region.box(*r) for r in regions], padding=0,
                                mask_mode="box", verify=False)
    return decode(pipeline.inpaint(job, model, pipeline.Limits.defaults()).data)


def test_crops_follow_the_models_own_padding():
    """A model that runs at 512 x 512 (MAT, FcF, MI-GAN) is given 512 x 512 of the image around
    each group of regions (groups that fit in it together, once), a larger group scaled to it; ZITS (square, at least 256, multiples of
    32) a square of the image; cv2 (pads to 1) its crops as planned. Only the regions change."""
    from app.engine.models import Fit

    img = np.full((1200, 1200, 3), 90, np.uint8)
    small, wide = (100, 100, 120, 20), (100, 700, 1000, 30)
    for fit, want in [(Fit(512, 512, True), [(512, 512), (512, 512)]), (Fit(32, 256, True), [(256, 256), (1152, 1152)]),
                      (Fit(1), [(148, 248), (158, 1128)])]:
        model = Recorder(fit)
        out = _run(model, img, [small, wide])
        assert model.shapes == want, (fit, model.shapes)
        changed = (out != img).any(axis=2)
        expected = np.zeros_like(changed)
        for x, y, w, h in (small, wide):
            expected[y:y + h, x:x + w] = True
        assert np.array_equal(changed, expected)
    # two groups that fit in 512 x 512 together share that one pass
    model = Recorder(Fit(512, 512, True))
    out = _run(model, img, [small, (300, 330, 100, 20)])
    assert model.shapes == [(512, 512)] and (out[330:350, 300:400] == 255).all() and (out[100:120, 100:220] == 255).all()


def test_weights_that_load_but_fail_their_first_pass_serve_the_fallback():
    """A TorchScript file that loads but does not take what IOPaint's LaMa passes: the warm-up pass
    fails, and the fallback serves with the reason (not a service that fails every request)."""
    import torch

    class OneInput(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return image

    from iopaint.helper import get_cache_path_by_url
    from iopaint.model.lama import LAMA_MODEL_URL

    path = get_cache_path_by_url(LAMA_MODEL_URL)
    torch.jit.script(OneInput()).save(path)
    try:
        model, status = load_model("lama", "cpu", fallback="cv2")
        assert model.name == "cv2" and status.fallback and "first forward pass failed" in status.reason
        assert "\n" not in status.reason
    finally:
        os.unlink(path)


def test_another_models_parameters_are_ignored(client):
    """ldm_steps (even one IOPaint's ldm cannot run) and zits_wireframe sent to cv2: ignored, as any
    parameter the model does not read."""
    r = client.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(scene())), "regions": [REGION],
                                                     "ldm_steps": 3, "ldm_sampler": "euler", "zits_wireframe": "x"})
    assert r.status_code == 200, r.text
