"""Measured vs predicted, term by term, for the runtime's single-H200 steps of 2026-12-04.

Run: ``python benchmarks/gpu_step_check.py [DIR]`` (default ``benchmarks/results/gpu-h200-2026-12-04``; CPU only,
deterministic). ``DIR`` holds what one H200 measured (``commands.txt`` there says how): ``steps.jsonl`` (the
runtime's step records at micro-batch 4 and 8), ``trace.json.gz`` (a torch profiler trace of one micro-batch-4
step, every CUDA kernel with the aten op that launched it), ``gemm-bf16.yaml`` (``dpsim calibrate --compute`` on
the same machine) and ``scenario.yaml`` (the scenario the runs were launched with).

1. **Kernels by term.** Every kernel of the traced step is put in one term by the op that launched it and the
   autograd node or annotation it ran under (:func:`classify`): GEMMs, attention, LayerNorm, activation, loss,
   autocast's casts (weights and their gradients; activations), ``AccumulateGrad``'s adds, DDP's bucket passes,
   the optimizer, ``zero_grad``, the rest. Each term is set beside dpsim's price of the same kernels
   (:func:`dpsim.compute.layer_kernels` and the head's, :func:`dpsim.analytic.step.optimizer_seconds`,
   :func:`dpsim.analytic.step.ddp_bucket_copies`), once with
   the catalog as it is (``sustained_fraction`` 0.71) and once at the idle kernel rates (1.0).
2. **Step terms.** Forward + backward, optimizer, peak memory and step time measured (median of 10 steps) vs
   ``dpsim run`` with the catalog H200 and with the GEMM curve measured on the machine (gemm-bf16.yaml merged into
   ``cluster.device``: a held-out test, the steps were not used to fit it), for the scenario as launched and for
   the scenario that says what the runtime runs (``RUNTIME_FIELDS``).
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from dpsim.analytic.step import ddp_bucket_copies, optimizer_seconds, predict
from dpsim.compute import (
    AUTOCAST_CAST_BYTES_PER_PARAM,
    Kernel,
    _embedding_kernels,
    _head_kernels,
    autocast_cast_seconds,
    autocast_norm_bytes,
    layer_kernels,
)
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors

DEFAULT_DIR = Path(__file__).resolve().parent / "results" / "gpu-h200-2026-12-04"

RUNTIME_FIELDS = (
    # F.cross_entropy over the logits, under autocast on its fp32 list (the launched scenario said so already)
    "model.loss_kernel=torch_fp32",
    # torch 2.11's SDPA ran cuDNN's sm90 flash kernels (cudnn_generated_fort_native_sdpa_sm90_flash_*), not FA2
    "model.attention_kernel=device",
    # nn.LayerNorm is one kernel forward and one backward (native_layer_norm), not the op-by-op eager RMSNorm
    "model.elementwise=fused",
    # torch.optim.Adam's default on CUDA: the multi-tensor (foreach) update, 7 ops a parameter list
    "training.optimizer_kernels=foreach",
    # torch.autocast over the fp32 model (runtime/precision.py): weight casts, fp32 norms, fp32 gradients
    "training.autocast=true",
    # runtime/job.py wraps the model in DDP at one rank too: its reducer's buckets and passes (the trace's
    # reducer kernels, 4.4 ms; 2.85 GB of fp32 bucket copy)
    "training.ddp_at_one_rank=true",
)
"""What the runtime's model and optimizer run that the launched scenario described otherwise (the trace shows it)."""

TERMS = (
    "gemm",
    "attention",
    "layernorm",
    "activation",
    "loss",
    "weight_cast",
    "activation_cast",
    "grad_accumulation",
    "ddp_buckets",
    "other",
    "optimizer",
    "zero_grad",
)

_DPSIM_TERM = {
    "qkv": "gemm",
    "attention_out": "gemm",
    "mlp_up": "gemm",
    "mlp_down": "gemm",
    "logits": "gemm",
    "flash_attention": "attention",
    "layernorms": "layernorm",
    "final_norm": "layernorm",
    "mlp_activation": "activation",
    "cross_entropy": "loss",
    "residual_adds": "other",
    "embedding": "other",
}


