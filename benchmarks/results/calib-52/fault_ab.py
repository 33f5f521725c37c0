"""The optimizer fit's timed steps, old procedure against new, per step: time and minor page faults (no root).

    PYTHONPATH=. python benchmarks/results/calib-52/fault_ab.py [PAIRS]

Each pair runs two fresh processes, one after the other, with the fit's own settings (sizes 1 / 4 / 16 M, 5 steps
after 1, 960 MiB written and 0.2 s asleep before each): ``old`` is stop 51's procedure (one tensor ``Linear(1, P)``,
glibc's dynamic heap, the wall clock: ``time.perf_counter``), ``new`` this checkout's
``runtime.calibrate.measure_optimizer_fit`` (tensors of 1 M, the heap kept, the thread's CPU clock). Each line: a
size's steps as time/faults, then the fit at 2,362,368 parameters (the validated MLP's) and its residual. The page
fault's price is measured first, as calibrate does.
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def one(mode: str) -> None:
    sys.path.insert(0, str(ROOT))
    import runtime.calibrate as rc
    from dpsim.scenario import default_scenario_path, load_scenario

    scenario = load_scenario(default_scenario_path())
    page_fault = rc.measure_page_fault()
    steps: list[tuple[float, int]] = []
    real = rc.fault_free_time
    rc.fault_free_time = lambda t, f, p: (steps.append((t, f)), real(t, f, p))[1]
    if mode == "old":
        import torch

        rc.keep_heap = lambda: False
        rc.optimizer_fit_module = lambda size: torch.nn.Linear(1, size, bias=False)

        class Wall:
            thread_time = staticmethod(time.perf_counter)
            sleep = staticmethod(time.sleep)

        rc.time = Wall  # the wall clock, as _optimizer_step_time read it until stop 51
    fit, residual = rc.measure_optimizer_fit(scenario, page_fault_s=page_fault)
    for i, size in enumerate((1 << 20, 1 << 22, 1 << 24)):
        cells = " ".join(f"{1e3 * t:.1f}ms/{f}" for t, f in steps[5 * i : 5 * i + 5])
        print(f"{mode} {size:>8} {cells}")
    at = 2362368
    print(f"{mode}: page fault {1e6 * page_fault:.2f} us; fit {1e3 * fit.fixed_s:.2f} ms + "
          f"{1e9 * fit.per_unit_s:.2f} ns; at {at}: {1e9 * fit(at) / at:.2f} ns a parameter; residual "
          f"{100 * residual:.1f} %", flush=True)  # fmt: skip


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        one(sys.argv[2])
        return
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    for _ in range(pairs):
        for mode in ("old", "new"):
            subprocess.run([sys.executable, __file__, "--one", mode], check=True)


if __name__ == "__main__":
    main()
