"""Entry point: execute a scenario file with torch.distributed and measure it.

``python -m runtime SCENARIO [--set PATH=VALUE ...] [--testbed local|emulated] ...`` starts
one process per worker (the launcher), or — when started by ``torchrun`` or the launcher
(``RANK`` in the environment, or ``--worker``) — runs as one rank: parse → build → run →
close, with ``destroy_process_group`` in ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dpsim.errors import ScenarioError
from dpsim.execution import max_local_workers
from dpsim.inputs import brief
from dpsim.records import write_jsonl
from dpsim.scenario import Scenario, load_scenario
from runtime.cli_args import CLI_SOURCE, number_option, runtime_parser, whole_option
from runtime.job import JobOptions
from runtime.testbed import Testbed
from runtime.torchrun import check_torchrun_shape, torchrun_ranks

__all__ = ["SAVE_PARAMETERS_ENV", "main", "make_testbed", "nccl_meta", "nccl_setup", "parse_args"]

RUN_DIR_ENV = "DPSIM_RUN_DIR"
"""Environment variable: a rank's folder for its step records when ``--run-dir`` is not given (default: '.')."""
SAVE_PARAMETERS_ENV = "DPSIM_SAVE_PARAMETERS"
"""Environment variable: when set, rank 0 saves the trained parameters there (``torch.save`` of a dict
name → CPU tensor) after the last step; the launcher's ranks inherit it."""


