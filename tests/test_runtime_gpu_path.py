"""The GPU path, as far as a CPU can check it: precision checked up front and applied, clocks, memory in
the record, NCCL settings and log parsing, the profiler-trace step. GPU runs are marked ``gpu``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _proc import LONG_S, run

pytest.importorskip("torch")

import torch

from dpsim.analytic.memory import memory_breakdown
from dpsim.calibration import load_profile
from dpsim.ingest.kineto import load_trace
from dpsim.scenario import load_scenario
from runtime.hooks import BucketTiming, Clock
from runtime.job import JobOptions
from runtime.launch import launch
from runtime.nccl import nccl_environment, nccl_settings, nccl_version, parse_nccl_debug
from runtime.precision import check_precision
from runtime.testbed import LocalTestbed

SCENARIO = """\
name: tiny-gpt
model: {layers: 2, hidden: 32, heads: 2, seq_len: 8, vocab: 64}
cluster:
  nodes: 2
  workers_per_node: 1
  device: {peak_flops: 10 GFLOP/s, memory: 1 GB}
  inter_node: {bandwidth: 1 Gbit/s, latency: 50 us}
training: {global_batch: 4, micro_batch: 2, optimizer: sgd, precision: bf16}
communication: {algorithm: ring, bucket: 16 KiB}
"""

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def test_precision_plans_and_refusals(scenario_file: Path) -> None:
    def plan(precision: str, device: str, **kw: object) -> str:
        scenario = load_scenario(scenario_file, [f"training.precision={precision}"])
        return check_precision(scenario, device, **kw).label  # type: ignore[arg-type]

    assert plan("fp32", "cpu") == "fp32"
    assert plan("bf16", "cpu") == "bf16 autocast"
    assert plan("fp16", "cuda") == "fp16 autocast + GradScaler"  # the plan only; no device touched
    with pytest.raises(ValueError, match=r"fp16 .* runs on GPUs only"):
        plan("fp16", "cpu")
    with pytest.raises(ValueError, match="sharded gradient scaler"):
        check_precision(load_scenario(scenario_file, ["training.precision=fp16", "training.zero_stage=2"]), "cuda")
    with pytest.raises(ValueError, match="FP8 training needs a GPU"):
        plan("bf16", "cpu", fp8=True)
    for device in ("cpu", "cuda"):  # round 35: fp8 without --fp8 fell to fp16's branch (a GradScaler on a GPU)
        fp8 = load_scenario(scenario_file, ["cluster.device=h100-sxm", "training.precision=fp8"])
        with pytest.raises(ValueError, match=r"training.precision: fp8 .*pass --fp8"):
            check_precision(fp8, device)
    if shutil.which("nvidia-smi") is None:
        with pytest.raises(ValueError, match=r"Transformer Engine|no FP8"):
            plan("bf16", "cuda", fp8=True)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "training.precision=fp16"], "fp16 (autocast with a GradScaler) runs on GPUs only"),
        (["--fp8", "--device", "cuda"], "torchrun"),
    ],
)
def test_runtime_refuses_what_cannot_run_before_starting(scenario_file: Path, extra: list[str], message: str) -> None:
    proc = run([sys.executable, "-m", "runtime", str(scenario_file), *extra], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr and proc.stderr.count("\n") == 1


def test_the_gpu_runtime_runs_the_optimizer_update_the_scenario_names() -> None:
    """Stop 42: on GPUs the runtime ran ``torch.optim``'s own default (foreach) whatever ``optimizer_kernels`` said,
    and the engines priced the default ``fused``; now the keyword that runs it is passed (``fused=True`` /
    ``foreach=True``: torch's own names), for every optimizer the runtime builds. On CPUs nothing: torch's
    single-tensor loop, what the calibrations measured."""
    from runtime.optim import build_optimizer, kernel_options

    assert kernel_options("fused", True) == {"fused": True} and kernel_options("foreach", True) == {"foreach": True}
    assert kernel_options("fused", False) == {} == kernel_options("foreach", False)
    model = torch.nn.Linear(4, 4)
    for name, extra in (("sgd", {}), ("sgd", {"momentum": 0.9}), ("adam", {}), ("adamw", {})):
        for kernels in ("fused", "foreach"):
            opt, _ = build_optimizer(model, name, 0.1, 8, 8, **extra, **kernel_options(kernels, True))
            group = opt.param_groups[0]
            assert group[kernels] is True and not group["foreach" if kernels == "fused" else "fused"]
    opt, _ = build_optimizer(model, "adam", 0.1, 8, 8, **kernel_options("fused", False))
    assert opt.param_groups[0]["fused"] is None and opt.param_groups[0]["foreach"] is None  # torch decides


def test_fp8_refused_under_torchrun_without_transformer_engine(scenario_file: Path) -> None:
    # all torchrun sets (a rank without MASTER_ADDR/MASTER_PORT is refused first: torch's rendezvous reads them)
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "29500"}  # fmt: skip
    proc = run([sys.executable, "-m", "runtime", str(scenario_file), "--fp8"], env=env, timeout=120)
    assert proc.returncode == 2 and "FP8 training needs a GPU" in proc.stderr


@pytest.mark.multiprocess
def test_bf16_autocast_run_records_precision_memory_and_a_trace(scenario_file: Path, tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file)
    trace = tmp_path / "step.json"
    options = JobOptions(algorithm="backend", warmup_steps=1, steps=1, trace=str(trace))
    result = launch(scenario, options, LocalTestbed(), tmp_path / "run", timeout_s=180)
    assert result.extra["precision"] == "bf16 autocast"
    # gradients stay fp32 (autocast keeps fp32 master weights): every parameter's 4 bytes through the hooks
    assert sum(result.extra["bucket_bytes"]) == 4 * scenario.model.num_parameters
    assert result.memory_per_device_bytes == result.extra["memory_measured_bytes"] > 0
    assert result.extra["memory_source"].startswith("host max RSS")
    assert result.extra["memory_predicted_bytes"] > 0
    # what ran is autocast over fp32 parameters whatever training.autocast said, and is priced so
    assert result.extra["autocast"] is True
    assert scenario.training.autocast or result.extra["memory_predicted_bytes"] != memory_breakdown(scenario).total
    # the profiled extra step: matmuls ran in bf16, and the trace feeds --from-trace
    data = json.loads(trace.read_text())
    types = {t for e in data["traceEvents"] if e.get("name") in ("aten::addmm", "aten::mm", "aten::linear")
             for t in (e.get("args") or {}).get("Input type", [])}  # fmt: skip
    assert "c10::BFloat16" in types
    step = load_trace(trace)
    names = [layer.name for layer in step.layers]
    assert names[:3] == ["Embedding_0", "Block_0", "Block_1"]
    assert names[3].startswith("LayerNorm") and len(names) == 4  # the model's final norm
    assert sum(g for g, _ in step.gradients) == 4 * scenario.model.num_parameters
    assert step.buckets and step.comm_s > 0  # gloo's all-reduce thread is C++: the profiler sees it
    assert sum(b.size_bytes for b in step.buckets) == 4 * scenario.model.num_parameters


def test_cpu_clock_marks_and_bucket_resolution() -> None:
    clock = Clock(cuda=False)
    origin = clock.start()
    a = clock.mark()
    b = clock.mark()
    clock.finish()
    assert clock.seconds(origin) == 0.0 and 0.0 <= clock.seconds(a) <= clock.seconds(b)
    timing = BucketTiming(0, 8, a, a, b).resolved(clock)
    assert timing.duration_s == pytest.approx(clock.seconds(b) - clock.seconds(a))


def test_nccl_settings_map_the_scenario_algorithm(scenario_file: Path) -> None:
    assert nccl_settings(load_scenario(scenario_file)) == {"NCCL_ALGO": "Ring"}
    assert nccl_settings(load_scenario(scenario_file, ["communication.algorithm=tree"])) == {"NCCL_ALGO": "Tree"}
    pinned = load_scenario(scenario_file, ["communication.algorithm=tree", "communication.protocol=LL128"])
    assert nccl_settings(pinned) == {"NCCL_ALGO": "Tree", "NCCL_PROTO": "LL128"}
    # NVLS runs Simple only, on nodes whose NVSwitch reduces (the scenario check refuses it elsewhere)
    nvls = ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "cluster.workers_per_node=2",
            "training.micro_batch=1", "communication.algorithm=nvls-tree", "communication.protocol=Simple"]  # fmt: skip
    assert nccl_settings(load_scenario(scenario_file, nvls)) == {"NCCL_ALGO": "NVLSTree", "NCCL_PROTO": "Simple"}
    assert nccl_settings(load_scenario(scenario_file, ["communication.algorithm=auto"])) == {}  # the tuner chooses
    with pytest.raises(ValueError, match="no NCCL equivalent"):
        nccl_settings(load_scenario(scenario_file, ["communication.algorithm=halving-doubling"]))
    env = {"NCCL_ALGO": "Ring", "PATH": "/bin", "NCCL_IB_HCA": "mlx5_0"}
    assert nccl_environment(env) == {"NCCL_ALGO": "Ring", "NCCL_IB_HCA": "mlx5_0"}
    if not torch.cuda.is_available():
        assert nccl_version() is None


NCCL_LOGS = Path(__file__).parent / "data" / "nccl_debug"
"""NCCL_DEBUG=INFO logs in two releases' formats (constructed from NCCL's format strings: see SOURCES.md)."""


def test_nccl_2_22_log_gives_version_overrides_rings_and_numeric_tuner_choices() -> None:
    parsed = parse_nccl_debug((NCCL_LOGS / "nccl-2.22.3-2x8-rank0.log").read_text())
    assert parsed["version"] == "2.22.3" and parsed["cuda"] == "12.4"
    assert (parsed["ranks"], parsed["nodes"], parsed["local_ranks"]) == (16, 2, 8)
    assert parsed["environment_overrides"] == {"NCCL_ALGO": "Ring", "NCCL_PROTO": "Simple"}
    assert parsed["coll_channels"] == 4 and parsed["nvls_channels"] == 0 and parsed["p2p_channels"] == 4
    # the four ring lines, not the transport lines ("Channel 00/0 : 9[1] -> 0[0] ...")
    assert parsed["channels"] == 4 and len(parsed["rings"]) == 4
    assert parsed["rings"][1] == list(range(16)) and sorted(parsed["rings"][0]) == list(range(16))
    assert parsed["tuning"]["26214400"] == {"algorithm": "Ring", "protocol": "Simple", "predicted_us": 1143.75}
    assert parsed["algorithms"] == ["Ring"] and parsed["protocols"] == ["Simple"]


def test_nccl_2_26_log_gives_named_choices_per_collective_with_their_channels() -> None:
    parsed = parse_nccl_debug((NCCL_LOGS / "nccl-2.26.2-2x8-rank0.log").read_text())
    assert parsed["version"] == "2.26.2" and "environment_overrides" not in parsed
    assert parsed["coll_channels"] == 2 and parsed["channels"] == 2
    tuning = parsed["tuning"]
    assert tuning["AllReduce 1048576"] == {"algorithm": "Tree", "protocol": "LL128", "collective": "AllReduce",
                                           "channels": 2}  # fmt: skip
    assert tuning["AllReduce 26214400"]["algorithm"] == "Ring" and tuning["AllReduce 26214400"]["protocol"] == "Simple"
    assert tuning["ReduceScatter 26214400"]["collective"] == "ReduceScatter"  # same size, another collective
    assert tuning["AllGather 3276800"] == {"algorithm": "PAT", "protocol": "Simple", "collective": "AllGather",
                                           "channels": 1}  # fmt: skip
    assert parsed["algorithms"] == ["PAT", "Ring", "Tree"] and parsed["protocols"] == ["LL128", "Simple"]


def test_nccl_2_23_tuner_line_names_the_collective_with_numeric_ids() -> None:
    line = "h:1:1 [0] NCCL INFO AllReduce: 4096 Bytes -> Algo 0 proto 0 time 25.874907"  # src/enqueue.cc, v2.23.4-1
    assert parse_nccl_debug(line)["tuning"] == {
        "AllReduce 4096": {"algorithm": "Tree", "protocol": "LL", "collective": "AllReduce", "predicted_us": 25.874907}
    }


@GPU
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gpu_run_under_torchrun_records_cuda_timing_memory_and_nccl(scenario_file: Path, tmp_path: Path,
                                                                    precision: str) -> None:  # fmt: skip
    out = tmp_path / "r.jsonl"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "runtime",
               str(scenario_file), "--set", "cluster.nodes=1", "--set", f"training.precision={precision}",
               "--device", "cuda", "--algorithm", "backend", "--nccl-debug", "--run-dir", str(tmp_path / "run"),
               "--out", str(out), "--steps", "2", "--warmup-steps", "1"]  # fmt: skip
    proc = run(command, timeout=LONG_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text().splitlines()[-1])
    extra = record["extra"]
    assert extra["precision"].startswith(precision)
    assert extra["memory_source"].startswith("torch.cuda.max_memory_allocated")
    assert record["memory_per_device_bytes"] == max(extra["gpu_max_memory_allocated_bytes"].values()) > 0
    assert extra["nccl"]["version"] and "debug" in extra["nccl"]
    assert record["compute_s"] > 0 and record["step_time_s"] >= record["compute_s"]


def _torchrun_calibrate(scenario_file: Path, out: Path, device: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
               "dpsim.cli", "calibrate", str(scenario_file), "--device", device, "--sizes", "64KiB,1MiB", "--reps",
               "3", "--algorithms", "ring,backend", "--out", str(out)]  # fmt: skip
    return run(command, timeout=LONG_S, cwd=out.parent)


@pytest.mark.multiprocess
@pytest.mark.slow
def test_calibrate_under_torchrun_rank0_writes_the_profile(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    proc = _torchrun_calibrate(scenario_file, out, "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("wrote ") == 1  # rank 0 only
    profile = load_profile(out)
    assert profile.meta["testbed"] == "torchrun" and profile.meta["world_size"] == 2
    assert set(profile.links["intra"]) == {"ring", "backend"}  # one node: intra
    assert profile.has_compute and profile.optimizer is not None
    sizes = {r["size_bytes"] for r in profile.meta["bench"] if r["collective"] == "all_reduce"}
    assert sizes == {64 * 1024, 1024 * 1024}


@GPU
@pytest.mark.gpu
def test_calibrate_under_torchrun_on_gpus(scenario_file: Path, tmp_path: Path) -> None:
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    out = tmp_path / "profile.yaml"
    proc = _torchrun_calibrate(scenario_file, out, "cuda")
    assert proc.returncode == 0, proc.stderr[-2000:]
    profile = load_profile(out)
    assert profile.backend == "nccl" and set(profile.links["intra"]) == {"backend"}
    assert profile.meta["nccl"]["version"]


def _tiny_profile(path: Path) -> Path:
    """A hand-written testbed profile (the prediction side of validate; calibration is tested above)."""
    from dpsim.analytic.collectives import Link
    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    save_profile(HardwareProfile(name="tiny", backend="gloo", links={"intra": {"ring": Link(50e-6, 100e6)}},
                                 forward=LinearTime(1e-3, 1e-4), backward=LinearTime(2e-3, 2e-4)), path)  # fmt: skip
    return path


def _torchrun_validate(scenario_file: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=2",
               "-m", "dpsim.cli", "validate", str(scenario_file), "--set", "cluster.nodes=1", "--set",
               "cluster.workers_per_node=2", "--profile", str(_tiny_profile(tmp_path / "p.yaml")), "--out-dir",
               str(tmp_path / "out"), "--steps", "2", "--warmup-steps", "1", "--timeout", "120", *extra]  # fmt: skip
    return run(command, timeout=LONG_S, cwd=tmp_path)


@pytest.mark.multiprocess
def test_validate_under_torchrun_runs_every_case_on_the_ranks_and_rank0_writes_the_table(
    scenario_file: Path, tmp_path: Path
) -> None:
    proc = _torchrun_validate(scenario_file, tmp_path, "--case", "communication.bucket=8KiB", "--case",
                              "communication.bucket=32KiB")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("MAPE step time (analytic)") == 1  # rank 0 only
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "validation.csv")
    assert list(table["case"]) == ["bucket=8KiB", "bucket=32KiB"] and set(table["ranks"]) == {2}
    assert (table["measured_step_time_s"] > 0).all() and (table["predicted_step_time_s"] > 0).all()
    records = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    measured = [r for r in records if r["engine"] == "runtime"]
    assert len(measured) == 2 and all(r["extra"]["testbed"] == "torchrun" for r in measured)
    assert all(r["world_size"] == 2 for r in measured)


@pytest.mark.multiprocess
def test_validate_under_torchrun_refuses_a_case_of_another_shape(scenario_file: Path, tmp_path: Path) -> None:
    proc = _torchrun_validate(scenario_file, tmp_path, "--case", "cluster.workers_per_node=1;cluster.nodes=2")
    assert proc.returncode != 0  # torchrun reports the ranks' exit 2 with its own ChildFailedError traceback
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines and all("cluster.workers_per_node" in line for line in lines)  # each rank: one line, no traceback
    assert "ScenarioError" not in proc.stderr and "runtime/torchrun.py" not in proc.stderr
