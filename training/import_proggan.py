"""Convert a gandissect ProGAN generator state dict (.pth) into a GANPaint-Go model directory.

    /usr/bin/python3 training/import_proggan.py --pth churchoutdoor_lsun.pth --out assets/models/church \
        [--name church] [--title "..."] [--fp16] [--seg training/ckpt/seg/latest.pt]

The reference ("Progressive GAN" as packaged by GAN Dissection) stores, for N generator layers:

    layerK.conv.weight   [C_K, C_{K-1}, k, k]   k = 4 for layer1 (applied to z as a 1x1 map,
                                                 padding 3), 3 otherwise; no conv bias
    layerK.wscale.b      [C_K]                   bias added after the He-constant scaling
    layerK.wscale.scale  (older files only)      the scaling constant itself
    output_RxR.conv.weight [3, C_N, 1, 1], output_RxR.wscale.b [3]

(optionally wrapped in {"state_dict": ...}, or in the older "features.I…/output…" naming).
Every block is pixel norm -> (nearest 2x upsample on odd layers from layer3) -> conv ->
x*scale + b -> LeakyReLU(0.2), scale = sqrt(2)/k/sqrt(C_in) (1/sqrt(C_in) for the output).
The network shape is read from the weights alone: z size = layer1's input channels, and the
resolution doubles every two layers from 4x4.

This module re-implements that architecture (ReferenceProGAN) so the conversion can be tested
on randomly initialised weights, then exports one ONNX file per layer plus to_rgb with the
scaling folded into the conv weights (docs/model-format.md).
"""

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

Z_RULE = "splitmix64-boxmuller-v1"
LRELU_SLOPE = 0.2


class CheckpointError(ValueError):
    """The state dict does not describe a ProGAN generator of the reference layout."""


