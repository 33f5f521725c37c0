"""Published large-scale runs: what the operation-level compute model, calibrated only on GEMM
microbenchmarks, says about them (see benchmarks/published_runs.py for the table).

Bounds, stated as what they are:
- Megatron-LM Table 1's error has no trend with model size: the fitted slope is at most 3 points per decade
  of parameters (the flat-efficiency model moved by -34 points over the table's 2.8 decades: +22 -> -12).
  With the artifact's code priced as it ran (autograd's fp16 accumulation, synchronous pipeline exchanges,
  the fp16 optimizer's passes, fill and drain at each stage's pace), the A100's GEMM output store after the
  k-loop and Megatron's causal softmax over the lower triangle, the slope is -1.0 points a decade, -2.8
  across the table: within the issue's "3 points across the table" (it was -1.4, -3.9 with the flat plateau).
- A device whose sustained_fraction was measured inside a training step: every run within 10 % and a
  mean |error| within 5 %. A100: Korthikanti et al. 2022 Table 4, a layer of a TP-8 run on a full
  node; the Table 5 iteration times of the same paper (not independent) within 10 %. H100: NVIDIA
  NeMo 24.07's in-training LLAMA2-7B and GPT3-5B rows (TP 1, pure data parallelism), none of the
  predicted runs; the test re-derives the catalog's 0.71 from them. NeMo's GPT-3 175B FP8 run (TP 4)
  overlaps its tensor-parallel collectives with the GEMMs (userbuffers, ``training.tp_comm_overlap``);
  with them exposed it came out about 18 % slow.
- A device whose sustained_fraction is not measured in training (1.0) stays an optimistic bound: no
  run predicted more than 10 % slower than published, none more than 45 % faster.
- Llama 3 405B on 8,192 H100s fits in its 80 GiB.
- Held-out runs (OPT-175B, MT-NLG 530B at three scales, GPT-NeoX-20B, Llama 2 on PyTorch FSDP at 7B, 13B, 34B
  and 70B on A100 and H100, the 7B also compiled), never used for calibration: each within 10 % where met; the
  others are strict expected failures carrying their diagnosis (``known_miss``): predicted 10-15 % faster, all
  on DeepSpeed or metaseq (MT-NLG at 3,360 GPUs, GPT-NeoX-20B, OPT-175B), after modelling DeepSpeed's blocking
  pipeline transfers, metaseq's nan_to_num over the attention scores and MT-NLG's bf16 gradients added into
  fp32. All ten PyTorch FSDP rows are met (with PyTorch eager's op-by-op norms and RoPE, torch.optim's foreach
  AdamW and HYBRID_SHARD's optimizer over the shard group's 1/G).
- llm-foundry's MPT tables (20 rows, a held-out group of their own): each within 10 % where met, the rest strict
  expected failures with what the tables show; the rows reproduce the MFU, HFU, batch and parameter count the
  tables print, and both engines agree.
- torchtitan's Llama 3.1 rows (14) and NeMo 24.07's TP / PP rows (4), held-out groups of their own: the rows are what
  the tables print, both engines agree, each within 10 % where met; the Dec 2024 AsyncTP row and the 128-GPU Float8
  8B row are strict expected failures with what the rows show (the June 2025 AsyncTP rows are met since AsyncTP is
  priced as torch's micro-pipelined TP runs, ``training.tp_overlap_kind: torch_async_tp``).
The configuration checks compare each transcribed run with a number the publication prints that
the transcription does not contain directly (parameter counts, tokens per batch).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _bench import load_benchmark

from dpsim.analytic.memory import memory_breakdown
from dpsim.catalog import transformer_parameters
from dpsim.rank_speed import expected_max_standard_normal
from dpsim.scenario import scenario_from_dict

MAX_UNDER = 0.10
MAX_OVER = 0.45
MAX_TREND_POINTS_PER_DECADE = 3.0
MAX_TREND_POINTS_ACROSS_TABLE = 3.0


RUNS = load_benchmark("published_runs")
MEGATRON = [r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("Megatron")]
LLAMA = [r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("Llama 3")]


_PREDICTED = {run.name: RUNS.predict_run(run) for run in RUNS.PUBLISHED_RUNS}


MAX_CALIBRATED = 0.10
MAX_CALIBRATED_MEAN = 0.05


# devices whose sustained_fraction comes from a timing inside a training step (see the module docstring)
_IN_STEP_CALIBRATED = ("a100-40gb", "a100-80gb", "h100-sxm")


def _bound_params() -> list[Any]:
    return [pytest.param(r, id=r.name) for r in RUNS.PUBLISHED_RUNS]


def _calibrated(run: Any) -> bool:
    return str(run.scenario["cluster"]["device"]) in _IN_STEP_CALIBRATED


@pytest.mark.parametrize("run", _bound_params())
def test_published_run_within_bound(run: Any) -> None:
    predicted, result = _PREDICTED[run.name]
    assert result.world_size == run.scenario["cluster"]["nodes"] * run.scenario["cluster"]["workers_per_node"]
    assert result.extra["compute_model"] == "operations"  # priced from the GEMM curve, not a flat efficiency
    error = RUNS.relative_error(run, predicted)
    if _calibrated(run):
        assert abs(error) <= MAX_CALIBRATED
    else:
        assert -MAX_UNDER <= error <= MAX_OVER


def test_calibrated_device_mean_error() -> None:
    runs = [r for r in RUNS.PUBLISHED_RUNS if _calibrated(r)]
    assert len(runs) >= 14  # Table 1, BLOOM, Llama 3 and NeMo
    errors = [abs(RUNS.relative_error(r, _PREDICTED[r.name][0])) for r in runs]
    assert sum(errors) / len(errors) <= MAX_CALIBRATED_MEAN


@pytest.mark.parametrize("run", RUNS.CALIBRATION_PAPER_RUNS, ids=lambda r: r.name)
def test_calibration_paper_iterations_within_bound(run: Any) -> None:
    predicted, _ = RUNS.predict_run(run)
    assert abs(RUNS.relative_error(run, predicted)) <= MAX_CALIBRATED


def test_korthikanti_full_over_selective_recomputation_as_published() -> None:
    """Korthikanti et al. 2022 Table 5 times each model with full recomputation and with sequence parallelism plus
    selective recomputation: 1.42 / 1.10, 18.13 / 13.75, 49.05 / 37.83, 94.42 / 71.49 s (1.29-1.32). The predicted
    ratio is within 3 % of each. Their May 2022 code hides the full-recompute rows' backward TP all-reduces behind
    the weight-gradient GEMMs (``tp_async_grad_allreduce``); with them exposed the ratio came out 8.0 / 5.2 / 5.0 /
    1.9 % high."""
    runs = RUNS.CALIBRATION_PAPER_RUNS
    for full, selective in zip(runs[::2], runs[1::2], strict=True):
        assert "full" in full.name and "selective" in selective.name
        published = full.published_tflops_per_gpu / selective.published_tflops_per_gpu
        predicted = RUNS.predict_run(full)[0] / RUNS.predict_run(selective)[0]
        assert predicted == pytest.approx(published, rel=0.03), full.name


def test_h100_sustained_fraction_from_nemo_in_training_rows() -> None:
    """The catalog's H100 sustained_fraction is what NeMo 24.07's TP-1 rows (LLAMA2-7B on 8 H100,
    GPT3-5B on 64) imply: each within 2 %, their mean within 1 %; the H200 shares it (same chip)."""
    from dpsim.catalog import DEVICES

    catalog = DEVICES["h100-sxm"].sustained_fraction
    implied = [RUNS.implied_sustained_fraction(r) for r in RUNS.H100_CALIBRATION_RUNS]
    assert len(implied) == 2
    assert all(i == pytest.approx(catalog, rel=0.02) for i in implied)
    assert sum(implied) / len(implied) == pytest.approx(catalog, rel=0.01)
    assert DEVICES["h200"].sustained_fraction == catalog
    names = {r.name for r in RUNS.PUBLISHED_RUNS}
    assert not names & {r.name for r in RUNS.H100_CALIBRATION_RUNS}  # disjoint from the predictions


def test_a100_calibration_and_the_gemm_wave_what_if() -> None:
    """The benchmark's A100 derivation (Korthikanti Table 4) gives the catalog's 0.81. With GEMM wave
    quantisation on, the calibration layer is itself quantised (its QKV and MLP-up GEMMs 0.89 of their
    waves), so the re-derived fraction rises to about 0.87 and Table 1's nearly whole-wave GEMMs come
    out faster: the A100 mean error grows, which is why ``gemm_waves`` stays off (README)."""
    from dpsim.catalog import DEVICES

    assert RUNS.korthikanti_sustained_fraction() == pytest.approx(DEVICES["a100-80gb"].sustained_fraction, rel=0.02)
    waved = RUNS.korthikanti_sustained_fraction(gemm_waves=True)
    assert waved == pytest.approx(0.87, abs=0.01)
    a100 = [r for r in RUNS.PUBLISHED_RUNS if _calibrated(r) and "a100" in str(r.scenario["cluster"]["device"])]
    plain = [abs(RUNS.relative_error(r, _PREDICTED[r.name][0])) for r in a100]
    what_if = [RUNS.with_device(r, gemm_waves=True, sustained_fraction=waved) for r in a100]
    errors = [abs(RUNS.relative_error(r, RUNS.predict_run(r)[0])) for r in what_if]
    assert sum(errors) / len(errors) > sum(plain) / len(plain) + 0.02


def _table1_trend() -> tuple[float, float]:
    """(slope in points per decade of parameters, decades the table spans)."""
    errors = [RUNS.relative_error(r, _PREDICTED[r.name][0]) for r in MEGATRON]
    sizes = [scenario_from_dict(dict(r.scenario)).model.num_parameters for r in MEGATRON]
    return RUNS.error_trend(MEGATRON, errors), math.log10(max(sizes)) - math.log10(min(sizes))


def test_table1_error_trend_per_decade() -> None:
    """The weaker bound: at most 3 points per decade of parameters (a regression guard)."""
    slope, _ = _table1_trend()
    assert abs(slope) <= MAX_TREND_POINTS_PER_DECADE


def test_table1_error_has_no_trend_across_the_table() -> None:
    slope, span = _table1_trend()
    assert abs(slope * span) <= MAX_TREND_POINTS_ACROSS_TABLE


def test_table1_rows_run_the_artifacts_megatron() -> None:
    """Megatron-LM at the SC21 artifact (de7dc40): p2p_communication._communicate waits every exchange and
    synchronises (pipeline_p2p: synchronous), --fp16 runs Float16OptimizerWithFloat16Params (optimizer_copies:
    separate); Korthikanti et al.'s May 2022 code still exchanges synchronously."""
    for run in MEGATRON:
        t = scenario_from_dict(dict(run.scenario)).training
        assert (t.pipeline_p2p, t.optimizer_copies, t.precision) == ("synchronous", "separate", "fp16")
    for run in RUNS.CALIBRATION_PAPER_RUNS:
        assert scenario_from_dict(dict(run.scenario)).training.pipeline_p2p == "synchronous"


def test_llama3_405b_fits_on_8192_h100() -> None:
    _, result = _PREDICTED["Llama 3 405B on 8192 H100"]
    assert not result.oom
    assert result.memory_per_device_bytes <= result.memory_capacity_bytes


def test_fp8_run_is_priced_at_the_fp8_peak() -> None:
    # the same NeMo run in bf16 is slower: the linear-layer GEMMs run at half the FP8 rate
    run = next(r for r in RUNS.PUBLISHED_RUNS if "FP8" in r.name)
    data = dict(run.scenario)
    data["training"] = {**data["training"], "precision": "bf16"}
    bf16 = RUNS.predict_run(RUNS.PublishedRun(run.name, run.source, 1.0, "tokens", data))[0]
    assert _PREDICTED[run.name][0] > 1.3 * bf16


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
    assert scenario.model.layers == 126 and scenario.training.embedding_pipeline_slots
    # published parameter count (Table 3 / the HF config): 405,853,388,800
    assert scenario.model.num_parameters == 405_853_388_800


def test_grand_teton_rows_run_rdma_not_tcp() -> None:
    """Llama 3's cluster is RoCE (§3.3.1) and torchtitan's Grand Teton hosts a "backend RDMA network with 400 Gb/s per
    GPU": NCCL drives either through its IB verbs transport, so each inter-node hop is InfiniBand's 5 µs, not
    ``400gbe``'s TCP 10 µs; 8 NICs of 400 Gbit/s a host, one a GPU."""
    grand_teton = LLAMA + [r for r in RUNS.TORCHTITAN_RUNS if "H100" in r.name and "H200" not in r.name]
    assert len(grand_teton) == 2 + 25
    for run in grand_teton:
        inter = scenario_from_dict(dict(run.scenario)).cluster.inter_node
        assert (inter.latency, inter.bandwidth, inter.nics_per_node) == (5e-6, 400e9 / 8, 8), run.name


def test_bloom_parameter_override_is_the_70_layer_model() -> None:
    # BLOOM paper: 176,247M parameters; 70 layers of a GPT-style block (biases, two LayerNorms), tied
    # embeddings of the padded 250,880 vocabulary, ALiBi (no position table), plus the embedding
    # LayerNorm (--embed-layernorm, 2h): the scenario's override must be exactly that model.
    run = next(r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("BLOOM"))
    derived = transformer_parameters(70, 14336, 250880, 2048, heads=112, learned_positions=False) + 2 * 14336
    assert derived == run.scenario["model"]["parameters"]
    assert derived == pytest.approx(176_247e6, abs=0.5e6)


# --- held-out runs: predicted at the existing calibration, never used to set it ----------------------

HELD_OUT = RUNS.HELD_OUT_RUNS


def _held_out_params(runs: Any = HELD_OUT) -> list[Any]:
    return [
        pytest.param(r, id=r.name, marks=[pytest.mark.xfail(strict=True, reason=r.known_miss)] if r.known_miss else [])
        for r in runs
    ]


@pytest.mark.parametrize("run", _held_out_params())
def test_held_out_run_within_10_percent(run: Any) -> None:
    """Each held-out run within 10 % of its publication; the ones that miss carry their diagnosis as a
    strict expected failure (``known_miss``), so a model change that meets one has to say so."""
    predicted, result = RUNS.predict_run(run)
    assert result.extra["compute_model"] == "operations"
    assert abs(RUNS.relative_error(run, predicted)) <= MAX_CALIBRATED


def test_held_out_runs_are_pure_predictions() -> None:
    # preset devices (the catalog's sustained fraction, nothing set per run), none among the other runs
    assert all(isinstance(r.scenario["cluster"]["device"], str) for r in HELD_OUT)
    assert all(_calibrated(r) for r in HELD_OUT)
    others = RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS
    assert not {r.name for r in HELD_OUT} & {r.name for r in others}


