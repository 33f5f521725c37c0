"""What the stored groups' training steps say about the optimizer fit's idle wait (``OPTIMIZER_IDLE_S``, stop 50).

emu's three alternating pairs on the quiet host (``validation-2026-12-07-d/terms-optimizer-idle.txt``) put the fit
with the 0.2 s wait at +2.2 / +2.6 / +3.1 % over the fit without it. Every stored fresh profile (fresh44-49, 14
calibrations, all timed without the wait) is priced twice on its own group's runs: as stored, and with its optimizer
fit (fixed and per-parameter) × ``SCALE`` (the wait's median effect), both engines, ``validate_emulated.py --reuse
G/P --profile COPY`` (no root).

    PYTHONPATH=. python benchmarks/results/pool-forward-2026-12-07/idle_whatif.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1]
GROUPS = (("fresh44", "validation-2026-12-06-q"), ("fresh45", "validation-2026-12-06-r"),
          ("fresh46", "validation-2026-12-07-a"), ("fresh47", "validation-2026-12-07-b"),
          ("fresh48", "validation-2026-12-07-c"), ("fresh49", "validation-2026-12-07-d"))  # fmt: skip
SCALE = 1.026
FIT = re.compile(r"^(  (?:fixed|per_parameter): )([0-9.eE+-]+) (\S+)$")
MAPE = re.compile(r"MAPE step time \((\w+)\): ([0-9.]+) % over \d+ configurations .*worst case ([0-9.]+) %")


def scaled(text: str, scale: float) -> str:
    """The profile's text with the two lines under ``optimizer:`` (its fit) × ``scale``."""
    head, sep, rest = text.partition("\noptimizer:\n")
    lines = rest.split("\n")
    for i in (0, 1):
        match = FIT.match(lines[i])
        assert match is not None, lines[i]
        lines[i] = f"{match.group(1)}{float(match.group(2)) * scale!r} {match.group(3)}"
    return head + sep + "\n".join(lines)


def mape(folder: Path, profile: Path) -> str:
    cmd = [
        sys.executable,
        str(RESULTS.parent / "validate_emulated.py"),
        "--reuse",
        str(folder),
        "--profile",
        str(profile),
    ]
    env = {**os.environ, "PYTHONPATH": str(RESULTS.parents[1])}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False).stdout
    found = {m.group(1): m for m in MAPE.finditer(out)}
    return (
        " / ".join(f"{found[e].group(2)}" for e in ("analytic", "sim")) + f" % (worst {found['analytic'].group(3)} %)"
    )


with tempfile.TemporaryDirectory() as tmp:
    for group, name in GROUPS:
        for part in ("all", "all-cal2", "all-cal3"):
            folder = RESULTS / name / part
            if not (folder / "runs.jsonl").is_file():
                continue
            text = (folder / "profile.yaml").read_text()
            cells = []
            for scale in (1.0, SCALE):
                copy = Path(tmp, f"{group}-{part}-{scale}.yaml")
                copy.write_text(text if scale == 1.0 else scaled(text, scale))
                cells.append(f"x{scale:g}: {mape(folder, copy)}")
            print(f"{group} {part}: " + " | ".join(cells), flush=True)