def z_for_ids(ids, size, seed=0):
    """[len(ids), size] float32 latents for image ids (the shared rule of training/zrule.py)."""
    from zrule import z_batch

    return np.asarray(z_batch(list(ids), size=size, seed=seed), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Architecture (own implementation of the reference layout).

class _WScale(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(channels))
        self.scale = float(scale)

    def forward(self, x):
        return x * self.scale + self.b.view(1, -1, 1, 1)


def _pixel_norm(x):
    return x / torch.sqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class _RefBlock(nn.Module):
    def __init__(self, cin, cout, k, pad, upsample, gain, act=True):
        super().__init__()
        self.upsample = upsample
        self.pad = pad
        self.act = act
        self.conv = nn.Conv2d(cin, cout, k, 1, pad, bias=False)
        self.wscale = _WScale(cout, gain / math.sqrt(cin))

    def forward(self, x):
        x = _pixel_norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.wscale(self.conv(x))
        return F.leaky_relu(x, LRELU_SLOPE) if self.act else x

    def baked(self):
        """Plain module with the scale folded into the weights, for export."""
        return _BakedBlock(self.conv.weight * self.wscale.scale, self.wscale.b, self.pad,
                           self.upsample, self.act)


class _BakedBlock(nn.Module):
    def __init__(self, weight, bias, pad, upsample, act, from_vector=False):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.pad = pad
        self.upsample = upsample
        self.act = act
        self.from_vector = from_vector

    def forward(self, x):
        if self.from_vector:
            x = x.reshape(-1, self.weight.shape[1], 1, 1)
        x = _pixel_norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.conv2d(x, self.weight, self.bias, padding=self.pad)
        return F.leaky_relu(x, LRELU_SLOPE) if self.act else x


class ReferenceProGAN(nn.Module):
    """Generator with the reference's module names, so its state_dict() has the reference keys.

    sizes = [z, C(4x4), C(8x8), …]; output resolution 4 * 2**(len(sizes)-2)."""

    def __init__(self, sizes):
        super().__init__()
        if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
            raise CheckpointError("bad ProGAN sizes %r" % (sizes,))
        self.sizes = [int(s) for s in sizes]
        names = []
        self.add_module("layer1", _RefBlock(sizes[0], sizes[1], 4, 3, False, math.sqrt(2) / 4))
        self.add_module("layer2", _RefBlock(sizes[1], sizes[1], 3, 1, False, math.sqrt(2) / 3))
        names += ["layer1", "layer2"]
        for cin, cout in zip(sizes[1:-1], sizes[2:]):
            k = len(names)
            self.add_module("layer%d" % (k + 1), _RefBlock(cin, cout, 3, 1, True, math.sqrt(2) / 3))
            self.add_module("layer%d" % (k + 2), _RefBlock(cout, cout, 3, 1, False, math.sqrt(2) / 3))
            names += ["layer%d" % (k + 1), "layer%d" % (k + 2)]
        self.resolution = 4 * 2 ** (len(sizes) - 2)
        self.output_name = "output_%dx%d" % (self.resolution, self.resolution)
        self.add_module(self.output_name, _RefBlock(sizes[-1], 3, 1, 0, False, 1.0, act=False))
        self.layer_names = names

    def blocks(self):
        return [getattr(self, n) for n in self.layer_names]

    def forward(self, z, capture=False):
        x = z.reshape(z.shape[0], z.shape[1], 1, 1)
        feats = []
        for b in self.blocks():
            x = b(x)
            feats.append(x)
        img = getattr(self, self.output_name)(x)
        return (img, feats) if capture else img

    def layer_shapes(self):
        """[(name, channels, height)] of every block output."""
        out = []
        for i, n in enumerate(self.layer_names):
            out.append((n, getattr(self, n).conv.weight.shape[0], 4 * 2 ** (i // 2)))
        return out


# ---------------------------------------------------------------------------------------------
# State-dict reading.

def _unwrap(sd):
    if not isinstance(sd, dict):
        raise CheckpointError("expected a state dict (mapping of names to tensors), got %s" % type(sd).__name__)
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    # DataParallel checkpoints prefix every key with "module.".
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def _from_old_names(sd):
    """features.I.* / output.* (older gandissect files) -> layer(I+1).* / output_RxR.*"""
    out = {}
    n = 0
    while "features.%d.conv.weight" % n in sd:
        n += 1
    for key, v in sd.items():
        m = re.match(r"features\.(\d+)\.(.*)$", key)
        if m:
            out["layer%d.%s" % (int(m.group(1)) + 1, m.group(2))] = v
        elif key.startswith("output."):
            r = 4 * 2 ** (n // 2 - 1)
            out["output_%dx%d.%s" % (r, r, key[len("output."):])] = v
        else:
            out[key] = v
    return out


def read_state_dict(sd):
    """Validate a reference state dict; returns (sizes, normalized_state_dict, scales).

    scales maps a module name to the wscale constant stored in the file (older files), which
    then wins over the computed He constant because it is what that model was trained with."""
    sd = _unwrap(sd)
    if "features.0.conv.weight" in sd:
        sd = _from_old_names(sd)
    for k, v in sd.items():
        if not torch.is_tensor(v):
            raise CheckpointError("entry %r is not a tensor (%s)" % (k, type(v).__name__))
    n = 0
    while "layer%d.conv.weight" % (n + 1) in sd:
        n += 1
    if n < 2:
        raise CheckpointError("no layer1.conv.weight/layer2.conv.weight: not a ProGAN generator state dict "
                              "(keys start with %s)" % sorted(sd)[:5])
    if n % 2:
        raise CheckpointError("found %d layers; the reference always has two per resolution" % n)
    w1 = sd["layer1.conv.weight"]
    if w1.dim() != 4 or tuple(w1.shape[2:]) != (4, 4):
        raise CheckpointError("layer1.conv.weight must be [C, z, 4, 4], got %s" % (tuple(w1.shape),))
    sizes = [int(w1.shape[1]), int(w1.shape[0])]
    prev = int(w1.shape[0])
    for i in range(2, n + 1):
        w = sd["layer%d.conv.weight" % i]
        if w.dim() != 4 or tuple(w.shape[2:]) != (3, 3) or w.shape[1] != prev:
            raise CheckpointError("layer%d.conv.weight must be [C, %d, 3, 3], got %s" % (i, prev, tuple(w.shape)))
        if i % 2 == 0 and w.shape[0] != w.shape[1]:
            raise CheckpointError("layer%d must keep its channel count (%d), got %d" % (i, w.shape[1], w.shape[0]))
        if i % 2 == 1:
            sizes.append(int(w.shape[0]))
        prev = int(w.shape[0])
    res = 4 * 2 ** (n // 2 - 1)
    out_name = "output_%dx%d" % (res, res)
    outs = sorted({k.split(".")[0] for k in sd if k.startswith("output")})
    if outs != [out_name]:
        raise CheckpointError("expected one output layer %r for %d layers, found %r" % (out_name, n, outs))
    wo = sd[out_name + ".conv.weight"] if out_name + ".conv.weight" in sd else None
    if wo is None or tuple(wo.shape) != (3, prev, 1, 1):
        raise CheckpointError("%s.conv.weight must be [3, %d, 1, 1], got %s" %
                              (out_name, prev, None if wo is None else tuple(wo.shape)))
    model_keys = set()
    scales = {}
    for name in ["layer%d" % i for i in range(1, n + 1)] + [out_name]:
        for suffix in ("conv.weight", "wscale.b"):
            if name + "." + suffix not in sd:
                raise CheckpointError("missing %s.%s" % (name, suffix))
            model_keys.add(name + "." + suffix)
        cout = sd[name + ".conv.weight"].shape[0]
        if tuple(sd[name + ".wscale.b"].shape) != (cout,):
            raise CheckpointError("%s.wscale.b must have %d entries, got %s" %
                                  (name, cout, tuple(sd[name + ".wscale.b"].shape)))
        sk = name + ".wscale.scale"
        if sk in sd:
            if sd[sk].numel() != 1:
                raise CheckpointError("%s must be a scalar" % sk)
            scales[name] = float(sd[sk].reshape(-1)[0])
            model_keys.add(sk)
    extra = sorted(set(sd) - model_keys)
    if extra:
        raise CheckpointError("unexpected entries (not a plain ProGAN generator?): %s" % extra[:8])
    clean = {}
    for k in model_keys:
        if k.endswith(".wscale.scale"):
            continue
        t = sd[k].detach().float().cpu()
        if not torch.isfinite(t).all():
            raise CheckpointError("%s holds non-finite values" % k)
        clean[k] = t
    return sizes, clean, scales


def model_from_state_dict(sd):
    sizes, clean, scales = read_state_dict(sd)
    model = ReferenceProGAN(sizes)
    model.load_state_dict(clean, strict=True)
    for name, s in scales.items():
        getattr(model, name).wscale.scale = s
    model.eval()
    return model


def random_reference(sizes, seed=0):
    """A randomly initialised reference-layout generator, weights ~ N(0,1) as in an
    equalized-lr ProGAN, biases small; used by tests and the committed tiny test model."""
    g = torch.Generator().manual_seed(seed)
    model = ReferenceProGAN(sizes)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.2 if name.endswith(".b") else 1.0))
    return model.eval()


def load_pth(path):
    try:
        sd = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises a zoo of types for corrupt files
        raise CheckpointError("cannot read %s: %s" % (path, e)) from e
    return model_from_state_dict(sd)


# ---------------------------------------------------------------------------------------------
# Export.

def _export(module, example, path, opset=13):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, example, path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=opset, do_constant_folding=True)


def set_output_shape(path, dims):
    """Pin the output's non-batch dims: the exporter leaves some symbolic (e.g. after Reshape),
    and the Go loader checks them against the manifest."""
    import onnx

    m = onnx.load(path)
    shape = m.graph.output[0].type.tensor_type.shape
    if len(shape.dim) != len(dims) + 1:
        raise AssertionError("%s: output rank %d, expected %d" % (path, len(shape.dim), len(dims) + 1))
    for d, v in zip(shape.dim[1:], dims):
        d.Clear()
        d.dim_value = int(v)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def declare_block(path):
    """Derive the block's scale/halo and free its spatial dims (one implementation: locality.py)."""
    from locality import declare_block as declare

    return declare(path)


def to_fp16_weights(path):
    """Store the file's float initializers as float16 (one converter for every export)."""
    from export import weights_to_fp16

    weights_to_fp16(path)


def export_model(model, out_dir, name="imported", title=None, fp16=False, seg_ckpt=None,
                 default_layer=None, sample_ids=None):
    """Write the model directory; returns the manifest dict."""
    os.makedirs(os.path.join(out_dir, "generator"), exist_ok=True)
    zsize = model.sizes[0]
    blocks = model.blocks()
    shapes = model.layer_shapes()
    x = torch.zeros(2, zsize)
    manifest_blocks = []
    for i, (blk, (lname, c, h)) in enumerate(zip(blocks, shapes)):
        baked = blk.baked()
        if i == 0:
            baked.from_vector = True
        path = os.path.join(out_dir, "generator", lname + ".onnx")
        _export(baked, x, path)
        with torch.no_grad():
            x = baked(x)
        if tuple(x.shape[1:]) != (c, h, h):
            raise AssertionError("block %s produced %s, expected %s" % (lname, tuple(x.shape), (c, h, h)))
        set_output_shape(path, (c, h, h))
        entry = {"name": lname, "file": "generator/%s.onnx" % lname, "channels": int(c), "height": int(h),
                 "width": int(h)}
        if i > 0:
            entry.update(declare_block(path))  # scale/halo for the engine's region-limited repaint
        if fp16:
            to_fp16_weights(path)
        manifest_blocks.append(entry)
    out_block = getattr(model, model.output_name).baked()
    path = os.path.join(out_dir, "generator", "to_rgb.onnx")
    _export(out_block, x, path)
    res = model.resolution
    set_output_shape(path, (3, res, res))
    to_rgb = {"file": "generator/to_rgb.onnx", **declare_block(path)}
    if fp16:
        to_fp16_weights(path)
    names = [b["name"] for b in manifest_blocks]
    if default_layer is None:
        default_layer = "layer4" if "layer4" in names else names[len(names) // 2]
    manifest = {
        "format": "ganpaint-model",
        "version": 1,
        "name": name,
        "title": title or "Imported ProGAN (%d px)" % res,
        "z": {"size": int(zsize), "rule": Z_RULE, "seed": 0, "max_id": 1000000},
        "image": {"height": res, "width": res, "range": [-1, 1]},
        "generator": {"blocks": manifest_blocks, "to_rgb": to_rgb},
        "default_layer": default_layer,
        "sample_ids": list(sample_ids if sample_ids is not None else range(16)),
    }
    if seg_ckpt:
        manifest["segmenter"] = export_segmenter(seg_ckpt, out_dir, res)
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    return manifest


def export_segmenter(seg_ckpt, out_dir, res):
    """Export our segmenter next to an imported generator so the model can be dissected."""
    from segmenter import Segmenter

    seg = Segmenter.from_checkpoint(seg_ckpt)
    ck = torch.load(seg_ckpt, map_location="cpu")
    names = ck.get("class_names") or ["class%d" % i for i in range(seg.n_classes)]
    colours = {}
    try:
        from scenes import CLASSES
        colours = dict(CLASSES)
    except Exception:
        pass
    side = max(seg.multiple, res // seg.multiple * seg.multiple)
    path = os.path.join(out_dir, "segmenter.onnx")
    _export(seg, torch.zeros(1, 3, side, side), path)
    from seg_features import add_features_output
    add_features_output(path)
    return {"file": "segmenter.onnx", "input_range": [-1, 1],
            "classes": [{"name": n, "color": colours.get(n, "#808080")} for n in names]}


def reference_outputs(model, ids):
    """Torch outputs of the unmodified reference architecture for the model format's z of `ids`."""
    z = torch.from_numpy(z_for_ids(ids, model.sizes[0]))
    with torch.no_grad():
        img, feats = model(z, capture=True)
    return z, img, feats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pth", required=True, help="gandissect ProGAN generator state dict")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--name", default=None, help="model name (default: the .pth file's stem)")
    p.add_argument("--title", default=None)
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (halves the size)")
    p.add_argument("--seg", default=None, help="optional segmenter checkpoint (train_segmenter.py)")
    p.add_argument("--default-layer", default=None)
    p.add_argument("--expected", default=None,
                   help="also write torch reference outputs for ids 0,1 to this JSON file")
    args = p.parse_args(argv)
    try:
        model = load_pth(args.pth)
    except CheckpointError as e:
        print("import_proggan: %s" % e, file=sys.stderr)
        return 2
    name = args.name or re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.splitext(os.path.basename(args.pth))[0])
    # Build next to the target and swap in, so a failed export never leaves half a model.
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".import-", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        manifest = export_model(model, tmp, name=name, title=args.title, fp16=args.fp16,
                                seg_ckpt=args.seg, default_layer=args.default_layer)
        if os.path.exists(args.out):
            shutil.rmtree(args.out)
        os.replace(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if args.expected:
        write_expected(model, args.expected, ids=[0, 1], tol=2e-2 if args.fp16 else 1e-4)
    print("wrote %s: z %d, %d layers, %dx%d, sizes %s" % (args.out, manifest["z"]["size"],
          len(manifest["generator"]["blocks"]), model.resolution, model.resolution, model.sizes))
    return 0


def write_expected(model, path, ids, tol):
    z, img, feats = reference_outputs(model, ids)
    doc = {
        "ids": list(ids),
        "z_size": int(z.shape[1]),
        "z": [float(v) for v in z.reshape(-1)],
        "image_shape": list(img.shape),
        "image": [float(v) for v in img.reshape(-1)],
        "layers": {n: {"shape": list(f.shape), "sum": float(f.double().sum()),
                       "abs_max": float(f.abs().max())}
                   for n, f in zip(model.layer_names, feats)},
        "max_abs_tol": tol,
    }
    with open(path, "w") as f:
        json.dump(doc, f)
        f.write("\n")
    return doc


if __name__ == "__main__":
    sys.exit(main())
