"""eval_quality.py: the statistics against closed forms, and the whole report at toy size."""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import eval_quality as eq  # noqa: E402
import gan  # noqa: E402
from segmenter import CHECKPOINT_FORMAT, Segmenter  # noqa: E402


class SharpnessTest(unittest.TestCase):
    def test_flat_and_edges(self):
        flat = np.full((2, 8, 8, 3), 100, np.uint8)
        self.assertEqual(eq.sharpness(flat), 0.0)
        step = flat.copy()
        step[:, :, 4:] = 200
        # One column of 7 x-differences of 100 grey levels in each row of the 7x7 grid measured.
        self.assertAlmostEqual(eq.sharpness(step), 100.0 / 7, places=4)


class StatisticsTest(unittest.TestCase):
    def test_frechet_closed_form_for_diagonal_covariances(self):
        mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
        a, b = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
        want = 1 + 0 + 4 + sum((np.sqrt(a) - np.sqrt(b)) ** 2)
        self.assertAlmostEqual(eq.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), want, places=9)

    def test_frechet_non_commuting_covariances(self):
        rng = np.random.default_rng(0)
        A = rng.normal(size=(4, 4))
        B = rng.normal(size=(4, 4))
        c1, c2 = A @ A.T + 0.1 * np.eye(4), B @ B.T + 0.1 * np.eye(4)
        # tr((C1 C2)^1/2) = sum of sqrt of the (real, positive) eigenvalues of C1 C2.
        ev = np.linalg.eigvals(c1 @ c2)
        want = np.trace(c1) + np.trace(c2) - 2 * np.sqrt(ev.real).sum()
        self.assertAlmostEqual(eq.frechet_distance(np.zeros(4), c1, np.zeros(4), c2), want, places=8)
        self.assertAlmostEqual(eq.frechet_distance(np.ones(4), c1, np.ones(4), c1), 0.0, places=8)

    def test_fid_of_samples(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(4000, 3))
        y = rng.normal(size=(4000, 3)) + np.array([2.0, 0, 0])
        self.assertLess(eq.fid(x[:2000], x[2000:]), 0.02)
        self.assertAlmostEqual(eq.fid(x, y), 4.0, delta=0.3)
        with self.assertRaises(eq.EvalError):
            eq.fid(x[:1], y)

    def test_total_variation(self):
        self.assertAlmostEqual(eq.total_variation([0.5, 0.5, 0], [0, 0.5, 0.5]), 0.5)
        self.assertAlmostEqual(eq.total_variation([1, 2, 1], [2, 4, 2]), 0.0)
        self.assertAlmostEqual(eq.total_variation([1, 0], [0, 1]), 1.0)
        with self.assertRaises(eq.EvalError):
            eq.total_variation([1, 0], [1, 0, 0])


