"""nccl-tests output → profile: parsing every format in tests/data/nccl_tests, fitting, busbw reproduction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dpsim.analytic import collectives as cf
from dpsim.analytic.collectives import Link
from dpsim.calibration import HardwareProfile, LinkSegment, load_profile, save_profile
from dpsim.cli_collective import collective_rows
from dpsim.errors import ScenarioError
from dpsim.ingest.nccl_tests import (
    NcclTestsRun,
    SizeMeasurement,
    busbw_factor,
    engine_busbw,
    fit_curve,
    load_nccl_tests,
    parse_nccl_tests,
    profile_from_nccl_tests,
    reproduce_busbw,
    run_scenario,
)

DATA = Path(__file__).parent / "data" / "nccl_tests"
MIB = 2**20


def test_new_format_with_banner_device_lines_and_root_column() -> None:
    (run,) = load_nccl_tests(DATA / "all_reduce_2x4_gh200_nccl-tests-2.17.1.txt")
    assert (run.op, run.ranks, run.link_class, run.algorithm) == ("all_reduce", 8, "inter", "ring")
    assert run.hosts == ("nid005471",) * 4 + ("nid005487",) * 4
    assert set(run.devices) == {"NVIDIA GH200 120GB"}
    assert len(run.rows) == 15 and run.dtype == "float"
    first, last = run.rows[0], run.rows[-1]
    assert (first.size_bytes, first.out_of_place_s, first.in_place_s) == (
        8192,
        pytest.approx(37.21e-6),
        pytest.approx(35.84e-6),
    )
    assert last.size_bytes == 134217728
    assert (last.out_of_place_busbw, last.in_place_busbw) == (pytest.approx(122.57e9), pytest.approx(123.11e9))
    assert last.time_s == pytest.approx(2 / (1 / 1916.4e-6 + 1 / 1907.8e-6))  # the time of the mean busbw
    # the printed busbw is nccl-tests' S/t · 2(N−1)/N of the printed time (to its 0.01 GB/s rounding)
    for row in run.rows:
        assert row.out_of_place_busbw == pytest.approx(
            busbw_factor("all_reduce", 8) * row.size_bytes / row.out_of_place_s, abs=0.006e9, rel=1e-3
        )


def test_newest_banner_gives_nccl_and_nccl_tests_versions() -> None:
    (run,) = load_nccl_tests(DATA / "all_reduce_2x1_gh200_nccl-tests-2.18.2.txt")
    assert run.tests_version == "2.18.2"
    assert run.nccl_version == "2.30.7"  # nccl-library=23007: X·10000 + Y·100 + Z
    assert (run.ranks, run.link_class, len(run.rows)) == (2, "inter", 8)


def test_bare_table_infers_ranks_from_busbw_over_algbw() -> None:
    (run,) = load_nccl_tests(DATA / "all_reduce_8gpu_nccl-tests-new-format.txt")
    assert run.op == "all_reduce"  # from the file name
    assert run.ranks == 8  # 300.51 / 171.72 = 1.75 = 2·7/8
    assert run.link_class is None and any("inferred" in n for n in run.notes)


def test_old_format_redop_without_root_and_markdown_stripped_hashes() -> None:
    (run,) = load_nccl_tests(DATA / "all_reduce_2gpu_a100_old-format-unprefixed.txt")
    assert (run.op, run.ranks, run.link_class) == ("all_reduce", 2, "intra")
    assert [r.size_bytes for r in run.rows] == [32, 64]
    assert run.rows[1].out_of_place_s == pytest.approx(10.14e-6)
    assert run.rows[1].in_place_s == pytest.approx(10.31e-6)


def test_old_all_gather_without_redop_or_root() -> None:
    (run,) = load_nccl_tests(DATA / "all_gather_16rank_old-format-no-redop.txt", ranks=16)
    assert run.op == "all_gather" and run.ranks == 16
    assert [r.size_bytes for r in run.rows][:3] == [64, 128, 256]
    assert run.rows[-1].out_of_place_s == pytest.approx(34.81e-6)
    assert run.rows[-1].in_place_s == pytest.approx(34.78e-6)


def test_zero_byte_rows_are_dropped() -> None:
    (run,) = load_nccl_tests(DATA / "reduce_scatter_2x4_nccl-tests-new-format.txt", ranks=8)
    assert run.op == "reduce_scatter"
    assert [r.size_bytes for r in run.rows] == [128, 256]


def _row(size: int, redop: str, blocks: tuple[tuple[float, float, float, str], ...]) -> str:
    """One table row in nccl-tests' own printf formats (``src/common.cu``: ``Reporter``)."""
    line = f"{size:12d}  {size // 4:12d}  {'float':>8}  {redop:>6}  {-1:6d}"  # "%12li  %12li  %8s  %6s  %6i"
    for time_us, algbw, busbw, wrong in blocks:  # "  %7s  %6.2f  %6.2f  %5li"
        line += f"  {time_us:7.1f}  {algbw:6.2f}  {busbw:6.2f}  {wrong:>5}"
    return line + "\n"


