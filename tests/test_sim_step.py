"""Whole training steps in the simulator: agreement with the analytic engine, stragglers,
variability, determinism, and properties that must hold for any scenario."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsim.analytic.step import predict
from dpsim.errors import ScenarioError
from dpsim.scenario import SHARDED_ALGORITHMS, Scenario, scenario_from_dict
from dpsim.sim import simulate, simulate_timeline
from dpsim.sim.trace import chrome_trace, write_chrome_trace, write_gantt

BASE: dict[str, Any] = {
    "name": "sim-test",
    "model": {"preset": "gpt2-medium"},
    "cluster": {
        "nodes": 2,
        "workers_per_node": 4,
        "device": "a100-80gb",
        "intra_node": {"bandwidth": "300 GB/s", "latency": "1 us"},
        "inter_node": {"bandwidth": "200 Gbit/s", "latency": "5 us", "nics_per_node": 4},
    },
    "training": {"global_batch": 32, "micro_batch": 2},
    "communication": {"algorithm": "ring", "bucket": "25 MB", "overlap": True},
}


def make(**changes: Any) -> Scenario:
    """BASE with dotted-path changes, e.g. make(**{"cluster.nodes": 4})."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return scenario_from_dict(data)


def _rel(a: float, b: float) -> float:
    return abs(a / b - 1.0) if b else abs(a)


HOMOGENEOUS = [
    {},
    {"communication.algorithm": "hierarchical"},
    {"communication.algorithm": "parameter-server"},
    {"communication.overlap": False},
    {"training.global_batch": 16},
    {"training.global_batch": 64, "training.zero_stage": 3},
    {"training.zero_stage": 1},
    {"training.zero_stage": 2, "communication.algorithm": "hierarchical"},
    {"training.zero_stage": 3},
    {"cluster.nodes": 1, "training.global_batch": 16, "communication.algorithm": "tree"},
    {"cluster.nodes": 1, "training.global_batch": 16, "communication.algorithm": "halving-doubling"},
    {"cluster.nodes": 1, "training.global_batch": 16, "communication.algorithm": "direct"},
    {"cluster.nodes": 8, "cluster.workers_per_node": 1, "communication.algorithm": "halving-doubling"},
    {"cluster.nodes": 8, "cluster.workers_per_node": 1, "communication.algorithm": "tree"},
    {"communication.bucket": "4 MB", "communication.dtype": "fp32"},
    {"training.optimizer": "sgd", "training.precision": "fp32"},
    {"training.tensor_parallel": 2, "training.pipeline_parallel": 2},
    {"cluster.topology": {"kind": "fat-tree", "nodes_per_leaf": 1, "oversubscription": 1}},
]


@pytest.mark.parametrize("changes", HOMOGENEOUS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "base")
@pytest.mark.parametrize("fidelity", ["chunk", "fast"])
def test_step_matches_analytic_on_homogeneous_clusters(changes: dict[str, Any], fidelity: str) -> None:
    scenario = make(**changes)
    sim, analytic = simulate(scenario, fidelity=fidelity), predict(scenario)
    assert sim.engine == "sim" and sim.fidelity == fidelity
    assert _rel(sim.step_time_s, analytic.step_time_s) < 0.01
    assert _rel(sim.compute_s, analytic.compute_s) < 1e-9
    assert _rel(sim.comm_s, analytic.comm_s) < 0.01
    assert abs(sim.exposed_comm_s - analytic.exposed_comm_s) < 0.01 * analytic.step_time_s
    assert sim.optimizer_s == pytest.approx(analytic.optimizer_s, rel=1e-12)
    assert sim.barrier_s == 0.0


@pytest.mark.parametrize("nodes", [16, 128])
def test_large_cluster_fast_level_matches_analytic(nodes: int) -> None:
    scenario = make(
        **{"cluster.nodes": nodes, "cluster.workers_per_node": 8, "cluster.inter_node.nics_per_node": 8},
        **{"training.global_batch": nodes * 16, "communication.algorithm": "hierarchical"},
    )
    sim = simulate(scenario, fidelity="fast")
    assert _rel(sim.step_time_s, predict(scenario).step_time_s) < 0.01


