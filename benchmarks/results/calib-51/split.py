"""Every stored validation group priced twice from its own profile (no root): main's pricing and a variant, and the
step's error split into its terms (compute, exposed communication, optimizer, barrier) on the slowest rank, case by
case, so that a group's change in step MAPE can be put down to a term, an algorithm, a layout and a bucket count.

    PYTHONPATH=. python benchmarks/results/calib-51/split.py VARIANTS GROUP... > OUT.txt

VARIANTS (comma-separated, each beside ``main``): ``paced`` (stop 50's prototype: the paced latency,
``dpsim.analytic.step.with_paced_latency``, at every bucket), ``busy`` (the paced latency once the backward has
ended, the shared host's latency while it runs: ``busy_host_pace``), ``terms`` (branch terms-50-price's
``release_share``, where the code has it), joined with ``+`` (``busy+terms``); ``main`` is the same code with all of
them made the identity. GROUP: a stored validation folder under benchmarks/results (e.g.
validation-2026-12-07-d/all). Analytic engine only (the engines agree on every group).
"""

import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
import dpsim.analytic.step as step
from runtime.launch import JobOptions
from runtime.validate import build_cases, validate

RESULTS = Path(__file__).resolve().parents[1]
TERMS = ("step_time_s", "compute_s", "exposed_comm_s", "optimizer_s", "barrier_s")
PACED = getattr(step, "with_paced_latency", None)
BUSY = getattr(step, "busy_host_pace", None)
RELEASE = getattr(step, "release_share", None)  # branch terms-50-price's


def priced(group: str, variant: str) -> list[dict]:
    """The group's per-case rows (medians over repeats as validate_emulated's table) under ``variant``."""
    folder = RESULTS / group
    parts = set(variant.split("+"))
    if PACED is not None:
        step.with_paced_latency = PACED if parts & {"paced", "busy"} else (lambda fabric, *_: fabric)
    if BUSY is not None:
        step.busy_host_pace = BUSY if "busy" in parts else (lambda *_: None)
    if RELEASE is not None:
        step.release_share = RELEASE if "terms" in parts else (lambda *_: 1.0)
    with tempfile.TemporaryDirectory(prefix="dpsim-split-") as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(ve.SCENARIO)
        case_set = ve._recorded_case_set(folder) or "default"
        cases = build_cases(scenario, [], ve.CASE_SETS[case_set])
        saved = ve._saved_runs(folder, len(cases))
        table, _ = validate(
            cases, Path(tmp) / "out", testbed="emulated", engines=["analytic"], profile=folder / "profile.yaml",
            options=JobOptions(warmup_steps=1, steps=5), repeats=len(saved[0]), work_dir=Path(tmp) / "work",
            measure=lambda index, case, r: saved[index][r], log=lambda line: None,
        )  # fmt: skip
        rows = table.to_dict("records")
        for index, (row, case) in enumerate(zip(rows, cases, strict=True)):
            recorded = saved[index][0].extra.get("bucket_bytes") or []  # the runs' own buckets, else the bucket cap's
            row["buckets"] = len(recorded) or max(
                1, math.ceil(4 * case.scenario.model.parameters / row["bucket_bytes"])
            )
        return rows


def mape(rows: list[dict]) -> float:
    return statistics.mean(abs(r["error_step_time_s_pct"]) for r in rows)


def main() -> None:
    variants, groups = ["main", *(v for v in sys.argv[1].split(",") if v != "main")], sys.argv[2:]
    needs = {"paced": PACED, "busy": BUSY, "terms": RELEASE}
    for variant in variants[1:]:
        for part in variant.split("+"):
            if part not in needs or needs[part] is None:  # main has none: branches calib-51 / calib-51-terms
                print(f"error: variant {part!r}: expected paced, busy or terms (joined with +), each where this "
                      "checkout prices it (paced, busy: branch calib-51; terms: calib-51-terms)",
                      file=sys.stderr)  # fmt: skip
                raise SystemExit(2)
    print(f"variants: {' / '.join(variants)}; per case: algorithm, nodes x per_node, buckets, error of the step %, "
          "and each term's (predicted - measured) ms for each variant")  # fmt: skip
    for group in groups:
        priced_rows = {v: priced(group, v) for v in variants}
        head = " / ".join(f"{mape(priced_rows[v]):.2f}" for v in variants)
        print(f"\n## {group}: step MAPE {head} %")
        print(f"{'#':>2} {'algorithm':>16} {'layout':>6} {'bkts':>4} {'Mbit':>5} "
              + " ".join(f"{t.split('_')[0][:8]:>15}" for t in TERMS))  # fmt: skip
        for i, rows in enumerate(zip(*(priced_rows[v] for v in variants), strict=True)):
            r0 = rows[0]
            layout = f"{r0['ranks'] // r0['per_node']}x{r0['per_node']}"
            cells = []
            for t in TERMS:
                if t == "step_time_s":
                    vals = [f"{r['error_step_time_s_pct']:+.1f}%" for r in rows]
                else:
                    vals = [f"{1e3 * (r[f'predicted_{t}'] - r[f'measured_{t}']):+.1f}" for r in rows]
                cells.append(f"{'/'.join(vals):>15}")
            print(f"{i:2d} {r0['algorithm']:>16} {layout:>6} {r0['buckets']:4d} {r0['link_rate_mbit_s']:5.0f} "
                  + " ".join(cells))  # fmt: skip


if __name__ == "__main__":
    main()
