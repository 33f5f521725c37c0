"""The critical rank's compute against its own CPU time, and that CPU time against the profile's (calib, stop 53).

For every stored run of the given validation groups (a folder with ``runs.jsonl``, ``profile.yaml`` and, where the
set is not the default, ``summary.json``), runs without a straggler and with more ranks than the host's 2 cores:

- ``wall/(cpu·k/C)``: the critical rank's compute (``per_rank_compute_s``) over its thread's CPU time over it
  (``per_rank_compute_cpu_s``) times processor sharing, k/C (C = 2): 1 where the critical rank ends when the cores
  have done its work at an even share;
- ``cpu/alone``: that CPU time over the profile's compute of the case before the host's slowdown (the analytic
  engine's forward + backward of the critical rank × accumulation / ``Profile.host_slowdown``), beside
  ``1 + ε(k − 1)``, what the profile prices for it.

Printed per group and pooled, by ranks a node, and by accumulation and overlap (the first micro-batch after the
synchronisation), and the CPU excess in ms per (accumulation, parameters, micro-batch). No measurement; seconds.

    PYTHONPATH=. python benchmarks/results/calib-53/critical_cpu.py benchmarks/results/validation-2026-12-07-g/all ...
"""

from __future__ import annotations

import collections
import json
import statistics as st
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.analytic.step import predict
from dpsim.calibration import load_profile
from dpsim.scenario import CalibrationRef
from runtime.validate import build_cases


def rows(group: Path, scenario: Path) -> list[dict[str, float]]:
    summary = group / "summary.json"
    case_set = (json.loads(summary.read_text()).get("case_set") if summary.exists() else None) or "default"
    cases = build_cases(scenario, [], ve.CASE_SETS[case_set])
    runs = [json.loads(line) for line in (group / "runs.jsonl").read_text().splitlines() if line.strip()]
    runs = [r for r in runs if r["engine"] == "runtime"]
    repeats = len(runs) // len(cases)
    profile = load_profile(group / "profile.yaml")
    loss = profile.host_model.efficiency_loss if profile.host_model is not None else 0.0
    out = []
    for index, case in enumerate(cases):
        s = case.scenario.model_copy(deep=True)
        s.calibration = CalibrationRef(profile=str(group / "profile.yaml"))
        k = s.world_size
        if s.variability.stragglers or k <= 2:
            continue
        a = predict(s)
        alone = (a.extra["forward_s"] + a.extra["backward_s"]) * s.accumulation_steps / profile.host_slowdown(s)
        for r in runs[index * repeats : (index + 1) * repeats]:
            e = r["extra"]
            crit = str(e["critical_rank"])
            cpu, wall = e["per_rank_compute_cpu_s"][crit], e["per_rank_compute_s"][crit]
            out.append({
                "k": k, "per_node": s.cluster.workers_per_node, "acc": s.accumulation_steps,
                "overlapped": s.communication.overlap and a.extra["buckets"] > 1,
                "params": s.model.num_parameters, "micro_batch": s.training.micro_batch,
                "sharing": wall / (cpu * k / 2), "cpu_alone": cpu / alone, "eps": 1 + loss * (k - 1),
                "excess_ms": (cpu - alone * (1 + loss * (k - 1))) * 1e3,
            })  # fmt: skip
    return out


def line(name: str, sel: list[dict[str, float]]) -> str:
    if not sel:
        return f"{name}: none"
    med = {key: st.median(x[key] for x in sel) for key in ("sharing", "cpu_alone", "eps")}
    over = st.median(x["cpu_alone"] / x["eps"] for x in sel)
    return (f"{name}: n {len(sel)}  wall/(cpu·k/C) {med['sharing']:.2f}  cpu/alone {med['cpu_alone']:.2f}  "
            f"1+ε(k−1) {med['eps']:.2f}  cpu/alone over it {over:.3f}")  # fmt: skip


def main() -> None:
    scenario = Path(tempfile.mkdtemp()) / "scenario.yaml"
    scenario.write_text(ve.SCENARIO)
    everything = []
    for arg in sys.argv[1:]:
        got = rows(Path(arg), scenario)
        everything += got
        print(line(arg, got))
    print(line("all, one rank a node", [x for x in everything if x["per_node"] == 1]))
    print(line("all, two ranks a node", [x for x in everything if x["per_node"] == 2]))
    for overlapped in (False, True):
        for accs in ((1,), (2, 3, 4, 6, 8)):
            sel = [x for x in everything if x["overlapped"] == overlapped and x["acc"] in accs]
            print(line(f"all, {'overlapped buckets' if overlapped else 'no overlap'}, accumulation {accs}", sel))
    excess: dict[tuple[float, float, float], list[float]] = collections.defaultdict(list)
    for x in everything:
        excess[(x["acc"], x["params"], x["micro_batch"])].append(x["excess_ms"])
    for (acc, params, mb), values in sorted(excess.items()):
        print(f"accumulation {acc:.0f}, {params:.0f} parameters, micro-batch {mb:.0f}: n {len(values)}, "
              f"CPU beyond 1+ε(k−1) median {st.median(values):+.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
