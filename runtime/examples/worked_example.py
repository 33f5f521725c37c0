"""The seed document's worked example (§4.3), run by two real ``torch.distributed`` workers.

Four samples ``x = 1, 2, 3, 4`` with ``y = 2x``, model ``f(x) = w·x``, loss
``L(z, y) = (z − y)²``, ``w = 1``, ``η = 0.1``, two workers: worker 1 gets ``x = 1, 2``,
worker 2 gets ``x = 3, 4`` (a contiguous split, :func:`dpsim.partition.partition`). Each
worker computes its loss and gradient with autograd, the gradients are all-reduced over
gloo with the weights ``Mₙ/M`` (§4.2; here ``1/2`` each, the plain mean), and both
workers apply ``w ← w − η·∇ℓ``. The loop runs until ``w`` stops changing.

Corrections to the document. Its worker-2 figures (loss 13, gradient −14, mean −12,
``w = 2.2``) are wrong. With ``x = 3, 4``: ``z = 3, 4``, ``y = 6, 8``.

* ``--loss sum`` (the document's per-worker loss ``ℓₙ = Σ (zᵢ − yᵢ)²``): worker 1 has
  loss 5 and gradient −10, worker 2 loss ``9 + 16 = 25`` and gradient
  ``2(3−6)·3 + 2(4−8)·4 = −50``; the mean gradient is −30 and ``w = 1 + 3 = 4.0``. The
  aggregated gradient is ``30(w − 2)``, so the error ``e = w − 2`` obeys
  ``e ← (1 − 0.1·30)·e = −2e``: with η = 0.1 this iteration **diverges**.
* ``--loss mean`` (default; the per-worker mean ``ℓₙ = (1/Mₙ) Σ (zᵢ − yᵢ)²``, matching
  the §4.1 objective ``(1/M) Σ L``): losses 2.5 and 12.5, gradients −5 and −25, mean
  −15, ``w = 2.5``. The aggregated gradient is ``15(w − 2)``, so ``e ← −0.5·e`` and
  ``w`` **converges** to the exact solution ``w = 2`` (within 1e-9 after 30 iterations;
  exactly 2.0 in float64 after 54).

Run: ``python -m runtime.examples.worked_example [--loss mean|sum] [--max-iters K]``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dpsim.partition import aggregation_weights, partition
from runtime.cli_args import number_option, runtime_parser, whole_option
from runtime.launch import reserve_port

__all__ = ["Iteration", "main", "run"]

LossKind = Literal["sum", "mean"]

X: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
W0 = 1.0
LR = 0.1
WORLD_SIZE = 2
MAX_ITERS = 10_000
"""Most iterations ``--max-iters`` takes (the example reaches w = 2 exactly in 54, or passes |w| 1e12 in 40)."""


@dataclass(frozen=True)
class Iteration:
    """One iteration as the workers saw it (values before the update, and the updated ``w``)."""

    step: int
    w: float
    losses: tuple[float, ...]
    """Each worker's loss ``ℓₙ``."""
    grads: tuple[float, ...]
    """Each worker's local gradient ``∇ℓₙ``."""
    grad: float
    """All-reduced gradient ``Σₙ (Mₙ/M)·∇ℓₙ``."""
    w_next: float