def test_opt_175b_configuration_matches_its_sources() -> None:
    # projects/OPT/chronicles/final_update.md: "~4.30E+23 FLOPs" for 300B tokens, "~33 days of continuous
    # training on 1024 80GB A100s"; the row's eq. (3) per token times 300B tokens reproduces both
    run = next(r for r in HELD_OUT if r.name.startswith("OPT"))
    scenario = scenario_from_dict(dict(run.scenario))
    per_token = RUNS._megatron_flops_per_iteration(scenario) / scenario.tokens_per_step
    assert per_token * 300e9 == pytest.approx(4.30e23, rel=0.005)
    assert per_token * 300e9 / (1024 * 147e12) / 86400 == pytest.approx(33, abs=0.5)
    # metaseq opt_baselines.py: (2M tokens // 124 data-parallel ranks) // 2048 = 8 sequences each, no accumulation
    assert scenario.data_parallel == 124
    assert scenario.training.global_batch // scenario.data_parallel == (2 * 2**20 // 124) // 2048 == 8
    assert scenario.accumulation_steps == 1
    assert scenario.model.num_parameters == pytest.approx(175e9, rel=0.005)
    # --activation-fn relu: metaseq's _ffn keeps skip_bias_add for GeLU only, so no fused MLP biases
    assert not scenario.model.mlp_fused_bias
    # its training attention copies the q, k, v chunks and scales q and k as kernels of their own
    assert scenario.model.attention_qkv_copies


def test_opt_175b_147_is_the_logged_throughput() -> None:
    """The chronicles' wps chart (projects/OPT/chronicles/56_percent_update.md, images/run12_upgrade_shift.jpeg,
    runs 12.45-12.48 near step 50k; wps = words, here tokens, a second over the job): 1.00e5 on Megatron 2.4,
    1.02e5 after the upgrade to 2.6 (the note's "+2 %"). Eq. (3) a token, 96·l·h²·(1 + s/6h + V/16lh) / s =
    96·96·12288²·(1 + 2048/73728 + 50272/18874368) = 1.43393e12 FLOPs, over 992 GPUs: 144.5 and 147.4 TFLOP/s,
    the paper's "up to 147" being the later, sustained figure. The prediction is 2,031,616 tokens in 17.71 s."""
    run = next(r for r in HELD_OUT if r.name.startswith("OPT"))
    scenario = scenario_from_dict(dict(run.scenario))
    per_token = RUNS._megatron_flops_per_iteration(scenario) / scenario.tokens_per_step
    assert per_token == pytest.approx(96 * 96 * 12288**2 * (1 + 2048 / 73728 + 50272 / 18874368))
    assert per_token == pytest.approx(1.43393e12, rel=1e-5)
    assert 1.02e5 * per_token / 992 / 1e12 == pytest.approx(147.4, abs=0.05)
    assert 1.00e5 * per_token / 992 / 1e12 == pytest.approx(144.5, abs=0.05)
    tflops, result = RUNS.predict_run(run)
    wps = scenario.tokens_per_step / result.step_time_s
    assert wps * per_token / scenario.world_size == pytest.approx(tflops * 1e12)
    assert wps / 1.02e5 - 1 > 0.10  # the miss stands against the logged figure too


def test_opt_175b_distributed_checkpoints_fit_its_80_gb() -> None:
    # opt_baselines.py passes --distribute-checkpointed-activations: each of the 8 TP ranks keeps 1/8 of the
    # 96 layer checkpoints of its 8 x 2048 x 12288 input (2 bytes): 96 x 402,653,184 x 7/8 fewer bytes, less
    # the recomputed layer's gathered input (402,653,184), a new buffer beside its shard: 33,420,214,272 bytes.
    run = next(r for r in HELD_OUT if r.name.startswith("OPT"))
    split = scenario_from_dict(dict(run.scenario))
    assert split.training.distribute_checkpointed_activations
    whole = scenario_from_dict(
        {**run.scenario, "training": {**run.scenario["training"], "distribute_checkpointed_activations": False}}
    )
    saved = memory_breakdown(whole).activations - memory_breakdown(split).activations
    assert saved == pytest.approx(96 * 402_653_184 * 7 / 8 - 402_653_184)
    assert memory_breakdown(whole).oom and not memory_breakdown(split).oom


def test_mt_nlg_iteration_times_are_the_papers_tflops() -> None:
    # §2.4: 60.1, 50.2, 44.4 s on 280, 350, 420 servers "correspond to 126, 121, and 113 teraFLOP/s per GPU":
    # eq. (3) over the transcribed model and batch reproduces them (120.4 for the printed 121)
    runs = [r for r in HELD_OUT if r.name.startswith("MT-NLG")]
    for run, tflops, dp in zip(runs, (126, 121, 113), (8, 10, 12), strict=True):
        scenario = scenario_from_dict(dict(run.scenario))
        per_gpu = RUNS._megatron_flops_per_iteration(scenario) / scenario.world_size / run.published_tflops_per_gpu
        assert per_gpu / 1e12 == pytest.approx(tflops, abs=0.7)
        assert scenario.data_parallel == dp
        assert scenario.model.num_parameters == pytest.approx(530e9, rel=0.001)


def test_pipeline_slot_fit_by_hand() -> None:
    """MT-NLG's m + p - 1 = 1920/DP + 34 = 274, 226, 194 slots against 60.1, 50.2, 44.4 s: means 231.33 and
    51.567, Sxx = 42.667² + 5.333² + 37.333² = 3242.67, Sxy = 42.667·8.533 + 5.333·1.367 + 37.333·7.167 = 638.93:
    a = 0.19704 s per slot, c = 51.567 - 0.19704 x 231.33 = 5.985 s."""
    runs = [r for r in HELD_OUT if r.name.startswith("MT-NLG")]
    a, c = RUNS.pipeline_slot_fit(runs, [60.1, 50.2, 44.4])
    assert a == pytest.approx(0.19704, abs=1e-5)
    assert c == pytest.approx(5.985, abs=1e-3)


def test_pipeline_slot_pairs_by_hand() -> None:
    """The line through each two neighbouring MT-NLG scales: (60.1 - 50.2) / (274 - 226) = 0.20625 s a slot,
    c = 60.1 - 0.20625 x 274 = 3.5875 s; (50.2 - 44.4) / (226 - 194) = 0.18125 s, c = 50.2 - 0.18125 x 226 =
    9.2375 s. The published seconds (rounded to 0.05 s, at most 0.1 / 32 = 0.003 s a slot) are not on one line;
    the prediction's three steps are (its once-a-step work barely depends on the data parallelism)."""
    runs = [r for r in HELD_OUT if r.name.startswith("MT-NLG")]
    (a0, c0), (a1, c1) = RUNS.pipeline_slot_pairs(runs, [60.1, 50.2, 44.4])
    assert (a0, c0) == (pytest.approx(0.20625), pytest.approx(3.5875))
    assert (a1, c1) == (pytest.approx(0.18125), pytest.approx(9.2375))
    assert a0 - a1 > 2 * 0.1 / 32  # beyond what the rounding of the published seconds can do
    (p0, _), (p1, _) = RUNS.pipeline_slot_pairs(runs, [RUNS.predict_run(r)[0] for r in runs])
    assert p0 == pytest.approx(p1, rel=0.01)


def test_gpt_neox_20b_configuration_and_flop_convention() -> None:
    # paper: 20B parameters, 19.9B non-embedding (untied 50,432 x 6,144 input and output embeddings);
    # ~3.15M tokens per batch; configs/20B.yml: 12 data-parallel ranks x 4 x 32 accumulation steps
    run = next(r for r in HELD_OUT if r.name.startswith("GPT-NeoX"))
    scenario = scenario_from_dict(dict(run.scenario))
    m = scenario.model
    assert m.num_parameters == 20_554_567_680  # EleutherAI/gpt-neox-20b's parameter count
    assert m.num_parameters - 2 * 50432 * 6144 == pytest.approx(19.9e9, abs=0.05e9)
    assert scenario.tokens_per_step == 3_145_728
    assert (scenario.data_parallel, scenario.accumulation_steps) == (12, 32)
    assert m.parallel_block  # configs/20B.yml gpt_j_residual: true (one forward TP all-reduce a layer)
    # neox_args.py: bias_dropout_fusion defaults to False (20B.yml leaves it); norms.py: torch.nn.LayerNorm;
    # 20B.yml rotary_pct 0.25 (24 of each head's 96 dimensions, as the HF model card says)
    assert (m.bias_dropout_fusion, m.norm_kernel) == (False, "torch_two_pass")
    assert (m.rope_kernels, m.rotary_fraction) == ("rotate_half", 0.25)
    assert m.rotary_fraction * m.hidden / m.heads == 24
    # DeepSpeed's PipeModelDataParallelTopology (pipe outermost, then data, then model): a stage's 12 x 2 ranks
    # fill 3 of the 8-GPU nodes, so every stage transfer crosses nodes through one of the node's 4 HCAs, which two
    # GPUs share (the paper: four ConnectX-6 HDR per server): 24 GB/s HDR / 2
    from dpsim.analytic.parallel import pipeline_p2p_link
    from dpsim.analytic.step import fabric_of

    assert scenario.data_parallel * scenario.training.tensor_parallel == 3 * 8
    assert pipeline_p2p_link(scenario, fabric_of(scenario)).bandwidth == pytest.approx(24e9 / 2)
    # get_flops at the 20B release: B·s·(6N + 60·s·h·l), N as get_total_params summed it over the TP x PP ranks: the
    # 2 TP ranks each hold a layer's LayerNorms and row-parallel biases (6h) and the final LayerNorm (2h), so
    # 20,554,567,680 + 266·6144 = 20,556,201,984, the model card's "Num. parameters"
    assert RUNS._neox_logged_parameters(scenario) == 20_554_567_680 + (44 * 6 + 2) * 6144 == 20_556_201_984
    assert RUNS._neox_flops_per_iteration(scenario) == 1536 * 2048 * (6 * 20_556_201_984 + 60 * 2048 * 6144 * 44)


FMS_FSDP = [r for r in HELD_OUT if r.name.startswith("FSDP Llama 2")]