def _load_trace(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as f:
        events: list[dict[str, Any]] = json.load(f)["traceEvents"]
    return events


def _enclosing(events: Iterable[dict[str, Any]]) -> dict[int, list[str]]:
    """Each CPU op's chain of enclosing CPU ops and annotations on its thread (outermost first), by external id."""
    by_thread: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.get("cat") in ("cpu_op", "user_annotation") and e.get("ph") == "X":
            by_thread[e["tid"]].append(e)
    chains: dict[int, list[str]] = {}
    for ops in by_thread.values():
        ops.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[dict[str, Any]] = []
        for op in ops:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= op["ts"]:
                stack.pop()
            chain = [o["name"] for o in stack] + [op["name"]]
            ext = op.get("args", {}).get("External id")
            # the innermost op of an external id launches its kernels
            if ext is not None and op["cat"] == "cpu_op" and (ext not in chains or len(chain) > len(chains[ext])):
                chains[ext] = chain
            stack.append(op)
    return chains


def _shapes(events: Iterable[dict[str, Any]]) -> dict[int, tuple[Any, Any]]:
    out: dict[int, tuple[Any, Any]] = {}
    for e in events:
        if e.get("cat") == "cpu_op":
            args = e.get("args", {})
            ext = args.get("External id")
            if ext is not None and (ext not in out or e["dur"] < out[ext][2]):
                out[ext] = (args.get("Input Dims"), args.get("Input type"), e["dur"])  # type: ignore[assignment]
    return {k: (v[0], v[1]) for k, v in out.items()}


def classify(kernel: str, chain: list[str], dims: Any, types: Any, parameter_shapes: set[tuple[int, ...]]) -> str:
    """The term a kernel belongs to, from the op that launched it and what that op ran under."""
    op = chain[-1] if chain else "?"
    under = " ".join(chain)
    if "Optimizer.step" in under:
        return "optimizer"
    if "Optimizer.zero_grad" in under:
        return "zero_grad"
    if "reducer" in under:  # copy_bucket_to_grad: DDP's copies back after the all-reduce
        return "ddp_buckets"
    if "AccumulateGrad" in under:
        # grad += new into the kept param.grad; DDP's post-hook copies the gradient into its bucket in the same
        # autograd node (and the runtime's communication hook scaled the bucket, in the 2026-12-04 traces)
        return "grad_accumulation" if op == "aten::add_" else "ddp_buckets"
    if op in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"):
        return "gemm"
    if "attention" in op or "ScaledDotProduct" in under:
        return "attention"
    if op.startswith("aten::native_layer_norm"):
        return "layernorm"
    if op in ("aten::gelu", "aten::gelu_backward", "aten::silu", "aten::silu_backward"):
        return "activation"
    if any(x in under for x in ("cross_entropy", "LogSoftmaxBackward", "NllLossBackward", "log_softmax")):
        return "loss"
    if op == "aten::copy_" and isinstance(types, list) and len(types) >= 2 and types[0] != types[1]:
        shape = tuple(dims[0]) if isinstance(dims, list) and dims and isinstance(dims[0], list) else ()
        if shape and shape[-1] >= 50000 and len(shape) == 2 and shape[0] not in (shape[-1],):
            pass
        if shape in parameter_shapes:
            return "weight_cast"
        if "ToCopyBackward" in under and len(shape) == 2 and max(shape) > 40000:
            return "loss"  # the logits' gradient cast back to bf16
        return "activation_cast"
    return "other"


def parameter_shapes(scenario: Scenario) -> set[tuple[int, ...]]:
    """Shapes of the runtime GPT's parameters (fused QKV block, tied embedding, learned positions)."""
    m = scenario.model
    h, f = m.hidden, m.ffn_hidden or 4 * m.hidden
    return {(3 * h, h), (h, h), (f, h), (h, f), (m.vocab, h), (m.seq_len, h), (3 * h,), (h,), (f,)}


def measured_terms(trace: Path, scenario: Scenario) -> tuple[dict[str, float], dict[str, float]]:
    """Kernel seconds per term of the traced step, and per (term, op) for the detail."""
    events = _load_trace(trace)
    chains = _enclosing(events)
    shapes = _shapes(events)
    params = parameter_shapes(scenario)
    terms: dict[str, float] = defaultdict(float)
    detail: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        ext = e.get("args", {}).get("External id")
        chain = chains.get(ext, ["?"])
        dims, types = shapes.get(ext, (None, None))
        term = classify(e["name"], chain, dims, types, params)
        terms[term] += e["dur"] * 1e-6
        node = next((c for c in reversed(chain) if c.startswith("autograd::engine")), "")
        node = node.replace("autograd::engine::evaluate_function: ", "")
        detail[f"{term}: {chain[-1]} {node}".strip()] += e["dur"] * 1e-6
    return dict(terms), dict(detail)


def predicted_terms(scenario: Scenario, sustained: float | None = None) -> dict[str, float]:
    """dpsim's kernel seconds per term for one micro-batch and the optimizer step (``sustained``: override the
    device's sustained_fraction)."""
    device = scenario.cluster.device
    if sustained is not None:
        device = device.model_copy(update={"sustained_fraction": sustained})
    m, t = scenario.model, scenario.training
    layer = layer_kernels(m, device, t.precision, t.micro_batch, autocast=t.autocast)
    kernels: list[tuple[Kernel, float]] = [(k, m.layers) for k in layer]
    kernels += [(k, 1.0) for k in _head_kernels(m, device, t.precision, t.micro_batch, 1, t.autocast)]
    kernels += [(k, 1.0) for k in _embedding_kernels(m, device, t.precision, t.micro_batch)]
    terms: dict[str, float] = defaultdict(float)
    for k, count in kernels:
        term = _DPSIM_TERM.get(k.name.split(".")[0], "other")
        if term == "layernorm" and t.autocast:  # autocast_norm_bytes: the norm at fp32 and the casts around it
            norm = autocast_norm_bytes(m.elementwise, m.norm_kernel)[0 if k.phase == "forward" else 1]
            terms["activation_cast"] += k.seconds * count * AUTOCAST_CAST_BYTES_PER_PARAM / norm
            terms[term] += k.seconds * count * (1.0 - AUTOCAST_CAST_BYTES_PER_PARAM / norm)
        else:
            terms[term] += k.seconds * count
    patched = scenario.model_copy(update={"cluster": scenario.cluster.model_copy(update={"device": device})})
    terms["weight_cast"] = 2.0 * autocast_cast_seconds(patched)[0]
    terms["optimizer"] = optimizer_seconds(patched, m.num_parameters)
    # DDP's passes into its buckets and back (one micro-batch: the synchronising one)
    copies = ddp_bucket_copies(patched, m.num_parameters * scenario.gradient_bytes_per_param, 0.0, False)
    terms["ddp_buckets"] = copies.in_backward_s + copies.back_s
    return dict(terms)


def measured_steps(path: Path) -> dict[int, dict[str, float]]:
    """Per micro-batch: forward + backward, optimizer, step and peak memory as the runtime reported them."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        x = r["extra"]
        out[int(r["global_batch"])] = {
            "compute_s": r["compute_s"],
            "forward_s": x["forward_s"],
            "backward_s": x["backward_s"],
            "optimizer_s": r["optimizer_s"],
            "step_s": r["step_time_s"],
            "memory_bytes": x["memory_measured_bytes"],
        }
    return out


def _calibrated(directory: Path) -> list[tuple[str, Any]]:
    fit = yaml.safe_load((directory / "gemm-bf16.yaml").read_text())
    device = fit["cluster"]["device"]
    return [(f"cluster.device.{k}", v) for k, v in device.items()]


def predicted_step(scenario_path: Path, micro_batch: int, extra: Iterable[Any] = ()) -> dict[str, float]:
    overrides: list[Any] = [f"training.micro_batch={micro_batch}", f"training.global_batch={micro_batch}", *extra]
    return _step_terms(load_scenario(scenario_path, overrides))


def _step_terms(scenario: Scenario) -> dict[str, float]:
    r = predict(scenario)
    return {
        "compute_s": r.compute_s,
        "forward_s": float(r.extra["forward_s"]),
        "backward_s": float(r.extra["backward_s"]),
        "optimizer_s": r.optimizer_s,
        "step_s": r.step_time_s,
        "memory_bytes": r.memory_per_device_bytes,
    }


def runtime_fields(precision: str) -> list[str]:
    """:data:`RUNTIME_FIELDS` for a run at ``precision``: fp32 runs without autocast, with TF32 off (torch's default,
    which the runtime of 2026-12-04 left as it was, and dpsim's default since)."""
    if precision in ("bf16", "fp16"):
        return list(RUNTIME_FIELDS)
    return [f for f in RUNTIME_FIELDS if f != "training.autocast=true"] + ["training.fp32_matmul=ieee"]


def heldout(directory: Path = DEFAULT_DIR / "heldout") -> dict[str, dict[str, Any]]:
    """The held-out configurations (``heldout-<x>.yaml`` and the runtime's ``steps-<x>.jsonl``), measured vs
    predicted with the runtime fields, catalog and calibrated (the GEMM fit of the parent directory)."""
    out: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return out
    calibrated = _calibrated(directory.parent)
    for path in sorted(directory.glob("heldout-*.yaml")):
        tag = path.stem.removeprefix("heldout-")
        steps = directory / f"steps-{tag}.jsonl"
        if not steps.is_file() or not steps.read_text().strip():
            continue
        measured = measured_steps(steps)
        ((batch, meas),) = measured.items()
        scenario = load_scenario(path)
        fields = runtime_fields(scenario.training.precision)
        out[tag] = {"name": scenario.name, "measured": meas, "predicted": {}}
        variants: list[tuple[str, list[str]]] = [
            ("as launched", []),
            ("runtime fields", fields),
            ("calibrated", [*fields, *calibrated]),
        ]
        if scenario.training.precision == "fp32":  # what dpsim priced before PyTorch's default became its own
            variants.append(("TF32 assumed", [*fields, "training.fp32_matmul=tf32"]))
        for label, extra in variants:
            out[tag]["predicted"][label] = _step_terms(load_scenario(path, extra))
        del batch
    return out


def check(directory: Path = DEFAULT_DIR) -> dict[str, Any]:
    """Everything the report prints, as numbers (the test reads them)."""
    scenario_path = directory / "scenario.yaml"
    measured = measured_steps(directory / "steps.jsonl")
    described = load_scenario(
        scenario_path, [*runtime_fields("bf16"), "training.micro_batch=4", "training.global_batch=4"]
    )
    kernels, detail = measured_terms(directory / "trace.json.gz", described)
    calibrated = _calibrated(directory)
    steps: dict[str, dict[int, dict[str, float]]] = {}
    for label, extra in (
        ("as launched, catalog", []),
        ("as launched, calibrated", calibrated),
        ("runtime fields, catalog", runtime_fields("bf16")),
        ("runtime fields, calibrated", [*runtime_fields("bf16"), *calibrated]),
    ):
        steps[label] = {mb: predicted_step(scenario_path, mb, extra) for mb in sorted(measured)}
    return {
        "kernels": kernels,
        "detail": detail,
        "predicted_kernels": predicted_terms(described),
        "predicted_kernels_idle": predicted_terms(described, sustained=1.0),
        "measured": measured,
        "predicted": steps,
        "heldout": heldout(directory / "heldout"),
        "heldout_kernels": _heldout_kernels(directory / "heldout"),
    }


def _heldout_kernels(directory: Path) -> dict[str, dict[str, float]]:
    """The held-out trace (``trace-a.json.gz`` of ``heldout-a.yaml``) by term: measured, dpsim, idle."""
    trace, path = directory / "trace-a.json.gz", directory / "heldout-a.yaml"
    if not trace.is_file() or not path.is_file():
        return {}
    scenario = load_scenario(path, runtime_fields("bf16"))
    return {
        "measured": measured_terms(trace, scenario)[0],
        "dpsim": predicted_terms(scenario),
        "idle": predicted_terms(scenario, sustained=1.0),
    }


def _pct(predicted: float, measured: float) -> str:
    return f"{100.0 * (predicted / measured - 1.0):+6.1f} %" if measured else "   n/a"


def report(result: dict[str, Any]) -> str:
    lines = ["Kernel time of the traced micro-batch-4 step by term, ms (dpsim: the same kernels priced)", ""]
    k, p, idle = result["kernels"], result["predicted_kernels"], result["predicted_kernels_idle"]
    lines.append(f"{'term':20s} {'measured':>9s} {'dpsim':>9s} {'idle':>9s}")
    for term in TERMS:
        lines.append(
            f"{term:20s} {1e3 * k.get(term, 0.0):9.2f} {1e3 * p.get(term, 0.0):9.2f} {1e3 * idle.get(term, 0.0):9.2f}"
        )
    totals = [1e3 * math.fsum(x.values()) for x in (k, p, idle)]
    lines.append(f"{'all kernels':20s} {totals[0]:9.2f} {totals[1]:9.2f} {totals[2]:9.2f}")
    lines += ["", "dpsim: catalog H200 (sustained_fraction 0.71); idle: the same at 1.0. Largest ops per term, ms:"]
    for name, seconds in sorted(result["detail"].items(), key=lambda kv: -kv[1])[:28]:
        lines.append(f"  {1e3 * seconds:7.2f}  {name}")
    lines += ["", "Step terms, measured (median of 10 steps) vs dpsim run (analytic)", ""]
    header = f"{'prediction':28s} {'mb':>3s} {'term':12s} {'measured':>10s} {'predicted':>10s} {'error':>9s}"
    lines.append(header)
    for label, per_mb in result["predicted"].items():
        for mb, pred in per_mb.items():
            meas = result["measured"][mb]
            for term in ("compute_s", "forward_s", "backward_s", "optimizer_s", "memory_bytes", "step_s"):
                scale, unit = (1e-9, "GB") if term == "memory_bytes" else (1e3, "ms")
                lines.append(
                    f"{label:28s} {mb:3d} {term:12s} {meas[term] * scale:8.2f}{unit} {pred[term] * scale:8.2f}{unit} "
                    f"{_pct(pred[term], meas[term])}"
                )
    if result["heldout_kernels"]:
        h = result["heldout_kernels"]
        lines += ["", "Held-out trace (heldout-a: 24 x 1024, s 1024, micro-batch 16), kernel ms by term", ""]
        lines.append(f"{'term':20s} {'measured':>9s} {'dpsim':>9s} {'idle':>9s}")
        for term in TERMS:
            row = " ".join(f"{1e3 * h[c].get(term, 0.0):9.2f}" for c in ("measured", "dpsim", "idle"))
            lines.append(f"{term:20s} {row}")
        row = " ".join(f"{1e3 * math.fsum(h[c].values()):9.2f}" for c in ("measured", "dpsim", "idle"))
        lines.append(f"{'all kernels':20s} {row}")
    if result["heldout"]:
        lines += ["", "Held out (configurations run after the mechanisms were found), measured vs predicted", ""]
        lines.append(
            f"{'configuration':42s} {'term':12s} {'measured':>10s} {'as launched':>12s} {'runtime':>9s} {'calibr.':>9s}"
            f" {'TF32':>9s}"
        )
        for entry in result["heldout"].values():
            meas = entry["measured"]
            for term in ("compute_s", "optimizer_s", "memory_bytes", "step_s"):
                scale, unit = (1e-9, "GB") if term == "memory_bytes" else (1e3, "ms")
                errors = " ".join(f"{_pct(p[term], meas[term]):>9s}" for p in entry["predicted"].values())
                lines.append(f"{entry['name'][:42]:42s} {term:12s} {meas[term] * scale:8.2f}{unit} {errors}")
    return "\n".join(lines)


MEASURED_FILES = ("steps.jsonl", "trace.json.gz", "gemm-bf16.yaml", "scenario.yaml")
"""What ``DIR`` must hold (the module's docstring)."""


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    return int(one_line_errors(lambda: _main(args.directory))())


def _main(directory: Path) -> int:
    """Round 27: a ``DIR`` that is missing, a file, or holds another folder's files was a ``FileNotFoundError`` /
    ``NotADirectoryError`` traceback, a damaged file another: one line naming ``DIR`` now, before any line printed."""
    if missing := [name for name in MEASURED_FILES if not (directory / name).is_file()]:
        raise ScriptError(f"DIR: {directory}: no {', '.join(missing)} (expected a folder of the runtime's GPU steps, "
                          f"as {DEFAULT_DIR.name} holds)")  # fmt: skip
    try:
        text = report(check(directory))
    except ScenarioError:  # a scenario.yaml that does not load: its own one line
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, yaml.YAMLError) as exc:
        what = f"no field {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())[:200]
        raise ScriptError(f"DIR: {directory}: not the runtime's GPU steps as {DEFAULT_DIR.name} holds them "
                          f"({what})") from None  # fmt: skip
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
