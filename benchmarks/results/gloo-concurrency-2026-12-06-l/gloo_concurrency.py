"""Gloo's concurrency apart: DDP's buckets all in flight, one at a time, or one flat all-reduce (diagnostic; root).

For each rank count (2, 4, 8 by default) and link rate (1000 and 500 Mbit/s), ``--repeats`` times round robin, on
one emulated cluster per (rate, ranks, repeat), one rank a node, the plain-DDP harness's model (MLP 4×1024, Adam,
micro-batch 32). One launch of this file's worker reads DDP's own bucket lists (the default 25 MiB cap, and a 4 MiB
cap: one bucket a layer), then runs these modes interleaved, step by step (the mode order rotates every step), each
1 warm-up + ``--steps`` measured, every mode after a barrier:

- ``async``: DDP's default buckets all-reduced as DDP issues them: all launched async (bucket 0 first), then waited;
- ``seq``: the same buckets one at a time (each waited before the next is launched);
- ``flat``: one all-reduce of the buckets' total;
- ``async4`` / ``seq4``: the same two ways for the 4 MiB cap's buckets (4 buckets of one layer each);
- ``ddp``: a plain DDP training step (DDP's built-in all-reduce, gloo), as the harness times it;
- ``compute``: the same step under ``no_sync()``: forward, backward and optimizer, no communication.

Per bucket, its completion (the future's callback) is recorded from the mode's start. Per mode and phase: per step
the mean over ranks (``_max``: the slowest rank), median over the measured steps. At 2 ranks the harness's own worker
(``benchmarks/plain_ddp.py``, unchanged) also runs on the same cluster (the plain step as the A/B measures it).

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/gloo-concurrency-2026-12-06-l/gloo_concurrency.py \\
        [--ranks 2,4,8] [--rates 1000,500] [--repeats 3] [--steps 5] --out DIR

Writes ``DIR/runs.jsonl`` (one line per run) and prints a line per run. ``--table DIR`` prints the table again from
``runs.jsonl`` (no root). ``--local`` runs on the local testbed (no namespaces, no shaping: a smoke test only).
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
MODES = ("async", "seq", "flat", "async4", "seq4", "ddp", "compute")


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
    backend = dist.group.WORLD._get_backend(torch.device("cpu"))  # type: ignore[union-attr]
    threads = int(backend.options._threads)  # ProcessGroupGloo's worker threads (runLoop), as created

    def mlp() -> nn.Module:
        torch.manual_seed(0)
        mods: list[nn.Module] = []
        for i in range(args.layers):
            mods.append(nn.Linear(args.hidden, args.hidden))
            if i < args.layers - 1:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)

    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(args.micro_batch, args.hidden, generator=generator)
    y = torch.randn(args.micro_batch, args.hidden, generator=generator)

    def bucket_sizes(model: Any) -> list[int]:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):  # DDP rebuilds its buckets in the order the gradients came; logged from the third step
            optimizer.zero_grad(set_to_none=True)
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        data = model._get_ddp_logging_data()
        if not data.get("has_rebuilt_buckets"):
            raise RuntimeError(f"DDP has not rebuilt its buckets: {data.get('bucket_sizes')}")
        return [int(s) for s in str(data["rebuilt_bucket_sizes"]).split(",") if s.strip()]

    sizes4 = bucket_sizes(DistributedDataParallel(mlp(), bucket_cap_mb=4))
    model = DistributedDataParallel(mlp())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sizes = bucket_sizes(model)
    clock = time.perf_counter

    def collectives(buckets: list[int], wait_each: bool, row: dict[str, Any], t0: float) -> None:
        buffers = [torch.ones(s // 4) for s in buckets]
        done: dict[int, float] = {}

        def mark(index: int) -> Any:
            return lambda fut: done.__setitem__(index, clock()) or fut.value()

        works = []
        for i, t in enumerate(buffers):
            work = dist.all_reduce(t, async_op=True)
            fut = work.get_future().then(mark(i))
            works.append((work, fut))
            if wait_each:
                work.wait()
                fut.wait()
        for work, fut in works:
            work.wait()
            fut.wait()
        end = clock()
        row["comm_s"] = end - t0
        for i in range(len(buffers)):
            row[f"b{i}_done_s"] = done[i] - t0

    rows: list[dict[str, Any]] = []
    for step in range(1 + args.steps):
        order = MODES[step % len(MODES) :] + MODES[: step % len(MODES)]
        for mode in order:
            dist.barrier()
            t0 = clock()
            row: dict[str, Any] = {"mode": mode, "step": step, "rank": rank}
            if mode in ("async", "seq"):
                collectives(sizes, mode == "seq", row, t0)
            elif mode in ("async4", "seq4"):
                collectives(sizes4, mode == "seq4", row, t0)
            elif mode == "flat":
                collectives([sum(sizes)], False, row, t0)
            else:
                optimizer.zero_grad(set_to_none=True)
                with model.no_sync() if mode == "compute" else contextlib.nullcontext():
                    a = clock()
                    loss = nn.functional.mse_loss(model(x), y)
                    b = clock()
                    loss.backward()
                    c = clock()
                optimizer.step()
                row.update(forward_s=b - a, backward_s=c - b, optimizer_s=clock() - c)
            row["step_s"] = clock() - t0
            rows.append(row)
    out = {"rank": rank, "world_size": world, "torch_version": str(torch.__version__), "gloo_threads": threads,
           "bucket_bytes": sizes, "bucket_bytes_4mib": sizes4, "rows": rows}  # fmt: skip
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
        first = next(iter(per_step.values()))[0]
        phases: dict[str, float] = {}
        for k in (k for k in first if k.endswith("_s")):
            phases[k] = statistics.median(statistics.mean(x[k] for x in rows) for rows in per_step.values())
            phases[k + "_max"] = statistics.median(max(x[k] for x in rows) for rows in per_step.values())
        out[mode] = phases
    return out


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import plain_ddp

    from runtime.hostload import host_load, snapshot
    from runtime.launch import signals_as_exceptions
    from runtime.testbed import LocalTestbed
    from runtime.testbed.emulated import EmulatedCluster

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    counts = [int(n) for n in args.ranks.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    plain_argv = ["--layers", "4", "--hidden", "1024", "--micro-batch", "32", "--accumulation", "1",
                  "--optimizer", "adam", "--warmup-steps", "1", "--steps", str(args.steps)]  # fmt: skip
    with signals_as_exceptions():
        for r in range(args.first_repeat, args.first_repeat + args.repeats):
            for rate in rates:
                for n in counts:
                    cluster = (LocalTestbed() if args.local
                               else EmulatedCluster(nodes=n, per_node=1, rate=rate * 1e6 / 8))  # fmt: skip
                    with cluster as tb:
                        sides = ["split", "plain"] if n == 2 else ["split"]
                        if (r + n) % 2:
                            sides.reverse()
                        for side in sides:
                            work = out / "work" / f"r{rate:g}-n{n}-run{r}-{side}"
                            started, before = time.time(), snapshot()
                            row: dict[str, Any] = {"ranks": n, "repeat": r, "side": side, "started": started,
                                                   "rate_mbit_s": rate, "local": args.local}  # fmt: skip
                            if side == "plain":
                                row.update(plain_ddp.launch_plain(tb, n, 1, work, plain_argv, warmup_steps=1))
                            else:
                                argv = ["--micro-batch", "32", "--steps", str(args.steps)]
                                ranks = plain_ddp.run_workers(tb, n, 1, work, HERE, argv)
                                for key in ("bucket_bytes", "bucket_bytes_4mib", "gloo_threads", "torch_version"):
                                    row[key] = ranks[0][key]
                                row["modes"] = summarise_modes(ranks)
                            row["host_load"] = host_load(before, snapshot())
                            with (out / "runs.jsonl").open("a", encoding="utf-8") as fh:
                                fh.write(json.dumps(row) + "\n")
                            print(time.strftime("%H:%M:%S", time.gmtime()), brief(row), flush=True)


def brief(row: dict[str, Any]) -> str:
    head = f"{row['rate_mbit_s']:g} Mbit/s n={row['ranks']} repeat {row['repeat']} {row['side']:<5}"
    other = row["host_load"].get("other_cores") or 0.0
    if row["side"] == "plain":
        return f"{head} step {row['step_time_s'] * 1e3:.1f} ms (other cores {other:.2f})"
    m = row["modes"]
    ms = {k: f"{m[k]['comm_s'] * 1e3:.1f}" for k in ("async", "seq", "flat", "async4", "seq4")}
    return (
        f"{head} async {ms['async']} seq {ms['seq']} flat {ms['flat']} async4 {ms['async4']} seq4 {ms['seq4']}; "
        f"ddp {m['ddp']['step_s'] * 1e3:.1f} compute {m['compute']['step_s'] * 1e3:.1f} "
        f"(threads {row['gloo_threads']}, other cores {other:.2f})"
    )


def table(out: Path) -> str:
    """Per rate and rank count, over the runs not listed in ``DIR/disturbed.json`` (``[[rate, ranks, repeat, side,
    why], ...]``): medians over the repeats (ms) with [min–max], and ratios taken within each cluster, then their
    median."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]
    bad = out / "disturbed.json"
    skip = {(float(a), n, r, s) for a, n, r, s, _why in json.loads(bad.read_text())} if bad.exists() else set()
    runs = [x for x in runs if (x["rate_mbit_s"], x["ranks"], x["repeat"], x["side"]) not in skip]
    med = statistics.median

    def cell(values: list[float]) -> str:
        v = sorted(values)
        return f"{1e3 * med(v):.1f} [{1e3 * v[0]:.1f}–{1e3 * v[-1]:.1f}]"

    lines = [
        "| Mbit/s | ranks | (a) async, DDP's buckets | (b) one at a time | (c) flat | a ÷ b | c ÷ b | async4 | seq4 | "
        "async4 ÷ seq4 | a: bucket 0 / 1 done | b: bucket 0 / 1 done | ddp step | compute | harness step | runs |",
        "|---" * 16 + "|",
    ]
    for rate in sorted({x["rate_mbit_s"] for x in runs}, reverse=True):
        for n in sorted({x["ranks"] for x in runs if x["rate_mbit_s"] == rate}):
            split = [x["modes"] for x in runs if (x["rate_mbit_s"], x["ranks"], x["side"]) == (rate, n, "split")]
            plain = [x["step_time_s"] for x in runs if (x["rate_mbit_s"], x["ranks"], x["side"]) == (rate, n, "plain")]

            def c(mode: str, key: str = "comm_s", split: list[dict[str, Any]] = split) -> str:
                return cell([s[mode][key] for s in split])

            def ratio(a: str, b: str, split: list[dict[str, Any]] = split) -> str:
                return f"{med(s[a]['comm_s'] / s[b]['comm_s'] for s in split):.3f}"

            def done(mode: str, split: list[dict[str, Any]] = split) -> str:
                return " / ".join(f"{1e3 * med(s[mode][f'b{i}_done_s'] for s in split):.1f}" for i in (0, 1))

            lines.append(
                f"| {rate:g} | {n} | {c('async')} | {c('seq')} | {c('flat')} | {ratio('async', 'seq')} | "
                f"{ratio('flat', 'seq')} | {c('async4')} | {c('seq4')} | {ratio('async4', 'seq4')} | "
                f"{done('async')} | {done('seq')} | {c('ddp', 'step_s')} | {c('compute', 'step_s')} | "
                f"{cell(plain) if plain else '–'} | {len(split)} |"
            )
    if skip:
        lines.append("left out (disturbed.json): " + ", ".join(f"{a:g} Mbit/s {n} ranks repeat {r} {s}"
                                                               for a, n, r, s in sorted(skip)))  # fmt: skip
    threads = sorted({x["gloo_threads"] for x in runs if x["side"] == "split"})
    buckets = sorted({(tuple(x["bucket_bytes"]), tuple(x["bucket_bytes_4mib"])) for x in runs if x["side"] == "split"})
    lines.append(f"ProcessGroupGloo threads: {threads}; DDP's buckets (B), 25 MiB cap / 4 MiB cap: {buckets}")
    return "\n".join(lines)


