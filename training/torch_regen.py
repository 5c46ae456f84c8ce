"""PyTorch-eager regeneration of a GANPaint-Go model, the baseline of `ganpaint bench --compare-torch`.

    ganpaint bench --compare-torch        (starts this script and drives it; see docs/performance.md)

What the reference server does for every stroke: run the whole generator from z with the edits
hooked in at the painted layer. The generator is rebuilt in torch from the model folder's own ONNX
block files (the same weights the Go engine runs): each graph becomes a straight list of torch
calls, so the only Python work per op is one call, as in an nn.Module. Variants:

  eager   every op as torch dispatches it by default (F.conv2d chooses its own backend)
  onednn  every convolution through oneDNN (aten.mkldnn_convolution), the fastest eager variant

Threads: torch.set_num_threads(N) (1 for the comparison). CPU time is time.process_time_ns(), so
any helper thread torch starts is counted.

Protocol: one JSON object per line on stdin, one answer per line on stdout.
  {"cmd": "init", "model_dir": D, "layer": L, "z": [...], "threads": 1}
      -> {"ok": true, "torch": V, "variants": [...], "tail_macs": N, "total_macs": N,
          "peak_gflops": F, "peak_how": S}
  {"cmd": "reset", "variant": V}                    empty that variant's edit list
  {"cmd": "stroke", "variant": V, "edit": {"units": [u...], "values": [v...], "alpha": [a per cell]}}
      adds the edit (per unit target value v, opacity a per paint-layer cell) and regenerates;
      -> {"ok": true, "cpu_ns": N, "wall_ns": N}
  {"cmd": "image", "variant": V}                    -> {"ok": true, "shape": [...], "data": base64 float32 LE}
  {"cmd": "quit"}
Errors answer {"ok": false, "error": "..."}.
"""

import base64
import json
import os
import sys
import time

import numpy as np


def build_graph(path, conv):
    """A list of closures that evaluate the ONNX graph at path with torch ops; conv(x, w, b, pads)
    is the convolution to use. Returns (fn, macs(in_shape) -> (out_shape, macs))."""
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
    steps = []

    def attrs(node):
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    for node in g.node:
        a = attrs(node)
        op, ins, out = node.op_type, list(node.input), node.output[0]
        if op == "Constant":
            consts[out] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            continue
        if op == "Cast" and ins[0] in consts:
            consts[out] = consts[ins[0]].float()
            continue
        get = [(lambda env, n=n: consts[n]) if n in consts else (lambda env, n=n: env[n]) for n in ins if n]
        if op in ("Mul", "Add", "Div", "Sub"):
            f = {"Mul": torch.mul, "Add": torch.add, "Div": torch.div, "Sub": torch.sub}[op]
            fn = lambda env, f=f, g0=get[0], g1=get[1]: f(g0(env), g1(env))
        elif op == "Sqrt":
            fn = lambda env, g0=get[0]: torch.sqrt(g0(env))
        elif op == "ReduceMean":
            axes = list(a["axes"])
            keep = bool(a.get("keepdims", 1))
            fn = lambda env, g0=get[0], axes=axes, keep=keep: torch.mean(g0(env), dim=axes, keepdim=keep)
        elif op == "Reshape":
            shape = [int(v) for v in consts[ins[1]].tolist()]
            fn = lambda env, g0=get[0], shape=shape: g0(env).reshape(
                [g0(env).shape[i] if v == 0 else v for i, v in enumerate(shape)])
        elif op == "Resize":
            if a.get("mode") not in (b"nearest", "nearest"):
                raise ValueError(f"{path}: Resize mode {a.get('mode')}")
            sc = consts[ins[2]].tolist()
            fn = lambda env, g0=get[0], s=float(sc[2]): F.interpolate(g0(env), scale_factor=s, mode="nearest")
        elif op == "Conv":
            if a.get("group", 1) != 1 or any(s != 1 for s in a.get("strides", [1, 1])):
                raise ValueError(f"{path}: Conv with groups or strides")
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            if (pt, pl) != (pb, pr):
                raise ValueError(f"{path}: asymmetric Conv pads")
            w = consts[ins[1]].float().contiguous()
            b = consts[ins[2]].float().contiguous() if len(ins) > 2 else None
            fn = lambda env, g0=get[0], w=w, b=b, p=(pt, pl): conv(g0(env), w, b, p)
        elif op == "LeakyRelu":
            alpha = float(a.get("alpha", 0.01))
            fn = lambda env, g0=get[0], alpha=alpha: F.leaky_relu(g0(env), alpha)
        elif op == "Identity":
            fn = lambda env, g0=get[0]: g0(env)
        else:
            raise ValueError(f"{path}: op {op} is not supported by this baseline")
        steps.append((out, fn))
    in_name, out_name = g.input[0].name, g.output[0].name

    def run(x):
        env = {in_name: x}
        for name, fn in steps:
            env[name] = fn(env)
        return env[out_name]

    convs = []
    for node in g.node:
        if node.op_type == "Conv":
            w = consts[node.input[1]]
            convs.append(int(w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3]))
    return run, convs


def conv_eager(x, w, b, pads):
    import torch.nn.functional as F

    return F.conv2d(x, w, b, padding=pads)


def conv_onednn(x, w, b, pads):
    import torch

    return torch.ops.aten.mkldnn_convolution(x, w, b, list(pads), [1, 1], [1, 1], 1)


