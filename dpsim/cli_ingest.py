"""``dpsim calibrate --from-nccl-tests FILE…`` / ``--from-trace TRACE.json``: profiles from existing measurements.

Torch-free (the files are text and JSON), so these run where the simulator is installed.
Called by :func:`dpsim.cli_runtime.calibrate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from dpsim.calibration import HardwareProfile, load_profile, save_profile
from dpsim.cli_common import atomic_output, check_choice, fail
from dpsim.ingest.nccl_tests import BusbwCheck
from dpsim.units import format_size

__all__ = ["calibrate_from_files", "print_busbw_table"]


def calibrate_from_files(
    scenario: Path | None,
    out: Path,
    nccl_tests: Sequence[Path],
    link_class: str,
    nccl_algo: str | None,
) -> None:
    """Fit a profile from nccl-tests output and write it to ``out``."""
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise fail("--out", f"{str(out)!r}: expected a file ending in .yaml or .yml")
    check_choice("--link-class", link_class, ("inter", "intra"))
    files = list(nccl_tests)
    if scenario is not None and files and scenario.suffix.lower() not in (".yaml", ".yml"):
        files.insert(0, scenario)  # `--from-nccl-tests a.txt b.txt`: the second file lands in the scenario slot
        scenario = None
    if nccl_algo is not None:
        check_choice("--nccl-algo", nccl_algo, ("ring", "tree"))
    for f in files:
        if not f.is_file():
            raise fail("--from-nccl-tests", f"no such file: {str(f)!r}")
    if scenario is not None:
        raise fail("scenario", "--from-nccl-tests fits link curves only: give no scenario")
    profile = _from_nccl_tests(files, link_class, nccl_algo)
    with atomic_output(out, "--out") as tmp:
        save_profile(profile, tmp)
    load_profile(out)  # the written profile reloads (self-check)
    typer.echo(f"wrote {out}")


def _from_nccl_tests(files: Sequence[Path], link_class: str, nccl_algo: str | None) -> HardwareProfile:
    from dpsim.ingest.nccl_tests import load_nccl_tests, profile_from_nccl_tests, reproduce_busbw

    runs = [run for f in files for run in load_nccl_tests(f)]
    profile = profile_from_nccl_tests(runs, name="nccl-tests", link_class=link_class, algorithm=nccl_algo)
    for run in runs:
        versions = ", ".join(v for v in (run.nccl_version and f"NCCL {run.nccl_version}",
                                         run.tests_version and f"nccl-tests {run.tests_version}") if v)  # fmt: skip
        where = run.link_class or f"{link_class} (assumed)"
        typer.echo(f"{run.source}: {run.op}, {run.ranks} ranks, {where}, {len(run.rows)} sizes"
                   + (f", {versions}" if versions else ""))  # fmt: skip
    for cls, algs in profile.collectives.items():
        for alg, ops in algs.items():
            for op, segments in ops.items():
                for seg in segments:
                    link = seg.link
                    typer.echo(
                        f"fit {cls}/{alg}/{op} from {format_size(seg.from_bytes)}: latency "
                        f"{link.latency_s * 1e6:.2f} us, bandwidth {link.bandwidth / 1e9:.2f} GB/s"
                    )
    print_busbw_table(reproduce_busbw(profile, runs, link_class=link_class, algorithm=nccl_algo))
    return profile


def print_busbw_table(checks: Sequence[BusbwCheck]) -> None:
    """Measured vs reproduced bus bandwidth per size (nccl-tests GB/s)."""
    typer.echo(f"{'file':<44}{'collective':<16}{'ranks':>6}{'size':>14}{'busbw GB/s':>12}{'profile':>10}{'error':>9}")
    for c in checks:
        typer.echo(
            f"{Path(c.source).name[-43:]:<44}{c.op:<16}{c.ranks:>6}{c.size_bytes:>14}"
            f"{c.measured_busbw / 1e9:>12.2f}{c.predicted_busbw / 1e9:>10.2f}{100 * c.relative_error:>8.1f}%"
        )
