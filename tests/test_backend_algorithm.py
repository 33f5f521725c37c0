"""``communication.algorithm: backend`` is the communicator's own choice, as torch.distributed runs it.

torch.distributed creates a device's process group from ``Backend.default_device_backend_map``
(``torch/distributed/distributed_c10d.py``: cpu → gloo, cuda → nccl), so plain DDP, ZeRO and FSDP on GPUs reduce
with NCCL, whose own tuner picks the algorithm and protocol (``ProcessGroupNCCL`` names neither), and on CPUs
with gloo, whose all-reduce is one ring over the ranks in their order (``gloo/allreduce.cc``). On old main
``backend`` was gloo's ring on GPUs too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpsim import api
from dpsim.analytic import collectives as cf
from dpsim.analytic.step import fabric_of
from dpsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
CPU = ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
H100 = [
    "cluster.device=h100-sxm",
    "cluster.intra_node=nvlink4",
    "cluster.nodes=4",
    "cluster.workers_per_node=8",
    "cluster.inter_node={preset: ib-ndr, nics_per_node: 8}",
]
FSDP = ["training.zero_stage=3", "training.optimizer_sharding=fsdp"]
NCCL = ("ring", "tree", "nvls", "nvls-tree")


def _record(path: Path, sets: list[str], engine: str) -> tuple[float, float, float, object, object]:
    r = api.run(load_scenario(path, sets), engine=engine)
    return (
        r.step_time_s,
        r.comm_s,
        r.exposed_comm_s,
        r.extra.get("collective_algorithm"),
        r.extra.get("collective_protocol"),
    )


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize("sharding", [[], FSDP], ids=["ddp", "fsdp"])
def test_backend_on_h100_nodes_is_nccls_own_pick(engine: str, sharding: list[str]) -> None:
    """On 4 × 8 H100 (8 NDR NICs a node) ``backend`` is what NCCL's tuner picks, ``auto``, to the bit: the DDP
    all-reduce and FSDP's reduce-scatter and all-gathers, on both engines; both records name the NCCL algorithm and
    protocol it picked (not gloo's ``backend`` ring without a protocol; the simulator's named none on old main)."""
    backend = _record(DEFAULT, [*H100, *sharding, "communication.algorithm=backend"], engine)
    auto = _record(DEFAULT, [*H100, *sharding, "communication.algorithm=auto"], engine)
    assert backend == auto
    assert backend[3] in NCCL and backend[4] in ("LL", "LL128", "Simple")
    # what moved: one ring through one NIC a node against NCCL's rails, a bandwidth statement, so at 1 GiB: gloo's
    # ring sends 2·31/32·S through one 47 GB/s NIC a node, NCCL's NVLS-tree S/4 through each of 8 (a head receives
    # its S/8 from two children and from its parents in both trees): 7.75x apart, less latency and fill (at 25 MiB
    # NVLS-tree's chunked fill, 3 loops of 64 KiB chunks, leaves 3.9x)
    fabric = fabric_of(load_scenario(DEFAULT, H100))
    gloo_ring = cf.collective("allreduce", "backend", 2**30, fabric).time_s
    nccl = cf.collective("allreduce", "auto", 2**30, fabric).time_s
    assert gloo_ring > 2 * 31 / 32 * 2**30 / 47e9 and nccl < gloo_ring / 7


def test_backend_reads_nccls_settings_on_gpus_as_auto_does(tmp_path: Path) -> None:
    """NCCL's environment reaches a DDP job's NCCL communicator (``NCCL_PROTO``, ``NCCL_ALGO``, the release): with
    ``backend`` on GPUs the scenario's ``nccl_proto`` / ``nccl_algo`` / ``nccl_version`` are read as under ``auto``
    (refused as unread on old main), and ``runtime --nccl-pin`` pins nothing (it raised: no NCCL equivalent)."""
    from dpsim.analytic.step import predict
    from runtime.nccl import nccl_settings

    for setting in ("communication.nccl_proto=[LL]", "communication.nccl_algo=[ring]"):
        runs = {}
        for algorithm in ("backend", "auto"):
            r = predict(load_scenario(DEFAULT, [*H100, f"communication.algorithm={algorithm}", setting]))
            runs[algorithm] = (r.step_time_s, r.extra["collective_algorithm"], r.extra["collective_protocol"])
        assert runs["backend"] == runs["auto"]
        unset = predict(load_scenario(DEFAULT, [*H100, "communication.algorithm=backend"]))
        assert runs["backend"][1:] != (unset.extra["collective_algorithm"], unset.extra["collective_protocol"])
    assert nccl_settings(load_scenario(DEFAULT, [*H100, "communication.algorithm=backend"])) == {}


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_backend_on_cpus_stays_gloos_ring(engine: str) -> None:
    """On CPU devices ``backend`` is gloo's ring over the ranks in order, one channel, no protocol: on 2 nodes × 2
    ranks (1 Gbit/s, 100 µs between nodes) every step of the ring has one inter-node hop, so one all-reduce of S
    is 2(n−1)(α + S/(n·B)) on the inter-node link (Patarasuk and Yuan 2009), and the record says ``backend``,
    protocol ``none``."""
    scenario = load_scenario(CPU, ["communication.algorithm=backend"])
    fabric = fabric_of(scenario)
    size, n = 4 * 2**20, 4
    expected = 2 * (n - 1) * (100e-6 + size / n / 125e6)
    assert cf.collective("allreduce", "backend", size, fabric).time_s == pytest.approx(expected, rel=1e-12)
    r = api.run(scenario, engine=engine)
    assert r.algorithm == "backend" and r.comm_s > 0
    if engine == "analytic":
        assert (r.extra["collective_algorithm"], r.extra["collective_protocol"]) == ("backend", "none")


def test_a_custom_device_keeps_gloos_ring() -> None:
    """A custom device names no hardware (the emulated testbed's CPU ranks are custom devices on gloo): ``backend``
    there is gloo's ring as before, not NCCL's pick, which ``auto`` prices."""
    custom = ["cluster.device={peak_flops: 1 TFLOP/s, memory: 64 GB}", "cluster.intra_node={bandwidth: 2 GB/s}",
              "cluster.inter_node={bandwidth: 1 Gbit/s}", "cluster.nodes=4", "cluster.workers_per_node=1",
              "model.preset=mlp-tiny", "training.global_batch=64", "training.micro_batch=16",
              "training.precision=fp32"]  # fmt: skip
    backend = api.run(load_scenario(DEFAULT, [*custom, "communication.algorithm=backend"]))
    assert backend.extra["collective_algorithm"] == "backend"
    assert load_scenario(DEFAULT, custom).cluster.nccl_backend is False


@pytest.mark.parametrize(
    ("path", "sets", "op", "algorithm", "protocol"),
    [
        (DEFAULT, [*H100, "communication.algorithm=backend"], "allreduce", None, None),
        (DEFAULT, [*H100, *FSDP, "communication.algorithm=backend"], "reduce_scatter", None, None),
        (DEFAULT, ["communication.algorithm=tree", "communication.protocol=LL128"], "allreduce", "tree", "LL128"),
        (CPU, ["communication.algorithm=backend"], "allreduce", "backend", "none"),
    ],
    ids=["backend-ddp", "backend-fsdp", "tree-ll128", "cpu-backend"],
)
def test_both_records_name_the_same_gradient_collective(
    path: Path, sets: list[str], op: str, algorithm: str | None, protocol: str | None
) -> None:
    """The collective that reduces the gradients, and the algorithm and protocol that run a full bucket, are named by
    both engines' records, the same (one pricing, ``analytic.step.GRADIENT_COLLECTIVE``; the simulator's record
    named none on old main): NCCL's pick for ``backend`` on H100s (as ``auto``), FSDP's reduce-scatter, a named tree
    and LL128 as named, gloo's ``backend`` ring without a protocol on CPUs."""
    from dpsim.analytic.step import GRADIENT_COLLECTIVE

    scenario = load_scenario(path, sets)
    analytic, sim = (api.run(scenario, engine=engine).extra for engine in ("analytic", "sim"))
    named = {name: sim.get(name) for name in GRADIENT_COLLECTIVE}
    assert named == {name: analytic[name] for name in GRADIENT_COLLECTIVE}
    assert named["collective_op"] == op
    assert named["collective_algorithm"] == algorithm or (algorithm is None and named["collective_algorithm"] in NCCL)
    assert named["collective_protocol"] == protocol or (protocol is None and named["collective_protocol"] != "none")
