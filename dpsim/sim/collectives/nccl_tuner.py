"""NCCL's tuner constants by release: the tables ``ncclTopoTuneModel`` reads, as each NCCL version ships them.

``communication.nccl_version`` names the NCCL release a scenario runs. NCCL's tuner model only chooses: its
``comm->bandwidths`` / ``comm->latencies`` are read by ``topoGetAlgoInfo`` (``src/enqueue.cc``) to pick the algorithm
and protocol and by nothing that moves data; the transfer runs at what the links and the kernels give. So a
release's tables set NCCL's estimate, by which ``auto`` picks (:attr:`dpsim.sim.collectives.base.Layout.estimate`),
and the chosen schedule is priced with the default release's tables — the per-channel caps the schedules carry as
``engine_Bps`` (:func:`dpsim.sim.collectives.nccl.channel_cap_Bps`), the per-step and base latencies, the NVLS
shares — NVIDIA's latest measurement of kernels the older releases run too: the NVLS kernels (``all_reduce.h``
``runNvls`` / ``runNvlsTree``, ``prims_simple.h``) and the Hopper NVLS channel count (``nvls.cc``
``NVLS_NCHANNELS_SM90`` = 16) are the same in v2.27.7 and v2.28.3, whose notes call the new NVLS estimate "improved
NVLS/NVLSTree tuning prediction to improve algorithm and protocol selection", and the Blackwell tree caps it
replaced are "tuning data" over an unchanged tree kernel. Every table here is copied whole from
``src/graph/tuning.cc`` at the release's tag of NVIDIA/nccl (``baseLat``/``hwLat``/``llMaxBws``/``perChMax*Bws``
before v2.28, ``ncclTunerConstantsDefaults`` from v2.28.3); a release is its predecessor's tables with what that
file changed, so each entry below is one ``git diff`` of it.

The tables and NCCL's NVLS / NVLS-tree bandwidth estimate are versioned. Before v2.28.3 ``ncclTopoTuneModel``
estimated NVLS all-reduce at ``min(bwIntra, bwInter)`` and NVLS-tree at ``min(bwIntra, bwInter)`` on two nodes,
``min(bwIntra, bwInter/2)`` beyond, both times a bus-to-algorithm ratio of 5/6, with no ``nvlsEfficiency`` and no
NVLS-tree cap (:attr:`TunerTables.nvls_efficiency`, :attr:`TunerTables.nvls_ratio`). The search's speed arrays
(``search.cc``) and NVLink rates (``topo.h``) are the release's, in NCCL's estimate and in the channels the schedules
run on (:func:`dpsim.sim.collectives.nccl.speed_array_inter`, :func:`dpsim.sim.collectives.nccl.ring_search`). The
rest of dpsim's NCCL model is v2.30.7's: ``MAXCHANNELS``, the tree corrections, the NVLS schedules. One physical
change is not modelled: v2.20.3 to v2.27.7 copy a communicator's ring and tree channels up to its NVLS channel count
where NVLS is set up (``connect.cc``: ``comm->nChannels < comm->nvlsChannels``; removed in v2.28.3, "decreased max
CTA count from 32 to 16 on Blackwell"); dpsim cannot tell ``NCCL_NVLS_ENABLE=0`` from an ``NCCL_ALGO`` without NVLS,
and on Hopper the copies change nothing (16 NVLS channels, 16 ring channels on 4 or 8 NICs).

Releases before v2.25.1, back to v2.18.3, carry their tables and the estimate's forms that changed with them
(:attr:`TunerTables.nvls_bw_by_nodes`, :attr:`TunerTables.ring_ll_share`,
:attr:`TunerTables.ring_ll128_one_gpu_share`, :attr:`TunerTables.ring_net_steps_per_node`,
:attr:`TunerTables.one_gpu_net_latency_tree`); they have no Blackwell rows (``compCapIndex`` is Hopper's for any
compute capability ≥ 90, and they ship no sm_100 kernels). Their mechanisms outside ``tuning.cc`` are v2.30.7's
here, which agrees with them on the layouts of the rows that name them (≤ 8 GPUs and ≤ 8 rails a node):
``MAXCHANNELS`` 32 before v2.23.4 (16 ring channels at most), ``NCCL_MAX_NVLS_ARITY`` 8 before v2.21.5, NIC fusion
from v2.20. v2.18.1 (other per-channel tables, no ``TREE``-pattern factor) and older are not offered:
NVIDIA/nccl#837's and #527's A100 rows (v2.9.9, v2.10.3) ran a tuner without the plugin's latency, the ``TREE``
pattern or the per-channel LL128 tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["DEFAULT_NCCL_VERSION", "NCCL_VERSIONS", "P2C_SINCE", "TunerTables", "released", "tuner_tables"]

Row = tuple[float, float, float]
"""One table row: LL / LL128 / Simple, or 1 / 2 / ≥3 nodes."""


@dataclass(frozen=True)
class TunerTables:
    """The tuner constants of one NCCL release range (``src/graph/tuning.cc``), by the names dpsim reads them."""

    releases: tuple[str, ...]
    """The tagged releases (NVIDIA/nccl ``vX.Y.Z-1``) that ship exactly these tables."""
    base_latency_us: dict[str, Row]
    """``baseLatencies`` (µs, LL/LL128/Simple) per algorithm: paid once per call."""
    hw_latency_us: dict[str, dict[str, Row]]
    """``hwLatencies`` (µs per step, LL/LL128/Simple) by hardware class (nvlink, pci, net) and algorithm."""
    ll_max_gbps: dict[str, Row]
    """``llMaxBws`` (GB/s, all channels together; rows indexed as :data:`dpsim.sim.collectives.nccl.ARCHS`)."""
    per_channel_max_gbps: dict[str, dict[str, Row]]
    """``perChMaxTreeBws`` (``tree``), ``perChMaxTreeLL128Bws`` (``tree-LL128``), ``perChMaxRingLL128Bws``
    (``ring-LL128``), ``perChMaxNVLSTreeBws`` (``nvls-tree``; absent before v2.28.3: no cap) per GPU generation,
    GB/s of bus bandwidth per channel on 1 / 2 / ≥3 nodes."""
    nvls_efficiency: dict[str, float]
    """``nvlsEfficiency`` per GPU generation (v2.28.3 on: Hopper 0.85, Blackwell 0.74): the share of the NVLS
    graph's ``bwIntra`` NCCL's estimate counts. Empty before v2.28.3, whose estimate counts all of it."""
    nvls_ratio: float | None
    """NVLS and NVLS-tree all-reduce's bus-to-algorithm bandwidth ratio: 5/6 before v2.28.3 (with ``bwIntra``
    and ``bwInter`` taken once, ``bwInter/2`` for NVLS-tree beyond two nodes); None from v2.28.3, which uses the
    ring's ``nRanks/nsteps`` on twice the NVLS bandwidth (two operations pipelined, and twice ``bwInter`` for
    NVLS-tree on two nodes)."""
    nvls_bw_by_nodes: bool = False
    """v2.18.3–v2.18.6: NVLS and NVLS-tree take ``bw = nNodes <= 2 ? bwIntra : bwInter`` as every algorithm does
    (not the smaller of the two), NVLS-tree's bus ratio is ``.70 · nNodes / (2(nNodes−1))``, and its latency
    ``baseLat + 2(nNodes−1) · hwLat[NET]`` (from v2.19.1: ``intraLat + 2·log2i(nNodes)·interLat``)."""
    ring_ll_share: tuple[float, float] = (0.5, 0.5)
    """The ring LL protocol's share of the bus bandwidth: across nodes or for an all-reduce / reduce, and for the
    other collectives on one node (``busBw * .5`` from v2.21.5; ``1.0/4.0`` and ``1.0/3.0`` before)."""
    ring_ll128_one_gpu_share: float = 0.92
    """The ring LL128 protocol's share with one GPU a node (``ppn < 2``): 0.7 before v2.23.4, then 0.92 as with more."""
    ring_net_steps_per_node: bool = False
    """Before v2.23.4 a ring all-reduce's estimate counts ``2·nNodes`` inter-node steps (from v2.23.4
    ``2(nNodes−1)``, what the ring takes)."""
    one_gpu_net_latency_tree: bool = True
    """From v2.23.4 a layout of one GPU a node takes the tree's network step latency for every algorithm ("with
    ppn=1 latencies are fully exposed"); before, each algorithm's own."""


