"""dpsim's predicted bus bandwidth next to public nccl-tests results.

Each row is a configuration someone ran ``all_reduce_perf`` (or ``reduce_scatter_perf`` /
``all_gather_perf``, :attr:`PublishedRun.op`) on and published (NVIDIA/nccl
and NVIDIA/nccl-tests issue threads, most with an NVIDIA engineer confirming the figure
is what the hardware should give), with its source URL. dpsim predicts the same
collective with ``dpsim collective`` on a scenario of that machine: catalog links at their
achievable rates (``dpsim catalog links``: NVLink from NCCL's own per-link constants in
``src/graph/topo.h``, NICs from NVIDIA's per-NIC figures), NCCL's algorithms and
protocols, and ``algorithm: auto`` unless the run forced ``NCCL_ALGO``.

Calibration vs prediction: no constant was fitted to this table. Rows that are not
independent of the link efficiencies are marked ``consistency``: the H100 one-node
ring (370 GB/s is the figure NCCL's maintainer gives for NVLink 4 after protocol
overhead — the same number as 18 × SM90_NVLINK_BW) and AWS's 2-node p4d ring over EFA
(the catalog's EFA v1 efficiency is that run's busbw over its 4 devices). Every other row is a prediction
(the PCIe Gen5 rows' GPU-to-GPU rate, the catalog's ``pcie5`` ``intra_efficiency``, is another machine's ring:
purplepow3r's 7 GPUs on a dual Turin at 4 GiB, not a row here).

All-to-all rows are a table apart (:data:`P2P_ROWS`): NCCL runs them as grouped point-to-point operations.

Run: ``python benchmarks/nccl_tests_table.py`` (prints both tables; ``--format json``).
``tests/test_nccl.py`` imports :data:`ROWS` and checks every row within 10 %; ``tests/test_p2p.py`` checks
:data:`P2P_ROWS` within 15 % (dpsim is above both published runs: +9.5 %, +13.5 %).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser

__all__ = ["P2P_ROWS", "ROWS", "PublishedRun", "predict", "size_label", "table"]


@dataclass(frozen=True)
class PublishedRun:
    """One published nccl-tests result: the machine, the collective and message size, the busbw, the source."""

    name: str
    device: str
    nodes: int
    gpus_per_node: int
    intra: str
    inter: str
    nics_per_node: int
    algorithm: str
    """What NCCL ran: ``auto`` (its tuner) or the forced ``NCCL_ALGO``."""
    size_bytes: float
    busbw_gbps: float
    """Published bus bandwidth, GB/s (10^9 bytes/s, as nccl-tests prints)."""
    source: str
    role: str = "prediction"
    note: str = ""
    op: str = "allreduce"
    """The collective (``dpsim collective --op``): nccl-tests' binary without ``_perf``, all_reduce → allreduce."""
    host_topology: tuple[tuple[str, Any], ...] = ()
    """``cluster.host_topology`` of a PCIe-only node as (field, value) pairs (sockets, gpus_per_switch, cpu, p2p,
    socket_link_gbps); empty: none (every GPU pair at the intra-node rate)."""
    p2p_level: str | None = None
    """``NCCL_P2P_LEVEL`` the run set (None: NCCL's default), ``communication.nccl_p2p_level``: which ring edges go
    through host memory (SHM). dpsim routes P2P through the root complex and SHM over the same links; a ring with
    an SHM edge takes one step more a loop (its receive-only step reads host memory)."""
    inter_fields: tuple[tuple[str, Any], ...] = ()
    """More ``cluster.inter_node`` fields as (field, value) pairs, e.g. a port rate where the preset's differs."""
    cluster_fields: tuple[tuple[str, Any], ...] = ()
    """More ``cluster`` fields as (field, value) pairs, e.g. the hosts' ``cpu_vendor``."""
    communication: tuple[tuple[str, Any], ...] = ()
    """``communication`` fields from the NCCL environment the run set (``nccl_algo`` for ``NCCL_ALGO`` lists or
    ``NCCL_NVLS_ENABLE=0``) and the NCCL release the source states (``nccl_version``, where dpsim carries that
    release's tuner tables), as (field, value) pairs."""


