"""``dpsim calibrate`` and ``dpsim validate``: the commands that run the PyTorch runtime.

Registered on the main app by :mod:`dpsim.cli`. ``runtime`` (and so torch) is imported only
when one of these commands runs, so ``dpsim`` itself stays torch-free.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dpsim.cli_common import (
    TcpCcOpt,
    atomic_output,
    check_choice,
    check_writable,
    fail,
    handle_errors,
    parse_vary,
    refuse_repeats,
)
from dpsim.errors import ScenarioError
from dpsim.execution import max_local_workers
from dpsim.inputs import brief
from dpsim.outputs import refuse_link
from dpsim.units import UnitError, parse_size, working_dtype

if TYPE_CHECKING:
    from dpsim.calibration import HardwareProfile

__all__ = ["register"]

TESTBEDS = ("local", "emulated")
ALGORITHMS = ("ring", "tree", "halving-doubling", "hierarchical", "backend")


def _require_runtime() -> None:
    if importlib.util.find_spec("torch") is None:
        raise fail("runtime", "these commands need PyTorch: pip install 'dpsim[runtime]' (torch==2.13.0 CPU build)")


MAX_REPS = 1000
"""Most timed repetitions per size (``--reps``; 5 by default, at most 15 while a median is uncertain)."""
MAX_STEPS = 100_000
"""Most measured (and warm-up) steps a validated configuration runs (``--steps``, ``--warmup-steps``)."""
MAX_REPEATS = 1000
"""Most runs of each validated configuration (``--repeats``)."""
MAX_RUNS = 1000
"""Most runs of the runtime one ``dpsim validate`` starts, cases × ``--repeats`` (round 37: each option was bounded
alone, so 18 cases × 1,000 repeats, each run starting its ranks, was accepted)."""
MAX_VALIDATION_STEPS = 2 * MAX_STEPS
"""Most steps one ``dpsim validate`` runs, cases × ``--repeats`` × (``--steps`` + ``--warmup-steps``): one
configuration at both options' ends still runs (round 37: ``--repeats 1000 --steps 100000`` was accepted, 10^8
steps)."""


def _entries(option: str, text: str) -> list[str]:
    """The comma-separated entries of an option: an empty one (``2,,3``, ``2,3,``) is an error."""
    entries = [v.strip() for v in text.split(",")]
    if any(entries) and not all(entries):
        raise fail(option, f"empty entry in {brief(text)}")
    return [e for e in entries if e]


def _int_list(option: str, text: str, minimum: int = 1, maximum: int | None = None) -> list[int]:
    entries = _entries(option, text)
    if not all(re.fullmatch(r"[+-]?[0-9]{1,12}", v) for v in entries):  # ASCII: int() reads "\u0662" as 2
        raise fail(option, f"expected comma-separated integers, got {brief(text)}")
    values = [int(v) for v in entries]
    if not values or min(values) < minimum:
        raise fail(option, f"expected integers >= {minimum}, got {brief(text)}")
    if maximum is not None and max(values) > maximum:
        raise fail(option, f"expected at most {maximum:,} (local processes: 4 per CPU core here), got {max(values):,}")
    refuse_repeats(option, values, entries, "each is measured once")
    return values


def _local_ranks() -> int | None:
    """Most ranks the local testbeds start (processes on this machine); None under torchrun (its ranks)."""
    return None if _under_torchrun() else max_local_workers()


TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
"""What torchrun sets in each rank's environment (``runtime.torchrun.torchrun_ranks`` reads them)."""


def _under_torchrun() -> bool:
    """Whether torchrun started this process (``RANK`` and ``WORLD_SIZE`` set), its variables checked first.

    Each must be a whole number (``RANK=nan`` was an ``int()`` traceback inside the runtime), ``RANK <
    WORLD_SIZE`` at most the largest world a scenario takes, ``LOCAL_RANK < LOCAL_WORLD_SIZE <= WORLD_SIZE``;
    one of ``RANK``/``WORLD_SIZE`` without the other is not torchrun's doing either, nor a rank without the
    rendezvous address (``MASTER_ADDR``, ``MASTER_PORT``: torch's ``env://`` raised a traceback at the join).
    """
    from dpsim.scenario import MAX_WORLD

    env = {name: os.environ[name] for name in TORCHRUN_VARIABLES if name in os.environ}
    if not env:
        return False
    values: dict[str, int] = {}
    for name, text in env.items():
        if not (text.isascii() and text.isdigit() and len(text) <= 7):
            raise fail(name, f"expected a whole number >= 0 as torchrun sets it, got {brief(text)}", "<environment>")
        values[name] = int(text)
    if ("RANK" in values) != ("WORLD_SIZE" in values):
        given, missing = ("RANK", "WORLD_SIZE") if "RANK" in values else ("WORLD_SIZE", "RANK")
        raise fail(missing, f"not set, but {given} is: torchrun sets both (unset {given} to run locally)",
                   "<environment>")  # fmt: skip
    world = values.get("WORLD_SIZE", 0)
    if "WORLD_SIZE" in values and not 1 <= world <= MAX_WORLD:
        raise fail("WORLD_SIZE", f"expected 1 .. {MAX_WORLD:,} ranks, got {world:,}", "<environment>")
    if "RANK" in values and values["RANK"] >= world:
        raise fail("RANK", f"expected a rank below WORLD_SIZE={world:,}, got {values['RANK']:,}", "<environment>")
    local_world = values.get("LOCAL_WORLD_SIZE", world)
    if "LOCAL_WORLD_SIZE" in values and not 1 <= local_world <= max(world, 1):
        raise fail("LOCAL_WORLD_SIZE", f"expected 1 .. WORLD_SIZE={world:,}, got {local_world:,}", "<environment>")
    if values.get("LOCAL_RANK", 0) >= max(local_world, 1):
        raise fail("LOCAL_RANK", f"expected a rank below LOCAL_WORLD_SIZE={local_world:,}, got "
                   f"{values['LOCAL_RANK']:,}", "<environment>")  # fmt: skip
    if "RANK" in values:  # the group joins by torch's env:// rendezvous, which reads these two (int() of the port)
        address, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
        if not address.strip():
            raise fail("MASTER_ADDR", "not set, but RANK is: torchrun sets the rendezvous host (unset RANK to run "
                       "locally)", "<environment>")  # fmt: skip
        if not (port.isascii() and port.isdigit() and len(port) <= 10 and 1 <= int(port) <= 65535):
            raise fail("MASTER_PORT", f"expected a TCP port 1 .. 65535 as torchrun sets it, got {brief(port)}",
                       "<environment>")  # fmt: skip
    return "RANK" in values


