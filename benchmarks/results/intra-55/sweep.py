"""Every given stored group priced again in one process: ``validate_emulated.py --reuse GROUP --refit --breakdown``,
each group's output to ``OUT/NAME.txt`` (NAME: the group's folder, ``/all`` as ``_all``), for ``../intra-54/groups.py``.

    PYTHONPATH=. python benchmarks/results/intra-55/sweep.py OUT benchmarks/results/validation-2026-12-07-c/all ...
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as validate


def name_of(group: str) -> str:
    path = Path(group)
    return f"{path.parent.name}_{path.name}" if path.name in ("all", "R1") else path.name


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for group in sys.argv[2:]:
        text = io.StringIO()
        sys.argv = ["validate_emulated.py", "--reuse", group, "--refit", "--breakdown"]
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text), contextlib.suppress(SystemExit):
            validate.main()
        (out / f"{name_of(group)}.txt").write_text(text.getvalue())


if __name__ == "__main__":
    main()