GiB = float(1 << 30)
MiB = float(1 << 20)
_RTX6KPRO = "https://github.com/voipmonitor/rtx6kpro/blob/1306de818e9c34047e512fa0504c49049707d5d4/"
_RTX6KPRO_SWITCHES = (
    "https://github.com/voipmonitor/rtx6kpro/blob/48c31ee0cd0dbfb1e581113cbb3f45dcf77118da/"
    "hardware/asus-esc8000a-e13p-broadcom-switches.md"
)
_AUTODL = (
    "https://github.com/Anthony-Hoo/Anthony-Hoo.github.io/blob/37e805e8e56f839f6557756d76503d45af6ab47e/"
    "posts/AutoDL_Multi-GPU_Interconnection_Test.md"
)
ROWS: tuple[PublishedRun, ...] = (
    PublishedRun(
        "A100 x8, 1 node (NVSwitch)", "a100-80gb", 1, 8, "nvlink3", "ib-hdr", 4, "auto", 4 * GiB, 232.54,
        "https://github.com/NVIDIA/nccl-tests/issues/175",
        note="single node, -b 8 -e 4G -g 8",
    ),
    PublishedRun(
        "A100 x8, 2 nodes, 4x HDR", "a100-80gb", 2, 8, "nvlink3", "ib-hdr", 4, "auto", 8 * GiB, 91.0,
        "https://github.com/NVIDIA/nccl-tests/issues/100",
        note="HGX A100 80GB, four ConnectX-6 200 Gb/s, -b 1G -e 8G",
    ),
    PublishedRun(
        "A100 x8, 2 nodes, 2x HDR (tree)", "a100-80gb", 2, 8, "nvlink3", "ib-hdr", 2, "auto", 1 * GiB, 57.06,
        "https://github.com/NVIDIA/nccl/issues/837",
        note="NCCL 2.10.3, NCCL_ALGO unset, k8s MPIJob, -b 4M -e 1024M (one figure per version: 2.9.9 53.95, "
        "2.10.3 57.06); above the 2 NICs' 48 GB/s, so the tree ran (maintainer: the tree on 2 nodes)",
    ),
    PublishedRun(
        "A100 x8, 3 nodes, 4x HDR", "a100-40gb", 3, 8, "nvlink3", "ib-hdr", 4, "auto", 128 * MiB, 96.0,
        "https://github.com/NVIDIA/nccl-tests/issues/119",
        note="peak at ~128 MB; maintainer: 96 GB/s is the target for 4 x 200G",
    ),
    PublishedRun(
        "A100 x8 p4d, 2 nodes, 4x 100G EFA, ring", "a100-40gb", 2, 8, "nvlink3", "efa", 4, "ring", 4 * GiB, 43.81,
        "https://github.com/aws-samples/aws-efa-eks/blob/9933d7f3940191f69b9a9e938c07cc671ae476fd/README.md",
        role="consistency",
        note="AWS's EKS example: 2 x p4d.24xlarge (16 A100-SXM4-40GB, 4 x 100 Gbit/s EFA a node, GPUDirect RDMA: "
        "'NET/AWS Libfabric/1/GDRDMA'), NCCL 2.9.9, 8 coll channels; the repository's job file "
        "(examples/nccl-efa-tests.yaml) sets NCCL_ALGO=RING; 4 GiB out-of-place 183834 us (1 GiB: 42.48). The "
        "source of the catalog's EFA v1 efficiency (43.81 / 4 devices / 12.5 GB/s)",
    ),
    PublishedRun(
        "H100 x8, 1 node, ring", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 8, "ring", 8 * GiB, 370.0,
        "https://github.com/NVIDIA/nccl-tests/issues/212",
        role="consistency",
        note="NCCL maintainer: effective NVLink bandwidth 370 GB/s with NCCL_ALGO=RING",
    ),
    PublishedRun(
        "H100 x8, 1 node, NVLS", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 8, "auto", 8 * GiB, 480.0,
        "https://github.com/NVIDIA/nccl-tests/issues/309",
        note="'each single node with 8 pairs still get 480 GB/s'; ~480 also in nccl-tests#212 and #290",
    ),
    PublishedRun(
        "H100 x8, 1 node, NVLS (nccl-tests#347)", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 4, "auto", 8 * GiB, 479.41,
        "https://github.com/NVIDIA/nccl-tests/issues/347",
        note="'Within one node': 8 x H100 80GB HBM3 (8 GPUs / 4 NICs a node), all_reduce 8589934592 B: "
        "out-of-place 31356 us, busbw 479.41 (in-place 480.14); NCCL_ALGO unset",
    ),
    PublishedRun(
        "H100 x8, 1 node, NVLS (nccl-tests#290)", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 8, "auto", 4 * GiB, 476.0,
        "https://github.com/NVIDIA/nccl-tests/issues/290",
        note="single node, -b 128M -e 4G; NVIDIA (AddyLaddy): 'using NVLink and NVLink SHARP ... 476GB/s looks "
        "to be in the expected range for H100'",
    ),
    PublishedRun(
        "H100, 1 node, reduce_scatter", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 8, "auto", 8 * GiB, 360.0,
        "https://github.com/NVIDIA/nccl/issues/1281",
        note="'the result of nccl-tests on H100, reducescatter's busbw is 360GBps' (peak; size and GPU count not "
        "given: ring busbw on NVSwitch does not depend on either, dpsim 370.2/370.4/370.4 GB/s on 8/4/2 GPUs at "
        "8 GiB); NVIDIA (jbachan): no known reason for the 10 GB/s gap to all_gather",
        op="reduce_scatter",
    ),
    PublishedRun(
        "H100, 1 node, all_gather", "h100-sxm", 1, 8, "nvlink4", "ib-ndr", 8, "auto", 8 * GiB, 350.0,
        "https://github.com/NVIDIA/nccl/issues/1281",
        note="same thread: 'allgather's busbw is 350GBps' with the same NCCL settings as the reduce_scatter",
        op="all_gather",
    ),
    PublishedRun(
        "H100 x4, 2 nodes, 4x HDR, ring", "h100-sxm", 2, 4, "nvlink4", "ib-hdr", 4, "ring", 8 * GiB, 95.3,
        "https://github.com/NVIDIA/nccl-tests/issues/252",
        note="NCCL_ALGO=RING, avg busbw 95.3; NVIDIA: '~24GB/s per NIC'",
    ),
    PublishedRun(
        "H100 x8, 2 nodes, 8x NDR (NVLS-tree)", "h100-sxm", 2, 8, "nvlink4", "ib-ndr", 8, "auto", 8 * GiB, 470.0,
        "https://github.com/NVIDIA/nccl-tests/issues/309",
        note="'each 2 nodes with 16 pairs can still get 470 GB/s'",
    ),
    PublishedRun(
        "H100 x8, 4 nodes, 8x NDR", "h100-sxm", 4, 8, "nvlink4", "ib-ndr", 8, "auto", 8 * GiB, 365.84,
        "https://github.com/NVIDIA/nccl-tests/issues/309",
        note="'4 nodes on 32 GPU-NIC pairs ... max busbw 365.84 GB/s'",
    ),
    PublishedRun(
        "H100 x8, 5 nodes, 4x 400G RoCE, ring", "h100-sxm", 5, 8, "nvlink4", "roce-400g", 4, "ring", 1 * GiB, 190.0,
        "https://github.com/NVIDIA/nccl/issues/1368",
        note="NCCL_ALGO=Ring, 40 GPUs, -e 1G: 'ring bandwidth (190GB/s)'; NCCL 2.20 (the run's LD_LIBRARY_PATH "
        "names an nccl220 build: 2.20.3 and 2.20.5 ship one tuning.cc)",
        communication=(("nccl_version", "2.20.5"),),
    ),
    PublishedRun(
        "H100 x8, 5 nodes, 4x 400G RoCE, tree", "h100-sxm", 5, 8, "nvlink4", "roce-400g", 4, "tree", 1 * GiB, 150.0,
        "https://github.com/NVIDIA/nccl/issues/1368",
        note="NCCL_ALGO=Tree on the same machine: 'tree bus bandwidth(150GB/s) is slower than ring'; "
        "NCCL 2.20, NCCL_PXN_DISABLE=0, NCCL_DEBUG=version (no topology or graph lines)",
        communication=(("nccl_version", "2.20.5"),),
    ),
    PublishedRun(
        "V100 x8 DGX-1, 4 nodes, 4x EDR", "v100", 4, 8, "nvlink2", "ib-edr", 4, "auto", 512 * MiB, 48.0,
        "https://github.com/NVIDIA/nccl-tests/issues/29",
        note="NVIDIA (sjeaugey): 'DGX-1 can get 48 GB/s because we have 4 IB adapters' (100 Gb/s EDR each), "
        "answering a 4-server 8 x V100 run of NCCL 2.4.7, -b 8 -e 512M; the figure DGX-1s reach, not one run",
    ),
    PublishedRun(
        "RTX PRO 6000 x8, PCIe, 2x Turin", "b200", 1, 8, "pcie5", "ib-ndr", 1, "auto", 32 * MiB, 22.2,
        _RTX6KPRO + "optimization/nccl-tuning.md",
        note="Festr's dual AMD EPYC Turin, 8 x RTX PRO 6000 Blackwell Server direct-attach (PCIe Gen5 x16 root "
        "ports, 4 a socket), all_reduce_perf -b 32M -g 8, 'Default NCCL' (2 channels), NCCL 2.28.x per the page; "
        "b200 stands for the Blackwell generation NCCL's tuner reads. The page says NCCL's search found no speed "
        "(AMD_BW 16 under sm100SpeedArrayIntra's lowest 18) and fell back to a 0.1 GB/s graph: not NCCL's "
        "inter-CPU figure but 2 channels set the rate (37.6 with NCCL_MIN_NCHANNELS=8). The socket link is priced "
        "at its measured rate, not AMD_BW: 99.42 GB/s bidirectional P2P between GPUs on the two sockets of a dual "
        "Turin (purplepow3r's p2pBandwidthLatencyTest, hardware/pcie-bandwidth.md at the same commit), 49.71 a way; "
        "the GPUs' links at the 41.5 GB/s Gen5 rings reach GPU to GPU (catalog pcie5 intra_efficiency: "
        "purplepow3r's 7-GPU ring at 4 GiB, same page)",
        host_topology=(("sockets", 2), ("gpus_per_switch", 1), ("cpu", "amd"), ("socket_link_gbps", 49.71)),
    ),
    PublishedRun(
        "RTX PRO 6000 x4, PCIe switches", "b200", 1, 4, "pcie5", "ib-ndr", 1, "auto", 32 * MiB, 30.3,
        _RTX6KPRO_SWITCHES,
        note="ASUS ESC8000A-E13P, GPUs 0-3 on NUMA 0 of 2 x AMD EPYC 9575F: two Broadcom PEX890xx partitions of 2 "
        "GPUs (PIX), NODE between them, Gen5 x16, ACS off; AllReduce 32M on 4 GPUs, 'Default (SHM for NODE pairs)' "
        "(1629 us for 32 MB in the page's own NCCL table). NCCL version not given",
        host_topology=(("sockets", 1), ("gpus_per_switch", 2)),
    ),
    PublishedRun(
        "RTX PRO 6000 x4, PCIe, P2P_LEVEL=SYS", "b200", 1, 4, "pcie5", "ib-ndr", 1, "auto", 32 * MiB,
        39.3, _RTX6KPRO_SWITCHES,
        note="the same 4 GPUs with NCCL_P2P_LEVEL=SYS (P2P/direct pointer for the NODE pairs too; 1277 us for 32 MB "
        "in the page's table); dpsim routes P2P and SHM over the same links, but without SHM edges the ring takes "
        "2(N-1) steps, not 2N-1. Not calibration: the links' 41.5 GB/s comes from another machine's ring",
        host_topology=(("sockets", 1), ("gpus_per_switch", 2)),
        p2p_level="SYS",
    ),
    PublishedRun(
        "RTX 2080 Ti x2, Gen3 switch, no P2P", "v100", 1, 2, "pcie3", "ib-edr", 1, "auto", 1 * GiB, 4.00,
        _AUTODL,
        note="AutoDL container, 2 x GeForce RTX 2080 Ti under one PCIe Gen3 x16 switch (nvidia-smi topo: PIX, one "
        "NUMA node; topo -p2p: NS, p2pBandwidthLatencyTest 'CANNOT Access Peer': every byte through the CPU), "
        "CUDA 12.4, NCCL version not printed; all_reduce_perf -b 8 -e 1024M -g2, 1 GiB out-of-place 268588 us; "
        "v100 stands for the Volta/Turing tuner row (sm_75)",
        host_topology=(("gpus_per_switch", 2), ("p2p", False)),
    ),
    PublishedRun(
        "RTX 2080 Ti x2, Gen3 switch, no P2P, all_gather", "v100", 1, 2, "pcie3", "ib-edr", 1, "auto", 1 * GiB, 3.79,
        _AUTODL,
        note="same machine, all_gather_perf -b 8 -e 1024M -g2, 1 GiB out-of-place 141614 us (algbw 7.58)",
        op="all_gather",
        host_topology=(("gpus_per_switch", 2), ("p2p", False)),
    ),
    PublishedRun(
        "RTX 2080 Ti x2, Gen3 switch, no P2P, broadcast", "v100", 1, 2, "pcie3", "ib-edr", 1, "auto", 1 * GiB, 11.09,
        _AUTODL,
        note="same machine, broadcast_perf -b 8 -e 1024M -g2, 1 GiB out-of-place 96800 us: one direction through "
        "the switch's uplink",
        op="broadcast",
        host_topology=(("gpus_per_switch", 2), ("p2p", False)),
    ),
    PublishedRun(
        "H200 x8, 248 nodes, 8x NDR", "h100-sxm", 248, 8, "nvlink4", "ib-ndr", 8, "auto", 512 * MiB, 350.0,
        "https://github.com/NVIDIA/nccl-tests/issues/283",
        note="1984 GPUs, 512 MB, 'typically around 350G'; H200 has the H100's NVLink 4 and NVSwitch",
    ),
)  # fmt: skip
"""Published results (large messages) with their sources; all-reduce unless ``op`` says otherwise."""

