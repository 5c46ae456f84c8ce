"""ProGAN-style generator and discriminator for the default GANPaint-Go model.

The generator mirrors the layer naming of the reference ProGAN (`layer1 … layerN`, two convs per
resolution) because layer names are what users paint at. Each block is a self-contained module
so that export can write one ONNX file per block (docs/model-format.md) and the Go engine can
resume generation from any layer's activations.

Choices driven by the 2-core CPU this is trained on:
- nearest 2x upsample + 3x3 conv instead of ConvTranspose2d (the latter is ~5x slower in
  Debian's torch build);
- slim widths at high resolution (16 channels at 128 px), wide ones where painting happens
  (256 units at 8x8, layer4);
- equalized learning rate (weights stored N(0,1), scaled at run time) so Adam sees a uniform
  effective step across layers; `baked()` folds the scale into plain modules for export.
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

Z_SIZE = 128
DEFAULT_WIDTHS = {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}
LRELU_SLOPE = 0.2
CHECKPOINT_FORMAT = "ganpaint-progan-v1"


@dataclass
class GANConfig:
    """Architecture of a generator/discriminator pair.

    max_res: output resolution (power of two, >= 8); the generator has 2*log2(max_res/2) layers.
    widths: channels per resolution, shared by G (block outputs) and D (mirror).
    z_size: latent size; the z rule of docs/model-format.md fills it.
    """

    max_res: int = 128
    z_size: int = Z_SIZE
    widths: dict = field(default_factory=lambda: dict(DEFAULT_WIDTHS))
    d_widths: dict = None

    def __post_init__(self):
        # JSON round-trips turn int keys into strings.
        self.widths = {int(k): int(v) for k, v in self.widths.items()}
        if self.d_widths is None:
            # D does ~3x G's work per step (two batches, R1 double backprop, the G pass); at half
            # width it costs a quarter, which doubles training throughput on this CPU.
            self.d_widths = {r: max(16, w // 2) for r, w in self.widths.items()}
        self.d_widths = {int(k): int(v) for k, v in self.d_widths.items()}
        if self.max_res < 8 or self.max_res & (self.max_res - 1):
            raise ValueError(f"max_res must be a power of two >= 8, got {self.max_res}")
        for r in self.resolutions():
            if r not in self.widths or r not in self.d_widths:
                raise ValueError(f"no width given for resolution {r}")

    def resolutions(self):
        """4, 8, …, max_res."""
        out, r = [], 4
        while r <= self.max_res:
            out.append(r)
            r *= 2
        return out

    def n_layers(self):
        return 2 * len(self.resolutions())

    def layer_shapes(self):
        """[(name, channels, height, width)] of every generator block output, in order."""
        shapes = []
        for i, r in enumerate(self.resolutions()):
            for j in range(2):
                shapes.append((f"layer{2 * i + j + 1}", self.widths[r], r, r))
        return shapes

    def to_dict(self):
        return {"max_res": self.max_res, "z_size": self.z_size, "widths": dict(self.widths),
                "d_widths": dict(self.d_widths)}


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (ProGAN)."""

    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqConv2d(nn.Module):
    """Conv with equalized learning rate: weight ~ N(0,1) scaled by gain/sqrt(fan_in) on use."""

    def __init__(self, cin, cout, k, gain=math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin * k * k)
        self.pad = k // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)

    def baked(self):
        conv = nn.Conv2d(self.weight.shape[1], self.weight.shape[0], self.weight.shape[2], padding=self.pad)
        with torch.no_grad():
            conv.weight.copy_(self.weight * self.scale)
            conv.bias.copy_(self.bias)
        return conv


class EqLinear(nn.Module):
    def __init__(self, cin, cout, gain=math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin)

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)

    def baked(self):
        lin = nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            lin.weight.copy_(self.weight * self.scale)
            lin.bias.copy_(self.bias)
        return lin


