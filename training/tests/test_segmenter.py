"""Segmenter architecture, its ONNX export, and the training script's pieces."""

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

import onnx_numpy  # noqa: E402
import train_segmenter as ts  # noqa: E402
from segmenter import CHECKPOINT_FORMAT, Segmenter, check_input  # noqa: E402


def randomize_bn(model, seed=0):
    """Give BatchNorm non-trivial running statistics so export folding is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
    return model


class SegmenterTest(unittest.TestCase):
    def test_shapes(self):
        m = Segmenter().eval()
        x = torch.rand(2, 3, 64, 48) * 2 - 1
        with torch.no_grad():
            out = m(x)
            pen = m.penultimate(x)
        self.assertEqual(tuple(out.shape), (2, 12, 64, 48))
        self.assertEqual(tuple(pen.shape), (2, 16, 64, 48))
        self.assertTrue(torch.allclose(out, m.classifier(pen)))
        self.assertEqual(m.multiple, 8)

    def test_bad_construction_and_input(self):
        with self.assertRaises(ValueError):
            Segmenter(widths=(16,))
        with self.assertRaises(ValueError):
            Segmenter(n_classes=1)
        m = Segmenter()
        for shape in ((3, 64, 64), (1, 4, 64, 64), (1, 3, 60, 64)):
            with self.subTest(shape=shape), self.assertRaises(ValueError):
                check_input(torch.zeros(shape), m)
        check_input(torch.zeros(1, 3, 64, 64), m)

    def test_checkpoint_round_trip(self):
        m = randomize_bn(Segmenter(n_classes=5, widths=(8, 12, 16)), seed=3).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.pt")
            torch.save({"format": CHECKPOINT_FORMAT, "config": m.config(), "model": m.state_dict()}, path)
            back = Segmenter.from_checkpoint(path)
            self.assertFalse(back.training)
            x = torch.rand(1, 3, 32, 32)
            with torch.no_grad():
                self.assertTrue(torch.equal(back(x), m(x)))
            bad = os.path.join(tmp, "bad.pt")
            torch.save({"format": "something-else"}, bad)
            with self.assertRaises(ValueError):
                Segmenter.from_checkpoint(bad)

    def test_onnx_export_matches_torch(self):
        import onnx

        m = randomize_bn(Segmenter(), seed=1).eval()
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        with torch.no_grad():
            want = m(x).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "seg.onnx")
            with contextlib.redirect_stderr(io.StringIO()):
                torch.onnx.export(m, torch.zeros(1, 3, 32, 32), path, input_names=["input"],
                                  output_names=["output"], opset_version=13,
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
            model = onnx.load(path)
            onnx.checker.check_model(model)
            self.assertNotIn("BatchNormalization", {n.op_type for n in model.graph.node})
            got = onnx_numpy.run(model, x.numpy())
        self.assertEqual(got.shape, want.shape)
        self.assertLess(float(np.abs(got - want).max()), 1e-3)


class TrainingPiecesTest(unittest.TestCase):
    def test_iou_from_confusion(self):
        cm = np.array([[8, 2, 0], [1, 4, 0], [0, 0, 0]])
        ious, miou, acc = ts.iou_from_confusion(cm)
        self.assertAlmostEqual(ious[0], 8 / 11)
        self.assertAlmostEqual(ious[1], 4 / 7)
        self.assertIsNone(ious[2])
        self.assertAlmostEqual(miou, (8 / 11 + 4 / 7) / 2)
        self.assertAlmostEqual(acc, 12 / 15)

    def test_class_weights_favour_rare_classes(self):
        labels = np.zeros((1, 100, 100), np.uint8)
        labels[0, :50] = 1
        labels[0, 50:52] = 2  # rare
        w, freq = ts.class_weights(labels, 4)
        self.assertGreater(w[2], w[1])
        self.assertGreater(w[1], 0)
        self.assertAlmostEqual(float(freq.sum()), 1.0)
        self.assertEqual(freq[3], 0)
        self.assertLessEqual(float(w[2] / w[1]), 16.0 + 1e-6)  # clipped to [0.25, 4] before normalising

    def test_load_npz_rejects_bad_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            good_img = np.zeros((2, 16, 16, 3), np.uint8)
            good_lab = np.zeros((2, 16, 16), np.uint8)
            cases = {
                "missing keys": dict(pictures=good_img),
                "float images": dict(images=good_img.astype(np.float32), labels=good_lab),
                "shape mismatch": dict(images=good_img, labels=good_lab[:, :8]),
                "label out of range": dict(images=good_img, labels=good_lab + 12),
                "empty": dict(images=good_img[:0], labels=good_lab[:0]),
            }
            for label, arrays in cases.items():
                with self.subTest(case=label):
                    path = os.path.join(tmp, label.replace(" ", "_") + ".npz")
                    np.savez(path, **arrays)
                    with self.assertRaises(ts.DataError):
                        ts.load_npz(path, 12)
            with self.assertRaises(ts.DataError):
                ts.load_npz(os.path.join(tmp, "nope.npz"), 12)
            path = os.path.join(tmp, "ok.npz")
            np.savez(path, images=good_img, labels=good_lab)
            imgs, labs = ts.load_npz(path, 12)
            self.assertEqual(imgs.shape, (2, 16, 16, 3))

    def test_blur(self):
        x = torch.full((2, 3, 16, 16), 0.3)
        y = ts.gaussian_blur(x, torch.tensor([1.0, 0.0]))
        self.assertTrue(torch.allclose(y, x, atol=1e-6))
        noise = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        y = ts.gaussian_blur(noise, torch.tensor([1.2, 0.0]))
        self.assertLess(float(y[0].std()), 0.7 * float(noise[0].std()))
        self.assertTrue(torch.allclose(y[1], noise[1], atol=1e-5))  # sigma 0 is the identity

    def test_augment_is_bounded_and_reproducible(self):
        x = torch.rand(8, 3, 16, 16) * 2 - 1
        a = ts.augment(x.clone(), torch.Generator().manual_seed(5))
        b = ts.augment(x.clone(), torch.Generator().manual_seed(5))
        c = ts.augment(x.clone(), torch.Generator().manual_seed(6))
        self.assertTrue(torch.equal(a, b))
        self.assertFalse(torch.equal(a, c))
        self.assertLessEqual(float(a.abs().max()), 1.0)

    def test_sample_batch_keeps_labels_aligned(self):
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 12, (3, 16, 16)).astype(np.uint8)
        images = np.repeat(labels[..., None] * 20, 3, axis=3).astype(np.uint8)
        xs, ys = ts.sample_batch(images, labels, [0, 1, 2, 1], 8, rng)
        self.assertEqual(xs.shape, (4, 8, 8, 3))
        np.testing.assert_array_equal(xs[..., 0], ys * 20)


def colour_dataset(n, size, seed):
    """Scenes of flat class-coloured rectangles: learnable, so training must reach a high mIoU."""
    rng = np.random.default_rng(seed)
    pal = np.array([[90, 160, 230], [240, 240, 240], [30, 120, 40], [110, 200, 80]], np.uint8)
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        h = rng.integers(size // 3, 2 * size // 3)
        labels[i, h:] = 3
        for _ in range(2):
            c = rng.integers(1, 3)
            t, l = rng.integers(0, size - 8, 2)
            labels[i, t:t + rng.integers(4, 10), l:l + rng.integers(4, 10)] = c
    return pal[labels], labels


class TrainScriptTest(unittest.TestCase):
    def test_learns_and_resumes(self):
        with tempfile.TemporaryDirectory() as tmp:
            imgs, labs = colour_dataset(64, 32, 0)
            data = os.path.join(tmp, "d.npz")
            np.savez(data, images=imgs, labels=labs)
            eimgs, elabs = colour_dataset(16, 32, 1)
            np.savez(os.path.join(tmp, "d_eval.npz"), images=eimgs, labels=elabs)
            out = os.path.join(tmp, "ck")
            common = ["--data", data, "--out", out, "--n-classes", "4", "--widths", "8,16,24",
                      "--minutes", "5", "--batch", "8", "--crop", "16", "--full-frac", "0.25"]
            with contextlib.redirect_stdout(io.StringIO()):
                ts.main(common + ["--steps", "300"])
            with open(os.path.join(out, "eval.json")) as f:
                ev = json.load(f)
            self.assertEqual(ev["train_steps"], 300)
            self.assertEqual(ev["eval_images"], 16)
            self.assertEqual(set(ev["class_iou"]), {"class0", "class1", "class2", "class3"})
            self.assertGreater(ev["miou"], 0.9)
            self.assertEqual(set(ev["degraded_miou"]), {"blur_sigma1", "down2_up", "down4_up"})
            self.assertEqual(ev["degraded_images"], 16)
            m = Segmenter.from_checkpoint(os.path.join(out, "latest.pt"))
            self.assertEqual(m.widths, (8, 16, 24))
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                ts.main(common + ["--steps", "310", "--resume"])
            self.assertIn("resumed at step 300", buf.getvalue())
            ck = torch.load(os.path.join(out, "latest.pt"))
            self.assertEqual(ck["step"], 310)
            with open(os.path.join(out, "log.csv")) as f:
                steps = [int(r.split(",")[0]) for r in f.read().split()[1:]]
            self.assertEqual(steps, sorted(steps))
            # --init: weights only, fresh schedule, new directory (the fine-tuning path).
            out2 = os.path.join(tmp, "ft")
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                ts.main([a if a != out else out2 for a in common] +
                        ["--steps", "5", "--init", os.path.join(out, "latest.pt")])
            self.assertIn("initialised from", buf.getvalue())
            self.assertEqual(torch.load(os.path.join(out2, "latest.pt"))["step"], 5)
            with self.assertRaises(SystemExit):
                with contextlib.redirect_stdout(io.StringIO()):
                    ts.main(common + ["--widths", "8,16", "--steps", "5", "--init", os.path.join(out, "latest.pt")])


if __name__ == "__main__":
    unittest.main()
