"""Per-layer compute jitter under FSDP2's own stream waits: does the slowest of N ranks grow from 8 to 128 GPUs?

A diagnostic for issue 11's bf16 twins (nothing is priced from it). torchtitan's Dec 2024 8B rows grow from 8 to 128
H100 by 4.70-4.84 % of the 8-GPU step beyond the priced growth (``benchmarks/published_runs.py --fp8-gains``). One
candidate: FSDP2 couples the ranks at every layer, so each layer would wait for the slowest of N ranks' jittered
compute, and the expected largest of N normals grows from 1.42 to 2.59 standard deviations from 8 to 128 ranks.

FSDP2 does not wait for the slowest rank at every layer, though: it waits for a collective whose input is one or two
layers old. From ``torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py`` (``wait_for_unshard``,
``_backward_prefetch``, ``post_backward``) and ``_fsdp_collectives.py`` (``foreach_reduce``), with the CPU ahead of
the GPU (implicit prefetching, no explicit prefetch, the last block not resharded after forward):

- forward: layer i's all-gather runs on the all-gather stream after the event recorded at layer i - 2's copy-out (the
  wait on ``comm_ctx.all_gather_state.event`` enqueued in layer i - 1's ``wait_for_unshard``), and layer i's copy-out,
  on the compute stream, waits for that all-gather: rank r starts layer i at
  ``max(its own layer i - 1 end, max over ranks of their layer i - 2 start + gather)``;
- backward: layer i's ``_backward_prefetch`` issues layer i - 1's all-gather after layer i's copy-out event, and layer
  i's ``post_backward`` makes the compute stream wait for layer i + 1's reduce-scatter event (recorded on the
  reduce-scatter stream after the collective) before its own copy-in: rank r starts layer i - 1 at
  ``max(its own layer i end, layer i + 1's reduce-scatter end, max over ranks of their layer i start + gather)``;
- a collective ends when the last rank has issued it, plus its own time.

:func:`fsdp2_layers_s` runs that recursion (max-plus, vectorised over draws and ranks); :func:`per_layer_barrier_s`
is the reading in which every layer waits for the slowest rank, whose expectation is the closed form
``Σ layers · (1 + cv·E[max of N normals])``. dpsim's ``variability.compute_jitter_cv`` draws one multiplier a rank
and micro-batch and synchronises every pass under FSDP (``dpsim.analytic.step.jitter_sync_passes``): its price is the
closed form with the pass as the unit, i.e. a pass-level CV, equal to the per-layer barrier reading at the same CV.

For each of the three pairs the script prints, at per-layer CVs 0-20 %: the growth from 8 to 128 GPUs (a share of
the 8-GPU priced step) under FSDP2's waits, under a barrier at every layer, the closed form of the barrier, and
dpsim's own analytic ``compute_jitter_cv`` price (normal draws); then the per-layer CV each reading needs to give the
pair's published residual. Each layer's forward and backward are the priced micro-batch's over the layers (the
embedding and loss folded in), its all-gather and reduce-scatter the priced step totals over the layers by bytes.

    PYTHONPATH=. python benchmarks/fsdp2_layer_sync.py [--draws 400] [--seed 0]
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.published_runs import SCALE_PAIRS, TORCHTITAN_RUNS, PublishedRun, predict_run, scale_growth
from benchmarks.script_cli import Parser, one_line_errors, whole
from dpsim.rank_speed import expected_max_standard_normal
from dpsim.scenario import scenario_from_dict

__all__ = ["LayerTimes", "fsdp2_layers_s", "layer_times", "per_layer_barrier_s", "with_jitter"]

CVS = (0.0, 0.02, 0.04, 0.08, 0.16, 0.20)
"""Per-layer coefficients of variation printed (fractions)."""


def fsdp2_layers_s(forward: np.ndarray, backward: np.ndarray, gather_s: float, reduce_scatter_s: float) -> np.ndarray:
    """Seconds from the step's start to its last reduce-scatter's end under FSDP2's stream waits (module docstring).

    ``forward`` / ``backward``: each layer's compute on each rank, shape (draws, layers, ranks), layer 0 the first
    forward (the backward runs the layers in reverse). ``gather_s`` / ``reduce_scatter_s``: one layer's collective
    once every rank has issued it. Returns one time a draw."""
    draws, layers, ranks = forward.shape
    start = np.zeros((layers, draws, ranks))  # when each rank's copy-out (then compute) of a forward layer starts
    free = np.zeros((draws, ranks))  # when each rank's compute stream is free
    gathered = np.zeros(draws)  # the all-gather stream's last gather's end (the same on every rank)
    for i in range(layers):
        ready = start[i - 2] if i >= 2 else np.zeros((draws, ranks))  # layer i - 2's copy-out event
        gathered = np.maximum(ready.max(axis=1), gathered) + gather_s
        start[i] = np.maximum(free, gathered[:, None])
        free = start[i] + forward[:, i, :]
    # the last layer is not resharded after forward: its backward gathers nothing
    reduced = np.zeros(draws)  # the reduce-scatter stream's last reduce-scatter's end
    gathered_next = None  # the prefetched gather of the next layer to run backward
    for k, i in enumerate(range(layers - 1, -1, -1)):
        begin = free if gathered_next is None else np.maximum(free, gathered_next[:, None])
        if i > 0:  # _backward_prefetch: the next layer's gather after this layer's copy-out event
            previous = gathered_next if gathered_next is not None else np.zeros(draws)
            gathered_next = np.maximum(begin.max(axis=1), previous) + gather_s
        end = begin + backward[:, i, :]
        # post_backward: the compute stream waits for the previous layer's reduce-scatter, then issues its own
        free = np.maximum(end, reduced[:, None]) if k > 0 else end
        reduced = np.maximum(free.max(axis=1), reduced) + reduce_scatter_s
    return reduced


def per_layer_barrier_s(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Seconds of compute when every layer, forward and backward, waits for the slowest rank (no collective time)."""
    return forward.max(axis=2).sum(axis=1) + backward.max(axis=2).sum(axis=1)


