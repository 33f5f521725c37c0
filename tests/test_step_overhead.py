"""The per-step cost of the micro-batch that follows an optimizer step (``compute.step_overhead``): the profile
field, its pricing once a step in both engines, and its measurement (``runtime.calibrate.measure_step_overhead``)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from dpsim.calibration import (
    ComputeCurve,
    ComputePoint,
    HardwareProfile,
    HostModel,
    LinearTime,
    LinkModel,
    load_profile,
    profile_to_dict,
    save_profile,
)
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

OVERHEAD_S = 2.5e-3


def _profile(overhead: float | None = OVERHEAD_S) -> HardwareProfile:
    """A testbed profile (2 cores, ε = 0.1: slowdown ``max(1, k/2)·(1 + 0.1(k − 1))``) with the field or without."""
    points = tuple(ComputePoint(h, m, 2, 1e-10 * 4 * m * h * h, 2e-10 * 4 * m * h * h) for h in (256, 1024)
                   for m in (4, 64))  # fmt: skip
    return HardwareProfile(
        name="testbed",
        links={"inter": {"backend": LinkModel(1e-4, 95e6, 0.95, 1e-9, 0.01, 12)}},
        optimizer=LinearTime(1e-4, 2e-9),
        compute_curve=ComputeCurve(points),
        host_model=HostModel(2.0, 0.1, "job", 3e-9, {1: 1.0, 2: 1.1, 4: 2.2}, 0.004),
        step_overhead_s=overhead,
    )


def test_the_field_round_trips_and_an_older_profile_has_none(tmp_path: Path) -> None:
    save_profile(_profile(), tmp_path / "p.yaml")
    loaded = load_profile(tmp_path / "p.yaml")
    assert loaded.step_overhead_s == pytest.approx(OVERHEAD_S, rel=1e-12)
    assert profile_to_dict(loaded)["compute"]["step_overhead"] == "2.5 ms"
    save_profile(_profile(None), tmp_path / "old.yaml")
    assert "step_overhead" not in (tmp_path / "old.yaml").read_text()
    assert load_profile(tmp_path / "old.yaml").step_overhead_s is None


@pytest.mark.parametrize(
    "value",
    ["nan s", "-1 ms", 0.002, True, [], {"fixed": "1 ms"}, "fast", "2 min", "inf s"],
    ids=["nan", "negative", "bare", "bool", "list", "mapping", "text", "over-a-minute", "inf"],
)
def test_a_bad_step_overhead_is_one_line_naming_the_field(tmp_path: Path, value: Any) -> None:
    data = profile_to_dict(_profile())
    data["compute"]["step_overhead"] = value
    from dpsim.calibration import profile_from_dict

    with pytest.raises(ScenarioError, match=r"compute\.step_overhead") as caught:
        profile_from_dict(data, "p.yaml")
    assert "\n" not in str(caught.value)


def _scenario(tmp_path: Path, name: str, nodes: int, accumulation: int, extra: str = "") -> Any:
    path = tmp_path / f"{name}.s.yaml"
    path.write_text(
        "model: {kind: mlp, layers: 3, hidden: 512}\n"
        f"cluster: {{nodes: {nodes}, device: {{peak_flops: 1 TFLOP/s, memory: 1 GB}}, "
        "inter_node: {bandwidth: 400 Mbit/s}}\n"
        f"training: {{global_batch: {16 * nodes * accumulation}, micro_batch: 16, accumulation: {accumulation}, "
        f"optimizer: adam{extra}}}\n"
        "communication: {algorithm: backend, bucket: 1 MiB, overlap: true}\n"
        f"calibration: {{profile: {name}.yaml}}\n"
    )
    return load_scenario(path)


@pytest.mark.parametrize(("nodes", "accumulation"), [(3, 1), (4, 1), (4, 4)])
def test_both_engines_price_it_once_a_step_time_sliced_as_the_compute(
    tmp_path: Path, nodes: int, accumulation: int
) -> None:
    """The step and the compute grow by ``step_overhead × max(1, k/2)·(1 + 0.1(k − 1))`` (the host's slowdown of k
    ranks on 2 cores, worked by hand: 1.8 at 3, 2.6 at 4), once a step whatever the accumulation; the exposed
    communication and the optimizer do not move; the engines agree; without the field the step is as before."""
    from dpsim import api

    save_profile(_profile(), tmp_path / "with.yaml")
    save_profile(_profile(None), tmp_path / "without.yaml")
    runs = {}
    for name in ("with", "without"):
        scenario = _scenario(tmp_path, name, nodes, accumulation)
        runs[name] = (api.run(scenario, engine="analytic"), api.run(scenario, engine="sim"))
    (priced, priced_sim), (base, base_sim) = runs["with"], runs["without"]
    slowdown = {3: 1.5 * 1.2, 4: 2.0 * 1.3}[nodes]
    added = OVERHEAD_S * slowdown
    for result, before in ((priced, base), (priced_sim, base_sim)):
        assert result.step_time_s - before.step_time_s == pytest.approx(added, rel=1e-9)
        assert result.compute_s - before.compute_s == pytest.approx(added, rel=1e-9)
        assert result.exposed_comm_s == pytest.approx(before.exposed_comm_s, rel=1e-9, abs=1e-15)
        assert result.optimizer_s == before.optimizer_s
        single = result.extra["single_worker_step_s"] - before.extra["single_worker_step_s"]
        assert single == pytest.approx(added, rel=1e-9)
    assert priced_sim.step_time_s == pytest.approx(priced.step_time_s, rel=1e-9)


@pytest.mark.parametrize(("nodes", "extra"), [(4, ", zero_stage: 3, optimizer_sharding: fsdp"), (1, "")])
def test_it_is_not_priced_outside_what_was_measured(tmp_path: Path, nodes: int, extra: str) -> None:
    """Measured on a DDP-wrapped model: FSDP, and one rank (no DDP), price as without it, on both engines."""
    from dpsim import api

    save_profile(_profile(), tmp_path / "with.yaml")
    save_profile(_profile(None), tmp_path / "without.yaml")
    for engine in ("analytic", "sim"):
        runs = [api.run(_scenario(tmp_path, name, nodes, 1, extra), engine=engine) for name in ("with", "without")]
        assert runs[0].step_time_s == runs[1].step_time_s, engine
        # round 37: the profile's part read by nothing was listed nowhere; listed now as a scenario field would be
        listed = (runs[0].extra.get("ignored_fields") or {}).get(UNREAD_KEY, "")
        assert listed.startswith("measured on DDP's synchronising micro-batch"), engine
        assert ("training.zero_stage 3" if extra else "one data-parallel rank") in listed
        assert UNREAD_KEY not in (runs[1].extra.get("ignored_fields") or {})


UNREAD_KEY = "calibration.profile.compute.step_overhead"
"""The key under which a record lists the profile's step overhead where nothing prices it (round 37)."""


