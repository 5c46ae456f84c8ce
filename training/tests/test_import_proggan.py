"""Conversion of reference-layout ProGAN state dicts into the model format.

The exported ONNX blocks are chained through a numpy ONNX interpreter (tests/onnx_numpy.py) and
compared with the unmodified torch architecture; the Go side repeats the comparison with ONNX
Runtime on the committed inference/testdata/proggan_tiny/.
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
sys.path.insert(0, TRAINING)
sys.path.insert(0, HERE)

import import_proggan as ip  # noqa: E402
import onnx_numpy  # noqa: E402
from zrule import z_batch  # noqa: E402

SIZES = [20, 32, 24, 16, 8]  # z 20, 4x4..32x32
TINY_DIR = os.path.join(TRAINING, "..", "inference", "testdata", "proggan_tiny")


def run_chain(model_dir, z):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    x = z
    feats = []
    for blk in man["generator"]["blocks"]:
        x = onnx_numpy.run(os.path.join(model_dir, blk["file"]), x)
        feats.append(x)
    img = onnx_numpy.run(os.path.join(model_dir, man["generator"]["to_rgb"]["file"]), x)
    return man, feats, img


def convert(sd, out, *extra):
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "g.pth")
        torch.save(sd, pth)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = ip.main(["--pth", pth, "--out", out] + list(extra))
    return rc, err.getvalue()


class ReferenceLayoutTest(unittest.TestCase):
    def test_state_dict_keys_follow_reference(self):
        m = ip.ReferenceProGAN(SIZES)
        want = []
        for i in range(1, 9):
            want += ["layer%d.conv.weight" % i, "layer%d.wscale.b" % i]
        want += ["output_32x32.conv.weight", "output_32x32.wscale.b"]
        self.assertEqual(sorted(m.state_dict().keys()), sorted(want))
        self.assertEqual(tuple(m.state_dict()["layer1.conv.weight"].shape), (32, 20, 4, 4))
        self.assertEqual(tuple(m.state_dict()["layer3.conv.weight"].shape), (24, 32, 3, 3))

    def test_sizes_inferred_from_weights(self):
        for sizes in ([20, 32, 24, 16, 8], [16, 8, 8], [512, 512, 512, 512, 512, 256, 128, 64]):
            with self.subTest(sizes=sizes):
                got, _, _ = ip.read_state_dict(ip.ReferenceProGAN(sizes).state_dict())
                self.assertEqual(got, sizes)
        self.assertEqual(ip.ReferenceProGAN([512, 512, 512, 512, 512, 256, 128, 64]).resolution, 256)

    def test_he_constants(self):
        m = ip.ReferenceProGAN(SIZES)
        self.assertAlmostEqual(m.layer1.wscale.scale, math.sqrt(2) / 4 / math.sqrt(20))
        self.assertAlmostEqual(m.layer3.wscale.scale, math.sqrt(2) / 3 / math.sqrt(32))
        self.assertAlmostEqual(m.output_32x32.wscale.scale, 1 / math.sqrt(8))


class ConversionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = ip.random_reference(SIZES, seed=7)
        cls.out = os.path.join(cls.tmp.name, "model")
        rc, err = convert(cls.model.state_dict(), cls.out)
        assert rc == 0, err
        cls.ids = [0, 1, 2]
        cls.z = z_batch(cls.ids, size=SIZES[0])
        with torch.no_grad():
            cls.img, cls.feats = cls.model(torch.from_numpy(cls.z), capture=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_manifest(self):
        with open(os.path.join(self.out, "manifest.json")) as f:
            man = json.load(f)
        self.assertEqual(man["format"], "ganpaint-model")
        self.assertEqual(man["z"], {"size": 20, "rule": "splitmix64-boxmuller-v1", "seed": 0, "max_id": 1000000})
        self.assertEqual(man["image"], {"height": 32, "width": 32, "range": [-1, 1]})
        self.assertEqual([(b["name"], b["channels"], b["height"], b["width"]) for b in man["generator"]["blocks"]],
                         [("layer1", 32, 4, 4), ("layer2", 32, 4, 4), ("layer3", 24, 8, 8), ("layer4", 24, 8, 8),
                          ("layer5", 16, 16, 16), ("layer6", 16, 16, 16), ("layer7", 8, 32, 32),
                          ("layer8", 8, 32, 32)])
        self.assertEqual(man["default_layer"], "layer4")
        self.assertNotIn("segmenter", man)
        for b in man["generator"]["blocks"] + [man["generator"]["to_rgb"]]:
            self.assertTrue(os.path.exists(os.path.join(self.out, b["file"])), b["file"])

    def test_onnx_chain_matches_torch(self):
        _, feats, img = run_chain(self.out, self.z)
        for name, got, want in zip(self.model.layer_names, feats, self.feats):
            with self.subTest(layer=name):
                self.assertEqual(got.shape, tuple(want.shape))
                diff = np.abs(got - want.numpy()).max()
                self.assertLess(diff, 1e-4 * max(1.0, float(want.abs().max())), name)
        diff = float(np.abs(img - self.img.numpy()).max())
        self.assertEqual(img.shape, (3, 3, 32, 32))
        self.assertLess(diff, 1e-4)
        # The check must be able to fail: a different id gives a clearly different image.
        self.assertGreater(float(np.abs(img[0] - img[1]).max()), 0.1)

    def test_wrapped_and_old_layouts_convert_identically(self):
        sd = self.model.state_dict()
        old = {}
        for k, v in sd.items():
            if k.startswith("layer"):
                i = int(k.split(".")[0][5:])
                old["features.%d.%s" % (i - 1, k.split(".", 1)[1])] = v
            else:
                old["output." + k.split(".", 1)[1]] = v
        for label, variant in (("wrapped", {"state_dict": sd}), ("old", old),
                               ("dataparallel", {"module." + k: v for k, v in sd.items()})):
            with self.subTest(layout=label):
                out = os.path.join(self.tmp.name, label)
                rc, err = convert(variant, out)
                self.assertEqual(rc, 0, err)
                _, _, img = run_chain(out, self.z)
                self.assertLess(float(np.abs(img - self.img.numpy()).max()), 1e-4)

    def test_stored_scale_wins(self):
        sd = dict(self.model.state_dict())
        sd["layer2.wscale.scale"] = torch.tensor(0.5)
        model = ip.model_from_state_dict(sd)
        self.assertEqual(model.layer2.wscale.scale, 0.5)
        out = os.path.join(self.tmp.name, "scaled")
        rc, err = convert(sd, out)
        self.assertEqual(rc, 0, err)
        _, _, img = run_chain(out, self.z)
        with torch.no_grad():
            want = model(torch.from_numpy(self.z)).numpy()
        self.assertLess(float(np.abs(img - want).max()), 1e-4)
        self.assertGreater(float(np.abs(want - self.img.numpy()).max()), 1e-3)

    def test_with_segmenter(self):
        from segmenter import CHECKPOINT_FORMAT, Segmenter

        seg = Segmenter(widths=(8, 12, 16)).eval()
        names = ["sky", "cloud", "tree", "grass", "door", "brick", "dome", "building", "window", "roof",
                 "mountain", "road"]
        spath = os.path.join(self.tmp.name, "seg.pt")
        torch.save({"format": CHECKPOINT_FORMAT, "config": seg.config(), "model": seg.state_dict(),
                    "class_names": names}, spath)
        out = os.path.join(self.tmp.name, "withseg")
        rc, err = convert(self.model.state_dict(), out, "--seg", spath)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "manifest.json")) as f:
            man = json.load(f)
        self.assertEqual(man["segmenter"]["file"], "segmenter.onnx")
        self.assertEqual(man["segmenter"]["input_range"], [-1, 1])
        self.assertEqual([c["name"] for c in man["segmenter"]["classes"]], names)
        for c in man["segmenter"]["classes"]:
            self.assertRegex(c["color"], r"^#[0-9a-f]{6}$")
        x = np.clip(self.img.numpy(), -1, 1)
        outs = onnx_numpy.run_outputs(os.path.join(out, "segmenter.onnx"), x)
        got = outs["output"]
        with torch.no_grad():
            want = seg(torch.from_numpy(x)).numpy()
            want_f = seg.penultimate(torch.from_numpy(x)).mean(dim=(2, 3)).numpy()
        self.assertEqual(got.shape, (3, 12, 32, 32))
        self.assertLess(float(np.abs(got - want).max()), 1e-3)
        self.assertEqual(outs["features"].shape, (3, 8))
        self.assertLess(float(np.abs(outs["features"] - want_f).max()), 1e-4)

    def test_fp16_weights(self):
        out = os.path.join(self.tmp.name, "fp16")
        rc, err = convert(self.model.state_dict(), out, "--fp16")
        self.assertEqual(rc, 0, err)
        size32 = os.path.getsize(os.path.join(self.out, "generator", "layer1.onnx"))
        size16 = os.path.getsize(os.path.join(out, "generator", "layer1.onnx"))
        self.assertLess(size16, 0.6 * size32)
        _, _, img = run_chain(out, self.z)
        self.assertEqual(img.dtype, np.float32)
        self.assertLess(float(np.abs(img - self.img.numpy()).max()), 2e-2)


class BadInputTest(unittest.TestCase):
    def test_rejects_malformed_state_dicts(self):
        good = ip.random_reference([16, 8, 8, 4]).state_dict()

        def without(key):
            d = dict(good)
            del d[key]
            return d

        def replaced(key, value):
            d = dict(good)
            d[key] = value
            return d

        cases = {
            "not a dict": [1, 2, 3],
            "empty": {},
            "unrelated": {"fc.weight": torch.zeros(2, 2)},
            "missing bias": without("layer3.wscale.b"),
            "missing output": without("output_16x16.conv.weight"),
            "odd layer count": {k: v for k, v in good.items() if not k.startswith(("layer6", "output"))} | {
                "output_16x16.conv.weight": torch.zeros(3, 4, 1, 1), "output_16x16.wscale.b": torch.zeros(3)},
            "layer1 kernel": replaced("layer1.conv.weight", torch.zeros(8, 16, 3, 3)),
            "channel chain": replaced("layer4.conv.weight", torch.zeros(4, 5, 3, 3)),
            "bias size": replaced("layer2.wscale.b", torch.zeros(3)),
            "non tensor": replaced("layer2.wscale.b", [0.0] * 8),
            "extra key": replaced("mapping.weight", torch.zeros(1)),
            "nan": replaced("layer5.conv.weight", torch.full((4, 4, 3, 3), float("nan"))),
            "wrong output name": {("output_8x8" + k[len("output_16x16"):] if k.startswith("output") else k): v
                                  for k, v in good.items()},
            "scale not scalar": replaced("layer1.wscale.scale", torch.zeros(2)),
        }
        for label, sd in cases.items():
            with self.subTest(case=label):
                with self.assertRaises(ip.CheckpointError):
                    ip.model_from_state_dict(sd)

    def test_cli_reports_garbage_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            pth = os.path.join(tmp, "junk.pth")
            with open(pth, "wb") as f:
                f.write(b"definitely not a torch file")
            out = os.path.join(tmp, "out")
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = ip.main(["--pth", pth, "--out", out])
            self.assertEqual(rc, 2)
            self.assertIn("import_proggan:", err.getvalue())
            self.assertFalse(os.path.exists(out))


class CommittedTinyModelTest(unittest.TestCase):
    """inference/testdata/proggan_tiny must stay consistent with its expected.json."""

    def test_expected_matches_onnx(self):
        path = os.path.join(TINY_DIR, "expected.json")
        if not os.path.exists(path):
            self.skipTest("inference/testdata/proggan_tiny not generated")
        with open(path) as f:
            exp = json.load(f)
        z = np.array(exp["z"], np.float32).reshape(len(exp["ids"]), exp["z_size"])
        np.testing.assert_array_equal(z, z_batch(exp["ids"], size=exp["z_size"]))
        man, feats, img = run_chain(TINY_DIR, z)
        self.assertEqual(list(img.shape), exp["image_shape"])
        want = np.array(exp["image"], np.float32).reshape(exp["image_shape"])
        self.assertLess(float(np.abs(img - want).max()), exp["max_abs_tol"])
        for blk, f in zip(man["generator"]["blocks"], feats):
            self.assertAlmostEqual(float(f.astype(np.float64).sum()), exp["layers"][blk["name"]]["sum"],
                                   delta=1e-3 * max(1.0, abs(exp["layers"][blk["name"]]["sum"])))
        total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(TINY_DIR) for fn in fns)
        self.assertLess(total, 1 << 20)


if __name__ == "__main__":
    unittest.main()
