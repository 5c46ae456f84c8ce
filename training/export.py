"""Export a trained GAN checkpoint (and optionally the segmenter) in the GANPaint-Go model format.

  export.py --ckpt training/ckpt/gan/latest.pt [--seg training/ckpt/seg/latest.pt] \
            --out assets/models/scenes128 [--fp16] [--check-out FILE.npz]

Writes generator/layer1..layerN.onnx + generator/to_rgb.onnx (EMA weights, equalized-lr scale
folded in), discriminator.onnx (max resolution, per-image: the minibatch-stddev channel is the
value tracked on real data), segmenter.onnx when --seg is given (with its `features` output,
see seg_features.py), and manifest.json per
docs/model-format.md.

--check-out FILE.npz writes torch reference outputs for the Go side to compare ONNX Runtime
against (uncompressed npz, float32/int64 arrays):
  ids [4] int64           image ids 0..3
  z [4, z]                z of those ids (splitmix64-boxmuller-v1, seed from the manifest)
  layer1 … layerN         every block's output, block k fed with the torch output of block k-1
  to_rgb [4, 3, H, W]     the image
  discriminator [4, 1]    discriminator on that image
  segmenter [4, C, H, W]  segmenter logits on that image (only with --seg)
  segmenter_features [4, F]  its pooled penultimate features, the `features` output (with --seg)
With --fp16 the references are computed with the same float16-rounded weights the files store.
"""

import argparse
import json
import os
import pickle
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gan  # noqa: E402
import locality  # noqa: E402
import seg_features  # noqa: E402
import zrule  # noqa: E402

OPSET = 13
N_SAMPLE_IDS = 16
SAMPLE_POOL = 200
MAX_ID = 1000000


class ExportError(Exception):
    pass


def load_checkpoint(path):
    """(config, G_ema, D) from a train_gan.py checkpoint, in eval mode on the CPU."""
    try:
        ck = torch.load(path, map_location="cpu")
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ExportError(f"{path}: cannot read checkpoint: {e}") from e
    if not isinstance(ck, dict) or ck.get("format") != gan.CHECKPOINT_FORMAT:
        raise ExportError(f"{path}: not a {gan.CHECKPOINT_FORMAT} checkpoint")
    cfg = gan.GANConfig(**ck["config"])
    G = gan.Generator(cfg)
    G.load_state_dict(ck["G_ema"])
    D = gan.Discriminator(cfg)
    D.load_state_dict(ck["D"])
    return cfg, G.eval(), D.eval(), ck


def round_fp16_(module):
    """Round a module's float parameters/buffers to float16 precision in place, so torch
    references match graphs whose weights are stored as float16."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.dtype == torch.float32:
                t.copy_(t.half().float())
    return module


def export_onnx(module, example, path, out_dims):
    """Export with the project's conventions, pin the output's non-batch dims and verify."""
    import onnx

    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, example, path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
    m = onnx.load(path)
    dims = m.graph.output[0].type.tensor_type.shape.dim
    if len(dims) != len(out_dims) + 1:
        raise ExportError(f"{path}: output rank {len(dims)}, expected {len(out_dims) + 1}")
    # The exporter can leave static dims symbolic (after Reshape/Resize); the Go loader checks them.
    for d, v in zip(dims[1:], out_dims):
        d.Clear()
        d.dim_value = int(v)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def weights_to_fp16(path):
    """Store float32 initializers as float16 plus a Cast back to float32 (graph math stays fp32)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    inits, casts = [], []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size >= 16:
            h = numpy_helper.from_array(a.astype(np.float16), t.name + "__fp16")
            inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [t.name], to=onnx.TensorProto.FLOAT))
        else:
            inits.append(t)
    del g.initializer[:]
    g.initializer.extend(inits)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, path)


@torch.no_grad()
def pick_sample_ids(blocks, D_export, z_size, seed, n=N_SAMPLE_IDS, pool=SAMPLE_POOL, batch=25):
    """The n ids among 0..pool-1 whose images the discriminator scores as most realistic."""
    scores = []
    for start in range(0, pool, batch):
        ids = list(range(start, min(pool, start + batch)))
        x = torch.from_numpy(zrule.z_batch(ids, z_size, seed))
        for b in blocks:
            x = b(x)
        scores.append(D_export(x).reshape(-1))
    s = torch.cat(scores)
    order = torch.argsort(s, descending=True)[:n]
    return sorted(int(i) for i in order)


def load_segmenter(path):
    """Lazy import: the segmenter module belongs to another part of the pipeline and is optional."""
    try:
        import segmenter
    except ImportError as e:
        raise ExportError(f"--seg given but training/segmenter.py cannot be imported: {e}") from e
    try:
        return segmenter.Segmenter.from_checkpoint(path)
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise ExportError(f"{path}: cannot load segmenter: {e}") from e


def segmenter_classes(n):
    import scenes

    if len(scenes.CLASSES) != n:
        raise ExportError(f"segmenter has {n} classes but scenes.CLASSES lists {len(scenes.CLASSES)}")
    return [{"name": name, "color": color} for name, color in scenes.CLASSES]