def test_straggler_lengthens_the_step_by_its_extra_compute() -> None:
    """One of 16 workers 1.5x slower: the synchronous step grows by its extra compute, which barrier_s reports."""
    # compute-bound (communication hidden behind backward), so the barrier is the only change
    changes: dict[str, Any] = {"cluster.nodes": 4, "training.micro_batch": 8, "training.global_batch": 256}
    changes["communication.algorithm"] = "hierarchical"
    base = make(**changes)
    slow = make(**changes, **{"variability.stragglers": [{"worker": 5, "slowdown": 1.5}]})
    for fidelity in ("chunk", "fast"):
        t0, t1 = simulate(base, fidelity=fidelity), simulate(slow, fidelity=fidelity)
        # DDP's memory-bound copies are not the straggler's; their copies back past the all-reduces (compute)
        # are longer on the straggler, which finds its all-reduces done: 0.4 ms of a 176 ms barrier
        extra_compute = 0.5 * (t0.compute_s - predict(base).extra["ddp_bucket_copy_s"])
        assert _rel(t1.step_time_s - t0.step_time_s, extra_compute) < 0.01
        assert _rel(t1.barrier_s, extra_compute) < 0.005
        waits = t1.extra["worker_wait_s"]
        assert waits[5] < min(w for i, w in enumerate(waits) if i != 5)  # everyone waits for worker 5


def test_weighted_partition_removes_the_straggler_barrier() -> None:
    changes = {"cluster.nodes": 1, "training.global_batch": 64, "training.micro_batch": 8}
    stragglers = [{"worker": 1, "slowdown": 2.0}]
    even = simulate(make(**changes, **{"variability.stragglers": stragglers}))
    weighted = simulate(make(**changes, **{"variability.stragglers": stragglers, "training.partition": "weighted"}))
    assert weighted.extra["worker_samples"][1] < weighted.extra["worker_samples"][0]
    assert sum(weighted.extra["worker_samples"]) == 8 * 4
    assert weighted.step_time_s < even.step_time_s
    assert weighted.barrier_s < even.barrier_s


def test_degraded_nic_slows_communication() -> None:
    base = simulate(make(), fidelity="chunk")
    degraded = simulate(make(**{"variability.degraded_links": [{"node": 1, "factor": 0.25}]}), fidelity="chunk")
    assert degraded.comm_s > base.comm_s


def test_jitter_is_deterministic_and_replications_give_an_interval() -> None:
    scenario = make(**{"variability.compute_jitter_cv": 0.1, "variability.seed": 7, "variability.replications": 4})
    a, b = simulate(scenario, fidelity="chunk"), simulate(scenario, fidelity="chunk")
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    assert a.step_time_ci95_s > 0
    other = simulate(make(**{"variability.compute_jitter_cv": 0.1, "variability.seed": 8}), fidelity="chunk")
    assert other.step_time_s != a.step_time_s
    # jitter can only add waiting: a synchronous step is no faster than without it
    assert a.step_time_s > simulate(make(), fidelity="chunk").step_time_s


@pytest.mark.parametrize("distribution", ["lognormal", "normal", "gamma"])
def test_jitter_distributions_have_the_requested_mean(distribution: str) -> None:
    import numpy as np

    from dpsim.scenario import VariabilityConfig
    from dpsim.sim.variability import jitter

    config = VariabilityConfig.model_validate({"compute_jitter_cv": 0.2, "jitter_distribution": distribution})
    draws = jitter(config, np.random.default_rng(0), (200_000,))
    assert draws.mean() == pytest.approx(1.0, abs=0.005)
    assert draws.std() / draws.mean() == pytest.approx(0.2, rel=0.03)


def test_one_worker_means_no_communication() -> None:
    scenario = make(**{"cluster.nodes": 1, "cluster.workers_per_node": 1, "training.global_batch": 4})
    for fidelity in ("chunk", "fast"):
        result = simulate(scenario, fidelity=fidelity)
        assert result.comm_s == 0.0 and result.exposed_comm_s == 0.0
        assert result.step_time_s == pytest.approx(result.compute_s + result.optimizer_s, rel=1e-12)
        assert result.scaling_efficiency == pytest.approx(1.0, rel=1e-12)


