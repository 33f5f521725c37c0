"""A stored profile with its links fitted again by this tree's code (as ``validate_emulated.py --refit`` does).

    PYTHONPATH=. python benchmarks/results/intra-55/refit.py PROFILE.yaml BENCH.json OUT.yaml

Then ``../two-a-node-2026-12-07/analyse.py RECORDS OUT.yaml BENCH`` prices stop 50's points with it (``alone.txt``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.validate_emulated import _refit

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        fitted = _refit(Path(sys.argv[1]), Path(sys.argv[2]), Path(tmp), None)
        Path(sys.argv[3]).write_text(fitted.read_text())
