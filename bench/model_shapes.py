"""Networks of each IOPaint model's size, random weights, for bench/models_cost.py: what a forward
pass costs, not what it paints.

IOPaint builds two of its models itself (mat, fcf: their Generators, loaded from a state dict);
models_cost.py uses those classes at their published widths. The others IOPaint runs from
TorchScript files; their shapes here come from what their authors published:

- migan: MI-GAN's generator at 512 (Picsart-AI-Research/MI-GAN, lib/model_zoo/migan_inference.py:
  channels min(32768 / res, 512), separable 3x3 convs, 4x4 blur down/up filters, skip to-RGB).
  Faithful.
- ldm: CompVis latent-diffusion inpainting_big, built from IOPaint's own copy of that code base
  (iopaint.model.anytext.ldm): UNetModel(in 7, out 3, 256 channels x (1, 2, 3, 4), 2 res blocks,
  attention at 1/2, 1/4, 1/8 with 8 heads, resblock_updown) and the VQ-f4 autoencoder (128 x (1, 2,
  4), 2 res blocks, z 3, no attention), as its config.yaml gives them to our knowledge (the config
  ships inside the checkpoint's zip, which is not at hand to check).
- zits: DQiaole/ZITS_inpainting's parts, approximated: the inpainting net is LaMa_model/ReZeroFFC
  (LaMa's FFC generator with 9 blocks at 512 channels; bench/lama_shaped.py's, 9 blocks) beside
  its StructureEncoder (gated convs 64-128-256-512, 3 dilated res blocks, gated transposed convs
  back); the edge/line transformer (EdgeLineGPT256RelBCE: 16 layers, 256 wide, 8 heads, on 32 x 32
  tokens of a 256 px input) with plain attention; the structure upsampler as a small conv net; the
  wireframe detector (LSM-HAWP) as a two-stack hourglass (depth 4, bottleneck residuals) at 256
  channels on 128 x 128 of a 512 px input, without its line proposal head. Approximate: within a factor that the table says.
- manga: msxie92/MangaInpainting's parts, approximated: SemanticInpaintGenerator (64-128-256-256,
  6 dilated res blocks at 1/8, two decoders) and MangaInpaintGenerator (DeepFill v2: gated convs,
  32 base channels, dilated convs, contextual attention matching 3 x 3 patches at 1/8 with the
  fuse convolutions), and the line extractor (erika) as a 4-level U-Net 32-256. Approximate.

Every model's answer is a smooth fill of the hole (bench/lama_shaped.py's SmoothFill) plus the
network's output at weight 1e-6, as lama_shaped does: every FLOP is spent, and no noise reaches
the verifier (which would call it text left and repaint it)."""

from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lama_shaped import GENERATOR_WEIGHT, FFCResNetGenerator, SmoothFill


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


# ---------------------------------------------------------------- migan

class _Blur(nn.Module):
    """MI-GAN's 4x4 [1, 3, 3, 1] filter, depthwise: down (stride 2) or up (zeros inserted first)."""

    def __init__(self, channels: int, up: bool) -> None:
        super().__init__()
        self.up = up
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        f = torch.outer(f, f)
        f = f / f.sum() * (4.0 if up else 1.0)
        self.register_buffer("f", f.expand(channels, 1, 4, 4).contiguous())
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        if self.up:
            n, c, h, w = x.shape
            z = x.new_zeros(n, c, h * 2, w * 2)
            z[:, :, ::2, ::2] = x
            return F.conv2d(F.pad(z, (2, 1, 2, 1)), self.f, groups=self.channels)
        return F.conv2d(x, self.f, stride=2, padding=1, groups=self.channels)


class _SepConv(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool = False, up: bool = False) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.down = _Blur(cin, False) if down else nn.Identity()
        self.up = _Blur(cout, True) if up else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return _act(self.up(self.pw(self.down(_act(self.dw(x))))))


