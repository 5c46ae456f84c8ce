"""By-eye sheets (sheets.py) on the planted test model."""

import contextlib
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import unittest

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import sheets  # noqa: E402

PLANTED = os.path.join(ROOT, "inference", "testdata", "planted")
CLASSES = ["background", "sky", "tree", "door", "grass"]


def scene(size=32):
    """Sky above, grass below, a tree covering the top-left region."""
    lab = np.full((size, size), CLASSES.index("sky"), np.uint8)
    lab[size // 2:] = CLASSES.index("grass")
    lab[:8, :8] = CLASSES.index("tree")
    return lab


class RegionTest(unittest.TestCase):
    def test_add_region_is_plausible_and_central(self):
        # A tree stands on the ground: a central region on the horizon (grass in the strip below),
        # the first in tiling order of the two nearest the centre.
        self.assertEqual(sheets.add_region(scene(), "tree", CLASSES), (8, 8, 16, 16))
        lab = scene()
        lab[:] = CLASSES.index("sky")
        self.assertIsNone(sheets.add_region(lab, "tree", CLASSES), "no ground, no tree")
        # Sky: only where it covers < half, without ground, under sky or the top edge: the tree.
        self.assertEqual(sheets.add_region(scene(), "sky", CLASSES), (0, 0, 8, 8))

    def test_remove_region(self):
        self.assertEqual(sheets.remove_region(scene(), "tree", CLASSES), ((0, 0, 8, 8), False))
        lab = scene()
        lab[:] = CLASSES.index("sky")
        lab[0, 0:12] = CLASSES.index("door")  # 1.2% of the image, in no region ≥ half
        self.assertEqual(sheets.remove_region(lab, "door", CLASSES), ((0, 0, 32, 32), True))
        self.assertEqual(sheets.remove_region(lab, "grass", CLASSES), (None, False))

    def test_places_stops_at_k(self):
        labs = np.stack([scene()] * 5)
        self.assertEqual([p[0] for p in sheets.places(labs, "tree", CLASSES, "remove", 3)], [0, 1, 2])


class SheetTest(unittest.TestCase):
    def test_grid_and_seg(self):
        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()) as out:
            g = os.path.join(d, "grid.png")
            self.assertEqual(sheets.main(["grid", "--model", PLANTED, "--out", g, "--n", "6", "--cols", "3"]), 0)
            with Image.open(g) as im:
                self.assertEqual(im.size, (3 * 32 + 2 * 2, 2 * 32 + 2))
            s = os.path.join(d, "seg.jpg")
            self.assertEqual(sheets.main(["seg", "--model", PLANTED, "--out", s, "--n", "3", "--cols", "2"]), 0)
            with Image.open(s) as im:
                self.assertEqual(im.size[0], 2 * 64 + 4 + 170)
            self.assertIn("segmented pixel shares background", out.getvalue())

    def test_brushes_calls_the_painter_for_every_stroke(self):
        """The after images come from `ganpaint render --edit`: a fake binary records the calls."""
        with tempfile.TemporaryDirectory() as d:
            model = os.path.join(d, "planted")
            shutil.copytree(PLANTED, model)
            os.makedirs(os.path.join(model, "dissection"))
            with open(os.path.join(model, "dissection", "index.json"), "w") as f:
                json.dump({"schema_version": 2, "layers": {}}, f)
            calls = os.path.join(d, "calls.txt")
            fake = os.path.join(d, "ganpaint")
            red = os.path.join(d, "red.png")
            Image.new("RGB", (32, 32), (255, 0, 0)).save(red)
            with open(fake, "w") as f:
                f.write(f"#!/bin/sh\necho \"$@\" >> {calls}\nwhile [ $# -gt 0 ]; do [ \"$1\" = --out ] && cp {red} \"$2\"; shift; done\n")
            os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
            out = os.path.join(d, "b.jpg")
            with contextlib.redirect_stdout(io.StringIO()):
                code = sheets.main(["brushes", "--model", model, "--out", out, "--concepts", "sky,grass",
                                    "--images", "2", "--ganpaint", fake])
            self.assertEqual(code, 0)
            with open(calls) as f:
                lines = f.read().splitlines()
            edits = [l.split("--edit ")[1].split(" ")[0] for l in lines]
            self.assertTrue(all(l.startswith("render --model " + model + " --id 9") for l in lines), lines[:2])
            for concept in ("sky", "grass"):
                for mode in ("add", "remove"):
                    n = sum(1 for e in edits if e.startswith(f"{concept}:{mode}"))
                    self.assertLessEqual(n, 2)
            self.assertGreater(len(edits), 0)
            with Image.open(out) as im:
                self.assertEqual(im.size[0], sheets.LABEL_W + 2 * (2 * 32 + 6))

    def test_errors(self):
        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(sheets.main(["brushes", "--model", PLANTED, "--out", os.path.join(d, "x.jpg"),
                                          "--ganpaint", os.path.join(d, "none")]), 1)
            self.assertIn("not an executable", err.getvalue())
            self.assertEqual(sheets.main(["grid", "--model", d, "--out", os.path.join(d, "x.jpg")]), 1)


if __name__ == "__main__":
    unittest.main()
