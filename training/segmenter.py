"""Small U-Net that labels every pixel of a scene image with one of the renderer's classes.

It is the "eye" of dissection: the Go side runs it (exported to ONNX) on generated images and
correlates its labels with generator units. It is therefore kept cheap on a CPU (about 0.3
GMAC per 128 px image) and restricted to ops that export cleanly at ONNX opset 13
(Conv, BatchNorm folded at export, Relu, MaxPool, nearest Resize, Concat).

Input: [B, 3, H, W] in [-1, 1] (H, W multiples of 8).  Output: [B, n_classes, H, W] logits.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_WIDTHS = (16, 32, 64, 96)
CHECKPOINT_FORMAT = "ganpaint-segmenter-v1"


class _DoubleConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class _Up(nn.Module):
    """Nearest upsample then fuse with the skip connection.

    Nearest (not ConvTranspose, not bilinear) because it is the cheapest op on this CPU and
    maps to a plain ONNX Resize whose semantics every runtime agrees on.
    """

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv = _DoubleConv(cin + cskip, cout)

    def forward(self, x, skip):
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1))


class Segmenter(nn.Module):
    """U-Net with len(widths)-1 downsamplings; widths[0] is the full-resolution width."""

    def __init__(self, n_classes=12, widths=DEFAULT_WIDTHS):
        super().__init__()
        if len(widths) < 2:
            raise ValueError("Segmenter needs at least two widths, got %r" % (widths,))
        if n_classes < 2:
            raise ValueError("Segmenter needs at least two classes, got %d" % n_classes)
        self.n_classes = int(n_classes)
        self.widths = tuple(int(w) for w in widths)
        self.enc = nn.ModuleList()
        cin = 3
        for w in self.widths:
            self.enc.append(_DoubleConv(cin, w))
            cin = w
        self.dec = nn.ModuleList()
        for i in range(len(self.widths) - 1, 0, -1):
            self.dec.append(_Up(self.widths[i], self.widths[i - 1], self.widths[i - 1]))
        self.classifier = nn.Conv2d(self.widths[0], self.n_classes, 1)

    @property
    def multiple(self):
        """Input height and width must be divisible by this."""
        return 2 ** (len(self.widths) - 1)

    def pyramid(self, x):
        """Decoder feature maps from coarse to fine: the bottleneck, then each up-step's output; the
        last one is the penultimate map that the 1x1 classifier reads."""
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        maps = [x]
        for up in self.dec:
            x = up(x, skips.pop())
            maps.append(x)
        return maps

    def penultimate(self, x):
        """Feature map right before the 1x1 classifier: [B, widths[0], H, W]."""
        return self.pyramid(x)[-1]

    def forward(self, x):
        return self.classifier(self.penultimate(x))

    def config(self):
        return {"n_classes": self.n_classes, "widths": list(self.widths)}

    @classmethod
    def from_checkpoint(cls, path, map_location="cpu"):
        """Load a checkpoint written by train_segmenter.py; returns the model in eval mode."""
        ckpt = torch.load(path, map_location=map_location)
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("%s is not a segmenter checkpoint (format %r)" %
                             (path, ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt)))
        cfg = ckpt["config"]
        model = cls(n_classes=cfg["n_classes"], widths=tuple(cfg["widths"]))
        model.load_state_dict(ckpt["model"])
        model.eval()
        return model


def check_input(x, model):
    """Typed validation for images fed to the segmenter (clear errors instead of shape crashes)."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError("segmenter input must be [B,3,H,W], got %s" % (tuple(x.shape),))
    m = model.multiple
    if x.shape[2] % m or x.shape[3] % m:
        raise ValueError("segmenter input height/width must be multiples of %d, got %dx%d" %
                         (m, x.shape[2], x.shape[3]))