HEADER = """#                                                              {first}                       {second}
#       size         count      type   redop    root  {time}   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
"""


def test_header_variants_cputime_in_place_first_mpirun_prefix_and_na() -> None:
    text = "[1,0]<stdout>:# Collective test starting: reduce_scatter_perf\n" + "".join(
        "[1,0]<stdout>:" + line + "\n"
        for line in HEADER.format(first="in-place", second="out-of-place", time="cputime").splitlines()
    )
    text += "[1,0]<stdout>:" + _row(4194304, "sum", ((100.0, 41.94, 39.32, "N/A"), (200.0, 20.97, 19.66, "N/A")))
    (run,) = parse_nccl_tests(text, "x", ranks=16)
    (row,) = run.rows
    assert run.op == "reduce_scatter"
    # in-place block printed first: the second block is out-of-place
    assert (row.out_of_place_s, row.in_place_s) == (pytest.approx(200e-6), pytest.approx(100e-6))
    assert row.out_of_place_busbw == pytest.approx(19.66e9)


def test_nccl_debug_lines_give_version_algorithm_and_protocol() -> None:
    text = (
        "host:1:1 [0] NCCL INFO NCCL version 2.21.5+cuda12.4\n"
        "host:1:1 [0] NCCL INFO NCCL_ALGO set by environment to Tree\n"
        "host:1:1 [0] NCCL INFO NCCL_PROTO set by environment to Simple\n"
        "# Collective test starting: all_reduce_perf\n"
        + HEADER.format(first="out-of-place", second="in-place", time=" time")
        + _row(MIB, "sum", ((100.0, 10.49, 18.35, "0"),) * 2)
    )
    (run,) = parse_nccl_tests(text, "x", ranks=8)
    assert (run.nccl_version, run.nccl_algo, run.nccl_proto, run.algorithm) == ("2.21.5", "Tree", "Simple", "tree")


def test_collective_from_redop_none_and_errors_when_unknown() -> None:
    row = _row(MIB, "none", ((100.0, 10.49, 9.18, "0"),) * 2)
    text = HEADER.format(first="out-of-place", second="in-place", time=" time") + row
    (run,) = parse_nccl_tests(text, "table.txt")
    assert run.op == "all_gather" and run.ranks == 8  # 9.18/10.49 = 7/8
    with pytest.raises(ScenarioError, match="cannot tell which collective"):
        parse_nccl_tests(text.replace("none", " sum"), "table.txt")
    with pytest.raises(ScenarioError, match="no nccl-tests result table"):
        parse_nccl_tests("# nThread 1 nGpus 1\n", "empty.txt")


