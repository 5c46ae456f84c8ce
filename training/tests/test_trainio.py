"""trainio: the dataset loader and the training log both trainers use."""
import contextlib
import csv
import io
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import trainio  # noqa: E402


class LoadTest(unittest.TestCase):
    def test_side_multiple_and_classes(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.npz")
            np.savez(path, images=np.zeros((2, 24, 32, 3), np.uint8), labels=np.full((2, 24, 32), 3, np.uint8))
            images, labels = trainio.load_npz(path)
            self.assertEqual(images.shape, (2, 24, 32, 3))
            trainio.load_npz(path, n_classes=4, side_multiple=8)
            cases = {"side not a multiple": dict(side_multiple=16), "label out of range": dict(n_classes=3)}
            for name, kw in cases.items():
                with self.subTest(name), self.assertRaises(trainio.DataError):
                    trainio.load_npz(path, **kw)


class TrainLogTest(unittest.TestCase):
    def test_rows_resume_and_nonfinite(self):
        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()) as out:
            log = trainio.TrainLog(d, resume=False, minutes=1)
            for step in range(1, 51):
                log.step(step, step * 0.1, 1.0, 1e-3, 64)
            log.close()
            log = trainio.TrainLog(d, resume=True, minutes=1)
            log.step(75, 7.5, 1.0, 1e-3, 64)
            with self.assertRaises(SystemExit):
                log.step(76, 7.6, float("nan"), 1e-3, 64)
            log.close()
            with open(os.path.join(d, "log.csv")) as f:
                rows = list(csv.reader(f))
        self.assertEqual([r[0] for r in rows], ["step", "25", "50", "75"], "a row every 25 steps, appended on resume")
        self.assertEqual(rows[1][2], "1.0")
        self.assertEqual(out.getvalue(), "")  # no line before step 200


if __name__ == "__main__":
    unittest.main()
