"""The runtime executes a scenario on loopback ranks: records, buckets, ZeRO, and the failure paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _proc import LONG_S, run

pytest.importorskip("torch")

from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario
from runtime.job import JobOptions
from runtime.launch import RankFailure, launch
from runtime.measure import read_rank_timings
from runtime.model import build_model
from runtime.testbed import LocalTestbed

pytestmark = [pytest.mark.multiprocess]

SCENARIO = """\
name: tiny-mlp
model: {kind: mlp, layers: 3, hidden: 64, parameters: 12480, flops_per_sample: 74880}
cluster:
  nodes: 2
  workers_per_node: 1
  device: {peak_flops: 10 GFLOP/s, memory: 1 GB}
  inter_node: {bandwidth: 1 Gbit/s, latency: 50 us}
training: {global_batch: 16, micro_batch: 4, optimizer: sgd, precision: fp32}
communication: {algorithm: ring, bucket: 16 KiB}
"""


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def test_run_records_every_step_and_every_gradient_byte(scenario_file: Path, tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file, ["communication.algorithm=halving-doubling"])
    result = launch(scenario, JobOptions(warmup_steps=1, steps=2), LocalTestbed(), tmp_path / "run", timeout_s=120)
    parameters = sum(p.numel() for p in build_model(scenario).parameters())
    assert parameters == scenario.model.num_parameters
    assert result.engine == "runtime" and result.world_size == 2
    assert result.accumulation_steps == 2  # 16 samples / (2 ranks x micro-batch 4)
    assert result.extra["steps_measured"] == 2 and result.extra["warmup_steps"] == 1
    assert sum(result.extra["bucket_bytes"]) == 4 * parameters  # fp32 gradients, all through the hook
    assert result.extra["buckets"] >= 2  # 16 KiB buckets over ~49 kB of gradients
    assert result.algorithm == "halving-doubling"
    assert result.scenario_hash == scenario.scenario_hash() == result.extra["scenario_hash"]
    assert {"torch_version", "backend", "host"} <= set(result.extra)
    assert result.compute_s + result.exposed_comm_s + result.optimizer_s <= result.step_time_s * 1.5
    timings = read_rank_timings(tmp_path / "run")
    assert sorted(timings) == [0, 1] and all(len(v) == 3 for v in timings.values())
    # each rank's medians over the 2 measured steps (steps 1 and 2), as recorded by the rank itself
    for key, of in (
        ("per_rank_optimizer_s", "optimizer_s"),
        ("per_rank_exposed_comm_s", "exposed_comm_s"),
        ("per_rank_optimizer_cpu_s", "optimizer_cpu_s"),
        ("per_rank_optimizer_faults", "optimizer_faults"),
        ("per_rank_compute_cpu_s", "compute_cpu_s"),
    ):
        want = {str(r): (getattr(ts[1], of) + getattr(ts[2], of)) / 2 for r, ts in timings.items()}
        assert result.extra[key] == pytest.approx(want, rel=1e-12)
    # the optimizer's CPU time is its own thread's: more than nothing, never more than the wall time it spanned
    steps = [t for ts in timings.values() for t in ts]
    assert all(0.0 < t.optimizer_cpu_s <= t.optimizer_s + 1e-4 for t in steps)
    # so is compute's: forward and backward run on the rank's thread, up to its last bucket's hook
    assert all(0.0 < t.compute_cpu_s <= t.compute_s + 1e-4 for t in steps)


@pytest.mark.parametrize(("zero_stage", "flavour"), [(1, "torch"), (2, "fsdp"), (3, "fsdp")])
def test_zero_stages_run(scenario_file: Path, tmp_path: Path, zero_stage: int, flavour: str) -> None:
    overrides = [
        f"training.zero_stage={zero_stage}",
        f"training.optimizer_sharding={flavour}",
        "training.optimizer=adam",
    ]
    scenario = load_scenario(scenario_file, overrides)
    result = launch(scenario, JobOptions(warmup_steps=0, steps=1), LocalTestbed(), tmp_path / "run", timeout_s=120)
    assert result.zero_stage == zero_stage
    # FSDP uses the backend's collectives; ZeRO-1 (DDP under ZeroRedundancyOptimizer) the scenario's all-reduce
    assert result.algorithm == ("backend" if zero_stage >= 2 else scenario.communication.algorithm)


@pytest.mark.parametrize(("precision", "gathered"), [("bf16", "torch.bfloat16"), ("fp32", "torch.float32")])
def test_fsdp_gathers_the_width_the_engines_price(
    scenario_file: Path, tmp_path: Path, precision: str, gathered: str
) -> None:
    # dpsim prices FSDP's gathers and reduce-scatters at the 16-bit parameter dtype under bf16 (MixedPrecision:
    # param_bytes_per_param 2, communication_dtype bf16); the runtime's FSDP2 must gather that, not autocast's fp32
    import torch
    import torch.distributed as dist

    from runtime.job import shard_units
    from runtime.precision import check_precision
    from runtime.torchrun import destroy_group

    overrides = [f"training.precision={precision}", "training.zero_stage=3", "training.optimizer_sharding=fsdp"]
    scenario = load_scenario(scenario_file, overrides)
    assert scenario.param_bytes_per_param == (2 if precision == "bf16" else 4)
    model = build_model(scenario, seed=0)
    plan = check_precision(scenario, "cpu")
    seen: list[torch.dtype] = []
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        shard_units(model, True, None, plan.dtype)
        for layer in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
            layer.register_forward_pre_hook(lambda module, _: seen.append(module.weight.dtype))
        with plan.forward():
            model(torch.randn(2, scenario.model.hidden))
        del model  # FSDP's state holds the group: freed before it is destroyed
    finally:
        destroy_group()
    assert seen and {str(d) for d in seen} == {gathered}


@pytest.mark.parametrize(
    ("stage", "flavour"),
    [
        (1, []),  # DeepSpeed's ZeRO-1: reduce-scatter in reduce_bucket_size pieces, one all-gather
        (1, ["training.zero1_gradient_allreduce=true"]),
        (1, ["training.optimizer_sharding=megatron"]),
        (2, []),  # DeepSpeed's ZeRO-2/3: bucketed reduce-scatters, post-step all-gather, its coordinator's gathers
        (3, []),
    ],
)
def test_zero_under_another_flavour_is_refused_before_any_rank_starts(
    scenario_file: Path, tmp_path: Path, stage: int, flavour: list[str]
) -> None:
    # the runtime's ZeRO-1 is torch's ZeroRedundancyOptimizer and its ZeRO-2/3 are FSDP2: measuring them against
    # the prediction of another framework's flavour would compare two mechanisms
    scenario = load_scenario(scenario_file, [f"training.zero_stage={stage}", "training.optimizer=adam", *flavour])
    with pytest.raises(ScenarioError) as refused:
        launch(scenario, JobOptions(warmup_steps=0, steps=1), LocalTestbed(), tmp_path / "run", timeout_s=120)
    assert refused.value.field == "training.optimizer_sharding"
    assert ("ZeroRedundancyOptimizer" if stage == 1 else "FSDP2") in refused.value.message
    assert not (tmp_path / "run").exists()


def test_killed_rank_is_named_and_completed_steps_are_kept(scenario_file: Path, tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file)
    options = JobOptions(warmup_steps=0, steps=5, fail_rank=1, fail_step=2, fail_mode="kill")
    with pytest.raises(RankFailure) as info:
        launch(scenario, options, LocalTestbed(), tmp_path / "run", timeout_s=120)
    assert info.value.rank == 1
    assert "rank 1 was killed by SIGKILL" in str(info.value)
    assert info.value.completed_steps == 2
    timings = read_rank_timings(tmp_path / "run")
    assert [t.step for t in timings[0]][:2] == [0, 1]


def test_hung_rank_is_named_after_the_timeout(scenario_file: Path, tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file)
    options = JobOptions(warmup_steps=0, steps=5, fail_rank=1, fail_step=2, fail_mode="hang")
    with pytest.raises(RankFailure) as info:
        # the per-step watchdog: 20 s without progress once every rank has started (start-up may be slow)
        launch(scenario, options, LocalTestbed(), tmp_path / "run", timeout_s=600, step_timeout_s=20)
    assert info.value.rank == 1
    assert "watchdog: no progress for 20 s: rank 1 hung in step 2 compute (hung)" in str(info.value)
    assert "rank 0: step 2 communication" in str(info.value)  # the peer waits in the all-reduce
    assert info.value.completed_steps == 2


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace("global_batch: 16", "global_batch: 15"))
    proc = run([sys.executable, "-m", "runtime", str(bad)], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: ") and "training.global_batch" in proc.stderr


def test_a_reserved_port_is_handed_to_no_other_process_but_rank_0_can_listen_on_it() -> None:
    import datetime
    import socket

    import torch.distributed as dist

    from runtime.launch import reserve_port

    with reserve_port() as port:
        handed_out = set()
        for _ in range(500):  # the kernel's picks for other bind(0) calls: never the held port
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                handed_out.add(s.getsockname()[1])
        assert port not in handed_out and len(handed_out) > 1
        with socket.socket() as s, pytest.raises(OSError):  # a plain bind to it is refused
            s.bind(("127.0.0.1", port))
        store = dist.TCPStore("127.0.0.1", port, 1, True, timeout=datetime.timedelta(seconds=10))
        store.set("k", "v")  # rank 0's store (SO_REUSEADDR, as the launcher's ranks make it) listens there
        assert store.get("k") == b"v"
        del store


def test_a_rank_under_torchrun_whose_peer_never_comes_fails_naming_itself_and_the_phase(scenario_file: Path) -> None:
    """No launcher watches torchrun's ranks: the group's timeout (--timeout) bounds the wait, one line, exit 1."""
    import os

    from runtime.launch import reserve_port

    with reserve_port() as port:  # rank 1 of this 2-rank "torchrun" job never starts
        env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # fmt: skip
        # bounded well below gloo's default of 30 minutes (start-up on a loaded machine takes a while)
        proc = run([sys.executable, "-m", "runtime", str(scenario_file), "--timeout", "3"], env=env, timeout=LONG_S)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rank 0 failed while joining the gloo group (")
    assert lines[0].endswith("a collective waits at most 3 s for a peer that hung or died")


def test_waiting_names_rank_and_phase_of_a_collective_failure_and_passes_other_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runtime.torchrun import waiting

    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    phase = ["step 1 compute"]
    gloo = "[/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 5000ms for recv"
    with pytest.raises(RankFailure) as info, waiting(lambda: phase[0], 5):
        phase[0] = "step 2 communication (bucket 0)"  # the phase is read when the wait fails, not before
        raise RuntimeError(gloo)
    assert str(info.value) == (f"rank 3 failed while step 2 communication (bucket 0) ({gloo}); a collective "
                               "waits at most 5 s for a peer that hung or died")  # fmt: skip
    assert info.value.rank == 3 and isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes") as bug, waiting("training", 5):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x8 and 4x8)")  # a bug, not a peer
    assert not isinstance(bug.value, RankFailure)


def test_a_rank_that_finished_its_steps_but_does_not_exit_is_named_so(tmp_path: Path) -> None:
    """Not "hung in done": the timeout names the teardown (group, threads, interpreter exit) as where it sits."""
    from runtime.launch import spawn_ranks

    linger = ("import os, pathlib, sys, time; rank = os.environ['RANK']; "
              "pathlib.Path(sys.argv[1], f'rank{rank}.phase').write_text('done'); time.sleep(60)")  # fmt: skip
    with pytest.raises(RankFailure) as info:
        spawn_ranks(2, [sys.executable, "-c", linger, str(tmp_path)], LocalTestbed(), tmp_path, timeout_s=3)
    assert "timeout after 3 s: rank 0, 1 had finished its steps but not exited (tearing down)" in str(info.value)
    assert "(rank 0: done; rank 1: done)" in str(info.value)


def test_closing_a_job_lets_go_of_the_group_so_destroy_group_drops_its_last_reference(
    scenario_file: Path, tmp_path: Path
) -> None:
    """The deadlock behind 034992a's hung CI run: a DDP freed after destroy_process_group() held the group's last
    reference, so ~ProcessGroupGloo joined gloo's worker with the GIL held while that worker, finishing the comm
    hook's ``then`` callback, waited for the GIL. close() must drop every holder (checked here with a weak reference),
    so the group's last reference goes in destroy_group() instead."""
    import gc
    import weakref

    import torch.distributed as dist

    from runtime.job import TrainingJob
    from runtime.torchrun import destroy_group

    scenario = load_scenario(scenario_file, ["cluster.nodes=1"])
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        job = TrainingJob(scenario, JobOptions(algorithm="backend", warmup_steps=0, steps=1), tmp_path)
        ddp = weakref.ref(job.wrapped)
        assert len(job.run()) == 1
        job.close()
        gc.collect()
        assert ddp() is None  # nothing of the job holds the group any more (it did: wrapped, and a cycle)
        assert job.algorithm == "backend" and job.precision.label == "fp32"  # what callers read after close
    finally:
        destroy_group()