def test_auto_fidelity_picks_by_size() -> None:
    assert simulate(make()).fidelity == "chunk"
    big = make(**{"cluster.nodes": 64, "cluster.workers_per_node": 8, "training.global_batch": 1024})
    assert simulate(big).fidelity == "fast"
    assert simulate(make(**{"simulation.fidelity": "fast"})).fidelity == "fast"


def test_bad_fidelity_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match=r"simulation\.fidelity"):
        simulate(make(), fidelity="exact")


# --- properties --------------------------------------------------------------------------------

scenarios = st.fixed_dictionaries(
    {
        "cluster.nodes": st.sampled_from([1, 2, 3]),
        "cluster.workers_per_node": st.sampled_from([1, 2, 4]),
        "communication.algorithm": st.sampled_from(["ring", "tree", "halving-doubling", "hierarchical", "direct"]),
        "communication.overlap": st.booleans(),
        "training.zero_stage": st.sampled_from([0, 1, 3]),
        "variability.compute_jitter_cv": st.sampled_from([0.0, 0.05]),
    }
)


def _valid(changes: dict[str, Any]) -> Scenario:
    world = changes["cluster.nodes"] * changes["cluster.workers_per_node"]
    if changes["training.zero_stage"] and changes["communication.algorithm"] not in SHARDED_ALGORITHMS:
        # ZeRO reduce-scatters and gathers with the ring whatever all-reduce is named (the scenario refuses the name)
        changes = {**changes, "communication.algorithm": "ring"}
    return make(**changes, **{"training.global_batch": 2 * world, "model.preset": "gpt2-small"})


@settings(max_examples=25, deadline=None)
@given(changes=scenarios, factor=st.sampled_from([2.0, 10.0]), which=st.sampled_from(["intra_node", "inter_node"]))
def test_more_bandwidth_never_slows_a_step(changes: dict[str, Any], factor: float, which: str) -> None:
    scenario = _valid(changes)
    faster_data = scenario.model_dump(mode="json")
    link = faster_data["cluster"][which]
    bandwidth = getattr(scenario.cluster, which).bandwidth * factor
    link["bandwidth"] = f"{bandwidth!r} B/s"
    link.pop("preset", None)
    faster = scenario_from_dict(faster_data)
    for fidelity in ("chunk", "fast"):
        assert simulate(faster, fidelity=fidelity).step_time_s <= simulate(scenario, fidelity=fidelity).step_time_s * (
            1 + 1e-9
        )


@settings(max_examples=25, deadline=None)
@given(changes=scenarios)
def test_a_step_is_never_shorter_than_its_compute(changes: dict[str, Any]) -> None:
    result = simulate(_valid(changes), fidelity="chunk")
    assert result.step_time_s >= result.compute_s + result.optimizer_s - 1e-12
    assert result.exposed_comm_s >= 0 and result.comm_s >= 0
    assert all(w >= -1e-12 for w in result.extra["worker_wait_s"])


# --- timelines ---------------------------------------------------------------------------------


