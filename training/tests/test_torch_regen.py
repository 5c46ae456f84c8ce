"""Tests for training/torch_regen.py, the PyTorch side of `ganpaint bench --compare-torch`: the
generator rebuilt from a model folder's ONNX files reproduces the reference outputs, edits compose
like the Go engine's, and the line protocol answers and reports errors."""

import base64
import io
import json
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import torch_regen  # noqa: E402

TINY = os.path.join(HERE, "..", "..", "inference", "testdata", "proggan_tiny")


def expected():
    with open(os.path.join(TINY, "expected.json")) as f:
        return json.load(f)


class TorchRegenTest(unittest.TestCase):
    def test_regenerates_the_reference_image(self):
        ex = expected()
        z = ex["z"][: ex["z_size"]]
        want = np.asarray(ex["image"], np.float32).reshape(ex["image_shape"])[:1]
        reg = torch_regen.Regenerator(TINY, "layer4", z, threads=1)
        no_op = {"units": [0], "values": [0.0], "alpha": [0.0] * 64}  # layer4 is 8x8
        for variant in torch_regen.VARIANTS:
            with self.subTest(variant):
                reg.stroke(variant, no_op)
                got = reg.images[variant].numpy()
                self.assertLess(float(np.abs(got - want).max()), ex["max_abs_tol"])
        self.assertGreater(reg.tail_macs, 0)
        self.assertGreater(reg.total_macs, reg.tail_macs)

    def test_edits_compose_with_the_over_operator(self):
        ex = expected()
        reg = torch_regen.Regenerator(TINY, "layer4", ex["z"][: ex["z_size"]], threads=1)
        alpha = [0.0] * 64
        alpha[9] = 0.5
        reg.stroke("eager", {"units": [3], "values": [2.0], "alpha": alpha})
        reg.stroke("eager", {"units": [3], "values": [4.0], "alpha": alpha})
        A, V = reg.acc["eager"]
        # a = 1-(1-.5)(1-.5) = .75; v = (2*.5*.5 + 4*.5)/.75 = 10/3
        self.assertAlmostEqual(float(A[3, 1, 1]), 0.75, places=6)
        self.assertAlmostEqual(float(V[3, 1, 1]), 10 / 3, places=5)
        self.assertEqual(float(A[3, 0, 0]), 0.0)
        self.assertEqual(float(A[2].abs().sum()), 0.0)
        reg.reset("eager")
        self.assertNotIn("eager", reg.acc)

    def test_protocol(self):
        ex = expected()
        lines = [
            {"cmd": "stroke", "variant": "eager", "edit": {}},
            {"cmd": "init", "model_dir": TINY, "layer": "layer4", "z": ex["z"][: ex["z_size"]], "threads": 1},
            {"cmd": "stroke", "variant": "onednn", "edit": {"units": [1], "values": [0.0], "alpha": [1.0] * 64}},
            {"cmd": "image", "variant": "onednn"},
            {"cmd": "nope"},
            {"cmd": "quit"},
        ]
        out = io.StringIO()
        torch_regen.serve(io.StringIO("".join(json.dumps(m) + "\n" for m in lines)), out)
        answers = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual(len(answers), len(lines))
        self.assertFalse(answers[0]["ok"])
        self.assertIn("init first", answers[0]["error"])
        self.assertTrue(answers[1]["ok"])
        self.assertEqual(answers[1]["variants"], ["eager", "onednn"])
        self.assertGreater(answers[1]["peak_gflops"], 0)
        self.assertTrue(answers[2]["ok"])
        self.assertGreater(answers[2]["cpu_ns"], 0)
        img = np.frombuffer(base64.b64decode(answers[3]["data"]), "<f4")
        self.assertEqual(answers[3]["shape"], [1, 3, 32, 32])
        self.assertEqual(img.size, 3 * 32 * 32)
        self.assertFalse(answers[4]["ok"])
        self.assertTrue(answers[5]["ok"])


if __name__ == "__main__":
    unittest.main()
