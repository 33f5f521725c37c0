"""``dpsim collective``: predict one collective the way nccl-tests measures it.

For each message size: the time of one ``--op`` over every rank of the scenario's cluster
(the scenario's ``communication.algorithm`` and ``protocol``; ``auto`` picks per size as
NCCL's tuner does), ``algbw = S/t`` and nccl-tests' ``busbw = algbw ·``
:func:`~dpsim.analytic.collectives.busbw_factor` (nccl-tests ``doc/PERFORMANCE.md``), and
the algorithm and protocol that ran. With ``calibration.profile`` the links are the profile's
(each size on its regime when the profile has size regimes, e.g. from nccl-tests output).
``--engine analytic`` prices the schedule
(:func:`dpsim.analytic.collectives.collective`); ``--engine sim`` runs it on the simulated
network (chunk level up to :data:`CHUNK_MAX_RANKS` ranks, the fast level beyond). Both
evaluate the same schedules (:mod:`dpsim.sim.collectives`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from dpsim.cli_common import (
    ENGINES,
    FORMATS,
    atomic_output,
    check_choice,
    check_writable,
    fail,
    handle_errors,
    warn,
)
from dpsim.inputs import brief, first_repeat

__all__ = ["CHUNK_MAX_RANKS", "OPS", "collective_ignored_fields", "collective_rows", "parse_sizes", "register"]

OPS = ("allreduce", "reduce_scatter", "all_gather", "broadcast", "reduce", "alltoall", "sendrecv", "gather", "scatter")
"""``--op`` values, named as nccl-tests' binaries without ``_perf`` (all_reduce → allreduce)."""
CHUNK_MAX_RANKS = 256
"""Above this many ranks ``--engine sim`` uses the fast level (the chunk level agrees within 1 %)."""
MAX_POINTS = 48
"""Most sizes one --sizes range may expand to (8B..16GiB is 32)."""


def parse_sizes(text: str, option: str = "--sizes") -> list[float]:
    """``8B..16GiB`` (powers of two between, as ``nccl-tests -f 2``) or a comma list ``1MiB,1GiB``."""
    from dpsim.units import parse_size

    def one(part: str) -> float:
        try:
            value = parse_size(part.strip())
        except ValueError as exc:
            raise fail(option, str(exc)) from None
        if not value > 0:
            raise fail(option, f"{part.strip()!r}: a message size must be > 0")
        return value

    if ".." in text:
        low_text, high_text = text.split("..", 1)
        low, high = one(low_text), one(high_text)
        if high < low:
            raise fail(option, f"{text!r}: the range must go from small to large")
        count = math.floor(math.log2(high / low) + 1e-9) + 1
        if count > MAX_POINTS:
            raise fail(option, f"{text!r}: {count} sizes; at most {MAX_POINTS} (doubling from the first)")
        return [low * 2**i for i in range(count)]
    parts = text.split(",")
    if len(parts) > MAX_POINTS:  # each size is priced (and simulated) on its own
        raise fail(option, f"{len(parts):,} sizes; at most {MAX_POINTS}")
    if len(parts) > 1 and not all(part.strip() for part in parts):
        raise fail(option, f"{brief(text)}: an empty size between commas")
    sizes = [one(part) for part in parts if part.strip()]
    if not sizes:
        raise fail(option, "expected a size, a comma list of sizes or a range like 8B..16GiB")
    if (repeat := first_repeat(sizes)) is not None:
        raise fail(option, f"{parts[repeat].strip()!r} is given twice")
    return sizes


def machine_scenario(
    name: str,
    nodes: int,
    gpus_per_node: int,
    device: Any,
    intra: str,
    inter: dict[str, Any],
    algorithm: str = "auto",
    communication: Mapping[str, Any] | None = None,
    **cluster: Any,
) -> Any:
    """A scenario that only describes a machine, for pricing its collectives (what nccl-tests measures).

    ``device``: a catalog name or a device mapping; ``intra``: the intra-node link preset;
    ``inter``: the ``cluster.inter_node`` mapping (preset, nics_per_node, ...); ``cluster``: more
    ``cluster`` fields; ``communication``: more ``communication`` fields (``nccl_algo``, ``nccl_proto``: the
    NCCL environment a run set). The model and batch do not matter to a collective (GPT-2 small, one sample a GPU).
    """
    from dpsim.scenario import scenario_from_dict

    return scenario_from_dict(
        {
            "name": name,
            "model": {"preset": "gpt2-small"},
            "cluster": {
                "nodes": nodes,
                "workers_per_node": gpus_per_node,
                "device": device,
                "intra_node": {"preset": intra},
                "inter_node": dict(inter),
                **cluster,
            },
            "training": {"global_batch": nodes * gpus_per_node},
            "communication": {"algorithm": algorithm, "protocol": "auto", **(communication or {})},
        }
    )


