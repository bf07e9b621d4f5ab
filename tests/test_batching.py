"""Many small regions, one model call: crops of one request share LaMa's forward passes, with the
same results as one call per crop (exactly, for crops of one padded shape)."""

import io

import numpy as np
import pytest
from PIL import Image

from app.engine import pipeline
from app.engine.masks import PixelBox, Region
from app.engine.models import load_model
from tests.support import lama_path, photo, write_lama_standin


class CountingModule:
    """Wraps LaMa's TorchScript module: counts forward passes and the batch sizes they took."""

    def __init__(self, module):
        self.module, self.batches = module, []

    def __call__(self, image, mask):
        self.batches.append(image.shape[0])
        return self.module(image, mask)


@pytest.fixture(scope="module")
def lama():
    write_lama_standin()
    model, status = load_model("lama", "cpu", fallback=None)
    assert status.active == "lama" and model.batches
    counter = CountingModule(model.manager.model.model)
    model.manager.model.model = counter
    yield model, counter
    lama_path().unlink(missing_ok=True)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _run(model, image: np.ndarray, boxes, batched: bool):
    model.batches = batched
    try:
        job = pipeline.InpaintInput(image=_png(image), regions=[Region.box(*b) for b in boxes], padding=0,
                                    verify=False)  # the forward passes of the first repaint only
        out = pipeline.inpaint(job, model, pipeline.Limits.defaults())
    finally:
        model.batches = True
    return np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB")), out


def test_plan_batches_groups_similar_crops_and_keeps_big_ones_alone():
    small = [PixelBox(10 + 300 * i, 10, 10 + 300 * i + 200, 110 + i) for i in range(4)]
    big = PixelBox(0, 400, 1500, 1200)
    odd = PixelBox(0, 1300, 40, 1340)  # much smaller: padding it to 200 x 112 would waste too much
    groups = pipeline.plan_batches([*small, big, odd], max_side=1024)
    assert sorted(map(sorted, groups)) == [[0, 1, 2, 3], [4], [5]]
    assert pipeline.plan_batches(small, max_side=150) == [[0], [1], [2], [3]]  # each is scaled: alone
    # the pixels of one pass stay within max_side^2
    many = [PixelBox(0, 0, 256, 256)] * 20
    assert all(len(g) * 256 * 256 <= 512 * 512 for g in pipeline.plan_batches(many, max_side=512))


def test_same_shape_crops_give_exactly_the_per_crop_results_in_one_pass(lama):
    model, counter = lama
    img = photo(1024)
    boxes = [(60 + 320 * (i % 3), 80 + 300 * (i // 3), 160, 34) for i in range(6)]  # 6 equal crops, far apart
    counter.batches.clear()
    batched, out = _run(model, img, boxes, batched=True)
    assert counter.batches == [6] and out.crops == 6
    counter.batches.clear()
    single, _ = _run(model, img, boxes, batched=False)
    assert counter.batches == [1] * 6
    assert np.array_equal(batched, single)


def test_on_a_cpu_only_crops_of_one_padded_shape_share_a_pass(lama):
    model, counter = lama
    assert model.batch_waste == 1.0  # a pass costs its pixels here: padding to share would cost more
    img = photo(1024)
    boxes = [(60, 80, 160, 34), (420, 90, 180, 30), (760, 90, 160, 34), (100, 600, 170, 36), (600, 640, 160, 34)]
    counter.batches.clear()
    _run(model, img, boxes, batched=True)
    assert sorted(counter.batches) == [1, 1, 3]  # the three 160 x 34 boxes together, the others alone


def test_mixed_sizes_share_passes_and_mean_the_same(lama):
    model, counter = lama
    model.batch_waste = 1.5  # as on a GPU, where a pass has a fixed cost worth some padding
    img = photo(1024)
    boxes = [(60, 80, 160, 34), (420, 90, 180, 30), (760, 60, 150, 40), (100, 600, 170, 36), (600, 640, 140, 28)]
    counter.batches.clear()
    try:
        batched, _ = _run(model, img, boxes, batched=True)
    finally:
        model.batch_waste = 1.0
    passes = len(counter.batches)
    assert passes < len(boxes) and sum(counter.batches) == len(boxes)
    single, _ = _run(model, img, boxes, batched=False)
    mask = np.zeros(img.shape[:2], bool)
    for x, y, w, h in boxes:
        mask[y:y + h, x:x + w] = True
    assert np.array_equal(batched[~mask], single[~mask]) and np.array_equal(batched[~mask], img[~mask])
    # the stand-in paints the mean of what it sees: padding adds mirrored context, nothing else
    diff = np.abs(batched[mask].astype(int) - single[mask])
    assert diff.mean() < 6, diff.mean()
    assert np.abs(batched[mask].astype(int) - img[mask]).mean() > 3 * diff.mean()  # it did repaint
