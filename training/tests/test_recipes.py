"""Concept recipes (recipes.py), the torch runner of ONNX graphs (onnx_torch.py) and the port of
the benchmark's plausibility rules (plausible.py)."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import export  # noqa: E402
import onnx_numpy  # noqa: E402
import segmenter  # noqa: E402
import test_export  # noqa: E402
import onnx_torch  # noqa: E402
import plausible  # noqa: E402
import recipes  # noqa: E402

PLANTED = os.path.join(ROOT, "inference", "testdata", "planted")


class PlausibleTest(unittest.TestCase):
    """The Go rules' outcomes on drawn scenes (efficacy/testdata/rules_golden.json)."""

    def test_matches_go(self):
        with open(os.path.join(ROOT, "efficacy", "testdata", "rules_golden.json")) as f:
            golden = json.load(f)
        classes = golden["classes"]
        cls = {n: i for i, n in enumerate(classes)}
        size, side = golden["size"], golden["side"]
        rects = plausible.tiling(size, size, side)
        checked = 0
        for k, sc in enumerate(golden["scenes"]):
            seg = np.full((size, size), cls[sc["background"]], np.uint8)
            for r in sc["rects"]:
                x0, y0, x1, y1 = r["rect"]
                seg[y0:y1, x0:x1] = cls[r["class"]]
            for concept, want in sc["plausible"].items():
                got = [plausible.plausible(concept, plausible.Context(seg, r, len(classes)), cls) for r in rects]
                self.assertEqual(got, want, f"scene {k}, {concept}")
                checked += 1
        self.assertGreater(checked, 100)

    def test_unknown_concept_everywhere(self):
        seg = np.zeros((8, 8), np.uint8)
        self.assertTrue(plausible.plausible("dragon", plausible.Context(seg, (0, 0, 4, 4), 1), {"sky": 0}))

    def test_tiling(self):
        self.assertEqual(plausible.tiling(128, 128)[5], (32, 32, 64, 64))
        self.assertEqual(len(plausible.tiling(30, 20)), 16)


class IdsTest(unittest.TestCase):
    def test_sample_ids_match_go(self):
        """The shipped dissection's causal ids are Go's SampleIDs stream after its samples."""
        with open(os.path.join(ROOT, "assets", "models", "scenes128", "dissection", "layer4.json")) as f:
            layer = json.load(f)
        causal = layer["causal"]["ids"]
        n = layer["samples"] + len(causal)
        self.assertEqual(recipes.sample_ids(layer["seed"], n, 1000000)[layer["samples"]:], causal)

    def test_held_out(self):
        self.assertEqual(recipes.held_out_ids(100, 0.1, 0.2, 3, {10, 12}), [11, 13, 14])
        with self.assertRaises(recipes.RecipeError):
            recipes.held_out_ids(100, 0.1, 0.2, 20, set())
        self.assertEqual(recipes.ceil_frac(1000000, 0.1), 100000)


class OnnxTorchTest(unittest.TestCase):
    def test_matches_numpy_interpreter(self):
        """Two independent interpreters agree on a freshly exported tiny model (the real op set)."""
        with tempfile.TemporaryDirectory() as d:
            cfg, G, D = test_export.tiny_models(seed=3)
            ckpt = os.path.join(d, "g.pt")
            test_export.write_ckpt(ckpt, cfg, G, D)
            seg = os.path.join(d, "s.pt")
            torch.manual_seed(0)
            model = segmenter.Segmenter(n_classes=12, widths=(8, 8, 8, 8))
            torch.save({"format": segmenter.CHECKPOINT_FORMAT, "config": model.config(), "model": model.state_dict()}, seg)
            out = os.path.join(d, "model")
            with contextlib.redirect_stdout(io.StringIO()):
                export.export(ckpt, out, seg=seg, name="tiny")
            m = onnx_torch.Model(out)
            z = m.z([3, 4])
            x, xs = z, z.numpy()
            for b, name in zip(m.blocks, m.layers):
                with torch.no_grad():
                    x = b(x)
                xs = onnx_numpy.run(os.path.join(out, "generator", name + ".onnx"), xs)
                np.testing.assert_allclose(x.numpy(), xs, atol=1e-4, err_msg=name)
            with torch.no_grad():
                img = m.to_rgb(x)
                logits = m.segment_logits(img)
            np.testing.assert_allclose(img.numpy(), onnx_numpy.run(os.path.join(out, "generator", "to_rgb.onnx"), xs), atol=1e-4)
            np.testing.assert_allclose(logits.numpy(), onnx_numpy.run(os.path.join(out, "segmenter.onnx"), img.numpy()),
                                       atol=1e-3)

    def test_gradients_flow_and_crops_run(self):
        m = onnx_torch.Model(PLANTED)
        with torch.no_grad():
            f = m.head(m.z([1]), "layer2")
        x = f.clone().requires_grad_(True)
        m.segment_logits(m.tail(x, "layer2"))[:, 2].sum().backward()
        self.assertGreater(float(x.grad.abs().sum()), 0)
        self.assertEqual(tuple(m.tail(f[:, :, :4, :6], "layer2").shape), (1, 3, 16, 24))

    def test_rejects_unknown_layer(self):
        with self.assertRaises(ValueError):
            onnx_torch.Model(PLANTED).index("layer9")


