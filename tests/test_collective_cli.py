"""``dpsim collective``: one collective as nccl-tests reports it (time, algbw, busbw, algorithm, protocol)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import cli  # the in-process runner of the CLI tests (pytest puts tests/ on the path)

from dpsim.cli_collective import parse_sizes
from dpsim.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
FIELDS = {"op", "size_bytes", "time_s", "algbw_Bps", "busbw_Bps", "algorithm", "protocol", "world_size"}


@pytest.mark.parametrize(
    ("op", "factor"),
    [("allreduce", 2 * 63 / 64), ("reduce_scatter", 63 / 64), ("all_gather", 63 / 64), ("broadcast", 1)],
)
def test_json_is_one_object_per_size_with_nccl_tests_busbw(
    capsys: pytest.CaptureFixture[str], op: str, factor: float
) -> None:
    code, out, _ = cli(capsys, "collective", DEFAULT, "--op", op, "--sizes", "1KiB..1GiB", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 21 and all(set(r) >= FIELDS for r in rows)
    for r in rows:
        assert r["op"] == op and r["world_size"] == 64
        assert r["algbw_Bps"] == pytest.approx(r["size_bytes"] / r["time_s"], rel=1e-12)
        assert r["busbw_Bps"] == pytest.approx(r["algbw_Bps"] * factor, rel=1e-12)
    times = [r["time_s"] for r in rows]
    assert times == sorted(times)  # a larger message never takes less time


def test_auto_reports_the_tuners_choice(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "collective", DEFAULT, "--sizes", "8B,4GiB", "--format", "json")
    small, large = json.loads(out)
    assert small["protocol"] == "LL"  # latency-bound: the lowest-latency protocol
    assert large["protocol"] == "Simple" and large["algorithm"] in ("ring", "tree")
    # DGX A100 (8 x HDR per node): large all-reduce busbw near the 8 rails' 8 x 24 GB/s
    assert 0.9 * 192e9 < large["busbw_Bps"] <= 192e9


def test_set_chooses_the_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(
        capsys, "collective", DEFAULT, "--size", "64MiB", "--set", "communication.algorithm=ring", "--format", "json"
    )
    assert json.loads(out)[0]["algorithm"] == "ring"


def test_fields_the_collective_does_not_read_are_listed_as_run_lists_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``dpsim collective`` prices one collective over the cluster's ranks: a ``--set`` of the training, the model,
    the buckets or a degraded NIC changed nothing and said nothing. Each is now listed (``ignored_fields`` in every
    JSON row, one text in CSV, ``ignored:`` lines under the table), and the rows are the same to the bit without
    them; the fields it reads (the algorithm, the node count) are not listed. The bundled scenario lists nothing."""
    common = ("collective", DEFAULT, "--sizes", "1MiB,1GiB", "--format", "json")
    _, plain, _ = cli(capsys, *common)
    assert all("ignored_fields" not in row for row in json.loads(plain))
    unread = ["training.zero_stage=1", "model.layers=4", "communication.bucket=50MB",
              "variability.stragglers=[{worker: 1, slowdown: 2}]"]  # fmt: skip
    code, out, _ = cli(capsys, *common, *(a for s in unread for a in ("--set", s)))
    rows = json.loads(out)
    assert code == 0 and [s.split("=")[0] for s in sorted(unread)] == list(rows[0]["ignored_fields"])
    assert [{k: v for k, v in r.items() if k != "ignored_fields"} for r in rows] == json.loads(plain)
    _, out, _ = cli(capsys, *common, "--set", "communication.algorithm=ring", "--set", "cluster.nodes=2")
    assert all("ignored_fields" not in row for row in json.loads(out))
    _, out, _ = cli(capsys, "collective", DEFAULT, "--size", "1MiB", "--format", "csv", "--set", unread[0])
    assert next(iter(csv.DictReader(io.StringIO(out))))["ignored_fields"].startswith("training.zero_stage: not read")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(DEFAULT.read_text().replace("stragglers: []", "stragglers: [{worker: 1, slowdown: 2}]"))
    _, out, _ = cli(capsys, "collective", scenario, "--size", "1MiB")
    assert "ignored: variability.stragglers: not read by dpsim collective" in out


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_the_devices_compute_fields_are_listed_and_which_device_is_read(
    capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """Round 22: a ``--set`` of the device's compute and memory (peak, memory, its GEMM curve, kernel overhead, SM
    count) moved no row and was not listed; each is now, the rows the same to the bit. Which device it is
    (``cluster.device.preset``, or the whole device) sets NCCL's architecture and platform: read, not listed."""
    common = ("collective", DEFAULT, "--sizes", "1KiB,1GiB", "--format", "json", "--engine", engine)
    _, plain, _ = cli(capsys, *common)
    unread = ["cluster.device.peak_flops='1 PFLOP/s'", "cluster.device.memory='1 TB'", "cluster.device.sm_count=2",
              "cluster.device.kernel_overhead='1 ms'", "cluster.device.efficiency=0.1"]  # fmt: skip
    code, out, _ = cli(capsys, *common, *(a for s in unread for a in ("--set", s)))
    rows = json.loads(out)
    assert code == 0 and list(rows[0]["ignored_fields"]) == sorted(s.split("=")[0] for s in unread)
    assert [{k: v for k, v in r.items() if k != "ignored_fields"} for r in rows] == json.loads(plain)
    for device in ("cluster.device.preset=h100-sxm", "cluster.device=h100-sxm"):
        _, out, _ = cli(capsys, *common, "--set", device)
        assert all("ignored_fields" not in row for row in json.loads(out))


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_cpu_vendor_is_listed_where_nccls_tuner_does_not_read_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, engine: str
) -> None:
    """Round 31: ``run`` lists ``cluster.cpu_vendor`` where nothing reads it (one node, gloo: round 30), but the
    collective's rows build their own list and did not: the same rows to the bit, unlisted. Listed now on one node,
    on CPU devices and beside a profile's fitted links (which price the collective without NCCL's tuner); across
    nodes of GPUs it is read (NCCL's network overhead: the rows move) and not listed."""
    from test_ignored_fields import _links_profile

    cpu = ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    one_node = ["--set", "cluster.nodes=1", "--set", "cluster.topology.kind=switch"]
    profile = ["--set", _links_profile(tmp_path), "--set", "cluster.nodes=2"]
    none = ["--set", "communication.protocol=none"]  # every collective on the links' alpha-beta, no NCCL constant
    for scenario, sets in ((DEFAULT, one_node), (cpu, []), (DEFAULT, profile), (DEFAULT, none), (DEFAULT, [])):
        common = ("collective", scenario, "--sizes", "1KiB,64MiB", "--format", "json", "--engine", engine, *sets)
        _, plain, _ = cli(capsys, *common)
        code, out, _ = cli(capsys, *common, "--set", "cluster.cpu_vendor=amd")
        rows = json.loads(out)
        assert code == 0
        if scenario == DEFAULT and not sets:  # 8 nodes of A100: read
            assert rows != json.loads(plain) and all("ignored_fields" not in r for r in rows)
            continue
        assert all(list(r["ignored_fields"]) == ["cluster.cpu_vendor"] for r in rows), (scenario, sets)
        assert [{k: v for k, v in r.items() if k != "ignored_fields"} for r in rows] == json.loads(plain)