def _hopper_as_blackwell(rows: dict[str, Row]) -> dict[str, Row]:
    """Before v2.25.1 NCCL has no Blackwell row: ``compCapIndex`` is Hopper's for any compute capability ≥ 90."""
    return {**rows, "blackwell": rows["hopper"]}


_V2_18_3 = TunerTables(
    releases=("2.18.3", "2.18.5", "2.18.6"),
    base_latency_us={
        "tree": (6.8, 14.0, 0.0),
        "ring": (6.6, 14.0, 8.4),
        "nvls": (0.0, 0.0, 23.0),
        "nvls-tree": (0.0, 0.0, 23.0),
    },
    hw_latency_us={
        "nvlink": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4), "nvls": (0, 0, 0), "nvls-tree": (0, 0, 0)},
        "pci": {"tree": (1.0, 1.9, 6.0), "ring": (1.0, 2.5, 5.7), "nvls": (0, 0, 0), "nvls-tree": (0, 0, 0)},
        "net": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0), "nvls": (0, 0, 18), "nvls-tree": (0, 0, 19)},
    },
    ll_max_gbps=_hopper_as_blackwell(
        {"volta": (39.0, 39.0, 20.4), "ampere": (87.7, 22.5, 19.0), "hopper": (87.7, 22.5, 19.0)}
    ),
    per_channel_max_gbps={
        "tree": _hopper_as_blackwell(
            {"volta": (26.5, 18.5, 10.0), "ampere": (24.0, 23.6, 17.8), "hopper": (38.7, 41.4, 36.0)}
        ),
        "tree-LL128": _hopper_as_blackwell(
            {"volta": (20.0, 20.0, 20.0), "ampere": (20.0, 20.0, 20.0), "hopper": (36.7, 36.7, 29.0)}
        ),
        "ring-LL128": _hopper_as_blackwell(
            {"volta": (20.0, 20.0, 20.0), "ampere": (20.0, 20.0, 20.0), "hopper": (36.7, 36.7, 36.7)}
        ),
    },
    nvls_efficiency={},
    nvls_ratio=5.0 / 6.0,
    nvls_bw_by_nodes=True,
    ring_ll_share=(1.0 / 4.0, 1.0 / 3.0),
    ring_ll128_one_gpu_share=0.7,
    ring_net_steps_per_node=True,
    one_gpu_net_latency_tree=False,
)
"""v2.18.3 to v2.18.6 (``tuning.cc`` unchanged across these tags; v2.18.1 has other per-channel tables and is not
offered): NVLS and NVLS-tree at 23 µs base, NVLS-tree's own ratio and latency (:attr:`TunerTables.nvls_bw_by_nodes`);
Hopper's ``llMaxBws`` Ampere's."""
_V2_19 = dataclasses.replace(
    _V2_18_3,
    releases=("2.19.1", "2.19.3", "2.19.4", "2.20.3", "2.20.5"),
    base_latency_us={**_V2_18_3.base_latency_us, "nvls": (0.0, 0.0, 0.0), "nvls-tree": (0.0, 0.0, 0.0)},
    hw_latency_us={
        "nvlink": {"tree": (0.6, 1.25, 28.0), "ring": (0.6, 1.9, 3.4), "nvls": (0, 0, 23), "nvls-tree": (0, 0, 23)},
        "pci": {"tree": (1.0, 1.9, 28.0), "ring": (1.0, 2.5, 5.7), "nvls": (0, 0, 0), "nvls-tree": (0, 0, 0)},
        "net": {"tree": (5.0, 8.5, 28.0), "ring": (2.7, 4.0, 14.0), "nvls": (0, 0, 18), "nvls-tree": (0, 0, 14)},
    },
    nvls_bw_by_nodes=False,
)
"""v2.19.1 to v2.20.5: the NVLS estimate :attr:`TunerTables.nvls_ratio` describes (``min(bwIntra, bwInter)``,
``bwInter/2`` for NVLS-tree beyond two nodes, 5/6), NVLS latencies in ``hwLat`` (base 0), the tree's Simple step
28 µs on every hardware class (``tuning.cc`` unchanged from v2.19.1 to v2.20.5 in what dpsim reads)."""
_V2_21 = dataclasses.replace(
    _V2_19,
    releases=("2.21.5", "2.22.3"),
    hw_latency_us={**_V2_19.hw_latency_us, "nvlink": {**_V2_19.hw_latency_us["nvlink"], "nvls": (0, 0, 25),
                                                        "nvls-tree": (0, 0, 25)}},
    ll_max_gbps=_hopper_as_blackwell({**_V2_19.ll_max_gbps, "hopper": (141.0, 45.0, 35.0)}),
    ring_ll_share=(0.5, 0.5),
)  # fmt: skip
"""v2.21.5 and v2.22.3: NVLS's NVLink step 25 µs, Hopper's ``llMaxBws`` {141, 45, 35}, the ring LL share ``.5``."""
_V2_23 = dataclasses.replace(
    _V2_21,
    releases=("2.23.4", "2.24.3"),
    base_latency_us={**_V2_21.base_latency_us, "tree": (6.8, 14.0, 8.4)},
    hw_latency_us={
        kind: {**rows, "tree": (rows["tree"][0], rows["tree"][1], 14.0 if kind == "net" else 4.0)}
        for kind, rows in _V2_21.hw_latency_us.items()
    },
    ring_ll128_one_gpu_share=0.92,
    ring_net_steps_per_node=False,
    one_gpu_net_latency_tree=True,
)
"""v2.23.4 and v2.24.3: the tree's Simple base 8.4 µs and steps 4 / 4 / 14 µs, one GPU a node as any other for
LL128 and on the tree's network latency, the ring's ``2(nNodes−1)`` inter-node steps (v2.24.3 adds PAT's rate and
per-collective ``NCCL_ALGO``/``NCCL_PROTO``, not modelled)."""