def _cuda_devices() -> int:
    """The CUDA devices of this machine, for ``--device cuda``; refused (``--device``) where there is none."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise fail("--device", "cuda: this machine has no CUDA device (torch.cuda.is_available() is False)")
    return count


def refuse_cuda_outside_torchrun(device: str) -> None:
    """``--device`` other than cpu where torchrun did not start the ranks (``dpsim calibrate``, ``dpsim validate``,
    ``python -m runtime``): the local and emulated testbeds start CPU processes."""
    if device != "cpu":
        raise fail("--device", f"got {brief(device)}: the local and emulated testbeds use CPUs (cuda runs under "
                   "torchrun, one process per GPU)")  # fmt: skip


def check_nccl_options(device: str, pin: bool, debug: bool, backend: str = "") -> None:
    """``--nccl-pin`` / ``--nccl-debug`` (``dpsim validate``, ``python -m runtime``): NCCL reads them only where the
    ranks run NCCL, on GPUs (``--device cuda``) and not under ``--backend gloo``; each was refused in one command
    and, with other words, in the other (``--nccl-debug`` on CPU ranks was once ignored without a word)."""
    for option, given in (("--nccl-pin", pin), ("--nccl-debug", debug)):
        if given and device != "cuda":
            raise fail(option, "NCCL runs on GPUs: add --device cuda (under torchrun)")
        if given and backend == "gloo":
            raise fail(option, "the ranks run gloo (--backend gloo), which reads no NCCL setting")


def _check_cuda_rank() -> None:
    """Under torchrun with ``--device cuda``: a CUDA device for this rank's ``LOCAL_RANK``, before the group is joined.

    Each rank uses GPU ``LOCAL_RANK`` (``torch.cuda.set_device``): on a machine without CUDA, or with fewer devices
    than ranks a node, a rank failed there or in NCCL's setup (a traceback), and its peers waited for it until the
    timeout."""
    count = _cuda_devices()
    local = int(os.environ.get("LOCAL_RANK", "0"))  # a whole number: _under_torchrun checked it
    if local >= count:
        raise fail("LOCAL_RANK", f"{local:,}: this machine has {count:,} CUDA device(s) and each rank uses GPU "
                   "LOCAL_RANK: start at most that many ranks a node (torchrun --nproc-per-node)",
                   "<environment>")  # fmt: skip


def _memory_bound(option: str, needed: float, what: str) -> None:
    """Refuse what would hold more than half of this machine's memory (it would swap, or be killed)."""
    try:
        total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return
    if needed > total / 2:
        raise fail(option, f"{what} would hold about {needed / 2**30:,.4g} GiB, more than half of this machine's "
                   f"{total / 2**30:,.4g} GiB")  # fmt: skip


def _quantity_list(option: str, text: str, parse: Callable[[str], float], what: str) -> list[float]:
    """A comma-separated list of quantities (``8KiB,1MiB``; ``100Mbit/s,1Gbit/s``), each > 0 and listed once
    (one line naming ``option`` else); ``what``: the kind and its unit, as the error says them."""
    entries = _entries(option, text)
    try:
        values = [parse(v) for v in entries]
    except UnitError as exc:
        raise fail(option, str(exc)) from None
    if not values or min(values) <= 0:
        raise fail(option, f"expected {what}, got {brief(text)}")
    refuse_repeats(option, values, entries, "each is measured once")
    return values


def _size_list(option: str, text: str) -> list[int]:
    return [int(v) for v in _quantity_list(option, text, lambda v: int(parse_size(v)), "sizes > 0 B")]


def _rate_list(option: str, text: str) -> list[float]:
    from dpsim.units import parse_bandwidth

    return _quantity_list(option, text, parse_bandwidth, "rates > 0 bit/s")


def _name_list(option: str, text: str, choices: tuple[str, ...]) -> list[str]:
    names = _entries(option, text)
    for name in names:
        check_choice(option, name, choices)
    if not names:
        raise fail(option, f"expected one or more of {', '.join(choices)}")
    refuse_repeats(option, names, names, "each is measured once")
    return names


def _testbed_check(testbed: str, tcp_cc: str | None = None) -> None:
    """The testbed is one this machine can run; ``tcp_cc`` (emulated: the nodes' TCP congestion control) is one the
    kernel has (the command passes it to each cluster it makes: ``CalibrationPlan.tcp_cc``, ``validate(tcp_cc=)``;
    not through ``DPSIM_TCP_CC``, which would outlive the command in this process); the variables the emulated
    testbed reads hold what it can use (one line naming the variable, not a traceback from its first cluster)."""
    check_choice("--testbed", testbed, TESTBEDS)
    if testbed == "emulated":
        from runtime.testbed.emulated import (
            BadEnvironment,
            RootRequired,
            check_environment,
            congestion_controls,
            require_root,
        )

        try:
            require_root()
        except RootRequired as exc:
            raise fail("--testbed", str(exc)) from None
        if tcp_cc is not None:
            check_choice("--tcp-cc", tcp_cc, tuple(congestion_controls()))
        try:
            check_environment(tcp_cc or "")
        except BadEnvironment as exc:
            raise fail(exc.variable, exc.reason, "<environment>") from None


