"""Pooled calibrations across sessions, tested forward in time on the stored fresh draws (issue 10, stop 50; no root).

Each fresh group G (fresh45-49) is priced from calibrations made before its runs, never from its runs:

- ``i``: G's own first (defaults) calibration as stored (``validate_emulated.py --reuse G/all``);
- ``i-refit``: the same calibration's links fitted again by the current code (``--reuse G/all --refit``);
- ``ii``: the previous group's calibrations (W1, CAL2, CAL3 where stored) pooled, its W1 first;
- ``iii``: every earlier group's calibrations pooled, the latest W1 first; calibrations ``pool_problem`` refuses
  beside that first one (fresh44's profiles have no slowest-rank host maps) are left out and counted;
- ``v``: G's own W1 with the previous group's calibrations pooled (what a ``--pool`` of the old sessions beside a new
  calibration gives); ``vi``: G's own W1 with every compatible earlier calibration;
- ``own``: G's own calibrations pooled (same session: W1 + CAL2 (+ CAL3)), for reference.

A pool is ``validate_emulated._refit`` over the calibrations' folders (profile.yaml + calibration-bench.json), as
``--reuse … --refit --pool`` fits it, written to a temporary folder and priced with ``--reuse G/all --profile``
(no ``--refit`` there: it would fit the links on G's own calibration records). Both engines are printed.

    PYTHONPATH=. python benchmarks/results/pool-forward-2026-12-07/forward.py [OPTION...] [--save DIR]

``--save DIR`` also writes the pools a next group (fresh50) is priced with: ``DIR/prev.yaml`` (fresh49's W1 + CAL2)
and ``DIR/earlier.yaml`` (every compatible calibration of fresh45-49, fresh49's W1 first).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.validate_emulated import _refit
from dpsim.calibration import load_profile
from dpsim.errors import ScenarioError
from runtime.calibrate import pool_problem

RESULTS = Path(__file__).resolve().parents[1]
GROUPS = (("fresh44", "validation-2026-12-06-q"), ("fresh45", "validation-2026-12-06-r"),
          ("fresh46", "validation-2026-12-07-a"), ("fresh47", "validation-2026-12-07-b"),
          ("fresh48", "validation-2026-12-07-c"), ("fresh49", "validation-2026-12-07-d"))  # fmt: skip
OPTIONS = ("i", "i-refit", "ii", "iii", "v", "vi", "own")
MAPE = re.compile(r"MAPE step time \((\w+)\): ([0-9.]+) % over \d+ configurations \(per repeat: ([^)]*)\), "
                  r"worst case ([0-9.]+) %")  # fmt: skip


def calibrations(folder: str) -> list[Path]:
    """A group's calibration folders, in the order they were measured: W1 (``all``), CAL2, CAL3 (where stored)."""
    return [
        RESULTS / folder / c
        for c in ("all", "CAL2", "CAL3")
        if (RESULTS / folder / c / "calibration-bench.json").is_file()
    ]


def compatible(folders: list[Path]) -> tuple[list[Path], int]:
    """The folders ``pool_problem`` accepts beside the first one, and how many it refused."""
    first = load_profile(folders[0] / "profile.yaml")
    kept = [f for f in folders[1:] if pool_problem(first, load_profile(f / "profile.yaml")) is None]
    return [folders[0], *kept], len(folders) - 1 - len(kept)


def pooled(folders: list[Path], out: Path) -> Path | str:
    """The folders' calibrations pooled (the first one's profile refitted over every record), or why not."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _refit(folders[0] / "profile.yaml", folders[0] / "calibration-bench.json", out, out, folders[1:])
    except ScenarioError as exc:
        return "refused: " + exc.one_line().replace(f"{RESULTS}/", "")


def score(target: str, profile: Path | str | None, refit: bool = False) -> str:
    """validate_emulated's step MAPE on ``target``'s runs with ``profile`` (None: the folder's own)."""
    if isinstance(profile, str):
        return profile
    cmd = [sys.executable, str(RESULTS.parent / "validate_emulated.py"), "--reuse", str(RESULTS / target / "all")]
    cmd += ["--profile", str(profile)] if profile is not None else []
    cmd += ["--refit"] if refit else []
    env = {**os.environ, "PYTHONPATH": str(RESULTS.parents[1])}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    found = {m.group(1): m for m in MAPE.finditer(run.stdout)}
    if set(found) != {"analytic", "sim"}:
        return "failed: " + (run.stderr or run.stdout).strip().splitlines()[-1]
    beyond = 0
    for line in run.stdout.splitlines():  # table rows end with the two engines' step errors (%)
        cells = line.split()
        if "nodes=" in line and len(cells) > 2 and re.fullmatch(r"-?[0-9.]+", cells[-1]):
            beyond += abs(float(cells[-1])) > 8
    a, s = found["analytic"], found["sim"]
    return f"{a.group(2)} % (per repeat {a.group(3)}; worst {a.group(4)} %; beyond 8 %: {beyond}; sim {s.group(2)} %)"


def main() -> None:
    args = sys.argv[1:]
    save = None
    if "--save" in args:
        at = args.index("--save")
        save, args = Path(args[at + 1]), args[:at] + args[at + 2 :]
    chosen = args or list(OPTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        for k, (group, folder) in enumerate(GROUPS[1:], start=1):
            previous = calibrations(GROUPS[k - 1][1])
            earlier = [c for _, e in reversed(GROUPS[:k]) for c in calibrations(e)]
            own_w1 = RESULTS / folder / "all"
            rows: dict[str, str] = {}
            if "i" in chosen:
                rows["i own W1"] = score(folder, None)
            if "i-refit" in chosen:
                rows["i own W1, --refit"] = score(folder, None, refit=True)
            if "ii" in chosen:
                rows[f"ii previous pooled ({len(previous)})"] = score(folder, pooled(previous, Path(tmp, group, "ii")))
            if "iii" in chosen:
                kept, refused = compatible(earlier)
                rows[f"iii earlier pooled ({len(kept)}; {refused} refused)"] = score(
                    folder, pooled(kept, Path(tmp, group, "iii")))  # fmt: skip
            if "v" in chosen:
                rows["v own W1 + previous pooled"] = score(folder, pooled([own_w1, *previous], Path(tmp, group, "v")))
            if "vi" in chosen:
                kept, refused = compatible([own_w1, *earlier])
                rows[f"vi own W1 + earlier pooled ({len(kept) - 1}; {refused} refused)"] = score(
                    folder, pooled(kept, Path(tmp, group, "vi")))  # fmt: skip
            if "own" in chosen:
                rows["own session pooled"] = score(folder, pooled(calibrations(folder), Path(tmp, group, "own")))
            for name, value in rows.items():
                print(f"{group} {name}: {value}", flush=True)
    if save is not None:
        last = [c for _, e in reversed(GROUPS) for c in calibrations(e)]
        for name, folders in (("prev", calibrations(GROUPS[-1][1])), ("earlier", compatible(last)[0])):
            made = pooled(folders, save / name)
            assert isinstance(made, Path), made
            made.replace(save / f"{name}.yaml")
            (save / name).rmdir()
            print(f"wrote {save / name}.yaml from {', '.join(str(f.relative_to(RESULTS)) for f in folders)}")


if __name__ == "__main__":
    main()