_V2_25 = TunerTables(
    releases=("2.25.1", "2.26.2", "2.26.3", "2.26.5", "2.26.6", "2.27.3", "2.27.5", "2.27.6", "2.27.7"),
    base_latency_us={
        "tree": (6.8, 14.0, 8.4),
        "ring": (6.6, 14.0, 8.4),
        "nvls": (0.0, 0.0, 0.0),
        "nvls-tree": (0.0, 0.0, 0.0),
    },
    hw_latency_us={
        "nvlink": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4), "nvls": (0, 0, 25), "nvls-tree": (0, 0, 25)},
        "pci": {"tree": (1.0, 1.9, 4.0), "ring": (1.0, 2.5, 5.7), "nvls": (0, 0, 0), "nvls-tree": (0, 0, 0)},
        "net": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0), "nvls": (0, 0, 18), "nvls-tree": (0, 0, 14)},
    },
    ll_max_gbps={
        "volta": (39.0, 39.0, 20.4),
        "ampere": (87.7, 22.5, 19.0),
        "hopper": (141.0, 45.0, 35.0),
        "blackwell": (2 * 141.0, 2 * 45.0, 2 * 35.0),
    },
    per_channel_max_gbps={
        "tree": {
            "volta": (26.5, 18.5, 10.0),
            "ampere": (24.0, 23.6, 17.8),
            "hopper": (38.7, 41.4, 36.0),
            "blackwell": (2 * 38.7, 2 * 41.4, 2 * 36.0),
        },
        "tree-LL128": {
            "volta": (20.0, 20.0, 20.0),
            "ampere": (20.0, 20.0, 20.0),
            "hopper": (36.7, 36.7, 29.0),
            "blackwell": (2 * 36.7, 2 * 36.7, 2 * 29.0),
        },
        "ring-LL128": {
            "volta": (20.0, 20.0, 20.0),
            "ampere": (20.0, 20.0, 20.0),
            "hopper": (36.7, 36.7, 36.7),
            "blackwell": (2 * 36.7, 2 * 36.7, 2 * 36.7),
        },
    },
    nvls_efficiency={},
    nvls_ratio=5.0 / 6.0,
)
"""v2.25.1 (Blackwell's rows added, twice Hopper's) to v2.27.7: ``tuning.cc`` unchanged across these tags."""