def _runtime_errors(exc: Exception) -> None:
    from runtime.launch import RankFailure

    if isinstance(exc, RankFailure):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    raise exc


def calibrate(
    ctx: typer.Context,
    scenario: Annotated[
        Path | None, typer.Argument(help="scenario YAML whose model and inter-node rate to calibrate")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="hardware profile YAML to write (--compute: a cluster.device block)")
    ] = Path("profile.yaml"),
    overrides: Annotated[list[str] | None, typer.Option("--set", help="override PATH=VALUE")] = None,
    testbed: Annotated[str, typer.Option(help="local (loopback) or emulated (namespaces + tc; root)")] = "local",
    ranks: Annotated[str, typer.Option(help="rank counts to benchmark (at least 3 by default)")] = "2,3,4",
    sizes: Annotated[
        str, typer.Option(help="all-reduce sizes: small ones fix latency, large ones bandwidth")
    ] = "8KiB,64KiB,2MiB,8MiB",
    algorithms: Annotated[str, typer.Option(help="all-reduce algorithms")] = "ring,tree,halving-doubling,backend",
    link_class: Annotated[
        str, typer.Option(help="inter (one rank per node), intra (one node), or inter,intra")
    ] = "inter,intra",
    rates: Annotated[
        str, typer.Option(help="emulated testbed: shaped inter-node rates to calibrate at (η, and κ per rate)")
    ] = "150Mbit/s,450Mbit/s,1200Mbit/s",
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="timed repetitions per size")] = 5,
    max_residual: Annotated[
        float, typer.Option(help="largest accepted relative fit residual (0.05 = 5 %); above it: exit 2")
    ] = 0.05,
    tcp_cc: TcpCcOpt = None,
    records: Annotated[Path | None, typer.Option(help="also write the raw benchmark records (JSON)")] = None,
    from_nccl_tests: Annotated[
        list[Path] | None,
        typer.Option("--from-nccl-tests", help="nccl-tests output file(s) to fit instead of measuring (repeatable)"),
    ] = None,
    nccl_algo: Annotated[
        str | None,
        typer.Option(help="with --from-nccl-tests: algorithm NCCL ran (default: NCCL_ALGO in the file, else ring)"),
    ] = None,
    from_trace: Annotated[
        Path | None, typer.Option("--from-trace", help="PyTorch profiler (Kineto) trace of one training step")
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            help="under torchrun: cpu (gloo) or cuda (NCCL, one GPU per rank); --compute: where the GEMMs run "
            "(default: CUDA where there is one)"
        ),
    ] = "cpu",
    base: Annotated[
        Path | None, typer.Option(help="with --from-nccl-tests/--from-trace: add to this profile, not an empty one")
    ] = None,
    compute: Annotated[
        bool, typer.Option("--compute", help="GEMM sweep with torch.matmul: fit the device's GEMM curve")
    ] = False,
    gemm_sizes: Annotated[str, typer.Option(help="--compute: GEMM sizes (s x s x s and 4s x s x s)")] = (
        "256,512,1024,2048"
    ),
    dtype: Annotated[
        str | None, typer.Option(help="--compute: bf16, fp16 or fp32 (default: the scenario's training dtype)")
    ] = None,
    refresh: Annotated[
        Path | None,
        typer.Option(help="a profile dpsim calibrate wrote: time its drifting parts again here, keep its links"),
    ] = None,
    refresh_parts: Annotated[
        str, typer.Option(help="--refresh: what to time again, of compute, optimizer, host")
    ] = "compute,optimizer",
) -> None:
    """Measure a hardware profile: fitted α–β per algorithm, compute per micro-batch, optimizer, reduction.

    --compute instead times GEMMs and writes the device's GEMM curve (a cluster.device block to merge into a
    scenario); --from-nccl-tests / --from-trace fit files and measure nothing; --refresh PROFILE times the base
    profile's compute curve and optimizer (and, asked, the host sweep) again with its own settings and keeps the rest.
    """
    if refresh is not None or _given(ctx, "refresh_parts"):
        _calibrate_refresh(ctx, scenario, out, overrides or [], refresh, refresh_parts, max_residual)
        return
    if records is not None and (from_nccl_tests or from_trace is not None):
        raise fail("--records", "raw records come from measuring; --from-nccl-tests / --from-trace measure nothing")
    if dtype is not None:
        check_choice("--dtype", dtype, ("bf16", "fp16", "fp32"))
    if not (from_nccl_tests or from_trace is not None):  # options of fitting files, not of measuring
        if nccl_algo is not None:
            raise fail("--nccl-algo", "only with --from-nccl-tests (the algorithm NCCL ran in those files)")
        if base is not None:
            raise fail("--base", "only with --from-nccl-tests / --from-trace: measuring writes a whole profile")
    if from_nccl_tests or from_trace is not None:
        from dpsim.cli_ingest import calibrate_from_files

        calibrate_from_files(
            # files name one link class (the default 'inter,intra' of measuring means: inter)
            scenario,
            out,
            from_nccl_tests or [],
            from_trace,
            base,
            link_class.split(",")[0],
            nccl_algo,
            overrides or [],
        )
        return
    _under_torchrun()  # its variables checked before anything is measured or written
    if scenario is None:
        raise fail("scenario", "give a scenario YAML to measure, or --from-nccl-tests / --from-trace files to fit")
    _check_max_residual(max_residual)
    if not _under_torchrun() and not compute:  # under torchrun: checked where the ranks run
        refuse_cuda_outside_torchrun(device)
    _require_runtime()
    import json

    if compute:
        # the sweep's device: as given, else CUDA where there is one (the default 'cpu' is the testbeds'); by name:
        # typer's context may come from its own copy of click, whose ParameterSource is another class
        source = ctx.get_parameter_source("device")
        asked = device if getattr(source, "name", "") == "COMMANDLINE" else None
        _calibrate_compute(scenario, out, overrides or [], gemm_sizes, dtype, reps, records, asked)
        return

    from dpsim.calibration import save_profile
    from dpsim.scenario import load_scenario

    _check_outputs(scenario, out, records)
    classes = _name_list("--link-class", link_class, ("inter", "intra"))
    rank_counts = _int_list("--ranks", ranks, minimum=2, maximum=_local_ranks())
    plan_sizes = _size_list("--sizes", sizes)
    _memory_bound("--sizes", 3.0 * max(plan_sizes) * max(rank_counts), "each rank's send, receive and reduce buffers")
    algs = _name_list("--algorithms", algorithms, ALGORITHMS)
    plan_rates = _rate_list("--rates", rates)
    _testbed_check(testbed, tcp_cc)
    loaded = load_scenario(scenario, overrides or [])
    from runtime.calibrate import CalibrationPlan
    from runtime.calibrate import calibrate as run_calibration

    plan = CalibrationPlan(ranks=rank_counts, sizes=plan_sizes, algorithms=algs, link_classes=tuple(classes),
                           rates=plan_rates, reps=reps, tcp_cc=tcp_cc or "")  # fmt: skip
    if _under_torchrun():  # under torchrun: every rank benchmarks, rank 0 writes
        from runtime.torchrun import calibrate_distributed, torchrun_ranks

        check_choice("--device", device, ("cpu", "cuda"))
        if device == "cuda":
            _check_cuda_rank()
        # the ranks torchrun started are the one rank count, so the sizes alone fix α and β (one size: a traceback
        # in every rank after the benchmarks; one rank: no link to measure, as --ranks refuses locally)
        world = torchrun_ranks()[1]  # type: ignore[index]  # set: _under_torchrun()
        if world < 2:
            raise fail("WORLD_SIZE", f"expected at least 2 ranks to calibrate a link, got {world}", "<environment>")
        if len(plan_sizes) < 2:
            raise fail("--sizes", "under torchrun every size runs on the one rank count torchrun started: give at "
                       "least two sizes to fit latency and bandwidth")  # fmt: skip
        try:
            fitted = calibrate_distributed(loaded, plan, out, device, log=lambda m: typer.echo(m, err=True))
        except Exception as exc:  # RankFailure (a collective timed out or failed) → exit 1 with the rank named
            _runtime_errors(exc)
            raise
        if fitted is not None:
            with atomic_output(out, "--out") as tmp:
                save_profile(fitted, tmp)
            _print_busbw(fitted.meta["bench"], None)
            typer.echo(f"wrote {out}")
        return
    try:
        profile, raw = run_calibration(loaded, plan, testbed, name=loaded.name, log=lambda m: typer.echo(m, err=True),
                                       max_residual=max_residual)  # fmt: skip
    except Exception as exc:  # RankFailure → exit 1 with the rank named
        _runtime_errors(exc)
        raise
    with atomic_output(out, "--out") as tmp:
        save_profile(profile, tmp)
    if records is not None:
        with atomic_output(records, "--records") as tmp:
            tmp.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    _print_busbw(raw, loaded.cluster.inter_node.bandwidth if testbed == "emulated" else None)
    for cls, table in profile.links.items():
        for alg, link in table.items():
            latency_us, bandwidth_mb = link.latency_s * 1e6, link.bandwidth / 1e6
            typer.echo(f"fit {cls}/{alg}: latency {latency_us:.1f} us, bandwidth {bandwidth_mb:.2f} MB/s")
    assert profile.forward is not None and profile.backward is not None
    typer.echo(
        f"compute per micro-batch of m samples: forward {profile.forward.fixed_s * 1e3:.3f} + "
        f"{profile.forward.per_unit_s * 1e3:.3f}·m ms, backward {profile.backward.fixed_s * 1e3:.3f} + "
        f"{profile.backward.per_unit_s * 1e3:.3f}·m ms"
    )
    for name, residual in sorted(profile.residuals().items()):
        typer.echo(f"fit residual {name}: {100 * residual:.1f} %")
    from dpsim.calibration import CalibrationError, check_residuals, pace_drift, within_scatter

    for part, moved in pace_drift(profile.meta).items():  # the reference kernel before and after each part
        typer.echo(f"host pace drift {part}: {100 * moved:.1f} %")
    typer.echo(f"wrote {out}")

    try:
        check_residuals(profile, max_residual)
    except CalibrationError as exc:
        raise fail("calibration", f"{exc} (the profile was written to {out} for inspection)") from None
    for name, beyond in sorted(within_scatter(profile, max_residual).items()):
        typer.echo(f"fit {name}: accepted within the benchmark's own scatter (no point is off by more than its "
                   f"measured median's 95 % uncertainty plus {100 * beyond:.1f} %)")  # fmt: skip


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (by name: typer's context may come from its own copy of
    click, whose ParameterSource is another class)."""
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


REFRESH_UNUSED = ("testbed", "ranks", "sizes", "algorithms", "link_class", "rates", "reps", "tcp_cc", "records",
                  "from_nccl_tests", "nccl_algo", "from_trace", "device", "base", "compute", "gemm_sizes",
                  "dtype")  # fmt: skip
"""``dpsim calibrate`` options a refresh does not use: it times with the base profile's own settings."""


