"""Tests for training/seg_features.py: the segmenter's `features` output (pooled penultimate
features, used for FID by `ganpaint compare` and `ganpaint artifacts`)."""

import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import export  # noqa: E402
import onnx_numpy  # noqa: E402
import seg_features  # noqa: E402
from segmenter import Segmenter  # noqa: E402


class SegFeaturesTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        torch.set_num_threads(1)
        self.tmp = tempfile.mkdtemp()
        self.seg = Segmenter(n_classes=5, widths=(6, 10)).eval()
        # BatchNorm running statistics away from the identity, so a wrong tensor cannot match.
        with torch.no_grad():
            for m in self.seg.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
        self.x = torch.rand(3, 3, 16, 16) * 2 - 1
        self.path = os.path.join(self.tmp, "segmenter.onnx")
        export.export_onnx(self.seg, self.x[:1], self.path, (5, 16, 16))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_features_match_torch(self):
        self.assertTrue(seg_features.add_features_output(self.path))
        outs = onnx_numpy.run_outputs(self.path, self.x.numpy())
        with torch.no_grad():
            want_logits = self.seg(self.x).numpy()
            want_feat = self.seg.penultimate(self.x).mean(dim=(2, 3)).numpy()
        self.assertEqual(list(outs), ["output", "features"])
        self.assertLess(float(np.abs(outs["output"] - want_logits).max()), 1e-4)
        self.assertEqual(outs["features"].shape, (3, 6))
        self.assertLess(float(np.abs(outs["features"] - want_feat).max()), 1e-5)

    def test_idempotent(self):
        self.assertTrue(seg_features.add_features_output(self.path))
        with open(self.path, "rb") as f:
            before = f.read()
        self.assertFalse(seg_features.add_features_output(self.path))
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_fp16_weights(self):
        export.weights_to_fp16(self.path)
        self.assertTrue(seg_features.add_features_output(self.path))
        outs = onnx_numpy.run_outputs(self.path, self.x.numpy())
        self.assertEqual(outs["features"].shape, (3, 6))

    def test_rejects_other_graphs(self):
        conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
        other = os.path.join(self.tmp, "other.onnx")
        export.export_onnx(conv, self.x[:1], other, (4, 16, 16))
        with self.assertRaises(seg_features.SegFeaturesError):
            seg_features.add_features_output(other)
        self.assertEqual(seg_features.main([other]), 1)
        self.assertEqual(seg_features.main([os.path.join(self.tmp, "missing.onnx")]), 1)


if __name__ == "__main__":
    unittest.main()
