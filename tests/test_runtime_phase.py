"""Progress reports inside the timed step cost a ``pwrite``, not a file open (``runtime.measure.PhaseFile``).

Plain DDP against the runtime on the emulated cluster (``benchmarks/plain_ddp.py``, 4×64 MLP, 2
ranks) measured 6.0 vs 8.1 ms a step; 1.3 ms of the runtime's step lay outside every timed
component: the job reported its phase ~4 times a step with ``Path.write_text`` (open, truncate,
write, close: 0.2–0.34 ms each on this VM), once per bucket before its all-reduce started.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from runtime.job import TrainingJob
from runtime.launch import rank_phase
from runtime.measure import PHASE_BYTES


def test_a_steps_phase_reports_open_no_file_and_the_launcher_reads_the_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job: Any = TrainingJob.__new__(TrainingJob)  # only what reporting needs: no process group
    job.run_dir, job.rank, job._phases = tmp_path, 3, None
    opened: list[object] = []
    real_os_open, real_io_open = os.open, io.open
    with monkeypatch.context() as m:
        m.setattr(os, "open", lambda *a, **k: opened.append(a[0]) or real_os_open(*a, **k))
        m.setattr(io, "open", lambda *a, **k: opened.append(a[0]) or real_io_open(*a, **k))
        for step in range(20):
            job._phase(f"step {step} micro-batch 0 compute")
            job._phase(f"step {step} communication (bucket 12)")
            job._phase(f"step {step} optimizer")
    assert len(opened) == 1  # the file is opened once, at the first report (was: 60 opens)
    assert rank_phase(tmp_path, 3) == "step 19 optimizer"  # shorter than the report before it: no leftovers
    job._phase("x" * 1000)
    assert rank_phase(tmp_path, 3) == "x" * PHASE_BYTES
    job._phases.close()
    assert rank_phase(tmp_path, 4) == "starting"  # nothing reported yet
