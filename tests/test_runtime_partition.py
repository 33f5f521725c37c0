"""The runtime splits each global batch as ``training.partition`` says and aggregates ``Σₙ (Mₙ/M)·∇ℓₙ``.

Independent truth: single-process SGD on the whole global batch (the same synthetic
samples, drawn by global index), and the simulator's per-worker sample counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("torch")

import torch

from dpsim.partition import shard_sizes, step_shards
from dpsim.records import StepResult
from dpsim.scenario import Scenario, load_scenario
from dpsim.sim import simulate
from runtime.job import JobOptions
from runtime.launch import launch
from runtime.model import build_model, synthetic_samples
from runtime.testbed import LocalTestbed
from runtime.train import SAVE_PARAMETERS_ENV

pytestmark = [pytest.mark.multiprocess]

SCENARIO = """\
name: tiny-mlp-partition
model: {kind: mlp, layers: 2, hidden: 8, parameters: 144, flops_per_sample: 864}
cluster:
  nodes: 3
  workers_per_node: 1
  device: {peak_flops: 10 GFLOP/s, memory: 1 GB}
  inter_node: {bandwidth: 1 Gbit/s, latency: 50 us}
training: {global_batch: 24, micro_batch: 4, optimizer: sgd, precision: fp32, learning_rate: 0.2}
communication: {algorithm: ring, bucket: 256 B}
"""

WARMUP, STEPS, SEED = 1, 2, 3
# fp32 throughout (the runtime has no float64 option): the runtime sums the ranks' scaled gradients
# in another order than the single-process mean, so the parameters agree to rounding, not bit for bit
RTOL, ATOL = 1e-5, 1e-6

CASES = {
    # weighted, straggler 2x: shards 10, 10, 4 per step (micro-batches 4+4+2 on ranks 0 and 1)
    "weighted-uneven": ["training.partition=weighted", "variability.stragglers=[{worker: 2, slowdown: 2}]"],
    # weighted, straggler 10x: the straggler's share 12/21 of a sample rounds to 0 (it still joins the all-reduce)
    "weighted-empty": ["training.partition=weighted", "variability.stragglers=[{worker: 2, slowdown: 10}]"],
    # the same as plain DDP (gloo's own all-reduce needs no communication hook): N·Mₙ/M folded into the loss, DDP's
    # own division by N in its copy into the buckets
    "weighted-uneven-plain-ddp": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "communication.algorithm=backend",
    ],
    "weighted-empty-plain-ddp": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 10}]",
        "communication.algorithm=backend",
    ],
    # FSDP (ZeRO-3): every rank runs the same number of micro-batches (3 of 4+3+3 on ranks 0/1, 2+1+1 on rank 2)
    "weighted-fsdp": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=3",
        "training.optimizer_sharding=fsdp",
    ],
    # torch's ZeroRedundancyOptimizer over DDP (ZeRO-1): each rank steps the parameters it owns and broadcasts them
    "weighted-zero1-torch": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=1",
        "training.optimizer_sharding=torch",
    ],
    # the same under FSDP's no_sync: gradients accumulate unsharded, one reduce-scatter per step
    "weighted-fsdp-no-sync": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=3",
        "training.optimizer_sharding=fsdp",
        "training.fsdp_no_sync=true",
    ],
    # SHARD_GRAD_OP keeping the first forward's gather through the step (FSDP2 set_reshard_after_backward),
    # reducing every micro-batch, and under no_sync (both reshard only after the last backward)
    "weighted-fsdp-kept-gathered": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=2",
        "training.optimizer_sharding=fsdp",
        "training.fsdp_reshard_after_backward=false",
    ],
    # HYBRID_SHARD on 4 ranks: shard groups of 2 (an FSDP2 device mesh of 2 replicas x 2), reduce-scatter
    # inside each, all-reduce across them
    "weighted-fsdp-hybrid": [
        "cluster.nodes=4",
        "training.global_batch=32",
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=3",
        "training.optimizer_sharding=fsdp",
        "training.fsdp_shard_group=2",
    ],
    "weighted-fsdp-shard-grad-op-no-sync": [
        "training.partition=weighted",
        "variability.stragglers=[{worker: 2, slowdown: 2}]",
        "training.zero_stage=2",
        "training.optimizer_sharding=fsdp",
        "training.fsdp_no_sync=true",
    ],
}


LAUNCH_TIMEOUT_S = 420.0
"""The whole launch (under pytest-timeout's 600 s; it was 120 s, which a loaded 2-core machine's start-up overran)."""
HANG_TIMEOUT_S = 60.0
"""No rank reporting a new phase for this long is a hang (the launcher's watchdog): a step of this tiny model
takes milliseconds, so a stuck collective is still caught sooner than the old 120 s whole-run limit did."""


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    result: StepResult
    parameters: dict[str, torch.Tensor]


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp(request.param)
    path = tmp / "tiny.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path, CASES[request.param])
    saved = tmp / "parameters.pt"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SAVE_PARAMETERS_ENV, str(saved))
        options = JobOptions(warmup_steps=WARMUP, steps=STEPS, seed=SEED)
        # a loaded machine may take minutes to start the ranks (each imports torch): the whole run gets
        # LAUNCH_TIMEOUT_S, while a hang is still caught within HANG_TIMEOUT_S of the last phase a rank reported
        result = launch(scenario, options, LocalTestbed(), tmp / "run", timeout_s=LAUNCH_TIMEOUT_S,
                        step_timeout_s=HANG_TIMEOUT_S)  # fmt: skip
    yield Run(scenario, result, torch.load(saved))


def _reference(scenario: Scenario, weighted: bool) -> dict[str, torch.Tensor]:
    """Single-process SGD; ``weighted=False``: the plain mean of the ranks' mean gradients instead."""
    model = build_model(scenario, SEED)
    optimizer = torch.optim.SGD(model.parameters(), lr=scenario.training.learning_rate)
    t = scenario.training
    shards = step_shards(t.micro_batch, scenario.worker_slowdowns(), scenario.accumulation_steps, t.partition)
    for step in range(WARMUP + STEPS):
        optimizer.zero_grad()
        if weighted:  # the full-batch mean loss: every sample of the global batch once
            loss = model.loss(synthetic_samples(model, scenario, range(t.global_batch), SEED, step))
        else:
            nonempty = [s for s in shards if s]
            loss = sum(model.loss(synthetic_samples(model, scenario, s, SEED, step)) for s in nonempty)
            loss = loss / len(shards)
        loss.backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_shards_cover_the_global_batch_once(run: Run) -> None:
    t = run.scenario.training
    shards = step_shards(t.micro_batch, run.scenario.worker_slowdowns(), run.scenario.accumulation_steps, t.partition)
    assert sorted(i for s in shards for i in s) == list(range(t.global_batch))


def test_parameters_equal_single_process_full_batch_training(run: Run) -> None:
    expected = _reference(run.scenario, weighted=True)
    assert run.parameters.keys() == expected.keys()
    initial = dict(build_model(run.scenario, SEED).named_parameters())
    for name, value in expected.items():
        assert not torch.allclose(value, initial[name].detach(), rtol=RTOL, atol=ATOL)  # training moved it
        torch.testing.assert_close(run.parameters[name], value, rtol=RTOL, atol=ATOL)
    if len(set(run.result.extra["worker_step_samples"])) > 1:
        # with uneven shards the plain mean (DDP's default 1/N) is measurably different: the test discriminates
        plain = _reference(run.scenario, weighted=False)
        worst = max(float((plain[n] - run.parameters[n]).abs().max()) for n in plain)
        assert worst > 100 * ATOL


def test_record_reports_the_simulators_split_batch_and_learning_rate(run: Run) -> None:
    s, extra = run.scenario, run.result.extra
    simulated = simulate(s).extra["worker_samples"]
    assert extra["worker_samples"] == simulated
    k = s.accumulation_steps
    weights = [1 / x for x in s.worker_slowdowns()] if s.training.partition == "weighted" else None
    dp, t = s.data_parallel, s.training
    per_micro_step = shard_sizes(dp * t.micro_batch, dp, t.partition, weights)
    assert extra["worker_step_samples"] == [k * m for m in per_micro_step]
    assert extra["effective_global_batch"] == s.training.global_batch == sum(extra["worker_step_samples"])
    assert extra["learning_rate"] == s.training.learning_rate


def test_record_says_whether_ddp_ran_the_runtimes_hook(run: Run) -> None:
    # the point-to-point ring needs the runtime's hook; gloo's own all-reduce runs as plain DDP; FSDP has none
    ddp = run.scenario.reduces_with_ddp
    plain = not ddp or run.scenario.communication.algorithm == "backend"
    assert (run.result.extra["comm_hook"] == "none") == plain
    assert bool(run.result.extra["bucket_bytes"]) == ddp  # the hook's buckets, or plain DDP's from its logging
    assert (run.result.comm_s > 0) == (ddp and not plain)  # plain DDP's all-reduces are not seen


@pytest.mark.parametrize("scheme", ["round_robin", "contiguous"])
def test_equal_shards_weigh_each_rank_one_nth(scheme: str) -> None:
    """Equal schemes ignore stragglers: Mₙ/M is exactly 1.0/N, so the hook's scale is DDP's plain mean."""
    from dpsim.partition import aggregation_weights

    shards = step_shards(4, [1.0, 1.0, 2.0], 2, scheme)
    assert [len(s) for s in shards] == [8, 8, 8]
    assert sorted(i for s in shards for i in s) == list(range(24))
    assert aggregation_weights([len(s) for s in shards]) == [1.0 / 3] * 3
