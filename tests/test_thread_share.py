"""``benchmarks/thread_share.py``: the scheduler's account of a rank's threads over the overlap window."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.testbed.emulated import RootRequired, dpsim_namespaces, require_root

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import thread_share

ROOT = Path(__file__).resolve().parents[1]
try:
    require_root()
    _why = ""
except RootRequired as exc:
    _why = str(exc)


def _probe(t: float, threads: dict[str, list[int]], softirq_ns: int, host: list[int]) -> dict[str, Any]:
    return {"t": t, "threads": threads, "softirqd_ns": softirq_ns, "host": host}


def _rank() -> dict[str, Any]:
    # rank 0 is pid 10 (main thread 10/10, gloo's loop 10/11), rank 1 is pid 20; a 40 ms window
    ms = 1_000_000
    start = _probe(1.000, {"10/10": [100 * ms, 50 * ms, 7], "10/11": [5 * ms, 1 * ms, 100],
                           "20/20": [90 * ms, 40 * ms, 5]}, 3 * ms, [10, 0, 5, 100, 0, 0, 1, 0])  # fmt: skip
    end = _probe(1.040, {"10/10": [118 * ms, 70 * ms, 19], "10/11": [9 * ms, 13 * ms, 160],
                         "20/20": [110 * ms, 55 * ms, 9]}, 5 * ms, [13, 0, 8, 101, 0, 0, 2, 0])  # fmt: skip
    marks = {p: start for p in thread_share.POINTS}
    marks["compute_end"] = end
    return {"pid": 10, "names": {"10/10": "python", "10/11": "gloo_tcp_loop", "20/20": "python"},
            "warmup_steps": 0, "steps": [{"step": 0, "marks": marks}]}  # fmt: skip


def test_the_window_splits_the_backward_threads_wall_time_and_names_the_busiest_other_thread() -> None:
    w = thread_share.window(_rank(), _rank()["steps"][0])
    # hand-computed: 40 ms wall; main thread 18 ms on a core, 20 ms waiting, so 2 ms blocked
    assert w["wall"] == pytest.approx(0.040)
    assert w["main_cpu"] == pytest.approx(0.018) and w["main_wait"] == pytest.approx(0.020)
    assert w["main_blocked"] == pytest.approx(0.002)
    assert w["main_slices"] == 12
    # gloo's loop: 4 ms on a core + 12 ms waiting = runnable 16 ms, put on a core 60 times
    assert w["own_busiest"] == "gloo_tcp_loop" and w["own_busiest_cpu"] == pytest.approx(0.004)
    assert w["own_busiest_runnable"] == pytest.approx(0.016) and w["own_busiest_slices"] == 60
    assert w["other_ranks_cpu"] == pytest.approx(0.020) and w["softirqd_cpu"] == pytest.approx(0.002)
    # /proc/stat: 3 user + 3 system + 1 idle + 1 softirq ticks
    assert w["host_ticks"] == 8 and w["host_busy_ticks"] == 7 and w["host_softirq_ticks"] == 1


def test_summary_counts_what_the_ranks_used_of_the_cores() -> None:
    s = thread_share.summarise([_rank()])
    # (18 + 4 + 20 + 2) ms over a 40 ms window: 1.1 cores
    assert s["ranks_cores"] == pytest.approx(1.1)
    assert s["windows"] == 1


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.skipif(bool(_why), reason=_why)
def test_a_two_rank_run_accounts_for_the_backward_thread_and_leaves_no_namespace(tmp_path: Path) -> None:
    """Each run's account must hold; the busiest other thread is the mode over the 4 windows of each thread with
    the most time on a core, and on a loaded host gloo's loop can get no core in a window while the rank's other
    gloo thread runs (measured with 3 busy loops beside it: 0.01 ms against 0.15): the run is made again, up to
    8 times (a run takes ~6 s), until the mode is gloo's loop. With 3 tries, a fresh-clone CI at stop 45 saw
    ``pt_gloo_runloop`` as the mode three times in a row while the same test alone passed at its first try.
    The namespaces carry a prefix of this test's own, so another emulated cluster set up meanwhile (by a
    benchmark beside the tests) is not taken for one left behind."""
    from tests._proc import run

    prefix = f"ts{os.getpid()}-"
    for attempt in range(8):
        out = tmp_path / f"run{attempt}"
        proc = run(
            [sys.executable, "benchmarks/thread_share.py", "--rates", "100", "--buckets", "default", "--steps", "2",
             "--out", str(out)],
            timeout=240, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "DPSIM_NETNS_PREFIX": prefix},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert dpsim_namespaces(prefix) == []
        (line,) = (out / "windows.jsonl").read_text().splitlines()
        got = json.loads(line)
        assert (got["nodes"], got["rate"], got["buckets"]) == (2, "100", "default")
        s = got["summary"]
        assert s["windows"] == 4 and s["wall"] > 0 and s["main_cpu"] > 0  # 2 ranks x 2 measured steps
        assert 0 < s["main_cpu"] / s["wall"] <= 1.2  # the backward thread is the rank's main thread, found
        if s["own_busiest"] == "gloo_tcp_loop":
            break
    # with bucket 0 in flight, the rank's other busy thread is gloo's TCP loop (torch 2.13's name for it)
    assert s["own_busiest"] == "gloo_tcp_loop" and s["own_busiest_cpu"] > 0
