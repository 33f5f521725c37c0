"""On 2 ranks NCCL's double binary tree is the 2-rank ring's exchange, so a calibration profile prices it on the
ring's links (:func:`dpsim.calibration.profile_link_name`)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from dpsim import api
from dpsim.calibration import load_profile, profile_link_name
from dpsim.scenario import load_scenario
from dpsim.sim.collectives.nccl import dtree_forks, dtree_parents

STORED = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "validation-2026-12-06-o" / "all"
"""A stored calibration of the emulated cluster (stop 44), not the one the change was read from (-q)."""


def test_on_two_ranks_each_tree_is_one_edge_and_each_rank_roots_one() -> None:
    """``ncclGetDtree`` on 2 ranks: tree 0 is 1 -> 0, tree 1 its mirror 0 -> 1, so no rank forwards what it
    received and each sends S/2 up one tree and S/2 down the other: S each way, the 2-rank ring's 2·(N−1)/N·S."""
    first, second = dtree_parents(2)
    assert first.tolist() == [-1, 0] and second.tolist() == [1, -1]
    assert not dtree_forks(2)
    # 3 ranks: each tree a chain of 2 edges, whose middle rank forwards what it received
    assert all(np.count_nonzero(p >= 0) == 2 and len(set(p[p >= 0].tolist()) - {-1}) == 2 for p in dtree_parents(3))


def _ratios() -> dict[tuple[str, int], list[float]]:
    """Stored large all-reduces across nodes: time × shaped rate / size, per algorithm and ranks."""
    out: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in json.loads((STORED / "calibration-bench.json").read_text(encoding="utf-8")):
        rate = r.get("rate_bytes_per_s")
        if r["link_class"] == "inter" and r["size_bytes"] >= 1e6 and rate and r.get("collective") == "all_reduce":
            out[(r["algorithm"], r["ranks"])].append(r["time_s"] * rate / r["size_bytes"])
    return out


def test_a_stored_calibration_measured_the_two_rank_tree_at_the_rings_pace_and_larger_trees_slower() -> None:
    """validation-2026-12-06-o: the 2-rank tree took 1.0–1.2 × the 2-rank ring at each size and rate; 3 and
    4 ranks took 1.4–1.7 × the ring (their forwarding ranks' pace, which the tree's own fit holds)."""
    ratios = _ratios()
    two = statistics.median(t / r for t, r in zip(ratios[("tree", 2)], ratios[("ring", 2)], strict=True))
    assert 0.95 <= two <= 1.1
    for n in (3, 4):
        assert statistics.median(t / r for t, r in zip(ratios[("tree", n)], ratios[("ring", n)], strict=True)) > 1.3


def _scenario(tmp_path: Path, nodes: int, algorithm: str) -> object:
    path = tmp_path / f"s-{nodes}-{algorithm}.yaml"
    path.write_text(
        "model: {kind: mlp, layers: 4, hidden: 1024}\n"
        f"cluster: {{nodes: {nodes}, device: {{peak_flops: 1 TFLOP/s, memory: 8 GB}}, "
        "inter_node: {bandwidth: 300 Mbit/s}}\n"
        f"training: {{global_batch: {56 * nodes}, micro_batch: 56, optimizer: adam}}\n"
        f"communication: {{algorithm: {algorithm}, bucket: 1 MiB, overlap: false}}\n"
        f"calibration: {{profile: {STORED / 'profile.yaml'}}}\n",
        encoding="utf-8",
    )
    return load_scenario(path)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_profile_prices_the_two_rank_tree_on_the_rings_links_and_larger_trees_on_their_own(
    tmp_path: Path, engine: str
) -> None:
    """Both engines read the one name: 2 ranks of tree cost what 2 ranks of ring cost to within the schedules'
    difference (< 3 %), where the tree's own fit made them 10 %+ slower; 3 ranks keep the tree's fit."""
    profile = load_profile(STORED / "profile.yaml")
    two_tree, two_ring = _scenario(tmp_path, 2, "tree"), _scenario(tmp_path, 2, "ring")
    assert profile_link_name(two_tree, profile) == "ring"  # type: ignore[arg-type]
    assert profile_link_name(_scenario(tmp_path, 3, "tree"), profile) == "tree"  # type: ignore[arg-type]
    assert profile_link_name(two_tree) == "ring"  # type: ignore[arg-type]
    tree_comm = api.run(two_tree, engine=engine).exposed_comm_s  # type: ignore[arg-type]
    ring_comm = api.run(two_ring, engine=engine).exposed_comm_s  # type: ignore[arg-type]
    assert tree_comm == pytest.approx(ring_comm, rel=0.03)


def test_a_profile_without_ring_links_keeps_the_trees_own(tmp_path: Path) -> None:
    import dataclasses

    profile = load_profile(STORED / "profile.yaml")
    no_ring = dataclasses.replace(
        profile, links={c: {a: f for a, f in algs.items() if a != "ring"} for c, algs in profile.links.items()}
    )
    assert profile_link_name(_scenario(tmp_path, 2, "tree"), no_ring) == "tree"  # type: ignore[arg-type]
    # ring fitted inside a node only, the tree across nodes too: the tree's inter-node fit is not dropped
    intra_ring = dataclasses.replace(
        profile,
        links={c: {a: f for a, f in algs.items() if a != "ring" or c == "intra"} for c, algs in profile.links.items()},
    )
    assert intra_ring.link("intra", "ring") is not None and intra_ring.link("inter", "tree") is not None
    assert profile_link_name(_scenario(tmp_path, 2, "tree"), intra_ring) == "tree"  # type: ignore[arg-type]
