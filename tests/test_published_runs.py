"""Published large-scale runs: predicted throughput stays within a stated bound of the publication.

Bound: every run within ±30 % and the mean |error| below 15 %, with one compute efficiency
per device type from the catalog (not fitted per run); see benchmarks/published_runs.py.
The configuration checks below compare each transcribed run with a number the publication
prints that the transcription does not contain directly (parameter counts, tokens per batch).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dpsim.catalog import transformer_parameters
from dpsim.scenario import scenario_from_dict

MAX_ERROR = 0.30
MAX_MEAN_ERROR = 0.15


def _module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "published_runs.py"
    spec = importlib.util.spec_from_file_location("published_runs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


RUNS = _module()
MEGATRON = [r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("Megatron")]
LLAMA = [r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("Llama 3")]


@pytest.mark.parametrize("run", RUNS.PUBLISHED_RUNS, ids=lambda r: r.name)
def test_published_run_within_bound(run: Any) -> None:
    predicted, result = RUNS.predict_run(run)
    assert result.world_size == run.scenario["cluster"]["nodes"] * run.scenario["cluster"]["workers_per_node"]
    assert abs(predicted / run.published_tflops_per_gpu - 1.0) <= MAX_ERROR


def test_mean_error_within_bound() -> None:
    errors = [abs(RUNS.predict_run(run)[0] / run.published_tflops_per_gpu - 1.0) for run in RUNS.PUBLISHED_RUNS]
    assert sum(errors) / len(errors) <= MAX_MEAN_ERROR


def test_megatron_flops_formula_by_hand() -> None:
    # Narayanan et al. 2021 §5.1: eq. (3) for the 145.6B row, B = 2304, s = 2048, l = 80, h = 12288,
    # V = 51200: 96·B·s·l·h²·(1 + s/(6h) + V/(16lh)); s/(6h) = 0.02778, V/(16lh) = 0.003255.
    run = next(r for r in MEGATRON if r.name == "Megatron GPT 145.6B")
    scenario = scenario_from_dict(dict(run.scenario))
    expected = 96 * 2304 * 2048 * 80 * 12288**2 * (1 + 2048 / (6 * 12288) + 51200 / (16 * 80 * 12288))
    assert RUNS._megatron_flops_per_iteration(scenario) == pytest.approx(expected)


@pytest.mark.parametrize("run", MEGATRON, ids=lambda r: r.name)
def test_megatron_rows_have_the_published_size(run: Any) -> None:
    # Table 1's "number of parameters (billion)" column, printed to 0.1B, is eq. (2) of the heads,
    # hidden size and layers in the same row: 12·l·h²·(1 + 13/(12h) + (V+s)/(12lh)).
    scenario = scenario_from_dict(dict(run.scenario))
    m = scenario.model
    eq2 = 12 * m.layers * m.hidden**2 * (1 + 13 / (12 * m.hidden) + (m.vocab + m.seq_len) / (12 * m.layers * m.hidden))
    published = float(run.name.split()[-1].rstrip("B")) * 1e9
    assert eq2 == pytest.approx(published, abs=0.051e9)
    assert m.num_parameters == pytest.approx(published, abs=0.051e9)  # our count: eq. (2) exactly
    assert scenario.world_size % (scenario.training.tensor_parallel * scenario.training.pipeline_parallel) == 0


@pytest.mark.parametrize(("run", "batch_per_dp"), list(zip(LLAMA, (32, 16), strict=True)), ids=("8192", "16384"))
def test_llama3_batch_matches_table4(run: Any, batch_per_dp: int) -> None:
    # Dubey et al. 2024, Table 4: DP 64 / 128 with batch size per DP 32 / 16, "16M" tokens per batch.
    scenario = scenario_from_dict(dict(run.scenario))
    assert scenario.data_parallel == scenario.world_size // (8 * 16)
    assert scenario.training.global_batch // scenario.data_parallel == batch_per_dp
    assert scenario.tokens_per_step == 2**24  # 16M = 2,048 x 8,192
    # 128 one-layer slots = PP 16 x V 8 (126 layers + the embedding and the output chunks, §3.3.2)
    assert scenario.training.pipeline_parallel * scenario.training.virtual_stages == 128


def test_bloom_parameter_override_is_the_70_layer_model() -> None:
    # BLOOM paper: 176,247M parameters; 70 layers of a GPT-style block (biases, two LayerNorms), tied
    # embeddings of the padded 250,880 vocabulary, ALiBi (no position table), plus the embedding
    # LayerNorm (--embed-layernorm, 2h): the scenario's override must be exactly that model.
    run = next(r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("BLOOM"))
    derived = transformer_parameters(70, 14336, 250880, 2048, heads=112, learned_positions=False) + 2 * 14336
    assert derived == run.scenario["model"]["parameters"]
    assert derived == pytest.approx(176_247e6, abs=0.5e6)
