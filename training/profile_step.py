"""Seconds per training step of the GAN recipe, per progressive stage, on this machine.

    /usr/bin/python3 training/profile_step.py --threads 1 --channels-last 0,1 [--widths ...]

Runs train_gan.train_step on random data (the data loader is not the bottleneck) and prints the
median CPU time of --steps timed steps after --warmup, for every (stage, memory format) combination, plus
images per second. Which BLAS torch uses is printed too: Debian's torch runs on whichever
libblas.so.3 the alternatives system selects (OpenBLAS once libopenblas0-pthread is installed).
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gan  # noqa: E402
import train_gan  # noqa: E402


def blas_name():
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
        return ", ".join(sorted(os.path.realpath(p) for p in libs)) or "unknown"
    except OSError:
        return "unknown"


def time_stage(cfg, res, batch, channels_last, steps, warmup, alpha=1.0, amp=False):
    torch.manual_seed(0)
    G, D = gan.Generator(cfg), gan.Discriminator(cfg)
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    optG = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.99))
    optD = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.99))
    times = []
    for i in range(warmup + steps):
        real = torch.rand(batch, 3, res, res) * 2 - 1
        z = torch.randn(batch, cfg.z_size)
        t0, c0 = time.perf_counter(), time.process_time()
        # Every 4th step carries R1, as in training; the median sees the common step.
        train_gan.train_step(G, D, optG, optD, real, z, res, alpha, 1.0 if i % 4 == 0 else 0.0, 4,
                             channels_last=channels_last, amp=amp)
        if i >= warmup:
            times.append((time.process_time() - c0, time.perf_counter() - t0))
    return statistics.median(t for t, _ in times), statistics.median(w for _, w in times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--widths", default=None)
    # The v1 recipe's batches (training/make_model.sh).
    ap.add_argument("--batch", default="8:32,16:32,32:24,64:16,128:12")
    ap.add_argument("--stages", default="8,16,32,64,128")
    ap.add_argument("--channels-last", default="0,1")
    ap.add_argument("--amp", default="0", help="bfloat16 autocast settings to time, e.g. 0,1")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    widths = gan.parse_widths(a.widths) if a.widths else dict(gan.DEFAULT_WIDTHS)
    cfg = gan.GANConfig(max_res=128, widths=widths)
    batches = {int(k): int(v) for k, v in (x.split(":") for x in a.batch.split(","))}
    print(f"torch {torch.__version__}, threads {a.threads}, blas: {blas_name()}")
    # CPU seconds of this process, not wall-clock: on a machine shared with other work the wall
    # time measures the neighbours as much as the step (with one thread the two agree when idle).
    print("stage  batch  channels_last  amp  cpu_s(median)  wall_s(median)  images/cpu_s")
    for res in (int(r) for r in a.stages.split(",")):
        for cl in (int(c) for c in a.channels_last.split(",")):
            for amp in (int(x) for x in a.amp.split(",")):
                cpu, wall = time_stage(cfg, res, batches[res], bool(cl), a.steps, a.warmup, amp=bool(amp))
                print(f"{res:5d}  {batches[res]:5d}  {cl:13d}  {amp:3d}  {cpu:13.3f}  {wall:14.3f}  "
                      f"{batches[res] / cpu:12.1f}", flush=True)


if __name__ == "__main__":
    main()
