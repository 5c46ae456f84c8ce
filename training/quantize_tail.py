"""Write an int8 variant of a model folder's generator blocks (static quantisation, calibrated),
to measure whether reduced precision is worth having (issue 15, item 3; docs/performance.md).

    /usr/bin/python3 training/quantize_tail.py --model assets/models/scenes128 --out /tmp/scenes128-int8 \
        [--from-layer layer2] [--calib-ids 64]

With --scheme qdq (the default) every convolution of every block from --from-layer on (and to_rgb
unless --keep-to-rgb) gets the ONNX QDQ form ONNX Runtime fuses into QLinearConv: its input and
output pass through QuantizeLinear/DequantizeLinear (uint8, asymmetric, range = min/max over the
calibration images, or the --clip-percentile percentiles), its weights are int8 per output channel
(symmetric) and its bias int32 at the input scale times the weight scale. --scheme convinteger
quantises only the input (ConvInteger, float32 output); --scheme fp16 runs the convolutions in half
precision. Everything else (pixel norm, upsampling, LeakyReLU) stays float32, and every op stays
per pixel, so the blocks keep their declared scale/halo (the engine re-checks them at load). The result is a complete model folder (the rest
is copied), so `ganpaint bench --model OUT` times it and `ganpaint render --model OUT` draws it.
Calibration images are ids 1000000 - N ... (never among the sample ids the comparison uses).
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zrule  # noqa: E402


def clip_range(t, pct, sample=1 << 20):
    """(lo, hi): the pct and 100-pct percentiles of t (min/max when pct is 0), on a fixed sample."""
    v = t.detach().reshape(-1).numpy()
    if pct <= 0:
        return float(v.min()), float(v.max())
    if v.size > sample:
        v = v[np.random.default_rng(0).choice(v.size, sample, replace=False)]
    lo, hi = np.percentile(v, [pct, 100 - pct])
    return float(lo), float(hi)


def conv_ranges(files, z, split, pct=0.0):
    """min/max of every Conv input and output, per block file, over the batch z (torch eager)."""
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper

    ranges = {}
    x = torch.from_numpy(z)
    for i, path in enumerate(files):
        m = onnx.load(path)
        g = m.graph
        env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
        env[g.input[0].name] = x
        for node in g.node:
            a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
            ins = [env[n] if n else None for n in node.input]
            op = node.op_type
            if op == "Constant":
                y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            elif op == "Cast":
                y = ins[0].float()
            elif op in ("Mul", "Add", "Div", "Sub"):
                y = {"Mul": torch.mul, "Add": torch.add, "Div": torch.div, "Sub": torch.sub}[op](ins[0], ins[1])
            elif op == "Sqrt":
                y = torch.sqrt(ins[0])
            elif op == "ReduceMean":
                y = torch.mean(ins[0], dim=list(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
            elif op == "Reshape":
                y = ins[0].reshape([ins[0].shape[j] if v == 0 else int(v) for j, v in enumerate(ins[1].tolist())])
            elif op == "Resize":
                y = F.interpolate(ins[0], scale_factor=float(ins[2][2]), mode="nearest")
            elif op == "Conv":
                pt, pl, _, _ = a.get("pads", [0, 0, 0, 0])
                y = F.conv2d(ins[0], ins[1].float(), ins[2].float() if len(ins) > 2 else None, padding=(pt, pl))
                if i > split:
                    ranges[(path, node.output[0])] = clip_range(ins[0], pct) + clip_range(y, pct)
            elif op == "LeakyRelu":
                y = F.leaky_relu(ins[0], float(a.get("alpha", 0.01)))
            else:
                raise ValueError(f"{path}: op {op}")
            env[node.output[0]] = y
        x = env[g.output[0].name]
    return ranges


def uint8_qparams(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def quantize_file(path, ranges, scheme="qdq"):
    import onnx
    from onnx import helper, numpy_helper, TensorProto

    m = onnx.load(path)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes, new_inits = [], []
    for node in g.node:
        key = (path, node.output[0])
        if node.op_type != "Conv" or key not in ranges:
            new_nodes.append(node)
            continue
        xlo, xhi, ylo, yhi = ranges[key]
        sx, zx = uint8_qparams(xlo, xhi)
        sy, zy = uint8_qparams(ylo, yhi)
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32) if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
        sw = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-8) / 127.0
        wq = np.clip(np.round(w / sw.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
        bq = np.round(b / (sx * sw)).astype(np.int32)
        p = node.output[0] + "_q_"
        new_inits += [
            numpy_helper.from_array(np.array(sx, np.float32), p + "sx"), numpy_helper.from_array(np.array(zx, np.uint8), p + "zx"),
            numpy_helper.from_array(np.array(sy, np.float32), p + "sy"), numpy_helper.from_array(np.array(zy, np.uint8), p + "zy"),
            numpy_helper.from_array(wq, p + "w"), numpy_helper.from_array(sw.astype(np.float32), p + "sw"),
            numpy_helper.from_array(np.zeros(w.shape[0], np.int8), p + "zw"),
            numpy_helper.from_array(bq, p + "b"), numpy_helper.from_array((sx * sw).astype(np.float32), p + "sb"),
            numpy_helper.from_array(np.zeros(w.shape[0], np.int32), p + "zb"),
        ]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if scheme == "fp16":
            # Half-precision input, weights and bias; the output is cast back to float32.
            new_inits += [numpy_helper.from_array(w.astype(np.float16), p + "w16"),
                          numpy_helper.from_array(b.astype(np.float16), p + "b16")]
            new_nodes += [
                helper.make_node("Cast", [node.input[0]], [p + "x16"], to=TensorProto.FLOAT16),
                helper.make_node("Conv", [p + "x16", p + "w16", p + "b16"], [p + "y16"], **attrs),
                helper.make_node("Cast", [p + "y16"], [node.output[0]], to=TensorProto.FLOAT),
            ]
            continue
        if scheme == "convinteger":
            # Input quantised with its calibrated (static) scale, int32 accumulation, and the
            # result rescaled in float32: no requantisation of the output.
            new_inits += [numpy_helper.from_array(np.array(0, np.int8), p + "zw0"),
                          numpy_helper.from_array((sx * sw).reshape(1, -1, 1, 1).astype(np.float32), p + "sxw"),
                          numpy_helper.from_array(b.reshape(1, -1, 1, 1), p + "bf")]
            new_nodes += [
                helper.make_node("QuantizeLinear", [node.input[0], p + "sx", p + "zx"], [p + "xq"]),
                helper.make_node("ConvInteger", [p + "xq", p + "w", p + "zx", p + "zw0"], [p + "acc"], **attrs),
                helper.make_node("Cast", [p + "acc"], [p + "accf"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [p + "accf", p + "sxw"], [p + "ys"]),
                helper.make_node("Add", [p + "ys", p + "bf"], [node.output[0]]),
            ]
            continue
        new_nodes += [
            helper.make_node("QuantizeLinear", [node.input[0], p + "sx", p + "zx"], [p + "xq"]),
            helper.make_node("DequantizeLinear", [p + "xq", p + "sx", p + "zx"], [p + "xdq"]),
            helper.make_node("DequantizeLinear", [p + "w", p + "sw", p + "zw"], [p + "wdq"], axis=0),
            helper.make_node("DequantizeLinear", [p + "b", p + "sb", p + "zb"], [p + "bdq"], axis=0),
            helper.make_node("Conv", [p + "xdq", p + "wdq", p + "bdq"], [p + "y"], **attrs),
            helper.make_node("QuantizeLinear", [p + "y", p + "sy", p + "zy"], [p + "yq"]),
            helper.make_node("DequantizeLinear", [p + "yq", p + "sy", p + "zy"], [node.output[0]]),
        ]
    used = {i for n in new_nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--from-layer", default="layer2", help="first block to quantise (blocks before it stay fp32)")
    p.add_argument("--calib-ids", type=int, default=64)
    p.add_argument("--clip-percentile", type=float, default=0.0,
                   help="calibrate each range to the [p, 100-p] percentiles instead of min/max")
    p.add_argument("--keep-to-rgb", action="store_true", help="leave to_rgb in float32 (its output is the image)")
    p.add_argument("--scheme", choices=["qdq", "convinteger", "fp16"], default="qdq",
                   help="qdq: QLinearConv (uint8 activations in and out, int8 weights); convinteger: uint8 in, "
                        "int32 accumulation, float32 out; fp16: convolutions in half precision")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    shutil.copytree(args.model, args.out)
    with open(os.path.join(args.out, "manifest.json")) as f:
        man = json.load(f)
    names = [b["name"] for b in man["generator"]["blocks"]]
    split = names.index(args.from_layer) - 1
    files = [os.path.join(args.out, b["file"]) for b in man["generator"]["blocks"]] + [
        os.path.join(args.out, man["generator"]["to_rgb"]["file"])]
    ids = list(range(man["z"]["max_id"] - args.calib_ids, man["z"]["max_id"]))
    z = zrule.z_batch(ids, man["z"]["size"], man["z"]["seed"])
    ranges = conv_ranges(files, z, split, args.clip_percentile)
    todo = files[split + 1:-1] if args.keep_to_rgb else files[split + 1:]
    for f in todo:
        quantize_file(f, ranges, args.scheme)
    print(f"quantised the convolutions of {len(todo)} blocks from {args.from_layer}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
