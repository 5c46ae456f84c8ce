"""Tests for training/locality.py: (scale, halo) derived from block graphs, dynamic spatial dims,
bit-identical weights, and a crop evaluated with the numpy interpreter equals the whole run
wherever the declared halo says the crop's edges cannot reach."""

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import export  # noqa: E402
import gan  # noqa: E402
import locality  # noqa: E402
import onnx_numpy  # noqa: E402


class ConvThenUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return gan.Upsample2x()(self.conv(x))


class Strided(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, stride=2)

    def forward(self, x):
        return self.conv(x)


def export_block(module, path, c=4, hw=8):
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.normal_(p)
    with torch.no_grad():
        out = module(torch.zeros(1, c, hw, hw))
    export.export_onnx(module, torch.zeros(2, c, hw, hw), path, tuple(out.shape[1:]))


def read(path):
    with open(path, "rb") as f:
        return f.read()


class LocalityTest(unittest.TestCase):
    def test_derived_scale_and_halo(self):
        cases = [
            ("3x3 conv block", gan.ConvBlock(4, 4, False).baked(), (1, 1)),
            ("upsample + 3x3 conv block", gan.ConvBlock(4, 4, True).baked(), (2, 1)),
            ("to_rgb", gan.ToRGB(4).baked(), (1, 0)),
            ("5x5 conv", nn.Sequential(gan.PixelNorm(), nn.Conv2d(4, 4, 5, padding=2)), (1, 2)),
            ("two 3x3 convs", nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.LeakyReLU(0.2),
                                            nn.Conv2d(4, 4, 3, padding=1)), (1, 2)),
            ("conv then upsample", ConvThenUp(), (2, 2)),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for name, module, want in cases:
                with self.subTest(name):
                    path = os.path.join(tmp, "b.onnx")
                    export_block(module.eval(), path)
                    import onnx

                    self.assertEqual(locality.block_locality(onnx.load(path)), want)

    def test_not_local(self):
        cases = [
            ("stride 2", Strided(), "strides"),
            ("position-dependent bias map", gan.AddMap(torch.randn(4, 8, 8)), "spatial map"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for name, module, msg in cases:
                with self.subTest(name):
                    path = os.path.join(tmp, "b.onnx")
                    export_block(module.eval(), path)
                    before = read(path)
                    with self.assertRaisesRegex(locality.NotLocal, msg):
                        locality.declare_block(path)
                    self.assertEqual(read(path), before, "a refused file must stay as it was")

    def test_declared_block_runs_on_crops(self):
        import onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "b.onnx")
            export_block(gan.ConvBlock(4, 4, True).baked().eval(), path)
            weights = {t.name: t.SerializeToString() for t in onnx.load(path).graph.initializer}
            self.assertEqual(locality.declare_block(path), {"scale": 2, "halo": 1})
            m = onnx.load(path)
            self.assertEqual({t.name: t.SerializeToString() for t in m.graph.initializer}, weights)
            dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                    for v in (m.graph.input[0], m.graph.output[0])]
            self.assertEqual(dims, [["batch", 4, "height", "width"], ["batch", 4, "out_height", "out_width"]])
            x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
            whole = onnx_numpy.run(m, x)
            self.assertEqual(whole.shape, (1, 4, 16, 16))
            crop = onnx_numpy.run(m, x[:, :, 2:6, 3:8])  # rows 2..5, columns 3..7 of 8
            self.assertEqual(crop.shape, (1, 4, 8, 10))
            # Exact where the halo (1 output pixel) keeps away from the crop's inner edges.
            np.testing.assert_allclose(crop[:, :, 1:7, 1:9], whole[:, :, 5:11, 7:15], rtol=1e-6, atol=1e-6)
            self.assertGreater(np.abs(crop[:, :, 0, 1:9] - whole[:, :, 4, 7:15]).max(), 1e-3,
                               "the crop's edge row must differ, or the test shows nothing")

    def test_declare_model_upgrades_a_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "generator"))
            blocks = [("layer1", gan.ConvBlock(4, 4, False)), ("layer2", gan.ConvBlock(4, 4, True))]
            man = {"generator": {"blocks": [], "to_rgb": {"file": "generator/to_rgb.onnx"}}}
            for name, b in blocks:
                export_block(b.baked().eval(), os.path.join(tmp, "generator", name + ".onnx"))
                man["generator"]["blocks"].append({"name": name, "file": f"generator/{name}.onnx"})
            export_block(gan.AddMap(torch.randn(4, 8, 8)).eval(), os.path.join(tmp, "generator", "to_rgb.onnx"))
            with open(os.path.join(tmp, "manifest.json"), "w") as f:
                json.dump(man, f)
            locality.declare_model(tmp, log=lambda *a: None)
            with open(os.path.join(tmp, "manifest.json")) as f:
                got = json.load(f)["generator"]
            self.assertNotIn("scale", got["blocks"][0], "the first block takes z and is never declared")
            self.assertEqual((got["blocks"][1]["scale"], got["blocks"][1]["halo"]), (2, 1))
            self.assertNotIn("halo", got["to_rgb"], "a block that is not local stays undeclared")


if __name__ == "__main__":
    unittest.main()
