"""Wire and host apart in the host-bound regime: plain DDP at 1000 Mbit/s, one rank a node (diagnostic; root).

For each rank count (2, 3, 4, 6, 8 by default), ``--repeats`` times round robin, on one emulated cluster per
(ranks, repeat), one rank a node at ``--rate`` Mbit/s, MLP 4×1024, Adam, micro-batch 32, DDP's default buckets:

1. ``plain``: ``benchmarks/plain_ddp.py``'s own worker (the harness, unchanged), its estimator: per step the mean
   over ranks, median over the measured steps.
2. one launch of this file's worker (the same model, data, optimizer and loop as the harness; torch only), four
   modes in turn, each 1 warm-up + ``--steps`` measured, every step after a barrier:
   - ``hook``: plain DDP with a Python comm hook doing what DDP's built-in all-reduce does (divide by the world
     size, ``dist.all_reduce`` async on the bucket's buffer) and recording when each bucket was launched and
     when its future completed: comm in training = first launch → last completion; ``tail_s`` = end of the
     backward − last bucket's launch (the communication left after the last gradient is ready);
   - ``nooverlap``: forward + backward under ``no_sync()`` (no communication), then DDP's buckets (the sizes DDP
     logged, ``rebuilt_bucket_sizes``) all-reduced as DDP launches them (all async, then wait), then the
     optimizer: compute, comm after compute, optimizer apart — overlap off;
   - ``alone``: the same all-reduces with no compute at all (all async, then wait), as in ``nooverlap``;
   - ``alone_seq``: the same, each bucket waited before the next is launched.
   Per mode and phase: per step the mean over ranks (and the slowest rank), median over the measured steps.

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/host-regime-2026-12-05-k/host_regime.py \\
        [--ranks 2,3,4,6,8] [--repeats 3] [--rate 1000] [--steps 5] --out DIR

Writes ``DIR/runs.jsonl`` (one line per run: ranks, repeat, mode, phases, host load) and prints a line per run.
``--table DIR`` prints the table again from ``runs.jsonl`` (no root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
MODES = ("hook", "nooverlap", "alone", "alone_seq")


def worker(argv: list[str]) -> None:
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--micro-batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args(argv)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    mods: list[nn.Module] = []
    for i in range(args.layers):
        mods.append(nn.Linear(args.hidden, args.hidden))
        if i < args.layers - 1:
            mods.append(nn.ReLU())
    model = DistributedDataParallel(nn.Sequential(*mods))
    clock = time.perf_counter
    marks: list[tuple[str, int, float]] = []

    def hook(_state, bucket):  # type: ignore[no-untyped-def]  # as default_hooks.allreduce_hook, timed; DDP
        # reads the annotations: none, or dist.GradBucket / torch.futures.Future
        index = bucket.index()
        buffer = bucket.buffer().div_(world)
        marks.append(("launch", index, clock()))

        def done(fut: Any) -> Any:
            marks.append(("done", index, clock()))
            return fut.value()[0]

        return dist.all_reduce(buffer, async_op=True).get_future().then(done)

    model.register_comm_hook(None, hook)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(args.micro_batch, args.hidden, generator=generator)
    y = torch.randn(args.micro_batch, args.hidden, generator=generator)
    sizes: list[int] = []
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        for step in range(1 + args.steps):
            if mode != "hook" and not sizes:
                data = model._get_ddp_logging_data()
                key = "rebuilt_bucket_sizes" if data.get("has_rebuilt_buckets") else "bucket_sizes"
                sizes = [int(s) for s in str(data.get(key, "")).split(",") if s.strip()]
            buffers = [torch.ones(s // 4) for s in sizes]
            marks.clear()
            dist.barrier()
            t0 = clock()
            row: dict[str, Any] = {"mode": mode, "step": step, "rank": rank}
            if mode in ("hook", "nooverlap"):
                optimizer.zero_grad(set_to_none=True)
                with model.no_sync() if mode == "nooverlap" else contextlib.nullcontext():
                    a = clock()
                    loss = nn.functional.mse_loss(model(x), y)
                    b = clock()
                    loss.backward()
                    c = clock()
                row.update(forward_s=b - a, backward_s=c - b)
                if mode == "hook":
                    launches = [t for kind, _, t in marks if kind == "launch"]
                    dones = [t for kind, _, t in marks if kind == "done"]
                    row.update(comm_s=max(dones) - min(launches), tail_s=c - max(launches),
                               first_launch_s=min(launches) - b, buckets=len(launches))  # fmt: skip
                else:
                    d = clock()
                    works = [dist.all_reduce(t, async_op=True) for t in buffers]
                    for w in works:
                        w.wait()
                    row.update(comm_s=clock() - d)
                e = clock()
                optimizer.step()
                row.update(optimizer_s=clock() - e)
            elif mode == "alone":
                works = [dist.all_reduce(t, async_op=True) for t in buffers]
                for w in works:
                    w.wait()
                row.update(comm_s=clock() - t0)
            else:
                for t in buffers:
                    dist.all_reduce(t)
                row.update(comm_s=clock() - t0)
            row["step_s"] = clock() - t0
            rows.append(row)
    out = {"rank": rank, "world_size": world, "bucket_bytes": sizes, "rows": rows}
    partial = args.run_dir / f"rank{rank}.json.partial"
    partial.write_text(json.dumps(out), encoding="utf-8")
    partial.replace(args.run_dir / f"rank{rank}.json")
    del model, optimizer
    dist.destroy_process_group()


def summarise_modes(ranks: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per mode and phase: per measured step the mean over ranks (``_max``: the slowest), median over steps."""
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        per_step: dict[int, list[dict[str, Any]]] = {}
        for r in ranks:
            for row in r["rows"]:
                if row["mode"] == mode and row["step"] >= 1:
                    per_step.setdefault(row["step"], []).append(row)
        keys = [k for k in per_step[1][0] if k.endswith("_s")]
        phases: dict[str, float] = {}
        for k in keys:
            phases[k] = statistics.median(statistics.mean(x[k] for x in rows) for rows in per_step.values())
            phases[k + "_max"] = statistics.median(max(x[k] for x in rows) for rows in per_step.values())
        out[mode] = phases
    return out


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import plain_ddp

    from runtime.hostload import host_load, snapshot
    from runtime.launch import signals_as_exceptions
    from runtime.testbed.emulated import EmulatedCluster

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    counts = [int(n) for n in args.ranks.split(",")]
    plain_argv = ["--layers", "4", "--hidden", "1024", "--micro-batch", "32", "--accumulation", "1",
                  "--optimizer", "adam", "--warmup-steps", "1", "--steps", str(args.steps)]  # fmt: skip
    with signals_as_exceptions():
        for r in range(args.first_repeat, args.first_repeat + args.repeats):
            for n in counts:
                with EmulatedCluster(nodes=n, per_node=1, rate=args.rate * 1e6 / 8) as tb:
                    order = ["plain", "split"] if (r + n) % 2 == 0 else ["split", "plain"]
                    for side in order:
                        work = out / "work" / f"n{n}-run{r}-{side}"
                        started, before = time.time(), snapshot()
                        row: dict[str, Any] = {"ranks": n, "repeat": r, "side": side, "started": started,
                                               "rate_mbit_s": args.rate}  # fmt: skip
                        if side == "plain":
                            row.update(plain_ddp.launch_plain(tb, n, 1, work, plain_argv, warmup_steps=1))
                        else:
                            argv = ["--micro-batch", "32", "--steps", str(args.steps)]
                            ranks = plain_ddp.run_workers(tb, n, 1, work, HERE, argv)
                            row["bucket_bytes"] = ranks[0]["bucket_bytes"]
                            row["modes"] = summarise_modes(ranks)
                        row["host_load"] = host_load(before, snapshot())
                        with (out / "runs.jsonl").open("a", encoding="utf-8") as fh:
                            fh.write(json.dumps(row) + "\n")
                        print(time.strftime("%H:%M:%S", time.gmtime()), brief(row), flush=True)


