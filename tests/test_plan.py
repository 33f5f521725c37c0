"""Capacity planner: the vectorised screen equals predict()/memory_breakdown(); feasibility; ranking; CLI."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dpsim.analytic.memory import memory_breakdown, zero_model_states
from dpsim.analytic.step import predict
from dpsim.cli import main
from dpsim.errors import ScenarioError
from dpsim.plan import (
    PlanRequest,
    default_global_batch,
    device_counts,
    enumerate_configurations,
    pareto_front,
    plan,
    scenario_for,
)
from dpsim.reliability import expected_time_to_train


@pytest.mark.parametrize("model", ["llama2-7b", "gpt3-175b"])
def test_screen_equals_exact_engines(model: str) -> None:
    # The numpy screen must reproduce predict() and memory_breakdown() configuration by configuration.
    request = PlanRequest(model, 1e12, ("a100-80gb", "h100-sxm"), 512, algorithms=("ring", "hierarchical", "tree"))
    df = enumerate_configurations(request)
    assert len(df) > 1000
    rng = np.random.default_rng(1)
    for i in rng.choice(len(df), 60, replace=False):
        row = df.iloc[int(i)].to_dict()
        scenario = scenario_for(request, row)
        exact = predict(scenario)
        assert row["step_time_s"] == pytest.approx(exact.step_time_s, rel=1e-9)
        assert row["mfu"] == pytest.approx(exact.mfu, rel=1e-9)
        mem = memory_breakdown(scenario)
        assert row["memory_bytes"] == pytest.approx(mem.total, rel=1e-9)
        assert bool(row["oom"]) == mem.oom


@pytest.mark.parametrize("kind", ["megatron", "dtensor"])
def test_screen_memory_equals_exact_under_each_sequence_parallel_kind(kind: str) -> None:
    # The screen read neither sequence_parallel_kind nor the backward's gathered output gradient: every configuration
    # with sequence parallelism, under either kind, on a grid of TP / PP / recomputation / micro-batch, against
    # memory_breakdown(); the dtensor screen above the megatron one exactly where sequence parallelism is on.
    request = PlanRequest(
        "llama2-7b", 1e12, ("h100-sxm",), 64, zero_stages=(0, 3), micro_batches=(1, 4), sequence_parallel_kind=kind
    )
    df = enumerate_configurations(request)
    sp = df[df.sequence_parallel]
    assert len(sp) > 200 and set(sp.tp) == {2, 4, 8} and set(sp.recomputation) == {"none", "selective", "full"}
    rng = np.random.default_rng(4)
    for i in rng.choice(len(sp), 40, replace=False):
        row = sp.iloc[int(i)].to_dict()
        scenario = scenario_for(request, row)
        assert scenario.training.sequence_parallel_kind == kind
        assert row["memory_bytes"] == pytest.approx(memory_breakdown(scenario).total, rel=1e-12)
    other_kind = "dtensor" if kind == "megatron" else "megatron"
    other = enumerate_configurations(replace(request, sequence_parallel_kind=other_kind))
    more = (df.memory_bytes - other.memory_bytes) * (1 if kind == "dtensor" else -1)
    assert (more[df.sequence_parallel] > 0).all() and (more[~df.sequence_parallel] == 0).all()
    with pytest.raises(ScenarioError) as info:
        replace(request, sequence_parallel_kind="deepspeed")
    assert info.value.field == "--sequence-parallel-kind"


def test_screen_step_equals_exact_under_dtensor_sequence_parallelism() -> None:
    # DTensor's staging copies are timed (parallel.tensor_parallel_staging_copies): the screen prices them as
    # predict() does, on a grid of TP / recomputation / micro-batch with sequence parallelism; without it they are 0.
    request = PlanRequest(
        "llama2-7b", 1e12, ("h100-sxm",), 64, zero_stages=(0, 3), micro_batches=(1, 4), sequence_parallel_kind="dtensor"
    )
    df = enumerate_configurations(request)
    megatron = enumerate_configurations(replace(request, sequence_parallel_kind="megatron"))
    slower = df.step_time_s - megatron.step_time_s
    assert (slower[df.sequence_parallel & (df.tp > 1)] > 0).all() and (slower[~df.sequence_parallel] == 0).all()
    sp = df[df.sequence_parallel & (df.tp > 1)]
    rng = np.random.default_rng(5)
    for i in rng.choice(len(sp), 30, replace=False):
        row = sp.iloc[int(i)].to_dict()
        exact = predict(scenario_for(request, row))
        assert row["step_time_s"] == pytest.approx(exact.step_time_s, rel=1e-9)


@pytest.mark.parametrize("device", ["v100", "cpu"])
def test_screen_equals_exact_where_the_catalog_leaves_memory_efficiency_out(device: str) -> None:
    # The catalog writes the V100's and the CPU's memory_efficiency as 0 ("none": the scenario's default, 0.83);
    # the screen divided by it, so every step was inf (a RuntimeWarning, then "a node failing every 0 ns").
    request = PlanRequest("gpt2-xl", 2e10, (device,), 64)
    df = enumerate_configurations(request)
    assert len(df) > 100 and np.isfinite(df["step_time_s"].to_numpy()).all()
    rng = np.random.default_rng(2)
    for i in rng.choice(len(df), 20, replace=False):
        row = df.iloc[int(i)].to_dict()
        exact = predict(scenario_for(request, row))
        assert row["step_time_s"] == pytest.approx(exact.step_time_s, rel=1e-9)


def test_known_feasible_and_oom_configurations() -> None:
    # Llama 2 7B on one node of 8 A100-80GB: plain DDP needs 16Ψ = 108 GB of model states per
    # device (ZeRO paper) → out of memory; ZeRO-3 needs 16Ψ/8 = 13.5 GB → fits with recomputation.
    request = PlanRequest(
        "llama2-7b", 1e9, ("a100-80gb",), 8, min_devices=8, tensor_parallel=(1,), pipeline_parallel=(1,)
    )
    df = enumerate_configurations(request)
    psi = 6_738_415_616
    assert zero_model_states(psi, 8, 0) > 80e9 > zero_model_states(psi, 8, 3)
    ddp = df[(df.zero_stage == 0)]
    assert len(ddp) and ddp["oom"].all()
    z3 = df[(df.zero_stage == 3) & (df.recomputation == "full") & (df.micro_batch == 1)]
    assert len(z3) and not z3["oom"].any()
    result = plan(PlanRequest("llama2-7b", 1e9, ("a100-80gb",), 8, min_devices=8, top=3))
    assert len(result.ranked) == 3
    assert not result.ranked["oom"].any()
    assert (result.ranked["headroom_bytes"] > 0).all()


def test_a_plan_without_data_parallelism_keeps_the_algorithm_asked_for() -> None:
    # One device: DP = 1 in every layout, so the all-reduce algorithm is moot and one configuration stands for all.
    # The screen kept only 'auto' (the catalog's first algorithm), which the default request lacks: nothing was valid.
    result = plan(PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 1, top=3, algorithms=("ring", "hierarchical")))
    assert len(result.ranked) and (result.ranked["dp"] == 1).all()
    assert set(result.ranked["algorithm"]) == {"ring"}  # the request's first
    both = enumerate_configurations(PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 2, algorithms=("tree", "ring")))
    assert set(both.loc[both["dp"] == 1, "algorithm"]) == {"tree"}
    assert set(both.loc[both["dp"] == 2, "algorithm"]) == {"tree", "ring"}


def test_a_planned_layout_runs_at_its_planned_step_with_the_algorithm_left_out() -> None:
    """A layout the plan ranks, written as a scenario that leaves ``communication.algorithm`` out (what ``dpsim run``
    then prices: ``auto``), runs at the planned step. The default search was ring and hierarchical: Llama 2 7B on up
    to 1024 H100 ranked a hierarchical layout first (TP 1 x DP 1024) at 0.504 s a step, which such a scenario runs
    at 0.780 s."""
    from dpsim.plan import scenario_data
    from dpsim.scenario import scenario_from_dict

    request = PlanRequest("llama2-7b", 2e12, ("h100-sxm",), 1024, top=3)
    for row in plan(request).ranked.to_dict("records"):
        data = scenario_data(request, row)
        del data["communication"]["algorithm"]
        assert predict(scenario_from_dict(data)).step_time_s == pytest.approx(row["step_time_s"], rel=1e-12), row


def test_megatron_gpt3_layout_is_feasible() -> None:
    # Narayanan et al. 2021 trained GPT-3 175B with TP 8 x PP 8 (+ DP) and full recomputation on
    # A100-80GB: the planner must find that layout feasible, and reject the model on one node.
    request = PlanRequest(
        "gpt3-175b", 1e9, ("a100-80gb",), 1024, min_devices=512, global_batch=1536, tensor_parallel=(8,),
        pipeline_parallel=(8,), zero_stages=(0,), micro_batches=(1,), recomputation=("full",),
        sequence_parallel=(False,), schedules=("1f1b",), algorithms=("ring",),
    )  # fmt: skip
    df = enumerate_configurations(request)
    assert len(df) >= 1 and not df["oom"].any()
    small = plan(PlanRequest("gpt3-175b", 1e9, ("a100-80gb",), 8, top=3))
    assert len(small.ranked) == 0 and small.candidates["oom"].all()
    assert any("no feasible configuration" in note for note in small.notes)


def test_ranking_deadline_cost_and_time_to_train() -> None:
    request = PlanRequest(
        "gpt2-xl", 2e10, ("a100-80gb", "h100-sxm"), 64, deadline_s=86400.0,
        price_per_device_hour={"a100-80gb": 1.5, "h100-sxm": 3.0}, top=5,
    )  # fmt: skip
    result = plan(request)
    ranked = result.ranked
    assert len(ranked) == 5
    assert (ranked["time_to_train_s"] <= 86400.0).all()
    assert ranked["cost"].is_monotonic_increasing  # objective: cost (deadline + prices)
    row = ranked.iloc[0]
    tokens_per_step = row["global_batch"] * 1024
    assert row["steps"] == math.ceil(2e10 / tokens_per_step)
    assert row["time_to_train_s"] == pytest.approx(row["steps"] * row["step_time_s"])
    hourly = 1.5 if row["device"] == "a100-80gb" else 3.0
    assert row["cost"] == pytest.approx(row["time_to_train_s"] / 3600 * row["devices"] * hourly)


def test_failures_stretch_time_to_train() -> None:
    kw = {"top": 1, "tensor_parallel": (1,), "pipeline_parallel": (1,)}
    base = plan(PlanRequest("gpt2-xl", 2e10, ("a100-80gb",), 64, min_devices=64, **kw))  # type: ignore[arg-type]
    unreliable = plan(
        PlanRequest(
            "gpt2-xl", 2e10, ("a100-80gb",), 64, min_devices=64, node_mtbf_s=100 * 3600.0,
            checkpoint_s=60.0, restart_s=600.0, **kw,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    a, b = base.ranked.iloc[0], unreliable.ranked.iloc[0]
    assert b["time_to_train_s"] > a["time_to_train_s"]
    expected = expected_time_to_train(b["work_s"], 100 * 3600.0, int(b["nodes"]), 60.0, 600.0)
    assert b["time_to_train_s"] == pytest.approx(expected.wall_s, rel=1e-9)
    assert b["goodput"] == pytest.approx(expected.goodput, rel=1e-9)


def test_pareto_front_is_not_dominated() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time_to_train_s": rng.random(300), "cost": rng.random(300)})
    front = pareto_front(df)
    for _, p in front.iterrows():
        dominated = (df["time_to_train_s"] <= p["time_to_train_s"]) & (df["cost"] < p["cost"])
        assert not dominated.any()
    rest = df.drop(front.index)
    for _, q in rest.iterrows():  # every other point is dominated by some front point
        assert ((front["time_to_train_s"] <= q["time_to_train_s"]) & (front["cost"] <= q["cost"])).any()


def test_helpers() -> None:
    assert default_global_batch("llama2-7b") == 1024  # 4 Mi tokens / 4096
    assert default_global_batch("gpt3-175b") == 2048
    assert device_counts(1, 64, 8) == [1, 2, 4, 8, 16, 24, 32, 48, 64]
    with pytest.raises(ScenarioError):
        PlanRequest("llama2-7b", 1e12, ("a100-80gb",), 0)
    with pytest.raises(ScenarioError):
        PlanRequest("llama2-7b", 1e12, ("tpu-v9",), 8)
    with pytest.raises(ScenarioError):
        PlanRequest("resnet-50", 1e12, ("a100-80gb",), 8)


def test_cli_plan_outputs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out, png = tmp_path / "plan.csv", tmp_path / "pareto.png"
    args = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "32", "--price", "2.0",
            "--top", "4", "--out", str(out), "--plot", str(png), "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and list(table["rank"]) == [1, 2, 3, 4]
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "searched" in text and "cost (USD)" in text
    assert max(len(line) for line in text.splitlines()) <= 100  # the table fits 100 columns


def test_the_plan_table_cuts_only_the_options_column() -> None:
    """Rows as the README's capacity plan ranks them (two device types, 1024 and 2048 H100, a simulated column,
    costs in millions): every column but the options keeps its widest cell within the 100 columns. Before, rich
    shrank every column alike: the device counts read "10…" and "20…", the devices "h100-s…", ZeRO "Ze…"."""
    from types import SimpleNamespace

    from dpsim.cli_plan import format_plan

    def row(rank: int, devices: int, dp: int, algorithm: str, cost: float) -> dict[str, object]:
        return {"rank": rank, "device": "h100-sxm", "devices": devices, "tp": 4, "pp": 1, "dp": dp, "zero_stage": 3,
                "micro_batch": 2, "accumulation": 2, "recomputation": "selective", "sequence_parallel": True,
                "algorithm": algorithm, "schedule": "1f1b", "step_time_s": 4.75, "sim_step_time_s": 4.75,
                "mfu": 0.388, "memory_bytes": 46.7 * 2**30, "time_to_train_s": 26.6 * 86400, "cost": cost}  # fmt: skip

    ranked = pd.DataFrame([row(1, 1024, 256, "hierarchical", 1957610.0), row(2, 2048, 512, "ring", 2032023.0)])
    request = SimpleNamespace(model="llama2-70b", tokens=2e12)
    result = SimpleNamespace(request=request, candidates=pd.DataFrame({"oom": [False, False]}), ranked=ranked,
                             searched=350208, notes=[])  # fmt: skip
    text = format_plan(result, "table", "USD")  # type: ignore[arg-type]
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    first, second = (line.split() for line in lines[3:5])
    assert first[:6] == ["1", "h100-sxm", "1024", "4x1x256", "3", "2x2"]
    assert second[:6] == ["2", "h100-sxm", "2048", "4x1x512", "3", "2x2"]
    assert lines[1].split()[:6] == ["#", "device", "n", "TPxPPxDP", "ZeRO", "mb"]
    assert first[-3:] == ["26.6", "d", "1,957,610"] and "rc-sel SP hier" in lines[3] and "rc-sel SP ring" in lines[4]


def test_cli_plan_without_a_feasible_configuration_writes_nothing(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """No configuration trains (every one out of memory, or failing faster than a step): exit 2 and one line, and
    none of --out / --all / --plot written (they were, then the error: an empty ranking, every candidate, a
    Pareto plot of a plan that failed). ``--format json`` still prints the counts and notes."""
    files = {option: tmp_path / name for option, name in (("--out", "p.csv"), ("--all", "a.csv"), ("--plot", "p.png"))}
    outputs = [a for option, path in files.items() for a in (option, str(path))]
    for why in (["--model", "llama3-405b", "--max-devices", "8"], ["--model", "gpt2-xl", "--max-devices", "64",
                "--node-mtbf", "1 us"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["plan", "--tokens", "20B", *why, "--simulate", "0", "--no-progress", *outputs])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1 and "no feasible configuration" in err
        assert not any(path.exists() for path in files.values()), why


@pytest.mark.parametrize(
    "bad",
    [
        ["--model", "gpt9", "--tokens", "1T", "--max-devices", "8"],
        ["--model", "gpt2-xl", "--tokens", "lots", "--max-devices", "8"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "0"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--deadline", "30"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--price", "a100-80gb=cheap"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--format", "xml"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--plot", "x.txt"],
        ["--model", "gpt2-xl", "--tokens", "1T"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--price", "a100-80gb=2", "--price",
         "A100-80GB=3"],  # one device priced twice: which one holds?
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--price", "2", "--price", "3"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--out", "p.csv", "--all", "./p.csv"],
        ["--model", "gpt2-xl", "--tokens", "1T", "--max-devices", "8", "--sequence-parallel-kind", "deepspeed"],
    ],
)  # fmt: skip
def test_cli_plan_bad_arguments(bad: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["plan", *bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_progress_bar_path_runs() -> None:
    from dpsim import plan as planner
    from dpsim.cli_plan import _run_with_progress

    seen: list[str] = []
    request = PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 16, top=2, simulate=0)
    result = planner.plan(request, progress=lambda stage, done, total: seen.append(stage))
    assert {"screen", "re-check"} <= set(seen)
    assert len(_run_with_progress(planner, request, True).ranked) == len(result.ranked) == 2


@pytest.mark.parametrize(
    "training",
    [
        {"autocast": True},  # torch.autocast's weight casts (12 B a parameter a micro-batch) and fp32 norms
        {"precision": "fp32"},  # fp32_matmul: ieee (the default): GEMMs at peak_flops_fp32_ieee
        {"precision": "fp32", "fp32_matmul": "tf32"},
    ],
)
def test_screen_compute_is_the_main_paths(training: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    # The screen prices compute with dpsim.compute.compute_times, the function predict() uses: a base scenario with
    # autocast or fp32 GEMMs screens to predict()'s step on one device (no communication; the screen's
    # communication and memory are bf16 Megatron-style, what a plan's scenarios are). The old screen called
    # microbatch_compute without the casts, the fp32 norms or the ieee device: at micro-batch 1 it screened
    # 0.1279 s for predict()'s 0.1501 s under autocast (-14.8 %), 0.2138 s for 0.6289 s in fp32 ieee (-66.0 %).
    import dpsim.plan as planner
    from dpsim.plan import scenario_data
    from dpsim.scenario import scenario_from_dict

    original = planner._base_scenario

    def patched(*args: object) -> object:
        base = original(*args)  # type: ignore[arg-type]
        return base.model_copy(update={"training": base.training.model_copy(update=training)})

    monkeypatch.setattr(planner, "_base_scenario", patched)
    request = PlanRequest(
        "gpt2-medium", 1e9, ("h100-sxm",), 1, global_batch=8, tensor_parallel=(1,), pipeline_parallel=(1,),
        zero_stages=(0,), algorithms=("ring",), sequence_parallel=(False,),
    )  # fmt: skip
    df = enumerate_configurations(request)
    assert len(df) == 12  # micro-batch 1, 2, 4, 8 x three recomputations
    for row in df.to_dict("records"):
        data = scenario_data(request, row)
        data["training"].update(training)
        exact = predict(scenario_from_dict(data, "<test>"))
        assert row["step_time_s"] == pytest.approx(exact.step_time_s, rel=1e-9)


def test_a_search_space_past_the_memory_limit_is_refused_before_its_grid_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round 35 (hostile): the screen built the whole Cartesian product before any guard: 11 TP degrees x 64 PP x 12
    micro-batches x every recomputation and algorithm over six devices were 306,561,024 configurations, ~46 GiB. The
    grid is counted first: its rows times ``GRID_ROW_BYTES`` past the guard's 8 GiB are refused even with
    ``allow_long``, naming the option with the most values; nothing is built (``np.meshgrid`` never called)."""
    import dpsim.plan as planning

    def meshgrid(*_: object, **__: object) -> None:
        raise AssertionError("the grid was built")

    wide = PlanRequest("llama2-7b", 1e12, ("a100-80gb",), 1_048_576, micro_batches=tuple(range(1, 2000)))
    rows = 37 * 4 * 6 * 4 * 1999 * 3 * 2 * 2  # device counts up to 2^20 at 8 a node, the default lists, 1,999 sizes
    assert rows * planning.GRID_ROW_BYTES > 8 * 2**30 > (rows // 2) * planning.GRID_ROW_BYTES
    monkeypatch.setattr(planning.np, "meshgrid", meshgrid)
    for request in (wide, replace(wide, allow_long=True)):
        with pytest.raises(ScenarioError) as caught:
            enumerate_configurations(request)
        assert caught.value.field == "--micro-batch" and f"{rows:,} configurations" in caught.value.message


def test_the_screens_pipeline_loads_are_charged_before_the_grid_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 35's open defect (stop 53): the grid guard did not charge the screen's pipeline loads, about 6 us of CPU
    a rank of each pipelined layout whose stages reduce over data parallelism; ``--global-batch 65536`` over a
    million devices (600 such layouts, 67.6 million ranks) screened for minutes. The layouts counted before the grid
    is built are the ones the screen evaluates (recorded at 2,048 devices); past 5 minutes with the grid they are
    refused naming ``--max-devices``, before any load is evaluated; the default million-device plan (400 layouts,
    3.8 million ranks, about 27 s of the screen) and ``--allow-long`` still pass."""
    import dpsim.plan as planning
    from dpsim.analytic import step
    from dpsim.analytic.collectives import Fabric
    from dpsim.scenario import Scenario

    seen: set[tuple[int, int, int, int, str]] = set()
    shape = step.pipeline_load_shape

    def recorded(scenario: Scenario, fabric: Fabric) -> tuple[Any, Any, Any] | None:
        t = scenario.training
        seen.add((scenario.data_parallel, t.tensor_parallel, t.pipeline_parallel, t.zero_stage,
                  scenario.communication.algorithm))  # fmt: skip
        return shape(scenario, fabric)

    small = PlanRequest("llama2-7b", 1e12, ("h100-sxm",), 2048)
    monkeypatch.setattr(step, "pipeline_load_shape", recorded)
    enumerate_configurations(small)
    layouts, ranks = planning._pipelined_layouts(small, planning._axes(small))
    assert (layouts, ranks) == (len(seen), sum(d * t * p for d, t, p, _, _ in seen)) and layouts > 10

    def refused(*_: object) -> None:
        raise AssertionError("a pipeline load was evaluated")

    monkeypatch.setattr(step, "pipeline_load_shape", refused)
    wide = PlanRequest("llama2-7b", 1e12, ("h100-sxm",), 1_048_576, global_batch=65536)
    with pytest.raises(ScenarioError) as caught:
        enumerate_configurations(wide)
    assert caught.value.field == "--max-devices" and "--allow-long" in caught.value.message
    assert "pipeline loads of 600 layouts, 67,629,432 ranks" in caught.value.message
    assert 67_629_432 * planning.PIPELINE_LOAD_RANK_S > 300
    planning._check_grid(replace(wide, allow_long=True), planning._axes(wide))
    default = PlanRequest("llama2-7b", 1e12, ("h100-sxm",), 1_048_576)
    planning._check_grid(default, planning._axes(default))
    assert planning._pipelined_layouts(default, planning._axes(default)) == (400, 3_805_560)


def test_workers_per_node_past_a_nodes_nics_is_the_options_error() -> None:
    """Round 35 (hostile): a planned node gives each device its own NIC, at most 256 a node; 257-1,024 were refused
    as ``cluster.inter_node.nics_per_node``, a field no plan user writes."""
    PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 512, workers_per_node=256)
    with pytest.raises(ScenarioError) as caught:
        PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 512, workers_per_node=257)
    assert caught.value.field == "--workers-per-node" and "256" in caught.value.message


def test_the_simulators_recheck_is_priced_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36: ``--simulate N`` re-checked N configurations with the simulator, each held to the simulator's limit
    when it ran but their sum never checked (``--simulate 500 --top 500`` ran 500 one after another). Past the limit
    in all, with each configuration under it alone, the plan is refused naming --simulate, unless --allow-long."""
    from dpsim.plan import _check_simulate_cost
    from dpsim.sim import budget

    request = PlanRequest("gpt2-xl", 2e10, ("a100-80gb",), 64, top=5, simulate=5)
    ranked = plan(replace(request, simulate=0)).ranked
    rows = [{str(k): v for k, v in ranked.iloc[i].items()} for i in range(5)]
    each = [budget.estimate(scenario_for(request, row)).seconds for row in rows]
    assert 0 < max(each) < sum(each)
    monkeypatch.setattr(budget, "LIMIT_S", (max(each) + sum(each)) / 2)  # each alone under it, the five over it
    with pytest.raises(ScenarioError, match=r"--simulate"):
        _check_simulate_cost(request, rows)
    _check_simulate_cost(replace(request, allow_long=True), rows)
    _check_simulate_cost(request, rows[:1])