def _calibrate_refresh(
    ctx: typer.Context,
    scenario: Path | None,
    out: Path,
    overrides: list[str],
    base: Path | None,
    parts_text: str,
    max_residual: float,
) -> None:
    """``dpsim calibrate SCENARIO --refresh PROFILE [--refresh-parts P] --out NEW``: every input checked before
    anything is timed, the new profile written whole or not at all."""
    import hashlib
    import time

    from dpsim.calibration import load_profile, save_profile

    if base is None:
        raise fail("--refresh-parts", "only with --refresh PROFILE (the base profile to time again)")
    if not base.is_file():  # round 34: `-` read the base from stdin, then hashed a file named '-' (a traceback)
        what = "not a regular file (a folder, FIFO or device)" if base.exists() else "no such file"
        raise fail("--refresh", f"{what}: {str(base)!r}")
    for name in REFRESH_UNUSED:
        if _given(ctx, name):
            flag = "--" + name.replace("_", "-")
            raise fail(flag, "not with --refresh: a refresh times the base profile's parts with its own settings")
    from runtime.calibrate import REFRESH_PARTS, refresh_problem
    from runtime.calibrate import refresh as run_refresh

    parts = _name_list("--refresh-parts", parts_text, REFRESH_PARTS)
    if scenario is None:
        raise fail("scenario", "give the scenario YAML the base profile was calibrated for (its model and optimizer)")
    _check_max_residual(max_residual)
    check_writable(out, "--out", (".yaml", ".yml"), [scenario, base])
    from dpsim.scenario import load_scenario

    loaded = load_scenario(scenario, overrides)
    profile = load_profile(base)
    _require_runtime()
    problem = refresh_problem(profile, loaded, parts)
    if problem is not None:
        raise fail("--refresh", problem, str(base))
    digest = hashlib.sha256(base.read_bytes()).hexdigest()[:16]
    begun = time.monotonic()
    try:  # the base as named relative to the working directory, else its file name: no machine path in the profile
        named = str(base.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        named = base.name
    new = run_refresh(profile, loaded, parts, log=lambda m: typer.echo(m, err=True), base=named,
                      base_sha256=digest)  # fmt: skip
    with atomic_output(out, "--out") as tmp:
        save_profile(new, tmp)
    typer.echo(f"refreshed {', '.join(parts)} of {base} in {time.monotonic() - begun:.0f} s; links kept")
    for line in _refresh_moves(profile, new, loaded.model.num_parameters):
        typer.echo(line)
    timed = {"compute": (), "optimizer": ("optimizer",), "host": ("host", "host.optimizer")}
    above = {n: r for p in parts for n in timed[p] if (r := new.residuals().get(n, 0.0)) > max_residual}
    from dpsim.calibration import pace_drift

    bracketed = {"compute": ("compute", "model"), "optimizer": ("optimizer",), "host": ("host",)}  # runtime.calibrate
    moved = pace_drift(new.meta)  # the host's pace around each part timed here (the reference kernel)
    above.update({f"pace.{n}": moved[n] for p in parts for n in bracketed[p] if moved.get(n, 0.0) > max_residual})
    for name, residual in sorted(above.items()):
        typer.echo(f"fit residual {name}: {100 * residual:.1f} %")
    typer.echo(f"wrote {out}")
    if above:
        listed = ", ".join(f"{n} {100 * r:.1f} %" for n, r in sorted(above.items()))
        raise fail("calibration", f"refreshed fits (or host pace) above {100 * max_residual:g} %: {listed} (the "
                   f"profile was written to {out} for inspection)")  # fmt: skip


def _refresh_moves(base: HardwareProfile, new: HardwareProfile, parameters: float) -> list[str]:
    """How far a refresh moved the re-timed parts from the base: the compute curve's points (forward + backward, new
    over base: median and range) and the optimizer fit at the scenario model's size."""
    import statistics

    lines = []
    if base.compute_curve is not None and new.compute_curve is not None and new.compute_curve != base.compute_curve:
        old = {(q.hidden, q.micro_batch, q.layers): q.forward_s + q.backward_s for q in base.compute_curve.points}
        ratios = [(q.forward_s + q.backward_s) / old[k] for q in new.compute_curve.points
                  if old.get(k := (q.hidden, q.micro_batch, q.layers), 0) > 0]  # fmt: skip
        if ratios:
            lines.append(f"compute curve: x{statistics.median(ratios):.3f} of the base's (median over {len(ratios)} "
                         f"points, {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip
    if base.optimizer is not None and new.optimizer is not None and new.optimizer != base.optimizer:
        before, after = base.optimizer(parameters), new.optimizer(parameters)
        if before > 0:
            lines.append(f"optimizer fit at {parameters:.0f} parameters: {1e9 * before / parameters:.2f} -> "
                         f"{1e9 * after / parameters:.2f} ns each (x{after / before:.3f})")  # fmt: skip
    return lines


def _check_max_residual(max_residual: float) -> None:
    if not (math.isfinite(max_residual) and max_residual > 0):
        raise fail("--max-residual", f"expected a finite relative residual > 0 (0.05 = 5 %), got {max_residual!r}")


def _check_outputs(scenario: Path, out: Path, records: Path | None) -> None:
    """The profile (and records) can be written, and neither replaces the scenario or the other."""
    check_writable(out, "--out", (".yaml", ".yml"), [scenario])
    if records is not None:
        check_writable(records, "--records", (".json",), [scenario, out])
        if records.resolve() == out.resolve():
            raise fail("--records", f"{str(records)!r} is also --out: give the two files different names")


def _calibrate_compute(
    scenario: Path,
    out: Path,
    overrides: list[str],
    gemm_sizes: str,
    dtype: str | None,
    reps: int,
    records: Path | None,
    device: str | None = None,
) -> None:
    """``dpsim calibrate --compute``: time GEMMs, fit ``matmul_efficiency`` and ``kernel_overhead``.

    ``device`` (``--device`` as given): where the GEMMs run; None: CUDA where there is one, else the CPU. Before,
    ``--device cpu`` on a machine with CUDA timed the GPU all the same, and ``--device cuda`` was refused.

    ``dtype`` None: the scenario's own GEMMs' dtype (:func:`dpsim.units.working_dtype` of ``training.precision``; bf16
    under fp8, whose FP8 plateau is ``matmul_efficiency_fp8``). It was bf16 whatever the scenario trained in: an fp32
    scenario got the bf16 GEMMs' efficiency, applied to its fp32 GEMMs (on this CPU 0.22 against 0.088 of the peak)."""
    import json

    from dpsim.inputs import dump_yaml
    from dpsim.scenario import load_scenario

    _check_outputs(scenario, out, records)
    if dtype is not None:
        check_choice("--dtype", dtype, ("bf16", "fp16", "fp32"))
    if device is not None:
        check_choice("--device", device, ("cpu", "cuda"))
    sizes = _int_list("--gemm-sizes", gemm_sizes)
    if len(sizes) < 2:
        raise fail("--gemm-sizes", "give at least two sizes to fit the curve")
    _memory_bound("--gemm-sizes", 4.0 * 9 * max(sizes) ** 2, "the largest GEMM's fp32 operands (4s x s, s x s, 4s x s)")
    loaded = load_scenario(scenario, overrides)
    dtype = dtype or working_dtype(loaded.training.precision)  # the dtype the scenario's GEMMs are priced in
    import torch

    from runtime.gemm import default_shapes, device_mismatch, fit, sweep

    if device == "cuda":
        _cuda_devices()
    cuda = torch.cuda.is_available() if device is None else device == "cuda"
    mismatch = device_mismatch(loaded, cuda)
    if mismatch:  # before anything is timed or written
        raise ScenarioError("cluster.device", mismatch, str(scenario))

    peak = loaded.cluster.device.peak_for(working_dtype(dtype))
    peak_field = "peak_flops"  # the field holding the peak the sweep is fitted against, named if the fit exceeds it
    allow_tf32 = torch.backends.cuda.matmul.allow_tf32
    if dtype == "fp32":  # the GEMMs as training.fp32_matmul runs them (runtime.precision), fitted against that peak
        from dpsim.compute import compute_device

        torch.backends.cuda.matmul.allow_tf32 = loaded.training.fp32_matmul == "tf32"
        fp32 = loaded.model_copy(update={"training": loaded.training.model_copy(update={"precision": "fp32"})})
        peak = compute_device(fp32).peak_for("fp32")
        priced = loaded.cluster.device
        if loaded.training.fp32_matmul == "ieee" and priced.peak_flops_fp32_ieee is not None:
            peak_field = "peak_flops_fp32_ieee"
        elif priced.peak_flops_fp32 is not None:
            peak_field = "peak_flops_fp32"
    try:
        points = sweep(default_shapes(sizes), dtype=dtype, device="cuda" if cuda else "cpu", reps=reps)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    try:
        efficiency, overhead = fit(points, peak)
    except ValueError as exc:
        raise fail("--gemm-sizes", str(exc)) from None
    for p in points:
        typer.echo(f"gemm {p.m}x{p.n}x{p.k}: {p.seconds * 1e6:.1f} us, {p.flops / p.seconds / 1e12:.3f} TFLOP/s")
    typer.echo(
        f"fit ({dtype} GEMMs): {efficiency:.3g} of the scenario's peak {peak / 1e12:.4g} TFLOP/s "
        f"({efficiency * peak / 1e12:.4g} TFLOP/s) + {overhead * 1e6:.2f} us per GEMM"
    )
    if efficiency > 1.0:  # no GEMM runs above its device's peak: the peak is another device's (was a note, and 1.0)
        raise ScenarioError(
            "cluster.device",
            f"the fitted GEMM rate {efficiency * peak / 1e12:.4g} TFLOP/s is {efficiency:.3g}x the peak the scenario's "
            f"device is priced at ({peak / 1e12:.4g} TFLOP/s): the sweep ran on another device, or the peak is "
            f"understated; name the device it ran on, or set cluster.device.{peak_field} to its peak (nothing written)",
            str(scenario),
        )
    # the fit's rate includes each GEMM's output store: price it as fitted, not with the store added again
    block = {"matmul_efficiency": efficiency, "kernel_overhead": f"{overhead * 1e6:.6g} us"}
    block["gemm_epilogue_exposed"] = False
    document = {
        "note": "GEMM curve measured by dpsim calibrate --compute; merge 'cluster.device' into a scenario",
        "dtype": dtype,
        "peak_flops": f"{peak!r} FLOP/s",
        "cluster": {"device": block},
        "points": [p.as_dict() for p in points],
    }
    with atomic_output(out, "--out") as tmp:
        tmp.write_text(dump_yaml(document), encoding="utf-8")
    if records is not None:
        with atomic_output(records, "--records") as tmp:
            tmp.write_text(json.dumps(document["points"], indent=1), encoding="utf-8")
    typer.echo(f"wrote {out}")


def _print_busbw(raw: list[dict[str, Any]], link_rate: float | None) -> None:
    """Bus bandwidth (nccl-tests: busbw = S/t · 2(N−1)/N) of every measurement, against the link rate."""
    head = f"{'collective':<15}{'algorithm':<18}{'ranks':>6}{'size':>12}{'time ms':>10}{'busbw MB/s':>12}"
    typer.echo(head + ("  % of link" if link_rate else ""))
    for r in raw:
        line = (
            f"{r['collective']:<15}{r['algorithm']:<18}{r['ranks']:>6}{r['size_bytes']:>12}"
            f"{r['time_s'] * 1e3:>10.2f}{r['busbw_bytes_per_s'] / 1e6:>12.2f}"
        )
        rate = r.get("rate_bytes_per_s") or link_rate
        if rate:
            line += f"  {100 * r['busbw_bytes_per_s'] / rate:8.1f}"
        typer.echo(line)


def validate(
    scenario: Annotated[Path, typer.Argument(help="base scenario YAML")],
    vary: Annotated[list[str] | None, typer.Option("--vary", help="PATH=V1,V2,... (grid of configurations)")] = None,
    case: Annotated[
        list[str] | None, typer.Option("--case", help="one configuration: 'PATH=VALUE;PATH=VALUE' (repeatable)")
    ] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="override PATH=VALUE of the base")] = None,
    engine: Annotated[str, typer.Option(help="predicting engine(s): analytic, sim or analytic,sim")] = "analytic",
    testbed: Annotated[str, typer.Option(help="local (loopback) or emulated (namespaces + tc; root)")] = "local",
    calibrate_ranks: Annotated[
        str, typer.Option(help="rank counts of the one calibration made when no --profile is given")
    ] = "2,3,4",
    repeats: Annotated[
        int, typer.Option(min=1, max=MAX_REPEATS, help="runs of each configuration (spread reported)")
    ] = 1,
    profile: Annotated[Path | None, typer.Option(help="use this profile instead of calibrating")] = None,
    tcp_cc: TcpCcOpt = None,
    max_residual: Annotated[
        float,
        typer.Option(
            help="without --profile: largest accepted relative fit residual of the calibration (0.05 = 5 %); "
            "above it: exit 2. A larger one is recorded in summary.json"
        ),
    ] = 0.05,
    out_dir: Annotated[Path, typer.Option(help="folder for the CSV, PNG, records and profiles")] = Path("validation"),
    steps: Annotated[int, typer.Option(min=1, max=MAX_STEPS, help="measured steps per configuration")] = 5,
    warmup_steps: Annotated[int, typer.Option(min=0, max=MAX_STEPS, help="warm-up steps (excluded)")] = 2,
    timeout: Annotated[
        float,
        typer.Option(help="seconds before a hung configuration is stopped (torchrun: a collective's longest wait)"),
    ] = 300.0,
    device: Annotated[str, typer.Option(help="under torchrun: cpu (gloo) or cuda (NCCL, one GPU per rank)")] = "cpu",
    nccl_pin: Annotated[
        bool, typer.Option("--nccl-pin", help="under torchrun on cuda: NCCL_ALGO/NCCL_PROTO from each case")
    ] = False,
    nccl_debug: Annotated[
        bool, typer.Option("--nccl-debug", help="under torchrun on cuda: NCCL_DEBUG=INFO, its choices in the records")
    ] = False,
) -> None:
    """Measure configurations with the runtime, predict them from a profile calibrated on others, report the error.

    Under torchrun (any number of nodes) the ranks torchrun started run every case and rank 0
    writes the table; every case must have the shape of those ranks.
    """
    _require_runtime()
    _under_torchrun()  # its variables checked before anything is measured or written
    from dpsim.api import grid_points
    from dpsim.scenario import overlapping_overrides, parse_override

    engines = _name_list("--engine", engine, ("analytic", "sim"))
    calib_ranks = _int_list("--calibrate-ranks", calibrate_ranks, minimum=2, maximum=_local_ranks())
    if not (math.isfinite(timeout) and timeout > 0):
        raise fail("--timeout", f"expected a finite number of seconds > 0, got {timeout!r}")
    _check_max_residual(max_residual)
    if profile is not None and not profile.is_file():
        raise fail("--profile", f"no such file: {str(profile)!r}")
    measured_with = ""
    if profile is not None:  # read (and checked field by field) before --out-dir is made
        from dpsim.calibration import load_profile

        measured_with = load_profile(profile).backend
    _testbed_check(testbed, tcp_cc)
    cases: list[list[tuple[str, Any]]] = []
    if vary:
        cases += [list(point.items()) for point in grid_points(parse_vary(vary))]
    for text in case or []:
        items = [parse_override(part.strip()) for part in text.split(";") if part.strip()]
        if not items:
            raise fail("--case", f"expected 'PATH=VALUE;PATH=VALUE', got {text!r}")
        paths = [path for path, _ in items]
        twice = next((path for path in paths if paths.count(path) > 1), None)
        if twice is not None:  # the last one won without a word
            raise fail("--case", f"{brief(text)} sets {twice} more than once (one value a path in a case)")
        if (overlap := overlapping_overrides([(path, [value]) for path, value in items])) is not None:
            raise fail("--case", f"{brief(text)}: {overlap}")  # the later one decided the field both set
        if items in cases:
            raise fail("--case", f"{brief(text)} is given more than once (each configuration runs once)")
        cases.append(items)
    if not cases:
        cases = [[]]
    run_count = len(cases) * repeats  # round 37: each option was bounded alone, their product by nothing
    if run_count > MAX_RUNS:  # named by what made it many: the repeats, else the cases (--vary's grid, --case)
        many_by = "--repeats" if repeats > 1 else ", ".join(o for o, v in (("--vary", vary), ("--case", case)) if v)
        raise fail(many_by, f"{len(cases):,} cases x {repeats:,} repeats = {run_count:,} runs of the runtime, each "
                   f"starting its ranks; at most {MAX_RUNS:,} a validation: give fewer repeats or cases")  # fmt: skip
    if run_count * (steps + warmup_steps) > MAX_VALIDATION_STEPS:
        raise fail("--steps", f"{run_count:,} runs x ({steps:,} steps + {warmup_steps:,} warm-up steps) = "
                   f"{run_count * (steps + warmup_steps):,} steps; at most {MAX_VALIDATION_STEPS:,} a validation: give "
                   "fewer --steps, --warmup-steps, --repeats or cases")  # fmt: skip
    from runtime.calibrate import CalibrationPlan
    from runtime.job import JobOptions, check_supported
    from runtime.validate import OUTPUTS, build_cases
    from runtime.validate import validate as run_validation

    resolved = build_cases(scenario, overrides or [], cases)
    for c in resolved:  # before a folder is made or anything measured
        try:
            check_supported(c.scenario)
        except ScenarioError as exc:
            raise fail(exc.field, f"{c.label}: {exc.message}") from None
        except ValueError as exc:
            raise fail("communication.algorithm", f"{c.label}: {str(exc).split(': ', 1)[-1]}") from None
        local = _local_ranks()  # round 36: a case of 200 ranks started 200 processes here (python -m runtime refused)
        if local is not None and c.scenario.world_size > local:
            raise fail("cluster", f"{c.label}: {c.scenario.world_size:,} ranks would each be a process on this "
                       f"machine (at most {local:,}: 4 per CPU core); run under torchrun for more")  # fmt: skip
    check_choice("--device", device, ("cpu", "cuda"))  # the options, before the folder is made (it was left empty)
    check_nccl_options(device, nccl_pin, nccl_debug)
    if not _under_torchrun():
        refuse_cuda_outside_torchrun(device)
    if device == "cuda":
        _check_cuda_rank()
    runs = "nccl" if device == "cuda" else "gloo"
    if measured_with in ("gloo", "nccl") and measured_with != runs:  # measured on one backend, priced on another's
        raise fail("--profile", f"{brief(str(profile))} was measured with {measured_with} (its backend) and these "
                   f"cases run {runs} (--device {device}): each prediction would price the other backend's links "
                   f"and compute; give a {runs} profile, or leave --profile out to calibrate")  # fmt: skip
    if nccl_pin:
        from runtime.nccl import nccl_settings

        for c in resolved:
            try:
                nccl_settings(c.scenario)
            except ScenarioError as exc:
                raise fail(exc.field, f"{c.label}: {exc.message}") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise fail("--out-dir", f"{str(out_dir)!r} is a file, not a folder")
    calibration = ("profile.yaml", "calibration-bench.json") if profile is not None else ()  # made if calibrating
    given = [p for p in (scenario, profile) if p is not None and p.is_file()]
    for name in OUTPUTS:  # before the folder is made: a link among its files, or an input, is refused
        refuse_link(out_dir / name, "--out-dir")
        written = out_dir / name
        if name not in calibration and written.is_file() and any(os.path.samefile(written, p) for p in given):
            raise fail("--out-dir", f"{str(written)!r} is written by validate and is also an input of this "
                       "command: give another --out-dir")  # fmt: skip
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail("--out-dir", f"cannot make {str(out_dir)!r}: {exc.strerror or exc}") from None
    check_writable(out_dir / "validation.csv", "--out-dir", (".csv",), [scenario, profile])
    if _under_torchrun():  # under torchrun: every rank runs, rank 0 writes
        from runtime.torchrun import validate_distributed

        options = JobOptions(algorithm="backend" if device == "cuda" else "scenario", warmup_steps=warmup_steps,
                             steps=steps, device=device)  # fmt: skip
        try:
            done = validate_distributed(resolved, out_dir, engines=engines, profile=profile,
                                        plan=CalibrationPlan(ranks=calib_ranks), options=options, repeats=repeats,
                                        device=device, nccl_pin=nccl_pin, nccl_debug=nccl_debug,
                                        log=lambda m: typer.echo(m, err=True), timeout_s=timeout)  # fmt: skip
        except Exception as exc:  # RankFailure (a collective timed out or failed) → exit 1 with the rank named
            _runtime_errors(exc)
            raise
        if done is None:  # not rank 0
            return
        table, summary = done
        _report_validation(table, summary, engines, out_dir)
        return
    from dpsim.calibration import CalibrationError

    try:
        table, summary = run_validation(
            resolved,
            out_dir,
            testbed=testbed,
            engines=engines,
            plan=CalibrationPlan(ranks=calib_ranks, tcp_cc=tcp_cc or ""),
            profile=profile,
            options=JobOptions(warmup_steps=warmup_steps, steps=steps),
            repeats=repeats,
            timeout_s=timeout,
            log=lambda m: typer.echo(m, err=True),
            max_residual=max_residual,
        )
    except CalibrationError as exc:  # its own calibration, above --max-residual after measuring again: exit 2
        raise fail("calibration", f"{exc} (the profile was written to {out_dir / 'profile.yaml'} for inspection; "
                   "no configuration was run)") from None  # fmt: skip
    except ScenarioError:
        raise
    except Exception as exc:
        _runtime_errors(exc)
        raise
    _report_validation(table, summary, engines, out_dir)


