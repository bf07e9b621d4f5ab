"""A TorchScript file with big-lama's generator shape and random weights, for speed benchmarks.

LaMa's real weights cannot be fetched here, and no registry ships them. This writes a module of
the same shape, so that every forward pass costs what big-lama's does, saved where IOPaint's LaMa
looks for it (`<TORCH_HOME>/hub/checkpoints/big-lama.pt`; an existing file is used as is), with
the exported interface `model(image, mask)` (N x 3 x H x W and N x 1 x H x W in 0..1).

The generator is LaMa's `FFCResNetGenerator` as published (Suvorov et al. 2021; big-lama's config
in advimman/lama, configs/training/big-lama.yaml): reflection-padded 7x7 conv 4 -> 64 on the
masked image and the mask, three stride-2 3x3 convs to 512 channels (the last one splits into 25 %
local / 75 % global channels), 18 FFC residual blocks (ratio_gin = ratio_gout = 0.75, no LFU:
local 3x3 convs for the local<->local and cross paths, a spectral transform with a real FFT, a
1x1 conv over real and imaginary parts, and an inverse FFT for global -> global), three
transposed-conv upsamplings with BatchNorm + ReLU, a reflection-padded 7x7 conv 64 -> 3 and a
sigmoid. About 51 M parameters, ~196 MB on disk, like the real file.

Random weights paint noise, and an honest verifier calls noise "text left" and repaints it. So
the answer inside the mask is a cheap smooth fill from the surroundings (normalized convolution on
a 1/8 copy, upsampled) plus the generator's output at weight 1e-6: every FLOP of the network is
spent, none of its noise shows. The composite is the export's own: `mask * answer + (1 - mask) *
image`. This is a cost model, not an inpainter: never use it to judge quality.

  .venv/bin/python bench/lama_shaped.py                    # bench/out/lama-home/hub/checkpoints/big-lama.pt
  .venv/bin/python bench/lama_shaped.py --check            # also: IOPaint's LaMa loads it, one timed call
  TORCH_HOME=bench/out/lama-home IOPAINT_MODEL=lama IOPAINT_MODEL_FALLBACK=none bash scripts/serve.sh
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Tuple

import torch
from torch import Tensor, nn

HOME = Path(__file__).resolve().parent / "out" / "lama-home"
GENERATOR_WEIGHT = 1e-6


class FourierUnit(nn.Module):
    """rfft2 -> 1x1 conv over (real, imag) channels -> BN -> ReLU -> irfft2 (LaMa's FourierUnit)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(channels * 2, channels * 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels * 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        batch, c, h, w = x.shape
        ffted = torch.fft.rfftn(x.float(), dim=(-2, -1), norm="ortho")
        ffted = torch.stack((ffted.real, ffted.imag), dim=-1)  # b c h w/2+1 2
        ffted = ffted.permute(0, 1, 4, 2, 3).contiguous().view(batch, -1, h, ffted.shape[3])
        ffted = self.relu(self.bn(self.conv_layer(ffted.to(x.dtype))))
        ffted = ffted.view(batch, -1, 2, h, ffted.shape[3]).permute(0, 1, 3, 4, 2).contiguous().float()
        out = torch.fft.irfftn(torch.complex(ffted[..., 0], ffted[..., 1]), s=(h, w), dim=(-2, -1), norm="ortho")
        return out.to(x.dtype)


class SpectralTransform(nn.Module):
    """1x1 conv to half the channels, FourierUnit, residual, 1x1 conv out (enable_lfu=False)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(True))
        self.fu = FourierUnit(half)
        self.conv2 = nn.Conv2d(half, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """Fast Fourier convolution: local (l) and global (g) channel groups, four paths between them."""

    def __init__(self, cin: int, cout: int, kernel: int, ratio_gin: float, ratio_gout: float, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        in_g, out_g = int(cin * ratio_gin), int(cout * ratio_gout)
        in_l, out_l = cin - in_g, cout - out_g
        self.in_g, self.out_g = in_g, out_g

        def conv(a: int, b: int) -> nn.Module:
            if a == 0 or b == 0:
                return nn.Identity()
            return nn.Conv2d(a, b, kernel, stride, padding, bias=False, padding_mode="reflect")

        self.convl2l, self.convl2g, self.convg2l = conv(in_l, out_l), conv(in_l, out_g), conv(in_g, out_l)
        self.convg2g = SpectralTransform(in_g, out_g) if in_g and out_g else nn.Identity()
        self.has_l2l, self.has_l2g = in_l > 0 and out_l > 0, in_l > 0 and out_g > 0
        self.has_g2l, self.has_g2g = in_g > 0 and out_l > 0, in_g > 0 and out_g > 0

    def forward(self, x_l: Tensor, x_g: Tensor) -> Tuple[Tensor, Tensor]:
        out_l = self.convl2l(x_l) if self.has_l2l else x_l.new_zeros(0)
        if self.has_g2l:
            out_l = out_l + self.convg2l(x_g)
        out_g = self.convl2g(x_l) if self.has_l2g else x_l.new_zeros(0)
        if self.has_g2g:
            out_g = out_g + self.convg2g(x_g)
        return out_l, out_g


class FFCBnAct(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, ratio_gin: float, ratio_gout: float, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.ffc = FFC(cin, cout, kernel, ratio_gin, ratio_gout, stride, padding)
        out_g = int(cout * ratio_gout)
        out_l = cout - out_g
        self.bn_l = nn.BatchNorm2d(out_l) if out_l else nn.Identity()
        self.bn_g = nn.BatchNorm2d(out_g) if out_g else nn.Identity()
        self.has_l, self.has_g = out_l > 0, out_g > 0

    def forward(self, x_l: Tensor, x_g: Tensor) -> Tuple[Tensor, Tensor]:
        y_l, y_g = self.ffc(x_l, x_g)
        if self.has_l:
            y_l = torch.relu(self.bn_l(y_l))
        if self.has_g:
            y_g = torch.relu(self.bn_g(y_g))
        return y_l, y_g


class FFCResnetBlock(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.conv1 = FFCBnAct(dim, dim, 3, ratio, ratio, padding=1)
        self.conv2 = FFCBnAct(dim, dim, 3, ratio, ratio, padding=1)

    def forward(self, x_l: Tensor, x_g: Tensor) -> Tuple[Tensor, Tensor]:
        y_l, y_g = self.conv1(x_l, x_g)
        y_l, y_g = self.conv2(y_l, y_g)
        return x_l + y_l, x_g + y_g


class FFCResNetGenerator(nn.Module):
    """big-lama: input_nc 4, output_nc 3, ngf 64, n_downsampling 3, n_blocks 18, max_features 1024."""

    def __init__(self, ngf: int = 64, n_down: int = 3, n_blocks: int = 18, ratio: float = 0.75) -> None:
        super().__init__()
        self.pad_in = nn.ReflectionPad2d(3)
        self.conv_in = FFCBnAct(4, ngf, 7, 0.0, 0.0)
        down = []
        for i in range(n_down):
            last = i == n_down - 1
            down.append(FFCBnAct(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 0.0, ratio if last else 0.0, stride=2, padding=1))
        self.down = nn.ModuleList(down)
        dim = ngf * 2 ** n_down
        self.blocks = nn.ModuleList([FFCResnetBlock(dim, ratio) for _ in range(n_blocks)])
        up: list[nn.Module] = []
        for i in range(n_down):
            c = ngf * 2 ** (n_down - i)
            up += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(c // 2),
                   nn.ReLU(True)]
        self.up = nn.Sequential(*up)
        self.out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        x_l, x_g = self.conv_in(self.pad_in(x), x.new_zeros(0))
        for d in self.down:
            x_l, x_g = d(x_l, x_g)
        for b in self.blocks:
            x_l, x_g = b(x_l, x_g)
        return self.out(self.up(torch.cat([x_l, x_g], dim=1)))


class SmoothFill(nn.Module):
    """The colour of the surroundings inside the hole: a normalized convolution (blur of the kept
    pixels over blur of the kept weights) on a 1/8 copy, repeated until the holes are reached,
    upsampled bilinearly. Costs almost nothing next to the generator."""

    def __init__(self, factor: int = 8, rounds: int = 8) -> None:
        super().__init__()
        self.factor, self.rounds = factor, rounds

    def forward(self, image: Tensor, keep: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        f = self.factor
        small_w = nn.functional.avg_pool2d(keep, f, f, ceil_mode=True)
        small = nn.functional.avg_pool2d(image * keep, f, f, ceil_mode=True)
        acc, weight = small, small_w
        for _ in range(self.rounds):
            acc = nn.functional.avg_pool2d(acc, 5, 1, 2, count_include_pad=False)
            weight = nn.functional.avg_pool2d(weight, 5, 1, 2, count_include_pad=False)
            # what the kept pixels say stays as it is: only the holes take the blur
            acc = torch.where(small_w > 0.5, small, acc)
            weight = torch.where(small_w > 0.5, small_w, weight)
        mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        fill = torch.where(weight > 1e-4, acc / weight.clamp(min=1e-4), mean)
        return nn.functional.interpolate(fill, size=(h, w), mode="bilinear", align_corners=False)


class LamaShaped(nn.Module):
    """big-lama's exported interface: model(image, mask) -> image, composited as the export does."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = FFCResNetGenerator()
        self.fill = SmoothFill()
        self.weight = GENERATOR_WEIGHT

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        mask = (mask > 0).to(image.dtype)  # IOPaint passes an int64 mask
        keep = 1.0 - mask
        masked = torch.cat([image * keep, mask], dim=1)
        predicted = self.generator(masked).to(image.dtype)
        answer = (self.fill(image, keep) + self.weight * (predicted - 0.5)).clamp(0.0, 1.0)
        return mask * answer + keep * image


def build(seed: int = 0) -> torch.jit.ScriptModule:
    torch.manual_seed(seed)
    module = LamaShaped().eval()
    with torch.no_grad():  # random BatchNorm statistics near 1, so activations keep a sane scale
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.uniform_(-0.1, 0.1)
    scripted: torch.jit.ScriptModule = torch.jit.script(module)
    return scripted


def write(home: Path = HOME, seed: int = 0) -> Path:
    """Write `<home>/hub/checkpoints/big-lama.pt`; returns its path."""
    path = home / "hub" / "checkpoints" / "big-lama.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    build(seed).save(str(tmp))
    tmp.replace(path)
    return path


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check(home: Path) -> None:
    """IOPaint's own LaMa code (through the service's loader) loads the file; one timed call."""
    import numpy as np

    os.environ["TORCH_HOME"] = str(home)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app.engine.models import load_model

    model, status = load_model("lama", "cpu", fallback=None)
    assert status.active == "lama" and not status.fallback, status
    rng = np.random.default_rng(0)
    rgb = np.clip(rng.normal(128, 20, (256, 512, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((256, 512), np.uint8)
    mask[100:140, 60:450] = 255
    t0 = time.perf_counter()
    out = model(rgb, mask, {"hd_strategy": "Original"})
    dt = time.perf_counter() - t0
    keep = mask == 0
    assert out.shape == rgb.shape and np.array_equal(out[keep], rgb[keep])
    spread = float(out[~keep].astype(np.float32).std())
    print(f"IOPaint's LaMa loaded it: 512x256 in {dt:.2f} s, fill std {spread:.1f} (input noise std ~20)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=HOME, help="the TORCH_HOME to write under")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="write even if the file exists")
    ap.add_argument("--check", action="store_true", help="load it through IOPaint's LaMa and run one call")
    args = ap.parse_args()
    path = args.home / "hub" / "checkpoints" / "big-lama.pt"
    if args.force or not path.exists():
        path = write(args.home, args.seed)
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {params(LamaShaped()) / 1e6:.1f} M parameters")
    if args.check:
        check(args.home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
