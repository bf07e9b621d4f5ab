"""Stand-in weights for every IOPaint model the service offers, written where and how IOPaint 1.6.0
reads them, so that its own model classes load them (tests/test_every_model.py).

Where IOPaint runs a TorchScript file (lama, ldm, zits, manga, migan: helper.load_jit_model), the
stand-in is a tiny scripted module with the exact inputs and outputs IOPaint's code passes and
reads, painting the mean colour of what the hole leaves (ldm: through its latent, its sampler
and its decoder). Where IOPaint builds the network itself and loads a state dict with
strict=True (mat, fcf), the stand-in is IOPaint's own Generator with random weights, saved as its
loader expects; narrower than the published one (`narrow_mat`, `narrow_fcf` patch the widths IOPaint
hard-codes) so that a forward pass costs a fraction of a second, and with its to-RGB layers zeroed,
so that it paints mid-grey (0 in its -1..1 output) rather than noise. bench/models_cost.py loads
the published widths through the same loaders.

Each writer returns the files it wrote (the paths come from IOPaint's own URL constants and
helper.get_cache_path_by_url, under TORCH_HOME/hub/checkpoints)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor, nn


def _path(url: str) -> Path:
    from iopaint.helper import get_cache_path_by_url

    return Path(get_cache_path_by_url(url))


def _save(module: nn.Module, url: str) -> Path:
    path = _path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(module).save(str(path))
    return path


def _mean_fill(image: Tensor, keep: Tensor) -> Tensor:
    """Each channel's mean over the kept pixels, in the hole; the image elsewhere."""
    mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    return image * keep + mean * (1.0 - keep)


# --- lama: model(image N x 3 x H x W 0..1, mask N x 1 x H x W) -> image 0..1 ------------------------

class _Lama(nn.Module):
    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return _mean_fill(image, 1.0 - (mask > 0).to(image.dtype))


def write_lama() -> list[Path]:
    from iopaint.model.lama import LAMA_MODEL_URL

    return [_save(_Lama(), LAMA_MODEL_URL)]


# --- ldm: encode, diffusion (eps of x_t, t embedding, condition), decode -----------------------------

class _LdmEncode(nn.Module):
    """The masked image (-1..1) to its latent: a 1/4 average (IOPaint's real one is a VQ encoder)."""

    def forward(self, masked_image: Tensor) -> Tensor:
        return nn.functional.avg_pool2d(masked_image, 4)


class _LdmDecode(nn.Module):
    def forward(self, latent: Tensor) -> Tensor:
        return nn.functional.interpolate(latent, scale_factor=4.0, mode="nearest")


class _LdmDiffusion(nn.Module):
    """The noise that makes the sampler's x0 the condition's latent mean-filled in the hole. t is
    read back from IOPaint's sinusoidal embedding (its slowest frequency: sin(t f) ~ t f), the
    noise level from the schedule IOPaint's LatentDiffusion registers (linear 0.0015..0.0205,
    1000 steps); DDIM and PLMS then both land on x0 exactly."""

    def __init__(self) -> None:
        super().__init__()
        betas = torch.linspace(0.0015 ** 0.5, 0.0205 ** 0.5, 1000, dtype=torch.float64) ** 2
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, dim=0).float())
        self.freq = math.exp(-math.log(10000.0) * 127 / 128)

    def forward(self, x: Tensor, t_emb: Tensor, cond: Tensor) -> Tensor:
        t = torch.round(torch.asin(t_emb[:, -1].clamp(-1.0, 1.0)) / self.freq).long().clamp(0, 999)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        keep = (cond[:, 3:4] < 0).to(x.dtype)  # IOPaint's mask, normed to -1 (kept) .. 1 (hole)
        x0 = _mean_fill(cond[:, :3], keep)
        return (x - a.sqrt() * x0) / (1.0 - a).sqrt()


def write_ldm() -> list[Path]:
    from iopaint.model.ldm import LDM_DECODE_MODEL_URL, LDM_DIFFUSION_MODEL_URL, LDM_ENCODE_MODEL_URL

    return [_save(_LdmDiffusion(), LDM_DIFFUSION_MODEL_URL), _save(_LdmDecode(), LDM_DECODE_MODEL_URL),
            _save(_LdmEncode(), LDM_ENCODE_MODEL_URL)]


# --- zits: wireframe, edge + line, structure upsampling, inpainting -----------------------------------

class _ZitsWireframe(nn.Module):
    """LCNN's output as ZITS reads it: no line proposals."""

    def forward(self, masked_images: Tensor) -> Dict[str, Tensor]:
        return {"num_proposals": torch.zeros((), dtype=torch.long), "lines_pred": masked_images.new_zeros((0, 4)),
                "lines_score": masked_images.new_zeros((0,))}


class _ZitsEdgeLine(nn.Module):
    def forward(self, img: Tensor, edge: Tensor, line: Tensor, masks: Tensor) -> Tuple[Tensor, Tensor]:
        return edge * 0.0 - 4.0, line * 0.0 - 4.0  # logits: no edges, no lines