def _changed(
    previous: TunerTables,
    releases: tuple[str, ...],
    caps: dict[str, dict[str, Row]] | None = None,
    net_nvls_tree: Row | None = None,
    nvls_efficiency: dict[str, float] | None = None,
) -> TunerTables:
    """``previous`` with the rows ``tuning.cc`` changed at ``releases``: per-channel caps by (table, arch), and the
    network per-step latency of NVLS-tree; and, where given, v2.28.3's NVLS estimate (``nvlsEfficiency``, the
    ring's bus ratio)."""
    per_channel = {name: dict(rows) for name, rows in previous.per_channel_max_gbps.items()}
    for name, rows in (caps or {}).items():
        per_channel.setdefault(name, {}).update(rows)
    hw = {kind: dict(rows) for kind, rows in previous.hw_latency_us.items()}
    if net_nvls_tree is not None:
        hw["net"]["nvls-tree"] = net_nvls_tree
    if nvls_efficiency is not None:
        previous = dataclasses.replace(previous, nvls_efficiency=nvls_efficiency, nvls_ratio=None)
    return dataclasses.replace(previous, releases=releases, per_channel_max_gbps=per_channel, hw_latency_us=hw)


_V2_28_3 = _changed(
    _V2_25,
    ("2.28.3",),
    caps={
        "tree": {"blackwell": (70.0, 42.8, 24.0)},
        "tree-LL128": {"blackwell": (55.6, 31.67, 20.0)},
        "nvls-tree": {
            "volta": (26.5, 18.5, 10.0),
            "ampere": (24.0, 23.6, 17.8),
            "hopper": (0.0, 57.7, 45.5),
            "blackwell": (0.0, 96.0, 43.1),
        },
    },
    nvls_efficiency={"hopper": 0.85, "blackwell": 0.74},
)
"""v2.28.3: ``ncclTunerConstantsDefaults``; Blackwell's tree caps measured (no longer twice Hopper's), the
NVLS-tree caps added (PAT's rows too, not modelled); the NVLS estimate rewritten (``nvlsEfficiency``, two
operations pipelined, the ring's bus ratio)."""
_V2_28_7 = _changed(_V2_28_3, ("2.28.7",), caps={"ring-LL128": {"blackwell": (2 * 36.7, 34.6, 2 * 36.7)}})
"""v2.28.7: Blackwell's ring LL128 cap on 2 nodes."""
_V2_28_9 = _changed(
    _V2_28_7, ("2.28.9",), caps={"nvls-tree": {"blackwell": (0.0, 96.0, 43.8)}}, net_nvls_tree=(0, 0, 20.9)
)
"""v2.28.9: Blackwell's NVLS-tree cap on ≥3 nodes, NVLS-tree's network step latency."""
_V2_29_2 = _changed(_V2_28_9, ("2.29.2", "2.29.3"), caps={"ring-LL128": {"blackwell": (34.5, 34.6, 34.5)}})
"""v2.29.2 and v2.29.3: Blackwell's ring LL128 caps."""
_V2_29_7 = _changed(_V2_29_2, ("2.29.7",), caps={"ring-LL128": {"blackwell": (40.0, 40.0, 40.0)}})
"""v2.29.7: Blackwell's ring LL128 caps."""
_V2_30 = _changed(_V2_29_7, ("2.30.3", "2.30.4", "2.30.7"), caps={"nvls-tree": {"blackwell": (0.0, 96.0, 80.0)}})
"""v2.30.3 to v2.30.7: Blackwell's NVLS-tree cap on ≥3 nodes (the constants now positional, same values)."""