def brief(row: dict[str, Any]) -> str:
    head = f"n={row['ranks']} repeat {row['repeat']} {row['side']:<5}"
    other = row["host_load"].get("other_cores") or 0.0
    if row["side"] == "plain":
        return f"{head} step {row['step_time_s'] * 1e3:.1f} ms (other cores {other:.2f})"
    m = row["modes"]
    return (
        f"{head} hook step {m['hook']['step_s'] * 1e3:.1f} comm {m['hook']['comm_s'] * 1e3:.1f} "
        f"tail {m['hook']['tail_s'] * 1e3:.1f}; nooverlap step {m['nooverlap']['step_s'] * 1e3:.1f} "
        f"compute {(m['nooverlap']['forward_s'] + m['nooverlap']['backward_s']) * 1e3:.1f} "
        f"comm {m['nooverlap']['comm_s'] * 1e3:.1f}; alone {m['alone']['comm_s'] * 1e3:.1f} "
        f"seq {m['alone_seq']['comm_s'] * 1e3:.1f} (other cores {other:.2f})"
    )


def table(out: Path) -> str:
    """Per rank count, over the repeats not listed in ``DIR/disturbed.json`` (``[[ranks, repeat, side, why], ...]``):
    medians (ms), plain's range, and two ratios taken within each (ranks, repeat) cluster, then their median."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]
    bad = out / "disturbed.json"
    skip = {(n, r, side) for n, r, side, _why in json.loads(bad.read_text())} if bad.exists() else set()
    runs = [x for x in runs if (x["ranks"], x["repeat"], x["side"]) not in skip]
    med = statistics.median
    lines = [
        "| ranks | plain step [range] (runs) | no-overlap: compute / comm / optimizer | comm alone, async [range] | "
        "alone, sequential | hook: comm in training / tail after the last gradient | no-overlap comm ÷ alone | "
        "plain step ÷ no-overlap step |",
        "|---" * 8 + "|",
    ]
    for n in sorted({x["ranks"] for x in runs}):
        plain = {x["repeat"]: x for x in runs if x["ranks"] == n and x["side"] == "plain"}
        split = {x["repeat"]: x["modes"] for x in runs if x["ranks"] == n and x["side"] == "split"}
        steps = sorted(x["step_time_s"] for x in plain.values())
        alone = sorted(s["alone"]["comm_s"] for s in split.values())
        both = sorted(set(plain) & set(split))

        def m(mode: str, *keys: str, split: dict[int, Any] = split) -> str:
            return f"{1e3 * med(sum(s[mode][k] for k in keys) for s in split.values()):.1f}"

        comm_ratio = med(s["nooverlap"]["comm_s"] / s["alone"]["comm_s"] for s in split.values())
        ratios = [plain[r]["step_time_s"] / split[r]["nooverlap"]["step_s"] for r in both]
        step_ratio = f"{med(ratios):.3f}" if ratios else "–"
        lines.append(
            f"| {n} | {1e3 * med(steps):.1f} [{1e3 * steps[0]:.1f}–{1e3 * steps[-1]:.1f}] ({len(steps)}) | "
            f"{m('nooverlap', 'forward_s', 'backward_s')} / {m('nooverlap', 'comm_s')} / "
            f"{m('nooverlap', 'optimizer_s')} | "
            f"{1e3 * med(alone):.1f} [{1e3 * alone[0]:.1f}–{1e3 * alone[-1]:.1f}] | {m('alone_seq', 'comm_s')} | "
            f"{m('hook', 'comm_s')} / {m('hook', 'tail_s')} | {comm_ratio:.3f} | {step_ratio} |"
        )
    if skip:
        lines.append(f"left out (disturbed.json): {', '.join(f'{n} ranks repeat {r} {s}' for n, r, s in sorted(skip))}")
    return "\n".join(lines)


def main() -> None:
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", default="2,3,4,6,8")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rate", type=float, default=1000.0, help="Mbit/s")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--first-repeat", type=int, default=0, help="number the repeats from this one (a redo)")
    p.add_argument("--out", type=Path)
    p.add_argument("--table", type=Path, help="print the table from DIR/runs.jsonl")
    args = p.parse_args()
    if args.table:
        print(table(args.table))
    elif args.out:
        measure(args)
        print(table(args.out))
    else:
        p.error("--out DIR or --table DIR")


if __name__ == "__main__":
    main()
