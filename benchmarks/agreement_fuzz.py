"""Fuzz the two engines against each other on symmetric scenarios (no stragglers, no jitter).

No jitter, because one simulated step is one draw: the two engines' jittered steps agree in expectation, which
``tests/test_jitter.py`` checks over many seeds (the analytic engine prices the expected slowest rank since stop 46).

Draws random valid variations of the bundled scenarios (small world sizes, so the simulator stays
cheap), runs ``analytic`` and ``sim`` on each and lists the cases where |sim/analytic − 1| exceeds the
tolerance (the project's 1 %), worst first. Deterministic for a seed::

    python benchmarks/agreement_fuzz.py --cases 200 --seed 0 [--out cases.jsonl] [--tolerance 0.01] [--only TEXT]
                                        [--set PATH=VALUE ...] [--host-topology] [--wide | --wider | --widest]
                                        [--shared-fabric K]

``--set`` adds overrides to every case after the drawn ones (the draws stay those of the seed), e.g. DGX-1V
nodes: ``--set cluster.device=v100 --set cluster.intra_node=nvlink2 --set cluster.intra_topology=hybrid-cube-mesh``.

``--host-topology`` makes every node a PCIe node with a random ``cluster.host_topology`` (sockets, GPUs a switch,
CPU class, P2P or not, a measured P2P latency and socket-link rate, ``NCCL_P2P_LEVEL``) and protocol, drawn after
the other fields (a seed's other fields are the same as without it).

``--wide`` (stop 38) also draws, after every other field, the fields the other draws leave at their defaults: the
fabric (a fat-tree at 1:1, 2:1 or 4:1 with 1, 2 or 16 nodes a leaf, a ring of nodes), degraded NICs, the rank order,
sequence parallelism (Megatron's or DTensor's) with its overlaps beside tensor parallelism, every algorithm (direct,
parameter server, NVLS, ``backend`` too) and protocol, a stored calibration profile (``PROFILE``), a straggler,
activation recomputation and ``NCCL_ALGO``.

``--wider`` (stop 39) draws the ``--wide`` fields, then the training fields no draw sets otherwise
(:func:`_draw_wider`: the optimizer's state dtype, the gradient accumulation pass, torch's pipelining runtime, the
samples' partition beside a straggler, ...), each after the case's ``--wide`` fields.

``--widest`` (stop 40) draws the ``--wider`` fields, then the combinations they leave rare or out
(:func:`_draw_widest`): the pipeline's transfers (``pipeline_p2p``) and slow inter-node links, the calibration
profile under every sharding, FSDP's HYBRID_SHARD beside degraded NICs, FSDP2's accumulation pass and torch's
pipelining over FSDP.

``--shared-fabric K`` runs K copies of each case packed on one fabric (``dpsim run A B --shared-fabric``: every
data-parallel group of every job at chunk level on one network) in place of the simulator's symmetric reduction,
and compares the slowest job with the analytic step. Where the shared fabric prices contention the symmetric step
does not (tensor-parallel or pipeline flows beside the reductions, jobs on oversubscribed leaf uplinks or on a ring of
nodes) the case is listed with the ``uneven`` ones.

Each case is printed as the scenario file and its ``--set`` overrides, so any line reproduces with
``dpsim run FILE --set ... --engine analytic|sim``.

A case whose simulated ranks do not all share one timeline (their communication or waiting differs: the
links are not homogeneous, e.g. a hybrid cube mesh, where GPUs 0 and 1 share one NVLink and 2 and 3 two)
is listed apart, marked ``uneven``: there the chunk level starts each rank's transfers when that rank is
ready, and a collective's early ranks exchange among themselves before its late ones join, while the
analytic engine and the fast level start a collective when its group's last rank joins (one price per
collective, :mod:`dpsim.sim.fast`). The 1 % claim is for homogeneous links; those cases are reported, not
dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import random
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, number, one_line_errors, whole
from dpsim import run
from dpsim.errors import ScenarioError
from dpsim.records import StepResult
from dpsim.scenario import Scenario, load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
ALGORITHMS = ["ring", "tree", "hierarchical", "halving-doubling", "auto"]


def _overrides(sets: dict[str, Any], extra: list[str]) -> list[str]:
    return [*(f"{key}={value}" for key, value in sets.items()), *extra]


def _accepted(path: Path, sets: dict[str, Any], extra: list[str], key: str, candidates: list[Any]) -> list[Any]:
    """The ``candidates`` for ``key`` that the scenario's own validators accept beside ``sets`` (and the ``--set``
    extras), with the global batch ``auto``: the constraints between fields (TP x PP dividing the ranks, TP the
    heads, a stage not straddling nodes, DeepSpeed's ZeRO-2/3 without stages, an all-reduce algorithm only where
    gradients are all-reduced) come from :mod:`dpsim.scenario`, not from a copy of them here. Repeated candidates
    stay repeated (their weight in the draw)."""
    kept = []
    for value in candidates:
        try:
            load_scenario(path, _overrides({**sets, key: value, "training.global_batch": "auto"}, extra))
        except ScenarioError:
            continue
        kept.append(value)
    return kept


class Refused(Exception):
    """No value of a field is accepted beside the others drawn (the ``--set`` extras can rule a file's shape out)."""


def _pick(rng: random.Random, path: Path, sets: dict[str, Any], extra: list[str], key: str, options: list[Any]) -> Any:
    """Draw ``key`` among the accepted ``options`` and record it in ``sets``."""
    accepted = _accepted(path, sets, extra, key, options)
    if not accepted:
        raise Refused(f"{path.name}: no {key} of {options} beside {_overrides(sets, extra)}")
    value = rng.choice(accepted)
    sets[key] = value
    return value


def draw(
    rng: random.Random,
    extra: list[str] | None = None,
    host: bool = False,
    wide: bool = False,
    wider: bool = False,
    widest: bool = False,
) -> tuple[Path, list[str]]:
    """One scenario file and random overrides that its validators accept (with ``extra`` appended): each field
    bound to others is drawn among the values :func:`_accepted` leaves, so every draw is a case (:class:`Refused`
    only where ``extra`` rules out the drawn cluster itself). Before, 73-120 of
    every 150 draws were refused (an all-reduce algorithm under ZeRO-2/3, TP x PP not dividing the ranks, TP not
    dividing the heads, ...) and skipped, which left those combinations' neighbours under-drawn."""
    extra = extra or []
    path = rng.choice(SCENARIOS)
    transformer = "llama2" in path.name or "default" in path.name
    per_node = rng.choice([1, 2, 4, 8])
    nodes = rng.choice([1, 2, 3, 4])
    zero = rng.choice([0, 1, 2, 3])
    sharding = rng.choice(["zero", "zero", "megatron", "fsdp"])
    if sharding == "megatron":
        zero = 1
    if sharding == "fsdp" and zero < 2:
        zero = rng.choice([2, 3])
    sets: dict[str, Any] = {
        "cluster.nodes": nodes,
        "cluster.workers_per_node": per_node,
        "cluster.inter_node.nics_per_node": rng.choice([1, 1, 2, per_node, 2 * per_node]),
        "training.zero_stage": zero,
        "training.optimizer_sharding": sharding,
        "communication.overlap": rng.choice(["true", "true", "false"]),
        "communication.bucket": rng.choice(["25MiB", "50MB", "100MiB", "400MB"]),
        "training.precision": rng.choice(["bf16", "fp16", "fp32"]),
    }
    if transformer and rng.random() < 0.5:
        _pick(rng, path, sets, extra, "training.tensor_parallel", [1, 2, 4])
        pp = _pick(rng, path, sets, extra, "training.pipeline_parallel", [1, 2, 4])
        if pp > 1 and rng.random() < 0.4:
            sets["training.pipeline_schedule"] = "interleaved"
            _pick(rng, path, sets, extra, "training.virtual_stages", [1, 2])
    sets["training.micro_batch"] = rng.choice([1, 2]) if transformer else rng.choice([4, 16])
    try:
        auto = load_scenario(path, _overrides({**sets, "training.global_batch": "auto"}, extra))  # dp x micro (x pp)
    except ScenarioError as error:
        raise Refused(str(error)) from None
    dp = auto.data_parallel
    sets["training.global_batch"] = auto.training.global_batch * rng.choice([1, 1, 2, 3, 4])
    if sharding == "fsdp" and rng.random() < 0.3 and dp > 1:
        groups = _accepted(path, sets, extra, "training.fsdp_shard_group", [g for g in (1, 2, 4, 8) if g < dp])
        sets["training.fsdp_shard_group"] = rng.choice(groups or [dp])
    if sharding == "fsdp" and rng.random() < 0.2:
        sets["training.fsdp_no_sync"] = "true"
    if sharding == "zero" and zero >= 1 and rng.random() < 0.6:  # DeepSpeed's own buckets (collective_pieces)
        sets["training.deepspeed_reduce_bucket_size"] = rng.choice([2_000_000, 25_000_000, 100_000_000])
        sets["training.deepspeed_overlap_comm"] = rng.choice(["true", "false"])
        if zero == 3:
            sets["training.deepspeed_prefetch_bucket_size"] = rng.choice([0, 5_000_000, 50_000_000])
    _pick(rng, path, sets, extra, "communication.algorithm", ALGORITHMS)  # last: it depends on the sharding
    if host:
        _draw_host_topology(rng, path, sets, extra)
    if wide or wider or widest:
        _draw_wide(rng, path, sets, extra)
    if wider or widest:
        _draw_wider(rng, path, sets, extra)
    if widest:
        _draw_widest(rng, path, sets, extra)
    return path, _overrides(sets, extra)


PROFILE = Path(__file__).resolve().parent / "results" / "plain-ddp-2026-12-05-j" / "profile.yaml"
"""A stored ``dpsim calibrate`` profile (gloo on the emulated cluster) that ``--wide`` applies to some draws."""


def _draw_wide(rng: random.Random, path: Path, sets: dict[str, Any], extra: list[str]) -> None:
    """Fields the other draws leave at their defaults, drawn after them (a seed's other fields stay the same):
    the fabric (fat-tree with oversubscription, a ring of nodes), degraded NICs, rank order, sequence parallelism
    and its overlaps beside TP, every algorithm and protocol, a calibration profile, a straggler, activation
    recomputation and ``NCCL_ALGO``."""
    kind = _pick(rng, path, sets, extra, "cluster.topology.kind", ["switch", "switch", "fat-tree", "fat-tree", "ring"])
    if kind == "fat-tree":
        _pick(rng, path, sets, extra, "cluster.topology.oversubscription", [1, 2, 4])
        _pick(rng, path, sets, extra, "cluster.topology.nodes_per_leaf", [1, 2, 16])
    nodes = int(sets["cluster.nodes"])
    if nodes > 1 and rng.random() < 0.35:
        picked = rng.sample(range(nodes), rng.choice([1, 1, 2]) if nodes > 1 else 1)
        entries = ", ".join(f"{{node: {n}, factor: {rng.choice([0.25, 0.5, 0.8])}}}" for n in picked)
        sets["variability.degraded_links"] = f"[{entries}]"
    if rng.random() < 0.25:
        _pick(rng, path, sets, extra, "cluster.rank_order", ["node_major", "round_robin"])
    if int(sets.get("training.tensor_parallel", 1)) > 1 and rng.random() < 0.6:
        if _pick(rng, path, sets, extra, "training.sequence_parallel", ["true", "false"]) == "true":
            _pick(rng, path, sets, extra, "training.sequence_parallel_kind", ["megatron", "dtensor"])
            _pick(rng, path, sets, extra, "training.tp_comm_overlap", ["false", "true"])
        else:
            _pick(rng, path, sets, extra, "training.tp_async_grad_allreduce", ["false", "true"])
    _pick(
        rng,
        path,
        sets,
        extra,
        "communication.algorithm",
        [*ALGORITHMS, "direct", "parameter-server", "nvls", "nvls-tree", "backend"],
    )
    if rng.random() < 0.5:
        _pick(rng, path, sets, extra, "communication.protocol", ["auto", "Simple", "LL", "LL128", "none"])
    if rng.random() < 0.15:
        accepted = _accepted(path, sets, extra, "calibration.profile", [str(PROFILE)])
        if accepted:
            sets["calibration.profile"] = accepted[0]
    if rng.random() < 0.2:  # one slow worker: the step waits for it (the analytic engine's slowest worker)
        world = int(sets["cluster.nodes"]) * int(sets["cluster.workers_per_node"])
        slowdown = rng.choice([1.2, 1.5, 2.0])
        sets["variability.stragglers"] = f"[{{worker: {rng.randrange(world)}, slowdown: {slowdown}}}]"
    if rng.random() < 0.2:
        _pick(rng, path, sets, extra, "training.activation_recomputation", ["none", "selective", "full", "op"])
    nccl_algo = ["ring", "tree", "ring,tree", "nvls,nvls-tree"]  # read only beside algorithm auto on NCCL's GPUs
    if rng.random() < 0.2 and _accepted(path, sets, extra, "communication.nccl_algo", nccl_algo):
        _pick(rng, path, sets, extra, "communication.nccl_algo", nccl_algo)


def _draw_wider(rng: random.Random, path: Path, sets: dict[str, Any], extra: list[str]) -> None:
    """``--wider`` (stop 39), drawn after the ``--wide`` fields (the case's other fields are drawn as before): the
    training fields no other draw sets, each among the values the validators accept beside the rest: the optimizer's
    state dtype, kernels and copies, gradient clipping, the gradient's dtype and accumulation pass (FSDP2's copies too),
    DDP's bucket views, ZeRO-1's all-reduce, FSDP's resharding after the backward, torch's pipelining runtime,
    the pipeline's embedding slots, the tensor-parallel overlap's kind and the samples' partition (``weighted``
    beside a straggler)."""
    pipelined = int(sets.get("training.pipeline_parallel", 1)) > 1
    tp_overlap = sets.get("training.tp_comm_overlap") == "true"
    straggler = "variability.stragglers" in sets
    for key, options, chance in (
        ("training.optimizer_state_dtype", ["fp32", "bf16"], 0.3),
        ("training.optimizer_kernels", ["fused", "foreach"], 0.2),
        ("training.optimizer_copies", ["fused", "separate"], 0.2),
        ("training.gradient_clipping", ["true", "false"], 0.3),
        ("training.gradient_dtype", ["auto", "fp32", "bf16", "fp16"], 0.2),
        (
            "training.gradient_accumulation_pass",
            ["none", "autograd", "fp32_copy", "fsdp_flat", "fairscale_flat", "fsdp2"],
            0.35,
        ),
        ("training.gradient_as_bucket_view", ["true", "false"], 0.15),
        ("training.zero1_gradient_allreduce", ["true", "false"], 0.2),
        ("training.fsdp_reshard_after_backward", ["true", "false"], 0.25),
        ("training.pipeline_runtime", ["megatron", "torch"], 0.5 if pipelined else 0),
        ("training.embedding_pipeline_slots", ["true", "false"], 0.2),
        ("training.tp_overlap_kind", ["userbuffers", "torch_async_tp"], 0.5 if tp_overlap else 0),
        ("training.partition", ["round_robin", "contiguous", "weighted"], 0.8 if straggler else 0.15),
    ):  # fmt: skip
        if rng.random() < chance and _accepted(path, sets, extra, key, options):
            _pick(rng, path, sets, extra, key, options)


def _draw_widest(rng: random.Random, path: Path, sets: dict[str, Any], extra: list[str]) -> None:
    """``--widest`` (stop 40), drawn after the ``--wider`` fields: the combinations those leave rare or out. The
    pipeline's stage-to-stage transfers (``pipeline_p2p``: blocking and synchronous ones give each stage its own
    pace, :func:`dpsim.analytic.step.pipeline_stage_slowdowns`) and slow inter-node links (sends that outlast a
    pass); the calibration profile far more often, so its shared host (``comm_rate_in_backward`` under DDP, the
    window elsewhere) meets ZeRO-1/2/3, FSDP, Megatron's distributed optimizer and accumulation; FSDP's
    HYBRID_SHARD beside degraded NICs, FSDP2's accumulation pass and torch's pipelining over FSDP."""
    if int(sets.get("training.pipeline_parallel", 1)) > 1 and rng.random() < 0.6:
        _pick(rng, path, sets, extra, "training.pipeline_p2p", ["overlapped", "blocking", "synchronous"])
    if int(sets["cluster.nodes"]) > 1 and rng.random() < 0.3:
        _pick(rng, path, sets, extra, "cluster.inter_node.bandwidth", ["100 Mbit/s", "1 Gbit/s", "10 Gbit/s"])
    if "calibration.profile" not in sets and rng.random() < 0.4:
        accepted = _accepted(path, sets, extra, "calibration.profile", [str(PROFILE)])
        if accepted:
            sets["calibration.profile"] = accepted[0]
    fsdp = sets["training.optimizer_sharding"] == "fsdp"
    nodes = int(sets["cluster.nodes"])
    if fsdp and "training.fsdp_shard_group" not in sets and rng.random() < 0.4:
        groups = _accepted(path, sets, extra, "training.fsdp_shard_group", [1, 2, 4, 8])
        if groups:
            sets["training.fsdp_shard_group"] = rng.choice(groups)
    hybrid = "training.fsdp_shard_group" in sets and nodes > 1
    if hybrid and "variability.degraded_links" not in sets and rng.random() < 0.5:
        sets["variability.degraded_links"] = f"[{{node: {rng.randrange(nodes)}, factor: {rng.choice([0.25, 0.5])}}}]"
    if fsdp and rng.random() < 0.3 and _accepted(path, sets, extra, "training.gradient_accumulation_pass", ["fsdp2"]):
        sets["training.gradient_accumulation_pass"] = "fsdp2"
    pipelined = int(sets.get("training.pipeline_parallel", 1)) > 1
    if (
        fsdp
        and pipelined
        and rng.random() < 0.5
        and _accepted(path, sets, extra, "training.pipeline_runtime", ["torch"])
    ):
        sets["training.pipeline_runtime"] = "torch"


def _draw_host_topology(rng: random.Random, path: Path, sets: dict[str, Any], extra: list[str]) -> None:
    """PCIe-only nodes with a random ``cluster.host_topology`` (sockets, switches, CPU class, P2P, its measured
    latency and socket rate, ``NCCL_P2P_LEVEL``) and protocol, each among the values the validators accept."""
    _pick(rng, path, sets, extra, "cluster.intra_node", ["pcie3", "pcie4", "pcie5"])
    sockets = _pick(rng, path, sets, extra, "cluster.host_topology.sockets", [1, 1, 2, 4])
    _pick(rng, path, sets, extra, "cluster.host_topology.gpus_per_switch", [1, 2, 4, 8])
    if sockets > 1:
        _pick(rng, path, sets, extra, "cluster.host_topology.cpu", ["amd", "intel-skl", "intel-srp", "arm"])
        if rng.random() < 0.3:
            sets["cluster.host_topology.socket_link_gbps"] = rng.choice([8, 20, 40])
    p2p = rng.choice(["true", "true", "false"])
    sets["cluster.host_topology.p2p"] = p2p
    if p2p == "true" and rng.random() < 0.4:
        sets["cluster.host_topology.p2p_latency_us"] = rng.choice([1.0723, 2.5, 8])
    if rng.random() < 0.3:
        sets["communication.nccl_p2p_level"] = rng.choice(["PIX", "PXB", "PHB", "SYS"])
    if rng.random() < 0.5:
        _pick(rng, path, sets, extra, "communication.protocol", ["auto", "Simple", "LL", "LL128"])


def uneven(result: StepResult) -> bool:
    """Whether the simulated ranks' timelines differ (communication or waiting, beyond rounding): links that
    are not homogeneous (see the module docstring)."""
    spread = 0.0
    for key in ("worker_comm_s", "worker_wait_s"):
        values = result.extra.get(key) or [0.0]
        spread = max(spread, max(values) - min(values))
    return spread > 1e-9 * result.step_time_s


def _shared(scenario: Scenario, jobs: int) -> StepResult:
    """``jobs`` copies of ``scenario`` packed on one fabric, every DP group at chunk level on one network: the
    slowest job's result."""
    from dpsim.sim.shared import simulate_shared

    return max(simulate_shared([scenario] * jobs), key=lambda r: r.step_time_s)


def _contends(scenario: Scenario, jobs: int) -> bool:
    """Whether a shared fabric prices contention the symmetric step does not: tensor-parallel or pipeline flows
    on the DP groups' links (``tp_flows``, ``pipeline_flows``), jobs meeting on oversubscribed leaf uplinks, or
    jobs on a ring of nodes (a job's ring closes over node-to-node links next to the other jobs' nodes).
    Listed with the ``uneven`` cases."""
    t, topology = scenario.training, scenario.cluster.topology
    flows = t.tensor_parallel > 1 or t.pipeline_parallel > 1
    uplinks = topology.kind == "fat-tree" and topology.oversubscription > 1
    spans = jobs * scenario.cluster.nodes > topology.nodes_per_leaf
    return flows or (uplinks and spans) or (topology.kind == "ring" and jobs > 1)


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def case_alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`_Timeout` inside the block after ``seconds``; an alarm set before it (a caller's own timeout:
    ``tests/hostile.py`` runs this script in-process under one) keeps its handler and its deadline, and fires as it
    would have, inside the block or after it.

    Round 28: the script installed its own SIGALRM handler for good and cancelled the timer after each case, so the
    caller's timeout never fired again: a case that hung outside the simulator (drawing, loading, the analytic
    engine) hung the caller, and a deadline inside a case was counted as one slow case.
    """
    outer_left, _ = signal.setitimer(signal.ITIMER_REAL, 0)  # the caller's timer, stopped while ours runs
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_deadline = time.monotonic() + outer_left if outer_left > 0 else math.inf

    def fire(signum: int, frame: Any) -> None:
        if time.monotonic() >= outer_deadline - 1e-3:  # the caller's deadline: its handler, as if never stopped
            if callable(outer_handler):
                outer_handler(signum, frame)
            signal.signal(signal.SIGALRM, outer_handler)  # a default action (end the process) or ignore it
            signal.setitimer(signal.ITIMER_REAL, 1e-6)
        raise _Timeout

    signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 1e-6))


def options_problem(args: argparse.Namespace) -> None:
    """Raise :class:`ScriptError` naming the first option the fuzz cannot use, before any case is drawn (round 20).
    Before: ``--case-timeout -1`` was an ``OverflowError`` traceback from ``signal.alarm`` after the first draw,
    ``0`` turned the timeout off (``alarm(0)`` cancels), ``--tolerance nan`` listed nothing as beyond it, ``--cases
    0`` or ``-5`` printed an empty run, a ``--set`` no scenario takes (``--set foo``, ``--set cluster.nodez=2``) made
    every draw invalid (10,000 draws for 200 cases, then "0 cases", status 0), and an ``--out`` in a missing folder
    or onto a folder was a traceback after every case had run, its rows lost."""
    if args.cases < 1:
        raise ScriptError(f"--cases: expected a number of cases >= 1, got {args.cases}")
    if args.case_timeout < 1:
        raise ScriptError(f"--case-timeout: expected whole seconds >= 1 (0 would turn the timeout off), got "
                          f"{args.case_timeout}")  # fmt: skip
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise ScriptError(f"--tolerance: expected a finite fraction >= 0 (0.01 is 1 %), got {args.tolerance}")
    if args.set:
        try:
            load_scenario(None, args.set)  # the default scenario: a path or value no scenario takes
        except ScenarioError as exc:
            raise ScriptError(f"--set: {exc.one_line()}") from None
    if args.out is not None:
        if args.out.is_dir():
            raise ScriptError(f"--out: {args.out} is a folder; expected a file to write the cases to")
        if not args.out.parent.is_dir():
            raise ScriptError(f"--out: {args.out}: the folder {args.out.parent} does not exist")


def main(argv: list[str] | None = None) -> int:
    """The fuzz, with bad options one line on stderr and status 2 (:func:`options_problem`)."""
    return one_line_errors(functools.partial(_main, argv))()


def _main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    # round 27: int()/float() took '1_0', '１' and -1 (--seed), --case-timeout 1e14 was an OverflowError at the
    # first case's alarm, --shared-fabric -1 crashed every case (listed, status 0) and 100000 hung the first
    parser.add_argument("--cases", type=whole(1, 1_000_000), default=200)
    parser.add_argument("--seed", type=whole(0, (1 << 63) - 1), default=0)
    parser.add_argument("--tolerance", type=number(0.0, 1e6), default=0.01)
    parser.add_argument("--case-timeout", type=whole(1, 86_400), default=20,
                        help="seconds per simulation before it is skipped")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write every case as a JSON line")
    parser.add_argument("--only", default="", help="keep only draws with an override containing this text")
    parser.add_argument("--set", action="append", default=[], help="PATH=VALUE added to every case (repeatable)")
    parser.add_argument(
        "--host-topology", action="store_true", help="PCIe-only nodes with a random cluster.host_topology each"
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="also draw the fabric, degraded NICs, rank order, sequence parallelism, every algorithm and protocol, "
        "a calibration profile",
    )
    parser.add_argument(
        "--wider",
        action="store_true",
        help="--wide, then the training fields no other draw sets (optimizer state dtype, accumulation pass, "
        "pipelining runtime, partition, ...)",
    )
    parser.add_argument(
        "--widest",
        action="store_true",
        help="--wider, then pipeline transfers, slow inter-node links, the profile under every sharding, "
        "HYBRID_SHARD beside degraded NICs, FSDP2's accumulation pass, torch's pipelining over FSDP",
    )
    parser.add_argument(
        "--shared-fabric",
        type=whole(0, 64),
        default=0,
        metavar="K",
        help="run K copies of each case packed on one fabric (dpsim.sim.shared.simulate_shared) instead of the "
        "simulator's symmetric reduction; the slowest job is compared",
    )
    args = parser.parse_args(argv)
    options_problem(args)
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    drawn = invalid = slow = 0
    crashes: list[str] = []
    started = time.perf_counter()
    while len(rows) < args.cases and drawn < 50 * args.cases:
        drawn += 1
        try:
            path, sets = draw(rng, args.set, args.host_topology, args.wide, args.wider, args.widest)
        except Refused:
            invalid += 1
            continue
        if args.only and not any(args.only in s for s in sets):
            continue
        try:
            scenario = load_scenario(path, sets)
            analytic = run(scenario, engine="analytic").step_time_s
        except ScenarioError:
            invalid += 1
            continue
        try:
            with case_alarm(args.case_timeout):
                sim = _shared(scenario, args.shared_fabric) if args.shared_fabric else run(scenario, engine="sim")
        except ScenarioError:  # refused by the simulator's budget (or by the shared fabric)
            invalid += 1
            continue
        except _Timeout:
            slow += 1
            continue
        except Exception as error:  # a crash is a finding too: listed, not fatal
            crashes.append(f"{type(error).__name__}: {error}  {path.name} {' '.join(sets)}")
            continue
        row = {"file": path.name, "sets": sets, "analytic": analytic, "sim": sim.step_time_s}
        flows = bool(args.shared_fabric) and _contends(scenario, args.shared_fabric)
        rows.append(row | {"ratio": sim.step_time_s / analytic - 1, "uneven": uneven(sim) or flows})
    off = sorted((r for r in rows if abs(r["ratio"]) > args.tolerance), key=lambda r: -abs(r["ratio"]))
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    even = [r for r in off if not r["uneven"]]
    worst = max((abs(r["ratio"]) for r in rows if not r["uneven"]), default=0.0)
    print(
        f"{len(rows)} cases ({invalid} invalid or refused, {slow} past {args.case_timeout} s skipped), "
        f"{time.perf_counter() - started:.0f} s: {len(even)} beyond {100 * args.tolerance:g} % (worst {worst:.3%}), "
        f"{sum(r['uneven'] for r in rows)} on uneven ranks of which {len(off) - len(even)} beyond, "
        f"{len(crashes)} crashed"
    )
    for crash in crashes:
        print(f"CRASH  {crash}")
    for r in off:
        times = f"analytic {r['analytic']:.6g} s  sim {r['sim']:.6g} s"
        tag = "uneven  " if r["uneven"] else ""
        print(f"{r['ratio']:+8.2%}  {tag}{times}  {r['file']} {' '.join(r['sets'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