def _report_validation(table: Any, summary: dict[str, Any], engines: list[str], out_dir: Path) -> None:
    from runtime.validate import pace_line, residual_lines

    typer.echo(validation_table(table, engines))
    for name in engines:
        mape, worst = summary[f"mape_{name}_step_time_pct"], summary[f"worst_{name}_step_time_pct"]
        typer.echo(f"MAPE step time ({name}): {mape:.2f} % over {summary['cases']} configurations, worst {worst:.1f} %")
    typer.echo("calibrated once on: " + "; ".join(summary["calibration_configurations"]))
    for line in residual_lines(summary):
        typer.echo(line)
    if pace := pace_line(summary):
        typer.echo(pace)
    for warning in summary.get("warnings") or []:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"wrote {out_dir / 'validation.csv'}, {out_dir / 'validation.png'}, {out_dir / 'summary.json'}")


def validation_table(table: Any, engines: list[str]) -> str:
    """Measured vs predicted per component (ms) and the step-time error of each engine, one line per case."""
    parts = ("step_time_s", "compute_s", "exposed_comm_s", "optimizer_s", "barrier_s")
    short = {"step_time_s": "step", "compute_s": "compute", "exposed_comm_s": "exposed", "optimizer_s": "optim",
             "barrier_s": "barrier"}  # fmt: skip
    out = table[["case", "ranks", "calibration_overlap"]].copy()
    for part in parts:
        out[f"{short[part]} ms meas"] = table[f"measured_{part}"] * 1e3
        out[f"{short[part]} ms pred"] = table[f"predicted_{part}"] * 1e3
    for name in engines:
        out[f"err {name} %"] = table[f"error_{name}_step_time_s_pct"]
    if "host_pace_vs_calibration" in table and table["host_pace_vs_calibration"].notna().any():
        out["pace"] = table["host_pace_vs_calibration"]  # the reference kernel's time over the calibration's
    return str(out.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` and ``validate`` to the ``dpsim`` app."""
    app.command("calibrate")(handle_errors(calibrate))
    app.command("validate")(handle_errors(validate))
