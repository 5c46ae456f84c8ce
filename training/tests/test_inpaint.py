"""The learned inpainter: masks, the network's contract, its ONNX export, and the training script."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import onnx_numpy  # noqa: E402
import train_inpaint as ti  # noqa: E402
from inpaint import Inpainter, check_input  # noqa: E402


def random_input(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 4, size, size, generator=g) * 2 - 1
    x[:, 3] = (torch.rand(n, size, size, generator=g) > 0.6).float()
    x[:, :3] *= 1 - x[:, 3:4]
    return x


def tiny_dataset(path, n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = np.zeros((n, size, size), np.uint8)
    labels[:, size // 2:] = 1
    labels[:, :8, :8] = 2
    np.savez(path, images=images, labels=labels)


class MaskTest(unittest.TestCase):
    def test_cell_masks_lie_on_the_grid(self):
        rng = np.random.default_rng(1)
        for _ in range(50):
            m = ti.cell_mask(rng, 128, 96)
            self.assertEqual(m.shape, (128, 96))
            cells = m.reshape(8, 16, 6, 16).transpose(0, 2, 1, 3).reshape(48, 256)
            self.assertTrue(np.all((cells.min(1) == cells.max(1))), "a cell is partly masked")
            self.assertGreater(m.sum(), 0)

    def test_object_mask_covers_its_class(self):
        labels = np.zeros((64, 64), np.uint8)
        labels[10:30, 20:40] = 3          # 400 px: the only class between 1% and the cap
        labels[60:62, 0:10] = 5           # 20 px, under 1%; 0 is the largest class, never an object
        rng = np.random.default_rng(0)
        for _ in range(10):
            m = ti.object_mask(rng, labels)
            self.assertIsNotNone(m)
            self.assertEqual(m[labels == 5].max(), 0, "a class under 1% is never the object")
            self.assertTrue(np.all(m[labels == 3] == 1))
            self.assertLessEqual(m.sum(), (20 + 8) * (20 + 8))
        self.assertIsNone(ti.object_mask(rng, np.zeros((32, 32), np.uint8)), "one class only: no object")

    def test_sampled_masks_are_bounded(self):
        rng = np.random.default_rng(2)
        labels = np.zeros((64, 64), np.uint8)
        labels[:20] = 1
        labels[30:50, 10:30] = 4
        for _ in range(100):
            m = ti.sample_mask(rng, labels)
            self.assertTrue(0.005 < m.mean() <= ti.MAX_HOLE, m.mean())
            self.assertTrue(set(np.unique(m)) <= {0.0, 1.0})


class NetworkTest(unittest.TestCase):
    def test_known_pixels_come_back_exactly(self):
        m = Inpainter(width=4).eval()
        x = random_input(2, 32)
        img = x[:, :3].clone()
        with torch.no_grad():
            y = m(x)
        self.assertEqual(tuple(y.shape), (2, 3, 32, 32))
        known = (x[:, 3:4] == 0).expand_as(img)
        self.assertTrue(torch.equal(y[known], img[known]))
        self.assertLessEqual(float(y.abs().max()), 1.0)

    def test_bad_construction_and_input(self):
        for w in (2, 5):
            with self.subTest(width=w), self.assertRaises(ValueError):
                Inpainter(width=w)
        for shape in ((4, 32, 32), (1, 3, 32, 32), (1, 4, 30, 32)):
            with self.subTest(shape=shape), self.assertRaises(ValueError):
                check_input(torch.zeros(shape))
        check_input(torch.zeros(1, 4, 32, 32))

    def test_export_matches_torch(self):
        m = Inpainter(width=4).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        x = random_input(2, 32, seed=3)
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = os.path.join(d, "inpainter.onnx")
            ti.export_onnx(m, path, 32)
            got = onnx_numpy.run(path, x.numpy())
        with torch.no_grad():
            want = m(x).numpy()
        self.assertLess(float(np.abs(got - want).max()), 1e-4)

    def test_export_into_a_model_directory(self):
        m = Inpainter(width=4).eval()
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open(os.path.join(d, "manifest.json"), "w") as f:
                json.dump({"format": "ganpaint-model", "image": {"height": 32, "width": 32, "range": [-1, 1]}}, f)
            ti.export_to_model(m, d)
            with open(os.path.join(d, "manifest.json")) as f:
                man = json.load(f)
            self.assertEqual(man["inpainter"], {"file": "inpainter.onnx"})
            self.assertEqual(man["image"]["height"], 32, "the rest of the manifest is kept")
            self.assertTrue(os.path.exists(os.path.join(d, "inpainter.onnx")))
            with open(os.path.join(d, "manifest.json"), "w") as f:
                json.dump({"image": {"height": 32, "width": 48, "range": [-1, 1]}}, f)
            with self.assertRaises(SystemExit):
                ti.export_to_model(m, d)


class TrainingTest(unittest.TestCase):
    def test_load_errors(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(ti.DataError):
                ti.load_npz(os.path.join(d, "missing.npz"))
            bad = os.path.join(d, "bad.npz")
            np.savez(bad, images=np.zeros((2, 30, 32, 3), np.uint8), labels=np.zeros((2, 30, 32), np.uint8))
            with self.assertRaises(ti.DataError):
                ti.load_npz(bad)
            np.savez(bad, pictures=np.zeros((2, 32, 32, 3), np.uint8))
            with self.assertRaises(ti.DataError):
                ti.load_npz(bad)

    def test_evaluate_a_mean_fill_equals_the_baseline(self):
        with tempfile.TemporaryDirectory() as d:
            tiny_dataset(os.path.join(d, "e.npz"), n=5)
            images, labels = ti.load_npz(os.path.join(d, "e.npz"))
        res = ti.evaluate(ti.mean_fill, images, labels, segment=lambda img: (img[:, 0] > 0).long())
        for kind in ("cells", "object"):
            self.assertEqual(res[kind]["model"], res[kind]["mean_fill"])
            self.assertEqual(res[kind]["masks"], 5)
            self.assertGreater(res[kind]["model"]["hole_mae"], 0)
            self.assertTrue(0 <= res[kind]["model"]["seg_accuracy"] <= 1)

    def test_train_resume_and_eval(self):
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "t.npz")
            tiny_dataset(data)
            out = os.path.join(d, "ck")
            args = ["--data", data, "--eval-data", data, "--out", out, "--steps", "3", "--batch", "2",
                    "--crop", "32", "--width", "4", "--eval-n", "4", "--amp", "0"]
            with contextlib.redirect_stdout(io.StringIO()):
                ti.main(args)
                ck = torch.load(os.path.join(out, "latest.pt"))
                self.assertEqual(ck["step"], 3)
                ti.main([a if a != "3" else "5" for a in args] + ["--resume"])
            ck = torch.load(os.path.join(out, "latest.pt"))
            self.assertEqual(ck["step"], 5, "resume continues from the checkpoint")
            with open(os.path.join(out, "eval.json")) as f:
                ev = json.load(f)
            self.assertEqual(ev["images"], 4)
            self.assertIn("hole_mae", ev["object"]["model"])
            m = Inpainter.from_checkpoint(os.path.join(out, "latest.pt"))
            self.assertEqual(m.config()["width"], 4)
            with contextlib.redirect_stdout(io.StringIO()), self.assertRaises(SystemExit):
                ti.main(args[:-2] + ["--width", "6", "--resume"])

    def test_resume_at_budget_evaluates_and_exports_only(self):
        """The model pipeline's step: a finished run resumed with --model-dir --export trains no
        step, leaves the checkpoint as it was, judges the fills with the model's segmenter and
        writes inpainter.onnx into the model."""
        planted = os.path.join(os.path.dirname(os.path.dirname(HERE)), "inference", "testdata", "planted")
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = os.path.join(d, "t.npz")
            tiny_dataset(data)
            out = os.path.join(d, "ck")
            model = os.path.join(d, "model")
            shutil.copytree(planted, model)
            os.remove(os.path.join(model, "inpainter.onnx"))
            args = ["--data", data, "--eval-data", data, "--out", out, "--steps", "2", "--batch", "2",
                    "--crop", "32", "--width", "4", "--eval-n", "4", "--amp", "0"]
            with contextlib.redirect_stdout(io.StringIO()):
                ti.main(args)
            with open(os.path.join(out, "latest.pt"), "rb") as f:
                before = f.read()
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                ti.main(args + ["--resume", "--model-dir", model, "--export"])
            self.assertIn("(0 in this run)", log.getvalue())
            with open(os.path.join(out, "latest.pt"), "rb") as f:
                self.assertEqual(f.read(), before, "the checkpoint is not rewritten")
            with open(os.path.join(out, "eval.json")) as f:
                ev = json.load(f)
            self.assertEqual(ev["steps"], 2)
            self.assertIn("seg_accuracy", ev["cells"]["model"], "judged by the model's segmenter")
            self.assertTrue(os.path.getsize(os.path.join(model, "inpainter.onnx")) > 0)
            with open(os.path.join(model, "manifest.json")) as f:
                self.assertEqual(json.load(f)["inpainter"], {"file": "inpainter.onnx"})

    def test_bad_arguments(self):
        for extra in (["--crop", "40"], ["--crop", "16"], ["--export"]):
            with self.subTest(extra=extra), contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
                ti.parse_args(["--data", "x", "--out", "y"] + extra)


if __name__ == "__main__":
    unittest.main()
