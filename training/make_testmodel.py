#!/usr/bin/python3
"""Build the planted test model in inference/testdata/planted/ (docs/model-format.md).

The model is tiny and every weight is chosen by hand, so Go tests (inference,
dissection, server) can assert exact behaviour without Python or the big model:

  z (8)  --layer1-->  [4, 4, 4]      linear: layer1 = reshape(z @ W1), W1 ~ N(0,1), seed 20261125
         --layer2-->  [8, 8, 8]      nearest 2x upsample U of layer1, then
                                     units 0..3: A_k * [U_k == max_j U_j]  (exactly one "concept" unit
                                                 is on per cell, at its planted level A_k)
                                     units 4..7: U_0..U_3 copied (continuous "nuisance" units)
         --layer3-->  [8, 16, 16]    nearest 2x upsample of layer2 (same units, finer grid)
         --to_rgb-->  [3, 32, 32]    1x1 conv: rgb = BG + sum_k (COLOR_{k+1} - BG) / A_k * unit_k
                                     (nuisance units have weight 0), then nearest 2x upsample
  segmenter: [3, H, W] -> [5, H, W]  logit_c = 2 <COLOR_c, p> - |COLOR_c|^2  (nearest colour wins)
  discriminator: [3, 32, 32] -> [1]  mean of all pixel values
  segmenter `features` output: [3]   the image's mean colour (the classifier's input, averaged)
  inpainter: [4, 32, 32] -> [3, 32, 32]  RGB with the hole (4th channel = 1) set to 0, mid grey

Consequences the tests rely on: each layer2 cell paints one 4x4 pixel block in the colour of its
active concept unit; removing unit k turns exactly its blocks to the background colour BG; adding
unit k at level A_k where it is already on changes nothing; the segmenter labels a pure colour with
its class exactly. Classes: 0 background, 1 sky, 2 tree, 3 door, 4 grass; unit k <-> class k+1.

Uses only numpy and onnx (Debian python3-onnx); writes the files deterministically.
Usage: /usr/bin/python3 training/make_testmodel.py [OUT_DIR]
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
Z_SIZE = 8
SEED = 20261125
LEVELS = np.array([1.0, 1.5, 2.0, 2.5], dtype=np.float32)  # A_k of concept units 0..3
CLASSES = [
    ("background", "#808080"),
    ("sky", "#87ceeb"),
    ("tree", "#228b22"),
    ("door", "#8b4513"),
    ("grass", "#7cfc00"),
]


def color_value(hex_color):
    """#rrggbb -> float32[3] in the image range [-1, 1]."""
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return np.array([c / 255.0 * 2.0 - 1.0 for c in rgb], dtype=np.float32)


COLORS = np.stack([color_value(c) for _, c in CLASSES])  # [5, 3]
BG = COLORS[0]