def paired(out: Path) -> str:
    """Ratios taken step by step (a step's modes run back to back on one cluster), pooled over the runs' measured
    steps (each step the mean over ranks): median [quartiles]. ``b0 done ÷ alone``: bucket 0's completion with both
    in flight over its completion one at a time; ``b0 done ÷ a``: over the async total."""
    import re

    pooled: dict[tuple[int, int], dict[str, list[float]]] = {}
    for run_dir in sorted((out / "work").glob("r*-n*-run*-split")):
        m = re.fullmatch(r"r(\d+)-n(\d+)-run\d+-split", run_dir.name)
        if not m:
            continue
        steps: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for f in run_dir.glob("rank*.json"):
            for row in json.loads(f.read_text())["rows"]:
                if row["step"] >= 1:
                    steps.setdefault(row["step"], {}).setdefault(row["mode"], []).append(row)
        got = pooled.setdefault((int(m[1]), int(m[2])), {})
        for modes in steps.values():

            def mean(mode: str, key: str = "comm_s", modes: dict[str, Any] = modes) -> float:
                return statistics.mean(x[key] for x in modes[mode])

            for name, value in (
                ("a ÷ b", mean("async") / mean("seq")),
                ("c ÷ b", mean("flat") / mean("seq")),
                ("async4 ÷ seq4", mean("async4") / mean("seq4")),
                ("b0 done ÷ alone", mean("async", "b0_done_s") / mean("seq", "b0_done_s")),
                ("b0 done ÷ a", mean("async", "b0_done_s") / mean("async")),
                ("ddp ÷ (compute + a)", mean("ddp", "step_s") / (mean("compute", "step_s") + mean("async"))),
            ):
                got.setdefault(name, []).append(value)
    lines = ["Paired, step by step (median [quartiles] over the runs' measured steps):"]
    for (rate, n), got in sorted(pooled.items(), key=lambda x: (-x[0][0], x[0][1])):
        cells = []
        for name, v in got.items():
            q = statistics.quantiles(v, n=4)
            cells.append(f"{name} {statistics.median(v):.3f} [{q[0]:.3f}–{q[2]:.3f}]")
        lines.append(f"{rate} Mbit/s, {n} ranks ({len(got['a ÷ b'])} steps): " + "; ".join(cells))
    return "\n".join(lines)