VARIANTS = {"eager": conv_eager, "onednn": conv_onednn}


def measure_peak(torch, n=1024, side=32, reps=8):
    """Best fp32 multiply-add rate at the current thread count: a 1x1 convolution through oneDNN
    (an n x n by n x side^2 matrix product; Debian's torch.mm uses a generic BLAS far below the
    machine's peak), by CPU time, so time spent descheduled by other load does not count."""
    import torch as _t

    x, w = _t.randn(1, n, side, side), _t.randn(n, n, 1, 1)
    conv = lambda: _t.ops.aten.mkldnn_convolution(x, w, None, [0, 0], [1, 1], [1, 1], 1)
    conv()
    best = 0.0
    for _ in range(reps):
        t = time.process_time_ns()
        conv()
        dt = time.process_time_ns() - t
        if dt > 0:
            best = max(best, 2 * n * n * side * side / dt)
    return best, f"oneDNN 1x1 convolution ({n}x{n} by {n}x{side * side} fp32 GEMM), best of {reps} by CPU time"


class Regenerator:
    def __init__(self, model_dir, layer, z, threads):
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        with open(os.path.join(model_dir, "manifest.json")) as f:
            man = json.load(f)
        blocks = man["generator"]["blocks"]
        names = [b["name"] for b in blocks]
        if layer not in names:
            raise ValueError(f"layer {layer} not in {names}")
        self.split = names.index(layer)
        files = [os.path.join(model_dir, b["file"]) for b in blocks] + [
            os.path.join(model_dir, man["generator"]["to_rgb"]["file"])]
        self.runs = {v: [build_graph(f, conv)[0] for f in files] for v, conv in VARIANTS.items()}
        self.z = torch.tensor(z, dtype=torch.float32).reshape(1, -1)
        li = blocks[self.split]
        self.layer_shape = (li["channels"], li["height"], li["width"])
        self.edits = {v: [] for v in VARIANTS}
        self.acc = {}
        self.images = {}
        # MACs: run once, counting each conv's output pixels.
        self.tail_macs, self.total_macs = self.count_macs(files)

    def count_macs(self, files):
        torch = self.torch
        total = tail = 0
        x = self.z
        for i, f in enumerate(files):
            run, convs = build_graph(f, conv_eager)
            with torch.no_grad():
                y = run(x)
            macs = sum(convs) * y.shape[2] * y.shape[3] if y.dim() == 4 else 0
            total += macs
            if i > self.split:
                tail += macs
            x = y
        return tail, total

    def reset(self, variant):
        self.edits[variant] = []
        self.acc.pop(variant, None)

    def stroke(self, variant, edit):
        torch = self.torch
        c, h, w = self.layer_shape
        t_wall, t_cpu = time.perf_counter_ns(), time.process_time_ns()
        with torch.no_grad():
            # The new edit joins the per-unit opacity/target maps with the "over" operator, as the
            # Go engine's ApplyEdits composes them; then the whole generator runs from z.
            if variant not in self.acc:
                self.acc[variant] = (torch.zeros(c, h, w), torch.zeros(c, h, w))
            A, V = self.acc[variant]
            units = torch.tensor(edit["units"], dtype=torch.long)
            an = torch.tensor(edit["alpha"], dtype=torch.float32).reshape(1, h, w).expand(len(units), h, w)
            vn = torch.tensor(edit["values"], dtype=torch.float32).reshape(-1, 1, 1).expand(len(units), h, w)
            aa, va = A[units], V[units]
            a = 1 - (1 - an) * (1 - aa)
            v = torch.where(an > 0, (va * aa * (1 - an) + vn * an) / a.clamp_min(1e-30), va)
            A[units], V[units] = torch.where(an > 0, a, aa), v
            x = self.z
            runs = self.runs[variant]
            for i, run in enumerate(runs):
                x = run(x)
                if i == self.split:
                    x = torch.where(A > 0, x * (1 - A) + V * A, x)
            self.images[variant] = x
        return {"cpu_ns": time.process_time_ns() - t_cpu, "wall_ns": time.perf_counter_ns() - t_wall}

    def image(self, variant):
        x = self.images[variant].contiguous().numpy().astype("<f4")
        return {"shape": list(x.shape), "data": base64.b64encode(x.tobytes()).decode()}


def serve(inp, out):
    reg = None
    for line in inp:
        try:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "init":
                reg = Regenerator(msg["model_dir"], msg["layer"], msg["z"], int(msg.get("threads", 1)))
                peak, how = measure_peak(reg.torch)
                ans = {"torch": reg.torch.__version__, "variants": list(VARIANTS), "tail_macs": reg.tail_macs,
                       "total_macs": reg.total_macs, "peak_gflops": peak, "peak_how": how}
            elif cmd == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return 0
            elif reg is None:
                raise ValueError("init first")
            elif cmd == "reset":
                reg.reset(msg["variant"])
                ans = {}
            elif cmd == "stroke":
                ans = reg.stroke(msg["variant"], msg["edit"])
            elif cmd == "image":
                ans = reg.image(msg["variant"])
            else:
                raise ValueError(f"unknown command {cmd!r}")
            ans["ok"] = True
        except Exception as e:  # noqa: BLE001 - every failure goes back to the driver as one line
            ans = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin, sys.stdout))
