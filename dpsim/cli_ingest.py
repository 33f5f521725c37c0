"""``dpsim calibrate --from-nccl-tests FILE…`` / ``--from-trace TRACE.json``: profiles from existing measurements.

Torch-free (the files are text and JSON), so these run where the simulator is installed.
Called by :func:`dpsim.cli_runtime.calibrate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import typer

from dpsim.calibration import HardwareProfile, load_profile, save_profile
from dpsim.cli_common import atomic_output, check_choice, check_writable, fail, refuse_same_files
from dpsim.errors import ScenarioError
from dpsim.ingest.nccl_tests import BusbwCheck
from dpsim.units import format_size

__all__ = ["calibrate_from_files", "print_busbw_table"]


def calibrate_from_files(
    scenario: Path | None,
    out: Path,
    nccl_tests: Sequence[Path],
    trace: Path | None,
    base: Path | None,
    link_class: str,
    nccl_algo: str | None,
    overrides: Sequence[str],
) -> None:
    """Fit a profile from nccl-tests output and/or a profiler trace (on top of ``base``) and write it to ``out``."""
    check_choice("--link-class", link_class, ("inter", "intra"))
    files = list(nccl_tests)
    if scenario is not None and files and scenario.suffix.lower() not in (".yaml", ".yml"):
        files.insert(0, scenario)  # `--from-nccl-tests a.txt b.txt`: the second file lands in the scenario slot
        scenario = None
    if nccl_algo is not None:
        check_choice("--nccl-algo", nccl_algo, ("ring", "tree"))
    for option, path in [*(("--from-nccl-tests", f) for f in files), ("--from-trace", trace), ("--base", base)]:
        if path is not None and not path.is_file():
            what = "not a regular file (a folder, FIFO or device)" if path.exists() else "no such file"
            raise fail(option, f"{what}: {str(path)!r}")
    refuse_same_files("--from-nccl-tests", files, "each table is fitted once")
    check_writable(out, "--out", (".yaml", ".yml"), [*files, trace, scenario])  # --base may be --out: updated
    profile = load_profile(base) if base is not None else HardwareProfile(name="profile")
    if files and profile.backend not in ("", "nccl"):  # round 26: a gloo testbed's profile took NCCL's link fits
        raise fail("--base", f"{str(base)!r} was measured with {profile.backend} (backend: {profile.backend}), and "
                             "nccl-tests time NCCL: fit them into a profile of their own (leave --base out), or add "
                             "them to a base measured with NCCL")  # fmt: skip
    if files:
        fitted = _from_nccl_tests(files, link_class, nccl_algo)
        profile = dataclasses.replace(
            profile,
            backend=profile.backend or fitted.backend,
            links={**profile.links, **{c: {**profile.links.get(c, {}), **a} for c, a in fitted.links.items()}},
            collectives={**profile.collectives, **fitted.collectives},
            calibrated_on=(*profile.calibrated_on, *fitted.calibrated_on),
            meta={**profile.meta, "nccl_tests": dict(fitted.meta)},
        )
    if trace is not None:
        profile = _add_trace(profile, trace, scenario, overrides)
    with atomic_output(out, "--out") as tmp:
        save_profile(profile, tmp)
        try:  # the profile reloads (self-check) before it replaces anything
            load_profile(tmp)
        except ScenarioError as exc:
            why = ": the trace has more layers or gradients than a profile holds" if trace is not None else ""
            raise fail("--out", f"the profile would not load back ({exc.message}){why}") from None
    typer.echo(f"wrote {out}")


def _add_trace(
    profile: HardwareProfile, trace: Path, scenario: Path | None, overrides: Sequence[str]
) -> HardwareProfile:
    """The trace's gradient-ready curve and per-layer times; its compute when the profile has none."""
    from dpsim.calibration import LinearTime
    from dpsim.ingest.kineto import load_trace, ready_curve

    step = load_trace(trace)
    curve = ready_curve(step.gradients, step.backward_s)
    if not curve:
        raise fail("--from-trace", f"{str(trace)!r}: no parameter gradients (AccumulateGrad events) in the backward")
    typer.echo(f"{trace}: {len(step.layers)} layers, forward {step.forward_s * 1e3:.2f} ms, backward "
               f"{step.backward_s * 1e3:.2f} ms, {len(step.gradients)} gradients, {len(step.buckets)} buckets, "
               f"communication {step.comm_s * 1e3:.2f} ms of which exposed {step.exposed_comm_s * 1e3:.2f} ms "
               f"(overlap {100 * step.overlap:.0f} %)")  # fmt: skip
    for layer in step.layers:
        typer.echo(f"  {layer.name:<32} forward {layer.forward_s * 1e3:8.3f} ms  backward "
                   f"{layer.backward_s * 1e3:8.3f} ms  gradients {format_size(layer.gradient_bytes)}")  # fmt: skip
    meta = {
        **profile.meta,
        "trace": {
            "source": str(trace),
            "gpu": step.gpu,
            "layers": [dataclasses.asdict(layer) for layer in step.layers],
            "forward_s": step.forward_s,
            "backward_s": step.backward_s,
            "comm_s": step.comm_s,
            "exposed_comm_s": step.exposed_comm_s,
            "overlap": step.overlap,
            "optimizer_s": step.optimizer_s,
            "step_s": step.step_s,
            "buckets": [dataclasses.asdict(b) for b in step.buckets],
        },
    }
    out = dataclasses.replace(profile, gradient_ready=curve, meta=meta,
                              calibrated_on=(*profile.calibrated_on, f"trace: {trace}"))  # fmt: skip
    if not out.has_compute:
        if scenario is None:
            typer.echo("note: no scenario given, so the trace's compute is not turned into per-sample times", err=True)
            return out
        from dpsim.scenario import load_scenario

        mb = load_scenario(scenario, list(overrides)).training.micro_batch
        out = dataclasses.replace(out, forward=LinearTime(0.0, step.forward_s / mb),
                                  backward=LinearTime(0.0, step.backward_s / mb))  # fmt: skip
    return out


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
