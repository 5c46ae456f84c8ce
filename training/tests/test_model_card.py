"""MODEL.md's targets table (model_card.py)."""

import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import model_card  # noqa: E402


def efficacy(success, region_drop, leak_far=0.005, present=20):
    """An efficacy.json where every concept's default brush paints with success and erases
    region_drop of the concept's pixels."""
    concepts, brushes = [], {}
    for c in ["sky", "cloud", "tree", "grass", "door", "brick", "dome", "window"]:
        s = success.get(c, 0.9)
        concepts.append({"concept": c, "used_present": present, "insert": [
            {"brush": f"{c}-dense", "kind": "dense", "layer": "layer4", "step": "low", "strength": 0.5,
             "success": 0.0, "leak_far": 0.0},
            {"brush": f"{c}-dense", "kind": "dense", "layer": "layer4", "step": "high", "strength": 1,
             "success": s, "leak_far": leak_far}],
            "remove": [{"brush": f"{c}-erase", "kind": "erase", "layer": "layer4", "step": "high", "strength": 2,
                        "region_drop": region_drop, "drop": 0.5}]})
        brushes[c] = {"add": {"brush": f"{c}-dense", "layer": "layer4", "default": "high"},
                      "remove": {"brush": f"{c}-erase", "layer": "layer4", "default": "high"}}
    return {"concepts": concepts, "brushes": brushes}


METRICS = {"fid_seg": 0.5, "fid_feature_dim": 208, "class_tv": 0.07, "sharpness_ratio": 0.9,
           "segmenter_miou": 0.94, "segmenter_class_iou": {"sky": 0.97, "mountain": 0.73}}
V1 = {"fid_seg": 2.0, "fid_feature_dim": 208, "class_tv": 0.139, "sharpness_ratio": 1.04}


class ModelCardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "model")
        os.makedirs(self.dir)
        self.write("manifest.json", {"name": "scenes128v2", "title": "Test scenes"})
        self.write("metrics.json", METRICS)
        self.v1 = os.path.join(self.tmp.name, "v1.json")
        with open(self.v1, "w") as f:
            json.dump(V1, f)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, obj):
        with open(os.path.join(self.dir, name), "w") as f:
            json.dump(obj, f)

    def card(self):
        with open(os.path.join(self.dir, "MODEL.md")) as f:
            return f.read()

    def rows(self):
        return {m.group(1): m.groups()[1:] for m in
                re.finditer(r"^\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", self.card(), re.M)}

    def test_verdicts(self):
        self.write("efficacy.json", efficacy({"door": 0.75, "dome": 0.85}, region_drop=0.72, leak_far=0.02))
        model_card.update_card(self.dir, v1_metrics=self.v1)
        rows = self.rows()
        self.assertEqual(rows["insertion success, door (plausible regions)"][3], "no (by 5 points)")
        self.assertEqual(rows["insertion success, dome (plausible regions)"][3], "**yes**")
        self.assertEqual(rows["removal, tree: share of its pixels deleted in the brushed region"][1], "72%")
        self.assertEqual(rows["far leak of the default painting brushes (worst concept)"][3], "no (by 1.0 points)")
        fid = rows["fid_seg (segmenter features, 208 dims)"]
        self.assertEqual((fid[0], fid[1], fid[2], fid[3]), ("≤ 0.3 × v1 = 0.600", "0.500", "2.000", "**yes**"))
        self.assertEqual(rows["class TV distance"][3], "**yes**")
        self.assertEqual(rows["segmenter IoU of every class (lowest)"][1], "0.730 (mountain)")
        self.assertTrue(rows["segmenter IoU of every class (lowest)"][3].startswith("no"))
        self.assertEqual(rows["segmenter mIoU on held-out renders"][2], "–", "no v1 model given")

    def test_missing_numbers_are_not_met(self):
        os.remove(os.path.join(self.dir, "metrics.json"))
        model_card.update_card(self.dir, v1_metrics=None)
        rows = self.rows()
        self.assertEqual(rows["class TV distance"][3], "not measured")
        self.assertEqual(rows["insertion success, tree (plausible regions)"][3], "not measured")
        self.assertNotIn("**yes**", self.card())

    def test_no_present_region_is_not_measured(self):
        self.write("efficacy.json", efficacy({}, region_drop=0.9, present=0))
        model_card.update_card(self.dir, v1_metrics=self.v1)
        row = self.rows()["removal, door: share of its pixels deleted in the brushed region"]
        self.assertEqual((row[1], row[3]), ("– (no region ≥ half door; everywhere 50%)", "not measured"))

    def test_rerun_replaces_the_block_and_keeps_prose(self):
        self.write("efficacy.json", efficacy({}, region_drop=0.5))
        model_card.update_card(self.dir, v1_metrics=self.v1)
        with open(os.path.join(self.dir, "MODEL.md"), "a") as f:
            f.write("\nA note written by hand.\n")
        first = self.card()
        self.write("efficacy.json", efficacy({}, region_drop=0.8))
        model_card.update_card(self.dir, v1_metrics=self.v1)
        text = self.card()
        self.assertIn("A note written by hand.", text)
        self.assertEqual(text.count(model_card.TARGETS_BEGIN), 1)
        self.assertNotEqual(first, text)
        model_card.update_card(self.dir, v1_metrics=self.v1)
        self.assertEqual(self.card(), text, "same inputs, same card")

    def test_inpainter_block(self):
        ev = {"cells": {"model": {"hole_mae": 20.04, "seg_accuracy": 0.75}, "mean_fill": {"hole_mae": 45.0, "seg_accuracy": 0.2},
                        "hole_share": 0.15},
              "object": {"model": {"hole_mae": 21.0}, "mean_fill": {"hole_mae": 47.0}, "hole_share": 0.14},
              "images": 300, "steps": 10, "minutes": 62.0, "clock": "cpu"}
        path = os.path.join(self.tmp.name, "eval.json")
        with open(path, "w") as f:
            json.dump(ev, f)
        model_card.update_card(self.dir, v1_metrics=self.v1, inpaint_eval=path)
        model_card.update_card(self.dir, v1_metrics=self.v1, inpaint_eval=path)
        text = self.card()
        self.assertEqual(text.count(model_card.INPAINT_BEGIN), 1)
        self.assertIn("| 1–4 brushed blocks | 15% | 20.0 / 45.0 | 75% / 20% | –, – |", text)
        self.assertIn("| another image's object outline | 14% | 21.0 / 47.0 | – / – | –, – |", text)

    def test_different_extractors_refused(self):
        with open(self.v1, "w") as f:
            json.dump(dict(V1, fid_feature_dim=16), f)
        with self.assertRaises(model_card.CardError):
            model_card.update_card(self.dir, v1_metrics=self.v1)

    def test_efficacy_markers_match_go(self):
        """The template's empty efficacy block is the one `ganpaint efficacy` replaces."""
        with open(os.path.join(ROOT, "efficacy", "table.go")) as f:
            go = f.read()
        self.assertIn(f'BeginMarker = "{model_card.EFFICACY_BEGIN}"', go)
        self.assertIn(model_card.EFFICACY_END, go)


if __name__ == "__main__":
    unittest.main()