def tensor(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def io(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["B"] + list(dims))


def save(path, nodes, inits, in_dims, out_dims, graph_name):
    graph = helper.make_graph(nodes, graph_name, [io("input", in_dims)], [io("output", out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ganpaint-go make_testmodel.py")
    model.ir_version = 7  # readable by any ONNX Runtime >= 1.8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def upsample2(inp, out, scales_name):
    return helper.make_node("Resize", [inp, "", scales_name], [out], mode="nearest",
                            coordinate_transformation_mode="asymmetric", nearest_mode="floor")


SCALES = np.array([1, 1, 2, 2], dtype=np.float32)


def build(out_dir):
    rng = np.random.RandomState(SEED)
    w1 = rng.standard_normal((Z_SIZE, 64)).astype(np.float32)

    save(os.path.join(out_dir, "generator/layer1.onnx"),
         [helper.make_node("MatMul", ["input", "w1"], ["flat"]),
          helper.make_node("Reshape", ["flat", "shape"], ["output"])],
         [tensor("w1", w1), tensor("shape", np.array([-1, 4, 4, 4], dtype=np.int64))],
         [Z_SIZE], [4, 4, 4], "planted_layer1")

    save(os.path.join(out_dir, "generator/layer2.onnx"),
         [upsample2("input", "up", "scales"),
          helper.make_node("ReduceMax", ["up"], ["mx"], axes=[1], keepdims=1),
          helper.make_node("Equal", ["up", "mx"], ["win"]),
          helper.make_node("Cast", ["win"], ["winf"], to=TensorProto.FLOAT),
          helper.make_node("Mul", ["winf", "levels"], ["concepts"]),
          helper.make_node("Concat", ["concepts", "up"], ["output"], axis=1)],
         [tensor("scales", SCALES), tensor("levels", LEVELS.reshape(1, 4, 1, 1))],
         [4, 4, 4], [8, 8, 8], "planted_layer2")

    save(os.path.join(out_dir, "generator/layer3.onnx"),
         [upsample2("input", "output", "scales")],
         [tensor("scales", SCALES)],
         [8, 8, 8], [8, 16, 16], "planted_layer3")

    w_rgb = np.zeros((3, 8, 1, 1), dtype=np.float32)
    for k in range(4):
        w_rgb[:, k, 0, 0] = (COLORS[k + 1] - BG) / LEVELS[k]
    save(os.path.join(out_dir, "generator/to_rgb.onnx"),
         [helper.make_node("Conv", ["input", "w", "b"], ["rgb"], kernel_shape=[1, 1]),
          upsample2("rgb", "output", "scales")],
         [tensor("w", w_rgb), tensor("b", BG), tensor("scales", SCALES)],
         [8, 16, 16], [3, 32, 32], "planted_to_rgb")

    w_seg = (2.0 * COLORS).reshape(len(CLASSES), 3, 1, 1).astype(np.float32)
    b_seg = -(COLORS ** 2).sum(axis=1).astype(np.float32)
    save(os.path.join(out_dir, "segmenter.onnx"),
         [helper.make_node("Conv", ["input", "w", "b"], ["output"], kernel_shape=[1, 1])],
         [tensor("w", w_seg), tensor("b", b_seg)],
         [3, "H", "W"], [len(CLASSES), "H", "W"], "planted_segmenter")
    # `features`: the classifier's input (here the image itself) averaged: the mean colour.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from seg_features import add_features_output
    add_features_output(os.path.join(out_dir, "segmenter.onnx"))

    # Learned-inpainter stand-in: keeps the known pixels and paints the hole 0 (mid grey).
    save(os.path.join(out_dir, "inpainter.onnx"),
         [helper.make_node("Slice", ["input", "c0", "c3", "axis1"], ["rgb"]),
          helper.make_node("Slice", ["input", "c3", "c4", "axis1"], ["hole"]),
          helper.make_node("Sub", ["one", "hole"], ["keep"]),
          helper.make_node("Mul", ["rgb", "keep"], ["output"])],
         [tensor("c0", np.array([0], dtype=np.int64)), tensor("c3", np.array([3], dtype=np.int64)),
          tensor("c4", np.array([4], dtype=np.int64)), tensor("axis1", np.array([1], dtype=np.int64)),
          tensor("one", np.array(1, dtype=np.float32))],
         [4, 32, 32], [3, 32, 32], "planted_inpainter")

    save(os.path.join(out_dir, "discriminator.onnx"),
         [helper.make_node("ReduceMean", ["input"], ["per_channel"], axes=[2, 3], keepdims=0),
          helper.make_node("ReduceMean", ["per_channel"], ["output"], axes=[1], keepdims=1)],
         [], [3, 32, 32], [1], "planted_discriminator")

    manifest = {
        "format": "ganpaint-model",
        "version": 1,
        "name": "planted",
        "title": "Planted test model (hand-set weights; see README.md)",
        "z": {"size": Z_SIZE, "rule": "splitmix64-boxmuller-v1", "seed": 0, "max_id": 100000},
        "image": {"height": 32, "width": 32, "range": [-1, 1]},
        "generator": {
            "blocks": [
                {"name": "layer1", "file": "generator/layer1.onnx", "channels": 4, "height": 4, "width": 4},
                {"name": "layer2", "file": "generator/layer2.onnx", "channels": 8, "height": 8, "width": 8},
                {"name": "layer3", "file": "generator/layer3.onnx", "channels": 8, "height": 16, "width": 16},
            ],
            "to_rgb": {"file": "generator/to_rgb.onnx"},
        },
        "default_layer": "layer2",
        "sample_ids": list(range(16)),
        "segmenter": {
            "file": "segmenter.onnx",
            "input_range": [-1, 1],
            "classes": [{"name": n, "color": c} for n, c in CLASSES],
        },
        "discriminator": {"file": "discriminator.onnx"},
        "inpainter": {"file": "inpainter.onnx"},
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def reference_forward(z):
    """numpy forward pass of the planted generator: (layer2 [B,8,8,8], image [B,3,32,32])."""
    rng = np.random.RandomState(SEED)
    w1 = rng.standard_normal((Z_SIZE, 64)).astype(np.float32)
    l1 = (z @ w1).reshape(-1, 4, 4, 4)
    up = l1.repeat(2, axis=2).repeat(2, axis=3)
    win = (up == up.max(axis=1, keepdims=True)).astype(np.float32)
    l2 = np.concatenate([win * LEVELS.reshape(1, 4, 1, 1), up], axis=1)
    l3 = l2.repeat(2, axis=2).repeat(2, axis=3)
    rgb = BG.reshape(1, 3, 1, 1) + np.einsum("ck,bkhw->bchw", (COLORS[1:] - BG).T / LEVELS, l3[:, :4])
    return l2, rgb.repeat(2, axis=2).repeat(2, axis=3)


def self_check(out_dir):
    """Runs the exported graphs with onnx's reference evaluator when available."""
    try:
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        print("onnx.reference unavailable; skipped self-check")
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from zrule import z_batch
    z = z_batch([0, 1, 2, 3], size=Z_SIZE)
    x = z
    for name in ("layer1", "layer2", "layer3", "to_rgb"):
        x = ReferenceEvaluator(os.path.join(out_dir, "generator", name + ".onnx")).run(None, {"input": x})[0]
        if name == "layer2":
            l2 = x
    ref_l2, ref_img = reference_forward(z)
    assert np.array_equal(l2, ref_l2), "layer2 mismatch"
    err = float(np.abs(x - ref_img).max())
    assert err < 1e-5, f"image mismatch {err}"
    seg = ReferenceEvaluator(os.path.join(out_dir, "segmenter.onnx")).run(None, {"input": x})[0]
    labels = seg.argmax(axis=1)
    want = np.where(ref_l2[:, :4].max(axis=1) > 0, ref_l2[:, :4].argmax(axis=1) + 1, 0)
    assert np.array_equal(labels, want.repeat(4, axis=1).repeat(4, axis=2)), "segmenter mismatch"
    print("self-check ok; image max |err| =", err)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "inference", "testdata", "planted")
    build(out)
    self_check(out)
    print("wrote", os.path.normpath(out))
