"""FSDP's float8 all-gather (``training.fsdp_float8_all_gather``), priced by hand.

torchao ``WeightWithDynamicFloat8CastTensor`` (``torchao/float8/fsdp_utils.py``): ``fsdp_pre_all_gather`` casts the
bf16 shard of each ``Float8Linear`` weight to float8 and hands FSDP2 its 1-byte data; ``fsdp_post_all_gather`` wraps
the gathered bytes as the linear's float8 weight. torchtitan turns it on with ``float8.enable_fsdp_float8_all_gather``
(false by default: ``torchtitan/config_manager.py`` at 9dec370, ``store_true``; at 820504e ``bool = False``). The
norms, the embedding and the output head (``filter_fqns: ["output"]``) are not Float8Linear and gather in bf16.

Llama 3.1 8B (h 4,096, 32 heads, 8 KV heads of 128, SwiGLU 14,336, vocabulary 128,256, untied): a layer holds
4,096 x (4,096 + 2 x 1,024 + 4,096) + 3 x 4,096 x 14,336 = 218,103,808 linear weights and 2 x 4,096 norm elements,
218,112,000 in all; the catalog's Psi is 8,030,261,248, of which the root (embedding and output) 2 x 128,256 x 4,096 =
1,050,673,152, and one wrapped unit (Psi - root) / 32 = 218,112,128 (the final norm spread over the layers).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dpsim import api
from dpsim.analytic.memory import memory_breakdown
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sharding import collective_pieces, parameter_gather_bytes, step_traffic

_PSI = 8_030_261_248
_ROOT = 2 * 128256 * 4096
_UNIT = (_PSI - _ROOT) / 32
_LINEAR, _LAYER = 218_103_808, 218_112_000
_WIDTH = 2.0 - _LINEAR / _LAYER  # a layer element's gathered bytes: 1 for the linear weights, 2 for the norms


def _spec(float8: bool = True, **training: object) -> dict:
    return {
        "name": "float8-gather",
        "model": {"preset": "llama3-8b", "fp8_linear": "torchao_tensorwise"},
        "cluster": {"nodes": 2, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4",
                    "inter_node": {"preset": "ib-ndr", "nics_per_node": 8}},
        "training": {"global_batch": 16, "micro_batch": 1, "precision": "fp8", "optimizer_sharding": "fsdp",
                     "zero_stage": 3, "activation_recomputation": "full", "fsdp_float8_all_gather": float8,
                     **training},
        "communication": {"algorithm": "ring", "dtype": "fp32"},
    }  # fmt: skip


def _scenario(float8: bool = True, **training: object) -> Scenario:
    return scenario_from_dict(_spec(float8, **training))


def test_gathered_bytes_by_hand() -> None:
    on, off = _scenario(), _scenario(False)
    assert on.model.num_parameters == _PSI
    # one wrapped unit: its linear weights at 1 byte, its norms at 2
    assert collective_pieces(on).gather_piece == pytest.approx(_UNIT * _WIDTH, rel=1e-12)
    assert collective_pieces(off).gather_piece == _UNIT * 2
    # a forward's gather: the layers as above, the root (never Float8Linear) at 2 bytes
    forward = 2.0 * _ROOT + (_PSI - _ROOT) * _WIDTH
    assert forward == pytest.approx(9_081_196_544.1538, rel=1e-13)
    assert parameter_gather_bytes(on, _PSI) == pytest.approx(forward, rel=1e-12)
    assert parameter_gather_bytes(off, _PSI) == 2.0 * _PSI
    # a backward's: FSDP2 keeps the root gathered, so only the layers
    share = step_traffic(on).backward_gather_share
    assert share == pytest.approx(1.0 - _ROOT / _PSI, rel=1e-12)
    assert parameter_gather_bytes(on, _PSI, share, layers=True) == pytest.approx((_PSI - _ROOT) * _WIDTH, rel=1e-12)
    # what the analytic engine reports a step moves: one forward and one backward gather
    moved = api.run(on).extra["traffic_bytes_per_step"]["parameter_gather"]
    assert moved == pytest.approx(forward + (_PSI - _ROOT) * _WIDTH, rel=1e-12)


def test_full_shard_buffers_hold_float8_layers() -> None:
    # FULL_SHARD's buffers hold two gathered layers (the one computing, the one prefetched) and the root: the float8
    # all-gather saves 2 x unit x (2 - width) bytes of them, the root unchanged; torchao's input-gradient GEMM holds
    # a column-major float8 copy of the largest weight (w1, w3, w2: 14,336 x 4,096 at 1 byte) while it runs
    saved = memory_breakdown(_scenario(False)).buffers - memory_breakdown(_scenario()).buffers
    assert saved == pytest.approx(2.0 * _UNIT * (2.0 - _WIDTH) - 14336 * 4096, rel=1e-9)


def test_shard_grad_op_keeps_float8_layers() -> None:
    # SHARD_GRAD_OP keeps the unsharded parameters in the weights: (Psi - root) x width + root x 2 in place of 2 x Psi
    on, off = _scenario(zero_stage=2), _scenario(False, zero_stage=2)
    saved = memory_breakdown(off).weights - memory_breakdown(on).weights
    assert saved == pytest.approx((_PSI - _ROOT) * (2.0 - _WIDTH), rel=1e-9)


def test_engines_agree_and_the_gathers_get_cheaper() -> None:
    steps = {}
    for float8 in (True, False):
        runs = [api.run(_scenario(float8), engine=engine) for engine in ("analytic", "sim")]
        assert runs[0].step_time_s == pytest.approx(runs[1].step_time_s, rel=1e-9)
        steps[float8] = runs[0]
    # the gathers move about half the bytes
    ratio = steps[True].extra["zero_param_gather_s"] / steps[False].extra["zero_param_gather_s"]
    assert 0.5 < ratio < 0.6


@pytest.mark.parametrize(
    "training",
    [{"optimizer_sharding": "zero"}, {"optimizer_sharding": "zero", "zero_stage": 2}],
)
def test_refused_outside_fsdp(training: dict) -> None:
    with pytest.raises(ScenarioError, match=r"training\.fsdp_float8_all_gather"):
        _scenario(**training)


def test_refused_without_torchao_linears(tmp_path: Path) -> None:
    spec = _spec()
    spec["model"] = {"preset": "llama3-8b"}  # Transformer Engine's linears: no float8 all-gather of FSDP's
    with pytest.raises(ScenarioError, match=r"training\.fsdp_float8_all_gather"):
        scenario_from_dict(spec)
    path = tmp_path / "s.yaml"
    path.write_text(
        "model: {preset: llama3-8b}\ncluster: {nodes: 1, workers_per_node: 8, device: h100-sxm}\n"
        "training: {global_batch: 8, micro_batch: 1, precision: fp8, optimizer_sharding: fsdp, zero_stage: 3, "
        "fsdp_float8_all_gather: true}\n"
    )
    run = subprocess.run([sys.executable, "-m", "dpsim.cli", "run", str(path)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "training.fsdp_float8_all_gather" in run.stderr and run.stdout == ""
