"""What ``compute.step_overhead`` would do on stored run sets whose profiles lack it (a what-if, not a validation).

Per group (a folder with ``runs.jsonl`` and ``profile.yaml``; ``GROUP=PROFILE`` to price it with another profile),
the step MAPE of both engines from ``benchmarks/validate_emulated.py --reuse GROUP --profile P`` with the profile as
stored and with ``compute.step_overhead`` set to each given value (written to a temporary copy). The values are
chosen by hand, so this is no held-out test: the term's own test is a calibration that measures it.

    python benchmarks/results/calib-54/what_if.py --values "0.6 ms" "2.6 ms" GROUP ..., e.g.
        benchmarks/results/validation-2026-12-07-g/all ...
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def mape(group: Path, profile: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "validate_emulated.py"),
            "--reuse",
            str(group),
            "--profile",
            str(profile),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    found = re.findall(r"^MAPE step time \((\w+)\): ([0-9.]+) % .*worst case ([0-9.]+) %", out, re.MULTILINE)
    return "  ".join(f"{engine} {value} % (worst {worst})" for engine, value, worst in found)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--values", nargs="+", default=["0.6 ms", "2.6 ms"])
    p.add_argument("groups", nargs="+")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.groups:
            group, _, given = spec.partition("=")
            profile = Path(given or Path(group) / "profile.yaml")
            print(f"{spec}: stored          {mape(Path(group), profile)}", flush=True)
            data = yaml.safe_load(profile.read_text(encoding="utf-8"))
            for value in args.values:
                data.setdefault("compute", {})["step_overhead"] = value
                edited = Path(tmp) / "profile.yaml"
                edited.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                print(f"{spec}: step_overhead {value:>6}  {mape(Path(group), edited)}", flush=True)


if __name__ == "__main__":
    main()
