"""dpsim against whole published nccl-tests curves: every size, both engines, error by size regime.

``benchmarks/nccl_tests_table.py`` checks the peak bus bandwidth only. Users compare whole
curves: the latency-bound small sizes (LL), the mid sizes where NCCL switches protocol and
algorithm (LL128), and the bandwidth-bound large ones. Each :class:`Curve` here is a table
someone ran and published, stored verbatim under ``tests/data/nccl_curves/`` (sources, and
what each source says about the machine, in ``SOURCES.md`` there), parsed with
:func:`dpsim.ingest.nccl_tests.parse_nccl_tests`. The scenario of each is built from the
source's hardware facts only — catalog device and links, GPUs per node, NICs — and nothing
is fitted to the curve. Every printed size is predicted with the analytic engine and the
simulator (``dpsim collective … --engine sim``), and compared with the printed time (the
harmonic mean of out-of-place and in-place, :attr:`SizeMeasurement.time_s`) and busbw.

Summary per curve: median and max |error| of the time in three regimes — latency
(< 64 KiB), mid (64 KiB – 16 MiB) and large (≥ 16 MiB).

Run: ``python benchmarks/nccl_tests_curves.py`` (``--format json``; ``--curve NAME`` for one).
``tests/test_nccl_curves.py`` checks a few sizes of each curve.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser

__all__ = ["CURVES", "REGIMES", "Curve", "compare", "regime_of", "summary"]

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "nccl_curves"
KiB = 1024.0
MiB = 1024.0 * KiB

REGIMES = (("latency", 0.0, 64 * KiB), ("mid", 64 * KiB, 16 * MiB), ("large", 16 * MiB, float("inf")))
"""(name, from, to) in bytes: the regimes the summary groups sizes into."""


@dataclass(frozen=True)
class Curve:
    """One published nccl-tests table and the machine it ran on, as its source describes it."""

    name: str
    file: str
    """File under ``tests/data/nccl_curves/`` holding the pasted table."""
    op: str
    device: str
    nodes: int
    gpus_per_node: int
    intra: str
    inter: dict[str, Any]
    """The ``cluster.inter_node`` section: catalog preset, NIC count (a port rate where the preset's differs)."""
    algorithm: str
    source: str
    complete: bool
    """False where the source shows only part of the sweep (the rows it shows are kept as they are)."""
    note: str = ""
    nccl: str = ""
    """NCCL version where the source gives it."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other ``cluster`` fields the source's hardware gives."""
    communication: dict[str, Any] = field(default_factory=dict)
    """The NCCL environment the source's run set (``communication.nccl_algo``, ``nccl_proto``, ``nccl_buffsize``),
    where it says."""


CURVES: tuple[Curve, ...] = (
    Curve(
        "H100 2x8, p5.48xlarge (EFA 32x100G)", "all_reduce_h100_2x8_p5_efa.txt", "all_reduce",
        "h100-sxm", 2, 8, "nvlink4",
        {"preset": "efa-v2", "bandwidth": "400 Gbit/s", "nics_per_node": 8, "pcie_gpus_per_nic": 1}, "auto",
        "https://github.com/aws-samples/awsome-distributed-training/blob/main/1.architectures/"
        "2.aws-parallelcluster/deployment-guides/pcluster-observability.md",
        True,
        "AWS p5.48xlarge: 8 H100 on NVSwitch, 3200 Gbit/s EFA per node (32 x 100G EFA v2, 4 per GPU = 400 "
        "Gbit/s per GPU, taken as one 400G port per GPU, the catalog's efa-v2 at 4 x its rate); EFA through "
        "the aws-ofi-nccl plugin (SRD, not RDMA verbs): each network hop at efa-v2's latency; one GPU and its 4 EFA on "
        "each PCIe switch (aws-ofi-nccl 67125bf2, topology/p5.48xl-topo.xml: 'Each group has 1 GPUs and 4 NIC behind a "
        "PCIe switch'), so a ring leaves a node by PXN; srun --label output; 3rd Gen AMD EPYC hosts (AWS EC2 P5 "
        "instances page): cpu_vendor amd",
        extra={"cpu_vendor": "amd"},
    ),
    Curve(
        "H100 2x8, OCI BM.GPU.H100.8 (RoCE 16x200G)", "all_reduce_h100_2x8_oci_roce.txt", "all_reduce",
        "h100-sxm", 2, 8, "nvlink4", {"preset": "ib-hdr", "nics_per_node": 16, "ports_per_nic": 2}, "auto",
        "https://github.com/oracle-japan/ocitutorials (hpc/benchmark, 'NCCL Tests実行方法（BM.GPU.H100.8編）')",
        False,
        "2 nodes BM.GPU.H100.8, cluster network RoCEv2 with 16 x 200 Gbit/s ports per node (taken as the "
        "catalog's 200G NIC, ib-hdr), the run's NCCL_IB_HCA naming all 16; NCCL 2.21.5 (TensorFlow NGC 24.06); "
        "-b 1G -e 16G only. The ports are 8 dual-port ConnectX-7 cards, one on each GPU's PCIe switch (OCI's "
        "NCCL topology file for the shape, oracle-quickstart/oci-hpc-oke manifests/topology/BM.GPU.H100.8.xml: "
        "one nic of two 200000 Mbit/s nets a GPU), which NCCL 2.21.5 fuses into 8 devices of 400G",
        nccl="2.21.5",
    ),
    Curve(
        "H100 2x8, GCP A3 Mega (TCPXO 8x200G)", "all_reduce_h100_2x8_a3mega_tcpxo.txt", "all_reduce",
        "h100-sxm", 2, 8, "nvlink4", {"preset": "400gbe", "bandwidth": "200 Gbit/s", "nics_per_node": 8}, "auto",
        "https://github.com/lessizzmore/create-a3mega-ztan-fork/blob/main/ztan-NCCL-test-result",
        True,
        "GCP a3-megagpu-8g: 8 H100, 8 x 200 Gbit/s NICs with GPUDirect-TCPXO (an offload plugin, not RDMA "
        "verbs); 400gbe's efficiency and latency at the 200 Gbit/s port rate. The run passes ${HOST_VARS}, the "
        "NCCL_* variables of the TCPXO installer's nccl-env-profile.sh, which the source repository's README "
        "sources before this very command; its startup_script.sh installs plugin installer v1.0.3 (NCCL 2.21.5), "
        "whose profile (GoogleCloudPlatform/container-engine-accelerators gpudirect-tcpxo/README.md, Jun 27 2024) "
        "sets NCCL_ALGO=Ring,Tree, NCCL_PROTO=Simple, NCCL_NVLS_ENABLE=0, NCCL_BUFFSIZE=8388608",
        nccl="2.21.5",
        communication={"nccl_algo": ["ring", "tree"], "nccl_proto": ["Simple"], "nccl_buffsize": "8 MiB"},
    ),
    Curve(
        "A100 3x8, 4x HDR (partial)", "all_reduce_a100_3x8_4hdr_partial.txt", "all_reduce",
        "a100-40gb", 3, 8, "nvlink3", {"preset": "ib-hdr", "nics_per_node": 4}, "auto",
        "https://github.com/NVIDIA/nccl-tests/issues/119",
        False,
        "3 servers, 8 A100-SXM4-40GB, 4 Mellanox HDR each; -b 8 -e 128M with a 1 MiB step; only the rows "
        "in the stored thread text are kept (72-82 MiB and 122-127 MiB); maintainer: 96 GB/s is the target",
    ),
    Curve(
        "H100 2x1, 4 NICs, NCCL_ALGO=Tree (partial)", "all_reduce_h100_2x1_4nic_tree_partial.txt", "all_reduce",
        "h100-sxm", 2, 1, "nvlink4", {"preset": "roce-400g", "nics_per_node": 4}, "tree",
        "https://github.com/NVIDIA/nccl-tests/issues/232",
        False,
        "1 H100 per node, 4 RoCE NICs (NCCL_IB_GID_INDEX=3, NCCL_IB_HCA of 4 ports; the poster's 200 GB/s "
        "'theoretical' = 4 x 400G), NCCL_ALGO=Tree; rows 2-32 MiB as stored",
    ),
    Curve(
        "H100 1x8, reduce_scatter, ring (partial)", "reduce_scatter_h100_1x8_ring_partial.txt", "reduce_scatter",
        "h100-sxm", 1, 8, "nvlink4", {"preset": "ib-ndr", "nics_per_node": 8}, "ring",
        "https://github.com/NVIDIA/nccl/issues/1047",
        False,
        "one H100 server ('node47', NVIDIA H100 80GB HBM3, rank 7 of 8 shown), reduce_scatter_perf under the "
        "heading 'Reducescatter (H100: ring)' (the thread compares NCCL_ALGO ring with NVLS); rows 128 MiB - "
        "8 GiB as stored (the 8 GiB row ends after its out-of-place columns); no NIC in the path",
    ),
    Curve(
        "H100 2x4, 4x HDR, NCCL_ALGO=RING", "all_reduce_h100_2x4_4hdr_ring.txt", "all_reduce",
        "h100-sxm", 2, 4, "nvlink4", {"preset": "ib-hdr", "nics_per_node": 4}, "ring",
        "https://github.com/NVIDIA/nccl-tests/issues/252",
        False,
        "2 nodes of 4 H100, 4 HDR NICs each, -x NCCL_ALGO=RING, rows 512 MiB - 8 GiB as the thread shows them "
        "(NVIDIA: 'that looks great with ~24GB/s per NIC'); the table row of the same run checks 8 GiB only",
    ),
)  # fmt: skip
"""The published curves, each with its source."""


def scenario_for(curve: Curve) -> Any:
    """The dpsim scenario of the curve's machine (model and batch do not matter to a collective)."""
    from dpsim.cli_collective import machine_scenario

    return machine_scenario(
        curve.name, curve.nodes, curve.gpus_per_node, curve.device, curve.intra, curve.inter, curve.algorithm,
        communication=curve.communication, **curve.extra,
    )  # fmt: skip


def measured(curve: Curve) -> Any:
    """The curve's parsed table (:class:`dpsim.ingest.nccl_tests.NcclTestsRun`)."""
    from dpsim.ingest.nccl_tests import parse_nccl_tests

    path = DATA / curve.file
    runs = parse_nccl_tests(path.read_text(), str(path), op=curve.op, ranks=curve.nodes * curve.gpus_per_node)
    return runs[0]


def regime_of(size: float) -> str:
    """The regime name of a size in bytes."""
    return next(name for name, lo, hi in REGIMES if lo <= size < hi)


def compare(curve: Curve, engines: tuple[str, ...] = ("analytic", "sim")) -> list[dict[str, Any]]:
    """Per printed size: measured time and busbw, each engine's, and their errors (predicted / measured − 1)."""
    from dpsim.cli_collective import collective_rows

    run = measured(curve)
    scenario = scenario_for(curve)
    op = "allreduce" if curve.op == "all_reduce" else curve.op
    sizes = [float(r.size_bytes) for r in run.rows]
    predicted = {e: collective_rows(scenario, op, sizes, engine=e) for e in engines}
    out = []
    for i, row in enumerate(run.rows):
        entry: dict[str, Any] = {
            "size_bytes": row.size_bytes,
            "regime": regime_of(row.size_bytes),
            "time_s": row.time_s,
            "busbw_gbps": (row.busbw or 0.0) / 1e9,
        }
        for e in engines:
            p = predicted[e][i]
            entry[e] = {
                "time_s": p["time_s"],
                "busbw_gbps": p["busbw_Bps"] / 1e9,
                "algorithm": p["algorithm"],
                "protocol": p["protocol"],
                "time_error": p["time_s"] / row.time_s - 1.0,
                "busbw_error": (p["busbw_Bps"] / row.busbw - 1.0) if row.busbw else None,
            }
        out.append(entry)
    return out


def summary(rows: list[dict[str, Any]], engine: str = "analytic") -> dict[str, dict[str, float | int]]:
    """Per regime: sizes, median and max |time error| of ``engine`` (regimes without sizes left out)."""
    out: dict[str, dict[str, float | int]] = {}
    for name, _, _ in REGIMES:
        errs = [abs(r[engine]["time_error"]) for r in rows if r["regime"] == name]
        if errs:
            out[name] = {"sizes": len(errs), "median": statistics.median(errs), "max": max(errs)}
    return out


def _size(b: float) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if b >= scale:
            return f"{b / scale:g}{unit}"
    return f"{b:g}B"


def _summary_cell(s: dict[str, dict[str, float | int]], regime: str) -> str:
    if regime not in s:
        return "—"
    return f"{100 * s[regime]['median']:.0f} / {100 * s[regime]['max']:.0f} % ({s[regime]['sizes']})"


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--curve", help="only the curve whose name contains this text")
    args = parser.parse_args(argv)
    curves = [c for c in CURVES if args.curve is None or args.curve.lower() in c.name.lower()]
    if not curves:
        print(f"error: --curve: no curve matches {args.curve!r}", file=sys.stderr)
        sys.exit(2)
    results = [(c, compare(c)) for c in curves]
    if args.format == "json":
        doc = [
            {**asdict(c), "rows": rows, "summary": {e: summary(rows, e) for e in ("analytic", "sim")}}
            for c, rows in results
        ]
        print(json.dumps(doc, indent=1))
        return
    for c, rows in results:
        print(f"\n== {c.name}  [{c.op}, {'complete' if c.complete else 'partial'}]\n   {c.source}")
        print(
            f"   {'size':>6} {'t meas':>9} {'t dpsim':>9} {'err':>7} {'t sim':>9} {'err':>7}"
            f" {'busbw':>7} {'dpsim':>7} {'err':>7}  ran"
        )
        for r in rows:
            a, s = r["analytic"], r["sim"]
            berr = f"{100 * a['busbw_error']:+6.0f}%" if a["busbw_error"] is not None else "      —"
            print(
                f"   {_size(r['size_bytes']):>6} {1e6 * r['time_s']:>8.1f}u {1e6 * a['time_s']:>8.1f}u"
                f" {100 * a['time_error']:>+6.0f}% {1e6 * s['time_s']:>8.1f}u {100 * s['time_error']:>+6.0f}%"
                f" {r['busbw_gbps']:>7.2f} {a['busbw_gbps']:>7.2f} {berr}  {a['algorithm']}/{a['protocol']}"
            )
    print("\nsummary: median / max |time error| (sizes), analytic | sim")
    print(f"{'curve':46} {'< 64 KiB':>26} {'64 KiB-16 MiB':>26} {'>= 16 MiB':>26}")
    for c, rows in results:
        sa, ss = summary(rows, "analytic"), summary(rows, "sim")
        cells = [f"{_summary_cell(sa, g)} | {_summary_cell(ss, g).split(' (')[0]}" for g, _, _ in REGIMES]
        print(f"{c.name:46} " + " ".join(f"{x:>26}" for x in cells))


if __name__ == "__main__":
    sys.exit(main())
