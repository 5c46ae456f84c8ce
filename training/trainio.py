"""Files the trainers share: the rendered dataset they read (images and
per-pixel labels, written by build_dataset.py) and the checkpoints they
write, so the segmenter and the inpainter check their input the same way."""
import csv
import math
import os

import numpy as np


class DataError(ValueError):
    """The dataset file is missing, malformed, or inconsistent."""


def load_npz(path, n_classes=None, side_multiple=1):
    """Return (images uint8 [N,H,W,3], labels uint8 [N,H,W]) from path.

    n_classes, when given, bounds the labels; side_multiple is what both
    image sides must be a multiple of (the inpainter's mask cells)."""
    if not os.path.exists(path):
        raise DataError("dataset %s does not exist (build it with training/build_dataset.py)" % path)
    with np.load(path) as z:
        if "images" not in z or "labels" not in z:
            raise DataError("%s must hold arrays 'images' and 'labels', has %s" % (path, list(z.keys())))
        images, labels = z["images"], z["labels"]
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise DataError("%s: images must be uint8 [N,H,W,3], got %s %s" % (path, images.dtype, images.shape))
    if labels.shape != images.shape[:3] or labels.dtype != np.uint8:
        raise DataError("%s: labels must be uint8 [N,H,W] matching images, got %s %s" %
                        (path, labels.dtype, labels.shape))
    if len(images) == 0:
        raise DataError("%s holds no images" % path)
    if images.shape[1] % side_multiple or images.shape[2] % side_multiple:
        raise DataError("%s: image sides must be multiples of %d, got %s" % (path, side_multiple, images.shape[1:3]))
    if n_classes is not None and int(labels.max()) >= n_classes:
        raise DataError("%s: label %d out of range for %d classes" % (path, int(labels.max()), n_classes))
    return images, labels


def save_atomic(obj, path):
    """torch.save obj to path so that a reader never sees half a checkpoint."""
    import torch  # only the trainers need it, not a reader of datasets

    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


class TrainLog:
    """A training run's progress: the loss smoothed over steps, a row of log.csv in the run's folder every
    25 steps (step, seconds, smoothed loss, learning rate, crop; flushed, so a run cut short keeps its log;
    a resumed run appends) and a line on stdout every 200 against the budget of `minutes`."""

    def __init__(self, out, resume, minutes):
        self.minutes = minutes
        self.ema = None
        path = os.path.join(out, "log.csv")
        new = not (resume and os.path.exists(path))
        self._f = open(path, "w" if new else "a", newline="")
        self._w = csv.writer(self._f)
        if new:
            self._w.writerow(["step", "elapsed_s", "loss", "lr", "crop"])

    def step(self, step, elapsed, loss, lr, crop):
        """Record the loss of step; a loss that is not finite ends the run (SystemExit)."""
        if not math.isfinite(loss):
            raise SystemExit("loss became %r at step %d" % (loss, step))
        self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss
        if step % 25 == 0:
            self._w.writerow([step, round(elapsed, 1), round(self.ema, 5), "%.3g" % lr, crop])
            self._f.flush()
        if step % 200 == 0:
            print("step %d  %.1f/%.1f min  loss %.4f  crop %d" % (step, elapsed / 60, self.minutes, self.ema, crop),
                  flush=True)

    def close(self):
        self._f.close()