class ReportTest(unittest.TestCase):
    def test_toy_report(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = gan.GANConfig(max_res=32, widths={4: 16, 8: 16, 16: 8, 32: 8})
            torch.manual_seed(0)
            g = gan.Generator(cfg)
            gpath = os.path.join(tmp, "g.pt")
            torch.save({"format": gan.CHECKPOINT_FORMAT, "config": cfg.to_dict(), "G_ema": g.state_dict(),
                        "step": 3, "elapsed_s": 1.0}, gpath)
            seg = Segmenter(widths=(8, 12, 16))
            spath = os.path.join(tmp, "s.pt")
            torch.save({"format": CHECKPOINT_FORMAT, "config": seg.config(), "model": seg.state_dict()}, spath)
            out = os.path.join(tmp, "eval")
            with contextlib.redirect_stdout(io.StringIO()):
                rc = eq.main(["--model-ckpt", gpath, "--seg", spath, "--n", "12", "--out", out,
                              "--batch", "5", "--grid", "8", "--threads", "1"])
            self.assertEqual(rc, 0)
            with open(os.path.join(out, "metrics.json")) as f:
                m = json.load(f)
            for key in ("segmenter_miou", "segmenter_class_iou", "class_tv", "fid_seg",
                        "class_share_generated", "class_share_rendered"):
                self.assertIn(key, m)
            self.assertEqual(len(m["segmenter_class_iou"]), 12)
            self.assertGreaterEqual(m["fid_seg"], -1e-6)
            self.assertTrue(0 <= m["class_tv"] <= 1)
            self.assertAlmostEqual(sum(m["class_share_generated"].values()), 1.0, places=6)
            self.assertAlmostEqual(sum(m["class_share_rendered"].values()), 1.0, places=6)
            # Renders are the renderer's: sky and grass occupy a real share of the true labels.
            self.assertGreater(m["class_share_rendered"]["sky"], 0.05)
            self.assertEqual(m["fid_feature_dim"], 8 + 12 + 16)
            self.assertEqual(m["fid_penultimate_dim"], 8)
            self.assertGreater(m["sharpness_rendered"], 0)
            self.assertAlmostEqual(m["sharpness_ratio"], m["sharpness_generated"] / m["sharpness_rendered"])
            with open(os.path.join(out, "metrics.md")) as f:
                md = f.read()
            for name in ("sky", "door", "dome", "road"):
                self.assertIn("| %s |" % name, md)
            from PIL import Image

            with Image.open(os.path.join(out, "samples.png")) as im:
                self.assertEqual(im.size, (8 * 32, 4 * 32 + 3 * 2))

    def test_intermediate_resolution(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = gan.GANConfig(max_res=32, widths={4: 16, 8: 16, 16: 8, 32: 8})
            gpath = os.path.join(tmp, "g.pt")
            torch.save({"format": gan.CHECKPOINT_FORMAT, "config": cfg.to_dict(),
                        "G_ema": gan.Generator(cfg).state_dict()}, gpath)
            seg = Segmenter(widths=(8, 12, 16))
            spath = os.path.join(tmp, "s.pt")
            torch.save({"format": CHECKPOINT_FORMAT, "config": seg.config(), "model": seg.state_dict()}, spath)
            out = os.path.join(tmp, "eval")
            with contextlib.redirect_stdout(io.StringIO()):
                rc = eq.main(["--model-ckpt", gpath, "--seg", spath, "--n", "6", "--out", out, "--res", "16",
                              "--threads", "1"])
            self.assertEqual(rc, 0)
            with open(os.path.join(out, "metrics.json")) as f:
                self.assertEqual(json.load(f)["generated_resolution"], 16)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = eq.main(["--model-ckpt", gpath, "--seg", spath, "--n", "6", "--out", out, "--res", "24"])
            self.assertEqual(rc, 2)
            self.assertIn("--res 24", err.getvalue())
            with contextlib.redirect_stdout(io.StringIO()):
                rc = eq.main(["--model-ckpt", gpath, "--seg", spath, "--n", "6", "--out", out, "--res", "32",
                              "--alpha", "0.5", "--threads", "1"])
            self.assertEqual(rc, 0)
            with open(os.path.join(out, "metrics.json")) as f:
                self.assertEqual(json.load(f)["generated_alpha"], 0.5)
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(eq.main(["--model-ckpt", gpath, "--seg", spath, "--n", "6", "--out", out,
                                          "--res", "32", "--alpha", "1.5"]), 2)

    def test_shipped_model_matches_its_checkpoint(self):
        """--model-dir runs the exported ONNX generator in torch; on the same generator and renders it
        must report what --model-ckpt reports, so v1 (kept only as ONNX) compares with new checkpoints."""
        import warnings

        import export
        from test_export import tiny_models, write_ckpt

        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg, G, D = tiny_models(seed=4)
            gpath = os.path.join(tmp, "g.pt")
            write_ckpt(gpath, cfg, G, D)
            torch.manual_seed(1)
            seg = Segmenter(widths=(8, 12, 16))
            spath = os.path.join(tmp, "s.pt")
            torch.save({"format": CHECKPOINT_FORMAT, "config": seg.config(), "model": seg.state_dict()}, spath)
            model = os.path.join(tmp, "model")
            with contextlib.redirect_stdout(io.StringIO()):
                export.export(gpath, model, seg=spath, default_layer="layer2")
            got = {}
            for flag, value in (("--model-ckpt", gpath), ("--model-dir", model)):
                out = os.path.join(tmp, flag)
                with contextlib.redirect_stdout(io.StringIO()):
                    rc = eq.main([flag, value, "--seg", spath, "--n", "10", "--out", out, "--batch", "4",
                                  "--threads", "1"])
                self.assertEqual(rc, 0, flag)
                with open(os.path.join(out, "metrics.json")) as f:
                    got[flag] = json.load(f)
            a, b = got["--model-ckpt"], got["--model-dir"]
            self.assertEqual(b["generator_model_dir"], model)
            for key in ("fid_seg", "fid_seg_penultimate", "class_tv", "sharpness_generated"):
                self.assertAlmostEqual(a[key], b[key], delta=1e-3 * max(1.0, abs(a[key])), msg=key)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = eq.main(["--model-dir", os.path.join(tmp, "nowhere"), "--seg", spath, "--n", "6", "--out", tmp])
            self.assertEqual(rc, 2)
            self.assertIn("cannot load model", err.getvalue())
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(eq.main(["--model-dir", model, "--seg", spath, "--n", "6", "--out", tmp,
                                          "--res", "16"]), 2)

    def test_rejects_wrong_checkpoints(self):
        with tempfile.TemporaryDirectory() as tmp:
            seg = Segmenter(widths=(8, 12, 16))
            spath = os.path.join(tmp, "s.pt")
            torch.save({"format": CHECKPOINT_FORMAT, "config": seg.config(), "model": seg.state_dict()}, spath)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = eq.main(["--model-ckpt", spath, "--seg", spath, "--n", "8", "--out", tmp])
            self.assertEqual(rc, 2)
            self.assertIn("not a", err.getvalue())


if __name__ == "__main__":
    unittest.main()
