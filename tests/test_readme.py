"""README.md names only what exists: its code names import, its scripts and tests are files, its tests are defined,
and each ``dpsim COMMAND ... --option`` it shows is an option of that command.

Stop 46's review found four code names the README still gave after the code had moved or gone
(``dpsim.sim.simulate.group_degraded_nodes`` among them); this keeps the next rename from leaving a stale pointer.
What the README names on a tried branch, or as another project's file, is listed below with why.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

ON_BRANCHES = {
    "dpsim.buckets.overlapped_ready": "tried on branch calib38-ready, not landed",
    "runtime.calibrate.fit_comm_efficiency_loss": "removed at stop 41, named in the history of the host term",
}
"""Dotted names the README gives for code that is not on main, each with where it is."""

NOT_OURS = {
    "benchmarks/NAME.py": "the README's placeholder for any benchmark script",
    "benchmarks/memory_moments_tried.py": "on branch mem38-moments (tried, not landed)",
    "benchmarks/pipeline_memory_timeline.py": "on branch pub41-pptimeline (read, not landed)",
    "benchmarks/benchmark_causal.py": "flash-attention's benchmark",
    "benchmarks/benchmark_flash_attention.py": "flash-attention's benchmark",
    "benchmarks/asyncTP_llama3_h100_2025-06_torchtitan.md": "torchtitan's benchmark file",
    "benchmarks/llama3-8b_h200_202506_trainy-whitefiber.md": "torchtitan's benchmark file",
    "benchmarks/llama3_h100_202412_torchtitan.md": "torchtitan's benchmark file",
}
"""Paths under benchmarks/ or tests/ the README names that are not files of this repository, each with what it is."""


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@pytest.mark.parametrize("package", ["dpsim", "runtime"])
def test_every_code_name_in_backticks_imports(package: str) -> None:
    if package == "runtime":
        pytest.importorskip("torch")
    names = set(re.findall(rf"`({package}(?:\.[A-Za-z_][A-Za-z0-9_]*)+)", README)) - set(ON_BRANCHES)
    assert len(names) > 20
    assert sorted(n for n in names if not _resolves(n)) == []


def test_the_names_on_branches_are_still_off_main() -> None:
    """Once one lands, its entry goes (and the README says where it lives)."""
    assert [n for n in ON_BRANCHES if _resolves(n)] == []


def test_every_script_and_test_file_it_names_exists() -> None:
    paths = set(re.findall(r"\b((?:benchmarks|tests)/[A-Za-z0-9_.-]+\.(?:py|md|txt))\b", README))
    assert len(paths) > 30
    assert sorted(p for p in paths - set(NOT_OURS) if not (ROOT / p).is_file()) == []
    assert sorted(p for p in NOT_OURS if (ROOT / p).exists()) == []


def test_every_test_it_names_is_defined() -> None:
    """``tests/FILE.py::NAME`` (a line break after ``::`` allowed; ``NAME_*`` stands for several)."""
    text = re.sub(r"::\s*\n\s*", "::", README)
    named = set(re.findall(r"(tests/[a-z_0-9]+\.py)::([A-Za-z_0-9]+)(\*?)", text))
    assert len(named) > 10
    missing = []
    for path, name, star in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        pattern = rf"(def|class) {re.escape(name)}" + ("" if star else r"\b")
        if not re.search(pattern, source):
            missing.append(f"{path}::{name}{star}")
    assert sorted(missing) == []


def test_every_option_it_shows_a_command_take_is_one_of_that_command() -> None:
    """``dpsim COMMAND ... --option`` inside one pair of backticks (or a line of a code block)."""
    import typer.main

    from dpsim.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    options = {name: {o for p in command.params for o in p.opts} | {"--help"} for name, command in commands.items()}
    shown = re.findall(rf"dpsim ({'|'.join(options)})((?: [^`\n]*)?)", README)
    assert len(shown) > 50
    unknown = {  # up to the next command on the same line (the contract's usage lines hold several)
        (command, o) for command, rest in shown for o in re.findall(r"(--[a-z][a-z0-9-]*)", rest.split("dpsim ")[0])
    }
    assert sorted((c, o) for c, o in unknown if o not in options[c]) == []


def test_every_option_it_gives_a_benchmark_script_is_one_the_script_takes() -> None:
    """``benchmarks/NAME.py --option`` (in one pair of backticks or a table cell): the option is in the script."""
    shown = re.findall(r"benchmarks/([a-z_0-9]+)\.py((?: [^`|\n]*)?)", README)
    assert len(shown) > 30
    unknown = set()
    for stem, rest in shown:
        script = ROOT / "benchmarks" / f"{stem}.py"
        if not script.is_file():
            continue  # named in NOT_OURS (test_every_script_and_test_file_it_names_exists)
        source = script.read_text(encoding="utf-8")
        unknown |= {(stem, o) for o in re.findall(r"(--[a-z][a-z0-9-]*)", rest.split("python ")[0]) if o not in source}
    assert sorted(unknown) == []


NOT_FIELDS = {
    "PATH": "the usage line's placeholder",
    "S.preset": "the placeholder for any section with a preset",
    "calibration.foo": "the example of an unknown key and its error",
    "training.recompute": "the example of a key typed with another ending (did-you-mean)",
}
"""Paths the README gives to ``--set`` that are not fields of a scenario, each with why."""


def _field_path(path: str) -> bool:
    """Whether ``path`` (dots, list indices as numbers) names a field of :class:`dpsim.scenario.Scenario`, or a list
    item, or a section (the sections read a preset by name: ``--set model=llama2-7b``)."""
    import types
    import typing

    from pydantic import BaseModel

    from dpsim.scenario import Scenario

    def inner(annotation: Any) -> list[Any]:  # the types a field's value may take, Annotated and Optional unwrapped
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            return inner(typing.get_args(annotation)[0])
        if origin in (typing.Union, types.UnionType):
            return [t for a in typing.get_args(annotation) for t in inner(a)]
        return [annotation]

    kinds: list[Any] = [Scenario]
    for part in path.split("."):
        found: list[Any] = []
        for kind in kinds:
            if typing.get_origin(kind) in (list, tuple) and part.isdigit():
                found += [t for a in typing.get_args(kind) if a is not Ellipsis for t in inner(a)]
            elif isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields:
                found += inner(kind.model_fields[part].annotation)
        if not found:
            return False
        kinds = found
    return True


def test_every_path_it_gives_to_set_is_a_field_of_a_scenario() -> None:
    """``--set PATH=VALUE`` (quoted or not): PATH resolves against the scenario's sections and fields, so a renamed or
    moved field cannot leave a README command that fails with ``unknown key``."""
    paths = set(re.findall(r"--set ['\"]?([A-Za-z_][A-Za-z0-9_.]*)=", README))
    assert len(paths) > 25
    assert sorted(p for p in paths - set(NOT_FIELDS) if not _field_path(p)) == []
    assert sorted(p for p in NOT_FIELDS if _field_path(p)) == []


FIGURES: dict[str, tuple[str, ...]] = {
    "bigscience_micro_batch": (
        "micro-batch 1 / 2: measured 1.069 / 1.067, predicted 1.059 / 1.057 (PP 12 / DP 4, PP 6 / DP 8); 4 / 2: "
        "measured 0.923 / 0.927, predicted 0.995",
    ),
    "efa_tree_rails": (
        "series: dpsim 42.7 / 59.9 % (median / max), serial 5.0 / 18.3 % (7 of 11 within 10 %), rails 13.1 / 24.5 %",
    ),
    "nccl_tests_curves": (
        "≥ 16 MiB: A100 3 nodes 2 / 9 %, H100 p5 7 / 28 %",
        "< 64 KiB p5 on EFA 13 / 36 %",
    ),
    "nccl_tests_table": (
        "19 of 24 core configurations within 10 %",
        "H200 248 nodes −15.6 %",
        "the 2080 Ti all-reduce +0.0 %, broadcast +8.2 % and the switch node's `NCCL_P2P_LEVEL=SYS` row +2.0 %",
        "alltoall +9.5 %, +13.5 %",
    ),
    "nccl_tests_heldout": ("36 of 106 results compiled after the model was built, worst 71.5 %",),
    "p5_series": (
        "ring/Simple 1.8 / 2.6 %, ring/LL128 2.6 / 9.5 %",
        "tree/LL128 42.7 / 59.9 %",
        "on 2 nodes (NCCL's own pick) 4.7 / 28.0 %",
        "29 of 45 within 10 %",
        "ring/LL128 3.6 / 19.3 %",
        "ring/Simple 17.2 / 45.4 %, 21 of 35 within 10 %",
        "median / max 27.2 / 136.3 %, every point above, 1 of 35 within 10 %",
    ),
    "sac_kept": ("dpsim's `op` count 6.016",),
    "fsdp2_layer_sync": ("per-layer CV for the residual: fsdp2 19.3 %, barrier 4.1 %, closed 4.1 %, dpsim 4.1 %",),
}
"""README claims that a cheap, offline script prints (its row of the benchmarks table, the summary at the top, a
section's paragraph): script stem → the README's words, each claim quoted as it stands (whitespace aside). Only what
the script prints *now*: a row's history ("7 / 26 % before the ring's wave") is left out of the claims."""


def printed_figures(claim: str) -> list[str]:
    """The figures of ``claim`` that the script must print, each as a regular expression over its output: every
    decimal (``1.069``), a signed percentage with its sign (``+8.2 %``, ``−15.6 %``: ``+8.2%`` or ``-15.6 %``), a
    whole-number median / max pair (``7 / 27 %``) and a count (``28 of 45``), the last two word for word."""
    figures = [rf"(?<![\d.]){re.escape(d)}(?![\d])" for d in re.findall(r"\d+\.\d+", claim)]
    for sign, number in re.findall(r"([+−-])(\d+\.\d+) %", claim):
        figures.append(rf"{re.escape('-' if sign == '−' else sign)}{re.escape(number)} ?%")
    figures += [rf"(?<![\d.]){a} / {b} %" for a, b in re.findall(r"(?<![\d.])(\d+) / (\d+) %", claim)]
    figures += [rf"(?<![\d.]){a} of {b}(?![\d])" for a, b in re.findall(r"(?<![\d.])(\d+) of (\d+)(?![\d])", claim)]
    return figures


def test_the_figure_rules_catch_a_moved_figure() -> None:
    """Each rule of :func:`printed_figures` fails on a figure the script no longer prints, and holds on the same
    figure printed (the claims' own forms)."""
    out = "ring/LL128   2.3% /  10.3%\n  H200  -15.6%\n  2 / 9 % (17)\nwithin 10 %: 28 of 45\n"
    for claim, holds in (
        ("ring/LL128 2.3 / 10.3 %", True),
        ("ring/LL128 2.3 / 10.4 %", False),
        ("H200 −15.6 %", True),
        ("H200 +15.6 %", False),
        ("A100 2 / 9 %", True),
        ("A100 2 / 8 %", False),
        ("28 of 45 within 10 %", True),
        ("8 of 45 within 10 %", False),
    ):
        assert all(re.search(f, out) for f in printed_figures(claim)) is holds, claim


@pytest.mark.parametrize("stem", sorted(FIGURES))
def test_the_figures_it_quotes_are_what_the_script_prints(stem: str) -> None:
    """The README quotes each claim word for word, and every figure in it (:func:`printed_figures`) is one the script
    prints now (``PYTHONPATH=. python benchmarks/STEM.py``): a change that moves a figure fails here until the README
    says so."""
    import subprocess
    import sys

    text = re.sub(r"\s+", " ", README)
    assert [claim for claim in FIGURES[stem] if claim not in text] == []
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{stem}.py")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    missing = [(claim, f) for claim in FIGURES[stem] for f in printed_figures(claim) if not re.search(f, run.stdout)]
    assert missing == []