@dataclass(frozen=True)
class LayerTimes:
    """One row's priced layer: its compute (the micro-batch's over the layers) and collectives (step totals over the
    layers by bytes), in seconds."""

    layers: int
    forward_s: float
    backward_s: float
    gather_s: float
    reduce_scatter_s: float


def layer_times(run: PublishedRun) -> LayerTimes:
    """:class:`LayerTimes` of a torchtitan FSDP row (one micro-batch a step, no TP / PP), as the analytic engine
    prices it: the gathers' and reduce-scatters' step totals shared by a layer's bytes of the step's traffic."""
    scenario = scenario_from_dict(dict(run.scenario))
    if scenario.accumulation_steps != 1 or scenario.training.tensor_parallel * scenario.training.pipeline_parallel != 1:
        raise ValueError(f"{run.name}: expected one micro-batch a step and no tensor or pipeline parallelism")
    result = predict_run(run)[1]
    extra = result.extra
    layers = scenario.model.layers
    share = 1.0 / layers  # a block's share of the step's traffic (the root unit's folded in)
    return LayerTimes(
        layers=layers,
        forward_s=extra["forward_s"] / layers,
        backward_s=extra["backward_s"] / layers,
        gather_s=extra["zero_param_gather_s"] * share / 2,  # a forward and a backward gather a block
        reduce_scatter_s=extra["gradient_comm_s"] * share,
    )