P2P_ROWS: tuple[PublishedRun, ...] = (
    PublishedRun(
        "H100 x4, 1 node, alltoall", "h100-sxm", 1, 4, "nvlink4", "ib-ndr", 4, "auto", 524288000.0, 334.90,
        "https://github.com/NVIDIA/nccl/issues/2169",
        note="4 of an HGX node's H100 80GB HBM3, NCCL 2.30.4, nccl-tests 2.17.8, -b 500M (NCCL_ALGO=Ring "
        "NCCL_PROTO=Simple set, which p2p ignores), out-of-place; 358.40 with -R1 (registered buffers); the "
        "thread is about a drop above 512 MB with NCCL 2.28.3, not modelled",
        op="alltoall", communication=(("nccl_version", "2.30.4"),),
    ),
    PublishedRun(
        "A100 x8, 2 nodes, 4x 200G RoCE, alltoall", "a100-80gb", 2, 8, "nvlink3", "ib-hdr", 4, "auto", 4 * GiB,
        19.83, "https://github.com/NVIDIA/nccl/issues/1138",
        note="NCCL 2.18.6, -b 4G -e 4G, RoCE (NCCL_IB_GID_INDEX=3, NCCL_IB_QPS_PER_CONNECTION=4); NICs at "
        "183 Gb/s; the reporter saw GPU 0 proxy every send to remote GPUs 0 and 1 (PXN through the NIC's first "
        "GPU, as modelled) and reached 20.71 with a patched proxy choice",
        op="alltoall", communication=(("nccl_version", "2.18.6"),),
    ),
)  # fmt: skip
"""Published all-to-all results (nccl-tests ``alltoall_perf``), a table apart: NCCL runs them as grouped
ncclSend/ncclRecv (:mod:`dpsim.sim.collectives.p2p`), which nothing in :data:`ROWS` exercises. No constant was
fitted to them. Not usable for lack of a machine description: nccl#1531 (8 x 8 H800, NICs not given),
nccl-tests#267 (6 x 8 H100 on 8 x 400G RoCE, figures in images; NVIDIA: 'the performance of a single NIC',
48-49 GB/s for NDR), nccl-tests#214 (sendrecv between two A40 nodes, NIC not given)."""