def _synthetic_run(op: str, ranks: int, regimes: list[tuple[float, Link]], sizes: list[int]) -> NcclTestsRun:
    """Times from the closed forms: the lower envelope of per-protocol α–β lines (as NCCL chooses)."""
    rows = []
    for s in sizes:
        if op == "all_reduce":
            t = min(cf.ring_allreduce_time(s, ranks, link) for _, link in regimes)
        else:
            t = min(cf.reduce_scatter_time(s, ranks, link) for _, link in regimes)
        rows.append(SizeMeasurement(s, t, t))
    return NcclTestsRun(op=op, ranks=ranks, rows=tuple(rows), hosts=("a", "b"))


@pytest.mark.parametrize("op", ["all_reduce", "all_gather", "reduce_scatter"])
def test_fit_recovers_the_protocol_regimes_of_an_envelope(op: str) -> None:
    ll, simple = Link(2e-6, 5e9), Link(20e-6, 40e9)
    run = _synthetic_run(op, 8, [(0, ll), (0, simple)], [2**k for k in range(10, 31)])
    fit = fit_curve([run], "ring")
    assert len(fit.segments) == 2 and fit.max_relative_error < 1e-6
    small, large = fit.segments
    assert small.link.latency_s == pytest.approx(ll.latency_s, rel=1e-6)
    assert small.link.bandwidth == pytest.approx(ll.bandwidth, rel=1e-6)
    assert large.link.latency_s == pytest.approx(simple.latency_s, rel=1e-6)
    assert large.link.bandwidth == pytest.approx(simple.bandwidth, rel=1e-6)
    # the switch point lies where the two lines cross: (α₂−α₁)·a = (1/B₁−1/B₂)·b
    crossing = small.link.latency_s
    assert small.from_bytes == 0 and large.from_bytes > crossing


def test_one_alpha_beta_line_is_kept_when_it_explains_the_curve() -> None:
    run = _synthetic_run("all_reduce", 4, [(0, Link(5e-6, 10e9))], [2**k for k in range(12, 28)])
    fit = fit_curve([run], "ring")
    assert len(fit.segments) == 1
    assert fit.segments[0].link.bandwidth == pytest.approx(10e9, rel=1e-9)


def test_profile_from_gh200_output_reproduces_busbw_within_5_percent_from_1_mib() -> None:
    runs = load_nccl_tests(DATA / "all_reduce_2x1_gh200_nccl-tests-2.18.2.txt")
    profile = profile_from_nccl_tests(runs)
    checks = reproduce_busbw(profile, runs, min_bytes=MIB)
    assert len(checks) == 8
    assert max(abs(c.relative_error) for c in checks) <= 0.05
    assert profile.links["inter"]["ring"] == profile.collectives["inter"]["ring"]["all_reduce"][-1].link


@pytest.mark.parametrize(
    "name", ["all_reduce_2x4_gh200_nccl-tests-2.17.1.txt", "all_reduce_8gpu_nccl-tests-new-format.txt"]
)
def test_reported_fit_error_bounds_the_busbw_error(name: str) -> None:
    runs = load_nccl_tests(DATA / name)
    profile = profile_from_nccl_tests(runs, link_class="intra")
    (key,) = profile.meta["fit_max_relative_error"]
    fit_error = profile.meta["fit_max_relative_error"][key]
    checks = reproduce_busbw(profile, runs, link_class="intra")
    # busbw ∝ 1/t: a time error e is a busbw error of e/(1−e) at most (plus the printed values' rounding)
    worst = max(abs(c.relative_error) for c in checks if c.measured_busbw > 1e9)
    assert worst <= fit_error / (1 - fit_error) + 0.02


def test_profile_with_curves_round_trips(tmp_path: Path) -> None:
    runs = load_nccl_tests(DATA / "all_reduce_2x4_gh200_nccl-tests-2.17.1.txt")
    profile = profile_from_nccl_tests(runs)
    save_profile(profile, tmp_path / "p.yaml")
    again = load_profile(tmp_path / "p.yaml")
    assert again.collectives == profile.collectives and again.links == profile.links
    for size in (4096, MIB, 100 * MIB):
        assert again.collective_time("all_reduce", "inter", "ring", 8, size) == profile.collective_time(
            "all_reduce", "inter", "ring", 8, size
        )