def test_it_is_listed_only_where_it_is_not_priced(tmp_path: Path) -> None:
    """Priced (DDP across ranks): not listed. Under tensor or pipeline parallelism, with a profile that times the
    transformer (a forward/backward fit): the same step to the bit, and listed naming the parallelism. A profile
    that does not time this model's compute (an MLP curve under a transformer) prices none of its compute, so the
    overhead is not singled out."""
    from dpsim import api

    save_profile(_profile(), tmp_path / "with.yaml")
    priced = api.run(_scenario(tmp_path, "with", 4, 1), engine="analytic")
    assert UNREAD_KEY not in (priced.extra.get("ignored_fields") or {})
    fitted = dataclasses.replace(_profile(), compute_curve=None, forward=LinearTime(1e-3, 1e-3),
                                 backward=LinearTime(2e-3, 2e-3))  # fmt: skip
    save_profile(fitted, tmp_path / "fit.yaml")
    save_profile(dataclasses.replace(fitted, step_overhead_s=None), tmp_path / "fit0.yaml")
    for name, sets, said in (("tp", ["training.tensor_parallel=2"], "runs TP 2 x PP 1"),
                             ("pp", ["training.pipeline_parallel=2"], "runs TP 1 x PP 2")):  # fmt: skip
        base = ["model=gpt2-small", "cluster.nodes=2", "cluster.workers_per_node=2", "training.global_batch=8",
                "training.micro_batch=2", *sets]  # fmt: skip
        for engine in ("analytic", "sim"):
            runs = [api.run(load_scenario(None, [*base, f"calibration.profile={tmp_path / p}"]), engine=engine)
                    for p in ("fit.yaml", "fit0.yaml")]  # fmt: skip
            assert runs[0].step_time_s == runs[1].step_time_s, (name, engine)
            assert said in runs[0].extra["ignored_fields"][UNREAD_KEY], (name, engine)
    curve_only = load_scenario(None, ["model=gpt2-small", "training.tensor_parallel=2",
                                      f"calibration.profile={tmp_path / 'with.yaml'}"])  # fmt: skip
    assert UNREAD_KEY not in (api.run(curve_only, engine="analytic").extra.get("ignored_fields") or {})


