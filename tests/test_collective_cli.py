"""``dpsim collective``: one collective as nccl-tests reports it (time, algbw, busbw, algorithm, protocol)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_cli import cli  # the in-process runner of the CLI tests (pytest puts tests/ on the path)

from dpsim.cli_collective import parse_sizes

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


def test_sim_engine_agrees_with_analytic(capsys: pytest.CaptureFixture[str]) -> None:
    common = ("collective", DEFAULT, "--sizes", "1MiB,256MiB", "--format", "json", "--set", "cluster.nodes=2")
    _, out_a, _ = cli(capsys, *common)
    _, out_s, _ = cli(capsys, *common, "--engine", "sim")
    for a, s in zip(json.loads(out_a), json.loads(out_s), strict=True):
        assert s["time_s"] == pytest.approx(a["time_s"], rel=0.01)
        assert (s["algorithm"], s["protocol"]) == (a["algorithm"], a["protocol"])


def test_table_csv_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "collective", "--size", "1GiB")
    assert code == 0 and "busbw (GB/s)" in out and "1 GiB" in out
    _, out, _ = cli(capsys, "collective", "--sizes", "8B..64B", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["size_bytes"]) for r in rows] == [8, 16, 32, 64]
    plot = tmp_path / "busbw.png"
    code, _, _ = cli(capsys, "collective", "--sizes", "1KiB..1MiB", "--plot", plot)
    assert code == 0 and plot.stat().st_size > 1000


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
        ("--op", "alltoall"),
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