def scenario_for(run: PublishedRun) -> Any:
    """The dpsim scenario of one published machine (the model and batch do not matter to a collective)."""
    from dpsim.cli_collective import machine_scenario

    inter = {"preset": run.inter, "nics_per_node": run.nics_per_node, **dict(run.inter_fields)}
    host = {"host_topology": dict(run.host_topology)} if run.host_topology else {}
    level = {"nccl_p2p_level": run.p2p_level} if run.p2p_level is not None else {}
    return machine_scenario(
        run.name, run.nodes, run.gpus_per_node, run.device, run.intra, inter, run.algorithm,
        communication={**dict(run.communication), **level}, **host, **dict(run.cluster_fields),
    )  # fmt: skip


def nccl_graph(run: PublishedRun) -> str:
    """NCCL's intra-node ring graph on a PCIe row's node (:func:`dpsim.sim.pcie_ring.scenario_pcie_ring`), in words;
    empty for rows without a host topology."""
    from dpsim.sim.pcie_ring import scenario_pcie_ring

    ring = scenario_pcie_ring(scenario_for(run), run.p2p_level) if run.host_topology else None
    if ring is None:
        return ""
    search = "no ring, fallback 1 x 0.1 GB/s" if ring.fallback else f"{ring.search_channels} x {ring.speed_gbps:g} GB/s"
    hops = ", ".join(f"{n} {t}" for t in ("P2P", "SHM") if (n := ring.transports.count(t)))
    return (
        f"NCCL's ring search: {search} ({ring.type_intra}), {ring.channels} channels of {ring.simple_threads} "
        f"threads, hops {hops}"
    )