def test_sim_engine_agrees_with_analytic(capsys: pytest.CaptureFixture[str]) -> None:
    common = ("collective", DEFAULT, "--sizes", "1MiB,256MiB", "--format", "json", "--set", "cluster.nodes=2")
    _, out_a, _ = cli(capsys, *common)
    _, out_s, _ = cli(capsys, *common, "--engine", "sim")
    for a, s in zip(json.loads(out_a), json.loads(out_s), strict=True):
        assert s["time_s"] == pytest.approx(a["time_s"], rel=0.01)
        assert (s["algorithm"], s["protocol"]) == (a["algorithm"], a["protocol"])


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_degraded_nic_slows_the_collective_as_a_ring_through_it(
    capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """A ring all-reduce runs at its slowest link: node 1's NICs at half the rate (``variability.degraded_links``)
    price it as every node's NICs at half the rate, in both engines (before: the same time as undegraded)."""
    ring = ("collective", DEFAULT, "--sizes", "64MiB,1GiB", "--format", "json", "--engine", engine, "--set",
            "cluster.nodes=2", "--set", "communication.algorithm=ring")  # fmt: skip

    def times(*sets: str) -> list[float]:
        code, out, err = cli(capsys, *ring, *(a for item in sets for a in ("--set", item)))
        assert code == 0, err
        return [row["time_s"] for row in json.loads(out)]

    full, half = (f"cluster.inter_node={{bandwidth: {rate}, latency: 5 us}}" for rate in ("200 Gbit/s", "100 Gbit/s"))
    degraded = times(full, "variability.degraded_links=[{node: 1, factor: 0.5}]")
    assert degraded == pytest.approx(times(half), rel=1e-12)
    assert all(d > 1.5 * t for d, t in zip(degraded, times(full), strict=True))
    assert times(full, "cluster.nodes=1", "variability.degraded_links=[{node: 0, factor: 0.5}]") == times(
        full, "cluster.nodes=1"
    )  # one node: nothing crosses a NIC
    degraded_set = ("--set", "variability.degraded_links=[{node: 1, factor: 0.5}]")
    _, out, _ = cli(capsys, *ring, *degraded_set)
    assert all("ignored_fields" not in row for row in json.loads(out))  # read: not listed
    _, out, _ = cli(
        capsys,
        *ring,
        "--set",
        "cluster.nodes=1",
        *degraded_set[:1],
        "variability.degraded_links=[{node: 0, factor: 0.5}]",
    )
    assert all(list(row["ignored_fields"]) == ["variability.degraded_links"] for row in json.loads(out))


def test_table_csv_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "collective", "--size", "1GiB")
    assert code == 0 and "busbw (GB/s)" in out and "1 GiB" in out
    _, out, _ = cli(capsys, "collective", "--sizes", "8B..64B", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["size_bytes"]) for r in rows] == [8, 16, 32, 64]
    plot = tmp_path / "busbw.png"
    code, _, _ = cli(capsys, "collective", "--sizes", "1KiB..1MiB", "--plot", plot)
    assert code == 0 and plot.stat().st_size > 1000


