"""The per-step cost of a ring with two ranks a node: emu's measured all-reduces against dpsim's price (no root).

    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/analyse.py RECORDS.json PROFILE.yaml [BENCH.json]

RECORDS.json: ``calib_two_a_node.py``'s records (rank 0's, one per nodes x per_node x rate x algorithm x size), or
``grid``: that script's grid with no measurement (the price alone, as ``preprice.txt`` was written before it ran).
PROFILE.yaml: the calibration of the same window (its links price every point; none of these points is in it).
BENCH.json: that calibration's ``calibration-bench.json``: its one-a-node ring / backend points at the same rank count
and rate are printed beside each two-a-node point (the control).

Per point: the measured median, the ideal wire time ``c·S/(η·R)`` (c the busiest node's bytes over S: a flat ring
2(N-1)/N with one crossing a node each way; hierarchical G·2(M-1)/M·S/G; η = 1448/1514, tbf counting whole frames), the
excess per step over that wire time, the analytic engine's price (``dpsim collective`` on the validation's MLP
scenario with the profile) with its error, and two other forms of a flat algorithm's step on the same links
(:func:`price`): the slower hop each step, and the wire hop alone.
"""

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.validate_emulated import SCENARIO
from dpsim.cli_collective import collective_rows
from dpsim.scenario import load_scenario

ETA = 1448 / 1514


def steps_and_bytes(algorithm: str, nodes: int, per_node: int) -> tuple[int, float]:
    """Sequential steps of the all-reduce and the bytes each node's wire carries one way, per byte of S."""
    n = nodes * per_node
    if algorithm == "hierarchical":
        return 2 * (per_node - 1) + 2 * (nodes - 1), 2 * (nodes - 1) / nodes
    return 2 * (n - 1), 2 * (n - 1) / n


def priced_point(tmp: Path, profile: Path, nodes: int, per_node: int, rate: float, algorithm: str, size: int):
    """The validation MLP's scenario on ``nodes`` x ``per_node`` ranks at ``rate`` with ``profile``, and the analytic
    engine's price of one all-reduce of ``size`` bytes on it (``dpsim collective``)."""
    sets = [
        f"cluster.nodes={nodes}", f"cluster.workers_per_node={per_node}",
        f"cluster.inter_node.bandwidth={rate * 8 / 1e6:g} Mbit/s", f"communication.algorithm={algorithm}",
        f"calibration.profile={profile.resolve()}",
    ]  # fmt: skip
    scenario = load_scenario(tmp, sets, batch_free=True)
    return scenario, float(collective_rows(scenario, "allreduce", [float(size)])[0]["time_s"])


def points(records: list[dict]):
    """Each record in print order with its layout, rate, algorithm, size, measured time and ideal wire time."""
    for r in sorted(records, key=lambda r: (r["nodes"], -r["rate_bytes_per_s"], r["algorithm"], r["size_bytes"])):
        nodes, per_node, rate = r["nodes"], r["per_node"], r["rate_bytes_per_s"]
        alg, size, t = r["algorithm"], r["size_bytes"], r["time_s"]
        steps, c = steps_and_bytes(alg, nodes, per_node)
        yield nodes, per_node, rate, alg, size, t, steps, c * size / (ETA * rate)


def price(
    tmp: Path, profile: Path, nodes: int, per_node: int, rate: float, algorithm: str, size: int
) -> tuple[float, float, float]:
    """The analytic engine's price, and for a flat algorithm two other forms of its step on the same calibrated links:
    each step the slower of its two hops (the loopback hop ``α_i + b/B_i``, the wire hop ``α_e + b/B_e``, b = S/N)
    instead of ``max(α_i, α_e) + b/min(B_i, B_e)``, and the wire hop alone (nan for hierarchical)."""
    scenario, priced = priced_point(tmp, profile, nodes, per_node, rate, algorithm, size)
    if algorithm == "hierarchical":
        return priced, float("nan"), float("nan")
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.calibration import profile_for

    fabric = calibrated_fabric(scenario, profile_for(scenario))
    n, b = nodes * per_node, size / (nodes * per_node)
    intra, inter = fabric.intra, fabric.inter
    hops = 2 * (n - 1) * max(intra.latency_s + b / intra.bandwidth, inter.latency_s + b / inter.bandwidth)
    return priced, hops, 2 * (n - 1) * (inter.latency_s + b / inter.bandwidth)


def grid() -> list[dict]:
    """The points ``calib_two_a_node.py`` measures, with no time (nan)."""
    return [
        {"nodes": nodes, "per_node": 2, "rate_bytes_per_s": mbit * 1e6 / 8, "algorithm": algorithm, "size_bytes": size,
         "time_s": float("nan")}
        for nodes in (2, 4) for mbit in (1200, 450) for algorithm in ("ring", "backend", "hierarchical")
        for size in (8 * 1024, 64 * 1024, 1 << 20, 2362368, 9449472)
    ]  # fmt: skip


@contextlib.contextmanager
def inputs() -> Iterator[tuple[list[dict], Path, Path]]:
    """The command line's records (or the grid) and profile, and the validation MLP's scenario file to price on."""
    records = grid() if sys.argv[1] == "grid" else json.loads(Path(sys.argv[1]).read_text())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "scenario.yaml"
        tmp.write_text(SCENARIO)
        yield records, Path(sys.argv[2]), tmp


def main() -> None:
    control: dict[tuple, float] = {}
    if len(sys.argv) > 3:
        bench = json.loads(Path(sys.argv[3]).read_text())
        bench = bench.get("records", bench) if isinstance(bench, dict) else bench
        for r in bench:
            if r.get("link_class") == "inter" and r["collective"] == "all_reduce":
                control[(r["algorithm"], r["ranks"], round(r["rate_bytes_per_s"]), r["size_bytes"])] = r["time_s"]
    with inputs() as (records, profile, tmp):
        print(f"{'config':>6} {'Mbit/s':>6} {'algorithm':>12} {'size B':>9} {'meas ms':>9} {'wire ms':>8} "
              f"{'excess/step ms':>14} {'priced ms':>9} {'err %':>6} {'hops ms':>8} {'err %':>6} {'wire-hop ms':>11} "
              f"{'err %':>6} {'1-a-node ms':>11}")  # fmt: skip
        for nodes, per_node, rate, alg, size, t, steps, wire in points(records):
            p, hops, wire_hop = price(tmp, profile, nodes, per_node, rate, alg, size)
            ctl = control.get((alg, nodes * per_node, round(rate), size))
            print(f"{nodes}x{per_node:<4} {rate * 8e-6:6.0f} {alg:>12} {size:9d} {t * 1e3:9.2f} {wire * 1e3:8.2f} "
                  f"{(t - wire) / steps * 1e3:14.3f} {p * 1e3:9.2f} {100 * (p - t) / t:+6.1f} {hops * 1e3:8.2f} "
                  f"{100 * (hops - t) / t:+6.1f} {wire_hop * 1e3:11.2f} {100 * (wire_hop - t) / t:+6.1f} "
                  f"{'' if ctl is None else f'{ctl * 1e3:.2f}':>11}")  # fmt: skip


if __name__ == "__main__":
    main()