UNREAD_SECTIONS = ("model", "training", "variability", "reliability", "simulation")
"""Scenario sections ``dpsim collective`` reads nothing of: it prices one collective over the cluster's ranks."""
UNREAD_FIELDS = (
    "communication.bucket",
    "communication.overlap",
    "communication.dtype",
    "cluster.price_per_device_hour",
)
"""Fields of the sections it reads that it does not: the gradient's buckets, overlap and width, the rent."""
DEVICE_READ = ("cluster.device.preset",)
"""What it reads of ``cluster.device``: which device it is (NCCL's architecture and platform tuning,
:func:`dpsim.analytic.fabrics.fabric_of`); its other fields price compute and memory."""


def collective_ignored_fields(scenario: Any, overridden: Sequence[str] = ()) -> dict[str, str]:
    """The fields a user set that ``dpsim collective`` reads nothing of, each with why (``run`` lists its own as
    ``extra.ignored_fields``): every ``--set`` path (``overridden``) under :data:`UNREAD_SECTIONS` or
    :data:`UNREAD_FIELDS` or of ``cluster.device`` but which device it is (:data:`DEVICE_READ`), and the fields of
    the optional sections (``variability``, ``reliability``, ``simulation``) the scenario sets to other than their
    default, but ``variability.degraded_links`` across nodes (:func:`collective_rows` slows that node's NIC links;
    on one node no traffic crosses a NIC), and ``cluster.cpu_vendor`` where NCCL's tuner does not read it (one
    node, or gloo: :meth:`~dpsim.scenario.Scenario.cpu_vendor_unread`; beside a profile's fitted links:
    :func:`~dpsim.calibration.unread_beside_fitted_links`), as ``run`` lists it. What a scenario holds for
    its training step (the model and training sections it must have, the buckets, overlap, width and price: the
    bundled default sets ``bucket: 25 MB``) is listed only where the command line set it."""
    from pydantic import BaseModel

    from dpsim.calibration import profile_for, unread_beside_fitted_links
    from dpsim.scenario import field_default

    why = "not read by dpsim collective (one collective over the cluster's ranks)"
    out: dict[str, str] = {}

    def note(path: str) -> None:  # once: a field inside a listed one (or holding one) is not listed again
        if not any(path == p or path.startswith(p + ".") or p.startswith(path + ".") for p in out):
            out[path] = why

    # a degraded NIC is read across nodes (collective_rows slows its node's NIC links, as a step's collectives do)
    read = ("variability.degraded_links",) if scenario.cluster.nodes > 1 else ()
    for path in overridden:
        if any(path == f or path.startswith(f + ".") for f in read):
            continue
        unread_device = path.startswith("cluster.device.") and path not in DEVICE_READ  # its compute and memory
        if (
            path.split(".")[0] in UNREAD_SECTIONS
            or any(path == f or path.startswith(f + ".") for f in UNREAD_FIELDS)
            or unread_device
        ):
            note(path)
    unread = [
        (section, name) for section in UNREAD_SECTIONS[2:] for name in type(getattr(scenario, section)).model_fields
    ]
    for section_name, name in unread:
        section = getattr(scenario, section_name)
        cls: type[BaseModel] = type(section)
        if getattr(section, name) != field_default(cls, name) and f"{section_name}.{name}" not in read:
            note(f"{section_name}.{name}")
    if why_vendor := scenario.cpu_vendor_unread():  # NCCL's tuner reads it across nodes only, gloo never (round 31)
        out["cluster.cpu_vendor"] = why_vendor
    out.update(unread_beside_fitted_links(scenario, profile_for(scenario)))  # nor beside a profile's fitted links
    return dict(sorted(out.items()))