def _given(text: str) -> str:
    """A text option that is not empty (``--backend ''`` ran on gloo, ``--run-dir ''`` wrote into the current
    folder: an empty value taken for the default, or for '.')."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a value, got {brief(text)}")
    return text


def _folder(text: str) -> Path:
    return Path(_given(text))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = runtime_parser("python -m runtime", description=__doc__.splitlines()[0])
    p.add_argument("scenario", nargs="?", help="scenario YAML (default: the bundled default)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    p.add_argument("--testbed", choices=["local", "emulated"], default="local")
    p.add_argument(
        "--algorithm",
        choices=["scenario", "backend"],
        default="scenario",
        help="all-reduce: the scenario's algorithm over point-to-point ops, or the backend's own",
    )
    p.add_argument("--warmup-steps", type=whole_option, default=2)
    p.add_argument("--steps", type=whole_option, default=5)
    p.add_argument("--seed", type=whole_option, default=0)
    p.add_argument("--timeout", type=number_option, default=300.0,
                   help="seconds before a hung run is stopped (torchrun: a collective's longest wait)")  # fmt: skip
    p.add_argument("--out", type=_given, help="append the StepResult as a JSON line here")
    p.add_argument("--run-dir", type=_folder, help="per-rank step records (default: a temporary folder)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda: one GPU per rank (LOCAL_RANK)")
    p.add_argument(
        "--backend", type=_given, help="torch.distributed backend of a rank (default: gloo on cpu, nccl on cuda)"
    )
    p.add_argument("--fp8", action="store_true", help="FP8 matmuls with NVIDIA Transformer Engine (GPU)")
    p.add_argument(
        "--trace", type=_given, help="rank 0 writes a PyTorch profiler trace of one extra step here (Chrome JSON)"
    )
    p.add_argument("--nccl-pin", action="store_true",
                   help="set NCCL_ALGO (and NCCL_PROTO) from the scenario's communication settings")  # fmt: skip
    p.add_argument("--nccl-debug", action="store_true",
                   help="NCCL_DEBUG=INFO into the run directory; the record keeps what NCCL chose")  # fmt: skip
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fail-rank", type=whole_option, default=-1, help=argparse.SUPPRESS)
    p.add_argument("--fail-step", type=whole_option, default=0, help=argparse.SUPPRESS)
    p.add_argument("--fail-mode", default="kill", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _options(args: argparse.Namespace) -> JobOptions:
    return JobOptions(args.algorithm, args.warmup_steps, args.steps, args.seed, args.fail_rank, args.fail_step,
                      args.fail_mode, args.device, args.fp8, args.trace or "")  # fmt: skip


def check_run(args: argparse.Namespace) -> Scenario:
    """Everything that can be refused before a process starts: the scenario, precision, NCCL pinning."""
    from runtime.precision import check_precision

    check_options(args)
    scenario = load_scenario(args.scenario, args.overrides)
    check_precision(scenario, args.device, fp8=args.fp8)
    world = scenario.cluster.nodes * scenario.cluster.workers_per_node
    ranks = torchrun_ranks() if not args.worker else None
    if ranks is not None:  # the ranks torchrun started are the cluster: refused here, not by every rank once joined
        from dpsim.cli_runtime import _check_cuda_rank
        from runtime.job import check_supported

        if args.device == "cuda":
            _check_cuda_rank()
        check_torchrun_shape(scenario, ranks[1], ranks[3])
        check_supported(scenario)
    if not -1 <= args.fail_rank < world:
        raise ScenarioError("--fail-rank", f"expected -1 (none) or a rank below {world:,}, got {args.fail_rank:,}",
                            CLI_SOURCE)  # fmt: skip
    if not (args.worker or "RANK" in os.environ) and world > max_local_workers():
        limit = f"at most {max_local_workers():,}: 4 per CPU core"
        raise ScenarioError("cluster", f"{world:,} ranks would each be a process on this machine ({limit}); run under "
                            "torchrun for more", CLI_SOURCE)  # fmt: skip
    from dpsim.cli_runtime import check_nccl_options

    check_nccl_options(args.device, args.nccl_pin, args.nccl_debug, args.backend or "")
    if args.nccl_pin:
        from runtime.nccl import nccl_settings

        nccl_settings(scenario)
    return scenario


def check_options(args: argparse.Namespace) -> None:
    """The options' ranges and the paths written, before the scenario is read or a process starts.

    A run took ``--steps 10**12`` or ``--timeout nan`` and ran for hours, ``--seed 10**30`` failed in every rank
    after the start, and ``--out`` in a missing folder, ``--run-dir`` on a file or ``--backend x`` were a
    traceback (or a hang) once every rank had run.
    """
    from dpsim.cli_runtime import MAX_STEPS, _under_torchrun
    from dpsim.scenario import MAX_INT

    _under_torchrun()  # RANK/WORLD_SIZE checked as dpsim validate checks them
    for option, value, low in (("--steps", args.steps, 1), ("--warmup-steps", args.warmup_steps, 0)):
        if not low <= value <= MAX_STEPS:
            raise ScenarioError(option, f"expected {low} .. {MAX_STEPS:,} steps, got {value:,}", CLI_SOURCE)
    if not 0 <= args.seed <= MAX_INT:
        raise ScenarioError("--seed", f"expected a whole number 0 .. 2^53, got {args.seed:,}", CLI_SOURCE)
    if not args.timeout > 0:
        raise ScenarioError("--timeout", f"expected a finite number of seconds > 0, got {args.timeout!r}", CLI_SOURCE)
    backend = args.backend or ("nccl" if args.device == "cuda" else "gloo")
    if backend not in ("gloo", "nccl") or (backend == "nccl" and args.device != "cuda"):
        raise ScenarioError("--backend", f"expected gloo, or nccl with --device cuda, got {brief(backend)}", CLI_SOURCE)
    scenario = [Path(args.scenario)] if args.scenario not in (None, "-") else []
    outputs = [("--out", args.out), ("--trace", args.trace)]
    for option, path in outputs:
        if path is not None:
            _check_output(option, str(path), scenario, CLI_SOURCE)
    if args.run_dir is not None:
        _check_folder(args.run_dir, "--run-dir", CLI_SOURCE)
    elif (args.worker or "RANK" in os.environ) and os.environ.get(RUN_DIR_ENV):  # a rank's folder (run_worker)
        _check_folder(Path(os.environ[RUN_DIR_ENV]), RUN_DIR_ENV, "<environment>")
    if args.worker:  # a rank the launcher started, which dies with it (read there: int() was a traceback)
        from runtime.launch import launcher_pid

        launcher_pid()
    written = [(option, str(path), CLI_SOURCE) for option, path in outputs if path is not None]
    save = os.environ.get(SAVE_PARAMETERS_ENV)
    if save:  # written by rank 0 once every step has run: a path that cannot be written failed only then
        _check_output(SAVE_PARAMETERS_ENV, save, scenario, "<environment>")
        written.append((SAVE_PARAMETERS_ENV, save, "<environment>"))
    _refuse_one_file_twice(written)
    if args.run_dir is not None:
        _refuse_run_dir_files(written, args.run_dir)


_RANK_FILES = re.compile(r"rank[0-9]+\.(?:jsonl|log|phase)|scenario\.yaml")
"""The files the launcher and its ranks write in the run folder (:func:`runtime.launch.spawn_ranks`,
:meth:`runtime.job.TrainingJob.run`)."""


def _refuse_run_dir_files(written: Sequence[tuple[str, str, str]], run_dir: Path) -> None:
    """An output at the run folder itself, or at a file the ranks write in it: ``--out RUN/rank0.jsonl`` appended
    the record to rank 0's step timings, ``--out RUN`` (a folder not made yet) failed once every rank had run."""
    folder = run_dir.resolve()
    for option, path, source in written:
        target = Path(path).resolve()
        if target == folder:
            raise ScenarioError(option, f"{path!r} is also --run-dir: give the file another name", source)
        if target.parent == folder and _RANK_FILES.fullmatch(target.name):
            raise ScenarioError(option, f"{path!r} is a file the ranks write in --run-dir: give it another name",
                                source)  # fmt: skip


