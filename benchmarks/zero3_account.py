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

The second table runs the same collectives through that schedule (:func:`one_ahead_step_s`, whole weights, one
traced module ahead unless ``stage3_max_live_parameters`` (1e9) elements are gathered already, every
synchronisation of the code above) three ways: at dpsim's prices; with every collective's bytes a rank at one NIC's
achievable rate; and the one rate a rank at which the schedule takes the published step. The third table runs them
as v0.3.14 to v0.5.x do (#867, 2021-04-07, resets the traced step after the top module's pre-hook has counted it, so
every later lookup misses the trace: nothing prefetched, nothing kept for reuse; DeepSpeed #1069). A diagnostic,
not a model: nothing in the sources sets such a rate (README: "The same collectives in DeepSpeed 0.3.13's
schedule").

The fourth table adds what the step does once on the host after the optimizer (v0.3.12 to v0.5.4): ``_post_step``
gathers the persistent parameters again through the blocking ``_allgather_params``, whose Python loop rebuilds each
one from its N pieces with four eager torch calls a piece (:func:`post_step_copies`): a cost that grows with the
ranks, as the runs' steps do. Its seconds depend on the cost of an eager call, which no source states: the table
gives them at 2, 4 and 8 us a call, and ``--measure`` times the loop's body on this host. The fifth adds the
fetch's own loop over the ranks for each gathered weight (:func:`host_calls`) and gives the one price a call at
which the schedule with both loops takes each published step. ``--fit`` fits one price (an eager call of the
loops, a ring step or a collective) and one extra rate a rank to the six rows at once: a test of the form, not a
model (:func:`host_rate_fit`).
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import published_runs as pr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser
from dpsim import api
from dpsim.analytic import collectives as cf
from dpsim.analytic.memory import ZERO3_PERSISTENCE_THRESHOLD as PERSISTENCE_THRESHOLD
from dpsim.analytic.memory import zero3_recompute_released
from dpsim.analytic.step import algorithm_of, calibrated_fabric
from dpsim.buckets import _transformer_parts
from dpsim.calibration import profile_for
from dpsim.sharding import collective_pieces, step_traffic


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


@dataclass(frozen=True)
class Module:
    """One module's turn in a step of DeepSpeed 0.3.x's stage 3: its compute (seconds), the parameters its
    fetch gathers (elements, one ``all_gather`` each), the gradients all-reduced as its backward ends (elements,
    one all-reduce each), and whether its post-hook releases what it gathered."""

    compute_s: float
    gathers: tuple[float, ...] = ()
    reductions: tuple[float, ...] = ()
    releases: bool = False

    @property
    def frees(self) -> float:
        """Elements its post-hook releases (``release_sub_module`` lowers ``total_available_parameter_numel`` by
        them): what it gathered or, a backward module whose weight was kept since the recomputation, the weight it
        reduces; none if it does not release."""
        return sum(self.gathers or self.reductions) if self.releases else 0.0


def step_modules(scenario: Any, compute_s: float, reuse: bool = True) -> list[Module]:
    """A step's modules in the order the coordinator traces them: the embeddings' fetch, each layer's four weight
    modules forward, then per layer from the last the recomputed forward (gathers all four; releases what
    :func:`dpsim.analytic.memory.zero3_recompute_released` says) and the backward in reverse (gathers what was
    released, all-reduces each weight's gradient), then the embeddings' gradients. ``compute_s`` (the forward,
    the recomputed forward and a backward of twice the forward) is split by pass and, within a layer, by each
    weight's share of the layer's GEMM FLOPs (its share of the elements); attention's core and the logits ride
    with the layers (3 % and 0.4 % of the FLOPs here). Biases and norms persist and are left out. ``reuse``
    False: the coordinator cannot tell a reuse (v0.3.14 to v0.5.x, whose lookups miss the trace:
    ``get_reuse_distance_in_numel`` returns 1e12), so the recomputation releases every weight and the backward
    gathers each again."""
    outside, layer = gathered_tensors(scenario)
    released = [gone or not reuse for _, gone in zero3_recompute_released(scenario)]
    layers = scenario.model.layers
    forward = [compute_s / 4.0 / layers * w / sum(layer) for w in layer]
    mods = [Module(0.0, tuple(outside), releases=True)]
    for _ in range(layers):
        mods += [Module(c, (w,), releases=True) for c, w in zip(forward, layer, strict=True)]
    for _ in range(layers):
        mods += [Module(c, (w,), releases=gone) for c, w, gone in zip(forward, layer, released, strict=True)]
        mods += [
            Module(2.0 * c, (w,) if gone else (), (w,), releases=True)
            for c, w, gone in reversed(list(zip(forward, layer, released, strict=True)))
        ]
    return [*mods, Module(0.0, (), tuple(outside))]


def one_ahead_step_s(
    mods: list[Module], gather_s: Any, reduce_s: Any, max_live: float = math.inf, prefetch: bool = True
) -> float:
    """The step these modules take under DeepSpeed 0.3.13's coordinator (``stage3.py``), ``gather_s`` /
    ``reduce_s`` pricing one collective of so many elements. A host clock and two device queues (compute; the
    data-parallel group's NCCL stream, which gathers and all-reduces share in order). A module's pre-hook
    (``fetch_sub_module``) waits for its gathers if they were prefetched, else starts them after
    ``torch.cuda.synchronize()`` (``_allgather_param``), and then synchronises the device
    (``_synchronize_communication``); ``prefetch_next_sub_modules``, when no gather is in flight and fewer than
    ``max_live`` elements are gathered (``total_available_parameter_numel < max_available_parameters_in_numel``,
    ``stage3_max_live_parameters``; counted from each fetch or prefetch to its release, persistent parameters
    left out), starts the next traced module's gathers (one weight: 5e7 elements a prefetch), again after a device
    synchronise; the compute is queued; its gradients' all-reduces queue behind it on the NCCL stream; its
    post-hook's release (``param.data = torch.ones(1).half().to(device)``, a copy on the compute stream) waits for
    its compute. ``prefetch`` False: nothing is prefetched (v0.3.14 to v0.5.x, whose prefetch lookups miss the
    trace)."""
    host = compute = comm = 0.0
    live = 0.0
    in_flight: int | None = None
    for i, mod in enumerate(mods):
        if mod.gathers:
            if in_flight != i:
                host = max(host, compute, comm)
                comm = host + sum(gather_s(e) for e in mod.gathers)
                live += sum(mod.gathers)
            host = max(host, compute, comm)
            in_flight = None
        if in_flight is None and prefetch and live < max_live:
            j = next((k for k in range(i + 1, len(mods)) if mods[k].gathers), None)
            if j is not None:
                host = max(host, compute, comm)
                comm = host + sum(gather_s(e) for e in mods[j].gathers)
                live += sum(mods[j].gathers)
                in_flight = j
        compute = max(host, compute) + mod.compute_s
        for e in mod.reductions:
            comm = max(comm, compute) + reduce_s(e)
        if mod.releases:
            host = max(host, compute)
            live -= mod.frees
    return max(host, compute, comm)


@dataclass(frozen=True)
class Schedule:
    """One row's step under :func:`one_ahead_step_s` (seconds): at dpsim's collective prices, at one NIC's
    achievable rate a rank (each collective's bytes a rank over the rate plus dpsim's price of its latency), and
    the rate a rank (bytes a second) at which it equals the published step."""

    priced_s: float
    nic_rate_Bps: float
    at_nic_rate_s: float
    rate_needed_Bps: float
    published_s: float


def schedule(run: pr.PublishedRun, traced: bool = True) -> Schedule:
    """:func:`one_ahead_step_s` for one ZeRO-3 row, three ways (:class:`Schedule`): as v0.3.13's coordinator runs
    it (``stage3_max_live_parameters`` from the scenario), or, ``traced`` False, as v0.3.14 to v0.5.x run it
    (nothing prefetched, nothing kept for reuse)."""
    scenario = pr.scenario_from_dict(dict(run.scenario))
    fabric = calibrated_fabric(scenario, profile_for(scenario))
    algorithm = algorithm_of(scenario)
    width, n = scenario.param_bytes_per_param, fabric.world_size
    mods = step_modules(scenario, api.run(scenario).compute_s, reuse=traced)
    gather_latency = cf.collective("all_gather", algorithm, width * n, fabric).time_s
    reduce_latency = cf.collective("allreduce", algorithm, width * n, fabric).time_s
    gate = {"max_live": float(scenario.deepspeed.max_live_parameters), "prefetch": traced}

    def at_rate(rate: float) -> float:
        return one_ahead_step_s(
            mods,
            lambda e: gather_latency + e * width * (n - 1) / n / rate,
            lambda e: reduce_latency + 2.0 * e * width * (n - 1) / n / rate,
            **gate,
        )

    published = pr.step_seconds(run, run.published_tflops_per_gpu)
    low, high = 1e8, 1e13  # bytes a second; the step falls as the rate grows
    for _ in range(80):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if at_rate(middle) > published else (low, middle)
    return Schedule(
        priced_s=one_ahead_step_s(
            mods,
            lambda e: cf.collective("all_gather", algorithm, e * width, fabric).time_s,
            lambda e: cf.collective("allreduce", algorithm, e * width, fabric).time_s,
            **gate,
        ),
        nic_rate_Bps=fabric.inter.bandwidth,
        at_nic_rate_s=at_rate(fabric.inter.bandwidth),
        rate_needed_Bps=(low * high) ** 0.5,
        published_s=published,
    )


ZERO3_RUNS = tuple(r for r in pr.SCALING_RUNS if " ZeRO-3 " in r.name)


def persistent_tensors(scenario: Any) -> list[float]:
    """Elements of each parameter that stays gathered (under ``param_persistence_threshold``), in registration
    order: every bias and norm of Megatron's GPT, eight a layer and the final norm's two."""
    embed, layer, after, head = _transformer_parts(scenario.model)
    one = [c for c in layer if c < PERSISTENCE_THRESHOLD]
    return [*(c for c in embed if c < PERSISTENCE_THRESHOLD), *one * scenario.model.layers] + [
        c for c in (*after, *head) if c < PERSISTENCE_THRESHOLD
    ]


def persistent_copies(elements: float, ranks: int) -> int:
    """Host-side ``copy_`` calls ``_allgather_params`` makes to rebuild one gathered parameter of ``elements``
    over ``ranks`` (``partition_parameters.py``, v0.3.12 to v0.5.4): the partition is ``ceil(elements / ranks)``
    (``_aligned_size`` pads to a multiple of the ranks), and the loop ``for i in range(self.world_size)`` copies
    rank i's piece ``if param_start < param_size``, so ``ceil(elements / partition)`` of the ``ranks`` pieces, each
    its own ``narrow``, ``view``, ``narrow`` and ``copy_``."""
    partition = math.ceil(elements / ranks)
    return math.ceil(elements / partition)


POST_STEP_OPS_PER_COPY = 4
"""Eager torch calls a copy of :func:`persistent_copies` makes from Python: ``partitions[i].narrow``,
``replicated_tensor.view(-1)``, ``.narrow`` and ``.copy_``."""


def post_step_copies(scenario: Any) -> int:
    """Copies a step of DeepSpeed 0.3.12-0.5.4's post-step regather of the persistent parameters (``stage3.py``
    ``_post_step``: ``self.persistent_parameters[0].all_gather(self.persistent_parameters)``; the backward's
    ``_partition_all_parameters`` released them all, so the blocking path ``_allgather_params`` runs: one
    ``all_gather`` of their partitions together, then the copy loop of :func:`persistent_copies` for each). From
    v0.5.5 ``_all_gather`` takes ``_allgather_params_coalesced`` instead: no copies, but one ``all_gather`` a
    parameter, each with one ``narrow`` a rank unless torch has ``_all_gather_base``."""
    ranks = scenario.data_parallel
    return sum(persistent_copies(c, ranks) for c in persistent_tensors(scenario))


GATHER_CALLS_PER_RANK = 2
"""Eager torch calls each gathered weight costs the host per rank in v0.3.12-v0.5.x's fetch and prefetch:
``_allgather_param``'s ``flat_tensor.narrow`` in its loop over the ranks, after a device synchronise and before the
collective's launch (the loop also calls ``torch.distributed.get_rank(group=...)`` each time, not counted), and the
``copy_`` that PyTorch 1.8's ``ProcessGroupNCCL::allgather`` launches from C++ out of its flat temporary into each of
the list's tensors, after the NCCL kernel's launch (so beside it on the device)."""


def host_calls(scenario: Any, mods: list[Module]) -> int:
    """Eager torch calls a step's host makes in loops over the ranks: :data:`GATHER_CALLS_PER_RANK` for each rank and
    gathered weight of ``mods`` (:func:`step_modules`) and :data:`POST_STEP_OPS_PER_COPY` for each of
    :func:`post_step_copies`. The narrow loop and the post-step loop run while the device waits (after a
    synchronise, before the launches that follow); the copies' launches run beside the gather's NCCL kernel and delay
    only the compute launched after them. Counted as added to the step, the price a call they need is a least one."""
    gathers = sum(len(m.gathers) for m in mods)
    per_gather = gathers * scenario.data_parallel * GATHER_CALLS_PER_RANK
    return per_gather + post_step_copies(scenario) * POST_STEP_OPS_PER_COPY


FIT_PRICES: dict[str, tuple[float, ...]] = {
    "call": tuple(0.5e-6 * i for i in range(21)),
    "ring step": tuple(5e-6 * i for i in range(25)),
    "collective": tuple(2e-3 * i for i in range(25)),
}
"""The grids :func:`host_rate_fit` tries for each form of the price (seconds): an eager call of :func:`host_calls`
(0-10 us), a step of each collective's ring (0-120 us), a collective (0-48 ms)."""


def _host_rate_step(run: pr.PublishedRun, form: str = "call") -> tuple[Any, float]:
    """``(step(price, rate), published seconds)`` for :func:`host_rate_fit`: the second table's schedule at dpsim's
    collective prices, each collective's bytes a rank also moved at ``rate`` (bytes a second; ``math.inf``: not),
    plus ``price`` in one of three forms: seconds a call of :func:`host_calls` (the host, added to the step); seconds
    a ring step on each collective (N - 1 a gather, 2(N - 1) an all-reduce); seconds a collective."""
    scenario = pr.scenario_from_dict(dict(run.scenario))
    fabric = calibrated_fabric(scenario, profile_for(scenario))
    algorithm = algorithm_of(scenario)
    width, n = scenario.param_bytes_per_param, fabric.world_size
    mods = step_modules(scenario, api.run(scenario).compute_s)
    calls, live = host_calls(scenario, mods), float(scenario.deepspeed.max_live_parameters)

    @functools.cache
    def priced(op: str, elements: float) -> float:
        return cf.collective(op, algorithm, elements * width, fabric).time_s

    steps = {"call": (0.0, 0.0), "ring step": (n - 1.0, 2.0 * (n - 1.0)), "collective": (1.0, 1.0)}[form]

    def step(price: float, rate: float) -> float:
        def gather(e: float) -> float:
            return priced("all_gather", e) + e * width * (n - 1) / n / rate + steps[0] * price

        def reduce(e: float) -> float:
            return priced("allreduce", e) + 2.0 * e * width * (n - 1) / n / rate + steps[1] * price

        host = calls * price if form == "call" else 0.0
        return one_ahead_step_s(mods, gather, reduce, max_live=live) + host

    return step, pr.step_seconds(run, run.published_tflops_per_gpu)


def host_rate_fit(
    form: str = "call",
    rates: tuple[float, ...] = (math.inf, 300e9, 200e9, 150e9, 100e9, 80e9, 60e9, 40e9, 30e9, 20e9),
) -> tuple[float, float, list[float]]:
    """Fitted to the six rows, a diagnostic of the form and not a model: the pair of the grid (a price in ``form``,
    :data:`FIT_PRICES`; a rate a rank at which every collective's bytes move once more on top of dpsim's price) with
    the smallest largest error of :func:`_host_rate_step`'s step against the published steps; returns the pair and
    the six errors (published step over the schedule's, minus 1: positive, predicted faster)."""
    steps = [_host_rate_step(run, form) for run in ZERO3_RUNS]
    best: tuple[float, float, float, list[float]] | None = None
    for price in FIT_PRICES[form]:
        for rate in rates:
            errors = [published / step(price, rate) - 1.0 for step, published in steps]
            worst = max(abs(e) for e in errors)
            if best is None or worst < best[0]:
                best = (worst, price, rate, errors)
    assert best is not None
    return best[1], best[2], best[3]


def eager_op_seconds(repeats: int = 7, copies: int = 20_000) -> tuple[float, float, float]:
    """This host's cost of one eager torch call in the copy loop (:func:`persistent_copies`' body on CPU fp16
    tensors of 8 elements, the 175B's partition at 1,536 ranks): median, lowest and highest seconds a call over
    ``repeats`` timings of ``copies`` copies. A CPU build has no CUDA launch in ``copy_``."""
    import time

    import torch

    partition = 8
    flat = torch.zeros(partition * 1536, dtype=torch.float16)
    partitions = [flat.narrow(0, partition * i, partition) for i in range(1536)]
    replicated = torch.empty(partition * 1536, dtype=torch.float16)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for k in range(copies):
            i = k % 1536
            part = partitions[i].narrow(0, 0, partition)
            replicated.view(-1).narrow(0, i * partition, partition).copy_(part)
        times.append((time.perf_counter() - start) / copies / POST_STEP_OPS_PER_COPY)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--measure", action="store_true", help="also time one eager torch call of the post-step copy loop on this host"
    )
    parser.add_argument(
        "--fit", action="store_true", help="also fit one price a call and one extra rate to the six rows (minutes)"
    )
    args = parser.parse_args(argv)
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
    for traced, title in (
        (
            True,
            "The same collectives in DeepSpeed 0.3.13's schedule (one_ahead_step_s: one traced module's gathers "
            "ahead, none while 1e9 elements are gathered)",
        ),
        (False, "The same in v0.3.14-v0.5.x's schedule (lookups miss the trace: nothing prefetched, nothing kept)"),
    ):
        print()
        print(title)
        head = f"{'row':<34} {'GPUs':>5} {'priced s':>8} {'at NIC s':>8}"
        print(f"{head} {'error':>7} {'GB/s needed':>11} {'published':>9}")
        for run in ZERO3_RUNS:
            a, s = account(run), schedule(run, traced)
            print(
                f"{run.name:<34} {a.ranks:>5} {s.priced_s:>8.1f} {s.at_nic_rate_s:>8.1f} "
                f"{100.0 * (s.published_s / s.at_nic_rate_s - 1.0):>+6.1f}% {s.rate_needed_Bps / 1e9:>11.1f} "
                f"{s.published_s:>9.1f}"
            )
    print(
        "priced: every collective at dpsim's price (ring, NCCL's protocol pick); at NIC: every collective's bytes a "
        f"rank at one {ZERO3_RUNS[0].scenario['cluster']['inter_node']['preset']} NIC's achievable rate, "
        f"{schedule(ZERO3_RUNS[0]).nic_rate_Bps / 1e9:.0f} GB/s, plus dpsim's price of its latency (error: the "
        "TFLOP/s it gives against the published); GB/s needed: the rate a rank at which the schedule takes the "
        "published step."
    )
    print()
    print(
        "The post-step regather of the persistent parameters (v0.3.12-v0.5.4: _post_step's _allgather_params, a "
        "Python loop of narrow / view / narrow / copy_ a rank and parameter, with the GPU idle)"
    )
    costs = (2e-6, 4e-6, 8e-6)
    head = f"{'row':<34} {'GPUs':>5} {'tensors':>7} {'copies':>9} " + " ".join(
        f"{'s @' + format(1e6 * c, 'g') + 'us':>8}" for c in costs
    )
    print(f"{head} {'engines':>7} {'+host':>6} {'error':>7} {'sched s':>7} {'+host':>6} {'error':>7}")
    for run in ZERO3_RUNS:
        scenario = pr.scenario_from_dict(dict(run.scenario))
        copies = post_step_copies(scenario)
        host = [copies * POST_STEP_OPS_PER_COPY * c for c in costs]
        value, result = pr.predict_run(run)
        step = result.step_time_s
        with_host = value * step / (step + host[1])
        s = schedule(run)
        scheduled = s.priced_s + host[1]
        print(
            f"{run.name:<34} {scenario.data_parallel:>5} {len(persistent_tensors(scenario)):>7} {copies:>9} "
            + " ".join(f"{h:>8.1f}" for h in host)
            + f" {value:>7.1f} {with_host:>6.1f} {100.0 * pr.relative_error(run, with_host):>+6.1f}%"
            f" {s.priced_s:>7.1f} {scheduled:>6.1f} {100.0 * (s.published_s / scheduled - 1.0):>+6.1f}%"
        )
    print(
        "tensors: parameters under param_persistence_threshold; copies: the loop's copy_ calls a step "
        "(persistent_copies); s @: their host seconds at so many microseconds an eager torch call (four a copy); "
        "engines: published_runs.py's TFLOP/s, +host with the loop at 4 us a call (error against the published); "
        "sched s: the schedule's priced step (second table), +host the same."
    )
    print()
    print(
        "Both host loops (each weight's gather, the post-step regather) at one price a call, in the second table's "
        "schedule"
    )
    head = f"{'row':<34} {'GPUs':>5} {'gathers':>8} {'calls':>11} {'sched s':>7}"
    print(f"{head} {'us a call needed':>16} {'published':>9}")
    for run in ZERO3_RUNS:
        scenario = pr.scenario_from_dict(dict(run.scenario))
        mods = step_modules(scenario, api.run(scenario).compute_s)
        calls, s = host_calls(scenario, mods), schedule(run)
        print(
            f"{run.name:<34} {scenario.data_parallel:>5} {sum(len(m.gathers) for m in mods):>8} {calls:>11} "
            f"{s.priced_s:>7.1f} {1e6 * (s.published_s - s.priced_s) / calls:>16.1f} {s.published_s:>9.1f}"
        )
    print(
        "gathers: all_gathers a step in the schedule; calls: eager torch calls in loops over the ranks (host_calls: "
        "two a rank and gather, four a post-step copy); us a call needed: the price a call at which the schedule plus "
        "the loops, all counted as exposed, takes the published step (a least price: the copies' launches run beside "
        "the gather)."
    )
    if args.fit:
        print()
        print(
            "Fitted to the six rows (--fit; a diagnostic of the form, not a model): one price, in one of three forms, "
            "and one rate a rank at which every collective's bytes move once more, in the second table's schedule"
        )
        for form, rates in (("call", (math.inf,)), ("call", None), ("ring step", None), ("collective", None)):
            price, rate, errors = host_rate_fit(form) if rates is None else host_rate_fit(form, rates)
            extra = "no extra rate" if math.isinf(rate) else f"{rate / 1e9:g} GB/s"
            worst, mean = max(abs(e) for e in errors), sum(abs(e) for e in errors) / len(errors)
            print(
                f"{1e6 * price:g} us a {form}, {extra}: "
                + " / ".join(f"{100.0 * e:+.1f}" for e in errors)
                + f" % (largest {100.0 * worst:.1f} %, mean {100.0 * mean:.1f} %)"
            )
    if args.measure:
        median, low, high = eager_op_seconds()
        print(
            f"this host: {1e6 * median:.2f} us an eager call of the loop's body (CPU fp16, 8 elements; "
            f"{1e6 * low:.2f}-{1e6 * high:.2f} over 7 timings)"
        )


if __name__ == "__main__":
    main()
