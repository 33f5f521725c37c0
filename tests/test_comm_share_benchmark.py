"""benchmarks/comm_share.py: each point is predicted with its own algorithm's link and traffic; bad input exits 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _bench import load_benchmark

from dpsim.calibration import load_profile

MODULE = load_benchmark("comm_share")
PROFILE = Path(__file__).parent.parent / "benchmarks/results/validation-2026-12-04-night/profile-refit.yaml"


def test_a_ring_point_is_priced_as_a_ring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    size, n, rate, measured = 9449472, 4, 62.5e6, 0.5
    record = {"collective": "all_reduce", "algorithm": "ring", "ranks": n, "size_bytes": size,
              "time_s": measured, "cpu_s": 0.1, "host_busy_s": 0.5, "rate_bytes_per_s": rate,
              "host_load": {"other_cores": 0.12}}  # fmt: skip
    (tmp_path / "comm-share.json").write_text(json.dumps([record]), encoding="utf-8")
    link = load_profile(PROFILE).link("inter", "ring", rate, n)
    assert link is not None
    # ring all-reduce by hand: 2(n - 1) steps, each rank sends 2(n - 1)/n of the buffer
    predicted = 2 * (n - 1) * link.latency_s + 2 * (n - 1) / n * size / link.bandwidth
    argv = ["comm_share.py", "--reuse", str(tmp_path), "--profile", str(PROFILE)]
    monkeypatch.setattr(sys, "argv", argv)
    assert MODULE.main() == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[1] == "ring" and row[8] == "0.12"
    assert row[9] == f"{100 * (predicted - measured) / measured:+.1f}%"


def test_an_unknown_algorithm_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["comm_share.py", "--algorithms", "backend,rign"])
    assert MODULE.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --algorithms: 'rign'") and err.count("\n") == 1


def test_the_implied_kappa_inverts_the_links_own_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A time made by the link's form with κ' (one pair's host work per byte) reads back κ'; a wire-paced one, '-'."""
    from dpsim.calibration import LinkModel, closed_form_coefficients

    profile = load_profile(PROFILE)
    link, host = profile.links["inter"]["backend"], profile.host_model
    assert isinstance(link, LinkModel) and link.sharpness is not None and link.efficiency is not None
    assert host is not None
    size, n, rate, kappa = 16 * 2**20, 6, 62.5e6, 13.5e-9
    steps, sent = closed_form_coefficients("backend", n, size)
    s, p, wire = host.comm_share(n), link.sharpness, 1 / (link.efficiency * rate)
    per_byte = (wire**p + (kappa * s) ** p) ** (1 / p) + link.cpu_per_byte_s  # the form, by hand
    host_bound = steps * link.latency_s * s + sent * per_byte
    wire_paced = 0.99 * sent * wire  # faster than the wire alone would let it: nothing for the host to explain
    records = [{"collective": "all_reduce", "algorithm": "backend", "ranks": n, "size_bytes": size, "time_s": t,
                "cpu_s": 0.1, "host_busy_s": 0.5, "rate_bytes_per_s": rate}
               for t in (host_bound, wire_paced)]  # fmt: skip
    (tmp_path / "comm-share.json").write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["comm_share.py", "--reuse", str(tmp_path), "--profile", str(PROFILE)])
    assert MODULE.main() == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:3]]
    assert rows[0][-2] == f"{1e9 * link.host_per_byte_at(rate):.2f}"  # the profile's κ(R) beside it
    assert rows[0][-1] == "13.50" and rows[1][-1] == "-"
    assert MODULE.implied_kappa(link, s, rate, steps, sent, host_bound) == pytest.approx(kappa, rel=1e-9)
