"""Execute the example notebooks, so they cannot rot.

Add a notebook by appending its path (relative to the repository root) to ``NOTEBOOKS``.
The kernel is this interpreter (the project's virtual environment), whatever ``python3``
kernelspec the machine has installed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS: list[str] = [
    "notebooks/what_if.ipynb",
    "notebooks/capacity_planning.ipynb",
    "notebooks/validation.ipynb",
]
"""Notebooks executed by this test (paths relative to the repository root)."""

TIMEOUT_S = 300
"""Per-cell timeout."""


def _kernel_manager() -> Any:
    """A kernel manager that starts ``sys.executable -m ipykernel_launcher`` (the venv's python)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python ({sys.executable})",
                language="python",
                name=kernel_name,
            )

    return KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs(notebook: str) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = ROOT / notebook
    nb = nbformat.read(path, as_version=4)
    km = _kernel_manager()
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # cleanup_kc: nbclient shuts down only kernels it started itself; given our manager it would leave
    # the kernel running and its client's channel threads and zmq sockets alive in this process
    client.execute(cleanup_kc=True)
    assert not km.has_kernel and client.kc is None
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    images = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, "the notebook is expected to draw plots"