_TABLES: tuple[TunerTables, ...] = (
    _V2_18_3,
    _V2_19,
    _V2_21,
    _V2_23,
    _V2_25,
    _V2_28_3,
    _V2_28_7,
    _V2_28_9,
    _V2_29_2,
    _V2_29_7,
    _V2_30,
)

NCCL_VERSIONS: tuple[str, ...] = tuple(release for tables in _TABLES for release in tables.releases)
"""The NCCL releases ``communication.nccl_version`` accepts, oldest first."""

DEFAULT_NCCL_VERSION = "2.30.7"
"""The release dpsim models where a scenario names none (the newest whose source it was checked against)."""


def released(version: str, since: str) -> bool:
    """Whether NCCL ``version`` is ``since`` or a later release (both in :data:`NCCL_VERSIONS`)."""
    return NCCL_VERSIONS.index(version) >= NCCL_VERSIONS.index(since)


P2C_SINCE = "2.27.3"
"""The first release with NCCL's ``P2C`` path type (``src/graph/paths.cc``: a GPU that reaches a NIC through its CPU
over NVLink-C2C, ``PHB`` before) and LL128 on it by default (``tuning.cc``: ``NCCL_LL128_C2C``, default 1); its
release notes: "Add support for P2C (PXN over C2C) and the LL128 protocol" on platforms "with C2C connectivity
(e.g., GB200)" (:attr:`dpsim.sim.collectives.base.Layout.ll128_across_nodes`)."""


_BY_RELEASE: dict[str, TunerTables] = {release: tables for tables in _TABLES for release in tables.releases}


def tuner_tables(version: str = DEFAULT_NCCL_VERSION) -> TunerTables:
    """The tuner constants of NCCL ``version`` (one of :data:`NCCL_VERSIONS`)."""
    try:
        return _BY_RELEASE[version]
    except KeyError:
        raise ValueError(f"NCCL {version!r} has no tuner tables here; one of {', '.join(NCCL_VERSIONS)}") from None
