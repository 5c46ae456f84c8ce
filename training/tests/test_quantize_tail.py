"""Tests for training/quantize_tail.py on the tiny reference-layout model: each scheme rewrites the
tail's convolutions (and only those), the files stay valid ONNX, and the rest of the folder is
copied unchanged."""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import quantize_tail  # noqa: E402

TINY = os.path.join(HERE, "..", "..", "inference", "testdata", "proggan_tiny")


class QuantizeTailTest(unittest.TestCase):
    def test_schemes(self):
        import onnx

        cases = [
            (["--scheme", "qdq"], {"QuantizeLinear", "DequantizeLinear", "Conv"}, True),
            (["--scheme", "qdq", "--keep-to-rgb", "--clip-percentile", "0.01"], {"QuantizeLinear"}, False),
            (["--scheme", "convinteger"], {"ConvInteger", "QuantizeLinear"}, True),
            (["--scheme", "fp16"], {"Cast", "Conv"}, True),
        ]
        for args, ops, to_rgb_changed in cases:
            with self.subTest(args), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "m")
                rc = quantize_tail.main(["--model", TINY, "--out", out, "--from-layer", "layer5", "--calib-ids", "4"] + args)
                self.assertEqual(rc, 0)
                for name, changed in [("layer4", False), ("layer5", True), ("layer8", True), ("to_rgb", to_rgb_changed)]:
                    m = onnx.load(os.path.join(out, "generator", name + ".onnx"))
                    onnx.checker.check_model(m)
                    got = {n.op_type for n in m.graph.node}
                    if changed:
                        self.assertTrue(ops <= got, f"{name}: {got} lacks {ops}")
                    else:
                        self.assertNotIn("QuantizeLinear", got, name)
                        self.assertNotIn("Cast", got, name)
                with open(os.path.join(TINY, "manifest.json")) as a, open(os.path.join(out, "manifest.json")) as b:
                    self.assertEqual(json.load(a), json.load(b))


if __name__ == "__main__":
    unittest.main()
