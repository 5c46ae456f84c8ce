"""Tests for the GAN (training/gan.py), its trainer, the z rule and the ONNX export.

Everything runs on tiny random models at 32 px so the suite takes seconds on a CPU. Exported
graphs are evaluated with the small numpy ONNX interpreter in onnx_numpy.py (ONNX Runtime for
Python is not available here); the Go side compares the same files with ONNX Runtime against
the --check-out dump.
"""

import csv
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
import export  # noqa: E402
import gan  # noqa: E402
import onnx_numpy  # noqa: E402
import train_gan  # noqa: E402
import zrule  # noqa: E402

TINY = {4: 16, 8: 16, 16: 8, 32: 8}


def tiny_models(seed=0):
    torch.manual_seed(seed)
    cfg = gan.GANConfig(max_res=32, widths=dict(TINY))
    G, D = gan.Generator(cfg), gan.Discriminator(cfg)
    # Non-zero biases and a non-trivial stddev reference so that folding bugs cannot hide.
    with torch.no_grad():
        for m in (G, D):
            for name, p in m.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.3)
        D.mbstd.ref.fill_(0.37)
    return cfg, G, D


def write_ckpt(path, cfg, G, D):
    torch.save({"format": gan.CHECKPOINT_FORMAT, "config": cfg.to_dict(), "G": G.state_dict(),
                "G_ema": G.state_dict(), "D": D.state_dict()}, path)


class ZRuleTest(unittest.TestCase):
    # Computed once with this implementation; the Go implementation must print the same.
    KNOWN = {
        0: [-0.278874934, -0.76422286, 0.418925643, -0.0670929104],
        1: [1.32567191, 0.426810592, 0.266088396, 0.018446397],
        999999: [0.170825914, -1.94431639, -0.389339805, -0.716027141],
    }

    def test_known_values(self):
        for image_id, want in self.KNOWN.items():
            with self.subTest(id=image_id):
                z = zrule.z_for_id(image_id, 128, 0)
                self.assertEqual(z.dtype, np.float32)
                self.assertEqual(z.shape, (128,))
                np.testing.assert_allclose(z[:4], np.array(want, np.float32), rtol=0, atol=1e-8)

    def test_neighbouring_ids_are_unrelated(self):
        # A rule that merely offsets one stream per id would make z(1) a shifted copy of z(0).
        a, b = zrule.z_for_id(0, 128, 0), zrule.z_for_id(1, 128, 0)
        self.assertFalse(np.isin(b[:8], a).any())

    def test_seed_and_id_change_z(self):
        a = zrule.z_for_id(5, 64, 0)
        self.assertFalse(np.array_equal(a, zrule.z_for_id(5, 64, 1)))
        self.assertFalse(np.array_equal(a, zrule.z_for_id(6, 64, 0)))
        np.testing.assert_array_equal(a, zrule.z_for_id(5, 64, 0))
        # Shorter vectors are prefixes: each element consumes exactly two draws.
        np.testing.assert_array_equal(a[:16], zrule.z_for_id(5, 16, 0))

    def test_roughly_standard_normal(self):
        z = zrule.z_batch(list(range(200)), 128, 0).reshape(-1)
        self.assertLess(abs(float(z.mean())), 0.02)
        self.assertLess(abs(float(z.std()) - 1.0), 0.02)

    def test_bad_input(self):
        for bad in (-1, 1.5, "3", True):
            with self.subTest(id=bad):
                with self.assertRaises(zrule.ZRuleError):
                    zrule.z_for_id(bad)
        with self.assertRaises(zrule.ZRuleError):
            zrule.z_for_id(10, max_id=10)
        with self.assertRaises(zrule.ZRuleError):
            zrule.z_for_id(0, size=0)


