import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
sys.path.insert(0, TRAINING)

import scenes  # noqa: E402
import scenes2  # noqa: E402
from scene_stats import longest_runs, stats  # noqa: E402

SIZE = 128
CELL = SIZE // 8
N_SEEDS = 80


class SceneWorldV2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.renders = [scenes2.render(s, SIZE) for s in range(N_SEEDS)]

    def test_deterministic_and_varied(self):
        for seed in (0, 9, 987654321):
            a, b = scenes2.render(seed, 64), scenes2.render(seed, 64)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
        self.assertFalse(np.array_equal(self.renders[1][0], self.renders[2][0]))

    def test_bad_input(self):
        for bad in (0, 3, 12.5, "64", True):
            with self.subTest(size=bad), self.assertRaises(ValueError):
                scenes2.render(0, bad)
        for bad in (-1, 1.5, "3", None):
            with self.subTest(seed=bad), self.assertRaises(ValueError):
                scenes2.render(bad, 32)

    def test_same_class_list_as_v1(self):
        self.assertIs(scenes2.CLASSES, scenes.CLASSES)
        for _, lab in self.renders:
            self.assertLess(int(lab.max()), len(scenes.CLASSES))

    def test_every_class_appears(self):
        seen = np.zeros(len(scenes.CLASSES), bool)
        for _, lab in self.renders:
            seen[np.unique(lab)] = True
        self.assertEqual([scenes.CLASSES[i][0] for i in np.flatnonzero(~seen)], [])

    def test_parts_at_paint_grid_scale(self):
        # The point of v2: doors >= 1 cell wide and 1.5-3 cells tall, windows >= 1 cell, domes >= 2
        # cells wide, trees 2-6 cells tall, judged on medians over images containing each part.
        sizes = {k: [] for k in ("door", "window", "dome", "tree")}
        for _, lab in self.renders:
            for name, cls in (("door", scenes.DOOR), ("window", scenes.WINDOW), ("dome", scenes.DOME),
                              ("tree", scenes.TREE)):
                m = lab == cls
                if m.sum() > 20:
                    sizes[name].append(longest_runs(m))
        med = {k: np.median(np.array(v), axis=0) for k, v in sizes.items()}
        self.assertGreaterEqual(len(sizes["door"]), N_SEEDS * 0.9, "nearly every scene has a door")
        self.assertGreaterEqual(med["door"][0], CELL, med)
        self.assertTrue(1.5 * CELL <= med["door"][1] <= 3 * CELL, med)
        self.assertGreaterEqual(med["window"][0], CELL * 0.9, med)
        self.assertGreaterEqual(med["dome"][0], 2 * CELL, med)
        self.assertTrue(2 * CELL <= med["tree"][1] <= 6 * CELL, med)

    def test_building_fills_the_frame(self):
        widths = []
        for _, lab in self.renders:
            wall = (lab == scenes.BUILDING) | (lab == scenes.BRICK)
            widths.append(wall.any(axis=0).mean())
        self.assertGreaterEqual(np.median(widths), 0.55)

    def test_roof_and_dome_colours_kept_apart(self):
        # The v1 segmenter called yellow/orange roofs "dome": no roof colour may sit near a dome colour
        # or be yellow/orange (red clearly above blue, green in between).
        for roof in scenes2._ROOF:
            for dome in scenes2._DOME:
                self.assertGreater(np.abs(np.subtract(roof, dome)).sum(), 60, (roof, dome))
            r, g, b = roof
            self.assertFalse(r > 140 and g > 90 and b < 0.7 * g, f"roof colour {roof} is yellow/orange")


class BuildDatasetWorldTest(unittest.TestCase):
    def test_v2_build_matches_render(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "v2.npz")
            subprocess.run([sys.executable, os.path.join(TRAINING, "build_dataset.py"), "--n", "6", "--size", "32",
                            "--seed", "2", "--world", "v2", "--out", out, "--workers", "1"],
                           check=True, capture_output=True)
            with np.load(out) as z:
                rgb, lab = scenes2.render(2 * 1_000_003 + 5, 32)
                np.testing.assert_array_equal(z["images"][5], rgb)
                np.testing.assert_array_equal(z["labels"][5], lab)

    def test_unknown_world(self):
        p = subprocess.run([sys.executable, os.path.join(TRAINING, "build_dataset.py"), "--n", "2", "--world", "v9",
                            "--out", os.path.join(tempfile.gettempdir(), "never.npz")], capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"--world must be one of", p.stderr)


if __name__ == "__main__":
    unittest.main()


class SceneStatsTest(unittest.TestCase):
    def test_longest_runs(self):
        m = np.zeros((6, 8), bool)
        m[1, 2:7] = True  # a 5-pixel row
        m[0:4, 0] = True  # a 4-pixel column, apart from the row
        self.assertEqual(longest_runs(m), (5, 4))
        self.assertEqual(longest_runs(np.zeros((3, 3), bool)), (0, 0))

    def test_stats_of_known_labels(self):
        lab = np.full((32, 32), scenes.SKY, np.uint8)
        lab[10:30, 4:12] = scenes.DOOR     # an 8 x 20 door
        lab[28:, :16] = scenes.BUILDING    # walls over half the width
        st = stats([lab, np.full((32, 32), scenes.GRASS, np.uint8)])
        self.assertEqual(st["parts"]["door"], {"width": 8.0, "height": 18.0, "images": 1})
        self.assertEqual(st["parts"]["dome"]["images"], 0)
        self.assertAlmostEqual(st["wall_width_median"], 0.25)
        self.assertAlmostEqual(sum(st["pixel_shares"].values()), 1.0)
        self.assertAlmostEqual(st["pixel_shares"]["grass"], 0.5)