def test_fms_fsdp_configuration_matches_its_sources() -> None:
    """The PyTorch FSDP blog (IBM and Meta, 2024) and fms-fsdp's README print tokens/s per GPU, MFU and HFU for
    Llama 2 at 2 sequences of 4,096 a GPU; the transcribed runs reproduce what they print beside the throughput."""
    by_name = {r.name: scenario_from_dict(dict(r.scenario)) for r in FMS_FSDP}
    assert len(by_name) == 10
    # the shapes of fms-fsdp's get_model_config: HF's Llama-2-7b-hf, Llama-2-13b-hf, CodeLlama-34b-hf,
    # Llama-2-70b-hf counts
    sizes = {"7B": 6_738_415_616, "13B": 13_015_864_320, "34B": 33_743_970_304, "70B": 68_976_648_192}
    for name, scenario in by_name.items():
        assert scenario.model.num_parameters == sizes[name.split()[3]]
        assert scenario.accumulation_steps == 1 and scenario.training.micro_batch == 2
        # HSDP (shard inside a node, replicate across) for 7b, FSDP for 34b and 70b
        assert scenario.training.fsdp_shard_group == (8 if " 7B" in name else None)
    # "batch size is 1 million tokens per batch for 128 GPUs": 128 x 2 x 4,096 = 2^20
    assert by_name["FSDP Llama 2 7B on 128 A100"].tokens_per_step == 2**20
    # "3,700 tokens/sec/GPU, or 40B tokens/day on 128 A100 GPUs"
    eager_7b = next(r for r in FMS_FSDP if r.name == "FSDP Llama 2 7B on 128 A100")
    per_day = eager_7b.published_tflops_per_gpu * by_name[eager_7b.name].world_size * 86400
    assert per_day == pytest.approx(40e9, rel=0.03)
    # MFU "using the methodology outlined in NanoGPT and the PaLM paper", 6N + 12·L·h·s FLOPs a token over the
    # bf16 peak, for the 7B rows (printed to two digits; eager 0.57 / 0.37, compiled 0.68 / 0.46)
    m = by_name["FSDP Llama 2 7B on 128 A100"].model
    per_token = 6 * m.num_parameters + 12 * m.layers * m.hidden * m.seq_len
    for tokens, peak, mfu in ((3700, 312e12, 0.57), (7500, 989e12, 0.37), (4550, 312e12, 0.68), (9600, 989e12, 0.46)):
        assert tokens * per_token / peak == pytest.approx(mfu, abs=0.015)
    # "Full AC" for 34b and 70b: HFU counts the recomputed forward, 8 of 6 FLOPs a parameter: the printed HFU / MFU
    # pairs (A100 0.64 / 0.47, 0.67 / 0.50; H100 0.44 / 0.32, 0.45 / 0.34) are 4/3 to their two digits
    for hfu, mfu in ((0.64, 0.47), (0.67, 0.50), (0.44, 0.32), (0.45, 0.34)):
        assert hfu / mfu == pytest.approx(4 / 3, abs=0.05)
    for name, scenario in by_name.items():
        assert scenario.training.activation_recomputation == ("none" if " 7B" in name else "full")
        assert scenario.recomputed_layer_share == (0.5 if " 13B" in name else 1.0)
    # "Selective AC" for 13b, every k-th block: HFU / MFU = 1 + share / 3 (A100 0.59 / 0.51, H100 0.40 / 0.35) is
    # 20 of its 40 blocks, k = 2, to the printed digits (k = 3, 13 blocks, would be 1.108)
    for hfu, mfu in ((0.59, 0.51), (0.40, 0.35)):
        assert hfu / mfu == pytest.approx(1 + (40 // 2) / 40 / 3, abs=0.03)
        assert hfu / mfu != pytest.approx(1 + (40 // 3) / 40 / 3, abs=0.03)


def test_fms_fsdp_compiled_and_eager_rows_differ_only_in_compile() -> None:
    """dpsim has no torch.compile switch: the compiled 7B rows are the eager rows' scenarios with the fused kernels
    (Inductor's) instead of eager ibm-fms's op-by-op RMSNorm, SwiGLU and fp32 RoPE. What those kernels add to the
    step is a lower bound of the published eager/compiled difference (8,192 tokens a GPU at 3,700 vs 4,550 and
    7,500 vs 9,600 tokens/s: 0.414 and 0.239 s; copies, transposes and launch gaps not priced) and most of it."""
    for device, published in (("128 A100", 8192 / 3700 - 8192 / 4550), ("96 H100", 8192 / 7500 - 8192 / 9600)):
        eager = next(r for r in FMS_FSDP if r.name == f"FSDP Llama 2 7B on {device}")
        compiled = next(r for r in FMS_FSDP if r.name == f"FSDP Llama 2 7B compiled, {device}")
        model = {**eager.scenario["model"]}
        assert (model.pop("elementwise"), model.pop("rope_kernels")) == ("eager", "pairs_fp32")
        assert {**eager.scenario, "name": "", "model": model} == {**compiled.scenario, "name": ""}
        gap = RUNS.predict_run(eager)[1].step_time_s - RUNS.predict_run(compiled)[1].step_time_s
        assert 0.6 * published < gap <= published


def test_only_deepspeed_pipeline_runs_block_on_their_sends() -> None:
    """training.pipeline_p2p: blocking describes DeepSpeed's PipelineEngine: set for the runs on it (BLOOM's
    Megatron-DeepSpeed, MT-NLG, GPT-NeoX's DeeperSpeed) and no other; whole gradients only where the engine
    predates DeepSpeed 0.5.4 (MT-NLG, trained before 29 Sep 2021) or is DeeperSpeed; metaseq's nan_to_num only
    for OPT."""
    every = RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS + HELD_OUT
    blocking = {r.name for r in every if scenario_from_dict(dict(r.scenario)).training.pipeline_p2p == "blocking"}
    deepspeed = {r.name for r in every if r.name.startswith(("BLOOM", "MT-NLG", "GPT-NeoX"))}
    assert blocking == deepspeed and len(deepspeed) == 5
    whole = {r.name for r in every if not scenario_from_dict(dict(r.scenario)).training.pipeline_grad_partitioned}
    assert whole == deepspeed - {"BLOOM 176B on 384 A100"}
    cleaned = {r.name for r in every if scenario_from_dict(dict(r.scenario)).model.attention_nan_to_num}
    assert cleaned == {"OPT-175B on 992 A100"}


def test_gradient_passes_only_where_the_code_runs_them() -> None:
    """training.gradient_accumulation_pass / zero1_gradient_allreduce describe each run's code as it ran:
    Megatron-LM's Table 1 (run_table_1.sh: --fp16, no --accumulate-allreduce-grads-in-fp32 or
    --use-contiguous-buffers-in-ddp, so no main_grad hook; torch DDP under no_sync) and the fp16 DeepSpeed
    pipeline run (GPT-NeoX on DeeperSpeed's legacy stage 1) accumulate into param.grad; the bf16 ones add every
    micro-batch into fp32: BLOOM's BF16_Optimizer, and MT-NLG, whose code base requires it under bf16
    (Megatron-DeepSpeed 8a132ced arguments.py: "bfloat16 requires gradient accumulation and all-reduce to be
    done in fp32"; its bf16 DeepSpeed was never released), priced as BF16_Optimizer; the three DeepSpeed runs all-reduce
    the gradients after the flush (MT-NLG: stage 1 without contiguous gradients; GPT-NeoX: DeeperSpeed's
    _exec_reduce_grads calls buffered_allreduce_fallback; BLOOM: _bf16_reduce_grads). Korthikanti et al.
    2022 (2022 code: contiguous buffer on, its hook or the fused wgrad by precision, which the paper's rows do
    not state) and the NeMo rows (the fused wgrad into main_grad) keep none. PyTorch FSDP1's flat-parameter path
    (fsdp_flat) is what fms-fsdp (FullyShardedDataParallel) and llm-foundry (Composer 0.16 over torch 2.1's
    FullyShardedDataParallel) run, fairscale's (fairscale_flat, the same steps and the bucketer's torch.cat) what
    OPT's metaseq runs; Llama 3's in-house FSDP is neither."""
    every = RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS + HELD_OUT + FOUNDRY
    trained = {r.name: scenario_from_dict(dict(r.scenario)).training for r in every}
    passes = {n: t.gradient_accumulation_pass for n, t in trained.items() if t.gradient_accumulation_pass != "none"}
    mt_nlg = {name for name in trained if name.startswith("MT-NLG")}
    assert passes == {
        **dict.fromkeys((r.name for r in MEGATRON), "autograd"),
        **dict.fromkeys(mt_nlg, "fp32_copy"),
        "GPT-NeoX-20B on 96 A100-40GB": "autograd",
        "BLOOM 176B on 384 A100": "fp32_copy",
        **dict.fromkeys((r.name for r in [*FMS_FSDP, *FOUNDRY]), "fsdp_flat"),
        "OPT-175B on 992 A100": "fairscale_flat",
    }
    deepspeed = mt_nlg | {"GPT-NeoX-20B on 96 A100-40GB", "BLOOM 176B on 384 A100"}
    assert {name for name, t in trained.items() if t.zero1_gradient_allreduce} == deepspeed


def test_table1_fp16_autograd_accumulation_by_hand() -> None:
    """Megatron-LM's 2021 code under run_table_1.sh's flags adds micro-batches 2..k into the fp16 param.grad
    (AccumulateGrad, grad += new: read 2 + 2, write 2 bytes a parameter). 18.4B row: TP 8, no pipeline,
    DP 256 / 8 = 32, global batch 1024 at micro-batch 8, so k = 4; Ψ = 40·(12·6144² + 13·6144) + 51,200·6144
    + 2048·6144 + 2·6144 = 18,449,756,160 parameters, Ψ/8 on a device; the catalog A100 80GB moves
    memory-bound bytes at 2,039 GB/s × 0.83 × 0.81. The 1.7B row has k = 512 / (32 · 16) = 1: nothing added."""
    rate = 2.039e12 * 0.83 * 0.81
    for name, psi, k in (("Megatron GPT 18.4B", 18_449_756_160, 4), ("Megatron GPT 1.7B", 0, 1)):
        (run,) = [r for r in MEGATRON if r.name == name]
        plain = dict(run.scenario)
        plain["training"] = {**plain["training"], "gradient_accumulation_pass": "none"}
        before = RUNS.predict_run(replace(run, scenario=plain))[1]
        grown = _PREDICTED[name][1].extra["backward_s"] - before.extra["backward_s"]
        assert scenario_from_dict(dict(run.scenario)).accumulation_steps == k
        assert grown == pytest.approx(3 * 2 * (k - 1) / k * psi / 8 / rate, rel=1e-6, abs=1e-12)


def test_bloom_pipeline_split_is_deepspeeds_type_partition() -> None:
    """tr11-176B-ml.slurm's --pp-partition-method 'type:transformer|embedding': DeepSpeed's PipelineModule weighs
    the 70 ParallelTransformerLayerPipe and the two EmbeddingPipe specs (input, tied output) 1 and balances the
    72 units over 12 stages, 6 each: the first stage holds the embedding and 5 layers, the last 5 layers and the
    output embedding, the others 6 layers."""
    from dpsim.analytic.memory import stage_parameters
    from dpsim.compute import chunk_layers

    run = next(r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("BLOOM"))
    scenario = scenario_from_dict(dict(run.scenario))
    assert [sum(row) for row in chunk_layers(scenario)] == [5] + [6] * 10 + [5]
    layer, embedding = 12 * 14336**2 + 13 * 14336, 250880 * 14336  # per layer; the 250,880-token table
    params = stage_parameters(scenario)
    assert params[1] == pytest.approx(6 * layer / 4, rel=1e-4)
    assert params[0] == pytest.approx((5 * layer + embedding) / 4, rel=1e-4)
    assert params[-1] == pytest.approx((5 * layer + embedding) / 4, rel=1e-4)


def test_bloom_memory_holds_the_bf16_optimizer_fp32_gradient() -> None:
    """BLOOM 176B (TP 4, PP 12, DP 8, BF16_Optimizer). Its first stage holds the
    embedding (250,880 x 14,336 = 3,596,615,680) and 5 of the 70 layers ((176,247,271,424 - 3,596,615,680) / 70
    each), over TP 4: Ψ0 = 3,982,201,344 a rank. Weights 2Ψ0, gradients 2Ψ0 bf16 + 4Ψ0 fp32, states 12Ψ0/8; the
    bf16 reduction copy (2Ψ0, 7.96 GB) stays under the first stage's 9.04 GB of activations: no buffer. 43.7 GiB
    a rank where dpsim had 29.8 (no fp32 gradient, a 1 GB IPG buffer BF16_Optimizer does not have)."""
    run = next(r for r in RUNS.PUBLISHED_RUNS if r.name.startswith("BLOOM"))
    mem = memory_breakdown(scenario_from_dict(dict(run.scenario), run.name))
    vh = 250_880 * 14_336
    psi0 = (vh + 5 * (176_247_271_424 - vh) / 70) / 4
    assert psi0 == pytest.approx(3_982_201_344, abs=1)
    assert mem.worst_stage == 0
    assert (mem.weights, mem.gradients, mem.optimizer_states) == pytest.approx((2 * psi0, 6 * psi0, 1.5 * psi0))
    assert mem.buffers == 0.0 and mem.activations > 2 * psi0
    assert mem.total == pytest.approx(9.5 * psi0 + mem.activations)


# --- held out: llm-foundry's MPT throughput tables (a group of their own) ---------------------------------------

FOUNDRY = RUNS.FOUNDRY_RUNS


def test_foundry_rows_reproduce_what_the_tables_print() -> None:
    """Each transcribed row against the other columns the table prints: the MFU from its tokens/s per GPU by the
    README's formula (collect_results.py at b2a43a1: (6·N·s + 12·L·d·s²) FLOPs a sequence over Composer's
    peaks, 312 / 989.5 / 1,979 TFLOP/s), HFU = 4/3 MFU exactly
    where activations are checkpointed (an extra forward), the global batch = micro-batch x accumulation x GPUs,
    and the NumParams column = the parameter count of the MPT shape (biases, learned positions, tied embedding)."""
    assert len(RUNS.FOUNDRY_ROWS) == len(FOUNDRY) == 20
    for row, run in zip(RUNS.FOUNDRY_ROWS, FOUNDRY, strict=True):
        # collect_results.py prints int(throughput * seq_len / gpus), truncated, and round(mfu * 100, 2): the
        # printed MFU lies between the MFUs of the printed tokens/s and one token more, to its two decimals
        low = RUNS.foundry_mfu(row) - 0.006
        high = RUNS.foundry_mfu(replace(row, tokens_per_gpu=row.tokens_per_gpu + 1)) + 0.006
        assert low <= row.mfu <= high
        # both printed to two decimals
        assert row.hfu == pytest.approx(row.mfu * (4 / 3 if row.activation_checkpointing else 1.0), abs=0.012)
        scenario = scenario_from_dict(dict(run.scenario))
        assert row.global_batch == row.micro_batch * row.accumulation * row.gpus
        assert scenario.world_size == row.gpus and scenario.accumulation_steps == row.accumulation
        assert scenario.model.num_parameters == row.parameters
        assert run.published_tflops_per_gpu == row.tokens_per_gpu and run.convention == "tokens"
    # a wrong reading of the table fails: the 7B's tokens/s at the A100's peak is not its H100 MFU
    h100_7b = next(r for r in RUNS.FOUNDRY_ROWS if r.model == "7b" and r.gpu == "h100_80gb")
    assert RUNS.foundry_mfu(replace(h100_7b, gpu="a100_80gb")) != pytest.approx(h100_7b.mfu, rel=0.01)


def test_foundry_rows_are_rows_of_the_copied_tables() -> None:
    """The twenty transcribed rows, every column, are rows of llm-foundry's tables as copied verbatim from b2a43a1
    (benchmarks/results/llm-foundry-tables-b2a43a1: 198 rows, all FULL_SHARD, 59 on H100), and each table row
    reproduces its printed MFU from its tokens/s as the twenty do."""
    table = RUNS.foundry_table_rows()
    assert len(table) == 198 and {r.sharding for r in table} == {"FULL_SHARD"}
    assert sum(r.gpu == "h100_80gb" for r in table) == 59
    assert all(row in table for row in RUNS.FOUNDRY_ROWS)
    for row in table:
        low = RUNS.foundry_mfu(row) - 0.006
        high = RUNS.foundry_mfu(replace(row, tokens_per_gpu=row.tokens_per_gpu + 1)) + 0.006
        assert low <= row.mfu <= high
    # a transcription slip is caught: the 13B H100 row at another micro-batch is no row of the table
    h100_13b = next(r for r in RUNS.FOUNDRY_ROWS if r.model == "13b" and r.gpu == "h100_80gb")
    assert replace(h100_13b, micro_batch=4) not in table


def test_checkpointed_rows_reach_the_catalog_ceiling_only_with_torchs_early_stop() -> None:
    """Rerunning the whole checkpointed block, the table's tokens/s would need GEMMs faster than any GEMM runs in a
    training step in the catalog (matmul efficiency x sustained fraction); torch 2.1's non-reentrant checkpoint
    (the b2a43a1 runs' image) skips the down-projection in the rerun, and then they fit under it and are predicted
    within 10 %.

    H100 30B on 32 GPUs: 4 passes of 2 · 29,975,214,080 + 2 · 48 · 7,168 · 2,048 FLOPs a token = 245.44 GFLOP x
    2,308 tokens/s = 566.5 TFLOP/s, 0.5728 of 989, over the ceiling 792.1 / 989 x 0.71 = 0.5686; less the rerun's
    down-projections, 8 · 7,168² · 48 = 19.73 GFLOP a token: 225.71 GFLOP x 2,308 = 520.9 TFLOP/s, 0.5267. A100 80GB
    13B at s1024, micro-batch 40 (a table row outside the twenty): 4 · (2 · 12,848,711,680 + 2 · 40 · 5,120 · 1,024)
    x 2,330 / 312e12 = 0.7802 over the ceiling (the k-loop's 0.9306) x 0.81 = 0.7538; less 8 · 5,120² · 40 a token:
    0.7175."""
    h100_30b = next(r for r in RUNS.FOUNDRY_ROWS if r.model == "30b" and r.gpu == "h100_80gb")
    a100_13b = next(
        r
        for r in RUNS.foundry_table_rows()
        if (r.model, r.seq_len, r.gpu, r.micro_batch) == ("13b", 1024, "a100_80gb", 40)
    )
    assert RUNS.foundry_gemm_ceiling("h100_80gb") == pytest.approx(0.5686, abs=5e-5)
    assert RUNS.foundry_gemm_ceiling("a100_80gb") == pytest.approx(0.7538, abs=5e-5)
    for row, whole, early in ((h100_30b, 0.5728, 0.5267), (a100_13b, 0.7802, 0.7175)):
        run = RUNS._foundry_run(row)
        assert scenario_from_dict(dict(run.scenario)).training.recompute_early_stop
        assert RUNS.foundry_hardware_utilization(row) == pytest.approx(early, abs=5e-5)
        # the old reading, the whole block rerun: above the ceiling
        older = replace(row, precision="bf16")
        assert RUNS.foundry_hardware_utilization(older) == pytest.approx(whole, abs=5e-5)
        assert abs(RUNS.relative_error(run, RUNS.predict_run(run)[0])) <= MAX_CALIBRATED


def test_foundry_early_stop_follows_the_torch_each_table_ran() -> None:
    """torch 2.1.0 (sweep.sh's image at b2a43a1) for the rows that commit measured (precision amp_*, MP mode DEFAULT);
    torch 1.13.1 (sweep.sh's image before it) for the older rows it kept (precision bf16, PURE): the early stop only
    on the checkpointed rows of the first. The tables themselves show it: the eleven checkpointed A100 80GB rows that
    b2a43a1 re-measured (same model, sequence, GPUs and micro-batch as the older table's) gained 4-16 % on torch 2.1,
    the twenty-three re-measured rows without checkpointing -0.8 to +2.1 %."""
    for row in RUNS.foundry_table_rows():
        scenario = scenario_from_dict(dict(RUNS._foundry_run(row).scenario))
        expected = row.activation_checkpointing and row.precision in ("amp_bf16", "amp_fp8")
        assert scenario.training.recompute_early_stop == expected
        assert row.precision.startswith("amp_") == (row.mp_mode == "DEFAULT")


def test_foundry_scenarios_are_what_the_code_ran() -> None:
    """submit_benchmarks.py at b2a43a1 over the pretrain yamls: FSDP FULL_SHARD, Composer's mixed precision DEFAULT
    (bf16 gathers, fp32 gradient reduction) or PURE (bf16 reduction), checkpointing as the table's column, fp8
    GEMMs only for amp_fp8 (fc_type te), flash attention, no dropout, decoupled AdamW, clipping at 1.0."""
    for row, run in zip(RUNS.FOUNDRY_ROWS, FOUNDRY, strict=True):
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        assert row.sharding == "FULL_SHARD" and t.zero_stage == 3 and t.optimizer_sharding == "fsdp"
        assert s.communication.dtype == {"DEFAULT": "fp32", "PURE": "bf16"}[row.mp_mode]
        assert row.precision.startswith("amp_") == (row.mp_mode == "DEFAULT")
        assert t.activation_recomputation == ("full" if row.activation_checkpointing else "none")
        assert t.precision == ("fp8" if row.precision == "amp_fp8" else "bf16")
        assert s.model.attention == "flash" and not s.model.dropout and s.model.vocab == 50368
        # triton-pre-mlir's legacy Triton backend has no Hopper wgmma / TMA: a FlashAttention-2-generation kernel
        assert s.model.attention_kernel == "fa2"
        assert t.optimizer == "adamw" and t.gradient_clipping and t.fsdp_shard_group is None
        assert isinstance(run.scenario["cluster"]["device"], str)  # the catalog's calibration, nothing per run
    names = {r.name for r in FOUNDRY}
    others = RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS + RUNS.HELD_OUT_RUNS
    assert len(names) == 20 and not names & {r.name for r in others}
    assert set(RUNS.FOUNDRY_FIRST_PREDICTION) == names
    # fms-fsdp's "SDPA FlashAttention v2" is of the same generation; NeMo's and Llama 3's rows keep the device's own
    assert all(scenario_from_dict(dict(r.scenario)).model.attention_kernel == "fa2" for r in FMS_FSDP)
    assert all(r.scenario["model"].get("attention_kernel", "device") == "device" for r in others if r not in FMS_FSDP)


def test_loss_kernels_are_what_each_code_runs() -> None:
    """model.loss_kernel and model.logit_metrics per run, from each run's code: llm-foundry's MPT the fused xentropy
    kernel (loss_fn: fused_crossentropy by default, xentropy-cuda-lib in the gpu extra) plus Composer's two training
    metrics every micro-batch; fms-fsdp torch's CrossEntropyLoss on bf16 logits without autocast; every
    Megatron-LM, Megatron-DeepSpeed, NeMo (Megatron-core 0.8, cross_entropy_loss_fusion off), gpt-neox and metaseq
    run Megatron's vocab_parallel_cross_entropy on output.float() (the default)."""
    every = RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS + RUNS.HELD_OUT_RUNS
    for run in FOUNDRY + every:
        model = scenario_from_dict(dict(run.scenario)).model
        if run in FOUNDRY:
            assert (model.loss_kernel, model.logit_metrics) == ("xentropy", 2)
        elif run in FMS_FSDP:
            assert (model.loss_kernel, model.logit_metrics) == ("torch", 0)
        else:
            assert (model.loss_kernel, model.logit_metrics) == ("megatron", 0)


def test_foundry_engines_agree() -> None:
    """Both engines give the same step for every llm-foundry row (the printed group is either engine's)."""
    for run in FOUNDRY:
        analytic = RUNS.predict_run(run, "analytic")[1].step_time_s
        simulated = RUNS.predict_run(run, "sim")[1].step_time_s
        assert simulated == pytest.approx(analytic, rel=1e-6)


@pytest.mark.parametrize("run", _held_out_params(FOUNDRY))
def test_foundry_run_within_10_percent(run: Any) -> None:
    """Each llm-foundry row within 10 % of its table; the misses are strict expected failures with what the
    tables and the code show (``known_miss``), so a model change that meets one has to say so."""
    predicted, result = RUNS.predict_run(run)
    assert result.extra["compute_model"] == "operations"
    assert abs(RUNS.relative_error(run, predicted)) <= MAX_CALIBRATED


def test_attention_what_if_reads_the_committed_measurement() -> None:
    """``--attention-what-if``'s head-dim ratios are the committed H200 measurement's (FlashAttention-2 backward,
    head dim 64 over 128 at the same FLOPs, s 2,048 and 8,192), and they touch only the rows with 64-wide heads."""
    path = Path(__file__).resolve().parents[1] / "benchmarks/results/gpu-h200-2026-12-04/repeat/kernels2.json"
    items = json.loads(path.read_text())["items"]
    flash = {
        (i["seq"], i["head_dim"]): i["backward_s"] for i in items if i["kind"] == "attention_flash" and i["causal"]
    }
    for seq in (2048, 8192):
        assert flash[seq, 64] / flash[seq, 128] == pytest.approx(RUNS.D64_BACKWARD[seq], rel=2e-3)
    changed = [r.name for r in FOUNDRY if RUNS.attention_what_if(r, "d64") is not r]
    assert changed == ["MPT-125m s2048 on 8 A100-80GB", "MPT-350m s8192 on 8 A100-80GB"]


def test_attention_what_if_fa1_is_flashattention_1_published_rate() -> None:
    """``--attention-what-if``'s ``fa1`` prices both attention passes at FlashAttention (1)'s forward + backward rate
    over FlashAttention-2's, as the FlashAttention-2 paper's Fig. 4 (A100) and Fig. 7 (H100) label their causal bars:
    A100 head dim 128 at 16k 83 against 189 TFLOP/s, H100 head dim 128 at 8k 135 against 308, A100 head dim 64 at 2k
    77 against 140; sequences past the figure's 16k take its 16k bars, shorter than 512 its 512 ones. On the A100 it
    scales the device's own rate (FlashAttention-2 is its best), on the H100 the FA2-generation rate the rows use."""
    assert RUNS.fa1_over_fa2("a100-80gb", 128, 16384) == pytest.approx(83 / 189)
    assert RUNS.fa1_over_fa2("a100-80gb", 128, 65536) == pytest.approx(83 / 189)
    assert RUNS.fa1_over_fa2("a100-40gb", 64, 2048) == pytest.approx(77 / 140)
    assert RUNS.fa1_over_fa2("h100-sxm", 128, 8192) == pytest.approx(135 / 308)
    assert RUNS.fa1_over_fa2("h100-sxm", 64, 256) == pytest.approx(104 / 141)
    by_name = {r.name: r for r in FOUNDRY}
    a100 = RUNS.attention_what_if(by_name["MPT-7b s16384 on 8 A100-80GB"], "fa1").scenario["cluster"]["device"]
    assert a100["attention_efficiency"] == pytest.approx((0.6 * 83 / 189, 0.5 * 83 / 189))
    h100 = RUNS.attention_what_if(by_name["MPT-1b s8192 on 8 H100 FP8"], "fa1").scenario["cluster"]["device"]
    assert h100["attention_efficiency_fa2"] == pytest.approx((0.426 * 135 / 308, 0.328 * 135 / 308))
    assert "attention_efficiency" not in h100


def test_foundry_long_rows_imply_attention_between_flashattention_1_and_2() -> None:
    """The long rows of the twenty (A100 7B s16384, 350M s8192; H100 1B s8192 FP8) are met at an attention rate
    between FlashAttention (1)'s published one and the FlashAttention-2 rate priced (README, *FlashAttention (1)'s
    published rate*): ``implied_attention_scale`` meets the row, and lies above the FA1/FA2 ratio of the figure and
    below 1."""
    by_name = {r.name: r for r in FOUNDRY}
    for name, device, head_dim, seq in (
        ("MPT-7b s16384 on 8 A100-80GB", "a100-80gb", 128, 16384),
        ("MPT-350m s8192 on 8 A100-80GB", "a100-80gb", 64, 8192),
        ("MPT-1b s8192 on 8 H100 FP8", "h100-sxm", 128, 8192),
    ):
        run = by_name[name]
        scale = RUNS.implied_attention_scale(run)
        assert RUNS.fa1_over_fa2(device, head_dim, seq) < scale < 1.0
        fwd, bwd = RUNS.attention_rate_priced(run)
        field = "attention_efficiency_fa2" if device.startswith("h100") else "attention_efficiency"
        met = RUNS.with_device(run, **{field: (fwd * scale, bwd * scale)})
        assert RUNS.relative_error(met, RUNS.predict_run(met)[0]) == pytest.approx(0.0, abs=1e-4)


def test_mt_nlg_bf16_gradients_added_into_fp32_by_hand() -> None:
    """MT-NLG trained in bf16, and its code base requires fp32 gradient accumulation under bf16 (Megatron-DeepSpeed
    8a132ced arguments.py): each micro-batch's bf16 gradients are cast and added into fp32 as DeepSpeed's
    BF16_Optimizer does, 18 bytes a parameter. A middle stage holds 3 layers of (12·20480² + 13·20480)/8 =
    629,178,880 parameters a device, plus its 3/105 share of the final LayerNorm's 2·20480/8 (the memory model
    spreads the non-embedding parameters over the layers): 18 x 1,887,536,786.3 bytes at 2,039 GB/s x 0.83 x 0.81
    (the catalog A100 80GB's memory-bound rate) = 24.8 ms a micro-batch; autograd's 16-bit param.grad would move
    6 x (k - 1)/k of them."""
    from dpsim.compute import gradient_accumulation_seconds

    rate = 2.039e12 * 0.83 * 0.81
    middle = 3 * (12 * 20480**2 + 13 * 20480) / 8 + 3 / 105 * 2 * 20480 / 8
    for run in (r for r in HELD_OUT if r.name.startswith("MT-NLG")):
        scenario = scenario_from_dict(dict(run.scenario))
        assert (scenario.training.precision, scenario.training.gradient_accumulation_pass) == ("bf16", "fp32_copy")
        assert gradient_accumulation_seconds(scenario)[17] == pytest.approx(18 * middle / rate, rel=1e-9)


# --- held out: torchtitan's Llama 3.1 rows and NeMo 24.07's TP / PP rows (groups of their own) -----------------

TITAN = RUNS.TORCHTITAN_RUNS
NEMO_TP_PP = RUNS.NEMO_2407_HELD_OUT
BRIDGE = RUNS.BRIDGE_H100_HELD_OUT


def test_torchtitan_rows_are_what_the_sources_print() -> None:
    """Each row's published TPS/GPU, GPUs and batch as the three torchtitan tables print them (local batch a
    data-parallel rank: global = local x GPUs / TP), FSDP over the data-parallel ranks, fp32 reductions, and the
    Grand Teton part as published (96 GB HBM2e at 2.4 TB/s) with nothing else set per run."""
    printed = {
        "torchtitan 8B FSDP on 8 H100": (5762, 8, 16, 1),
        "torchtitan 8B FSDP compiled on 8 H100": (6667, 8, 16, 1),
        "torchtitan 8B FSDP compiled FP8 on 8 H100": (8532, 8, 16, 1),
        "torchtitan 8B FSDP on 128 H100": (5605, 128, 256, 1),
        "torchtitan 8B FSDP compiled on 128 H100": (6514, 128, 256, 1),
        "torchtitan 8B FSDP compiled FP8 on 128 H100": (8380, 128, 256, 1),
        "torchtitan 70B TP8 FP8 on 256 H100": (829, 256, 512, 8),
        "torchtitan 70B TP8 FP8 AsyncTP on 256 H100": (876, 256, 512, 8),
        "torchtitan 70B TP8 on 256 H100 (2025)": (597.3, 256, 512, 8),
        "torchtitan 70B TP8 AsyncTP on 256 H100 (2025)": (652.4, 256, 512, 8),
        "torchtitan 70B TP8 FP8 on 256 H100 (2025)": (809.8, 256, 512, 8),
        "torchtitan 70B TP8 FP8 AsyncTP on 256 H100 (2025)": (942.4, 256, 512, 8),
        # the June 2025 file's 8B table: FSDP 8 x TP 8, per op SAC, local batch 12 (global 96)
        "torchtitan 8B TP8 op SAC on 64 H100 (2025)": (4378, 64, 96, 8),
        "torchtitan 8B TP8 AsyncTP op SAC on 64 H100 (2025)": (4809.4, 64, 96, 8),
        "torchtitan 8B TP8 FP8 op SAC on 64 H100 (2025)": (5078.1, 64, 96, 8),
        "torchtitan 8B TP8 FP8 AsyncTP op SAC on 64 H100 (2025)": (5570.1, 64, 96, 8),
        "torchtitan 8B FSDP compiled FP8 on 32 H200": (10938, 32, 64, 1),
        "torchtitan 8B FSDP compiled FP8 on 64 H200": (10753, 64, 128, 1),
        # Table 2's CP 1 row (local batch 1), Table 5 (FSDP 8, TP 8, PP 8, local batch 32, global 256), Table 6's CP 1
        # row (local batch 8)
        "torchtitan 8B FSDP compiled FP8 s32768 on 8 H100": (3890, 8, 8, 1),
        "torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP on 512 H100": (100, 512, 256, 8),
        "torchtitan 405B TP8 PP8 interleaved FP8 AsyncTP on 512 H100": (128, 512, 256, 8),
        "torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP s32768 on 512 H100": (76, 512, 64, 8),
        # docs/performance.md at 3faaa1a0d: TP 8 x FSDP 16, local batch 2, global 32
        "torchtitan 405B TP8 on 128 H100 (Aug 2024)": (109, 128, 32, 8),
        "torchtitan 405B TP8 FP8 on 128 H100 (Aug 2024)": (177, 128, 32, 8),
        "torchtitan 405B TP8 FP8 AsyncTP on 128 H100 (Aug 2024)": (185, 128, 32, 8),
        # torchao/float8/README.md at 8c81863ba (Mar 2025): FSDP 8, batch size 1
        "torchtitan 8B FSDP compiled b1 on 8 H100 (torchao, Mar 2025)": (6150, 8, 8, 1),
        "torchtitan 8B FSDP compiled FP8 b1 on 8 H100 (torchao, Mar 2025)": (7689.5, 8, 8, 1),
    }
    assert [r.name for r in TITAN] == list(printed)
    for run in TITAN:
        tokens, gpus, batch, tp = printed[run.name]
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        pp = 8 if "PP8" in run.name else 1
        assert run.published_tflops_per_gpu == tokens and run.convention == "tokens"
        assert s.world_size == gpus and t.global_batch == batch and t.tensor_parallel == tp
        assert t.pipeline_parallel == pp and s.data_parallel == gpus // (tp * pp)
        assert s.model.seq_len == (32768 if "s32768" in run.name else 8192)
        assert t.optimizer_sharding == "fsdp" and s.communication.dtype == "fp32"
        if pp == 1:
            assert s.accumulation_steps == 1 and t.zero_stage == 3
        else:
            # torchtitan's default pipeline_parallel_microbatches (the PP degree) at 9dec370; apply_fsdp does not
            # reshard after forward under PP, and the pipelining stage reduce-scatters once after the last backward
            assert s.accumulation_steps == pp and t.zero_stage == 2 and t.fsdp_no_sync
            assert not t.fsdp_reshard_after_backward and t.embedding_pipeline_slots
            assert t.virtual_stages == (2 if "interleaved" in run.name else 1)
        assert t.precision == ("fp8" if "FP8" in run.name else "bf16")
        # torchao's Float8Linear (quantize.linear.float8 / enable_float8_linear): its own casts
        assert s.model.fp8_linear == ("torchao_tensorwise" if "FP8" in run.name else "te_layernorm_linear")
        assert t.tp_comm_overlap == ("AsyncTP" in run.name)
        assert t.tp_overlap_kind == ("torch_async_tp" if "AsyncTP" in run.name else "userbuffers")
        # DTensor's sequence parallelism keeps the all-gathered linear inputs (training.sequence_parallel_kind)
        assert t.sequence_parallel_kind == ("dtensor" if tp > 1 else "megatron")
        op = "op SAC" in run.name or (tp == 1 and "s32768" not in run.name)
        assert t.activation_recomputation == ("op" if op else "full")
        # eager 9dec370: the op-by-op norm and SwiGLU and the complex RoPE; compiled: Inductor's fusion
        eager = "compiled" not in run.name and tp == 1
        assert (s.model.elementwise, s.model.rope_kernels) == (
            ("eager", "complex_fp32") if eager else ("fused", "none")
        )
        device = run.scenario["cluster"]["device"]
        if "H200" in run.name:
            assert device == "h200"
        else:
            assert device == {"preset": "h100-sxm", "memory": "96 GiB", "memory_bandwidth": "2.4 TB/s"}
            assert s.cluster.device.memory_bandwidth == 2.4e12 and s.cluster.device.memory == 96 * 2**30


def test_torchtitan_loss_as_each_commit_runs_it() -> None:
    """F.cross_entropy(pred.flatten(0, 1).float(), ...) at every commit; eager at 9dec370 (the Dec 2024 tables:
    train.py's "TODO: compiling loss function causes CUDA errors, turning off for now"), under DTensor's loss_parallel
    where TP shards the output layer (enable_loss_parallel unless --training.disable_loss_parallel), compiled with
    --training.compile at 820504e and e7c0cae (components/loss.py build_cross_entropy_loss), which every June 2025 row
    sets."""
    for run in TITAN:
        june_2025 = "(2025)" in run.name or "H200" in run.name
        s = scenario_from_dict(dict(run.scenario))
        eager = "loss_parallel" if s.training.tensor_parallel > 1 else "torch_float"
        assert s.model.loss_kernel == ("inductor" if june_2025 else eager)


def test_fp8_gain_pairs_differ_only_in_the_linears_precision() -> None:
    """``published_runs.py --fp8-gains``: the eight bf16 / Float8 pairs of the torchtitan group, each pair the same
    scenario but for the precision and the Float8 linear (and the name, and FSDP's float8 all-gather where the Float8
    row's source sets it: all but the June 2025 file's four); the published saving is the two steps'
    difference (torchao's pair by hand: 8 x 8192 tokens a step over 8 GPUs at 6,150 and 7,689.5 tokens/s a GPU,
    1.33203 - 1.06535 s), the priced one splits into compute and exposed communication without a bubble."""
    pairs = RUNS.fp8_gain_pairs(TITAN)
    assert len(pairs) == 8
    for bf16, fp8 in pairs:
        a, b = json.loads(json.dumps(bf16.scenario)), json.loads(json.dumps(fp8.scenario))
        assert (a["training"].pop("precision"), b["training"].pop("precision")) == ("bf16", "fp8")
        assert b["model"].pop("fp8_linear") == "torchao_tensorwise" and "fp8_linear" not in a["model"]
        assert b["training"].pop("fsdp_float8_all_gather", False) == (" (2025)" not in fp8.name)
        a.pop("name"), b.pop("name")
        assert a == b, fp8.name
    gain = RUNS.fp8_gain(*pairs[-1])
    assert gain.fp8 == "torchtitan 8B FSDP compiled FP8 b1 on 8 H100 (torchao, Mar 2025)"
    assert gain.published_s == pytest.approx(8192 / 6150 - 8192 / 7689.5, rel=1e-12)
    assert gain.priced_s == pytest.approx(gain.compute_s + gain.exposed_comm_s, abs=1e-9)
    assert 0 < gain.priced_s < gain.published_s


def test_growth_from_8_to_128_gpus_is_the_same_share_for_bf16_and_float8() -> None:
    """``--fp8-gains``' last table: the Dec 2024 8B rows on 8 and on 128 H100 (eager, compiled, compiled Float8).
    Published steps by hand (16 x 8,192 tokens over 8 GPUs, or 256 x 8,192 over 128, at the table's tokens/s a GPU):
    eager 2.8435 -> 2.9231 s, compiled 2.4575 -> 2.5152 s, Float8 1.9203 -> 1.9551 s. The priced step shrinks by the
    optimizer's shard (16 times smaller) and little else; what the runs add beyond it is the same share of the step,
    4.7-4.9 %, for bf16 and Float8 alike (stop 52): a step-proportional cost of scale, not a bf16 one."""
    by_name = {r.name: r for r in TITAN}
    tokens = {"FSDP": (5762, 5605), "FSDP compiled": (6667, 6514), "FSDP compiled FP8": (8532, 8380)}
    residuals = []
    for small, large in RUNS.SCALE_PAIRS:
        g = RUNS.scale_growth(by_name[small], by_name[large])
        low, high = tokens[g.row.removeprefix("torchtitan 8B ")]
        assert g.small_step_s == pytest.approx(16384 / low, rel=1e-12)
        assert g.published_s == pytest.approx(16384 / high - 16384 / low, rel=1e-12)
        assert g.priced_s == pytest.approx(g.optimizer_s, abs=0.003)
        residuals.append(g.residual)
    assert min(residuals) > 0.045 and max(residuals) < 0.05
    assert max(residuals) - min(residuals) < 0.002


def test_fp8_pair_repeats_spread_by_hand() -> None:
    """``published_runs.py --fp8-gains``' published repeats (FP8_PAIR_REPEATS): each names a Float8 row of the group
    that has a bf16 twin; the torchao pair's last repeat is the group's own pair; the spreads by hand: bf16 6150 / 5760
    - 1 = 6.77 %, Float8 7689.5 / 7186 - 1 = 7.01 %, the Float8 / bf16 ratio 1.25033 / 1.19455 - 1 = 4.67 % (the
    draft); the 70B vanilla-TP pair's two ratios 820 / 598 and 809.8 / 597.3 differ by 1.14 %, and both lie below
    the ratio the group's rows are priced at (1.40 at stop 49), which the diagnostic prints."""
    by_name = {r.name: r for r in TITAN}
    twins = {fp8.name for _, fp8 in RUNS.fp8_gain_pairs(TITAN)}
    assert {r.fp8_row for r in RUNS.FP8_PAIR_REPEATS} <= twins
    torchao = [r for r in RUNS.FP8_PAIR_REPEATS if "torchao" in r.fp8_row]
    own = by_name[torchao[-1].fp8_row], by_name[torchao[-1].fp8_row.replace(" FP8", "", 1)]
    assert (torchao[-1].fp8, torchao[-1].bf16) == (own[0].published_tflops_per_gpu, own[1].published_tflops_per_gpu)
    assert RUNS._spread([r.bf16 for r in torchao]) == pytest.approx(6150 / 5760 - 1, rel=1e-12)
    assert RUNS._spread([r.fp8 for r in torchao]) == pytest.approx(7689.5 / 7186 - 1, rel=1e-12)
    assert RUNS._spread([r.fp8 / r.bf16 for r in torchao]) == pytest.approx(
        (7689.5 / 6150) / (7190 / 6019) - 1, rel=1e-12
    )
    vanilla = [r.fp8 / r.bf16 for r in RUNS.FP8_PAIR_REPEATS if r.fp8_row.startswith("torchtitan 70B TP8 FP8 on")]
    assert vanilla == pytest.approx([820 / 598, 809.8 / 597.3], rel=1e-12)
    assert RUNS._spread(vanilla) == pytest.approx(0.0114, abs=5e-5)
    row = by_name["torchtitan 70B TP8 FP8 on 256 H100 (2025)"]
    priced = RUNS.predict_run(row)[0] / RUNS.predict_run(by_name[row.name.replace(" FP8", "", 1)])[0]
    assert priced > max(vanilla)


def test_torchtitan_peak_memory_against_the_logged_max_reserved() -> None:
    """torchtitan logs the caching allocator's peak reserved memory (TORCHTITAN_PUBLISHED_MEMORY_GIB), which holds
    every tensor at its peak plus cached blocks: no prediction of the tensors is above it by more than 3 %, and the
    compiled 8B rows at op SAC (Inductor's fused kernels, few temporaries) are within 3 % of it (the eager rows'
    op-by-op temporaries and the 70B rows are predicted 2-7 % below it; the s32768 and 405B pipeline rows, added in
    stop 37, 0.4-17 % below)."""
    logged = RUNS.TORCHTITAN_PUBLISHED_MEMORY_GIB
    assert set(logged) <= {r.name for r in TITAN} and len(logged) == 16
    for run in TITAN:
        if run.name in logged:
            predicted = memory_breakdown(scenario_from_dict(dict(run.scenario))).total / 2**30
            assert predicted <= 1.03 * logged[run.name]
            if "8B FSDP compiled" in run.name and "s32768" not in run.name:
                assert predicted == pytest.approx(logged[run.name], rel=0.03)


def test_torchtitan_pipeline_rows_keep_torchs_stage_buffers() -> None:
    """The three 405B rows run torch.distributed.pipelining (training.pipeline_runtime: torch): 8 micro-batches of
    4 x 8,192 tokens, the sequence shard of the 16,384-wide residual stream (TP 8), 128 MiB a boundary tensor. 1F1B's
    stage 1 holds 7 in flight: 1 idle activation buffer, 7 outputs, 8 gradient buffers; the interleaved rank 1 holds
    all 8 of both its middle chunks: 8 outputs and 8 gradient buffers each; the last stage of 1F1B 7 idle buffers.
    The input gradients ``stage_backward`` left on the receive buffers until pytorch#164329: 1F1B's stage r holds
    8 - r in flight through its steady state and keeps the r earlier gradients at its last steady-state backward;
    interleaved (rounds of 8, min(8 + 2(7 - r), 16) warm-up forwards) only ranks 4-7 have steady-state pairs,
    2r - 6 of them, keeping 1, 3, 5, 7: rank 7 (72.0 + 7 x 0.125 GiB) passes rank 1 (72.4)."""
    from dpsim.analytic.memory import pipeline_input_gradients, pipeline_stage_buffers

    boundary = 4 * 8192 * 16384 * 2 / 8
    assert boundary == 128 * 2**20
    rows = {r.name: scenario_from_dict(dict(r.scenario)) for r in TITAN if "PP8" in r.name}
    one_f_one_b = rows["torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP on 512 H100"]
    interleaved = rows["torchtitan 405B TP8 PP8 interleaved FP8 AsyncTP on 512 H100"]
    assert all(s.training.pipeline_runtime == "torch" for s in rows.values())
    assert pipeline_stage_buffers(one_f_one_b, 1) == 16 * boundary
    assert pipeline_stage_buffers(one_f_one_b, 7) == 7 * boundary
    assert pipeline_stage_buffers(interleaved, 1) == 32 * boundary
    assert [pipeline_input_gradients(one_f_one_b, i) for i in range(8)] == [r * boundary for r in range(8)]
    kept = [0, 0, 0, 0, 1, 3, 5, 7]
    assert [pipeline_input_gradients(interleaved, i) for i in range(8)] == [n * boundary for n in kept]
    assert memory_breakdown(interleaved).worst_stage == 7


def test_nemo_tp_pp_rows_are_the_tables() -> None:
    """NeMo 24.07's FP8 table (performance_summary.md at 8e3d65d): GPUs, GBS, MBS, TP, PP, VP and tokens/s/GPU, and
    the calibration rows unchanged by the helper's new arguments (TP 1, PP 1, no sequence parallelism)."""
    printed = {
        "NeMo 24.07 GPT3-20B FP8 on 64 H100": (64, 256, 2, 2, 1, 1, 5851),
        "NeMo 24.07 GPT3-175B FP8 on 128 H100": (128, 256, 1, 4, 8, 6, 716),
        "NeMo 24.07 LLAMA2-13B FP8 on 16 H100": (16, 128, 1, 1, 4, 10, 8715),
        "NeMo 24.07 LLAMA2-70B FP8 on 64 H100": (64, 128, 1, 4, 4, 20, 1728),
        "NeMo 24.07 Nemotron-8B FP8 on 64 H100": (64, 256, 4, 2, 1, 1, 12507),
        "NeMo 24.07 Nemotron-22B FP8 on 64 H100": (64, 256, 2, 2, 4, 10, 4312),
        "NeMo 24.07 Nemotron-340B FP8 on 128 H100": (128, 32, 1, 8, 8, 12, 326),
    }
    assert [r.name for r in NEMO_TP_PP] == list(printed)
    for run in NEMO_TP_PP:
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        got = (s.world_size, t.global_batch, t.micro_batch, t.tensor_parallel, t.pipeline_parallel, t.virtual_stages)
        assert (*got, run.published_tflops_per_gpu) == printed[run.name]
        assert t.sequence_parallel == (t.tensor_parallel > 1) and t.precision == "fp8"
        assert isinstance(run.scenario["cluster"]["device"], str)
    for run in RUNS.H100_CALIBRATION_RUNS:
        t = scenario_from_dict(dict(run.scenario)).training
        assert (t.tensor_parallel, t.pipeline_parallel, t.sequence_parallel) == (1, 1, False)
    names = {r.name for r in TITAN + NEMO_TP_PP}
    others = (
        RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.H100_CALIBRATION_RUNS + RUNS.HELD_OUT_RUNS + FOUNDRY
    )
    assert len(names) == len(TITAN) + len(NEMO_TP_PP) and not names & {r.name for r in others}
    assert set(RUNS.TORCHTITAN_FIRST_PREDICTION) == {r.name for r in TITAN}
    assert set(RUNS.NEMO_2407_FIRST_PREDICTION) == {r.name for r in NEMO_TP_PP}


def _nemo_table_row(run: Any) -> tuple[Any, ...]:
    """A NeMo / Megatron-Bridge row as its table prints it: GPUs, GBS, MBS, TP, PP, VP, tokens/s/GPU and GA."""
    s = scenario_from_dict(dict(run.scenario))
    t = s.training
    dp = s.world_size // (t.tensor_parallel * t.pipeline_parallel)
    got = (s.world_size, t.global_batch, t.micro_batch, t.tensor_parallel, t.pipeline_parallel, t.virtual_stages)
    return (*got, run.published_tflops_per_gpu, t.global_batch // (t.micro_batch * dp))


def test_bridge_rows_are_the_tables() -> None:
    """Megatron-Bridge's DGX-H100 rows as docs/performance-summary.md prints them (25.09 at fa0315ae2, 26.02 at
    c0b9a0003): GPUs, GBS, MBS, TP, PP, VP and tokens/s/GPU; GA = GBS / (MBS x DP) as printed (16, 64, 128); the 8B
    under Megatron-FSDP's optim_grads_params (ZeRO-3), the 70B on the distributed optimizer with TP overlap; every
    row FP8, bf16 gradients and Transformer Engine's fused cross-entropy (priced as xentropy)."""
    printed = {
        "Megatron-Bridge 25.09 LLAMA3-8B FP8 on 8 H100": (8, 128, 1, 1, 1, 1, 14079, 16),
        "Megatron-Bridge 25.09 LLAMA3-70B FP8 on 64 H100": (64, 128, 1, 4, 8, 5, 1619, 64),
        "Megatron-Bridge 26.02 LLAMA3-70B GBS256 FP8 on 64 H100": (64, 256, 1, 4, 8, 5, 1621, 128),
    }
    assert [r.name for r in BRIDGE] == list(printed)
    assert set(RUNS.BRIDGE_H100_FIRST_PREDICTION) == set(printed)
    for run in BRIDGE:
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        assert _nemo_table_row(run) == printed[run.name]
        assert (s.model.seq_len, s.model.vocab, s.model.loss_kernel) == (8192, 128256, "xentropy")
        assert (t.precision, t.gradient_dtype, t.sequence_parallel) == ("fp8", "bf16", t.tensor_parallel > 1)
        fsdp = "8B" in run.name
        assert (t.optimizer_sharding, t.zero_stage) == (("fsdp", 3) if fsdp else ("megatron", 1))
        assert t.tp_comm_overlap == (t.tensor_parallel > 1)
    others = {r.name for r in TITAN + NEMO_TP_PP + RUNS.PUBLISHED_RUNS + RUNS.HELD_OUT_RUNS + FOUNDRY}
    assert not others & set(printed)


def test_b200_rows_are_the_table() -> None:
    """NeMo 25.02's DGX-B200 FP8 table (docs.nvidia.com performance summary): GPUs, GBS, MBS, TP, PP, VP, tokens/s/GPU
    and GA = GBS / (MBS x DP) as printed (8, 2; 32, 8); the two TP-1 rows set the B200's sustained fraction, the mean of
    what each implies (0.6261, 0.6178: each then predicted within 1 %), the catalog's B200 left at 1.0."""
    printed = {
        "NeMo 25.02 LLAMA3-8B FP8 on 8 B200": (8, 128, 2, 1, 1, 1, 26006, 8),
        "NeMo 25.02 Nemotron-15B FP8 on 64 B200": (64, 256, 2, 1, 1, 1, 14760, 2),
        "NeMo 25.02 GPT3-175B FP8 on 512 B200": (512, 2048, 2, 4, 4, 6, 1600, 32),
        "NeMo 25.02 Nemotron-340B FP8 on 128 B200": (128, 32, 1, 8, 4, 12, 602, 8),
    }
    rows = RUNS.B200_CALIBRATION_RUNS + RUNS.B200_HELD_OUT
    assert [r.name for r in rows] == list(printed)
    assert set(RUNS.B200_FIRST_PREDICTION) == {r.name for r in RUNS.B200_HELD_OUT}
    for run in rows:
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        assert _nemo_table_row(run) == printed[run.name]
        assert (s.cluster.device.preset, s.cluster.device.sustained_fraction, s.cluster.workers_per_node) == (
            "b200",
            1.0,
            8,
        )
        assert (t.precision, t.gradient_dtype, t.optimizer_sharding) == ("fp8", "bf16", "megatron")
    implied = [RUNS.implied_sustained_fraction(r) for r in RUNS.B200_CALIBRATION_RUNS]
    assert implied == pytest.approx([0.6261, 0.6178], abs=5e-4)
    assert RUNS.b200_sustained_fraction() == pytest.approx(sum(implied) / 2, rel=1e-12)
    for run in RUNS.b200_runs(RUNS.B200_CALIBRATION_RUNS, RUNS.b200_sustained_fraction()):
        assert abs(RUNS.relative_error(run, RUNS.predict_run(run)[0])) <= 0.01


def test_b200_held_out_first_prediction() -> None:
    """The held-out B200 rows at the calibrated fraction: their first prediction, both engines alike; the
    Nemotron-340B miss carries its note."""
    fraction = RUNS.b200_sustained_fraction()
    for run in RUNS.b200_runs(RUNS.B200_HELD_OUT, fraction):
        analytic = RUNS.predict_run(run, "analytic")[0]
        assert RUNS.predict_run(run, "sim")[0] == pytest.approx(analytic, rel=1e-6)
        # the first prediction (stop 41) to 0.1 %: 2e91f80 (each stage's reduction beside its sends, stop 47) moved
        # GPT3-175B 1653.42 -> 1652.90 and Nemotron-340B 664.79 -> 664.28 tokens/s, the only change since
        assert analytic == pytest.approx(RUNS.B200_FIRST_PREDICTION[run.name], rel=1e-3)
        assert (abs(RUNS.relative_error(run, analytic)) > MAX_CALIBRATED) == bool(run.known_miss)


def test_new_held_out_groups_engines_agree() -> None:
    for run in TITAN + NEMO_TP_PP + BRIDGE:
        analytic = RUNS.predict_run(run, "analytic")[1].step_time_s
        simulated = RUNS.predict_run(run, "sim")[1].step_time_s
        assert simulated == pytest.approx(analytic, rel=1e-6)


@pytest.mark.parametrize("run", _held_out_params(TITAN + NEMO_TP_PP + BRIDGE))
def test_new_held_out_run_within_10_percent(run: Any) -> None:
    """Each torchtitan / NeMo TP-PP / Megatron-Bridge row within 10 %; the misses are strict expected failures with
    their diagnosis."""
    predicted, result = RUNS.predict_run(run)
    assert result.extra["compute_model"] == "operations"
    assert abs(RUNS.relative_error(run, predicted)) <= MAX_CALIBRATED


# --- strong scaling: Narayanan et al. 2021 Table 2 and MegaScale's Megatron-LM baseline (held out) ------------------

SCALING = RUNS.SCALING_RUNS
_SCALING = {r.name: r for r in SCALING}


def test_narayanan_table2_rows_are_the_table() -> None:
    """Table 2 of arXiv:2104.04473v5 as printed: parameters (billion), model-parallel size, batch, GPUs, micro-batch
    and teraFLOP/s per GPU, for every row of both schemes."""
    printed = {
        "ZeRO-3 174.6B on 384": (174.6, 1, 1536, 384, 4, 144),
        "ZeRO-3 174.6B on 768": (174.6, 1, 1536, 768, 2, 88),
        "ZeRO-3 174.6B on 1536": (174.6, 1, 1536, 1536, 1, 44),
        "ZeRO-3 529.6B on 640": (529.6, 1, 2560, 640, 4, 138),
        "ZeRO-3 529.6B on 1120": (529.6, 1, 2240, 1120, 2, 98),
        "ZeRO-3 529.6B on 2240": (529.6, 1, 2240, 2240, 1, 48),
        "PTD-P 174.6B on 384": (174.6, 96, 1536, 384, 1, 153),
        "PTD-P 174.6B on 768": (174.6, 96, 1536, 768, 1, 149),
        "PTD-P 174.6B on 1536": (174.6, 96, 1536, 1536, 1, 141),
        "PTD-P 529.6B on 560": (529.6, 280, 2240, 560, 1, 171),
        "PTD-P 529.6B on 1120": (529.6, 280, 2240, 1120, 1, 167),
        "PTD-P 529.6B on 2240": (529.6, 280, 2240, 2240, 1, 159),
    }
    rows = [r for r in SCALING if r.name.startswith("Narayanan")]
    assert sorted(r.name for r in rows) == sorted(f"Narayanan T2 {k}" for k in printed)
    for run in rows:
        params, model_parallel, batch, gpus, micro_batch, tflops = printed[run.name.removeprefix("Narayanan T2 ")]
        s = scenario_from_dict(dict(run.scenario))
        t = s.training
        assert s.model.num_parameters / 1e9 == pytest.approx(params, abs=0.05)
        assert (s.model.seq_len, s.model.vocab) == (2048, 51200)
        assert t.tensor_parallel * t.pipeline_parallel == model_parallel
        assert (t.global_batch, s.world_size, t.micro_batch) == (batch, gpus, micro_batch)
        assert (run.published_tflops_per_gpu, run.convention) == (tflops, "megatron")
        assert t.zero_stage == (3 if model_parallel == 1 else 0)
        assert run.scenario["cluster"]["device"] == "a100-80gb"
    # the paper's own run of GPT-3 175B on 96 GPUs (run_figure_12.sh): TP 8, PP 12, two layers a virtual stage
    t = scenario_from_dict(dict(_SCALING["Narayanan T2 PTD-P 174.6B on 768"].scenario)).training
    assert (t.tensor_parallel, t.pipeline_parallel, t.virtual_stages) == (8, 12, 96 // 12 // 2)


def test_megascale_rows_are_its_tables() -> None:
    """MegaScale (arXiv:2402.15627v1) Table 1's models and the Megatron-LM baseline of Table 2 (the published value is
    the throughput column over the GPUs), Table 3 row 1 (47.7 %) and Figure 9's labels (530B, batch = GPUs): with the
    paper's model FLOPs each gives its MFU (of 312 TFLOP/s) to 0.1 point, an independent check of each copied number."""
    mfu = {
        (768, 256): 0.530,
        (768, 512): 0.499,
        (768, 768): 0.467,
        (768, 1024): 0.447,
        (6144, 3072): 0.487,
        (6144, 6144): 0.478,
        (6144, 8192): 0.433,
        (6144, 12288): 0.412,
        (256, 256): 0.477,
        (2240, 2240): 0.492,
        (4480, 4480): 0.488,
        (11200, 11200): 0.482,
    }
    table1 = {96: (128, 12288, 8, 6), 105: (160, 20480, 35, 3)}  # layers: heads, hidden, PP, chunks (TP 8)
    rows = [r for r in SCALING if r.name.startswith("MegaScale")]
    assert len(rows) == len(mfu)
    for run in rows:
        s = scenario_from_dict(dict(run.scenario))
        m, t = s.model, s.training
        heads, hidden, pp, chunks = table1[m.layers]
        assert (m.heads, m.hidden, m.seq_len, m.vocab) == (heads, hidden, 2048, 64000)
        pipeline = (t.tensor_parallel, t.pipeline_parallel, t.pipeline_schedule, t.virtual_stages)
        assert pipeline == (8, pp, "interleaved", chunks)
        flops_per_token = 6 * (12 * m.layers * hidden**2 + 64000 * hidden) + 12 * m.layers * 2048 * hidden
        assert flops_per_token == RUNS.megascale_flops_per_token("175B" if m.layers == 96 else "530B")
        assert run.convention == "tokens"
        assert run.published_tflops_per_gpu * flops_per_token / 312e12 == pytest.approx(
            mfu[(t.global_batch, s.world_size)], abs=0.001
        )
        assert s.cluster.inter_node.nics_per_node == 8 and s.cluster.inter_node.bandwidth == 200e9 / 8


def test_scaling_rows_are_new_pure_predictions() -> None:
    assert len(_SCALING) == len(SCALING) == 24
    others = (
        RUNS.PUBLISHED_RUNS
        + RUNS.CALIBRATION_PAPER_RUNS
        + RUNS.H100_CALIBRATION_RUNS
        + RUNS.HELD_OUT_RUNS
        + FOUNDRY
        + TITAN
        + NEMO_TP_PP
    )
    assert not set(_SCALING) & {r.name for r in others}
    assert set(RUNS.SCALING_FIRST_PREDICTION) == set(_SCALING)
    assert all(isinstance(r.scenario["cluster"]["device"], str) and _calibrated(r) for r in SCALING)


def test_scaling_engines_agree() -> None:
    for run in SCALING:
        analytic = RUNS.predict_run(run, "analytic")[1].step_time_s
        simulated = RUNS.predict_run(run, "sim")[1].step_time_s
        assert simulated == pytest.approx(analytic, rel=1e-6)


def test_scaling_series_and_fits_by_hand() -> None:
    series = RUNS.scaling_series(SCALING)
    assert [len(v) for v in series.values()] == [3, 3, 3, 3, 4, 4, 1, 3]
    assert "Narayanan T2 ZeRO-3 529.6B" in series  # the 640-GPU row (batch 2,560) kept with its 2,240 pair
    # error slope per doubling: errors 0, +1, +2 points at 1, 2, 4 x the GPUs -> +1 point a doubling
    runs = series["Narayanan T2 PTD-P 174.6B"]
    assert RUNS.scaling_slope(runs, [0.0, 0.01, 0.02]) == pytest.approx(1.0)
    # kept per-GPU throughput: 153 -> 141 TFLOP/s
    assert RUNS.scaling_retention(runs, [153.0, 149.0, 141.0]) == pytest.approx(141 / 153)
    # published = 0.9 x predicted + 2 s
    assert RUNS.fixed_cost_fit([11.0, 20.0, 38.0], [10.0, 20.0, 40.0]) == pytest.approx((0.9, 2.0))
    # eq. (3) seconds of the 384-GPU PTD-P row: 96 B s l h^2 (1 + s/6h + V/16lh) / (384 x 153 TFLOP/s)
    b, s, layers, h, v = 1536, 2048, 96, 12288, 51200
    flops = 96 * b * s * layers * h**2 * (1 + s / (6 * h) + v / (16 * layers * h))
    assert RUNS.step_seconds(runs[0], 153.0) == pytest.approx(flops / (384 * 153e12))
    mega = series["MegaScale baseline b768"][0]
    assert RUNS.step_seconds(mega, 153.52) == pytest.approx(768 * 2048 / (256 * 153.52))


@pytest.mark.parametrize("run", _held_out_params(SCALING))
def test_scaling_run_within_10_percent(run: Any) -> None:
    """Each strong-scaling row within 10 %; the misses are strict expected failures with their diagnosis."""
    predicted, result = RUNS.predict_run(run)
    assert result.extra["compute_model"] == "operations"
    assert abs(RUNS.relative_error(run, predicted)) <= MAX_CALIBRATED


def test_equal_work_groups_by_hand() -> None:
    """Rows whose replicas run the same work and differ only in the number of replicas: Table 1's 529.6B (DP 9) and
    Table 2's on 2,240 GPUs (DP 8), both 280 micro-batches a replica; MegaScale's baseline at 64 and at 48 micro-batches
    a replica (batch 768 / 6,144 / 256 on 768 / 6,144 / 256 GPUs; 768 / 6,144 on 1,024 / 8,192), and its 530B weak
    scaling (batch = GPUs: 280 a replica at every scale)."""
    groups = RUNS.equal_work_groups(RUNS.PUBLISHED_RUNS + SCALING)
    assert [[r.name for r in group] for group in groups] == [
        ["Megatron GPT 529.6B", "Narayanan T2 PTD-P 529.6B on 2240"],
        ["MegaScale baseline b768 on 768", "MegaScale baseline b6144 on 6144", "MegaScale baseline b256 on 256"],
        ["MegaScale baseline b768 on 1024", "MegaScale baseline b6144 on 8192"],
        ["MegaScale 530B weak on 2240", "MegaScale 530B weak on 4480", "MegaScale 530B weak on 11200"],
    ]
    for group in groups:
        assert len({scenario_from_dict(dict(r.scenario)).accumulation_steps for r in group}) == 1
        assert len({scenario_from_dict(dict(r.scenario)).data_parallel for r in group}) == len(group)
    # the same paper's two measurements of one per-replica configuration: 163 and 159 TFLOP/s, 2.5 % apart
    assert [r.published_tflops_per_gpu for r in groups[0]] == [163.0, 159.0]
    assert RUNS.spread([163.0, 159.0]) == pytest.approx(4 / 159)
    assert RUNS.spread([135.0, 139.0, 138.0]) == pytest.approx(4 / 135)


def test_foundry_torch_21_gain_is_the_early_stop() -> None:
    """llm-foundry measured its A100 80GB rows on torch 1.13.1 (c6cfb42's table, copied verbatim) and again on torch
    2.1.0 (b2a43a1): the 36 rows without checkpointing gained a median +0.5 %, the 20 checkpointed ones +5.2 %. The
    early stop of the checkpointed rerun (``training.recompute_early_stop``), priced on the torch 2.1 rows, predicts
    no gain for the first and accounts for more than half of the second's (mean |measured - predicted| 2.6 points
    against 6.2 with no mechanism)."""
    import statistics

    pairs = RUNS.foundry_torch_pairs()
    checkpointed = [(old, new) for old, new in pairs if new.activation_checkpointing]
    plain = [(old, new) for old, new in pairs if not new.activation_checkpointing]
    assert (len(checkpointed), len(plain)) == (20, 36)
    assert all(old.precision == "bf16" and new.precision == "amp_bf16" for old, new in pairs)
    assert all(RUNS.foundry_early_stop_gain(new) == 0.0 for _, new in plain)
    assert statistics.median(new.tokens_per_gpu / old.tokens_per_gpu - 1 for old, new in plain) == pytest.approx(
        0.005, abs=0.001
    )
    measured = [new.tokens_per_gpu / old.tokens_per_gpu - 1 for old, new in checkpointed]
    predicted = [RUNS.foundry_early_stop_gain(new) for _, new in checkpointed]
    assert statistics.median(measured) == pytest.approx(0.052, abs=0.001)
    with_mechanism = statistics.mean(abs(m - p) for m, p in zip(measured, predicted, strict=True))
    without = statistics.mean(abs(m) for m in measured)
    assert with_mechanism < 0.5 * without


def test_reference_pairs_per_token_layer_by_hand() -> None:
    """Each miss beside NVIDIA's own run of the same layers: the GPU-seconds a token spends in one layer, worked from
    each publication's own figures (not the transcription's scenario arithmetic), and the published ratios.

    - GPT-NeoX-20B: get_flops' 6N + 60·s·h·l a token (N = 20,556,201,984) at 117 TFLOP/s, over 44 layers;
      Korthikanti 22B full recomputation: 1.42 s on 8 GPUs for 4 x 2,048 tokens, 48 layers.
    - OPT-175B: eq. (3) a token, 96·h²·(1 + s/6h + V/16lh) a layer (h 12,288, V 50,272, l 96), at 147 TFLOP/s;
      Korthikanti 175B full recomputation: 18.13 s on 64 GPUs for 64 x 2,048 tokens, 96 layers.
    - MT-NLG on 2,240 GPUs: 60.1 s for 1,920 x 2,048 tokens, 105 layers; Table 1's 529.6B: eq. (3) (V 51,200) at
      163 TFLOP/s.
    - MegaScale 530B on 2,240: 49.2 % of 312 TFLOP/s over its 6N + 12·l·s·h a token (N = 12·l·h² + 64,000·h),
      105 layers; Korthikanti 530B SP + selective: 37.83 s on 280 GPUs for 280 x 2,048 tokens.
    - the control, MegaScale's batch 256 on 256 (47.7 %, 96 layers of 12,288) against Korthikanti's 175B SP +
      selective (13.75 s, 64 GPUs, 64 x 2,048 tokens), which the model prices alike (within 1 %): the references are
      predicted within 4.1 %, so what the misses leave is what each run does differently from its reference."""
    runs = {r.name: r for r in RUNS.PUBLISHED_RUNS + RUNS.CALIBRATION_PAPER_RUNS + RUNS.HELD_OUT_RUNS + SCALING}

    def eq3(h: int, vocab: int, layers: int, tflops: float) -> float:
        return 96 * h * h * (1 + 2048 / (6 * h) + vocab / (16 * layers * h)) / (tflops * 1e12)

    def megascale(mfu: float, h: int, layers: int) -> float:
        per_token = 6 * (12 * layers * h * h + 64000 * h) + 12 * layers * 2048 * h
        return per_token / (mfu * 312e12) / layers

    by_hand = {
        "GPT-NeoX-20B on 96 A100-40GB": (6 * 20_556_201_984 + 60 * 2048 * 6144 * 44) / 117e12 / 44,
        "Korthikanti 22B full recompute": 1.42 * 8 / (4 * 2048 * 48),
        "OPT-175B on 992 A100": eq3(12288, 50272, 96, 147.0),
        "Korthikanti 175B full recompute": 18.13 * 64 / (64 * 2048 * 96),
        "MT-NLG 530B on 2240 A100": 60.1 * 2240 / (1920 * 2048 * 105),
        "Megatron GPT 529.6B": eq3(20480, 51200, 105, 163.0),
        "MegaScale 530B weak on 2240": megascale(0.492, 20480, 105),
        "Korthikanti 530B SP+selective": 37.83 * 280 / (280 * 2048 * 105),
        "MegaScale baseline b256 on 256": megascale(0.477, 12288, 96),
        "Korthikanti 175B SP+selective": 13.75 * 64 / (64 * 2048 * 96),
    }
    for name, seconds in by_hand.items():
        run = runs[name]
        assert RUNS.token_layer_seconds(run, RUNS.step_seconds(run, run.published_tflops_per_gpu)) == pytest.approx(
            seconds, rel=2e-3
        ), name
    pairs = {
        (name, reference): RUNS.reference_ratio(runs[name], runs[reference])
        for name, reference, _ in RUNS.REFERENCE_PAIRS
    }
    for (name, reference), (published, _) in pairs.items():
        if name in by_hand:
            assert published == pytest.approx(by_hand[name] / by_hand[reference], rel=3e-3), name
    # the same layers run by NVIDIA are slower or faster than by the others as the publications say: NeoX 5 %, OPT
    # 10 %, MT-NLG on 2,240 GPUs 30 %, MegaScale's 530B 14 % and its 175B control 8 % more GPU time a token and layer
    published = {name: round(p, 2) for (name, _), (p, _) in pairs.items()}
    assert published["GPT-NeoX-20B on 96 A100-40GB"] == 1.05
    assert published["OPT-175B on 992 A100"] == 1.10
    assert published["MT-NLG 530B on 2240 A100"] == 1.30
    assert published["MegaScale 530B weak on 2240"] == 1.14
    assert published["MegaScale baseline b256 on 256"] == 1.08
    control, predicted = pairs[("MegaScale baseline b256 on 256", "Korthikanti 175B SP+selective")]
    assert abs(control / predicted - 1.0) <= 0.01
    for _, reference, _ in RUNS.REFERENCE_PAIRS:
        ref = runs[reference]
        assert abs(RUNS.relative_error(ref, RUNS.predict_run(ref)[0])) <= 0.042, reference


def test_sm_share_what_if_by_hand() -> None:
    """The SM-share what-if (``--sm-share-what-if``, not the model). NCCL's CTAs a collective holds across nodes,
    by hand from search.cc / connect.cc: one channel per NIC, copied when >= 25 GB/s (Hopper: not with > 4 channels
    below 50 GB/s), doubled by ncclTopoPostset. The A100 refit: Korthikanti's layer prices 14.73 ms at fraction 1
    (catalog comment) with two 0.748 ms all-reduces exposed in the forward; the backward's two beside the
    weight-gradient GEMMs cost them 24/108 of their time: 14.73 / (19.6 - 1.496 - 0.2222 x 1.496) = 0.829."""
    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.collectives.nccl import comm_channels

    assert comm_channels(Layout(2, 8, 8, arch="ampere", nic_gbps=25.0)) == 16  # 8 HDR channels of 24 GB/s
    assert comm_channels(Layout(2, 8, 8, arch="hopper", nic_gbps=50.0)) == 16  # 8 x 48 GB/s, not copied
    assert comm_channels(Layout(2, 8, 4, arch="hopper", nic_gbps=50.0)) == 16  # 4 copied to 8
    assert comm_channels(Layout(2, 8, 2, arch="hopper", nic_gbps=50.0)) == 8  # 2 copied to 4
    assert RUNS.korthikanti_sustained_fraction() == pytest.approx(0.8136, abs=5e-4)
    assert RUNS.korthikanti_sustained_fraction(backward_contention=24 / 108) == pytest.approx(0.829, abs=1e-3)


def test_small_collectives_what_if_by_hand() -> None:
    """The small-collectives what-if (``--small-collectives-what-if``, not the model). Table 1's 529.6B (Megatron-LM
    de7dc40, fp16, TP 8 x PP 35 x DP 9, 280 micro-batches): found-inf and gradient norm, two 4-byte all-reduces over
    its model-parallel group (TP 8 on each of 35 nodes), then 280 loss all-reduces of 4 bytes over the data-parallel
    group, each latency-bound (tens of microseconds: milliseconds a step, 0.02 % of its 54 s). The 1.7B (TP 1, PP 1):
    a model-parallel group of one rank, nothing after the flush. Megatron-Bridge (core 0.14) reduces the loss once
    after the step, hidden by the fill where PP > 1; rows outside Megatron's loop add nothing."""
    from dpsim.analytic.collectives import collective
    from dpsim.analytic.step import dp_fabric

    by_name = {r.name: r for tables in RUNS._summary_tables().values() for r in tables}
    big = by_name["Megatron GPT 529.6B"]
    scenario = scenario_from_dict(dict(big.scenario), big.name)
    group = RUNS._model_parallel_fabric(scenario)
    assert (group.nodes, group.per_node, group.world_size) == (35, 8, 280)
    flush, loss = RUNS.small_collective_seconds(big)
    assert flush == pytest.approx(2 * collective("allreduce", "auto", 4.0, group).time_s)
    assert loss == pytest.approx(280 * collective("allreduce", "auto", 4.0, dp_fabric(scenario)).time_s)
    assert 5e-6 < flush / 2 < 2e-4 and 5e-6 < loss / 280 < 2e-4
    assert RUNS.small_collective_seconds(by_name["Megatron GPT 1.7B"])[0] == 0.0
    assert RUNS.small_collective_seconds(by_name["Megatron-Bridge 25.09 LLAMA3-70B FP8 on 64 H100"])[1] == 0.0
    assert RUNS.small_collective_seconds(by_name["Megatron-Bridge 25.09 LLAMA3-8B FP8 on 8 H100"])[1] > 0.0
    assert RUNS.small_collective_seconds(by_name["BLOOM 176B on 384 A100"]) == (0.0, 0.0)


def test_cudnn_attention_what_if_by_hand() -> None:
    """``--cudnn-attention-what-if`` (not the model): the Megatron-Bridge 8B's attention at s 8192, causal, on the cuDNN
    curve: 0.738 x 8192 / (8192 + 753) forward, 0.676 x 8192 / (8192 + 1135) backward, where the catalog prices the
    flat (0.65, 0.5); the H100 fraction re-derived with it on the two calibration rows (0.7181) lies between theirs;
    the catalog's device is left as it was."""
    from dpsim.compute import attention_rate

    run = BRIDGE[0]
    then = scenario_from_dict(dict(RUNS.with_device(run, **RUNS.CUDNN_ATTENTION).scenario)).cluster.device
    now = scenario_from_dict(dict(run.scenario)).cluster.device
    fwd, bwd = attention_rate(then, "flash", 8192.0, causal=True)
    assert (fwd, bwd) == pytest.approx((0.738 * 8192 / 8945, 0.676 * 8192 / 9327), rel=1e-12)
    assert attention_rate(now, "flash", 8192.0, causal=True) == pytest.approx((0.65, 0.5), rel=1e-12)
    implied = [
        RUNS.implied_sustained_fraction(RUNS.with_device(r, **RUNS.CUDNN_ATTENTION)) for r in RUNS.H100_CALIBRATION_RUNS
    ]
    assert implied == pytest.approx([0.7105, 0.7256], abs=5e-4)


def test_megatron_bucket_what_if_by_hand() -> None:
    """``--megatron-bucket-what-if`` (not the model): NeMo 2.2.0's ``MegatronCommOverlapCallback`` sets Megatron-Core's
    ``bucket_size`` to 128 x 1024 x 1024 parameters with data parallelism, at the B200 rows' bf16 gradients
    268,435,456 bytes, where the rows are priced at ``communication.bucket``'s 25 MiB; the B200 fraction is
    re-derived on the two calibration rows (the Nemotron-15B's implied fraction falls 0.618 -> 0.556: at 25 MiB its
    priced step held 0.113 s of exposed parameter gather) and the held-out rows priced at their mean; the rows
    themselves are left as they were."""
    run = RUNS.B200_HELD_OUT[1]
    assert scenario_from_dict(dict(RUNS.with_megatron_buckets(run).scenario)).communication.bucket == 268_435_456
    assert scenario_from_dict(dict(run.scenario)).communication.bucket == 25 * 2**20
    out = RUNS.megatron_bucket_what_if()
    assert out["now"][0] == pytest.approx([0.6261, 0.6178], abs=5e-4)
    assert out["now"][1] == pytest.approx([0.0334, 0.1035], abs=5e-4)
    assert out["recipe"][0] == pytest.approx([0.6262, 0.5562], abs=5e-4)
    assert out["recipe"][1] == pytest.approx([0.0081, 0.0948], abs=5e-4)


def test_b200_rows_read_the_catalogs_sms() -> None:
    """The B200's 148 SMs come from the catalog for every B200 row (``--sm-margin-what-if`` takes its margins out of
    them, ``--gemm-waves`` fills its waves with them); before, the catalog had none and ``gemm_waves`` on a B200 row
    priced nothing. Waves only slow a GEMM, so the 8B calibration row at one fraction is priced slower with them."""
    run = RUNS.B200_CALIBRATION_RUNS[0]
    assert scenario_from_dict(dict(run.scenario)).cluster.device.sm_count == 148
    plain = RUNS.predict_run(RUNS.with_device(run, sustained_fraction=0.6))[0]
    waved = RUNS.predict_run(RUNS.with_device(run, sustained_fraction=0.6, gemm_waves=True))[0]
    assert waved < plain


def test_sm_margin_what_if_by_hand() -> None:
    """``--sm-margin-what-if`` (not the model): NeMo 2.2.0's B200 userbuffers config for the Nemotron-340B pipelines
    fc2_fprop's reduce-scatter on 24 SMs with ``set_sm_margin`` (TE runs the GEMM on 148 - 24) and proj_fprop's ring
    exchange on 1: each step adds MLP-down's priced forward x 24/124 and attention-out's x 1/147, for the stage's 24
    layers and 8 micro-batches; the rows themselves are left as they were."""
    from dpsim.compute import compute_device, layer_kernels

    run = next(r for r in RUNS.B200_HELD_OUT if "Nemotron-340B" in r.name)
    s = scenario_from_dict(dict(run.scenario))
    t = s.training
    kernels = {
        k.name: k.seconds
        for k in layer_kernels(s.model, compute_device(s), t.precision, t.micro_batch, 8, t.sequence_parallel)
    }
    assert (s.model.layers // t.pipeline_parallel, s.accumulation_steps) == (24, 8)
    by_hand = (kernels["mlp_down"] * 24 / 124 + kernels["attention_out"] / 147) * 24 * 8
    assert RUNS.sm_margin_seconds(run) == pytest.approx(by_hand, rel=1e-12)
    out = RUNS.sm_margin_what_if()
    assert out["NeMo 25.02 Nemotron-340B FP8 on 128 B200"] == pytest.approx((0.1035, 0.0869), abs=5e-4)
    assert out["NeMo 25.02 GPT3-175B FP8 on 512 B200"] == pytest.approx((0.0334, 0.0326), abs=5e-4)
    assert out["NeMo GPT-3 175B FP8 on 512 H100"] == pytest.approx((-0.0674, -0.0726), abs=5e-4)


def test_userbuffers_split_what_if_by_hand() -> None:
    """``--userbuffers-split-what-if`` (not the model): Transformer Engine's ring exchanges (``aggregate=False``) run
    a GEMM as t GEMMs of 1/t of the rows, its pipelined overlaps as 4. Nemotron-340B's B200 config (TP 8): qkv_fprop,
    fc1_fprop, proj_fprop, proj_dgrad, fc2_dgrad 8 each, fc2_fprop 4: 5 x 7 + 3 = 38 more GEMMs a layer; the H100
    GPT-3 175B's (TP 4): 6 x 3 = 18. Every split GEMM there stays compute-bound on the curve, so each adds one kernel
    overhead (4 us at the device's sustained fraction), for the stage's layers and micro-batches (24 x 8, 12 x 64)."""
    fraction = RUNS.b200_sustained_fraction()
    b200 = next(r for r in RUNS.b200_runs(RUNS.B200_HELD_OUT, fraction) if "Nemotron-340B" in r.name)
    assert RUNS.userbuffers_split_counts(b200, 8) == {
        ("qkv", "forward"): 8,
        ("mlp_up", "forward"): 8,
        ("attention_out.dgrad", "backward"): 8,
        ("mlp_down.dgrad", "backward"): 8,
        ("attention_out", "forward"): 8,
        ("mlp_down", "forward"): 4,
    }
    assert RUNS.userbuffers_split_seconds(b200) == pytest.approx(38 * 4e-6 / fraction * 24 * 8, rel=1e-9)
    h100 = next(r for r in RUNS.PUBLISHED_RUNS if r.name == "NeMo GPT-3 175B FP8 on 512 H100")
    assert RUNS.userbuffers_split_seconds(h100) == pytest.approx(18 * 4e-6 / 0.71 * 12 * 64, rel=1e-9)
    # no userbuffers overlap: nothing added
    assert RUNS.userbuffers_split_seconds(RUNS.PUBLISHED_RUNS[0]) == 0.0
    out = RUNS.userbuffers_split_what_if()
    assert out["NeMo 25.02 B200"]["NeMo 25.02 Nemotron-340B FP8 on 128 B200"] == pytest.approx(
        (0.1035, 0.0709), abs=5e-4
    )
    assert out["calibration"]["NeMo GPT-3 175B FP8 on 512 H100"] == pytest.approx((-0.0674, -0.0745), abs=5e-4)


def test_async_tp_what_if_by_hand() -> None:
    """``--async-tp-what-if`` (not the model): AsyncTP hiding no transfer lengthens the Aug 2024 405B Float8 AsyncTP
    row's step (no pipeline, one micro-batch) by what ``tensor_parallel_hidden_time`` hides, less at most the FSDP
    gradient tail the longer backward now covers (its exposed 25 ms), on both engines; the model is left as it
    was."""
    from dpsim.analytic.parallel import tensor_parallel_hidden_time
    from dpsim.analytic.step import fabric_of

    run = next(r for r in TITAN if r.name == "torchtitan 405B TP8 FP8 AsyncTP on 128 H100 (Aug 2024)")
    scenario = scenario_from_dict(dict(run.scenario))
    hidden = tensor_parallel_hidden_time(scenario, fabric_of(scenario)) * scenario.accumulation_steps
    assert hidden > 1.0
    before, analytic = RUNS.predict_run(run)
    tail = analytic.extra["gradient_exposed_s"]
    for engine in ("analytic", "sim"):
        now, result = RUNS.predict_run(run, engine)
        nothing = RUNS.async_tp_hiding_nothing(run, engine)
        tokens = scenario.tokens_per_step / scenario.world_size
        grown = tokens / nothing - tokens / now
        assert 0.0 <= hidden - grown <= tail
        assert tokens / now == pytest.approx(result.step_time_s, rel=1e-12)
    assert RUNS.predict_run(run)[0] == before


def test_async_tp_fused_in_by_hand() -> None:
    """``--async-tp-what-if``'s restricted fusion (not the model): with only the forward's collectives fused, the Aug
    2024 405B Float8 AsyncTP row (no pipeline, one micro-batch) loses exactly what the re-forward's and the
    backward's fused pairs hid, less what their split GEMMs cost beyond the whole ones (by hand from the TP
    collectives and the priced GEMMs), up to the FSDP gradient tail the longer backward covers, on both engines; the
    passes nest (forward <= forward + backward or + recompute <= now in throughput); a run without AsyncTP is
    unchanged; an unknown variant is refused; the model is left as it was."""
    from dpsim.analytic import parallel
    from dpsim.analytic.step import fabric_of

    run = next(r for r in TITAN if r.name == "torchtitan 405B TP8 FP8 AsyncTP on 128 H100 (Aug 2024)")
    scenario = scenario_from_dict(dict(run.scenario))
    t = scenario.training
    comm = dict(parallel.tensor_parallel_collectives(scenario, fabric_of(scenario)))
    whole = parallel._layer_gemm_seconds(scenario)
    split = parallel._layer_gemm_seconds(scenario, t.tensor_parallel)
    share = (t.tensor_parallel - 1) / t.tensor_parallel
    dropped = [*parallel._async_tp_backward_pairs(scenario.model.gated_mlp), *parallel._OVERLAPPED_GEMMS]
    per_layer = sum(min(comm[op], share * split[name]) - (split[name] - whole[name]) for op, name in dropped)
    lost = per_layer * parallel.layers_per_stage(scenario) * scenario.accumulation_steps
    assert lost > 0.5
    before, analytic = RUNS.predict_run(run)
    tail = analytic.extra["gradient_exposed_s"]
    tokens = scenario.tokens_per_step / scenario.world_size
    for engine in ("analytic", "sim"):
        now = RUNS.predict_run(run, engine)[0]
        forward = RUNS.async_tp_fused_in(run, "forward", engine)
        grown = tokens / forward - tokens / now
        assert 0.0 <= lost - grown <= tail
        assert forward <= RUNS.async_tp_fused_in(run, "forward+backward", engine) <= now
        assert forward <= RUNS.async_tp_fused_in(run, "forward+recompute", engine) <= now
    vanilla = next(r for r in TITAN if r.name == "torchtitan 405B TP8 FP8 on 128 H100 (Aug 2024)")
    assert RUNS.async_tp_fused_in(vanilla, "forward") == RUNS.predict_run(vanilla)[0]
    with pytest.raises(ValueError, match="passes"):
        RUNS.async_tp_fused_in(run, "backward")
    assert RUNS.predict_run(run)[0] == before


def test_nemotron_340b_shape_is_the_technical_reports() -> None:
    """The Nemotron-4 340B row's shape (nemotron_340b.yaml: 96 layers, hidden 18,432, 96 heads, 8 query groups, 4h
    squared-ReLU MLP, untied 256K embeddings) against the Nemotron-4 340B technical report (NVIDIA 2024, section 2:
    9.4 billion embedding and 331.6 billion non-embedding parameters)."""
    run = next(r for r in NEMO_TP_PP if "Nemotron-340B" in r.name)
    m = scenario_from_dict(dict(run.scenario)).model
    embedding = 2 * m.vocab * m.hidden
    assert embedding / 1e9 == pytest.approx(9.4, abs=0.05)
    assert (m.num_parameters - embedding) / 1e9 == pytest.approx(331.6, abs=0.1)


def test_nemotron_340b_runs_the_yamls_bf16_optimizer_state_and_fits() -> None:
    """nemotron_340b.yaml (NeMo-Framework-Launcher 7316a8d9) sets optim.dtype bf16: apex's DistributedFusedAdam
    with bf16 moments and no master copy. Stage 0 (embedding 256,000 x 18,432 / 8 + 1 layer of 12 a chunk x 12
    chunks / 8): Adam's states 2 x 2 bytes over DP 2 = 2 bytes a parameter, and the stage fits in 80 GiB (with
    the fp32 state's 8 bytes a parameter it did not: 94.7 GiB)."""
    from dpsim.analytic.memory import stage_parameters

    run = next(r for r in NEMO_TP_PP if "Nemotron-340B" in r.name)
    s = scenario_from_dict(dict(run.scenario))
    assert s.training.optimizer_state_dtype == "bf16"
    mb = memory_breakdown(s)
    assert mb.worst_stage == 0 and not mb.oom
    assert mb.optimizer_states == pytest.approx(2 * stage_parameters(s)[0])


def test_megascale_what_if_sets_one_opt_in_flag_of_its_release() -> None:
    """``--megascale-what-if`` (a what-if, not the model): each variant changes only what the opt-in flag of Megatron-LM
    285068c8 changes, on MegaScale's baseline rows only. ``flash``: the model's attention (``--use-flash-attn``); its
    FlashAttention (1) form also scales the A100's flash rate (0.6, 0.5) by the FlashAttention-2 paper's Fig. 4 ratio at
    the rows' sequence 2,048 and 128-wide heads (530B: 20,480 / 160; 175B: 12,288 / 128 = 96, the figure's 128
    panel), 69 / 155; ``distributed_optimizer``: ZeRO-1 as Megatron's distributed optimizer, which keeps its own
    gradient buffer. Flash attention prices every baseline row faster than the standard attention the rows keep (the
    release's default), so it moves them away from the published values."""
    megascale = [r for r in SCALING if r.scenario["name"].startswith("megascale-megatron-")]
    assert len(megascale) == 12
    for run in SCALING:
        if run not in megascale:
            assert all(RUNS.megascale_what_if(run, v) is run for v in RUNS.MEGASCALE_VARIANTS)
    with pytest.raises(ValueError, match="flash, flash_fa1, distributed_optimizer"):
        RUNS.megascale_what_if(megascale[0], "flash2")
    for run in (megascale[0], megascale[-1]):
        flash = RUNS.megascale_what_if(run, "flash").scenario
        assert flash["model"] == {**run.scenario["model"], "attention": "flash"}
        assert {k: v for k, v in flash.items() if k != "model"} == {
            k: v for k, v in run.scenario.items() if k != "model"
        }
        fa1 = RUNS.megascale_what_if(run, "flash_fa1").scenario
        assert fa1["model"] == flash["model"]
        assert fa1["cluster"]["device"] == {
            "preset": "a100-80gb",
            "attention_efficiency": pytest.approx((0.6 * 69 / 155, 0.5 * 69 / 155)),
        }
        optimizer = RUNS.megascale_what_if(run, "distributed_optimizer").scenario["training"]
        expected = {**run.scenario["training"], "zero_stage": 1, "optimizer_sharding": "megatron"}
        del expected["gradient_as_bucket_view"]
        assert optimizer == expected
        scenario_from_dict(dict(RUNS.megascale_what_if(run, "distributed_optimizer").scenario))
        now = RUNS.predict_run(run)[0]
        assert RUNS.predict_run(RUNS.megascale_what_if(run, "flash"))[0] > now
        assert RUNS.predict_run(RUNS.megascale_what_if(run, "flash_fa1"))[0] > now


def test_straggler_what_if_by_hand() -> None:
    """``--straggler-what-if`` (not the default): dpsim's per-GPU speed spread (``variability.rank_speed_sigma``) at
    Sinha et al.'s 8 % read as their artifact's whisker span, 4 IQR over the median (sigma 1.48 %), each device's
    sustained fraction re-derived with the spread on. MT-NLG on 3,360 A100s at the A100 fraction times
    1 + sigma E[max of 8] (Korthikanti's TP-8 layer): its compute grows by about (1 + sigma E[max of 3360]) /
    (1 + sigma E[max of 8]) on the analytic engine, the simulator's one draw lands within a point of it (the slowest of
    3,360 has a standard deviation of about 0.32 sigma: seed 0 is 0.58 points off), a
    sigma of 0 at unchanged fractions is the model as it is, and the model is left as it was."""
    e = expected_max_standard_normal
    sigma = RUNS.straggler_sigma()
    assert sigma == pytest.approx(0.08 / (4 * 2 * 0.6744897501960817))
    assert 0.0148 < sigma < 0.0149
    by_name = {r.name: r for tables in RUNS._summary_tables().values() for r in tables}
    run = by_name["MT-NLG 530B on 3360 A100"]
    before, result = RUNS.predict_run(run)
    unchanged = {"a100": 1.0, "h100": 1.0, "b200": 1.0}
    assert RUNS.predict_run(RUNS.rank_speed_run(run, 0.0, unchanged))[0] == pytest.approx(before, rel=1e-12)
    calibration = {**unchanged, "a100": 1 + sigma * e(8)}
    spread = RUNS.rank_speed_run(run, sigma, calibration)
    assert spread.scenario["variability"]["rank_speed_sigma"] == sigma
    then, then_result = RUNS.predict_run(spread)
    factor = (1 + sigma * e(3360)) / (1 + sigma * e(8))
    assert then_result.compute_s / result.compute_s == pytest.approx(factor, rel=2e-3)
    assert 0.01 < RUNS.relative_error(run, before) - RUNS.relative_error(run, then) < 0.03
    simulated = RUNS.predict_run(spread, "sim")[0]
    assert abs(RUNS.relative_error(run, simulated) - RUNS.relative_error(run, then)) < 0.01
    assert RUNS.predict_run(run)[0] == before
