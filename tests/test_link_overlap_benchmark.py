"""benchmarks/link_overlap.py: medians and spread over passes, wire and busy time per point; bad input exits 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _bench import load_benchmark

MODULE = load_benchmark("link_overlap")


def test_a_point_is_the_median_over_passes_with_its_spread_wire_and_busy_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # gloo's own all-reduce of 16 MiB on 4 ranks at 500 Mbit/s (62.5 MB/s), three passes
    size, n, rate = 16 * 2**20, 4, 62.5e6
    records = [{"collective": "all_reduce", "algorithm": "backend", "ranks": n, "size_bytes": size, "time_s": t,
                "cpu_s": 0.1, "host_busy_s": busy, "rate_bytes_per_s": rate, "cc": "bbr", "pass": k,
                "host_load": {"other_cores": other}}
               for k, (t, busy, other) in enumerate([(0.9, 1.7, 0.05), (1.0, 1.9, 0.2), (0.8, 1.5, 0.1)])]  # fmt: skip
    (tmp_path / "link-overlap.json").write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["link_overlap.py", "--reuse", str(tmp_path)])
    assert MODULE.main() == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    sent = 2 * (n - 1) / n * size  # a rank sends 2(n - 1)/n of the buffer
    assert row[:5] == ["bbr", "backend", "500", "4", "16"]
    assert row[5] == "900.0" and row[6] == "22.2%"  # median 0.9 s; (1.0 - 0.8)/0.9
    assert row[7] == f"{1e3 * sent / (1448 / 1514 * rate):.1f}"  # wire at tbf's frame share: 420.9 ms
    assert row[11] == "0.20"  # the largest other load of the point's passes
    assert row[-1] == f"{1e9 * 1.7 / (n * sent):.2f}"  # median busy per byte and rank: 16.89 ns


def test_a_calibrations_own_points_are_its_inter_node_all_reduces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # calibration-bench.json as the calibration writes it: inter- and intra-node records, every collective
    size, rate = 8 * 2**20, 56.25e6
    base = {"algorithm": "ring", "ranks": 3, "size_bytes": size, "time_s": 0.35, "cpu_s": 0.1, "host_busy_s": 0.64}
    records = [{**base, "collective": "all_reduce", "link_class": "inter", "rate_bytes_per_s": rate},
               {**base, "collective": "all_reduce", "link_class": "intra", "time_s": 0.02},
               {**base, "collective": "broadcast", "link_class": "inter", "rate_bytes_per_s": rate}]  # fmt: skip
    bench = tmp_path / "calibration-bench.json"
    bench.write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["link_overlap.py", "--calibration", str(bench)])
    assert MODULE.main() == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 1  # only the inter-node all-reduce
    row = rows[0].split()
    sent = 2 * (3 - 1) / 3 * size
    assert row[:6] == ["-", "ring", "450", "3", "8", "350.0"]
    assert row[-1] == f"{1e9 * 0.64 / (3 * sent):.2f}"  # busy per byte and rank: 19.07 ns


def test_a_calibration_file_that_is_not_a_list_of_records_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = tmp_path / "profile.yaml"
    bench.write_text(json.dumps({"name": "testbed"}), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["link_overlap.py", "--calibration", str(bench)])
    assert MODULE.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --calibration: ") and "a list" in err and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--algorithm", "rign"], "error: --algorithm: 'rign'"),
    (["--passes", "0"], "error: argument --passes: expected a whole number from 1 to 1,000, got '0'"),
    (["--reps", "1_0"], "error: argument --reps: expected a whole number from 1 to 1,000, got '1_0'"),
])  # fmt: skip
def test_bad_input_is_refused_with_one_line(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["link_overlap.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(MODULE.main())
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
