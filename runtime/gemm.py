"""GEMM sweep for ``dpsim calibrate --compute``: time torch.matmul over shapes, fit the curve.

Square and transformer-like shapes are timed with ``torch.matmul`` on the machine at hand: CUDA
events around a batch of launches after warm-up on a GPU (as NVIDIA's and Bekman's mamf-finder
sweeps do), ``time.perf_counter`` on a CPU, on one thread there: a CPU rank runs one
(``runtime.launch`` sets ``OMP_NUM_THREADS=1``; ``runtime.calibrate.measure_compute`` times the model
so too), and torch's default pool of threads on a core shared with other work made a 64³ GEMM take
16 ms instead of 8 µs, a larger one faster than a smaller one, and the fit 9e-5 of the peak
(``dpsim calibrate --compute --gemm-sizes 64,128,256`` on 2 loaded cores; one thread: 3 sweeps within 3 %).
:func:`dpsim.compute.fit_gemm_curve` turns the
(FLOPs, seconds) pairs into the device's ``matmul_efficiency`` and ``kernel_overhead``, the two
numbers of :mod:`dpsim.compute`'s GEMM curve.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dpsim.compute import fit_gemm_curve
from dpsim.scenario import Scenario

__all__ = ["GemmPoint", "default_shapes", "device_mismatch", "fit", "sweep"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class GemmPoint:
    """One timed GEMM: m × n × k, seconds over the repetitions (the median on a GPU, the fastest on a CPU)."""

    m: int
    n: int
    k: int
    seconds: float

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    def as_dict(self) -> dict[str, float]:
        return {
            "m": self.m,
            "n": self.n,
            "k": self.k,
            "seconds": self.seconds,
            "flops_per_s": self.flops / self.seconds,
        }


def default_shapes(sizes: Sequence[int]) -> list[tuple[int, int, int]]:
    """Square GEMMs of each size, plus the transformer-like 4s × s × s (tokens × hidden²)."""
    shapes: list[tuple[int, int, int]] = []
    for s in sizes:
        shapes.append((s, s, s))
        shapes.append((4 * s, s, s))
    return shapes


def _time(fn: object, device: torch.device, reps: int) -> float:
    call = fn  # a zero-argument callable
    assert callable(call)
    for _ in range(2):  # warm-up: kernels chosen, caches filled
        call()
    if device.type == "cuda":
        samples = []
        for _ in range(reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        return statistics.median(samples)
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    # the fastest: another process taking the core only ever adds time, and on 2 cores at load 6.7 most of a
    # 1.5 ms GEMM's repetitions were preempted (its median gave the fp32 fit 0.0325 of the peak beside 0.081-0.093)
    return min(samples)


def sweep(
    shapes: Sequence[tuple[int, int, int]], dtype: str = "bf16", device: str | None = None, reps: int = 5
) -> list[GemmPoint]:
    """Time ``torch.matmul`` of (m × k) @ (k × n) for every shape (on a CPU on one thread, as a CPU rank runs)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (known: {', '.join(_DTYPES)})")
    torch_dtype = _DTYPES[dtype]
    generator = torch.Generator(device="cpu").manual_seed(0)
    points = []
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)
    try:
        for m, n, k in shapes:
            a = torch.randn(m, k, generator=generator).to(dev, torch_dtype)
            b = torch.randn(k, n, generator=generator).to(dev, torch_dtype)
            points.append(GemmPoint(m, n, k, _time(lambda a=a, b=b: torch.matmul(a, b), dev, reps)))
    finally:
        torch.set_num_threads(threads)
    return points


def device_mismatch(scenario: Scenario, cuda: bool) -> str:
    """Why a sweep on this machine (a CUDA GPU where ``cuda``, else its CPU) cannot be fitted against the scenario's
    device, or '': a catalog GPU timed on a CPU (the default scenario's A100 fitted 9e-5 of its peak: the CPU's rate
    over the A100's), or the catalog ``cpu`` timed on a GPU. A custom device (no preset) names no hardware and is not
    judged, as :func:`dpsim.calibration.profile_mismatch` does not judge it."""
    cluster = scenario.cluster
    if not (cluster.gloo if cuda else cluster.nccl_backend):
        return ""
    ran, wants, other = ("a CUDA GPU", "a CPU", "cpu") if cuda else ("this machine's CPU", "a GPU", "cuda")
    return (
        f"calibrate --compute times GEMMs on {ran} and fits them against the device's peak, and "
        f"{cluster.device.preset} is {wants}: time that device (--device {other}, where there is one), or name the "
        "device timed in the scenario (a custom device with its peak_flops)"
    )


def fit(points: Sequence[GemmPoint], peak_flops: float) -> tuple[float, float]:
    """(matmul_efficiency, kernel_overhead seconds) of the measured points against ``peak_flops``."""
    return fit_gemm_curve([(p.flops, p.seconds) for p in points], peak_flops)