class MiganShaped(nn.Module):
    """MI-GAN's generator at 512: an encoder 512 -> 4 and a synthesis 4 -> 512 with skips."""

    def __init__(self, resolution: int = 512) -> None:
        super().__init__()
        res = [2 ** i for i in range(int(math.log2(resolution)), 1, -1)]  # 512 ... 4
        ch = {r: min(32768 // r, 512) for r in res}
        self.fromrgb = nn.Conv2d(4, ch[res[0]], 1)
        self.enc = nn.ModuleList([nn.ModuleList([_SepConv(ch[r], ch[r]), _SepConv(ch[r], ch[max(4, r // 2)], down=r > 4)])
                                  for r in res])
        self.dec = nn.ModuleList([nn.ModuleList([_SepConv(ch[r], ch[r]), _SepConv(ch[r], ch[r])]) for r in [4]]
                                 + [nn.ModuleList([_SepConv(ch[r // 2], ch[r], up=True), _SepConv(ch[r], ch[r])])
                                    for r in res[::-1][1:]])
        self.torgb = nn.ModuleList([nn.Conv2d(ch[r], 3, 1) for r in res[::-1]])
        self.rgb_up = nn.ModuleList([_Blur(3, True) for _ in res[1:]])

    def forward(self, x: Tensor) -> Tensor:
        h = _act(self.fromrgb(x))
        feats = []
        for conv1, conv2 in self.enc:
            f = conv1(h)
            feats.append(f)
            h = conv2(f)
        img = torch.zeros(1)
        for i, (conv1, conv2) in enumerate(self.dec):
            h = conv2(conv1(h) + feats[len(feats) - 1 - i])
            y = self.torgb[i](h)
            img = y if i == 0 else self.rgb_up[i - 1](img) + y
        return img


# ---------------------------------------------------------------- zits

class _GateConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, transpose: bool = False) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        self.conv = conv(cin, cout * 2, k, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        a, g = self.conv(x).chunk(2, dim=1)
        return a * torch.sigmoid(g)


class _ResBlock(nn.Module):
    def __init__(self, c: int, dilation: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.c2(F.relu(self.c1(x)))


class ZitsStructureEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.ReflectionPad2d(3), _GateConv(3, 64, 7), nn.ReLU(), _GateConv(64, 128, 4, 2, 1),
                                  nn.ReLU(), nn.Conv2d(128, 256, 4, 2, 1), nn.ReLU(), nn.Conv2d(256, 512, 4, 2, 1), nn.ReLU(),
                                  *[_ResBlock(512, 2) for _ in range(3)])
        self.up = nn.Sequential(_GateConv(512, 256, 4, 2, 1, transpose=True), nn.ReLU(),
                                _GateConv(256, 128, 4, 2, 1, transpose=True), nn.ReLU(),
                                _GateConv(128, 64, 4, 2, 1, transpose=True), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.down(x))


class ZitsInpaintShaped(nn.Module):
    """ZITS's inpaint(images, masks, edge, line, rel_pos, direct) -> image in 0..1."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = FFCResNetGenerator(n_blocks=9)
        self.structure = ZitsStructureEncoder()
        self.fill = SmoothFill()

    def forward(self, images: Tensor, masks: Tensor, edge: Tensor, line: Tensor, rel_pos: Tensor,
                direct: Tensor) -> Tensor:
        keep = 1.0 - masks
        net = self.generator(torch.cat([images * keep, masks], 1)) + self.structure(torch.cat([edge, line, masks], 1)).mean()
        return self.fill(images, keep) * masks + images * keep + GENERATOR_WEIGHT * (net - 0.5)


class EdgeLineShaped(nn.Module):
    """ZITS's edge_line(img, edge, line, masks) -> (edge logits, line logits), 256 x 256."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(6, 64, 7), nn.ReLU(), nn.Conv2d(64, 128, 4, 2, 1),
                                  nn.ReLU(), nn.Conv2d(128, 256, 4, 2, 1), nn.ReLU(), nn.Conv2d(256, 256, 4, 2, 1))
        layer = nn.TransformerEncoderLayer(256, 8, 1024, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 16, enable_nested_tensor=False)
        self.up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1),
                                nn.ReLU(), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 2, 7, padding=3))

    def forward(self, img: Tensor, edge: Tensor, line: Tensor, masks: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.down(torch.cat([img, edge, line, masks], 1))
        n, c, h, w = x.shape
        x = self.blocks(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(n, c, h, w)
        out = self.up(x) * GENERATOR_WEIGHT - 4.0  # no edges, no lines
        return out[:, :1], out[:, 1:]


class StructureUpsampleShaped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), _ResBlock(64, 1), _ResBlock(64, 1),
                                 nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 1, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False) + GENERATOR_WEIGHT * self.net(x)


class _Bottleneck(nn.Module):
    """The stacked hourglass's residual: 1x1 to half, 3x3, 1x1 back (Newell et al.; HAWP's backbone)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(),
                                  nn.Conv2d(mid, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, cout, 1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class _Hourglass(nn.Module):
    def __init__(self, c: int, depth: int) -> None:
        super().__init__()
        self.skip, self.pre, self.post = _Bottleneck(c, c), _Bottleneck(c, c), _Bottleneck(c, c)
        self.inner = _Hourglass(c, depth - 1) if depth > 1 else _Bottleneck(c, c)

    def forward(self, x: Tensor) -> Tensor:
        low = self.post(self.inner(self.pre(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2.0)


class WireframeShaped(nn.Module):
    """LSM-HAWP's backbone: a stem to 128 x 128 and two hourglass stacks of 256 channels (depth 4,
    bottleneck residuals), with its 1x1 heads; no line proposals."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), _Bottleneck(64, 128),
                                  nn.MaxPool2d(2), _Bottleneck(128, 128), _Bottleneck(128, 256))
        self.stacks = nn.ModuleList([_Hourglass(256, 4) for _ in range(2)])
        self.heads = nn.ModuleList([nn.Sequential(_Bottleneck(256, 256), nn.Conv2d(256, 256, 1), nn.ReLU(),
                                                  nn.Conv2d(256, 9, 1)) for _ in range(2)])

    def forward(self, masked_images: Tensor) -> Dict[str, Tensor]:
        x = self.stem(masked_images)
        score = x.new_zeros(())
        for s, h in zip(self.stacks, self.heads):
            x = x + s(x)
            score = score + h(x).mean()
        return {"num_proposals": (score * 0).long(), "lines_pred": masked_images.new_zeros((0, 4)),
                "lines_score": masked_images.new_zeros((0,))}


# ---------------------------------------------------------------- manga

def _gated(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Module:
    return nn.Sequential(_GateConv(cin, cout, k, stride, dilation * (k // 2)), nn.ELU()) if dilation == 1 else \
        nn.Sequential(_DilatedGate(cin, cout, dilation), nn.ELU())


class _DilatedGate(nn.Module):
    def __init__(self, cin: int, cout: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 2, 3, 1, dilation, dilation)

    def forward(self, x: Tensor) -> Tensor:
        a, g = self.conv(x).chunk(2, dim=1)
        return a * torch.sigmoid(g)


class ContextualAttention(nn.Module):
    """DeepFill's contextual attention: every 3 x 3 patch of the 1/2-scaled features against every
    other (cosine), the fuse convolutions over the score map, softmax, and 4 x 4 raw patches pasted
    back: O(N^2) in the positions N of the features' 1/2 copy."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fuse", torch.eye(3).view(1, 1, 3, 3))

    def forward(self, f: Tensor) -> Tensor:
        n, c, h, w = f.shape
        small = F.interpolate(f, scale_factor=0.5, mode="nearest")
        sh, sw = small.shape[-2:]
        patches = F.unfold(small, 3, padding=1)  # n, c*9, N
        normed = patches / patches.norm(dim=1, keepdim=True).clamp(min=1e-4)
        score = torch.bmm(normed.transpose(1, 2), patches)  # n, N, N
        score = F.conv2d(score.unsqueeze(1), self.fuse, padding=1)
        score = F.conv2d(score.view(n, 1, sh, sw, sh, sw).permute(0, 1, 3, 2, 5, 4).reshape(n, 1, sh * sw, sh * sw),
                         self.fuse, padding=1)
        attn = torch.softmax(score.view(n, sh * sw, sh * sw) * 10.0, dim=1)
        raw = F.unfold(f, 4, stride=2, padding=1)  # n, c*16, N
        out = F.fold(torch.bmm(raw, attn), (h, w), 4, stride=2, padding=1) / 4.0
        return out


class MangaInpaintorShaped(nn.Module):
    """IOPaint's manga inpaintor(gray, lines, mask, noise, ones) -> gray in -1..1."""

    def __init__(self, cnum: int = 32) -> None:
        super().__init__()
        sem = [nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.ReLU(), nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(),
               nn.Conv2d(128, 256, 4, 2, 1), nn.ReLU(), nn.Conv2d(256, 256, 4, 2, 1), nn.ReLU()]
        self.semantic = nn.Sequential(*sem, *[_ResBlock(256, 2) for _ in range(6)])
        self.sem_up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1),
                                    nn.ReLU(), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 5, 7, padding=3))
        c = cnum
        self.conv = nn.Sequential(_gated(8, c, 5), _gated(c, c, 3, 2), _gated(c, 2 * c, 3), _gated(2 * c, 2 * c, 3, 2),
                                  _gated(2 * c, 4 * c, 3), _gated(4 * c, 4 * c, 3),
                                  *[_gated(4 * c, 4 * c, 3, dilation=d) for d in (2, 4, 8, 16)])
        self.att_in = nn.Sequential(_gated(8, c, 5), _gated(c, c, 3, 2), _gated(c, 2 * c, 3), _gated(2 * c, 4 * c, 3, 2),
                                    _gated(4 * c, 4 * c, 3), _gated(4 * c, 4 * c, 3))
        self.attention = ContextualAttention()
        self.att_out = nn.Sequential(_gated(4 * c, 4 * c, 3), _gated(4 * c, 4 * c, 3))
        self.merge = nn.Sequential(_gated(8 * c, 4 * c, 3), _gated(4 * c, 4 * c, 3), nn.Upsample(scale_factor=2.0),
                                   _gated(4 * c, 2 * c, 3), _gated(2 * c, 2 * c, 3), nn.Upsample(scale_factor=2.0),
                                   _gated(2 * c, c, 3), _gated(c, c // 2, 3), nn.Conv2d(c // 2, 1, 5, padding=2))
        self.fill = SmoothFill()

    def forward(self, gray: Tensor, lines: Tensor, mask: Tensor, noise: Tensor, ones: Tensor) -> Tensor:
        keep = 1.0 - mask
        screen = self.sem_up(self.semantic(torch.cat([gray * keep, lines, mask], 1)))
        x = torch.cat([gray * keep, lines, screen[:, :4], ones, mask], 1)
        hallu = self.conv(x)
        att = self.att_out(self.attention(self.att_in(x)))
        net = self.merge(torch.cat([hallu, att], 1))
        return self.fill(gray, keep) * mask + gray * keep + GENERATOR_WEIGHT * net


class ErikaShaped(nn.Module):
    """The line extractor(gray 0..255) -> lines 0..255: a 4-level U-Net, 32 to 256 channels."""

    def __init__(self) -> None:
        super().__init__()
        chans = [32, 64, 128, 256]
        self.downs = nn.ModuleList()
        cin = 1
        for c in chans:
            self.downs.append(nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), _ResBlock(c, 1)))
            cin = c
        self.ups = nn.ModuleList([nn.Sequential(nn.Conv2d(chans[i] + chans[i - 1], chans[i - 1], 3, padding=1), nn.ReLU(),
                                                _ResBlock(chans[i - 1], 1)) for i in range(len(chans) - 1, 0, -1)])
        self.out = nn.Conv2d(chans[0], 1, 1)

    def forward(self, gray: Tensor) -> Tensor:
        skips = []
        x = gray / 255.0
        for i, d in enumerate(self.downs):
            x = d(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for u, s in zip(self.ups, skips[-2::-1]):
            x = u(torch.cat([F.interpolate(x, size=s.shape[-2:]), s], 1))
        return torch.full_like(gray, 255.0) + GENERATOR_WEIGHT * self.out(x)


# ---------------------------------------------------------------- ldm (IOPaint's anytext copy of CompVis's code)

def ldm_unet() -> nn.Module:
    from iopaint.model.anytext.ldm.modules.diffusionmodules.openaimodel import UNetModel

    return UNetModel(image_size=64, in_channels=7, model_channels=256, out_channels=3, num_res_blocks=2,
                     attention_resolutions=[8, 4, 2], channel_mult=(1, 2, 3, 4), num_heads=8, resblock_updown=True)


def _vq(kind: str) -> nn.Module:
    from iopaint.model.anytext.ldm.modules.diffusionmodules import model as ae

    cfg = dict(ch=128, out_ch=3, ch_mult=(1, 2, 4), num_res_blocks=2, attn_resolutions=[], in_channels=3, resolution=256,
               z_channels=3, double_z=False)
    net = ae.Encoder(**cfg) if kind == "encoder" else ae.Decoder(**cfg)
    net.mid.attn_1 = nn.Identity()  # attn_type none: IOPaint's copy would build one anyway
    return net


class LdmDiffusionShaped(nn.Module):
    """diffusion(x, t_emb, cond) -> eps: the noise that lands the sampler on the condition's smooth
    fill (tests/standins.py explains the arithmetic), plus the UNet's output at weight 1e-6."""

    def __init__(self) -> None:
        super().__init__()
        self.unet = ldm_unet()
        betas = torch.linspace(0.0015 ** 0.5, 0.0205 ** 0.5, 1000, dtype=torch.float64) ** 2
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, dim=0).float())
        self.freq = math.exp(-math.log(10000.0) * 127 / 128)
        self.fill = SmoothFill(factor=2, rounds=8)

    def forward(self, x: Tensor, t_emb: Tensor, cond: Tensor) -> Tensor:
        u = self.unet
        emb = u.time_embed(t_emb)
        h, hs = torch.cat([x, cond], 1), []
        for module in u.input_blocks:
            h = module(h, emb, None)
            hs.append(h)
        h = u.middle_block(h, emb, None)
        for module in u.output_blocks:
            h = module(torch.cat([h, hs.pop()], 1), emb, None)
        net = u.out(h)
        t = torch.round(torch.asin(t_emb[:, -1].clamp(-1.0, 1.0)) / self.freq).long().clamp(0, 999)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        keep = (cond[:, 3:4] < 0).to(x.dtype)
        x0 = self.fill(cond[:, :3], keep) * (1 - keep) + cond[:, :3] * keep
        return (x - a.sqrt() * x0) / (1.0 - a).sqrt() + GENERATOR_WEIGHT * net


class LdmEncodeShaped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.quant_conv = _vq("encoder"), nn.Conv2d(3, 3, 1)

    def forward(self, masked: Tensor) -> Tensor:
        return F.avg_pool2d(masked, 4) + GENERATOR_WEIGHT * self.quant_conv(self.encoder(masked))


class LdmDecodeShaped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.post_quant_conv, self.decoder = nn.Conv2d(3, 3, 1), _vq("decoder")

    def forward(self, z: Tensor) -> Tensor:
        return F.interpolate(z, scale_factor=4.0, mode="bilinear") + GENERATOR_WEIGHT * self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------- mat, fcf, migan: the answer around IOPaint's call

class MatAnswer(nn.Module):
    """Around IOPaint's MAT Generator: model(image, mask (1 = keep), z, label, ...) in -1..1."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator, self.fill = generator, SmoothFill()

    def forward(self, image: Tensor, mask: Tensor, z: Tensor, label: Tensor, **kw: object) -> Tensor:
        net = self.generator(image, mask, z, label, **kw)
        return self.fill(image, mask) * (1 - mask) + image * mask + GENERATOR_WEIGHT * net


class StackedAnswer(nn.Module):
    """Around FcF's Generator and MI-GAN: model(cat(0.5 - mask, image * (1 - mask)), ...) in -1..1."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator, self.fill = generator, SmoothFill()

    def forward(self, x: Tensor, *a: object, **kw: object) -> Tensor:
        keep = 0.5 + x[:, :1]
        image = x[:, 1:]
        net = self.generator(x, *a, **kw)
        return self.fill(image, keep) * (1 - keep) + image * keep + GENERATOR_WEIGHT * net


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