def _worker(rank: int, world_size: int, port: int, loss_kind: LossKind, max_iters: int, tol: float, out: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        shards = partition(len(X), world_size, "contiguous", pad=False)
        weight = aggregation_weights([len(s) for s in shards])[rank]
        x = torch.tensor([X[i] for i in shards[rank]], dtype=torch.float64)
        y = 2.0 * x
        w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
        history: list[Iteration] = []
        for step in range(max_iters):
            w.grad = None
            z = w * x
            loss = ((z - y) ** 2).sum()
            if loss_kind == "mean":
                loss = loss / x.numel()
            loss.backward()
            assert w.grad is not None
            local = (float(loss.detach()), float(w.grad))
            gathered: list[tuple[float, float] | None] = [None] * world_size
            dist.all_gather_object(gathered, local)
            # Σₙ (Mₙ/M)·∇ℓₙ: scale, then all-reduce with SUM (seed document §4.2).
            g = w.grad * weight
            dist.all_reduce(g, op=dist.ReduceOp.SUM)
            w_before = float(w.detach())
            with torch.no_grad():
                w -= LR * g
            pairs = [p for p in gathered if p is not None]
            it = Iteration(
                step=step,
                w=w_before,
                losses=tuple(p[0] for p in pairs),
                grads=tuple(p[1] for p in pairs),
                grad=float(g),
                w_next=float(w.detach()),
            )
            history.append(it)
            if rank == 0:
                _print_iteration(it)
            if abs(it.w_next - it.w) <= tol or not torch.isfinite(w).item() or abs(it.w_next) > 1e12:
                break
        if rank == 0:
            Path(out).write_bytes(pickle.dumps(history))
        dist.barrier()  # no rank tears the group down while another still communicates
    finally:
        dist.destroy_process_group()


def _print_iteration(it: Iteration) -> None:
    per_worker = ", ".join(
        f"worker {n + 1}: loss {loss:.10g} grad {g:.10g}"
        for n, (loss, g) in enumerate(zip(it.losses, it.grads, strict=True))
    )
    print(f"iter {it.step + 1:3d}  w {it.w:.17g}  {per_worker}  all-reduced grad {it.grad:.10g}  -> w {it.w_next:.17g}")


def run(
    loss: LossKind = "mean", max_iters: int = 100, tol: float = 0.0, world_size: int = WORLD_SIZE
) -> list[Iteration]:
    """Spawn ``world_size`` gloo workers on 127.0.0.1, iterate, and return rank 0's history.

    Stops after ``max_iters`` iterations, when an update changes ``w`` by at most ``tol``,
    or when ``w`` leaves ``[-1e12, 1e12]`` (divergence).
    """
    if loss not in ("sum", "mean"):
        raise ValueError(f"loss must be 'sum' or 'mean', got {loss!r}")
    with tempfile.TemporaryDirectory() as tmp, reserve_port() as port:  # held until the workers are done
        out = str(Path(tmp) / "history.pkl")
        mp.spawn(_worker, args=(world_size, port, loss, max_iters, tol, out), nprocs=world_size, join=True)
        history: list[Iteration] = pickle.loads(Path(out).read_bytes())
    return history


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = runtime_parser("python -m runtime.examples.worked_example", description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=["mean", "sum"], default="mean", help="per-worker loss (default: mean)")
    parser.add_argument("--max-iters", type=whole_option, default=100, help="iteration limit (default: 100)")
    parser.add_argument("--tol", type=number_option, default=1e-12, help="stop when |Δw| <= tol (default: 1e-12)")
    args = parser.parse_args(argv)
    if not 1 <= args.max_iters <= MAX_ITERS:  # 0 left no iteration to report: an IndexError
        parser.error(f"argument --max-iters: expected a whole number from 1 to {MAX_ITERS:,}, got {args.max_iters}")
    if args.tol < 0:  # |Δw| <= tol never holds: every run went on to --max-iters
        parser.error(f"argument --tol: expected a number >= 0, got {args.tol!r}")
    print(f"seed document §4.3: x = {list(X)}, y = 2x, f(x) = w·x, L = (z − y)², w = {W0}, η = {LR}, 2 gloo workers")
    if args.loss == "mean":
        print("per-worker loss: MEAN over the worker's samples (the §4.1 objective); error e = w − 2 obeys e ← −0.5·e")
    else:
        print("per-worker loss: SUM of squares (the document's choice); error e = w − 2 obeys e ← −2·e: DIVERGES")
    print("note: the document's worker-2 figures (13, −14, mean −12, w = 2.2) are wrong; see the module docstring")
    history = run(args.loss, args.max_iters, args.tol)
    last = history[-1]
    if abs(last.w_next - 2.0) <= 1e-9:
        print(f"converged after {len(history)} iterations: w = {last.w_next!r} (exact solution 2)")
    elif abs(last.w_next) > 1e12:
        print(f"diverged: |w| > 1e12 after {len(history)} iterations (w = {last.w_next!r})")
    else:
        print(f"did not converge after {len(history)} iterations: w = {last.w_next!r}")


if __name__ == "__main__":
    main()
