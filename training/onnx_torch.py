"""Run a model directory's ONNX graphs in torch, with gradients.

Learning concept recipes (recipes.py) needs gradients through the generator blocks after the
paint layer and through the segmenter. The training checkpoints are not part of a shipped model,
so this reads the shipped ONNX files themselves: each graph becomes a torch module that walks its
nodes with torch ops (the same small op set tests/onnx_numpy.py interprets; anything else fails
loudly, plus MatMul, ReduceMax and Equal for the hand-built test model). Weights stay as buffers: only what is fed in gets gradients. Every graph here is fully
convolutional, so a block also runs on a crop of its input (recipes.py trains on crops).

The Go test TestRecipeTorchMatchesRuntime (inference package) checks these modules against
ONNX Runtime on the same files, from the dump `recipes.py --check-out` writes.
"""

import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

import zrule


class Unsupported(NotImplementedError):
    pass


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


_DTYPES = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
}


def _resize(x, scales, sizes, a):
    mode = a.get("mode", b"nearest")
    ctm = a.get("coordinate_transformation_mode", b"half_pixel")
    nm = a.get("nearest_mode", b"round_prefer_floor")
    if (mode, ctm, nm) != (b"nearest", b"asymmetric", b"floor"):
        raise Unsupported("Resize %s/%s/%s" % (mode, ctm, nm))
    if sizes is not None and sizes.numel():
        out = [int(v) for v in sizes.tolist()]
        sc = [o / d for o, d in zip(out, x.shape)]
    else:
        sc = [float(v) for v in scales.tolist()]
        out = [int(np.floor(d * s)) for d, s in zip(x.shape, sc)]
    if out[:2] != list(x.shape[:2]):
        raise Unsupported("Resize of batch or channel axes")
    for axis in (2, 3):
        idx = torch.clamp(torch.floor(torch.arange(out[axis], dtype=torch.float64) / sc[axis]).long(), max=x.shape[axis] - 1)
        x = x.index_select(axis, idx)
    return x


def _conv(x, w, b, a):
    if a.get("group", 1) != 1 or any(s != 1 for s in a.get("strides", [1, 1])) or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise Unsupported("Conv with groups, strides or dilations")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise Unsupported("Conv auto_pad")
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    if (pt, pl) == (pb, pr):
        return F.conv2d(x, w, b, padding=(pt, pl))
    return F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b)


