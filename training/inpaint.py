"""The learned inpainter of the compare panel: a two-stage gated-convolution network.

Coarse-to-fine, in the manner of gated-convolution inpainting (free-form masks, a coarse network
whose output is composited into the known pixels and refined by a second one), without the
contextual-attention branch: these scenes are small (128 px) and the dilated convolutions at 1/4
resolution already see the whole picture.

Input and output follow docs/model-format.md's `inpainter.onnx`: [B, 4, H, W] with RGB in the
image range and the hole set to 0, then the mask (1 = fill); output [B, 3, H, W] in the image
range. The network composites its own output into the known pixels, so they come back exactly.
H and W must be multiples of 4.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

CHECKPOINT_FORMAT = "ganpaint-inpainter-v1"


class GatedConv(nn.Module):
    """conv -> ELU(features) * sigmoid(gate): the gate learns where the features are valid."""

    def __init__(self, cin, cout, k=3, stride=1, dilation=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation)
        self.cout = cout
        self.act = act

    def forward(self, x):
        # Static slices rather than chunk(): chunk exports as Shape/Gather/Div arithmetic per call.
        y = self.conv(x)
        f, g = y[:, : self.cout], y[:, self.cout:]
        if self.act:
            f = F.elu(f)
        return f * torch.sigmoid(g)


class Up(nn.Module):
    """Nearest 2x upsampling then a gated conv (transposed convolutions are slow on this CPU)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = GatedConv(cin, cout)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def stage(cin, c, dilations):
    """Encoder to 1/4 resolution, dilated gated convolutions there, decoder back, RGB out."""
    layers = [GatedConv(cin, c, 5), GatedConv(c, 2 * c, 3, 2), GatedConv(2 * c, 2 * c),
              GatedConv(2 * c, 4 * c, 3, 2), GatedConv(4 * c, 4 * c)]
    layers += [GatedConv(4 * c, 4 * c, 3, dilation=d) for d in dilations]
    layers += [GatedConv(4 * c, 4 * c), Up(4 * c, 2 * c), GatedConv(2 * c, 2 * c), Up(2 * c, c),
               GatedConv(c, c // 2), nn.Conv2d(c // 2, 3, 3, padding=1)]
    return nn.Sequential(*layers)


class Inpainter(nn.Module):
    def __init__(self, width=16, dilations=(2, 4, 8, 16)):
        super().__init__()
        if width < 4 or width % 2:
            raise ValueError(f"width must be an even number >= 4, got {width}")
        self.width = width
        self.dilations = tuple(int(d) for d in dilations)
        self.coarse = stage(4, width, self.dilations)
        self.refine = stage(4, width, self.dilations)

    def config(self):
        return {"width": self.width, "dilations": list(self.dilations)}

    def stages(self, x):
        """x: [B, 4, H, W] as documented. Returns (coarse, refined) raw predictions in [-1, 1]."""
        img, mask = x[:, :3], x[:, 3:4]
        known = img * (1 - mask)
        coarse = torch.tanh(self.coarse(torch.cat([known, mask], 1)))
        comp = known + coarse * mask
        refined = torch.tanh(self.refine(torch.cat([comp, mask], 1)))
        return coarse, refined

    def forward(self, x):
        img, mask = x[:, :3], x[:, 3:4]
        _, refined = self.stages(x)
        return img * (1 - mask) + refined * mask

    @classmethod
    def from_checkpoint(cls, path, map_location="cpu"):
        ck = torch.load(path, map_location=map_location)
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not an inpainter checkpoint ({CHECKPOINT_FORMAT})")
        m = cls(**ck["config"])
        m.load_state_dict(ck["ema"] if "ema" in ck else ck["model"])
        return m.eval()


def check_input(x):
    if x.ndim != 4 or x.shape[1] != 4:
        raise ValueError(f"inpainter input must be [B, 4, H, W], got {tuple(x.shape)}")
    if x.shape[2] % 4 or x.shape[3] % 4:
        raise ValueError(f"inpainter input height and width must be multiples of 4, got {tuple(x.shape[2:])}")
