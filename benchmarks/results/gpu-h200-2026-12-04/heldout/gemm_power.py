"""GEMM rate vs how it is run (device diagnostic for the 2026-12-04 H200 step check).

One bf16 GEMM 8192 x 8192 x 2048 (the runtime model's MLP up-projection at micro-batch 4), timed with CUDA events
around each call: back to back on randn inputs (as dpsim calibrate --compute and gpu_device_check time it), back
to back on inputs scaled like trained weights (randn * 0.02), on zeros, and interleaved with a 256 MiB copy (as a
training step interleaves memory-bound kernels). nvidia-smi samples clocks and power meanwhile (the caller)."""

import json
import statistics
import sys
import time

import torch

dev = torch.device("cuda")
m, n, k = 8192, 8192, 2048
g = torch.Generator(device="cpu").manual_seed(0)
a0 = torch.randn(m, k, generator=g).to(dev, torch.bfloat16)
b0 = torch.randn(k, n, generator=g).to(dev, torch.bfloat16)
src = torch.empty(128 * 2**20, dtype=torch.float16, device=dev)
dst = torch.empty_like(src)
out = {}


def run(label, a, b, interleave, reps=200):
    for _ in range(10):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    evs = []
    t0 = time.time()
    for _ in range(reps):
        if interleave:
            dst.copy_(src)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.matmul(a, b)
        e.record()
        evs.append((s, e))
    torch.cuda.synchronize()
    times = [s.elapsed_time(e) * 1e3 for s, e in evs]
    med = statistics.median(times)
    out[label] = {
        "median_us": med,
        "tflops": 2 * m * n * k / med / 1e6,
        "first20_us": statistics.median(times[:20]),
        "last20_us": statistics.median(times[-20:]),
        "wall_s": time.time() - t0,
    }
    print(label, json.dumps(out[label]), flush=True)


run("randn back-to-back", a0, b0, False)
run("randn*0.02 back-to-back", a0 * 0.02, b0 * 0.02, False)
run("zeros back-to-back", torch.zeros_like(a0), torch.zeros_like(b0), False)
run("randn interleaved with 256 MiB copy", a0, b0, True)
run("randn back-to-back (again)", a0, b0, False)
with open(sys.argv[1], "w") as f:  # (as run: json.dump(out, open(...)); closed here for the linter)
    json.dump(out, f, indent=1)