def test_the_plot_title_fits_its_figure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The busbw plot's title (the scenario's name with its --set fields, the op, ranks, engine and tuner) is broken
    into lines that fit the 7-inch figure, and a ``$`` in the name is text, not mathtext. It was one line: 88
    characters here, cut off at the figure's right edge after about 78."""
    from matplotlib.axes import Axes

    titles: list[str] = []
    monkeypatch.setattr(Axes, "set_title", lambda self, text, *a, **k: titles.append(text))
    plot = tmp_path / "busbw.png"
    name = "name=a $5 run, as long as a name grows"
    code, _, _ = cli(capsys, "collective", "--set", name, "--set", "cluster.nodes=2", "--sizes", "1KiB", "--plot", plot)
    assert code == 0 and plot.stat().st_size > 1000 and len(titles) == 1
    lines = titles[0].split("\n")
    assert len(lines) == 2 and all(len(line) <= 70 for line in lines), lines
    want = r"a \$5 run, as long as a name grows: allreduce on 16 ranks (analytic, NCCL 2.30.7's tuner)"
    assert " ".join(lines) == want


def test_any_node_count_without_a_batch_that_divides(capsys: pytest.CaptureFixture[str]) -> None:
    """A collective does not train: the default scenario's global batch (512) need not divide 3 × 8 × 4."""
    code, out, err = cli(capsys, "collective", "--size", "1GiB", "--set", "cluster.nodes=3", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["world_size"] == 24
    code, out, _ = cli(capsys, "collective", "--size", "1GiB", "--set", "cluster.nodes=3")
    assert "[cluster.nodes=3]" in out.splitlines()[0]  # the overridden name, not eaten as rich markup
    code, _, err = cli(capsys, "collective", "--set", "cluster.nodes=3", "--set", "training.global_batch=7")
    assert code == 2 and "training.global_batch" in err  # a batch the user sets is still checked


@pytest.mark.parametrize(
    "args",
    [
        ("--op", "hypercube"),
        ("--size", "1 XB"),
        ("--size", "0B"),
        ("--size", "1KiB", "--sizes", "1KiB..1MiB"),
        ("--sizes", "1GiB..1KiB"),
        ("--sizes", "1B..1PiB"),
        ("--engine", "ns3"),
        ("--format", "xml"),
        ("--plot", "out.txt"),
        ("--set", "communication.algorithm=bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    code, out, err = cli(capsys, "collective", *args)
    assert code == 2 and out == ""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_size_ranges_double_like_nccl_tests() -> None:
    assert parse_sizes("8B..64B") == [8, 16, 32, 64]
    assert parse_sizes("1MiB,1GiB") == [2**20, 2**30]
    assert len(parse_sizes("8B..16GiB")) == 32


# --- the cost guard: priced before anything is built ------------------------------------------


def _count_routes(monkeypatch: pytest.MonkeyPatch, runs: bool = True) -> list[int]:
    """Count the transfers ``Cluster.routes`` routes from now on, in the returned list's one entry; ``runs``: and
    those of every phase a priced schedule runs again, which pricing routes once and the cost guard charges at each
    run (:func:`dpsim.sim.budget.priced_transfers`: a ring's, hierarchical's and ``direct``'s all-reduce)."""
    from dpsim.sim import cost
    from dpsim.sim.cluster import Cluster

    routed_now = [0]
    route = Cluster.routes
    price = cost.phase_cost

    def counted(self: Cluster, src: Any, dst: Any, nic: Any = None) -> Any:
        routed_now[0] += len(src)
        return route(self, src, dst, nic)

    def priced(schedule: Any, cluster: Any, loads: bool = False) -> Any:
        seen: set[int] = set()
        for phase in schedule.phases:
            routed_now[0] += len(phase.src) if id(phase) in seen else 0
            seen.add(id(phase))
        return price(schedule, cluster, loads)

    monkeypatch.setattr(Cluster, "routes", counted)
    if runs:
        monkeypatch.setattr(cost, "phase_cost", priced)
    return routed_now


def test_direct_prices_its_all_to_all_from_one_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``direct`` runs one all-to-all phase twice (the reduce-scatter, then the all-gather over the same n(n-1)
    pairs): pricing routes it once, n(n-1) transfers (it routed 2n(n-1), and its phase's page faults and lock-step
    check twice), and the price is the closed form's: 2 latencies + 2 (n-1)/n S over a rank's port, the two phases'
    sum (:func:`dpsim.analytic.collectives.direct_allreduce_time`)."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim import budget

    sets = ["cluster.nodes=8", "cluster.workers_per_node=1", "communication.algorithm=direct"]
    fabric = calibrated_fabric(load_scenario(DEFAULT, overrides=[*sets, "communication.protocol=none"]))
    n = fabric.world_size
    routed = _count_routes(monkeypatch, runs=False)
    cf._priced.cache_clear()
    cf._CLUSTER.clear()
    size = float(1 << 26)
    priced = cf.collective("allreduce", "direct", size, fabric).time_s
    held = budget.priced_transfers("allreduce", "direct", "none", budget.layout_of(fabric))[1]
    assert routed[0] == n * (n - 1) == held
    assert priced == pytest.approx(cf.direct_allreduce_time(size, n, fabric.inter), rel=1e-9)


def test_a_collectives_latency_and_time_price_one_schedule_set() -> None:
    """:func:`dpsim.analytic.collectives.collective`, :func:`~dpsim.analytic.collectives.collective_latency` and
    :func:`~dpsim.analytic.collectives.collective_base_latency` of one fabric read one cached schedule set: ``_priced``
    is called with ``groups`` in one shape everywhere (``collective_latency`` passed four arguments while the others
    pass ``None`` as a fifth, two ``lru_cache`` keys that built and priced the same schedules twice: leads48 ##
    fabric). Prices are unchanged (the same schedules)."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.scenario import load_scenario

    sets = ["cluster.nodes=2", "cluster.workers_per_node=4", "communication.algorithm=ring"]
    fabric = calibrated_fabric(load_scenario(DEFAULT, overrides=sets, batch_free=True))
    size = float(1 << 26)
    cf._priced.cache_clear()
    time_s = cf.collective("allreduce", "ring", size, fabric).time_s
    latency = cf.collective_latency("allreduce", "ring", size, fabric)
    base = cf.collective_base_latency("allreduce", "ring", size, fabric)
    info = cf._priced.cache_info()
    assert info.misses == 1, info  # one schedule set built and priced, then read three times
    assert 0 < base <= latency < time_s


@pytest.mark.parametrize("order", ["node_major", "round_robin"])
def test_an_all_reduce_routes_what_its_reduce_scatter_routes(order: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An all-reduce is its reduce-scatter, then an all-gather over the same pairs (a ring's N-1 steps again, the
    hierarchical rings in reverse, gloo's one ring again): pricing routes each of its phases once, what the
    reduce-scatter alone routes (it routed a ring's and hierarchical's phases twice, ``direct``'s once; outputs
    byte-identical). The guard holds them once and charges them at both runs, as before
    (:func:`dpsim.sim.budget.priced_transfers`). With ``cluster.rank_order`` the schedule renamed onto the ranks
    keeps one phase (renaming made two)."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim import budget

    routed = _count_routes(monkeypatch, runs=False)
    for algorithm, protocol in (("ring", "Simple"), ("ring", "none"), ("hierarchical", "none"), ("backend", "none")):
        sets = ["cluster.nodes=4", "cluster.workers_per_node=4", f"cluster.rank_order={order}",
                f"communication.algorithm={algorithm}", f"communication.protocol={protocol}"]  # fmt: skip
        fabric = calibrated_fabric(load_scenario(DEFAULT, overrides=sets, batch_free=True))
        counts, charged = [], []
        for op in ("reduce_scatter", "allreduce"):
            cf._priced.cache_clear()
            cf._CLUSTER.clear()
            routed[0] = 0
            cf.collective(op, algorithm, float(1 << 26), fabric)
            counts.append(routed[0])
            charged.append(budget.priced_transfers(op, algorithm, protocol, budget.layout_of(fabric)))
        assert counts[0] == counts[1] > 0, (algorithm, protocol, counts)
        assert charged[0][:2] == (counts[0], counts[0])  # transfers charged, held
        assert charged[1][:2] == (2 * counts[0], counts[0])


@pytest.mark.parametrize(
    ("nodes", "per_node", "device", "inter"),
    [(4, 8, "a100-80gb", ""), (32, 4, "a100-80gb", ""), (8, 1, "a100-80gb", ""), (1, 8, "h100-sxm", ""),
     (3, 8, "h100-sxm", ""), (16, 8, "h100-sxm", ""),
     # NICs > GPUs: 16 x 200G on 8 H100 = 2 channels a GPU (16); 4 x 200G on one H100 = 2 channels
     # (48 // 24); 4 x 400G on one H100 = 1 (its PCIe Gen5 link is full); fewer NICs than GPUs: 1 and 2
     (2, 8, "h100-sxm", "{preset: ib-hdr, nics_per_node: 16}"),
     (4, 1, "h100-sxm", "{preset: ib-hdr, nics_per_node: 4}"), (4, 1, "h100-sxm", "{preset: ib-ndr, nics_per_node: 4}"),
     (4, 8, "a100-80gb", "{preset: ib-hdr, nics_per_node: 1}"),
     (3, 8, "a100-80gb", "{preset: ib-hdr, nics_per_node: 2}")],
)  # fmt: skip
def test_priced_transfers_count_the_transfers_the_pricing_routes(
    nodes: int, per_node: int, device: str, inter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's count (nothing built) against the transfers the pricing actually routes (``Cluster.routes``
    counted).

    ``auto`` and the tree were counted 1.4x and 1.6-2x high (the tree phase as 4(n-1) a channel; NCCL's tree
    has 2(g-1) a node inside and 4(nodes-1) across), ``direct``, halving-doubling and the parameter server
    at half (``lock_step`` routed their phases again). The tree's phase was routed twice (its fill again) and
    ``lock_step`` routed the textbook schedules' phases again: each phase is routed once now, and the count is
    the transfers routed, the fluid run that routes them again where the ranks leave lock step included (gloo's
    binomial trees over more than two ranks; the parameter server, which keeps it, was charged it too: twice what
    it routes); halving-doubling is charged it whether or not it runs, and ``direct`` twice for its phase's cost
    (at most twice what is routed); never below. The channels are the schedules' own (``nccl.channels``): the count
    took G a node whatever the NICs, half of what 16 NICs on 8 GPUs route and 8x what one NIC routes.
    """
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import algorithm_of, calibrated_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim import budget, collectives

    routed_now = _count_routes(monkeypatch)
    cf._priced.cache_clear()
    checked = 0
    for algorithm in ("auto", "ring", "tree", "nvls-tree", *collectives.TEXTBOOK):
        for protocol in ("auto", "Simple", "LL", "LL128", "none"):  # a named LL protocol leaves NVLS out of auto
            sets = [f"cluster.nodes={nodes}", f"cluster.workers_per_node={per_node}", f"cluster.device={device}",
                    f"communication.algorithm={algorithm}", f"communication.protocol={protocol}"]  # fmt: skip
            sets += [f"cluster.inter_node={inter}"] if inter else []
            try:
                fabric = calibrated_fabric(scenario := load_scenario(DEFAULT, overrides=sets, batch_free=True))
            except Exception:  # nvls-tree on A100, ...: not a scenario
                continue
            for op in collectives.OPS:
                cf._priced.cache_clear()
                cf._CLUSTER.clear()
                routed_now[0] = 0
                try:
                    cf.collective(op, algorithm_of(scenario), float(1 << 20), fabric)
                except ValueError:
                    continue
                routed, held, _ = budget.priced_transfers(
                    op, algorithm_of(scenario), fabric.protocol, budget.layout_of(fabric)
                )
                where = (algorithm, protocol, op, routed, routed_now[0])
                assert routed >= routed_now[0], where  # an upper bound of the work
                if routed_now[0] == 0:  # a closed form (textbook ring): nothing routed
                    continue
                # charged twice: direct's all-to-all phase, and NCCL's all-to-all, the same n(n-1) phase
                fluid = (op == "allreduce" and algorithm in ("halving-doubling", "direct")) or op == "alltoall"
                exact = op != "sendrecv" and not fluid  # sendrecv: every pair as if across nodes
                assert routed <= (1 if exact else 2) * routed_now[0], where
                assert held <= routed
                checked += 1
    assert checked >= 30


def _host_rows() -> list[Any]:
    """The nccl-tests table's PCIe machines with a host topology (one row per machine and NCCL_P2P_LEVEL), and the
    2 x Turin machine on two nodes (a ring over nodes leaves each node by the edge into its first GPU)."""
    import dataclasses

    from _bench import load_benchmark

    module = load_benchmark("nccl_tests_table")
    rows: dict[Any, Any] = {}
    for run in module.ROWS:
        if run.host_topology:
            rows.setdefault((run.gpus_per_node, run.host_topology, run.p2p_level), run)
    turin = next(r for r in rows.values() if r.gpus_per_node == 8)
    return [module.scenario_for(r) for r in [*rows.values(), dataclasses.replace(turin, nodes=2)]]


def test_the_cost_guard_charges_what_pcie_nodes_with_a_host_topology_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PCIe nodes with a host topology (``cluster.host_topology``) the guard's count (nothing built) equals the
    transfers the pricing routes (``Cluster.routes`` counted), for every algorithm NCCL runs there, protocol and ring
    collective. It charged 0.2-0.67x of them: a ring's receive-only step over host memory (one transfer a channel's
    SHM edge) was not counted, and NCCL's tree estimate there (``cost.host_tree_scale``) priced the textbook ring and
    tree again for every tree protocol, uncounted; they are priced once now, and counted. A broadcast's chain
    sends n-1 a channel (n were charged)."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import algorithm_of, calibrated_fabric
    from dpsim.sim import budget

    routed_now = _count_routes(monkeypatch)
    checked = set()
    for base in _host_rows():
        for algorithm in ("auto", "ring", "tree"):
            for protocol in ("auto", "Simple", "LL"):
                comm = base.communication.model_copy(update={"algorithm": algorithm, "protocol": protocol})
                scenario = base.model_copy(update={"communication": comm})
                fabric = calibrated_fabric(scenario)
                layout = budget.layout_of(fabric)
                assert layout.host_topology
                for op in ("allreduce", "reduce_scatter", "all_gather", "broadcast"):
                    cf._priced.cache_clear()
                    cf._CLUSTER.clear()
                    routed_now[0] = 0
                    cf.collective(op, algorithm_of(scenario), float(1 << 20), fabric)
                    routed, held, _ = budget.priced_transfers(op, algorithm_of(scenario), fabric.protocol, layout)
                    assert routed == routed_now[0], (base.name, algorithm, protocol, op, routed, routed_now[0])
                    assert held <= routed
                    checked.add((base.name, layout.nodes, any(layout.shm_edges)))
    assert len(checked) == 5 and {(n, shm) for _, n, shm in checked} == {(1, True), (1, False), (2, True)}


SHAPES = {
    "a100 x 8": {"nodes": 1, "per_node": 8, "nics": 8, "arch": "ampere"},
    "a100 4 x 8": {"nodes": 4, "per_node": 8, "nics": 8, "arch": "ampere"},
    "3 x 8, one nic": {"nodes": 3, "per_node": 8},
    "8 x 1": {"nodes": 8, "per_node": 1},
    "5 x 4, two nics": {"nodes": 5, "per_node": 4, "nics": 2},
    "h100 2 x 8, 16 nics": {"nodes": 2, "per_node": 8, "nics": 16, "arch": "hopper", "nic_gbps": 25.0},
    "h100 4 x 8 nvls": {"nodes": 4, "per_node": 8, "nics": 8, "nvls": True, "arch": "hopper", "nic_gbps": 50.0},
    "h100 x 8 nvls": {"nodes": 1, "per_node": 8, "nics": 8, "nvls": True, "arch": "hopper", "nic_gbps": 50.0},
    "pcie 3 x 4": {"nodes": 3, "per_node": 4, "nics": 4, "intra_hw": "pci"},
    "h100 2 x 8 pxn": {"nodes": 2, "per_node": 8, "nics": 8, "arch": "hopper", "nic_gbps": 50.0, "pxn": True},
    "pcie shm": {"nodes": 2, "per_node": 8, "intra_hw": "pci", "shm_edges": (False, True) * 4},
    "pcie shm x 1": {"nodes": 1, "per_node": 8, "intra_hw": "pci", "shm_edges": (False, True) * 4},
    "tree pattern": {"nodes": 3, "per_node": 8, "nics": 4, "arch": "ampere", "nic_gbps": 25.0, "pcie_gpus_per_nic": 1},
    "round robin pxn": {"nodes": 2, "per_node": 4, "nics": 4, "arch": "hopper", "nic_gbps": 50.0, "pxn": True,
                        "slots": tuple((r % 2) * 4 + r // 2 for r in range(8))},
    "6 x 2": {"nodes": 6, "per_node": 2, "nics": 2},
}  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_the_guard_lays_out_each_schedule_as_it_is_built(shape: str) -> None:
    """``budget.schedule_phases`` (nothing built) against every schedule :func:`collectives.build` builds: the
    transfers and repeats of each phase, for every collective, algorithm and protocol; and ``collective_transfers``
    (what ``simulation.fidelity: auto`` and the chunk level's guard count) is the largest candidate's
    ``Schedule.transfers``. ``fidelity.transfers_per_allreduce`` counted them a second way: NCCL's tree as 4(n-1) a
    channel (1.4-2x its transfers), NVLS-tree 4 a GPU across nodes, a ring without its PXN legs or SHM step, a
    hierarchical ring on one GPU a node on one channel."""
    from dpsim.sim import budget, collectives
    from dpsim.sim.collectives.base import Layout

    layout = Layout(**SHAPES[shape])
    checked = 0
    # send/receive under a rank order: n pairs, of which p2p_transfers counts M across nodes as in node-major order
    ops = [op for op in collectives.OPS if not (op == "sendrecv" and layout.slots)]
    for op in ops:
        for algorithm in ("auto", "ring", "tree", "nvls", "nvls-tree", *collectives.TEXTBOOK):
            for protocol in ("auto", "Simple", "LL", "none"):
                try:
                    built = collectives.candidates(op, algorithm, layout, protocol)
                except (ValueError, ScenarioError):  # NVLS without a SHARP switch, LL on NVLS: not a schedule
                    continue
                pairs = collectives.candidate_pairs(op, algorithm, layout, protocol)
                for (name, proto), schedule in zip(pairs, built, strict=True):
                    laid = [(len(p.src), p.repeat) for p in schedule.phases if len(p.src)]
                    counted = [(t, r) for t, r in budget.schedule_phases(op, name, proto, layout) if t]
                    assert counted == laid, (op, name, proto)
                    checked += 1
                most = max(s.transfers for s in built)
                assert budget.collective_transfers(op, algorithm, protocol, layout) == most, (op, algorithm, protocol)
    assert checked >= 100


def test_fidelity_auto_counts_the_transfers_the_chunk_level_runs() -> None:
    """``simulation.fidelity: auto`` runs the chunk level while the transfers it would simulate fit
    :data:`~dpsim.sim.fidelity.CHUNK_BUDGET`: NCCL's tree on 64 nodes x 8 H100 with 8 NICs is 8 channels of
    2·64·7 + 4·63 = 1,148 transfers (9,184), 40 collectives of a jittered step 367,360: chunk. Counted as 4(n-1) a
    channel (16,352; 654,080 the step) it ran the fast level."""
    from dpsim.sim import budget, collectives
    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.fidelity import CHUNK_BUDGET, choose_fidelity

    layout = Layout(64, 8, nics=8, arch="hopper", nic_gbps=50.0)
    (tree,) = collectives.candidates("allreduce", "tree", layout, "Simple")
    assert tree.transfers == budget.collective_transfers("allreduce", "tree", "Simple", layout) == 9_184
    assert 40 * tree.transfers <= CHUNK_BUDGET < 40 * 4 * (layout.world - 1) * 8
    assert choose_fidelity("auto", "tree", layout, 40, False, "Simple") == "chunk"
    assert choose_fidelity("auto", "tree", layout, 60, False, "Simple") == "fast"
    # auto: the ring, the candidate with the most transfers (2(n-1) steps of n a channel)
    assert budget.collective_transfers("allreduce", "auto", "auto", layout) == 2 * 511 * 512 * 8


@pytest.mark.parametrize(
    ("sets", "engine", "allow_long"),
    [
        (("cluster.nodes=131072",), "analytic", False),  # 1,048,576 ranks: about 47 s CPU and 5.8 GB measured
        (("cluster.nodes=131072",), "sim", False),
        (("cluster.nodes=1024", "communication.algorithm=direct"), "analytic", True),  # n(n-1) = 67 M a phase
    ],
)
def test_work_past_the_limits_is_refused_up_front(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sets: tuple[str, ...], engine: str, allow_long: bool
) -> None:
    import time

    plot = tmp_path / "busbw.png"
    args = [a for s in sets for a in ("--set", s)] + ["--engine", engine, "--plot", plot]
    start = time.process_time()
    code, out, err = cli(capsys, "collective", *args, *(["--allow-long"] if allow_long else []))
    assert time.process_time() - start < 5  # refused before building a schedule (the run takes minutes)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "<cost guard>: pricing" in err and "ranks" in err
    assert ("--allow-long" in err) != allow_long  # the memory limit holds even with --allow-long
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cheap_work_is_not_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from dpsim.sim import budget
    from dpsim.sim.collectives.base import Layout

    # 512 ranks of direct (2 x 261,632 transfers): priced in well under a second, at both engines
    for engine in ("analytic", "sim"):
        code, out, err = cli(capsys, "collective", "--set", "cluster.nodes=64", "--set",
                             "communication.algorithm=direct", "--engine", engine, "--format", "json")  # fmt: skip
        assert code == 0, err
        assert json.loads(out)[0]["world_size"] == 512
    # the bound lets 262,144 ranks (14.1 s CPU measured) and 2,048 and 4,096 ranks of direct run (2.5 and 14.6 s
    # CPU measured, its all-to-all routed once: 4,096 took 38 s, and was refused, when it was routed twice); 5,120
    # ranks of direct (26.2 M transfers a phase) are refused for memory, even with --allow-long
    for world, per_node, algorithm in ((262_144, 8, "auto"), (2048, 8, "direct"), (4096, 8, "direct")):
        layout = Layout(world // per_node, per_node, nics=8)  # DGX-class: a NIC a GPU
        work = budget.estimate_collective("allreduce", algorithm, "auto", layout, "analytic", 1, 256)
        assert budget.check_collective(work) is work
    work = budget.estimate_collective("allreduce", "direct", "auto", Layout(640, 8, nics=8), "analytic", 1, 256)
    with pytest.raises(ScenarioError, match="GiB"):
        budget.check_collective(work, allow_long=True)
    # NCCL's all-to-all routes direct's phase of n(n-1) pairs once, and is charged as direct is: twice (stop 42).
    # Charged once, 3,000 gloo ranks (the CPU scenario on 1,500 nodes) were priced as 4.95 s, and took 5.9-6.0 s of
    # CPU (21-43 s wall on the loaded machine); on 2,700 nodes (29 M transfers) they are past the 30 s limit
    from dpsim.analytic.step import algorithm_of, calibrated_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim.collectives.p2p import p2p_transfers

    cpu = ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    for path, nodes in ((cpu, 1500), (DEFAULT, 375), (cpu, 2700)):
        fabric = calibrated_fabric(scenario := load_scenario(path, overrides=[f"cluster.nodes={nodes}"],
                                                             batch_free=True))  # fmt: skip
        layout, world = budget.layout_of(fabric), fabric.world_size
        alltoall = budget.estimate_collective("alltoall", algorithm_of(scenario), fabric.protocol, layout, "analytic",
                                              1, 256)  # fmt: skip
        assert alltoall.transfers == 2 * p2p_transfers("alltoall", layout)
        if path == cpu:  # gloo: no PXN relay legs, the n(n-1) pairs of direct's phase and its charge
            direct = budget.estimate_collective("allreduce", "direct", "none", layout, "analytic", 1, 256)
            assert alltoall.transfers == direct.transfers == 2 * world * (world - 1)
        if nodes == 1500:
            assert budget.check_collective(alltoall).seconds == pytest.approx(2 * 2999 * 3000 * budget.PRICE_TRANSFER_S)
        if nodes == 2700:
            with pytest.raises(ScenarioError, match="pricing alltoall"):
                budget.check_collective(alltoall)


def test_run_and_sweep_price_the_steps_collectives_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    """``run`` (both engines) and ``sweep`` price the same schedules: the same bound refuses a million ranks."""
    import time

    from dpsim.scenario import load_scenario
    from dpsim.sim import budget

    million = ("--set", "cluster.nodes=131072", "--set", "training.global_batch=auto")
    for extra in ((), ("--engine", "sim")):
        start = time.process_time()
        code, out, err = cli(capsys, "run", *million, *extra)
        assert time.process_time() - start < 5 and code == 2 and out == ""
        assert err.startswith("error: ") and "1,048,576 ranks" in err and "--allow-long" in err
    code, _, err = cli(
        capsys, "sweep", DEFAULT, "--vary", "cluster.nodes=1,131072", "--set", "training.global_batch=auto"
    )
    assert code == 2 and "at grid point cluster.nodes=131072" in err
    # ZeRO reduce-scatters its gradients (its gathers are priced as the same reduce-scatter); the simulator
    # prices the schedules twice
    zero = load_scenario(DEFAULT, overrides=["training.zero_stage=1"])
    ddp = load_scenario(DEFAULT)
    assert budget.scenario_pricing(zero).op == "reduce_scatter"
    assert budget.scenario_pricing(ddp).op == "allreduce"
    assert budget.scenario_pricing(ddp, "sim").seconds == 2 * budget.scenario_pricing(ddp).seconds


def test_sweep_takes_allow_long_as_its_refusal_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's line tells the user to pass --allow-long; ``sweep`` accepts it and every point runs."""
    from dpsim.sim import budget

    monkeypatch.setattr(budget, "PRICING_LIMIT_S", 0.0)  # every scenario is now past the pricing limit
    args = ("sweep", DEFAULT, "--vary", "cluster.nodes=1,2", "--format", "json")
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == "" and err.startswith("error: <cost guard>: pricing allreduce")
    assert "pass --allow-long" in err and err.count("\n") == 1
    code, out, err = cli(capsys, *args, "--allow-long")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["cluster.nodes"] for r in rows] == [1, 2]


def test_sweeps_and_plans_are_priced_in_all_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    """Each point of a sweep (each data-parallel group of a plan's screen) alone is under the pricing limit,
    all of them together are not: refused up front as one ``<cost guard>`` line, before anything is priced."""
    import time

    from dpsim.scenario import load_scenario
    from dpsim.sim import budget

    nodes = "16384,16000,15000,14000,13000"  # 104,000-131,072 ranks each: 5.5-7.2 s by the bound, 33 s in all
    start = time.process_time()
    code, out, err = cli(capsys, "sweep", DEFAULT, "--vary", f"cluster.nodes={nodes}", "--set",
                         "training.global_batch=auto", "--format", "csv")  # fmt: skip
    assert time.process_time() - start < 10 and code == 2 and out == ""
    assert err.startswith("error: <cost guard>: this sweep of 5 configurations prices 5 distinct")
    assert "--allow-long" in err
    plan = ["plan", "--model", "gpt2-small", "--tokens", "20B", "--max-devices", "1048576", "--min-devices", "262144",
            "--global-batch", "1048576", "--no-progress", "--simulate", "0", "--tp", "1", "--pp", "1", "--zero", "0",
            "--micro-batch", "1"]  # fmt: skip
    # ring and hierarchical (the planner's default before it searched auto, c66f7de): each group alone is under
    # the limit, the screen's six together are not
    start = time.process_time()
    code, out, err = cli(capsys, *plan, "--algorithm", "ring,hierarchical")
    assert time.process_time() - start < 10 and code == 2 and out == ""
    assert err.startswith("error: <cost guard>: the plan's screen") and "1,048,576 ranks" in err
    # the default (auto, what run prices): its largest group alone is past the limit, refused up front as well
    start = time.process_time()
    code, out, err = cli(capsys, *plan)
    assert time.process_time() - start < 10 and code == 2 and out == ""
    assert err.startswith("error: <cost guard>: pricing allreduce (auto) on 1,048,576 ranks")
    assert "\n" not in err.strip()
    # a data-parallel group is priced once however many points share it (the analytic engine keeps its prices)
    big = load_scenario(DEFAULT, overrides=["cluster.nodes=16384", "training.global_batch=auto"])
    one = budget.scenario_pricing(big).seconds
    assert 5 < one < budget.PRICING_LIMIT_S
    assert budget.check_total([(f"point {i}", big) for i in range(50)], "a sweep") == pytest.approx(one)


def test_a_ring_of_nodes_prices_the_links_its_far_routes_are_padded_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ``cluster.topology.kind: ring`` a phase's routes are one column per link, padded to its longest route
    (up to nodes/2 links): the tree's pairs sit far apart, a node-major ring's one link. The guard counted
    transfers only, as on a switch: 4,096 nodes of ``auto`` priced as 0.23 s and 0.02 GiB took 48 s and 3.8 GB,
    8,192 nodes ran out of memory (15 GB). Here every link column routed, counted, is within what the guard
    charges (``priced_transfers`` + the far transfers x ``ring_hops``, each phase routed twice), for every
    algorithm and op."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import algorithm_of, calibrated_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim import budget, collectives, topology

    cells = [0]
    real = topology.RingTopology.routes

    def counted(self: Any, *args: Any) -> Any:
        links, latency = real(self, *args)
        cells[0] += links.size
        return links, latency

    monkeypatch.setattr(topology.RingTopology, "routes", counted)
    checked = 0
    for algorithm in ("auto", "ring", "tree", *collectives.TEXTBOOK):
        sets = ["cluster.nodes=16", "cluster.workers_per_node=2", "cluster.topology.kind=ring",
                f"communication.algorithm={algorithm}"]  # fmt: skip
        try:
            fabric = calibrated_fabric(scenario := load_scenario(DEFAULT, overrides=sets, batch_free=True))
        except Exception:  # not a scenario
            continue
        hops, layout = budget.ring_hops(fabric), budget.layout_of(fabric)
        assert hops == 8
        for op in collectives.OPS:
            cells[0] = 0
            cf._priced.cache_clear()
            try:
                cf.collective(op, algorithm_of(scenario), float(1 << 20), fabric)
            except ValueError:
                continue
            routed, _, _ = budget.priced_transfers(op, algorithm_of(scenario), fabric.protocol, layout)
            far, _, _ = budget.priced_transfers(op, algorithm_of(scenario), fabric.protocol, layout, far=True)
            # at most twice the guard's count, which the fitted PRICE_HOP_S / PRICE_HOP_BYTES include
            assert cells[0] <= 2 * (routed + far * hops), (algorithm, op, cells[0], routed, far)
            checked += 1
    assert checked >= 30
    ring = ["cluster.workers_per_node=8", "cluster.topology.kind=ring", "training.global_batch=auto"]
    with pytest.raises(ScenarioError, match="links of a ring"):  # 4,096 nodes of auto: 1.5 min, 4.5 GiB by the bound
        budget.check_pricing(load_scenario(DEFAULT, overrides=[*ring, "cluster.nodes=4096"]))
    sets = ["cluster.nodes=4096", "communication.algorithm=ring"]
    near = budget.check_pricing(load_scenario(DEFAULT, overrides=[*ring, *sets]))
    switch = budget.scenario_pricing(load_scenario(DEFAULT, overrides=[*ring[::2], *sets]))  # the default: a switch
    assert near.pricing_s == switch.pricing_s  # a ring's neighbours: one link, priced as on a switch