def test_collective_time_picks_the_regime_of_the_size() -> None:
    small, large = Link(1e-6, 1e9), Link(10e-6, 10e9)
    profile = HardwareProfile(collectives={"inter": {"ring": {"all_reduce": (LinkSegment(0, small),
                                                                               LinkSegment(MIB, large))}}})  # fmt: skip
    assert profile.collective_time("all_reduce", "inter", "ring", 4, MIB - 1) == cf.ring_allreduce_time(
        MIB - 1, 4, small
    )
    assert profile.collective_time("all_reduce", "inter", "ring", 4, MIB) == cf.ring_allreduce_time(MIB, 4, large)


def test_cli_from_nccl_tests_writes_a_profile(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    files = [DATA / "all_reduce_2x1_gh200_nccl-tests-2.18.2.txt"]
    command = [sys.executable, "-m", "dpsim.cli", "calibrate", "--from-nccl-tests", *map(str, files)]
    proc = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "busbw" in proc.stdout and load_profile(out).links["inter"]["ring"].bandwidth > 0
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing here\n")
    proc = subprocess.run([sys.executable, "-m", "dpsim.cli", "calibrate", "--from-nccl-tests", str(bad), "--out",
                           str(out)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


REACH_1_MIB = (
    "all_reduce_2x1_gh200_nccl-tests-2.18.2.txt",
    "all_reduce_2x4_gh200_nccl-tests-2.17.1.txt",
    "all_reduce_8gpu_nccl-tests-new-format.txt",
)
"""The committed outputs that measure sizes of 1 MiB and more."""


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize("name", REACH_1_MIB)
def test_profile_reproduces_its_output_through_the_engines_at_every_size_from_1_mib(
    name: str, engine: str, tmp_path: Path
) -> None:
    runs = load_nccl_tests(DATA / name)
    profile = profile_from_nccl_tests(runs, link_class="intra")
    save_profile(profile, tmp_path / "p.yaml")
    checks = engine_busbw(tmp_path / "p.yaml", runs, engine, link_class="intra", min_bytes=MIB)
    assert len(checks) == sum(1 for r in runs[0].rows if r.size_bytes >= MIB)
    assert max(abs(c.relative_error) for c in checks) <= 0.05
    # the engines price each size as the profile's own closed form does (one model of the regimes)
    closed = reproduce_busbw(profile, runs, link_class="intra", min_bytes=MIB)
    for c, ref in zip(checks, closed, strict=True):
        assert c.predicted_busbw == pytest.approx(ref.predicted_busbw, rel=1e-6)


def test_fitted_link_is_a_node_boundary_shared_by_the_rails(tmp_path: Path) -> None:
    runs = load_nccl_tests(DATA / "all_reduce_2x4_gh200_nccl-tests-2.17.1.txt")
    save_profile(profile_from_nccl_tests(runs), tmp_path / "p.yaml")
    one_nic = engine_busbw(tmp_path / "p.yaml", runs, "analytic", nics_per_node=1, min_bytes=MIB)
    four_nics = engine_busbw(tmp_path / "p.yaml", runs, "analytic", nics_per_node=4, min_bytes=MIB)
    eight_nics = engine_busbw(tmp_path / "p.yaml", runs, "analytic", nics_per_node=8, min_bytes=MIB)
    # NCCL's rail-aligned channels split what crosses a node boundary over the NICs they use: same busbw
    for many in (four_nics, eight_nics):
        assert [c.predicted_busbw for c in one_nic] == pytest.approx([c.predicted_busbw for c in many], rel=1e-9)


def _two_regime_scenario(path: Path, small: Link, large: Link, boundary: float) -> Any:
    """4 ranks on one node whose profile has two all-reduce regimes, split at ``boundary`` bytes."""
    profile = HardwareProfile(
        collectives={"intra": {"ring": {"all_reduce": (LinkSegment(0, small), LinkSegment(boundary, large))}}}
    )
    save_profile(profile, path)
    run = NcclTestsRun(op="all_reduce", ranks=4, rows=(), hosts=("h",) * 4)
    return run_scenario(run, path)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_engines_price_each_size_on_the_regime_that_holds_it(engine: str, tmp_path: Path) -> None:
    small, large = Link(2e-6, 5e9), Link(20e-6, 40e9)
    scenario = _two_regime_scenario(tmp_path / "two.yaml", small, large, MIB)
    sizes = [64 * 1024, MIB - 1, MIB, 64 * MIB]
    rows = collective_rows(scenario, "allreduce", sizes, engine)
    expected = [cf.ring_allreduce_time(s, 4, small if s < MIB else large) for s in sizes]
    assert [r["time_s"] for r in rows] == pytest.approx(expected, rel=1e-9)


def test_training_step_buckets_use_their_own_regime(tmp_path: Path) -> None:
    """DDP's small first bucket and the 25 MiB ones are priced on different regimes, in both engines.

    GPT-2 small (bf16) in DDP's buckets: the first is the final LayerNorm + the last layer's MLP
    projection (768 × 3072 × 2 B ≈ 4.5 MiB), the others ≥ 25 MiB; the regimes split at 8 MiB.
    """
    from dpsim import api

    small, large = Link(2e-6, 5e9), Link(20e-6, 40e9)
    scenario = _two_regime_scenario(tmp_path / "fast.yaml", small, large, 8 * MIB)
    slow_small = _two_regime_scenario(tmp_path / "slow.yaml", Link(2e-6, 0.5e9), large, 8 * MIB)
    results = {e: (api.run(scenario, engine=e), api.run(slow_small, engine=e)) for e in ("analytic", "sim")}
    for fast, slow in results.values():
        assert slow.comm_s > fast.comm_s  # only the small regime changed: the small buckets saw it
    assert results["analytic"][0].comm_s == pytest.approx(results["sim"][0].comm_s, rel=1e-6)
    assert results["analytic"][1].comm_s == pytest.approx(results["sim"][1].comm_s, rel=1e-6)


@pytest.mark.parametrize(
    ("row_size", "row_time", "expected"),
    [("1" + "0" * 400, "18.66", r"past 1e\+21 bytes"), ("1" + "0" * 5000, "18.66", r"past 1e\+21 bytes"),
     ("32768", "1e308", "more than 300 years"), ("32768", "nan", "time of nan us"), ("32768", "-nan", "time of nan us"),
     ("32768", "inf", "time of inf"), ("32768", "-3.5", "time of -3.5 us"), ("32768", "0.00", "time of 0 us")],
)  # fmt: skip
def test_a_row_out_of_range_is_a_one_line_error(row_size: str, row_time: str, expected: str, tmp_path: Path) -> None:
    """A size past 1 ZB (10^400 overflowed a float in the fit) or a time past 300 years names the file and the row."""
    lines = (DATA / "all_reduce_8gpu_nccl-tests-new-format.txt").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    tokens = lines[first].split()
    tokens[0], tokens[5] = row_size, row_time
    lines[first] = "  ".join(tokens)
    damaged = tmp_path / "all_reduce_perf.txt"
    damaged.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError, match=expected) as info:
        load_nccl_tests(damaged)
    assert info.value.source == str(damaged) and len(info.value.one_line()) <= 400
    assert f"line {first + 1}: " in info.value.one_line()  # the row is named by its line (it used to be dropped)


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "all_reduce_perf.fifo"
    os.mkfifo(fifo)  # opening it would block forever
    for path in (fifo, tmp_path, Path("/dev/zero")):
        with pytest.raises(ScenarioError, match="regular file"):
            load_nccl_tests(path)
