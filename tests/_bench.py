"""Load a script of ``benchmarks/`` (not a package) as a module, for the tests that check it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(stem: str, name: str | None = None) -> ModuleType:
    """``benchmarks/<stem>.py`` executed as module ``name`` (default ``stem``), registered in ``sys.modules`` before it
    runs: dataclasses look their module up while the class is built. A distinct ``name`` gives a second copy."""
    name = name or stem
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def assert_one_line_and_status_2(main: Callable[[list[str]], int], argv: list[str], message: str, capsys: Any) -> None:
    """``main(argv)`` (a script's; argparse's usage errors included) exits 2 with one line on stderr holding
    ``message`` and no traceback."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors (one line through script_cli.Parser)
        status = int(exc.code or 0)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, (status, err)