def export(ckpt, out, seg=None, fp16=False, check_out=None, name="scenes128",
           title="Procedural outdoor scenes, 128 px", z_seed=0, default_layer="layer4"):
    cfg, G, D, ck = load_checkpoint(ckpt)
    blocks = gan.baked_blocks(G)
    D_export = gan.ExportDiscriminator(D).eval()
    seg_model = load_segmenter(seg) if seg else None
    if fp16:
        for m in blocks + [D_export] + ([seg_model] if seg_model is not None else []):
            round_fp16_(m)
    names = G.layer_names()
    if default_layer not in names:
        raise ExportError(f"default layer {default_layer} not among {names[0]}..{names[-1]}")

    os.makedirs(os.path.join(out, "generator"), exist_ok=True)
    shapes = cfg.layer_shapes()
    files = []
    x = torch.from_numpy(zrule.z_batch([0, 1], cfg.z_size, z_seed))
    manifest_blocks = []
    for i, (b, (lname, c, h, w)) in enumerate(zip(blocks[:-1], shapes)):
        path = os.path.join(out, "generator", lname + ".onnx")
        export_onnx(b, x, path, (c, h, w))
        files.append(path)
        with torch.no_grad():
            x = b(x)
        if tuple(x.shape[1:]) != (c, h, w):
            raise ExportError(f"{lname}: output {tuple(x.shape[1:])}, expected {(c, h, w)}")
        entry = {"name": lname, "file": f"generator/{lname}.onnx", "channels": c, "height": h, "width": w}
        if i > 0:
            # Declared scale/halo and free spatial dims let the engine repaint only what a
            # stroke changed (docs/model-format.md); layer1 takes z, which has no extent.
            entry.update(locality.declare_block(path))
        manifest_blocks.append(entry)
    path = os.path.join(out, "generator", "to_rgb.onnx")
    export_onnx(blocks[-1], x, path, (3, cfg.max_res, cfg.max_res))
    to_rgb = {"file": "generator/to_rgb.onnx", **locality.declare_block(path)}
    files.append(path)
    with torch.no_grad():
        img = blocks[-1](x)
    path = os.path.join(out, "discriminator.onnx")
    export_onnx(D_export, img, path, (1,))
    files.append(path)

    manifest = {
        "format": "ganpaint-model",
        "version": 1,
        "name": name,
        "title": title,
        "z": {"size": cfg.z_size, "rule": zrule.RULE, "seed": z_seed, "max_id": MAX_ID},
        "image": {"height": cfg.max_res, "width": cfg.max_res, "range": [-1, 1]},
        "generator": {"blocks": manifest_blocks, "to_rgb": to_rgb},
        "default_layer": default_layer,
        "sample_ids": pick_sample_ids(blocks, D_export, cfg.z_size, z_seed),
        "discriminator": {"file": "discriminator.onnx"},
    }
    if seg_model is not None:
        path = os.path.join(out, "segmenter.onnx")
        export_onnx(seg_model, img, path, (seg_model.n_classes, cfg.max_res, cfg.max_res))
        seg_features.add_features_output(path)
        files.append(path)
        manifest["segmenter"] = {"file": "segmenter.onnx", "input_range": [-1, 1],
                                 "classes": segmenter_classes(seg_model.n_classes)}
    if fp16:
        for f in files:
            weights_to_fp16(f)
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "manifest.json"))

    if check_out:
        write_check(check_out, blocks, names, D_export, seg_model, cfg.z_size, z_seed)
    total = sum(os.path.getsize(f) for f in files)
    return manifest, total


@torch.no_grad()
def write_check(path, blocks, names, D_export, seg_model, z_size, z_seed):
    ids = np.arange(4, dtype=np.int64)
    z = zrule.z_batch([int(i) for i in ids], z_size, z_seed)
    arrays = {"ids": ids, "z": z}
    x = torch.from_numpy(z)
    for b, n in zip(blocks, names + ["to_rgb"]):
        x = b(x)
        arrays[n] = x.numpy().astype(np.float32)
    arrays["discriminator"] = D_export(x).numpy().astype(np.float32)
    if seg_model is not None:
        arrays["segmenter"] = seg_model(x).numpy().astype(np.float32)
        arrays["segmenter_features"] = seg_model.penultimate(x).mean(dim=(2, 3)).numpy().astype(np.float32)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".npz")
    os.close(fd)
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--seg", default=None, help="segmenter checkpoint (train_segmenter.py)")
    p.add_argument("--out", required=True, help="model folder, e.g. assets/models/scenes128")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (math stays float32)")
    p.add_argument("--check-out", default=None, help="write torch reference outputs (.npz) for the Go test")
    p.add_argument("--name", default="scenes128")
    p.add_argument("--title", default="Procedural outdoor scenes, 128 px")
    p.add_argument("--default-layer", default="layer4")
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count())
    try:
        manifest, total = export(args.ckpt, args.out, seg=args.seg, fp16=args.fp16, check_out=args.check_out,
                                 name=args.name, title=args.title, default_layer=args.default_layer)
    except ExportError as e:
        print(f"export: {e}", file=sys.stderr)
        return 2
    print(f"exported {args.out}: {len(manifest['generator']['blocks'])} blocks, "
          f"{total / 1e6:.1f} MB of ONNX, sample ids {manifest['sample_ids']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
