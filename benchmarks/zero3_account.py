"""Per-collective account of the ZeRO-3 rows of Narayanan et al. 2021 Table 2 as DeepSpeed 0.3.12-0.5.x runs them.

Run: ``PYTHONPATH=. python benchmarks/zero3_account.py``. Not a prediction (the rows' prediction is
``benchmarks/published_runs.py``): it lists the collectives one step of each row issues under the code of those
releases, prices each with dpsim's cost code (the scenario's fabric, ring, NCCL's protocol pick) and sets the sum
beside the published step, so that what is missing can be read per collective, per collective and rank, and per
byte.

What the releases do (``deepspeed/runtime/zero/stage3.py``, ``partition_parameters.py`` at v0.3.13):

- Parameters with fewer than ``param_persistence_threshold`` elements (1e5; ``persistent_parameters``) stay
  gathered: gathered once after the optimizer step in one coalesced ``_allgather_params``. For Megatron's GPT every
  bias and norm (h, 3h, 4h elements) is persistent; each weight matrix and the embeddings are not
  (:func:`gathered_tensors`).
- Each gathered parameter is its own ``torch.distributed.all_gather`` (``_allgather_param``), started after a
  ``torch.cuda.synchronize()`` (from v0.3.12 to v0.5.x; DeepSpeed #1188: "the async version is not async at all,
  because each all_gather calls torch.cuda.synchronize()"); ``fetch_sub_module`` then waits and synchronises again.
  The coordinator prefetches parameters of the traced order until ``stage3_prefetch_bucket_size`` (5e7) elements,
  one weight matrix of these models, so one gather at a time overlaps the compute of the module that runs.
- The gradients (``contiguous_gradients`` off before 0.4.3) are all-reduced by ``buffered_reduce_fallback`` in
  ``reduce_bucket_size`` (5e8-element) buckets, closed when the next gradient would overflow them, so a bias can go
  alone (:func:`dpsim.sharding.collective_pieces`'s ``gradient_buckets``); the next fetch synchronises the device.

The sum is the serial bound (compute + every collective): the schedule overlaps at most one gather with one
module's compute, so the step these collectives give is at most this and at least the sum less the compute.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import published_runs as pr

from dpsim import api
from dpsim.analytic import collectives as cf
from dpsim.analytic.step import algorithm_of, calibrated_fabric
from dpsim.buckets import _transformer_parts
from dpsim.calibration import profile_for
from dpsim.sharding import collective_pieces, step_traffic

PERSISTENCE_THRESHOLD = 100_000
"""DeepSpeed 0.3.13 ``ZERO_OPTIMIZATION_PARAM_PERSISTENCE_THRESHOLD_DEFAULT``: parameters with fewer elements
stay gathered (``stage3.py`` ``persistent_parameters``: ``param.ds_numel < self.persistence_threshold``)."""


def gathered_tensors(scenario: Any) -> tuple[list[float], list[float]]:
    """Elements of each parameter a forward pass gathers, one ``all_gather`` each, in registration order: those of
    the embeddings and what follows the layers, and those of one layer (persistent ones left out)."""
    embed, layer, after, head = _transformer_parts(scenario.model)
    outside = [c for c in (*embed, *after, *head) if c >= PERSISTENCE_THRESHOLD]
    return outside, [c for c in layer if c >= PERSISTENCE_THRESHOLD]


@dataclass(frozen=True)
class Account:
    """One row's collectives a step, priced by dpsim, beside the published step (seconds)."""

    ranks: int
    gathers: int
    gather_s: float
    gather_latency_s: float
    reductions: int
    reduction_s: float
    reduction_latency_s: float
    compute_s: float
    published_s: float
    bytes_per_rank: float

    @property
    def serial_s(self) -> float:
        """Compute plus every collective in series."""
        return self.compute_s + self.gather_s + self.reduction_s

    @property
    def missing_s(self) -> float:
        """Published step less the serial bound."""
        return self.published_s - self.serial_s

    @property
    def collectives(self) -> int:
        return self.gathers + self.reductions

    @property
    def rate_Bps(self) -> float:
        """Bytes a rank's collectives move a step (an all-gather of S counts S, an all-reduce 2S) over the
        published step less the priced compute: the rate the runs' communication had, were all of it exposed."""
        return self.bytes_per_rank / (self.published_s - self.compute_s)


def account(run: pr.PublishedRun) -> Account:
    """The collectives of one ZeRO-3 row's step (module docstring), each priced by dpsim's cost code."""
    scenario = pr.scenario_from_dict(dict(run.scenario))
    fabric = calibrated_fabric(scenario, profile_for(scenario))
    algorithm = algorithm_of(scenario)
    width = scenario.param_bytes_per_param

    def price(op: str, size: float) -> float:
        return cf.collective(op, algorithm, size, fabric).time_s

    outside, layer = gathered_tensors(scenario)
    layers = scenario.model.layers
    share = step_traffic(scenario).backward_gather_share  # the backward's gathers, the recomputation's included
    layer_s = sum(price("all_gather", c * width) for c in layer)
    gather_s = sum(price("all_gather", c * width) for c in outside) + layer_s * layers * (1.0 + share)
    buckets = collective_pieces(scenario).gradient_buckets
    gathered = (sum(outside) + sum(layer) * layers * (1.0 + share)) * width
    smallest = width * fabric.world_size  # one element a rank: the latency alone
    return Account(
        ranks=fabric.world_size,
        gathers=len(outside) + round(len(layer) * layers * (1.0 + share)),
        gather_s=gather_s,
        gather_latency_s=price("all_gather", smallest),
        reductions=len(buckets),
        reduction_s=sum(price("allreduce", b) for b in buckets),
        reduction_latency_s=price("allreduce", smallest),
        compute_s=api.run(scenario).compute_s,
        published_s=pr.step_seconds(run, run.published_tflops_per_gpu),
        bytes_per_rank=gathered + 2.0 * sum(buckets),
    )


ZERO3_RUNS = tuple(r for r in pr.SCALING_RUNS if " ZeRO-3 " in r.name)


def main() -> None:
    print(__doc__.splitlines()[0])
    print(
        f"{'row':<34} {'GPUs':>5} {'gathers':>8} {'s':>6} {'lat ms':>6} {'reduces':>8} {'s':>6} {'lat ms':>6} "
        f"{'compute':>7} {'serial':>7} {'published':>9} {'missing':>8} {'ms/coll':>7} {'us/coll/rank':>12} "
        f"{'GB/s':>5}"
    )
    for run in ZERO3_RUNS:
        a = account(run)
        print(
            f"{run.name:<34} {a.ranks:>5} {a.gathers:>8} {a.gather_s:>6.1f} {1e3 * a.gather_latency_s:>6.2f} "
            f"{a.reductions:>8} {a.reduction_s:>6.1f} {1e3 * a.reduction_latency_s:>6.2f} {a.compute_s:>7.1f} "
            f"{a.serial_s:>7.1f} {a.published_s:>9.1f} {a.missing_s:>+8.1f} {1e3 * a.missing_s / a.collectives:>7.1f} "
            f"{1e6 * a.missing_s / a.collectives / a.ranks:>12.1f} {a.rate_Bps / 1e9:>5.1f}"
        )
    print(
        "gathers / reduces: collectives a step and their priced seconds; lat: one such collective's latency (one "
        "element a rank); serial: compute + every collective; missing: published - serial, per collective and per "
        "collective and rank; GB/s: bytes a rank's collectives move a step over (published - compute)."
    )


if __name__ == "__main__":
    main()
