"""Measure, on one CUDA GPU, the kernel rates dpsim's device catalog assumes, and compare them with the catalog.

``--measure OUT.json`` (needs a CUDA GPU): for each item, CUDA events around ``reps`` launches after warm-up,
median over ``trials`` trials of (elapsed / reps):

- bf16 ``torch.matmul`` squares 256 ... 16384 and the four GEMMs (forward, data gradient, weight gradient) of
  transformer layers that dpsim's published runs use (Megatron's layout, tokens T = micro-batch x sequence);
- the same transformer GEMMs in FP8 (``torch._scaled_mm``, e4m3 x e4m3 -> bf16, per-tensor scales, as
  Transformer Engine's tensor-scaled FP8 GEMM);
- fused attention (``scaled_dot_product_attention``, causal at head dim 128 and 64, and one unmasked) with PyTorch's
  flash backend (FlashAttention-2's kernels) and the cuDNN backend, forward and forward+backward;
- a device-to-device copy (memory bandwidth: bytes read + written).

``--compare IN.json`` (any machine): the catalog device's prediction for each item with
``sustained_fraction`` = 1 (these are kernel benchmarks on an idle GPU, what the curve describes before the
in-training fraction), measured / predicted.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors, one_of, read_json, whole

# (label, tokens T, hidden h, ffn f, heads a, tp): shapes of layers the published-runs benchmark predicts
LAYERS = [
    ("gpt3-175b tp8 T2048", 2048, 12288, 49152, 96, 8),
    ("llama2-7b tp1 T4096", 4096, 4096, 11008 * 2, 32, 1),
    ("llama3-405b tp8 T8192", 8192, 16384, 53248 * 2, 128, 8),
    ("gpt-1.3b tp1 T8192", 8192, 2048, 8192, 16, 1),
]
SQUARES = [256, 512, 1024, 2048, 4096, 8192, 16384]
# (batch, sequence, heads, head dim, causal): b·s = 8192 and h·d = 2048 throughout. The first three (causal, d 128)
# are what --fit reads; d 64 and the unmasked one test the curve's head-dim and masking assumptions
ATTENTION = [
    (4, 2048, 16, 128, True),
    (2, 4096, 16, 128, True),
    (1, 8192, 16, 128, True),
    (4, 2048, 32, 64, True),
    (1, 8192, 32, 64, True),
    (2, 4096, 16, 128, False),
]


def layer_gemms(tokens: int, h: int, f: int, heads: int, tp: int) -> list[tuple[str, int, int, int]]:
    """(name, m, n, k) of a layer's four linear GEMMs, forward, data gradient and weight gradient."""
    del heads
    fwd = [("qkv", tokens, 3 * h // tp, h), ("proj", tokens, h, h // tp), ("fc1", tokens, f // tp, h),
           ("fc2", tokens, h, (f // 2 if f > 4 * h else f) // tp)]  # fmt: skip
    out = []
    for name, m, n, k in fwd:
        out.append((f"{name} fprop", m, n, k))
        out.append((f"{name} dgrad", m, k, n))
        out.append((f"{name} wgrad", k, n, m))
    return out


def measure(path: Path, reps: int, trials: int) -> None:
    import torch
    import torch.nn.functional as F

    assert torch.cuda.is_available(), "needs a CUDA GPU"
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False

    def timed(fn, n: int = reps) -> float:  # type: ignore[no-untyped-def]
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        samples = []
        for _ in range(trials):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / 1e3 / n)
        return statistics.median(samples)

    g = torch.Generator(device="cuda").manual_seed(0)
    items: list[dict[str, object]] = []

    def gemm(kind: str, label: str, m: int, n: int, k: int) -> None:
        a = torch.randn(m, k, device=dev, generator=g, dtype=torch.bfloat16)
        b = torch.randn(k, n, device=dev, generator=g, dtype=torch.bfloat16)
        if kind == "bf16":
            seconds = timed(lambda a=a, b=b: torch.matmul(a, b))
        else:
            a8 = a.to(torch.float8_e4m3fn)
            b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()  # column-major k x n, as cuBLASLt wants
            one = torch.ones((), device=dev, dtype=torch.float32)
            seconds = timed(lambda: torch._scaled_mm(a8, b8, one, one, out_dtype=torch.bfloat16))
        items.append({"kind": f"gemm_{kind}", "label": label, "m": m, "n": n, "k": k, "seconds": seconds,
                      "tflops": 2 * m * n * k / seconds / 1e12})  # fmt: skip
        print(f"{kind} {label} {m}x{n}x{k}: {seconds * 1e6:.1f} us {2 * m * n * k / seconds / 1e12:.1f} TFLOP/s",
              flush=True)  # fmt: skip

    for s in SQUARES:
        gemm("bf16", "square", s, s, s)
    for label, tokens, h, f, heads, tp in LAYERS:
        for name, m, n, k in layer_gemms(tokens, h, f, heads, tp):
            gemm("bf16", f"{label} {name}", m, n, k)
            try:
                gemm("fp8", f"{label} {name}", m, n, k)
            except Exception as exc:  # an FP8 failure is a finding, not a crash
                print(f"fp8 {label} {name}: {type(exc).__name__}: {exc}", flush=True)

    from torch.nn.attention import SDPBackend, sdpa_kernel

    for batch, seq, heads, d, causal in ATTENTION:
        q, k_, v = (torch.randn(batch, heads, seq, d, device=dev, dtype=torch.bfloat16, generator=g,
                                requires_grad=True) for _ in range(3))  # fmt: skip
        grad = torch.randn(batch, heads, seq, d, device=dev, dtype=torch.bfloat16, generator=g)
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    fwd = timed(
                        lambda q=q, k_=k_, v=v, causal=causal: F.scaled_dot_product_attention(
                            q, k_, v, is_causal=causal
                        ),
                        n=max(3, reps // 4),
                    )

                    def both(q=q, k_=k_, v=v, grad=grad, causal=causal) -> None:  # type: ignore[no-untyped-def]
                        out = F.scaled_dot_product_attention(q, k_, v, is_causal=causal)
                        torch.autograd.backward(out, grad)

                    fwd_bwd = timed(both, n=max(3, reps // 4))
            except Exception as exc:
                print(f"attention {name} b{batch} s{seq} d{d} causal={causal}: {type(exc).__name__}: {exc}", flush=True)
                continue
            flops_fwd = 4 * batch * heads * seq * seq * d / (2 if causal else 1)  # causal: half the blocks
            items.append({"kind": f"attention_{name}",
                          "label": f"b{batch} s{seq} h{heads} d{d} {'causal' if causal else 'unmasked'}",
                          "batch": batch, "seq": seq, "heads": heads, "head_dim": d, "causal": causal, "forward_s": fwd,
                          "backward_s": fwd_bwd - fwd, "forward_tflops": flops_fwd / fwd / 1e12,
                          "backward_tflops": 2.5 * flops_fwd / (fwd_bwd - fwd) / 1e12})  # fmt: skip
            print(
                f"attention {name} b{batch} s{seq} d{d} causal={causal}: fwd {fwd * 1e3:.3f} ms "
                f"({flops_fwd / fwd / 1e12:.0f} TFLOP/s), bwd {(fwd_bwd - fwd) * 1e3:.3f} ms",
                flush=True,
            )

    for mib in (256, 2048):
        x = torch.empty(mib * 2**20, dtype=torch.uint8, device=dev)
        y = torch.empty_like(x)
        seconds = timed(lambda x=x, y=y: y.copy_(x))
        items.append({"kind": "copy", "label": f"{mib} MiB", "bytes_moved": 2 * x.numel(), "seconds": seconds,
                      "bandwidth_Bps": 2 * x.numel() / seconds})  # fmt: skip
        print(f"copy {mib} MiB: {2 * x.numel() / seconds / 1e12:.2f} TB/s (read + write)", flush=True)

    props = torch.cuda.get_device_properties(0)
    doc = {"device": torch.cuda.get_device_name(0), "sm_count": props.multi_processor_count, "torch": torch.__version__,
           "cuda": torch.version.cuda, "reps": reps, "trials": trials, "items": items}  # fmt: skip
    path.write_text(json.dumps(doc, indent=1))
    print(f"wrote {path}")


def compare(path: Path, device_name: str) -> None:
    from dpsim.compute import attention_rate, gemm_time

    doc = read_json(path)
    device = _catalog_device(device_name)
    print(f"measured on {doc['device']} (torch {doc['torch']}, CUDA {doc['cuda']}), catalog device {device_name!r} "
          "with sustained_fraction 1 (idle kernels)")  # fmt: skip
    ratios: dict[str, list[float]] = {}
    print(f"{'item':<48}{'measured':>12}{'predicted':>12}{'meas/pred':>10}")
    for it in doc["items"]:
        kind = it["kind"]
        if kind.startswith("gemm_"):
            fp8 = kind == "gemm_fp8"
            peak = device.peak_for("fp8" if fp8 else "bf16")
            eff = device.matmul_efficiency_fp8 if fp8 else None
            predicted = gemm_time(it["m"], it["n"], it["k"], 1, peak, device, 1.0 if fp8 else 2.0, eff)
            measured = it["seconds"]
            name = f"{kind[5:]} {it['label']} {it['m']}x{it['n']}x{it['k']}"
            group = f"{kind} {'square' if it['label'] == 'square' else 'layer'}"
        elif kind.startswith("attention_"):
            causal = it.get("causal", True)
            kernel = "fa2" if kind == "attention_flash" else "device"
            fwd_eff, bwd_eff = attention_rate(device, kernel, it["seq"], causal)
            flops = 4 * it["batch"] * it["heads"] * it["seq"] ** 2 * it["head_dim"] / (2 if causal else 1)
            for phase, eff, factor in (("forward", fwd_eff, 1.0), ("backward", bwd_eff, 2.5)):
                predicted = factor * flops / (device.peak_flops * eff)
                measured = factor * flops / (attention_tflops(doc, it, phase) * 1e12)
                name = f"{kind[10:]} {phase} {it['label']}"
                shape = "" if causal and it["head_dim"] == 128 else f" d{it['head_dim']}{'' if causal else ' unmasked'}"
                ratios.setdefault(f"{kind} {phase}{shape}", []).append(measured / predicted)
                print(f"{name:<48}{measured * 1e3:>10.3f}ms{predicted * 1e3:>10.3f}ms{measured / predicted:>10.3f}")
            continue
        else:
            predicted = it["bytes_moved"] / (device.memory_bandwidth * device.memory_efficiency)
            measured = it["seconds"]
            name = f"copy {it['label']}"
            group = "copy"
        ratios.setdefault(group, []).append(measured / predicted)
        print(f"{name:<48}{measured * 1e6:>10.1f}us{predicted * 1e6:>10.1f}us{measured / predicted:>10.3f}")
    print("\nmedian measured/predicted per group (1 = the catalog's curve; > 1 = the device is slower):")
    for group, values in ratios.items():
        print(f"  {group:<28} median {statistics.median(values):.3f}  range {min(values):.3f}-{max(values):.3f}  "
              f"({len(values)} items)")  # fmt: skip


def _catalog_device(device_name: str):  # type: ignore[no-untyped-def]
    from dpsim.scenario import load_scenario

    scenario = load_scenario(None, [f"cluster.device={device_name}"])
    return scenario.cluster.device.model_copy(update={"sustained_fraction": 1.0})


def gemm_clock(doc: dict[str, Any], device_name: str = "h200") -> float:
    """The GPU's pace against the catalog's curve: the median of measured / predicted over the bf16 layer GEMMs
    (1.171 on the 2026-12-04 H200: its clocks under a long GEMM, the same for every kernel on that GPU)."""
    from dpsim.compute import gemm_time

    device = _catalog_device(device_name)
    ratios = [
        it["seconds"] / gemm_time(it["m"], it["n"], it["k"], 1, device.peak_flops, device, 2.0)
        for it in doc["items"]
        if it["kind"] == "gemm_bf16" and it["label"] != "square"
    ]
    return statistics.median(ratios)


def attention_tflops(doc: dict[str, Any], item: dict[str, Any], phase: str) -> float:
    """The attention kernels' own rate in one measured item, TFLOP/s: ``--measure`` times the backward as
    forward + backward less the forward, which includes autograd accumulating the gradients into the leaf q, k
    and v (``q.grad += dq`` from the second call on: 3 tensors, read 2 and write 1 element each, at the copy
    bandwidth measured in the same file, 71 us at 8192 tokens x 16 x 128). In training q, k and v are no leaves;
    the kernels' own pre- and post-passes (cuDNN's dot(dO, O) and its dQ conversion, 38 and 31 us in the H200's
    profiler trace at b4 s2048) stay in."""
    flops = (
        4.0
        * item["batch"]
        * item["heads"]
        * item["seq"] ** 2
        * item["head_dim"]
        / (2 if item.get("causal", True) else 1)
    )
    if phase == "forward":
        return flops / item["forward_s"] / 1e12
    bandwidth = max(it["bandwidth_Bps"] for it in doc["items"] if it["kind"] == "copy")
    elements = item["batch"] * item["heads"] * item["seq"] * item["head_dim"]
    accumulate = 3 * 3 * 2 * elements / bandwidth
    return 2.5 * flops / (item["backward_s"] - accumulate) / 1e12


def fit_attention(doc: dict[str, Any], kind: str, phase: str, clock: float, peak: float) -> tuple[float, float]:
    """(e, s½) of efficiency(s) = e·s/(s + s½) (:func:`dpsim.compute.attention_rate`, causal) through the measured
    causal rates of one kernel (``attention_flash`` or ``attention_cudnn``) and ``phase`` (``forward`` /
    ``backward``), each rate times ``clock`` (:func:`gemm_clock`) over ``peak``: least squares in log(rate) over
    s½ on a 1-token grid (e is then the geometric mean of rate·(s + s½)/s)."""
    points = [(float(it["seq"]), attention_tflops(doc, it, phase) * 1e12 * clock / peak) for it in doc["items"]
              if it["kind"] == kind and it.get("causal", True) and it["head_dim"] == 128]  # fmt: skip
    best: tuple[float, float, float] | None = None
    for half in range(0, 20001):
        logs = [math.log(rate * (s + half) / s) for s, rate in points]
        mean = sum(logs) / len(logs)
        spread = sum((x - mean) ** 2 for x in logs)
        if best is None or spread < best[0]:
            best = (spread, math.exp(mean), float(half))
    assert best is not None
    return best[1], best[2]


def fit(path: Path, device_name: str) -> None:
    """The catalog's Hopper attention curves from a measurement (what dpsim.catalog's _HOPPER_SUSTAINED holds)."""
    doc = read_json(path)
    clock = gemm_clock(doc, device_name)
    peak = _catalog_device(device_name).peak_flops
    print(f"bf16 layer GEMMs at {clock:.3f} x the catalog's time: attention rates scaled by it to the catalog's clocks")
    for kind, field in (("attention_cudnn", "attention_efficiency"), ("attention_flash", "attention_efficiency_fa2")):
        for phase in ("forward", "backward"):
            e, half = fit_attention(doc, kind, phase, clock, peak)
            print(f"  {kind:<16} {phase:<9} {field:<25} {e:.3f}  half at s = {half:.0f}")


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=Path, help="write measurements here (needs a CUDA GPU)")
    parser.add_argument("--compare", type=Path, help="compare these measurements with the catalog")
    parser.add_argument("--fit", type=Path, help="fit the attention curves (efficiency, half-rate sequence) to these")
    parser.add_argument("--device", default=None, help="catalog device to compare with (default h200)")
    parser.add_argument("--reps", type=whole(1, 100_000), default=None, help="with --measure: launches a trial (20)")
    parser.add_argument("--trials", type=whole(1, 1000), default=None, help="with --measure: trials (median; 5)")
    args = parser.parse_args()
    if not (args.measure or args.compare or args.fit):
        parser.error("give --measure OUT.json, --compare IN.json and/or --fit IN.json")
    # round 27: every problem below was a traceback (an AssertionError without a GPU, once the file's folder was
    # given; FileNotFoundError, JSONDecodeError; a ScenarioError for an unknown --device, a ValueError for one
    # without the FP8 peak the measurements need), and --reps / --trials without --measure were dropped silently
    for option, value in (("--reps", args.reps), ("--trials", args.trials)):
        if value is not None and not args.measure:
            raise ScriptError(f"{option}: only with --measure (it sets how the kernels are timed)")
    if args.device is not None and not (args.compare or args.fit):
        raise ScriptError("--device: only with --compare or --fit (the catalog device the measurements are set beside)")
    from dpsim.catalog import DEVICES

    device = args.device or "h200"
    one_of("--device", device, sorted(DEVICES))
    if args.measure:
        import torch

        if not torch.cuda.is_available():
            raise ScriptError("--measure: needs a CUDA GPU (torch sees none here)")
        if not args.measure.parent.is_dir() or args.measure.is_dir():
            raise ScriptError(f"--measure: {args.measure}: expected a file in an existing folder")
        measure(args.measure, args.reps or 20, args.trials or 5)
    for option, path, action in (("--compare", args.compare, compare), ("--fit", args.fit, fit)):
        if path:
            try:
                doc = read_json(path)
            except ScriptError as exc:
                raise ScriptError(f"{option}: {exc}") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
                raise ScriptError(f"{option}: {path}: expected the JSON --measure writes (an object with its items)")
            fp8 = sorted(n for n, d in DEVICES.items() if d.peak_flops_fp8)
            if device not in fp8 and any(isinstance(it, dict) and it.get("kind") == "gemm_fp8" for it in doc["items"]):
                raise ScriptError(f"--device: {device} has no FP8 peak; {path} holds FP8 GEMMs (one of "
                                  f"{', '.join(fp8)})")  # before a line is printed  # fmt: skip
            try:
                action(path, device)
            except ScriptError:
                raise
            except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as exc:
                what = f"no field {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())[:200]
                raise ScriptError(f"{option}: {path} beside --device {device}: {what}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