class _ZitsUpsample(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class _ZitsInpaint(nn.Module):
    def forward(self, images: Tensor, masks: Tensor, edge: Tensor, line: Tensor, rel_pos: Tensor,
                direct: Tensor) -> Tensor:
        return _mean_fill(images, 1.0 - masks)


def write_zits() -> list[Path]:
    from iopaint.model import zits

    return [_save(_ZitsWireframe(), zits.ZITS_WIRE_FRAME_MODEL_URL), _save(_ZitsEdgeLine(), zits.ZITS_EDGE_LINE_MODEL_URL),
            _save(_ZitsUpsample(), zits.ZITS_STRUCTURE_UPSAMPLE_MODEL_URL), _save(_ZitsInpaint(), zits.ZITS_INPAINT_MODEL_URL)]


# --- manga: line extraction (grey 0..255 -> lines 0..255), inpaintor (grey -1..1 in and out) ---------

class _MangaLines(nn.Module):
    def forward(self, gray: Tensor) -> Tensor:
        return torch.full_like(gray, 255.0)  # no lines anywhere


class _MangaInpaintor(nn.Module):
    def forward(self, gray: Tensor, lines: Tensor, mask: Tensor, noise: Tensor, ones: Tensor) -> Tensor:
        return _mean_fill(gray, 1.0 - mask)


def write_manga() -> list[Path]:
    from iopaint.model.manga import MANGA_INPAINTOR_MODEL_URL, MANGA_LINE_MODEL_URL

    return [_save(_MangaInpaintor(), MANGA_INPAINTOR_MODEL_URL), _save(_MangaLines(), MANGA_LINE_MODEL_URL)]


# --- migan: model(cat(0.5 - mask, image * (1 - mask)), -1..1) -> image -1..1 --------------------------

class _Migan(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        keep = 0.5 + x[:, :1]  # 0.5 - mask
        return _mean_fill(x[:, 1:], keep)


def write_migan() -> list[Path]:
    from iopaint.model.mi_gan import MIGAN_MODEL_URL

    return [_save(_Migan(), MIGAN_MODEL_URL)]


# --- mat, fcf: IOPaint's own Generators, narrowed ------------------------------------------------------

def narrow_mat(monkeypatch) -> None:
    """IOPaint's MAT Generator at 1/16 of its convolution widths and a 12-channel transformer (180
    in the published one): the module table `nf` and FirstStage's `dim` are what IOPaint fixes."""
    from iopaint.model import mat

    table = {512: 64, 256: 128, 128: 256, 64: 512, 32: 512, 16: 512, 8: 512, 4: 512}
    monkeypatch.setattr(mat, "nf", lambda stage, *a, **k: table[2 ** stage] // 16)
    defaults = list(mat.FirstStage.__init__.__defaults__)
    defaults[1] = 12  # dim (6 heads)
    monkeypatch.setattr(mat.FirstStage.__init__, "__defaults__", tuple(defaults))


def narrow_fcf(monkeypatch) -> None:
    """IOPaint's FcF Generator with a 64-wide latent and at most 64 channels (512 and 512 in the
    published one; IOPaint passes its widths in FcF.init_model, so its Generator is wrapped)."""
    from iopaint.model import fcf

    original = fcf.Generator

    class Narrow(original):  # type: ignore[misc, valid-type]
        def __init__(self, **kw):
            narrow = {"channel_base": 16384, "channel_max": 64, "num_fp16_res": 4, "conv_clamp": 256}
            super().__init__(**{**kw, "z_dim": 64, "w_dim": 64, "synthesis_kwargs": narrow, "encoder_kwargs": narrow})

    monkeypatch.setattr(fcf, "Generator", Narrow)


def _grey_state_dict(generator: nn.Module) -> dict[str, Tensor]:
    """The generator's random initial weights, its to-RGB layers zeroed: it paints 0 (mid-grey)."""
    with torch.no_grad():
        for name, p in generator.named_parameters():
            if "torgb" in name.lower():
                p.zero_()
    return generator.state_dict()


def write_mat() -> list[Path]:
    """After narrow_mat: the state dict IOPaint's MAT.init_model loads into the Generator it builds."""
    from iopaint.model import mat

    torch.manual_seed(0)
    g = mat.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=512, img_channels=3,
                      mapping_kwargs={"torch_dtype": torch.float32})
    path = _path(mat.MAT_MODEL_URL)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_grey_state_dict(g), path)
    return [path]


def write_fcf() -> list[Path]:
    """After narrow_fcf: the state dict IOPaint's FcF.init_model loads (its own arguments)."""
    from iopaint.model import fcf

    torch.manual_seed(0)
    kw = {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}
    g = fcf.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=512, img_channels=3, synthesis_kwargs=kw,
                      encoder_kwargs=kw, mapping_kwargs={"num_layers": 2})
    path = _path(fcf.FCF_MODEL_URL)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_grey_state_dict(g), path)
    return [path]


WRITERS: dict[str, Callable[[], List[Path]]] = {
    "lama": write_lama, "ldm": write_ldm, "zits": write_zits, "mat": write_mat, "fcf": write_fcf,
    "manga": write_manga, "migan": write_migan,
}
NARROW = {"mat": narrow_mat, "fcf": narrow_fcf}