def collective_rows(
    scenario: Any, op: str, sizes: Sequence[float], engine: str = "analytic", allow_long: bool = False
) -> list[dict[str, Any]]:
    """One nccl-tests row per size: op, size_bytes, time_s, algbw_Bps, busbw_Bps, algorithm, protocol, world_size,
    engine, fidelity and ``nccl_version`` (the NCCL release whose tuner constants were used; None without NCCL).

    The work is priced first (:func:`dpsim.sim.budget.estimate_collective`): past its limits a
    :class:`~dpsim.errors.ScenarioError`, before anything is built (``allow_long``: past the time limits).
    """
    import numpy as np

    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import algorithm_of, calibrated_fabric, with_group_degraded_nics
    from dpsim.calibration import profile_for
    from dpsim.sim import budget

    # one communicator of every rank: a degraded NIC (variability.degraded_links) slows its node's NIC links in both
    # engines, as in a step's data-parallel collectives (it was ignored here: the same time at any factor)
    fabric = with_group_degraded_nics(scenario, calibrated_fabric(scenario, profile_for(scenario)))
    algorithm = algorithm_of(scenario)
    n = fabric.world_size
    layout = budget.layout_of(fabric)
    work = budget.estimate_collective(
        op,
        algorithm,
        fabric.protocol,
        layout,
        engine,
        len(sizes),
        CHUNK_MAX_RANKS,
        budget.ring_hops(fabric),
    )
    budget.check_collective(work, allow_long)
    sim_engine: Any = None
    fidelity = "analytic"
    if engine == "sim" and n > 1:
        from dpsim.sim.chunk import ChunkEngine
        from dpsim.sim.cluster import Cluster
        from dpsim.sim.fast import FastEngine

        cluster = Cluster.from_fabric(fabric)
        if n <= CHUNK_MAX_RANKS:
            sim_engine, fidelity = ChunkEngine(cluster, algorithm, protocol=fabric.protocol), "chunk"
        else:
            sim_engine, fidelity = FastEngine(cluster, algorithm, fabric.protocol), "fast"
    # whose tuner constants priced and picked (the layout's: Layout.of resolves the default release): NCCL's only
    # where NCCL's model runs (not gloo, not fitted α–β links)
    nccl_version = layout.nccl_version if fabric.protocol != "none" else None
    rows = []
    for size in sizes:
        choice = cf.collective(op, algorithm, size, fabric)
        time_s = choice.time_s
        if sim_engine is not None:
            time_s = float(sim_engine.evaluate(op, size, np.zeros(n)).max())
        algbw = size / time_s if time_s > 0 else math.nan  # one rank moves nothing: no rate (not "inf")
        rows.append(
            {
                "op": op,
                "size_bytes": float(size),
                "time_s": time_s,
                "algbw_Bps": algbw,
                "busbw_Bps": algbw * cf.busbw_factor(op, n) if n > 1 else 0.0,
                "algorithm": choice.algorithm,
                "protocol": choice.protocol,
                "world_size": n,
                "engine": "sim" if engine == "sim" else "analytic",
                "fidelity": fidelity,
                "nccl_version": nccl_version,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], title: str, ignored: Mapping[str, str] | None = None) -> str:
    from rich import box
    from rich.table import Table

    from dpsim.report import render, user_text
    from dpsim.units import format_binary_size, format_time

    table = Table(title=user_text(title), box=box.SIMPLE_HEAD)
    for name in ("size", "time", "algbw (GB/s)", "busbw (GB/s)", "algorithm", "protocol"):
        table.add_column(name, justify="left" if name in ("algorithm", "protocol") else "right")
    for r in rows:
        table.add_row(
            format_binary_size(r["size_bytes"]),
            format_time(r["time_s"]),
            "-" if math.isnan(r["algbw_Bps"]) else f"{r['algbw_Bps'] / 1e9:.2f}",
            f"{r['busbw_Bps'] / 1e9:.2f}",
            r["algorithm"],
            r["protocol"] or "-",
        )
    if ignored:  # under the table, as run's (dpsim.report.format_result)
        table.caption = "\n".join(f"ignored: {user_text(field)}: {user_text(why)}" for field, why in ignored.items())
        table.caption_justify = "left"
    return render(table)


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    from dpsim.plots import load_matplotlib, wrapped_title

    load_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    sizes = [r["size_bytes"] for r in rows]
    ax.plot(sizes, [r["busbw_Bps"] / 1e9 for r in rows], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.set_title(wrapped_title(title))
    ax.grid(True, alpha=0.3)
    fig.savefig(path, dpi=120, format=path.suffix.lstrip(".").lower() or "png")


def register(app: typer.Typer) -> None:
    """Add ``dpsim collective`` to the CLI."""

    @app.command("collective")
    @handle_errors
    def collective_command(
        scenario: Annotated[
            Path | None,
            typer.Argument(help="Scenario YAML file (default: the bundled default scenario).", show_default=False),
        ] = None,
        op: Annotated[str, typer.Option("--op", help=f"Collective: {', '.join(OPS)}.")] = "allreduce",
        size: Annotated[str | None, typer.Option("--size", help="Message size, e.g. 1GiB (default 1 GiB).")] = None,
        sizes: Annotated[
            str | None, typer.Option("--sizes", help="Sizes: a range 8B..16GiB (doubling) or a list 1MiB,1GiB.")
        ] = None,
        engine: Annotated[str, typer.Option("--engine", help="analytic or sim.")] = "analytic",
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="Override a scenario field: PATH=VALUE (repeatable).")
        ] = None,
        format_: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
        plot: Annotated[Path | None, typer.Option("--plot", help="Write busbw against size (.png/.svg/.pdf).")] = None,
        allow_long: Annotated[
            bool, typer.Option("--allow-long", help="Run past the cost limit (see the estimate it prints).")
        ] = False,
    ) -> None:
        """Predict one collective as nccl-tests reports it: time, algbw, busbw, algorithm and protocol."""
        from dpsim import report
        from dpsim.calibration import profile_for, profile_mismatch
        from dpsim.scenario import load_scenario, parse_override

        check_choice("--op", op, OPS)
        check_choice("--engine", engine, ENGINES)
        check_choice("--format", format_, FORMATS)
        if size is not None and sizes is not None:
            raise fail("--sizes", "give --size or --sizes, not both")
        points = parse_sizes(sizes) if sizes is not None else parse_sizes("1GiB" if size is None else size, "--size")
        if size is not None and len(points) != 1:
            raise fail("--size", f"{size!r}: one size (use --sizes for several)")
        if plot is not None:
            check_writable(plot, "--plot", (".png", ".svg", ".pdf"))
        loaded = load_scenario(scenario, overrides=set_ or (), batch_free=True)
        rows = collective_rows(loaded, op, points, engine, allow_long)
        ignored = collective_ignored_fields(loaded, [parse_override(o)[0] for o in set_ or ()])
        if ignored:  # as run lists them (extra.ignored_fields): a key only where there are any
            rows = [{**row, "ignored_fields": ignored} for row in rows]
        warn(profile_mismatch(loaded, profile_for(loaded)))  # links measured on another backend's machine
        tuner = f", NCCL {rows[0]['nccl_version']}'s tuner" if rows[0]["nccl_version"] else ""
        if loaded.communication.nccl_tuner != "nccl":  # refused where NCCL does not run
            tuner += f" under the {loaded.communication.nccl_tuner} tuner plugin"
        title = f"{loaded.name}: {op} on {rows[0]['world_size']} ranks ({engine}{tuner})"
        if plot is not None:
            with atomic_output(plot, "--plot") as tmp:
                _plot(rows, tmp, title)
        if format_ == "json":
            typer.echo(report.to_json(rows))
        elif format_ == "csv":
            import pandas as pd

            flat = [{**r, "ignored_fields": "; ".join(f"{f}: {w}" for f, w in ignored.items())} if ignored else r
                    for r in rows]  # fmt: skip  # one text, as run's CSV row holds it (StepResult.flat)
            typer.echo(str(pd.DataFrame(flat).to_csv(index=False)).rstrip("\n"))
        else:
            typer.echo(_table(rows, title, ignored))
