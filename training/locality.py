"""Spatial locality of generator blocks, for the engine's region-limited repaint.

    /usr/bin/python3 training/locality.py MODEL_DIR [--dry-run]

A stroke changes a few cells of the painted layer; every later block of a ProGAN-style generator
is local (pixel norm, nearest upsampling, same-padded convolutions, 1x1 to-RGB), so only a
neighbourhood of those cells can change. The engine recomputes just that neighbourhood when each
block declares, in manifest.json, its `scale` and `halo` (docs/model-format.md):

    output pixel (y, x) depends only on the input rows floor((y - halo) / scale) ...
    floor((y + halo) / scale) and the columns likewise.

This module derives (scale, halo) from a block's ONNX graph, by composing per-op rules over the
graph, and rewrites the file so its spatial dimensions are dynamic (the engine runs blocks on
crops). Only the declared shapes of the graph's input and output change: initializers and nodes
are kept as they are, and `declare_model` checks that every weight is bit-identical afterwards.
An op it does not know makes the block undeclared (the engine then runs the full tail), never a
guess.

Run on a model folder it upgrades an existing export in place (blocks after the first, and
to_rgb); export.py and import_proggan.py call the same functions for new exports.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

# Ops that act on each pixel independently (or broadcast a non-spatial constant).
POINTWISE = {
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Exp", "Log", "Tanh",
    "Sigmoid", "Relu", "LeakyRelu", "PRelu", "Clip", "Cast", "Identity", "Equal", "Less",
    "Greater", "Where", "Max", "Min", "Erf", "Softplus",
}
# Reductions that are local when they reduce over the channel axis only.
CHANNEL_REDUCE = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceL2"}


class NotLocal(ValueError):
    """The graph has an op (or attribute) whose spatial footprint this module does not derive."""


def _attrs(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _compose(first, then):
    """(scale, halo) of `then` applied after `first`: floor((floor((y-hb)/sb) - ha)/sa)
    = floor((y - hb - sb*ha) / (sa*sb)), so scale multiplies and the first halo is scaled up."""
    sa, ha = first
    sb, hb = then
    return sa * sb, hb + sb * ha


def _merge(a, b, what):
    if a[0] != b[0]:
        raise NotLocal(f"{what}: inputs at different scales {a[0]} and {b[0]}")
    return a[0], max(a[1], b[1])


def block_locality(model):
    """(scale, halo) of a one-input block graph [B, C, H, W] -> [B, C', s*H, s*W]."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    spatial = {g.input[0].name: (1, 0)}  # tensor -> (scale, halo) relative to the graph input
    for node in g.node:
        a = _attrs(node)
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(a["value"])
            continue
        ins = [i for i in node.input if i]
        sp = [spatial[i] for i in ins if i in spatial]
        for i in ins:
            if i not in spatial and i not in consts:
                raise NotLocal(f"{node.op_type} {node.name}: input {i} is neither the block input nor a constant")
        if not sp:
            if node.op_type == "Cast" and ins[0] in consts:
                consts[node.output[0]] = consts[ins[0]]  # fp16 weights cast back to float32
                continue
            raise NotLocal(f"{node.op_type} {node.name}: computes a constant this module does not fold")
        op = node.op_type
        if op in POINTWISE:
            for i in ins:
                if i in consts and consts[i].ndim >= 3 and any(d > 1 for d in consts[i].shape[-2:]):
                    raise NotLocal(f"{op} {node.name}: adds a spatial map {consts[i].shape} (position-dependent)")
            out = sp[0]
            for s in sp[1:]:
                out = _merge(out, s, op)
        elif op in CHANNEL_REDUCE:
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = consts[ins[1]].tolist()
            if axes is None or sorted(int(x) for x in axes) != [1]:
                raise NotLocal(f"{op} {node.name}: reduces over axes {axes}, only the channel axis is local")
            out = sp[0]
        elif op == "Concat":
            if a.get("axis") != 1:
                raise NotLocal(f"Concat {node.name}: axis {a.get('axis')}, only channels are local")
            out = sp[0]
            for s in sp[1:]:
                out = _merge(out, s, op)
        elif op == "Conv":
            w = consts.get(node.input[1])
            if w is None or w.ndim != 4:
                raise NotLocal(f"Conv {node.name}: weight is not a constant 4-D tensor")
            kh, kw = w.shape[2], w.shape[3]
            if any(s != 1 for s in a.get("strides", [1, 1])):
                raise NotLocal(f"Conv {node.name}: strides {a.get('strides')}")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise NotLocal(f"Conv {node.name}: auto_pad")
            dh, dw = a.get("dilations", [1, 1])
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            rh, rw = (kh - 1) * dh, (kw - 1) * dw
            if rh % 2 or rw % 2 or (pt, pb) != (rh // 2, rh // 2) or (pl, pr) != (rw // 2, rw // 2):
                raise NotLocal(f"Conv {node.name}: kernel {kh}x{kw} with pads {a.get('pads')} does not keep the size")
            out = _compose(sp[0], (1, max(rh, rw) // 2))
        elif op == "Resize":
            if a.get("mode", b"nearest") not in (b"nearest", "nearest"):
                raise NotLocal(f"Resize {node.name}: mode {a.get('mode')}, only nearest is understood")
            if a.get("coordinate_transformation_mode") not in (b"asymmetric", "asymmetric"):
                raise NotLocal(f"Resize {node.name}: coordinate mode {a.get('coordinate_transformation_mode')}")
            if a.get("nearest_mode", b"round_prefer_floor") not in (b"floor", "floor"):
                raise NotLocal(f"Resize {node.name}: nearest_mode {a.get('nearest_mode')}")
            if len(node.input) < 3 or node.input[2] not in consts or (len(node.input) > 3 and node.input[3]):
                raise NotLocal(f"Resize {node.name}: needs constant scales (not sizes)")
            sc = consts[node.input[2]].astype(np.float64).tolist()
            if len(sc) != 4 or sc[0] != 1 or sc[1] != 1 or sc[2] != sc[3] or sc[2] != int(sc[2]) or sc[2] < 1:
                raise NotLocal(f"Resize {node.name}: scales {sc}, need [1, 1, s, s] with integer s")
            out = _compose(sp[0], (int(sc[2]), 0))
        else:
            raise NotLocal(f"{op} {node.name}: op not understood")
        for o in node.output:
            spatial[o] = out
    res = spatial.get(g.output[0].name)
    if res is None:
        raise NotLocal("the output does not depend on the input")
    return res


def make_spatial_dynamic(model):
    """Free the input's and output's height and width (batch stays as it is) and drop the
    intermediate shape annotations, which may pin them. Returns the model (changed in place)."""
    for vi, names in ((model.graph.input[0], ("height", "width")), (model.graph.output[0], ("out_height", "out_width"))):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise NotLocal(f"{vi.name} has rank {len(dims)}, want [batch, channels, height, width]")
        for d, name in zip(dims[2:], names):
            d.Clear()
            d.dim_param = name
    del model.graph.value_info[:]
    return model


def declare_block(path):
    """Derive (scale, halo) of the block file at path and rewrite it with dynamic spatial dims.
    Returns {"scale": s, "halo": h}; raises NotLocal (file untouched) when it cannot."""
    import onnx

    m = onnx.load(path)
    scale, halo = block_locality(m)
    before = {t.name: t.SerializeToString() for t in m.graph.initializer}
    make_spatial_dynamic(m)
    onnx.checker.check_model(m)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".onnx")
    os.close(fd)
    try:
        onnx.save(m, tmp)
        after = {t.name: t.SerializeToString() for t in onnx.load(tmp).graph.initializer}
        if after != before:
            raise AssertionError(f"{path}: weights changed while freeing the spatial dims")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"scale": int(scale), "halo": int(halo)}


def declare_model(model_dir, dry_run=False, log=print):
    """Declare every block after the first, and to_rgb, in model_dir's manifest. Blocks that are
    not local stay undeclared. Returns the updated manifest dict."""
    import onnx

    path = os.path.join(model_dir, "manifest.json")
    with open(path) as f:
        man = json.load(f)
    entries = man["generator"]["blocks"][1:] + [man["generator"]["to_rgb"]]
    names = [b["name"] for b in man["generator"]["blocks"][1:]] + ["to_rgb"]
    for entry, name in zip(entries, names):
        file = os.path.join(model_dir, entry["file"])
        try:
            if dry_run:
                s, h = block_locality(onnx.load(file))
                loc = {"scale": int(s), "halo": int(h)}
            else:
                loc = declare_block(file)
        except NotLocal as e:
            log(f"{name}: not declared ({e})")
            entry.pop("scale", None)
            entry.pop("halo", None)
            continue
        entry.update(loc)
        log(f"{name}: scale {loc['scale']}, halo {loc['halo']}")
    if not dry_run:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(man, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    return man


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir")
    p.add_argument("--dry-run", action="store_true", help="print what would be declared, change nothing")
    args = p.parse_args(argv)
    declare_model(args.model_dir, dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
