"""What the synchronising micro-batch costs a rank's main thread over a ``no_sync`` one, with and without DDP's
``gradient_as_bucket_view`` (the job wraps DDP with the scenario's, default off; the calibration's timer with it on).

Two processes, gloo: one group of 2 (``pair``) or two groups of 1 (``solo``). Each step: 3 micro-batches of 64 samples
of the validation's MLP 4 x 768 (the first two under ``no_sync``, the last synchronising), then Adam's ``step()`` +
``zero_grad``; 40 steps, the first 5 dropped. Per micro-batch the thread's CPU time over the whole forward + backward
and to the last gradient's accumulation (a post-accumulate hook, as ``runtime.hooks.LastGradient`` marks the end of
the ranks' compute). Prints per rank (ms, medians): a ``no_sync`` micro-batch; the first micro-batch after the step
over the second; the synchronising one over the second, whole and to the last gradient.

    PYTHONPATH=. python benchmarks/results/calib-55/ddp_sync.py pair noviews
    (pair|solo) (views|noviews)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

PORT = 29556


def run(rank: int, mode: str, views: bool, out: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    import benchmarks.validate_emulated as ve
    from dpsim.scenario import load_scenario
    from runtime.aggregation import NO_BUFFER_SYNC
    from runtime.calibrate import _model_loss, scenario_optimizer
    from runtime.model import build_model, synthetic_batch

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="ddpsync"))
    (folder / "scenario.yaml").write_text(ve.SCENARIO)
    scenario = load_scenario(folder / "scenario.yaml")
    if mode == "pair":
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{PORT}", rank=rank, world_size=2)
    else:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    torch.manual_seed(0)
    model = build_model(scenario)
    ddp = DistributedDataParallel(model, bucket_cap_mb=None, gradient_as_bucket_view=views, **NO_BUFFER_SYNC)
    optimizer = scenario_optimizer(scenario, model)
    loss_of = _model_loss(model)
    batch = synthetic_batch(model, scenario, 64, torch.Generator().manual_seed(rank))
    params = list(model.parameters())
    state: dict[str, Any] = {"left": 0, "cpu": None}

    def accumulated(_: torch.Tensor) -> None:
        if state["left"]:
            state["left"] -= 1
            if not state["left"]:
                state["cpu"] = time.thread_time()

    for p in params:
        p.register_post_accumulate_grad_hook(accumulated)
    rows = []
    for step in range(40):
        whole, to_last = [], []
        for i in range(3):
            state["left"], state["cpu"] = len(params), None
            with ddp.no_sync() if i < 2 else torch.enable_grad():
                c0 = time.thread_time()
                loss_of(ddp, batch).backward()
                c1 = time.thread_time()
            whole.append(c1 - c0)
            to_last.append(state["cpu"] - c0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        if step >= 5:
            rows.append((whole, to_last))

    def ms(f: Any) -> float:
        return statistics.median(f(w, t) for w, t in rows) * 1e3

    Path(f"{out}.{rank}").write_text(
        f"{mode} views={views} rank {rank}: no_sync {ms(lambda w, t: w[1]):.2f} ms, first after the step "
        f"{ms(lambda w, t: w[0] - w[1]):+.2f}, synchronising {ms(lambda w, t: w[2] - w[1]):+.2f} (to the last "
        f"gradient {ms(lambda w, t: t[2] - t[1]):+.2f})\n"
    )
    dist.destroy_process_group()


def main() -> None:
    mode, views = sys.argv[1], sys.argv[2] == "views"
    out = str(Path(tempfile.mkdtemp(prefix="ddpsync")) / "rank")
    procs = [mp.get_context("spawn").Process(target=run, args=(r, mode, views, out)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    for r in range(2):
        print(Path(f"{out}.{r}").read_text(), end="")


if __name__ == "__main__":
    main()