class GANTest(unittest.TestCase):
    def test_layer_names_and_shapes(self):
        cfg = gan.GANConfig()
        G = gan.Generator(cfg)
        self.assertEqual(G.layer_names(), [f"layer{i}" for i in range(1, 13)])
        shapes = cfg.layer_shapes()
        self.assertEqual(shapes[3], ("layer4", 256, 8, 8))
        self.assertEqual(shapes[5], ("layer6", 128, 16, 16))
        self.assertEqual(shapes[-1], ("layer12", 16, 128, 128))
        for m in G.modules():
            self.assertNotIsInstance(m, torch.nn.ConvTranspose2d)

    def test_progressive_outputs(self):
        cfg, G, D = tiny_models()
        z = torch.randn(3, cfg.z_size)
        for res in (8, 16, 32):
            with self.subTest(res=res):
                img = G(z, res=res)
                self.assertEqual(tuple(img.shape), (3, 3, res, res))
                self.assertEqual(tuple(D(img, res=res).shape), (3, 1))
        # alpha = 0 is exactly the previous resolution's image, upsampled.
        low = G(z, res=16)
        faded = G(z, res=32, alpha=0.0)
        torch.testing.assert_close(faded, torch.nn.functional.interpolate(low, scale_factor=2.0, mode="nearest"))
        with self.assertRaises(ValueError):
            G(z, res=64)
        with self.assertRaises(ValueError):
            D(torch.zeros(1, 3, 16, 16), res=32)

    def test_baked_blocks_match(self):
        cfg, G, _ = tiny_models()
        z = torch.randn(4, cfg.z_size)
        feats, img = G.features(z)
        x = z
        with torch.no_grad():
            for b, want in zip(gan.baked_blocks(G), feats + [img]):
                x = b(x)
                torch.testing.assert_close(x, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(img, G(z), rtol=0, atol=0)

    def test_config_errors(self):
        with self.assertRaises(ValueError):
            gan.GANConfig(max_res=48)
        with self.assertRaises(ValueError):
            gan.GANConfig(max_res=32, widths={4: 8, 8: 8, 16: 8})


class ExportTest(unittest.TestCase):
    def export_tiny(self, tmp, fp16):
        cfg, G, D = tiny_models()
        ck = os.path.join(tmp, "g.pt")
        write_ckpt(ck, cfg, G, D)
        out = os.path.join(tmp, "model")
        check = os.path.join(tmp, "check.npz")
        manifest, _ = export.export(ck, out, fp16=fp16, check_out=check, default_layer="layer4")
        return cfg, G, D, out, check, manifest

    def test_export_matches_torch(self):
        import onnx

        for fp16 in (False, True):
            with self.subTest(fp16=fp16), tempfile.TemporaryDirectory() as tmp:
                cfg, G, D, out, check, manifest = self.export_tiny(tmp, fp16)
                with open(os.path.join(out, "manifest.json")) as f:
                    self.assertEqual(json.load(f), manifest)
                self.assertEqual(manifest["z"], {"size": 128, "rule": "splitmix64-boxmuller-v1", "seed": 0,
                                                 "max_id": 1000000})
                self.assertEqual(manifest["image"], {"height": 32, "width": 32, "range": [-1, 1]})
                self.assertEqual(len(manifest["sample_ids"]), 16)
                # Every block after layer1, and to_rgb, is declared local for region repaints.
                locs = [(b.get("scale"), b.get("halo")) for b in manifest["generator"]["blocks"]]
                self.assertEqual(locs[0], (None, None))
                self.assertEqual(locs[1:], [(1, 1), (2, 1), (1, 1), (2, 1), (1, 1), (2, 1), (1, 1)])
                self.assertEqual(manifest["generator"]["to_rgb"]["halo"], 0)
                self.assertTrue(all(0 <= i < 200 for i in manifest["sample_ids"]))
                ref = np.load(check)
                np.testing.assert_array_equal(ref["z"], zrule.z_batch([0, 1, 2, 3], 128, 0))
                # The dump is the un-exported torch model's output (up to fp16 weight rounding).
                feats, img = G.features(torch.from_numpy(ref["z"]))
                tol = 5e-2 if fp16 else 1e-4
                np.testing.assert_allclose(ref["to_rgb"], img.detach().numpy(), atol=tol)
                self.assertEqual(ref["discriminator"].shape, (4, 1))

                prev = ref["z"]
                worst = 0.0
                for blk in manifest["generator"]["blocks"] + [dict(manifest["generator"]["to_rgb"], name="to_rgb")]:
                    path = os.path.join(out, blk["file"])
                    m = onnx.load(path)
                    onnx.checker.check_model(m)
                    self.assertEqual([i.name for i in m.graph.input], ["input"])
                    self.assertEqual([o.name for o in m.graph.output], ["output"])
                    self.assertGreaterEqual(m.opset_import[0].version, 13)
                    dims = [d.dim_value or d.dim_param for d in m.graph.output[0].type.tensor_type.shape.dim[1:]]
                    if "halo" in blk:  # declared blocks run on crops: spatial dims are free
                        self.assertEqual(dims[1:], ["out_height", "out_width"])
                    if blk["name"] != "to_rgb":
                        want = [blk["height"], blk["width"]] if "halo" not in blk else ["out_height", "out_width"]
                        self.assertEqual(dims, [blk["channels"]] + want)
                    inits = {t.data_type for t in m.graph.initializer}
                    self.assertEqual(onnx.TensorProto.FLOAT16 in inits, fp16)
                    got = onnx_numpy.run(m, prev)
                    diff = float(np.abs(got - ref[blk["name"]]).max())
                    worst = max(worst, diff)
                    self.assertLess(diff, 1e-4, blk["name"])
                    prev = ref[blk["name"]]
                print(f"\nexport fp16={fp16}: max |onnx(numpy) - torch| over blocks = {worst:.2e}")
                d = onnx.load(os.path.join(out, "discriminator.onnx"))
                onnx.checker.check_model(d)
                self.assertEqual([i.name for i in d.graph.input], ["input"])

    def test_discriminator_is_per_image(self):
        cfg, _, D = tiny_models()
        De = gan.ExportDiscriminator(D).eval()
        x = torch.randn(5, 3, 32, 32)
        with torch.no_grad():
            all_at_once = De(x)
            one_by_one = torch.cat([De(x[i:i + 1]) for i in range(5)])
        torch.testing.assert_close(all_at_once, one_by_one)

    def test_bad_checkpoint(self):
        # Each bad input is rejected for its own reason, before anything is
        # written: no model folder appears.
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.pt")
            torch.save({"format": "something-else"}, bad)
            junk = os.path.join(tmp, "junk.pt")
            with open(junk, "wb") as f:
                f.write(b"not a checkpoint")
            cases = [
                ("other format", bad, "not a " + gan.CHECKPOINT_FORMAT + " checkpoint"),
                ("missing file", os.path.join(tmp, "missing.pt"), "cannot read checkpoint"),
                ("not a pickle", junk, "cannot read checkpoint"),
            ]
            for name, ckpt, reason in cases:
                with self.subTest(name):
                    out = os.path.join(tmp, "m-" + name.replace(" ", "-"))
                    with self.assertRaises(export.ExportError) as cm:
                        export.export(ckpt, out)
                    self.assertIn(reason, str(cm.exception))
                    self.assertIn(ckpt, str(cm.exception))
                    self.assertFalse(os.path.exists(out), "a rejected checkpoint left " + out)


class TrainTest(unittest.TestCase):
    def test_train_and_resume(self):
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(0)
            data = os.path.join(tmp, "d.npz")
            np.savez(data, images=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
                     labels=np.zeros((20, 32, 32), np.uint8))
            common = ["--data", data, "--out", os.path.join(tmp, "ck"), "--runs", os.path.join(tmp, "runs"),
                      "--minutes", "10", "--max-res", "32", "--widths", "4:16,8:16,16:8,32:8",
                      "--batch", "8:4,16:4,32:4", "--threads", "1"]
            train_gan.main(common + ["--max-steps", "3"])
            ck = torch.load(os.path.join(tmp, "ck", "latest.pt"))
            self.assertEqual(ck["step"], 3)
            train_gan.main(common + ["--max-steps", "5", "--resume"])
            ck2 = torch.load(os.path.join(tmp, "ck", "latest.pt"))
            self.assertEqual(ck2["step"], 5)
            self.assertGreater(ck2["elapsed_s"], ck["elapsed_s"])
            self.assertFalse(torch.equal(ck["G_ema"]["blocks.0.dense.weight"], ck2["G_ema"]["blocks.0.dense.weight"]))
            with open(os.path.join(tmp, "ck", "log.csv")) as f:
                steps = [int(r["step"]) for r in csv.DictReader(f)]
            self.assertEqual(steps, [1, 2, 3, 4, 5])
            for png in ("latest.png", "loss.png", "stage_8px.png"):
                self.assertTrue(os.path.exists(os.path.join(tmp, "runs", png)), png)

    def test_compact_checkpoint_resume_and_chunks(self):
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(0)
            data = os.path.join(tmp, "d.npz")
            np.savez(data, images=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
                     labels=np.zeros((20, 32, 32), np.uint8))
            compact = os.path.join(tmp, "git", "gan.pt")
            common = ["--data", data, "--runs", os.path.join(tmp, "runs"), "--minutes", "10", "--max-res", "32",
                      "--widths", "4:16,8:16,16:8,32:8", "--batch", "8:4,16:4,32:4", "--threads", "1",
                      "--clock", "cpu", "--compact", compact]
            train_gan.main(common + ["--out", os.path.join(tmp, "a"), "--max-steps", "4"])
            full = torch.load(os.path.join(tmp, "a", "latest.pt"))
            small = torch.load(compact)
            self.assertEqual(small["format"], train_gan.COMPACT_FORMAT)
            self.assertEqual(small["G"]["blocks.0.dense.weight"].dtype, torch.float16)
            self.assertLess(os.path.getsize(compact), 0.6 * os.path.getsize(os.path.join(tmp, "a", "latest.pt")))
            back = train_gan.expand_checkpoint(small)
            for k, v in full["G"].items():
                torch.testing.assert_close(back["G"][k], v, rtol=2e-3, atol=1e-4)
            for k, v in full["optD"]["state"].items():
                torch.testing.assert_close(back["optD"]["state"][k]["exp_avg_sq"], v["exp_avg_sq"], rtol=1e-2, atol=0)
            # A fresh --out (as on a new machine, where only git's compact file exists) resumes from it.
            train_gan.main(common + ["--out", os.path.join(tmp, "b"), "--max-steps", "6", "--resume"])
            resumed = torch.load(os.path.join(tmp, "b", "latest.pt"))
            self.assertEqual(resumed["step"], 6)
            self.assertGreater(resumed["elapsed_s"], full["elapsed_s"])
            # A chunk stops early without marking the run done; a different clock is refused.
            train_gan.main(common + ["--out", os.path.join(tmp, "b"), "--resume", "--chunk-minutes", "0.0001"])
            self.assertFalse(os.path.exists(os.path.join(tmp, "b", "done.json")))
            wall = [a if a != "cpu" else "wall" for a in common]
            with self.assertRaises(SystemExit) as cm:
                train_gan.main(wall + ["--out", os.path.join(tmp, "b"), "--resume", "--max-steps", "8"])
            self.assertIn("--clock wall", str(cm.exception))

    def test_schedule(self):
        s = train_gan.Schedule(128, "1,1,1,1,1", "8:32,16:32,32:16,64:16,128:8", 100.0)
        self.assertEqual(s.at(0)[1:], (8, 1.0, 32))
        self.assertEqual(s.at(20)[1:], (16, 0.0, 32))
        self.assertEqual(s.at(25)[1:], (16, 0.5, 32))
        self.assertEqual(s.at(35)[1:], (16, 1.0, 32))
        self.assertEqual(s.at(99)[1:], (128, 1.0, 8))
        self.assertEqual(s.at(500)[1], 128)
        with self.assertRaises(ValueError):
            train_gan.Schedule(128, "1,1,1,1,1", "8:32", 100.0)

    def test_bad_data(self):
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "d.npz")
            np.savez(p, images=np.zeros((4, 32, 32), np.uint8))
            with self.assertRaises(ValueError):
                train_gan.Data(p, 32)


if __name__ == "__main__":
    unittest.main()
