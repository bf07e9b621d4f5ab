"""How the model runs: FFT-friendly padding, torch's threads and precision in health, warm-up at
start, one forward pass at a time, and the model's own time in health and /metrics."""

import threading
import time

import numpy as np
import pytest
import torch

from app.engine import pipeline
from app.engine.masks import Region
from app.engine.models import Tuning, fft_friendly, load_model
from tests.support import b64, decode, lama_path, photo, png_bytes, running_app, write_lama_standin


def _smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def test_fft_friendly_is_the_smallest_multiple_of_mod_with_small_prime_factors():
    for side in range(1, 2100):
        padded = fft_friendly(side, 8)
        assert padded >= side and padded % 8 == 0 and _smooth(padded // 8)
        assert not any(_smooth(m) for m in range(-(-side // 8), padded // 8))  # none smaller
    assert fft_friendly(712) == 720  # 712 / 8 = 89, a prime: 90 = 2 x 3^2 x 5
    assert fft_friendly(168) == 168  # 21 = 3 x 7: as IOPaint pads it
    assert fft_friendly(100) == 112  # 104 / 8 = 13, a prime
    assert all(fft_friendly(s) <= 1.1 * s + 8 for s in range(64, 4096))  # a few per cent at most


class Recorder:
    """Wraps LaMa's TorchScript module: the input shapes, and how many passes ran at once."""

    def __init__(self, module, hold: float = 0.0):
        self.module, self.hold, self.shapes, self.threads = module, hold, [], []
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, image, mask):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.shapes.append(tuple(image.shape))
        try:
            time.sleep(self.hold)
            out = self.module(image, mask)
            self.threads.append(torch.get_num_threads())  # in the worker thread, after its pass
            return out
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def lama():
    write_lama_standin()
    model, status = load_model("lama", "cpu", fallback=None, tuning=Tuning(warmup=False))
    assert status.active == "lama" and model.batches
    recorder = Recorder(model.manager.model.model)
    model.manager.model.model = recorder
    yield model, recorder
    lama_path().unlink(missing_ok=True)


def _job(image: np.ndarray, boxes) -> pipeline.InpaintInput:
    return pipeline.InpaintInput(image=png_bytes(image), regions=[Region.box(*b) for b in boxes], padding=0,
                                 verify=False)


def test_a_crop_is_padded_to_an_fft_friendly_shape_and_keeps_its_pixels(lama):
    model, recorder = lama
    img = photo(1024)
    # one box: its crop is 584 px wide (+ 2 x 64 context) = 712 px, 712 / 8 = 89
    out = pipeline.inpaint(_job(img, [(300, 400, 584, 30)]), model, pipeline.Limits.defaults())
    assert out.crops == 1 and recorder.shapes == [(1, 3, fft_friendly(30 + 128), 720)]
    result = decode(out.data)
    outside = np.ones(img.shape[:2], bool)
    outside[400:430, 300:884] = False
    assert np.array_equal(result[outside], img[outside])  # only the hole is repainted
    assert np.abs(result[~outside].astype(int) - img[~outside]).mean() > 3  # and it was


def test_forward_passes_never_overlap_with_several_workers(lama):
    model, recorder = lama
    recorder.hold = 0.2  # long enough for a second worker to try
    img = photo(512)
    jobs = [_job(img, [(40 + 150 * i, 100, 100, 30)]) for i in range(3)]
    threads = [threading.Thread(target=pipeline.inpaint, args=(j, model, pipeline.Limits.defaults())) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(recorder.shapes) == 3 and recorder.most == 1


def _counting_standin() -> None:
    """The stand-in of conftest, counting its forward passes in a buffer (read after start)."""

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(1, dtype=torch.int64))

        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            self.calls.add_(1)
            keep = 1.0 - mask
            mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
            return image * keep + mean * mask

    lama_path().parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(Counting()).save(str(lama_path()))


@pytest.fixture
def counting_lama():
    _counting_standin()
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    lama_path().unlink(missing_ok=True)


def _calls(client) -> int:
    module = client.app.state.services.models.model.manager.model.model
    return int(module.calls.item())


def test_warm_up_runs_at_start_and_health_reports_threads_precision_and_model_time(counting_lama):
    with running_app(model="lama", model_fallback="none", torch_threads=1, model_precision="bf16") as c:
        assert _calls(c) == 2  # before any request: the warm-up passes
        inference = c.get("/api/v1/health").json()["inference"]
        assert inference["intra_op_threads"] == 1
        assert inference["interop_threads"] == torch.get_num_interop_threads()
        assert inference["warmup"]["passes"] == 2 and inference["warmup"]["seconds"] > 0
        assert inference["precision"] == "bf16" and inference["channels_last"] is True
        assert inference["forward_passes_at_once"] == 1 and inference["workers"] == 1
        assert inference["model_time"]["images"] == 0
        inner = c.app.state.services.models.model.manager.model
        recorder = inner.model = Recorder(inner.model)
        r = c.post("/api/v1/inpaint-regions", json={"image": b64(png_bytes(photo(256))),
                                                    "regions": [{"x": 40, "y": 60, "width": 120, "height": 30}]})
        assert r.status_code == 200 and recorder.threads and set(recorder.threads) == {1}  # the setting, in use
        assert "model;dur=" in r.headers["server-timing"] and "repaint;dur=" in r.headers["server-timing"]
        spent = c.get("/api/v1/health").json()["inference"]["model_time"]
        assert spent["images"] == 1 and spent["model_seconds_mean"] > 0 and 0 < spent["model_share"] <= 1
        metrics = c.get("/metrics").text
        assert 'iopaint_model_seconds_count{model="lama"} 1.0' in metrics
        assert 'iopaint_image_seconds_count{model="lama"} 1.0' in metrics
        assert 'iopaint_model_seconds_bucket{le="+Inf",model="lama"} 1.0' in metrics


def test_warm_up_can_be_turned_off_and_fp16_needs_cuda(counting_lama):
    with running_app(model="lama", model_fallback="none", model_warmup=False, model_precision="fp16") as c:
        assert _calls(c) == 0
        inference = c.get("/api/v1/health").json()["inference"]
        assert inference["warmup"] is None
        assert inference["precision"] == "fp32" and "CUDA" in inference["precision_note"]
