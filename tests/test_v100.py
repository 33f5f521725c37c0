"""V100 machines (issue 9): NVLink 2 (``nvlink2``), DGX-2's NVSwitch and DGX-1V's hybrid cube mesh.

Expectations are computed by hand from NVIDIA's link rates and NCCL's own constants
(``src/graph/topo.h`` ``SM70_NVLINK_BW``, ``src/graph/search.cc``), never from dpsim.
"""

from __future__ import annotations

import pytest

from dpsim.catalog import LINKS
from dpsim.cli_collective import collective_rows, machine_scenario

GiB = float(1 << 30)


def _busbw(nodes: int, g: int, algorithm: str = "ring", size: float = 8 * GiB, **cluster: object) -> float:
    scenario = machine_scenario(
        "v100",
        nodes,
        g,
        "v100",
        "nvlink2",
        {"preset": "ib-edr", "nics_per_node": 4},
        algorithm,
        {"nccl_proto": ["Simple"]},
        **cluster,
    )
    return collective_rows(scenario, "allreduce", [size])[0]["busbw_Bps"] / 1e9


def test_nvlink2_is_six_links_of_25_gbps_at_ncclss_20_per_link() -> None:
    """V100 datasheet: 6 NVLinks, 300 GB/s bidirectional = 150 GB/s a direction; NCCL: 20.0 GB/s a link (SM70)."""
    link = LINKS["nvlink2"]
    assert link.bandwidth == 6 * 25e9
    assert link.achievable == pytest.approx(6 * 20.0e9, rel=1e-12)
    assert "SM70_NVLINK_BW" in link.efficiency_source


def test_dgx2_ring_runs_at_each_gpus_six_links_into_nvswitch() -> None:
    """DGX-2: 16 V100, each GPU's 6 links to the NVSwitch planes. A ring's busbw is one port's rate, 6 × 20 GB/s.

    At 8 GiB the ring's 2·15 per-step latencies (Simple: 3.4 µs on NVLink, plus 8.4 µs base) add
    ~110 µs to 8 GiB · 2·15/16 / 120 GB/s = 134 ms: busbw within 0.1 % of 120 GB/s.
    """
    assert _busbw(1, 16) == pytest.approx(120.0, rel=1e-3)