class RecipeTest(unittest.TestCase):
    def test_apply_recipe_formula(self):
        x = torch.full((1, 3, 2, 2), 2.0)
        mask = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
        out = recipes.apply_recipe(x, mask, torch.tensor([0.25, 1.0, 0.5]), torch.tensor([6.0, -1.0, 4.0]), s=2.0)
        # min(s·w, 1): 0.5, 1, 1 in the masked cell; untouched elsewhere.
        self.assertEqual(out[0, :, 0, 0].tolist(), [4.0, -1.0, 4.0])
        self.assertEqual(out[0, :, 1, 1].tolist(), [2.0, 2.0, 2.0])

    def test_cell_mask_is_max_pooling(self):
        m = recipes.cell_mask([(0, 0, 32, 32), (33, 40, 34, 41)], (8, 8), (128, 128))
        self.assertEqual(int(m[0].sum()), 4)
        self.assertEqual(m[1].nonzero().tolist(), [[2, 2]])

    def test_to_recipe_orders_and_drops_zero_weights(self):
        rc = recipes.to_recipe("tree", "ace", False, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, 2.0, 3.0]), {})
        self.assertEqual((rc["units"], rc["weights"], rc["values"]), ([2, 1], [1.0, 0.5], [3.0, 2.0]))
        self.assertIsNone(recipes.to_recipe("tree", "ace", False, torch.zeros(3), torch.zeros(3), {}))

    def test_trains_and_saves_on_the_planted_model(self):
        """End to end at toy size: recipes land in the layer file (schema 2), other fields kept."""
        with tempfile.TemporaryDirectory() as d:
            model = os.path.join(d, "planted")
            shutil.copytree(PLANTED, model)
            os.makedirs(os.path.join(model, "dissection"))
            layer = {"schema_version": 1, "model": "planted", "layer": "layer2", "channels": 8, "samples": 8, "seed": 0,
                     "class_names": ["background", "sky", "tree", "door", "grass"],
                     "rankings": {"tree": list(range(8))}, "recipes": {"sky-old": {"concept": "sky"}}}
            with open(os.path.join(model, "dissection", "layer2.json"), "w") as f:
                json.dump(layer, f)
            with open(os.path.join(model, "dissection", "index.json"), "w") as f:
                json.dump({"schema_version": 1, "model": "planted", "layers": {"layer2": "layer2.json"}}, f)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = recipes.main(["--model", model, "--kinds", "dense,ace,erase", "--small", "", "--images", "12",
                                     "--steps", "3", "--batch", "4", "--val", "4"])
            self.assertEqual(code, 0, out.getvalue())
            with open(os.path.join(model, "dissection", "layer2.json")) as f:
                saved = json.load(f)
            with open(os.path.join(model, "dissection", "index.json")) as f:
                index = json.load(f)
            self.assertEqual((saved["schema_version"], index["schema_version"]), (2, 2))
            self.assertEqual(saved["rankings"], layer["rankings"])
            self.assertIn("sky-old", saved["recipes"])
            for kind in ("dense", "ace", "erase"):
                rc = saved["recipes"]["tree-" + kind]
                self.assertEqual(rc["concept"], "tree")
                self.assertEqual(rc["remove"], kind == "erase")
                self.assertEqual(len(rc["units"]), len(rc["weights"]))
                self.assertEqual(len(rc["units"]), len(rc["values"]))
                self.assertTrue(all(0 < w <= 1 for w in rc["weights"]))
            self.assertEqual(len(saved["recipes"]["tree-dense"]["units"]), 8)

    @staticmethod
    def planted_copy(d, name):
        model = os.path.join(d, name)
        shutil.copytree(PLANTED, model)
        os.makedirs(os.path.join(model, "dissection"))
        layer = {"schema_version": 1, "model": "planted", "layer": "layer2", "channels": 8, "samples": 8, "seed": 0,
                 "class_names": ["background", "sky", "tree", "door", "grass"],
                 "rankings": {"tree": list(range(8)), "sky": [7, 6, 5]}}
        with open(os.path.join(model, "dissection", "layer2.json"), "w") as f:
            json.dump(layer, f)
        with open(os.path.join(model, "dissection", "index.json"), "w") as f:
            json.dump({"schema_version": 1, "model": "planted", "layers": {"layer2": "layer2.json"}}, f)
        return model

    def test_jobs_write_what_one_process_writes(self):
        """Two processes over disjoint concepts merge into the same layer file and write exactly
        the recipes one process writes with the same seed (timings aside)."""
        args = ["--kinds", "dense,erase", "--small", "", "--concepts", "tree,sky", "--images", "12",
                "--steps", "3", "--batch", "4", "--val", "4", "--seed", "5"]
        got = {}
        with tempfile.TemporaryDirectory() as d:
            for name, extra in (("one", []), ("two", ["--jobs", "2"])):
                model = self.planted_copy(d, name)
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    code = recipes.main(["--model", model] + args + extra)
                self.assertEqual(code, 0, out.getvalue())
                with open(os.path.join(model, "dissection", "layer2.json")) as f:
                    rs = json.load(f)["recipes"]
                for r in rs.values():
                    r["training"].pop("seconds")
                got[name] = rs
            self.assertIn("[1/2] recipes: shard 1/2", out.getvalue())
            # Resuming: --missing trains only what is not in the file yet.
            model = os.path.join(d, "two")
            path = os.path.join(model, "dissection", "layer2.json")
            with open(path) as f:
                layer = json.load(f)
            del layer["recipes"]["sky-erase"]
            with open(path, "w") as f:
                json.dump(layer, f)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                self.assertEqual(recipes.main(["--model", model, "--missing"] + args), 0)
            self.assertIn("--missing: tree already trained", out.getvalue())
            with open(path) as f:
                again = json.load(f)["recipes"]
            again["sky-erase"]["training"].pop("seconds")
            self.assertEqual(again["sky-erase"], got["one"]["sky-erase"])
        self.assertEqual(sorted(got["one"]), ["sky-dense", "sky-erase", "tree-dense", "tree-erase"])
        self.assertEqual(got["one"], got["two"])

    def test_shard_concepts(self):
        cost = {"sky": 3, "door": 4, "tree": 3, "window": 4, "dome": 4, "grass": 3}
        concepts = list(cost)
        shards = [recipes.shard_concepts(concepts, i, 2, cost.get) for i in range(2)]
        self.assertEqual(shards, [["door", "dome", "grass"], ["sky", "tree", "window"]])
        self.assertEqual(recipes.shard_concepts(["sky"], 1, 2, cost.get), [])
        self.assertEqual(recipes.parse_shard("1/2"), (1, 2))
        for bad in ("2/2", "x", "1/0", "-1/2"):
            with self.assertRaises(recipes.RecipeError):
                recipes.parse_shard(bad)
        self.assertEqual(recipes.strip_jobs(["--jobs", "2", "--model", "m", "--jobs=3"]), ["--model", "m"])

    def test_errors(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(recipes.main(["--model", PLANTED]), 1)
        self.assertIn("ganpaint dissect", err.getvalue())


if __name__ == "__main__":
    unittest.main()