def _small_scenario(tmp_path: Path) -> Path:
    """A 2-layer MLP of width 64 with Adam: small enough to time for real in a test."""
    path = tmp_path / "small.yaml"
    path.write_text(
        "model: {kind: mlp, layers: 2, hidden: 64}\n"
        "cluster: {nodes: 2, device: {peak_flops: 1 TFLOP/s, memory: 1 GB}}\n"
        "training: {global_batch: 8, micro_batch: 4, optimizer: adam}\n"
    )
    return path


def test_the_measurement_pairs_a_micro_batch_after_the_step_with_one_back_to_back(tmp_path: Path) -> None:
    """A small model, timed for real: every pair of every round is kept, the term is the CPU median floored at 0,
    and what it rests on is in the profile's meta record."""
    pytest.importorskip("torch")
    from runtime.calibrate import STEP_OVERHEAD_ROUNDS, measure_step_overhead

    path = _small_scenario(tmp_path)
    from runtime.torchrun import destroy_group

    try:
        measured = measure_step_overhead(load_scenario(path), (1, 2), rounds=3, warmup=1, idle_s=0.0)
    finally:
        destroy_group()  # the one-rank group the DDP wrapper joined
    assert measured.pairs == 6 and set(measured.by_micro_batch) == {1, 2}
    assert measured.seconds == max(0.0, measured.measured_s)
    assert all(math.isfinite(v) for v in (measured.measured_s, measured.wall_s, measured.half_width_s))
    record = measured.meta()
    assert record["rounds"] == STEP_OVERHEAD_ROUNDS and record["pairs"] == 6 and record["idle_s"] == 0.0
    assert set(record) == {"measured_s", "wall_s", "half_width_s", "by_micro_batch_s", "pairs", "rounds", "idle_s"}


@pytest.mark.parametrize("idle", [None, 0.0, 0.05])
def test_each_optimizer_step_of_the_measurement_follows_the_idle_wait_a_rank_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idle: float | None
) -> None:
    """A rank steps after blocking on its last all-reduce: before every timed pair's optimizer step (and only
    there) the probe sleeps ``idle_s``, by default the optimizer fit's wait (``OPTIMIZER_IDLE_S``), and records it;
    0 sleeps never (the measurement before stop 55)."""
    pytest.importorskip("torch")
    import runtime.calibrate as rc

    path = _small_scenario(tmp_path)
    events: list[tuple[str, float]] = []
    real_step = rc.torch.optim.Adam.step

    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        events.append(("step", 0.0))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(rc.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    monkeypatch.setattr(rc.torch.optim.Adam, "step", step)
    from runtime.torchrun import destroy_group

    try:
        kwargs = {} if idle is None else {"idle_s": idle}
        measured = rc.measure_step_overhead(load_scenario(path), (1, 2), rounds=2, warmup=1, **kwargs)
    finally:
        destroy_group()
    wait = rc.OPTIMIZER_IDLE_S if idle is None else idle
    assert measured.idle_s == wait == measured.meta()["idle_s"]
    # the warm-up's 2 steps (one a size) at once, then 2 rounds x 2 sizes: each step after the wait, if any
    pair = [("sleep", wait), ("step", 0.0)] if wait > 0 else [("step", 0.0)]
    assert events == [("step", 0.0)] * 2 + pair * 4


def test_pooled_calibrations_average_it_and_keep_none_where_one_lacks_it() -> None:
    pytest.importorskip("torch")
    from runtime.calibrate import pool_profiles

    a, b = _profile(1e-3), _profile(3e-3)
    assert pool_profiles(a, [b]).step_overhead_s == pytest.approx(2e-3)
    assert pool_profiles(a, [dataclasses.replace(b, step_overhead_s=None)]).step_overhead_s is None