def _refuse_one_file_twice(written: Sequence[tuple[str, str, str]]) -> None:
    """Two outputs at one path (``--out`` and ``--trace``, or ``DPSIM_SAVE_PARAMETERS`` and either; also through a
    linked folder or ``..``): the later write replaced the earlier, and the parameters saved over the records left
    neither readable. One line naming the later, before any rank starts."""
    for i, (option, path, source) in enumerate(written):
        for other, earlier, _ in written[:i]:
            if Path(path).resolve() == Path(earlier).resolve():
                raise ScenarioError(option, f"{path!r} is also {other}: give the two files different names", source)


def _check_output(field: str, path: str, inputs: Sequence[Path], source: str) -> None:
    """A file this run writes gets the checks of every dpsim output (:func:`dpsim.cli_common.check_writable`): a
    file name, not a folder's; in a folder that exists and can be written; not a symbolic link (outputs are
    replaced whole, never written through a link: :func:`dpsim.outputs.replaced`); not the scenario itself."""
    from dpsim.cli_common import check_writable, refuse_folder_name

    try:
        refuse_folder_name(field, path)
        check_writable(Path(path), field, (), inputs)
    except ScenarioError as exc:
        raise exc.with_source(source) from None


def _check_folder(folder: Path, field: str, source: str) -> None:
    """``folder`` is, or can be made as, a folder this process writes in (else one line naming ``field``)."""
    from dpsim.cli_common import refuse_unnameable

    try:
        refuse_unnameable(field, str(folder))
    except ScenarioError as exc:
        raise exc.with_source(source) from None
    ancestor = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not ancestor.is_dir():
        raise ScenarioError(field, f"{str(ancestor)!r} is a file, not a folder", source)
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise ScenarioError(field, f"cannot write in {str(ancestor)!r}: {exc.strerror or exc}", source) from None


def nccl_setup(scenario: Scenario, run_dir: Path, *, pin: bool, debug: bool) -> None:
    """NCCL_ALGO/NCCL_PROTO and NCCL_DEBUG as asked, before the communicator exists (NCCL reads them at init)."""
    from runtime.nccl import debug_settings, nccl_settings

    if pin:
        os.environ.update(nccl_settings(scenario))
    if debug:
        os.environ.update(debug_settings(run_dir))


def nccl_meta(scenario: Scenario, run_dir: Path, *, pin: bool, debug: bool) -> dict[str, Any]:
    """NCCL version, the NCCL_* environment, what was pinned, and (with ``debug``) what rank 0's NCCL log says."""
    from runtime.nccl import nccl_environment, nccl_settings, nccl_version, parse_nccl_debug

    meta: dict[str, Any] = {"version": nccl_version(), "environment": nccl_environment()}
    if pin:
        meta["pinned"] = nccl_settings(scenario)
    if debug:
        logs = sorted(run_dir.glob(f"nccl.*.{os.getpid()}.log"))
        if logs:
            meta["debug"] = parse_nccl_debug(logs[0].read_text(encoding="utf-8", errors="replace"))
    return meta


def make_testbed(kind: str, scenario: Scenario, tcp_cc: str = "") -> Testbed:
    """The testbed for ``kind``; emulated nodes are shaped at the scenario's inter-node rate, their flows under
    ``tcp_cc`` ('': ``DPSIM_TCP_CC``, else the host's control)."""
    if kind == "emulated":
        from runtime.testbed.emulated import EmulatedCluster

        c = scenario.cluster
        return EmulatedCluster(nodes=c.nodes, per_node=c.workers_per_node, rate=c.inter_node.bandwidth, tcp_cc=tcp_cc)
    from runtime.testbed import LocalTestbed

    return LocalTestbed()


