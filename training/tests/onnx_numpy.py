"""A tiny numpy interpreter for the ONNX graphs our exporters write.

ONNX Runtime for Python is not installable here (no PyPI), and onnx 1.12 has no reference
evaluator, so the tests run exported graphs through this instead: it implements exactly the ops
and attribute combinations our generator/segmenter exports use, with ONNX semantics written out
independently of torch, and refuses anything else loudly (an unsupported attribute must fail the
test, not be silently ignored).  The Go side checks the same files with ONNX Runtime.
"""

import numpy as np
import onnx
from onnx import numpy_helper

_ONNX_TO_NP = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
}


class Unsupported(NotImplementedError):
    pass


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, attrs):
    if attrs.get("group", 1) != 1:
        raise Unsupported("Conv group != 1")
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise Unsupported("Conv auto_pad")
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    B, C, H, W = x.shape
    O, Ci, KH, KW = w.shape
    if Ci != C:
        raise ValueError("Conv channel mismatch %d vs %d" % (Ci, C))
    # Output (oy, ox) reads input rows oy*sh + i*dh and columns ox*sw + j*dw.
    OH, OW = (H - dh * (KH - 1) - 1) // sh + 1, (W - dw * (KW - 1) - 1) // sw + 1
    out = np.zeros((B, O, OH, OW))
    w = w.astype(np.float64)
    for i in range(KH):
        for j in range(KW):
            patch = x[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]
            out += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
    if b is not None:
        out += b.astype(np.float64).reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def _resize(x, roi, scales, sizes, attrs):
    mode = attrs.get("mode", b"nearest")
    ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
    nm = attrs.get("nearest_mode", b"round_prefer_floor")
    if (mode, ctm, nm) != (b"nearest", b"asymmetric", b"floor"):
        raise Unsupported("Resize %s/%s/%s" % (mode, ctm, nm))
    if sizes is not None and sizes.size:
        out_shape = [int(v) for v in sizes]
        scales = np.array(out_shape, np.float64) / np.array(x.shape, np.float64)
    else:
        out_shape = [int(np.floor(d * s)) for d, s in zip(x.shape, scales)]
    idx = []
    for axis, (n_out, s) in enumerate(zip(out_shape, scales)):
        src = np.floor(np.arange(n_out) / s).astype(np.int64)
        idx.append(np.minimum(src, x.shape[axis] - 1))
    return x[np.ix_(*idx)]


def _maxpool(x, attrs):
    k = attrs["kernel_shape"]
    s = attrs.get("strides", k)
    if list(k) != [2, 2] or list(s) != [2, 2] or any(attrs.get("pads", [0, 0, 0, 0])) or attrs.get("ceil_mode", 0):
        raise Unsupported("MaxPool other than 2x2/2")
    B, C, H, W = x.shape
    return x[:, :, :H // 2 * 2, :W // 2 * 2].reshape(B, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def run(path_or_model, x):
    """Evaluate the graph on `x` (the single input `input`); returns `output`."""
    return run_outputs(path_or_model, x)["output"]


def run_outputs(path_or_model, x):
    """Evaluate the graph on `x`; returns every graph output by name. The first output must be
    `output`; a segmenter may also have `features` (training/seg_features.py)."""
    m = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
    g = m.graph
    if [i.name for i in g.input if i.name not in {t.name for t in g.initializer}] != ["input"]:
        raise ValueError("graph inputs must be exactly ['input']")
    names = [o.name for o in g.output]
    if names not in (["output"], ["output", "features"]):
        raise ValueError("graph outputs must be ['output'] or ['output', 'features'], got %s" % names)
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    env["input"] = np.asarray(x, np.float32)
    for node in g.node:
        a = _attrs(node)
        ins = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Constant":
            out = numpy_helper.to_array(a["value"])
        elif op == "Identity":
            out = ins[0]
        elif op == "Cast":
            out = ins[0].astype(_ONNX_TO_NP[a["to"]])
        elif op in ("Add", "Mul", "Div", "Sub"):
            f = {"Add": np.add, "Mul": np.multiply, "Div": np.divide, "Sub": np.subtract}[op]
            out = f(ins[0], ins[1]).astype(np.result_type(ins[0], ins[1]))
        elif op == "Pow":
            out = np.power(ins[0], ins[1]).astype(ins[0].dtype)
        elif op == "Sqrt":
            out = np.sqrt(ins[0])
        elif op == "Reciprocal":
            out = (1.0 / ins[0]).astype(ins[0].dtype)
        elif op == "ReduceMean":
            axes = tuple(a["axes"]) if "axes" in a else None
            out = ins[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(ins[0].dtype)
        elif op == "Conv":
            out = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "LeakyRelu":
            alpha = a.get("alpha", 0.01)
            out = np.where(ins[0] >= 0, ins[0], ins[0] * np.float32(alpha)).astype(ins[0].dtype)
        elif op == "Relu":
            out = np.maximum(ins[0], 0)
        elif op == "Reshape":
            if a.get("allowzero", 0):
                raise Unsupported("Reshape allowzero")
            shape = [int(v) for v in ins[1]]
            shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            out = ins[0].reshape(shape)
        elif op == "Resize":
            out = _resize(ins[0], ins[1], ins[2] if len(ins) > 2 else None, ins[3] if len(ins) > 3 else None, a)
        elif op == "MaxPool":
            out = _maxpool(ins[0], a)
        elif op == "Concat":
            out = np.concatenate(ins, axis=a["axis"])
        elif op == "Slice":
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
            idx = [slice(None)] * ins[0].ndim
            for s0, e0, ax, st in zip(starts, ends, axes, steps):
                if st != 1:
                    raise Unsupported("Slice with step %d" % st)
                idx[int(ax)] = slice(int(s0), int(min(e0, np.iinfo(np.int64).max)))
            out = ins[0][tuple(idx)]
        elif op == "Sigmoid":
            out = (1.0 / (1.0 + np.exp(-ins[0]))).astype(ins[0].dtype)
        elif op == "Tanh":
            out = np.tanh(ins[0])
        elif op == "Elu":
            alpha = np.float32(a.get("alpha", 1.0))
            out = np.where(ins[0] > 0, ins[0], alpha * (np.exp(np.minimum(ins[0], 0)) - 1)).astype(ins[0].dtype)
        else:
            raise Unsupported("op %s" % op)
        if len(node.output) != 1:
            raise Unsupported("%s with %d outputs" % (op, len(node.output)))
        env[node.output[0]] = out
    return {n: env[n] for n in names}
