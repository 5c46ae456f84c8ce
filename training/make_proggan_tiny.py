"""Regenerate inference/testdata/proggan_tiny/: a random reference-layout ProGAN at 32 px,
converted by import_proggan.py, plus expected.json with the torch outputs for ids 0 and 1.

    /usr/bin/python3 training/make_proggan_tiny.py [--out inference/testdata/proggan_tiny]

The Go engine loads the directory with ONNX Runtime and compares its image with expected.json,
which checks the whole import path (reference layout -> ONNX blocks -> Go) end to end.
"""

import argparse
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import import_proggan  # noqa: E402

# z 24 (not a power of two) so a Go loader that assumes 512 or 128 fails loudly;
# 8 layers: 4, 8, 16, 32 px with shrinking widths like the reference.
TINY_SIZES = [24, 32, 32, 16, 8]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "inference", "testdata", "proggan_tiny")))
    args = p.parse_args(argv)
    model = import_proggan.random_reference(TINY_SIZES, seed=1234)
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "proggan_tiny.pth")
        torch.save(model.state_dict(), pth)
        rc = import_proggan.main(["--pth", pth, "--out", args.out, "--name", "proggan_tiny",
                                  "--title", "Random reference-layout ProGAN (test)",
                                  "--expected", os.path.join(args.out, "expected.json")])
    return rc


if __name__ == "__main__":
    sys.exit(main())