def run_worker(args: argparse.Namespace) -> None:
    """One rank (under torchrun or the launcher): parse → build → run → close."""
    import torch.distributed as dist

    from runtime.job import TrainingJob
    from runtime.launch import die_with_launcher, rank_phase
    from runtime.torchrun import destroy_group, init_group, waiting

    if args.worker:  # under torchrun a DPSIM_LAUNCHER_PID left in the environment is not this rank's launcher
        die_with_launcher()
    scenario = load_scenario(args.scenario, args.overrides)
    run_dir = args.run_dir or Path(os.environ.get(RUN_DIR_ENV) or ".")
    run_dir.mkdir(parents=True, exist_ok=True)
    backend = args.backend or ("nccl" if args.device == "cuda" else "gloo")
    if backend == "nccl":
        nccl_setup(scenario, run_dir, pin=args.nccl_pin, debug=args.nccl_debug)
    if args.worker:  # the launcher's watchdog stops a rank that hangs
        dist.init_process_group(backend)
    else:  # under torchrun nothing watches for a hang: every collective waits at most --timeout
        init_group(backend, args.timeout)
    rank = int(os.environ.get("RANK", "0"))
    # under torchrun a failed or timed-out collective names this rank and its phase (the launcher does so itself)
    bounded = waiting(lambda: rank_phase(run_dir, rank), args.timeout) if not args.worker else contextlib.nullcontext()
    try:
        job = TrainingJob(scenario, _options(args), run_dir)
        try:
            with bounded:
                timings = job.run()
            save = os.environ.get(SAVE_PARAMETERS_ENV)
            if save:  # for equivalence tests: the trained parameters, written by rank 0
                import torch

                from dpsim.outputs import replaced

                parameters = job.full_parameters()
                if dist.get_rank() == 0:  # whole or not at all, never through a link, as every output (check_options)
                    with replaced(save, SAVE_PARAMETERS_ENV) as tmp:
                        torch.save(parameters, tmp)
        finally:
            job.close()
        if not args.worker:  # under torchrun: rank 0 gathers every rank's steps and reports
            gathered: list[Any] = [None] * dist.get_world_size()
            with waiting("gathering every rank's step timings", args.timeout):
                dist.all_gather_object(gathered, timings)
            if dist.get_rank() == 0:
                import torch

                from runtime.measure import aggregate, ran_fields

                meta = {"backend": backend, "torch_version": str(torch.__version__), "testbed": "torchrun",
                        "algorithm": job.algorithm, "scenario_hash": scenario.scenario_hash(),
                        "precision": job.precision.label, "device": args.device,
                        **ran_fields(scenario, job.precision.autocast, job.algorithm)}  # fmt: skip
                if backend == "nccl":
                    meta["nccl"] = nccl_meta(scenario, run_dir, pin=args.nccl_pin, debug=args.nccl_debug)
                result = aggregate(scenario, dict(enumerate(gathered)), warmup_steps=args.warmup_steps, meta=meta)
                if args.out:
                    write_jsonl(args.out, [result], append=True)
                print(json.dumps(result.flat(), sort_keys=True))
    finally:
        destroy_group()  # after job.close(): the group's last reference goes here


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker or "RANK" in os.environ:
        try:
            check_run(args)
        except (ScenarioError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from runtime.launch import RankFailure

        try:
            run_worker(args)
        except RankFailure as exc:  # under torchrun: a collective timed out or failed (rank and phase named)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    from dpsim.cli_runtime import refuse_cuda_outside_torchrun

    try:
        refuse_cuda_outside_torchrun(args.device)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from dpsim.cli_common import Stopped, install_signal_cleanup
    from runtime.job import check_supported
    from runtime.launch import RankFailure, launch, signals_as_exceptions
    from runtime.testbed.emulated import RootRequired

    if argv is None:  # the command itself, not an in-process call (tests): a signal is Stopped from here on
        install_signal_cleanup()
    temporary: Path | None = None
    try:
        scenario = check_run(args)
        options = _options(args)
        check_supported(scenario)
        with signals_as_exceptions(), make_testbed(args.testbed, scenario) as testbed:
            run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="dpsim-run-"))
            temporary = None if args.run_dir else run_dir
            result = launch(scenario, options, testbed, run_dir, timeout_s=args.timeout, extra_meta=testbed.info)
            if temporary is not None:  # a temporary folder is kept only when a run fails (its records)
                shutil.rmtree(temporary, ignore_errors=True)
                temporary = None
        if args.out:
            write_jsonl(args.out, [result], append=True)
        print(json.dumps(result.flat(), sort_keys=True))
    except (ScenarioError, RootRequired, RankFailure, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, RankFailure) else 1
    except Stopped as exc:  # Ctrl-C, kill, a closed terminal: the ranks are gone, no record written
        if temporary is not None:  # named by nothing (a failed run's folder is named in its error)
            shutil.rmtree(temporary, ignore_errors=True)
        print(f"error: stopped by {exc.name}", file=sys.stderr)
        return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
