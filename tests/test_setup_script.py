"""scripts/setup.sh installs torch first, pinned, as a CPU build: never PyPI's Linux wheel, which pulls CUDA.

PyPI's ``torch-2.13.0-*-manylinux_2_28_x86_64.whl`` depends on the ``nvidia-*-cu13`` libraries (several GB); a bare
``pip install torch==2.13.0`` got the CPU build only where pip's configuration offered a local ``+cpu`` wheel first.
The script's pip calls run here against a stand-in interpreter that records them (no network, nothing installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _functions() -> str:
    """setup.sh's ``install`` and ``torch_cpu`` functions, as written."""
    text = SETUP.read_text(encoding="utf-8")
    found = [re.search(rf"^{name}\(\) \{{.*?^\}}$", text, re.S | re.M) for name in ("install", "torch_cpu")]
    assert all(found), "setup.sh has no install() / torch_cpu() function"
    return "\n".join(match.group(0) for match in found if match)


def _run_torch_cpu(tmp_path: Path, local_wheel: bool, requires: list[str]) -> tuple[int, list[list[str]], str]:
    """Run ``torch_cpu`` with a stand-in ``py``: pip calls are recorded (``--no-index`` succeeds only with a local
    wheel); the build check runs in this Python against a torch distribution whose requirements are ``requires``."""
    calls = tmp_path / "calls.txt"
    site = tmp_path / "site"
    info = site / "torch-2.13.0.dist-info"
    info.mkdir(parents=True)
    metadata = ["Metadata-Version: 2.1", "Name: torch", "Version: 2.13.0"] + [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    stub = tmp_path / "py"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = - ]; then PYTHONPATH="$SITE" exec "$REAL_PY" -; fi\n'
        'echo "${@:4}" >>"$CALLS"\n'
        'case " $* " in *" --no-index "*) [ "$LOCAL_WHEEL" = 1 ] || exit 1 ;; esac\n',
        encoding="utf-8",
    )
    stub.chmod(0o755)
    script = f"set -euo pipefail\npy={stub}\nlog={tmp_path / 'log'}\n{_functions()}\ntorch_cpu\n"
    env = {**os.environ, "CALLS": str(calls), "SITE": str(site), "REAL_PY": sys.executable,
           "LOCAL_WHEEL": "1" if local_wheel else "0"}  # fmt: skip
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    recorded = [line.split() for line in calls.read_text(encoding="utf-8").splitlines()] if calls.exists() else []
    return done.returncode, recorded, done.stderr


def test_without_a_local_wheel_torch_comes_from_the_cpu_index(tmp_path: Path) -> None:
    """A fresh machine: no wheel in pip's find-links, so the pinned torch from PyTorch's CPU index (it was
    ``pip install torch==2.13.0`` from PyPI: the CUDA build)."""
    code, calls, err = _run_torch_cpu(tmp_path, local_wheel=False, requires=["filelock", "sympy>=1.13.3"])
    assert code == 0, err
    assert calls == [
        ["-q", "--no-index", "--no-deps", "torch==2.13.0"],
        ["-q", "torch==2.13.0", "--index-url", CPU_INDEX],
    ]


def test_a_local_wheel_is_installed_without_an_index(tmp_path: Path) -> None:
    """A machine with a CPU wheel on disk (pip's find-links): that wheel, its dependencies from the index."""
    code, calls, err = _run_torch_cpu(tmp_path, local_wheel=True, requires=["filelock"])
    assert code == 0, err
    assert calls == [["-q", "--no-index", "--no-deps", "torch==2.13.0"], ["-q", "torch==2.13.0"]]


def test_a_cuda_build_stops_the_set_up(tmp_path: Path) -> None:
    """Whatever pip found, a torch that needs NVIDIA's libraries is refused with one line saying what to do."""
    cuda = ['nvidia-nccl-cu13==2.30.7; platform_system == "Linux"', "filelock"]
    code, _, err = _run_torch_cpu(tmp_path, local_wheel=True, requires=cuda)
    assert code == 1
    assert "torch 2.13.0 is a CUDA build (needs nvidia-nccl-cu13==2.30.7)" in err
    assert "error: scripts/setup.sh: pip installed a CUDA build of torch" in err


def test_torch_is_installed_before_dpsim_and_its_extras() -> None:
    """The extras' ``torch>=2.1`` is then already satisfied, so pip never fetches another build of it."""
    text = SETUP.read_text(encoding="utf-8")
    branch = text[text.index('if [ "$mode" = test ]; then') :]
    assert branch.index("torch_cpu") < branch.index('install -e ".[test,runtime,cluster]"')