def _draw(times: LayerTimes, ranks: int, cv: float, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Per-layer compute on each rank: independent normal multipliers 1 + cv·z (floored at 1 %, as dpsim's normal)."""
    shape = (draws, times.layers, ranks)
    forward = times.forward_s * np.maximum(0.01, 1.0 + cv * rng.standard_normal(shape))
    backward = times.backward_s * np.maximum(0.01, 1.0 + cv * rng.standard_normal(shape))
    return forward, backward


def with_jitter(run: PublishedRun, cv: float) -> PublishedRun:
    """The row with dpsim's compute jitter at ``cv`` (normal draws; one a rank and micro-batch)."""
    data = dict(run.scenario)
    data["variability"] = {**data.get("variability", {}), "compute_jitter_cv": cv, "jitter_distribution": "normal"}
    return replace(run, scenario=data)


def _needed(cvs: tuple[float, ...], growths: list[float], target: float) -> str:
    """The CV at which the growth reaches ``target`` by linear interpolation, or '> largest'."""
    points = list(zip(cvs, growths, strict=True))
    for (c0, g0), (c1, g1) in itertools.pairwise(points):
        if g0 <= target <= g1 and g1 > g0:
            return f"{100 * (c0 + (target - g0) * (c1 - c0) / (g1 - g0)):.1f} %"
    return f"> {100 * cvs[-1]:.0f} %"


def main() -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=whole(1, 100_000), default=400, help="draws at 128 ranks (4x at 8); 400")
    parser.add_argument("--seed", type=whole(0, 2**32 - 1), default=0, help="numpy seed; 0")
    args = parser.parse_args()
    e8, e128 = expected_max_standard_normal(8), expected_max_standard_normal(128)
    print(f"E[max of N standard normals]: N = 8 {e8:.4f}, N = 128 {e128:.4f}, difference {e128 - e8:.4f}")
    by_name = {r.name: r for r in TORCHTITAN_RUNS}
    rng = np.random.default_rng(args.seed)
    for small_name, large_name in SCALE_PAIRS:
        small, large = by_name[small_name], by_name[large_name]
        residual = scale_growth(small, large).residual
        t8, t128 = layer_times(small), layer_times(large)
        base = predict_run(small)[1].step_time_s
        print(
            f"\n{small_name.removesuffix(' on 8 H100')}: a layer's forward {1e3 * t8.forward_s:.1f} ms, backward "
            f"{1e3 * t8.backward_s:.1f} ms; gather / reduce-scatter {1e3 * t8.gather_s:.2f} / "
            f"{1e3 * t8.reduce_scatter_s:.2f} ms on 8, {1e3 * t128.gather_s:.2f} / {1e3 * t128.reduce_scatter_s:.2f} "
            f"ms on 128; published residual {100 * residual:.2f} % of the 8-GPU step"
        )
        heads = f"{'FSDP2 waits':>12} {'barrier':>9} {'closed':>8} {'dpsim cv':>9}"
        print(f"  {'per-layer CV':>12} {heads}  (growth 8 -> 128)")
        grown: dict[str, list[float]] = {"fsdp2": [], "barrier": [], "closed": [], "dpsim": []}
        for cv in CVS:
            means = {}
            for ranks, times, draws in ((8, t8, 4 * args.draws), (128, t128, args.draws)):
                forward, backward = _draw(times, ranks, cv, draws, rng)
                means[ranks] = (
                    float(fsdp2_layers_s(forward, backward, times.gather_s, times.reduce_scatter_s).mean()),
                    float(per_layer_barrier_s(forward, backward).mean()),
                )
            compute = t8.layers * (t8.forward_s + t8.backward_s)
            priced = [predict_run(with_jitter(r, cv))[1].step_time_s for r in (small, large)]
            row = {
                "fsdp2": (means[128][0] - means[8][0]) / base,
                "barrier": (means[128][1] - means[8][1]) / base,
                "closed": cv * (e128 - e8) * compute / base,
                "dpsim": (priced[1] - priced[0]) / base,
            }
            for key, value in row.items():
                grown[key].append(value)
            print(f"  {100 * cv:>11.0f}% " + " ".join(f"{100 * v:>+8.2f}%" for v in row.values()))
        # the growth without jitter (collectives, the optimizer's shard) is the priced growth: the residual is beyond it
        targets = {key: values[0] + residual for key, values in grown.items()}
        print(
            "  per-layer CV for the residual: "
            + ", ".join(f"{key} {_needed(CVS, grown[key], targets[key])}" for key in grown)
        )
    return 0


if __name__ == "__main__":
    sys.exit(one_line_errors(main)())