class Graph(nn.Module):
    """One ONNX graph with a single input `input` and output `output`."""

    def __init__(self, path):
        super().__init__()
        m = onnx.load(path)
        g = m.graph
        init = {t.name for t in g.initializer}
        # A segmenter may carry a second output, `features` (seg_features.py, for FID); only
        # `output` is interpreted, and nodes that only feed other outputs are dropped below.
        if [i.name for i in g.input if i.name not in init] != ["input"] or "output" not in [o.name for o in g.output]:
            raise ValueError(f"{path}: graph must have one input 'input' and an output 'output'")
        self.path = path
        self._names = {}
        for i, t in enumerate(g.initializer):
            key = f"w{i}"
            self._names[t.name] = key
            self.register_buffer(key, torch.from_numpy(np.array(numpy_helper.to_array(t))))
        needed, kept = {"output"}, []
        for n in reversed(g.node):
            if any(o in needed for o in n.output):
                kept.append(n)
                needed.update(i for i in n.input if i)
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in reversed(kept)]
        for op, _, outs, _ in self.nodes:
            if len(outs) != 1:
                raise Unsupported(f"{path}: {op} with {len(outs)} outputs")

    def forward(self, x):
        env = {name: getattr(self, key) for name, key in self._names.items()}
        env["input"] = x
        for op, ins, outs, a in self.nodes:
            v = [env[n] if n else None for n in ins]
            if op == "Constant":
                out = torch.from_numpy(np.array(numpy_helper.to_array(a["value"])))
            elif op == "Identity":
                out = v[0]
            elif op == "Cast":
                out = v[0].to(_DTYPES[a["to"]])
            elif op == "Add":
                out = v[0] + v[1]
            elif op == "Sub":
                out = v[0] - v[1]
            elif op == "Mul":
                out = v[0] * v[1]
            elif op == "Div":
                out = v[0] / v[1]
            elif op == "Pow":
                out = torch.pow(v[0], v[1])
            elif op == "Sqrt":
                out = torch.sqrt(v[0])
            elif op == "Reciprocal":
                out = 1.0 / v[0]
            elif op == "ReduceMean":
                axes = a.get("axes")
                keep = bool(a.get("keepdims", 1))
                out = v[0].mean(dim=tuple(axes), keepdim=keep) if axes is not None else v[0].mean()
            elif op == "Conv":
                out = _conv(v[0], v[1], v[2] if len(v) > 2 else None, a)
            elif op == "LeakyRelu":
                out = F.leaky_relu(v[0], a.get("alpha", 0.01))
            elif op == "Relu":
                out = F.relu(v[0])
            elif op == "MatMul":
                out = torch.matmul(v[0], v[1])
            elif op == "ReduceMax":
                axes = a.get("axes")
                if axes is None:
                    raise Unsupported("ReduceMax without axes")
                out = torch.amax(v[0], dim=tuple(axes), keepdim=bool(a.get("keepdims", 1)))
            elif op == "Equal":
                out = torch.eq(v[0], v[1])
            elif op == "Reshape":
                if a.get("allowzero", 0):
                    raise Unsupported("Reshape allowzero")
                shape = [int(s) for s in v[1].tolist()]
                shape = [v[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
                out = v[0].reshape(shape)
            elif op == "Resize":
                out = _resize(v[0], v[2] if len(v) > 2 else None, v[3] if len(v) > 3 else None, a)
            elif op == "MaxPool":
                k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
                if list(k) != [2, 2] or list(s) != [2, 2] or any(a.get("pads", [0, 0, 0, 0])) or a.get("ceil_mode", 0):
                    raise Unsupported("MaxPool other than 2x2/2")
                out = F.max_pool2d(v[0], 2)
            elif op == "Concat":
                out = torch.cat(v, dim=a["axis"])
            else:
                raise Unsupported(f"{self.path}: op {op}")
            env[outs[0]] = out
        return env["output"]


class Model:
    """A model directory (docs/model-format.md): generator blocks, to_rgb and segmenter."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "manifest.json")) as f:
            self.manifest = json.load(f)
        man = self.manifest
        if man.get("format") != "ganpaint-model":
            raise ValueError(f"{model_dir}: not a ganpaint model")
        if "segmenter" not in man:
            raise ValueError(f"{model_dir}: the model has no segmenter")
        self.dir = model_dir
        self.layers = [b["name"] for b in man["generator"]["blocks"]]
        self.shapes = {b["name"]: (b["channels"], b["height"], b["width"]) for b in man["generator"]["blocks"]}
        self.blocks = [Graph(os.path.join(model_dir, b["file"])).eval() for b in man["generator"]["blocks"]]
        self.to_rgb = Graph(os.path.join(model_dir, man["generator"]["to_rgb"]["file"])).eval()
        self.seg = Graph(os.path.join(model_dir, man["segmenter"]["file"])).eval()
        self.classes = [c["name"] for c in man["segmenter"]["classes"]]
        self.image_range = man["image"]["range"]
        self.seg_range = man["segmenter"].get("input_range", [-1, 1])
        self.max_id = man["z"]["max_id"]

    def index(self, layer):
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r} (model has {', '.join(self.layers)})")
        return self.layers.index(layer)

    def z(self, ids):
        z = self.manifest["z"]
        return torch.from_numpy(zrule.z_batch([int(i) for i in ids], z["size"], z["seed"], z["max_id"]))

    def head(self, z, layer):
        """z -> activations at layer (inclusive)."""
        x = z
        for b in self.blocks[: self.index(layer) + 1]:
            x = b(x)
        return x

    def tail(self, x, layer):
        """activations at layer -> image (the blocks after it, then to_rgb)."""
        for b in self.blocks[self.index(layer) + 1:]:
            x = b(x)
        return self.to_rgb(x)

    def head_all(self, z, layers):
        """z -> (image, {layer: activations}) in one pass."""
        want = set(layers)
        out = {}
        x = z
        for name, b in zip(self.layers, self.blocks):
            x = b(x)
            if name in want:
                out[name] = x
        return self.to_rgb(x), out

    def segment_logits(self, img):
        lo, hi = self.image_range
        slo, shi = self.seg_range
        if (lo, hi) != (slo, shi):
            img = (img - lo) * ((shi - slo) / (hi - lo)) + slo
        return self.seg(img)

    def segment(self, img):
        """Labels [N, H, W] (ties go to the lower class, as the Go side)."""
        return self.segment_logits(img).argmax(dim=1)
