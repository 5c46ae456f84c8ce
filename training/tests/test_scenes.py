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

N_SEEDS = 200


class RenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.labels = [scenes.render(s, 64)[1] for s in range(N_SEEDS)]

    def test_classes_contract(self):
        names = [n for n, _ in scenes.CLASSES]
        self.assertEqual(
            names,
            ["sky", "cloud", "tree", "grass", "door", "brick", "dome", "building", "window", "roof", "mountain", "road"],
        )
        for _, c in scenes.CLASSES:
            self.assertRegex(c, r"^#[0-9a-f]{6}$")

    def test_deterministic(self):
        for seed in (0, 7, 123456789):
            a = scenes.render(seed)
            b = scenes.render(seed)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
        x, y = scenes.render(1)[0], scenes.render(2)[0]
        self.assertFalse(np.array_equal(x, y), "different seeds should give different scenes")

    def test_shapes_and_dtypes(self):
        for size in (32, 64, 128):
            with self.subTest(size=size):
                rgb, lab = scenes.render(5, size)
                self.assertEqual(rgb.shape, (size, size, 3))
                self.assertEqual(lab.shape, (size, size))
                self.assertEqual(rgb.dtype, np.uint8)
                self.assertEqual(lab.dtype, np.uint8)

    def test_bad_size(self):
        for bad in (0, 3, -1, 12.5, "64"):
            with self.subTest(size=bad):
                with self.assertRaises(ValueError):
                    scenes.render(0, bad)

    def test_bad_seed(self):
        for bad in (-1, 1.5, "3", None):
            with self.subTest(seed=bad):
                with self.assertRaises(ValueError):
                    scenes.render(bad, 32)

    def test_brick_has_mortar_texture(self):
        # Brick walls must show their bond: mortar courses make vertically adjacent brick
        # pixels differ far more than adjacent plaster pixels in the same image.
        found = 0
        for seed in range(200):
            rgb, lab = scenes.render(seed, 128)
            lum = rgb.astype(float).mean(axis=2)
            dy = np.abs(lum[1:] - lum[:-1])


            def inside(k):
                # Pairs well inside a region, so anti-aliased edges against windows do not count.
                m = lab == k
                core = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
                pair = core[:-1] & core[1:]
                return dy[1:-1, 1:-1][pair]

            b, p = inside(scenes.BRICK), inside(scenes.BUILDING)
            if len(b) > 400 and len(p) > 400:
                found += 1
                self.assertGreater(b.mean(), 2 * p.mean(), f"seed {seed}")
            if found == 5:
                break
        self.assertEqual(found, 5)

    def test_labels_in_range(self):
        for lab in self.labels:
            self.assertLess(int(lab.max()), len(scenes.CLASSES))

    def test_class_coverage(self):
        seen = np.zeros(len(scenes.CLASSES), bool)
        for lab in self.labels:
            seen[np.unique(lab)] = True
        missing = [scenes.CLASSES[i][0] for i in np.flatnonzero(~seen)]
        self.assertEqual(missing, [])

    def test_door_and_dome_frequency(self):
        door = np.mean([(lab == scenes.DOOR).any() for lab in self.labels])
        dome = np.mean([(lab == scenes.DOME).any() for lab in self.labels])
        self.assertGreaterEqual(door, 0.60, f"door in {door:.0%} of images")
        self.assertGreaterEqual(dome, 0.25, f"dome in {dome:.0%} of images")

    def test_labels_align_with_pixels(self):
        # Sky pixels should be bluish/greyish-bright compared with grass pixels on average,
        # which only holds if label map and image are registered.
        rgb, lab = scenes.render(11, 128)
        sky = rgb[lab == scenes.SKY].astype(float)
        grass = rgb[lab == scenes.GRASS].astype(float)
        self.assertGreater(len(sky), 0)
        self.assertGreater(len(grass), 0)
        self.assertGreater(sky[:, 2].mean() - sky[:, 1].mean(), grass[:, 2].mean() - grass[:, 1].mean())


class BuildDatasetTest(unittest.TestCase):
    def test_small_build(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "sub", "toy.npz")
            subprocess.run(
                [sys.executable, os.path.join(TRAINING, "build_dataset.py"), "--n", "10", "--size", "32",
                 "--seed", "3", "--out", out, "--workers", "2"],
                check=True, capture_output=True,
            )
            with np.load(out) as z:
                self.assertEqual(z["images"].shape, (10, 32, 32, 3))
                self.assertEqual(z["labels"].shape, (10, 32, 32))
                rgb, lab = scenes.render(3 * 1_000_003 + 4, 32)
                np.testing.assert_array_equal(z["images"][4], rgb)
                np.testing.assert_array_equal(z["labels"][4], lab)
            self.assertEqual(sorted(os.listdir(os.path.dirname(out))), ["toy.npz"])

    def test_rejects_bad_n(self):
        p = subprocess.run([sys.executable, os.path.join(TRAINING, "build_dataset.py"), "--n", "0", "--out",
                            os.path.join(tempfile.gettempdir(), "never.npz")], capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"--n must be positive", p.stderr)


if __name__ == "__main__":
    unittest.main()