def predict(run: PublishedRun, engine: str = "analytic") -> dict[str, Any]:
    """dpsim's collective at the published size with ``engine``: busbw (GB/s), algorithm, protocol, error."""
    from dpsim.cli_collective import collective_rows

    row = collective_rows(scenario_for(run), run.op, [run.size_bytes], engine=engine)[0]
    busbw = row["busbw_Bps"] / 1e9
    return {
        **asdict(run),
        "predicted_gbps": busbw,
        "algorithm_used": row["algorithm"],
        "protocol_used": row["protocol"],
        "error": busbw / run.busbw_gbps - 1.0,
        "nccl_graph": nccl_graph(run),
    }


def table(rows: tuple[PublishedRun, ...] = ROWS, engine: str = "analytic") -> list[dict[str, Any]]:
    return [predict(run, engine) for run in rows]


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)
    rows = table()
    p2p = table(P2P_ROWS)
    if args.format == "json":
        print(json.dumps(rows + p2p, indent=1))
        return
    _print(rows)
    print("\nall-to-all (NCCL's grouped send/receive):")
    _print(p2p)


def size_label(size_bytes: float) -> str:
    """A message size as printed: ``4G`` from 1 GiB up, ``64M`` from 1 MiB, ``32K`` from 1 KiB, else ``256``."""
    if size_bytes < 1024:
        return f"{size_bytes:g}"
    if size_bytes < MiB:
        return f"{size_bytes / 1024:g}K"
    return f"{size_bytes / GiB:g}G" if size_bytes >= GiB else f"{size_bytes / MiB:g}M"


def _print(rows: list[dict[str, Any]]) -> None:
    width = max(38, *(len(r["name"]) for r in rows))
    print(f"{'configuration':{width}} {'size':>8} {'published':>10} {'dpsim':>8} {'error':>7}  {'dpsim ran':18} role")
    for r in rows:
        size = size_label(r["size_bytes"])
        ran = f"{r['algorithm_used']}/{r['protocol_used']}"
        print(
            f"{r['name']:{width}} {size:>8} {r['busbw_gbps']:>10.1f} {r['predicted_gbps']:>8.1f} "
            f"{100 * r['error']:>+6.1f}%  {ran:18} {r['role']}"
        )
    print()
    for r in rows:
        graph = f" [{r['nccl_graph']}]" if r["nccl_graph"] else ""
        print(f"  {r['name']}: {r['source']}  {r['note']}{graph}")
    worst = max(abs(r["error"]) for r in rows)
    print(f"\nworst |error| = {100 * worst:.1f} % over {len(rows)} configurations")
    print(f"within 10 %: {sum(abs(r['error']) < 0.10 for r in rows)} of {len(rows)} configurations")


if __name__ == "__main__":
    sys.exit(main())