def test_timeline_trace_and_gantt(tmp_path: Any) -> None:
    scenario = make(
        **{"cluster.nodes": 1, "training.global_batch": 16, "variability.stragglers": [{"worker": 2, "slowdown": 1.3}]}
    )
    result, timeline = simulate_timeline(scenario)
    assert timeline.step_time_s == pytest.approx(result.step_time_s)
    assert timeline.recorded == [0, 1, 2, 3]
    for worker in timeline.recorded:
        spans = timeline.of(worker)
        assert {"forward", "backward", "optimizer", "comm"} <= {s.category for s in spans}
        assert all(0 <= s.start_s < s.end_s <= timeline.step_time_s * (1 + 1e-12) for s in spans)
        compute = [s for s in spans if s.category in ("forward", "backward", "optimizer")]
        assert all(a.end_s <= b.start_s + 1e-15 for a, b in itertools.pairwise(compute))
        for track in ({"forward", "backward", "optimizer", "bubble", "idle"}, {"comm", "wait"}):
            on_track = [s for s in spans if s.category in track]  # one thing at a time on each track
            assert all(a.end_s <= b.start_s + 1e-12 for a, b in itertools.pairwise(on_track)), on_track
    # the fast workers wait for the straggler; the straggler does not
    waits = {
        w: sum(s.end_s - s.start_s for s in timeline.of(w) if s.category in ("wait", "idle")) for w in timeline.recorded
    }
    assert waits[2] < min(waits[0], waits[1], waits[3])
    trace = chrome_trace(timeline)
    names = {e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "process_name"}
    # identical workers are one process with a count; the straggler (also the slowest) has its own
    assert names == {"3 workers: 0-1, 3", "worker 2 (straggler x1.3, slowest)"}
    comm = [e for e in trace["traceEvents"] if e.get("cat") == "comm" and e["name"].startswith("bucket")]
    assert comm and all(e["args"]["algorithm"] == "ring" and e["args"]["bytes"] > 0 for e in comm)
    assert sorted({e["args"]["bucket"] for e in comm}) == list(range(result.extra["buckets"]))
    path = tmp_path / "trace.json"
    write_chrome_trace(timeline, path)
    assert json.loads(path.read_text())["otherData"]["fidelity"] == result.fidelity
    png = tmp_path / "gantt.png"
    write_gantt(timeline, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibration_profile_is_used_like_the_analytic_engine(tmp_path: Any) -> None:
    from dpsim.analytic.collectives import Link
    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    profile = HardwareProfile(
        name="test",
        links={"intra": {"ring": Link(20e-6, 5e9)}, "inter": {"ring": Link(50e-6, 1e9)}},
        forward=LinearTime(2e-3, 1e-3),
        backward=LinearTime(4e-3, 2e-3),
        optimizer=LinearTime(1e-3, 1e-11),
    )
    path = tmp_path / "profile.yaml"
    save_profile(profile, path)
    data = copy.deepcopy(BASE)
    data["calibration"] = {"profile": str(path)}
    scenario = scenario_from_dict(data)
    sim, analytic = simulate(scenario, fidelity="chunk"), predict(scenario)
    assert sim.hardware_source == str(path)
    # the measured passes, plus what DDP's copies back add past the all-reduces (both engines alike)
    measured = 2 * (2e-3 + 1e-3 * 2 + 4e-3 + 2e-3 * 2)
    assert sim.compute_s == pytest.approx(analytic.compute_s, rel=1e-9)
    assert 0 < analytic.compute_s - measured <= analytic.extra["ddp_bucket_copy_s"]
    assert _rel(sim.step_time_s, analytic.step_time_s) < 0.01


def test_a_simulated_step_builds_its_cluster_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator runs on the analytic engine's cluster of the data-parallel group, which the analytic step
    its result carries prices on: one build of the links (it built the same cluster twice, O(ranks) each). With
    a degraded node too: both engines price on one cluster whose degraded node's NIC links are slowed (the
    analytic engine used to scale every inter-node link and the simulator built its own: two builds)."""
    from dpsim.analytic import collectives as cf
    from dpsim.sim.cluster import Cluster

    builds: list[tuple[int, bool]] = []
    build = Cluster.from_fabric.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Cluster], fabric: Any, degraded: Any = None) -> Cluster:
        builds.append((fabric.world_size, bool(degraded or fabric.degraded_nics)))
        return build(cls, fabric, degraded)  # type: ignore[no-any-return]

    for scenario, expected in [
        (make(), [(8, False)]),
        (make(**{"variability.degraded_links": [{"node": 1, "factor": 0.5}]}), [(8, True)]),
    ]:
        cf._priced.cache_clear()
        cf._CLUSTER.clear()
        monkeypatch.setattr(Cluster, "from_fabric", classmethod(counted))
        result = simulate(scenario, fidelity="chunk")
        monkeypatch.undo()
        assert builds == expected
        builds.clear()
        cf._priced.cache_clear()
        cf._CLUSTER.clear()
        assert simulate(scenario, fidelity="chunk") == result  # the same step with the clusters built afresh
