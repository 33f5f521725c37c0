"""What a dpsim module imports at run time, read from its source (the layering tests' one reader)."""

from __future__ import annotations

import ast
from pathlib import Path


def runtime_imports(module: str) -> set[str]:
    """The modules ``module`` (a file of dpsim) imports at load or inside a function, ``TYPE_CHECKING`` blocks left
    out; a package's submodule by its full name (``from dpsim.analytic import collectives``)."""
    path = Path(__file__).resolve().parents[1] / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            package = node.module in ("dpsim", "dpsim.analytic", "dpsim.sim")
            found |= {f"{node.module}.{alias.name}" if package else node.module for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found