class Upsample2x(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class ZAsMap(nn.Module):
    """[B, Z] -> [B, Z, 1, 1] (a constant target shape keeps the ONNX graph free of Shape ops)."""

    def __init__(self, z_size):
        super().__init__()
        self.z_size = z_size

    def forward(self, x):
        return x.reshape(-1, self.z_size, 1, 1)


class AddMap(nn.Module):
    """Adds a fixed [C, H, W] map (the dense layer's per-pixel bias)."""

    def __init__(self, m):
        super().__init__()
        self.register_buffer("map", m.clone())

    def forward(self, x):
        return x + self.map


class ZBlock(nn.Module):
    """layer1: pixel-normed z -> 4x4 map (a dense layer, equal to the reference's 4x4 conv on a 1x1 z)."""

    def __init__(self, z_size, cout):
        super().__init__()
        self.norm = PixelNorm()
        # ProGAN's gain for the first dense layer: keeps the 4x4 map's variance near that of later layers.
        self.dense = EqLinear(z_size, cout * 16, gain=math.sqrt(2.0) / 4)
        self.cout = cout

    def forward(self, z):
        x = self.dense(self.norm(z)).reshape(-1, self.cout, 4, 4)
        return F.leaky_relu(x, LRELU_SLOPE)

    def baked(self):
        """As the reference: z viewed as a 1x1 map, then a 4x4 conv with padding 3 (output pixel
        (y, x) reads kernel tap (3-y, 3-x), hence the flips). The dense layer has one bias per
        output pixel, so the bias becomes a constant [C, 4, 4] map added after the conv."""
        z = self.dense.weight.shape[1]
        w = (self.dense.weight * self.dense.scale).detach().reshape(self.cout, 4, 4, z)
        conv = nn.Conv2d(z, self.cout, 4, padding=3, bias=False)
        with torch.no_grad():
            conv.weight.copy_(w.permute(0, 3, 1, 2).flip(2, 3))
        bias = self.dense.bias.detach().reshape(self.cout, 4, 4)
        return nn.Sequential(PixelNorm(), ZAsMap(z), conv, AddMap(bias), nn.LeakyReLU(LRELU_SLOPE))


class ConvBlock(nn.Module):
    """pixel norm -> (nearest 2x upsample) -> 3x3 eq-lr conv -> LeakyReLU 0.2."""

    def __init__(self, cin, cout, upsample):
        super().__init__()
        self.norm = PixelNorm()
        self.upsample = upsample
        self.conv = EqConv2d(cin, cout, 3)

    def forward(self, x):
        x = self.norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.leaky_relu(self.conv(x), LRELU_SLOPE)

    def baked(self):
        mods = [PixelNorm()]
        if self.upsample:
            mods.append(Upsample2x())
        mods += [self.conv.baked(), nn.LeakyReLU(LRELU_SLOPE)]
        return nn.Sequential(*mods)


class ToRGB(nn.Module):
    """pixel norm -> 1x1 conv to RGB, no tanh (as the reference's output block)."""

    def __init__(self, cin):
        super().__init__()
        self.norm = PixelNorm()
        self.conv = EqConv2d(cin, 3, 1, gain=1.0)

    def forward(self, x):
        return self.conv(self.norm(x))

    def baked(self):
        return nn.Sequential(PixelNorm(), self.conv.baked())


class Generator(nn.Module):
    """z -> image in [-1, 1] (nominal), via blocks layer1 … layerN.

    `blocks[i]` is layer i+1; `to_rgbs[str(r)]` maps the last block at resolution r to RGB so that
    progressive training can read an image at any resolution. Only `to_rgb` (max_res) is exported.
    """

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        res = cfg.resolutions()
        blocks = [ZBlock(cfg.z_size, cfg.widths[4]), ConvBlock(cfg.widths[4], cfg.widths[4], False)]
        for prev, r in zip(res[:-1], res[1:]):
            blocks.append(ConvBlock(cfg.widths[prev], cfg.widths[r], True))
            blocks.append(ConvBlock(cfg.widths[r], cfg.widths[r], False))
        self.blocks = nn.ModuleList(blocks)
        self.to_rgbs = nn.ModuleDict({str(r): ToRGB(cfg.widths[r]) for r in res})

    @property
    def to_rgb(self):
        return self.to_rgbs[str(self.cfg.max_res)]

    def layer_names(self):
        return [f"layer{i + 1}" for i in range(len(self.blocks))]

    def forward(self, z, res=None, alpha=1.0):
        """Image at resolution `res` (default max_res). For 0 <= alpha < 1 the output fades from the
        previous resolution's RGB (upsampled) to this one's, as in progressive growing."""
        res = res or self.cfg.max_res
        if res not in self.cfg.resolutions() or res < 8:
            raise ValueError(f"resolution {res} not in {self.cfg.resolutions()[1:]}")
        n = 2 * int(math.log2(res) - 1)
        x = z
        prev = None
        for i in range(n):
            if i == n - 2:
                prev = x
            x = self.blocks[i](x)
        img = self.to_rgbs[str(res)](x)
        if alpha < 1.0:
            low = self.to_rgbs[str(res // 2)](prev)
            img = torch.lerp(F.interpolate(low, scale_factor=2.0, mode="nearest"), img, alpha)
        return img

    def features(self, z):
        """Every block's output at full resolution, in order (for export checks and dissection)."""
        outs = []
        x = z
        for b in self.blocks:
            x = b(x)
            outs.append(x)
        return outs, self.to_rgb(x)


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature stddev as an extra channel (ProGAN).

    The statistic is over the whole batch. `ref` tracks its typical value on real batches so
    that an exported, per-image discriminator can substitute a constant (scores must not depend
    on which other images share a batch).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("ref", torch.tensor(0.0))
        self.register_buffer("ref_count", torch.tensor(0.0))

    def stat(self, x):
        var = torch.mean((x - x.mean(dim=0, keepdim=True)) ** 2, dim=0)
        return torch.sqrt(var + 1e-8).mean()

    def forward(self, x, fixed=False):
        if fixed:
            s = self.ref.to(x.dtype).expand(x.shape[0], 1, x.shape[2], x.shape[3])
        else:
            s = self.stat(x).expand(x.shape[0], 1, x.shape[2], x.shape[3])
        return torch.cat([x, s], dim=1)

    @torch.no_grad()
    def track(self, x):
        """Update the running mean of the statistic (call on real batches)."""
        s = self.stat(x).to(self.ref.dtype)
        self.ref_count += 1
        beta = max(0.01, 1.0 / float(self.ref_count))
        self.ref.lerp_(s, beta)


class DBlock(nn.Module):
    """3x3 conv -> lrelu -> 3x3 conv -> lrelu -> 2x2 average pool."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = EqConv2d(cin, cin, 3)
        self.conv2 = EqConv2d(cin, cout, 3)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), LRELU_SLOPE)
        x = F.leaky_relu(self.conv2(x), LRELU_SLOPE)
        return F.avg_pool2d(x, 2)


class FromRGB(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.conv = EqConv2d(3, cout, 1)

    def forward(self, x):
        return F.leaky_relu(self.conv(x), LRELU_SLOPE)


class Discriminator(nn.Module):
    """Mirror of the generator: image at resolution r (8 … max_res) -> realism logit [B, 1]."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        res = cfg.resolutions()
        w = cfg.d_widths
        self.from_rgbs = nn.ModuleDict({str(r): FromRGB(w[r]) for r in res})
        # blocks[str(r)] takes resolution r down to r/2.
        self.blocks = nn.ModuleDict({str(r): DBlock(w[r], w[r // 2]) for r in res[1:]})
        c = w[4]
        self.mbstd = MinibatchStd()
        self.final_conv = EqConv2d(c + 1, c, 3)
        self.final_dense = EqLinear(c * 16, c)
        self.out = EqLinear(c, 1, gain=1.0)

    def forward(self, img, res=None, alpha=1.0, fixed_std=False, track_std=False):
        res = res or self.cfg.max_res
        if img.shape[-1] != res or img.shape[-2] != res:
            raise ValueError(f"discriminator expects {res}x{res} images, got {tuple(img.shape)}")
        x = self.from_rgbs[str(res)](img)
        x = self.blocks[str(res)](x)
        if alpha < 1.0:
            low = self.from_rgbs[str(res // 2)](F.avg_pool2d(img, 2))
            x = torch.lerp(low, x, alpha)
        r = res // 2
        while r > 4:
            x = self.blocks[str(r)](x)
            r //= 2
        if track_std:
            self.mbstd.track(x)
        x = self.mbstd(x, fixed=fixed_std)
        x = F.leaky_relu(self.final_conv(x), LRELU_SLOPE)
        x = F.leaky_relu(self.final_dense(x.flatten(1)), LRELU_SLOPE)
        return self.out(x)


class ExportDiscriminator(nn.Module):
    """Per-image discriminator at max_res for export: minibatch stddev replaced by its tracked
    real-data value, equalized-lr scaling applied (folded by ONNX constant folding)."""

    def __init__(self, d: Discriminator):
        super().__init__()
        self.d = d

    def forward(self, img):
        return self.d(img, fixed_std=True)


def baked_blocks(g: Generator):
    """Plain-module copies of every generator block and the final to_rgb with the eq-lr scale
    folded into the weights, in run order: [layer1, …, layerN, to_rgb]."""
    return [b.baked() for b in g.blocks] + [g.to_rgb.baked()]


def parse_widths(spec):
    """'4:32,8:32,16:16' -> {4: 32, 8: 32, 16: 16}."""
    out = {}
    for part in spec.split(","):
        r, w = part.split(":")
        out[int(r)] = int(w)
    return out
