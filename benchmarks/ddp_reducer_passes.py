"""What PyTorch DDP's reducer adds to a micro-batch on the CPU, as the runtime trains and as the calibration times it.

Issue 10's stored validations show the ranks' own CPU time over compute (``extra.per_rank_compute_cpu_s``)
above what the profile prices alone by 19–60 % without accumulation and below it (0.90) with accumulation 8.
The calibration times every backward through one-rank DDP with the gradients as bucket views and no hook
(``runtime.calibrate._ddp_timer``); the runtime trains with the scenario's ``gradient_as_bucket_view`` (false
by default) and all micro-batches but the last under ``no_sync``. This script times, on one thread and one
process (a one-rank gloo group), the thread's CPU (``time.thread_time``) of each kind of micro-batch of a
``--layers`` × ``--hidden`` MLP at ``--micro-batch`` samples, split where the last parameter's gradient is
accumulated (a post-accumulate hook, as ``runtime.hooks.LastGradient``: the runtime's compute ends there):

- ``no_sync``: the reducer does nothing (``Reducer::autograd_hook`` returns at once);
- ``sync, views``: ``mark_variable_ready_dense`` divides each gradient in place (``bucket_view.div_``), the
  calibration's case;
- ``sync, copies``: it writes each gradient into its bucket (``at::mul_out``) and ``finalize_backward`` copies
  every bucket back (``grad.copy_``), the runtime's default;

each after ``optimizer.step()`` and ``zero_grad(set_to_none=False)`` as a training step runs them, medians over
``--steps`` steps; and the pass dpsim prices for the in-place division (``2·G / (3·rate)``, the rate
``runtime.calibrate.measure_reduction``'s, :func:`dpsim.analytic.step.no_sync_backward_saving`). CPU time,
not wall time: it holds on a host other work shares. About 10 s.

    python benchmarks/ddp_reducer_passes.py [--layers 4] [--hidden 768] [--micro-batch 32] [--steps 40]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors, whole

KINDS = ("no_sync", "sync, views", "sync, copies")


def time_kinds(layers: int, hidden: int, micro_batch: int, steps: int) -> dict[str, tuple[float, float, float]]:
    """Per kind: median CPU seconds of (forward, backward to the last gradient accumulated, the rest of backward)."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from runtime.aggregation import NO_BUFFER_SYNC

    torch.set_num_threads(1)
    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(micro_batch, hidden, generator=generator), torch.randn(micro_batch, hidden, generator=generator)
    out: dict[str, tuple[float, float, float]] = {}
    for views in (True, False):
        torch.manual_seed(0)
        model = torch.nn.Sequential(*[torch.nn.Linear(hidden, hidden) for _ in range(layers)])
        ddp: Any = DistributedDataParallel(model, gradient_as_bucket_view=views, **NO_BUFFER_SYNC)
        optimizer = torch.optim.Adam(model.parameters())
        params = list(model.parameters())
        state: dict[str, Any] = {"left": 0, "ready": 0.0}

        def accumulated(_: Any, state: dict[str, Any] = state) -> None:
            state["left"] -= 1
            if state["left"] == 0:
                state["ready"] = time.thread_time()

        handles = [p.register_post_accumulate_grad_hook(accumulated) for p in params]
        rows: dict[str, list[tuple[float, float, float]]] = {"no_sync": [], "sync": []}
        for step in range(steps + 5):
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
            for kind in ("no_sync", "sync"):
                state["left"] = len(params)
                with ddp.no_sync() if kind == "no_sync" else torch.enable_grad():
                    c0 = time.thread_time()
                    loss = torch.nn.functional.mse_loss(ddp(x), y)
                    c1 = time.thread_time()
                    loss.backward()
                    c2 = time.thread_time()
                if step >= 5:  # DDP rebuilds its buckets after the first synchronising backward
                    rows[kind].append((c1 - c0, state["ready"] - c1, c2 - state["ready"]))
        for handle in handles:
            handle.remove()
        for kind, timed in rows.items():
            name = kind if kind == "no_sync" else f"sync, {'views' if views else 'copies'}"
            if name == "no_sync" and views:
                continue  # the reducer does nothing under no_sync: timed once, with the copies' DDP
            out[name] = tuple(statistics.median(r[i] for r in timed) for i in range(3))  # type: ignore[assignment]
    return out


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    # round 27: int() took '1_0' and '１', and no top: --hidden 1000000 asked for a 4 TB model
    p.add_argument("--layers", type=whole(1, 1000), default=4)
    p.add_argument("--hidden", type=whole(1, 16384), default=768)
    p.add_argument("--micro-batch", type=whole(1, 65536), default=32)
    p.add_argument("--steps", type=whole(1, 100_000), default=40)
    args = p.parse_args()
    if (weights := args.layers * (args.hidden * args.hidden + args.hidden) * 4) > 1 << 31:
        raise ScriptError(f"--layers and --hidden: {args.layers} x {args.hidden} is {weights / 2**30:.1f} GiB of fp32 "
                          "weights (two DDP copies and their gradients); at most 2 GiB")  # fmt: skip
    from runtime.calibrate import measure_reduction

    kinds = time_kinds(args.layers, args.hidden, args.micro_batch, args.steps)
    gradient = args.layers * (args.hidden * args.hidden + args.hidden) * 4
    rate = measure_reduction()
    print(f"# {args.layers} x {args.hidden} MLP, micro-batch {args.micro_batch}, {gradient / 1e6:.2f} MB of fp32 "
          f"gradient; CPU ms of one thread, medians over {args.steps} steps")  # fmt: skip
    print(f"{'micro-batch':14s} {'forward':>8s} {'to last gradient':>17s} {'rest of backward':>17s}")
    for name in KINDS:
        f, b, rest = kinds[name]
        print(f"{name:14s} {1e3 * f:8.3f} {1e3 * b:17.3f} {1e3 * rest:17.3f}")
    base = kinds["no_sync"][1]
    print(f"reducer's pass to the last gradient over no_sync: views {1e3 * (kinds['sync, views'][1] - base):.3f} ms, "
          f"copies {1e3 * (kinds['sync, copies'][1] - base):.3f} ms; after it (finalize_backward): views "
          f"{1e3 * kinds['sync, views'][2]:.3f}, copies {1e3 * kinds['sync, copies'][2]:.3f} ms")  # fmt: skip
    print(f"element-wise rate {rate / 1e9:.2f} GB/s: the in-place division priced 2·G/(3·rate) = "
          f"{1e3 * 2 * gradient / (3 * rate):.3f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