def price(profile: Path, counts: list[int], rates: list[float]) -> str:
    """What dpsim prices for each point from ``profile`` (both engines' step and parts for the harness's model,
    micro-batch 32, DDP's default buckets; ``dpsim collective``'s all-reduce of each bucket and of the total)."""
    from dpsim import api
    from dpsim.cli_collective import collective_rows
    from dpsim.scenario import CalibrationRef, load_scenario

    base = load_scenario(ROOT / "benchmarks/results/plain-ddp-2026-12-05-k/scenario.yaml")
    buckets = [4198400.0, 12595200.0, 16793600.0]  # DDP's two buckets (as the runs log them) and their total
    lines = [
        f"priced from {profile} (ms): step analytic / sim; compute / comm / exposed comm / optimizer; "
        "all-reduce alone of bucket 0 / bucket 1 / total (flat); bucket 0 + bucket 1 (the engines' serial buckets)"
    ]
    for rate in rates:
        for n in counts:
            s = base.model_copy(deep=True)
            s.cluster.nodes = n
            s.cluster.inter_node.bandwidth = rate * 1e6 / 8
            s.training.micro_batch = 32
            s.training.global_batch = 32 * n
            s.calibration = CalibrationRef(profile=str(profile.resolve()))
            runs = {e: api.run(s, engine=e) for e in ("analytic", "sim")}
            r = runs["analytic"]
            t = [row["time_s"] for row in collective_rows(s, "allreduce", buckets)]
            lines.append(
                f"{rate:g} Mbit/s {n} ranks: step {runs['analytic'].step_time_s * 1e3:.1f} / "
                f"{runs['sim'].step_time_s * 1e3:.1f}; {r.compute_s * 1e3:.1f} / {r.comm_s * 1e3:.1f} / "
                f"{r.exposed_comm_s * 1e3:.1f} / {r.optimizer_s * 1e3:.1f}; "
                f"{t[0] * 1e3:.1f} / {t[1] * 1e3:.1f} / {t[2] * 1e3:.1f}; {(t[0] + t[1]) * 1e3:.1f}"
            )
    return "\n".join(lines)


def main() -> None:
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", default="2,4,8")
    p.add_argument("--rates", default="1000,500", help="Mbit/s, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--first-repeat", type=int, default=0, help="number the repeats from this one (a redo)")
    p.add_argument("--local", action="store_true", help="local testbed, no shaping (smoke test)")
    p.add_argument("--out", type=Path)
    p.add_argument("--table", type=Path, help="print the table from DIR/runs.jsonl")
    p.add_argument("--price", type=Path, metavar="PROFILE", help="print what dpsim prices from PROFILE (no root)")
    args = p.parse_args()
    if args.price:
        print(price(args.price, [int(n) for n in args.ranks.split(",")], [float(r) for r in args.rates.split(",")]))
    elif args.table:
        print(table(args.table))
        print(paired(args.table))
    elif args.out:
        measure(args)
        print(table(args.out))
        print(paired(args.out))
    else:
        p.error("--out DIR or --table DIR")


if __name__ == "__main__":
    main()
