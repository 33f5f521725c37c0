"""Compute from operations (dpsim.compute): GEMM curve, kernels by hand, flat override, FP8, flash, fit."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _bench import load_benchmark

from dpsim.compute import attention_rate, compute_times, fit_gemm_curve, gemm_time, layer_kernels
from dpsim.scenario import Scenario, load_scenario, scenario_from_dict


def _scenario(**training: object) -> Scenario:
    data = {
        "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000},
        "cluster": {"device": "h100-sxm"},
        "training": {"global_batch": 4, "micro_batch": 1, **training},
    }
    return scenario_from_dict(data)


def test_gemm_time_by_hand() -> None:
    # H100 curve: 0.801 of 989 TFLOP/s + 4 us. 8192^3: 2·8192^3 = 1.0995e12 FLOPs -> 1.388 ms + 4 us;
    # bytes 2·3·8192² = 402.7 MB at 0.83·3.35 TB/s = 0.145 ms: compute bound. Every kernel then takes
    # 1/0.71 as long (the H100's sustained fraction).
    device = load_scenario(None, overrides=["cluster.device=h100-sxm"]).cluster.device
    flops = 2.0 * 8192**3
    expected = (flops / (989e12 * 792.1 / 989) + 4e-6) / 0.71
    assert gemm_time(8192, 8192, 8192, 1, 989e12, device, 2.0) == pytest.approx(expected, rel=1e-12)
    # a thin GEMM is memory bound: 8192 x 8192 x 16 moves 2·(8192·16·2 + 8192²) bytes
    moved = 2.0 * (8192 * 16 + 16 * 8192 + 8192 * 8192)
    thin = (moved / (3.35e12 * 0.83) + 4e-6) / 0.71
    assert gemm_time(8192, 8192, 16, 1, 989e12, device, 2.0) == pytest.approx(thin, rel=1e-12)


def test_layer_gemm_flops_are_the_dense_training_flops() -> None:
    # The linear-layer GEMMs of one layer do 3 x 2 x T x (params of the layer's matrices): 6·N per token.
    s = _scenario(micro_batch=2)
    m = s.model
    kernels = layer_kernels(m, s.cluster.device, "bf16", 2)
    linear = ("qkv", "attention_out", "mlp_up", "mlp_down")
    flops = sum(k.flops for k in kernels if k.name.split(".")[0] in linear)
    tokens = 2 * 2048
    assert flops == pytest.approx(6.0 * tokens * 12 * 1024**2)
    # standard attention: QK^T and AV forward 4·s²·h per sample, backward twice that
    attention = sum(k.flops for k in kernels if k.name.split(".")[0] in ("scores", "context"))
    assert attention == pytest.approx(3 * 4.0 * 2 * 2048**2 * 1024)


def test_tensor_parallel_divides_the_layer() -> None:
    s1, s8 = _scenario(micro_batch=1), _scenario(micro_batch=1)
    k1 = layer_kernels(s1.model, s1.cluster.device, "bf16", 1, 1)
    k8 = layer_kernels(s8.model, s8.cluster.device, "bf16", 1, 8)
    gemm = lambda ks: sum(k.flops for k in ks)  # noqa: E731
    assert gemm(k8) == pytest.approx(gemm(k1) / 8)


def test_flat_override_is_peak_times_efficiency() -> None:
    s = load_scenario(None, overrides=["cluster.device.efficiency=0.5"])
    t = compute_times(s)
    total = s.model.training_flops_per_sample * s.training.micro_batch / (s.cluster.device.peak_flops * 0.5)
    assert t.model == "flat"
    assert t.forward_s + t.backward_s == pytest.approx(total)
    assert t.forward_s == pytest.approx(total / 3)


def test_fp8_runs_the_linear_layers_faster() -> None:
    bf16, fp8 = compute_times(_scenario(micro_batch=4)), compute_times(_scenario(micro_batch=4, precision="fp8"))
    assert fp8.model == bf16.model == "operations"
    assert fp8.forward_s < bf16.forward_s
    # at most the linear GEMMs halve: never faster than half
    assert fp8.forward_s + fp8.backward_s > 0.5 * (bf16.forward_s + bf16.backward_s)


def test_flash_attention_is_faster_at_long_sequences() -> None:
    standard = _scenario(micro_batch=1)
    data = {
        "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000, "attention": "flash"},
        "cluster": {"device": "h100-sxm"},
        "training": {"global_batch": 4},
    }
    flash = scenario_from_dict(data)
    assert compute_times(flash).forward_s < compute_times(standard).forward_s


def test_fa2_generation_attention_on_hopper_runs_at_the_measured_fa2_curve() -> None:
    """model.attention_kernel: fa2 (FlashAttention-2, SDPA's flash backend, pre-Hopper Triton kernels) on an H100 prices
    the flash kernels on the FA2 curve measured on the 2026-12-04 H200 (torch 2.11 SDPA flash: 0.426 and 0.328 of the
    989 TFLOP/s peak at long sequences, half of it at s 1839 and 490), times the H100's sustained fraction, instead of
    its own FlashAttention-3 figures (0.65, 0.5, flat); on the A100, whose best kernel is FlashAttention-2, nothing
    changes. By hand: causal, s 4096, d 128, 2 x 8 heads."""

    def attention(device: str, kernel: str) -> tuple[float, float]:
        model = {"layers": 2, "hidden": 1024, "heads": 8, "seq_len": 4096, "vocab": 32000, "attention": "flash"}
        data = {
            "model": {**model, "attention_kernel": kernel},
            "cluster": {"device": device},
            "training": {"global_batch": 2, "micro_batch": 2},
        }
        s = scenario_from_dict(data)
        kernels = {k.name: k.seconds for k in layer_kernels(s.model, s.cluster.device, "bf16", 2)}
        return kernels["flash_attention"], kernels["flash_attention.backward"]

    from dpsim.catalog import DEVICES

    sustained = DEVICES["h100-sxm"].sustained_fraction
    flops = 4.0 * 4096**2 * 128 * (2 * 8) * 0.5
    forward, backward = attention("h100-sxm", "fa2")
    assert forward == pytest.approx(flops / (989e12 * 0.426 * 4096 / (4096 + 1839) * sustained))
    assert backward == pytest.approx(2.5 * flops / (989e12 * 0.328 * 4096 / (4096 + 490) * sustained))
    assert attention("h100-sxm", "device") == pytest.approx(
        (flops / (989e12 * 0.65 * sustained), 2.5 * flops / (989e12 * 0.5 * sustained))
    )
    assert attention("a100-80gb", "fa2") == attention("a100-80gb", "device")
    with pytest.raises(ValueError, match=r"model\.attention_kernel"):
        scenario_from_dict(
            {
                "model": {
                    "layers": 2,
                    "hidden": 1024,
                    "heads": 8,
                    "seq_len": 4096,
                    "vocab": 32000,
                    "attention_kernel": "fa2",
                },
                "cluster": {"device": "h100-sxm"},
                "training": {"global_batch": 2},
            }
        )


def test_full_recomputation_adds_one_forward() -> None:
    plain = compute_times(_scenario(micro_batch=1))
    full = compute_times(_scenario(micro_batch=1, activation_recomputation="full"))
    assert full.forward_s == pytest.approx(plain.forward_s)
    # every layer's forward is rerun (not the embedding and the head)
    s = _scenario(micro_batch=1)
    layer = math.fsum(k.seconds for k in layer_kernels(s.model, s.cluster.device, "bf16", 1) if k.phase == "forward")
    assert full.recompute_s == pytest.approx(4 * layer, rel=1e-12)
    assert plain.forward_s > full.recompute_s
    assert full.backward_s == pytest.approx(plain.backward_s + full.recompute_s)


def test_fit_recovers_the_curve() -> None:
    peak, eff, overhead = 100e12, 0.8, 5e-6
    points = [(f, f / (peak * eff) + overhead) for f in (1e9, 4e9, 1.6e10, 6.4e10)]
    got_eff, got_overhead = fit_gemm_curve(points, peak)
    assert got_eff == pytest.approx(eff, rel=1e-9)
    assert got_overhead == pytest.approx(overhead, rel=1e-6)
    with pytest.raises(ValueError):
        fit_gemm_curve(points[:1], peak)
    # times that shrink as the work grows (a busy CPU's thread pool: 64^3 16 ms, 4x256^3 0.34 ms) are refused; the
    # old code refitted them through the origin and wrote whatever efficiency came out
    noisy = [(5.2e5, 16.0e-3), (2.1e6, 9.3e-3), (4.2e6, 8.0e-3), (1.3e8, 0.34e-3)]
    with pytest.raises(ValueError, match="do not grow with their work"):
        fit_gemm_curve(noisy, peak)


def test_gemm_sweep_on_cpu() -> None:
    pytest.importorskip("torch")
    from runtime.gemm import default_shapes, fit, sweep

    points = sweep(default_shapes([32, 64]), dtype="fp32", device="cpu", reps=3)
    assert [(p.m, p.n, p.k) for p in points] == [(32, 32, 32), (128, 32, 32), (64, 64, 64), (256, 64, 64)]
    assert all(p.seconds > 0 for p in points)
    efficiency, overhead = fit(points, 1e12)
    assert efficiency > 0 and overhead >= 0


def test_a_cpu_gemm_sweep_runs_on_one_thread_as_a_cpu_rank_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # runtime.launch runs each CPU rank with OMP_NUM_THREADS=1; torch's default pool on 2 loaded cores timed a 64^3
    # GEMM at 16 ms (8 us alone), and the fit came out 9e-5 of the peak: the old sweep timed on every thread
    torch = pytest.importorskip("torch")
    import runtime.gemm

    seen: list[int] = []

    def matmul(a: Any, b: Any) -> Any:
        seen.append(torch.get_num_threads())
        return a @ b

    before = torch.get_num_threads()
    monkeypatch.setattr(runtime.gemm.torch, "matmul", matmul)
    runtime.gemm.sweep([(8, 8, 8), (16, 8, 8)], dtype="fp32", device="cpu", reps=2)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before  # restored


_CUSTOM = {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}


def test_a_cpu_gemm_takes_its_fastest_repetition(monkeypatch: pytest.MonkeyPatch) -> None:
    # a core shared with other work only ever adds time: the median of 5 repetitions of which 3 were preempted was
    # the preempted time (the old code's 5 ms here), the fastest is the GEMM's own
    pytest.importorskip("torch")
    import runtime.gemm

    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0])  # (start, end) of each of 5 repetitions
    monkeypatch.setattr(runtime.gemm.time, "perf_counter", lambda: next(clock))
    assert runtime.gemm._time(lambda: None, runtime.gemm.torch.device("cpu"), 5) == 1.0


@pytest.mark.parametrize(
    ("device", "cuda", "refused"),
    [("a100-80gb", False, True), ("cpu", False, False), ("cpu", True, True), ("a100-80gb", True, False),
     (_CUSTOM, False, False), (_CUSTOM, True, False)],
)  # fmt: skip
def test_a_gemm_sweep_on_another_kind_of_device_than_the_scenarios_is_refused(
    device: object, cuda: bool, refused: bool
) -> None:
    pytest.importorskip("torch")
    from runtime.gemm import device_mismatch

    data = {"model": "mlp-tiny", "cluster": {"device": device}, "training": {"global_batch": 1, "micro_batch": 1}}
    message = device_mismatch(scenario_from_dict(data), cuda)
    assert bool(message) == refused, message
    if refused:
        assert ("on a CUDA GPU" if cuda else "on this machine's CPU") in message


def test_calibrate_compute_of_a_gpu_scenario_on_a_cpu_is_one_line_before_any_timing(tmp_path: Path) -> None:
    # the default scenario's A100 timed on this CPU wrote matmul_efficiency 8.8e-05 (the CPU's rate over the A100's
    # peak) with exit 0; now refused up front, nothing written
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from typer.testing import CliRunner

    import dpsim
    from dpsim.cli import app

    out, default = tmp_path / "g.yaml", Path(dpsim.__file__).parent / "scenarios" / "default.yaml"
    result = CliRunner().invoke(app, ["calibrate", str(default), "--compute", "--gemm-sizes", "8,16", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "cluster.device: calibrate --compute times GEMMs on this" in result.stderr
    assert not out.exists() and "gemm" not in result.stdout


def test_calibrate_compute_times_the_scenarios_own_gemm_dtype_by_default(tmp_path: Path) -> None:
    # the CPU scenario trains in fp32: its GEMMs are priced at the fp32 peak times matmul_efficiency, so the sweep
    # times fp32 GEMMs against that peak. The old default timed bf16 whatever the scenario (on this CPU one thread
    # ran bf16 at 0.22 of a 1 TFLOP/s peak and fp32 at 0.088: the fp32 GEMMs priced 2.5x too fast)
    pytest.importorskip("torch")
    import yaml
    from typer.testing import CliRunner

    import dpsim
    from dpsim.cli import app

    cpu = Path(dpsim.__file__).parent / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    out = tmp_path / "g.yaml"
    result = CliRunner().invoke(app, ["calibrate", str(cpu), "--compute", "--gemm-sizes", "64,256", "-o", str(out)])
    if "cluster.device: calibrate --compute times GEMMs on a CUDA GPU" in result.stderr:
        pytest.skip("a CUDA machine: the CPU scenario is refused there")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["dtype"] == "fp32" and "fit (fp32 GEMMs)" in result.stdout


def test_calibrate_compute_runs_where_device_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --device picks the sweep's device: the old code timed CUDA wherever there was one (--device cpu ignored; the
    # CPU scenario on a GPU box could not be calibrated) and refused --device cuda as 'the local testbeds use CPUs'
    torch = pytest.importorskip("torch")
    from typer.testing import CliRunner

    import dpsim
    from dpsim.cli import app

    cpu = Path(dpsim.__file__).parent / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    argv = ["calibrate", str(cpu), "--compute", "--gemm-sizes", "64,256", "-o", str(tmp_path / "g.yaml")]
    if not torch.cuda.is_available():
        refused = CliRunner().invoke(app, [*argv, "--device", "cuda"])
        assert refused.exit_code == 2 and "--device: cuda: this machine has no CUDA device" in refused.stderr
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU box: the CPU asked for is timed
    result = CliRunner().invoke(app, [*argv, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.yaml").exists()


def test_calibrate_compute_faster_than_the_devices_peak_is_refused(tmp_path: Path) -> None:
    # a fit above 1 of the peak is a GEMM faster than its device can run: the old code noted it and wrote
    # matmul_efficiency 1.0 (exit 0); a CPU thread runs fp32 GEMMs far above this custom device's 0.1 GFLOP/s
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from typer.testing import CliRunner

    from dpsim.cli import app

    (tmp_path / "s.yaml").write_text(
        "name: slow\nmodel: {kind: mlp, layers: 2, hidden: 32, parameters: 2112, flops_per_sample: 12672}\n"
        "cluster: {nodes: 1, device: {peak_flops: 0.1 GFLOP/s, memory: 1 GB}}\n"
        "training: {global_batch: 1, micro_batch: 1, optimizer: sgd, precision: fp32}\n"
    )
    out = tmp_path / "g.yaml"
    argv = ["calibrate", str(tmp_path / "s.yaml"), "--compute", "--gemm-sizes", "64,256", "--dtype", "fp32"]
    argv += ["-o", str(out)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "cluster.device: the fitted GEMM rate" in result.stderr
    assert "set cluster.device.peak_flops" in result.stderr and not out.exists()


def test_calibrate_compute_faster_than_the_peak_names_the_field_that_holds_it(tmp_path: Path) -> None:
    # the catalog cpu prices fp32 GEMMs at peak_flops_fp32: the refusal told it to set peak_flops, which its fp32
    # GEMMs never read (set as told, the same refusal came back); it names the field the sweep was fitted against
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from typer.testing import CliRunner

    import dpsim
    from dpsim.cli import app

    cpu = Path(dpsim.__file__).parent / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    out = tmp_path / "g.yaml"
    argv = ["calibrate", str(cpu), "--compute", "--gemm-sizes", "64,256", "-o", str(out)]
    for sets, field in (
        (["cluster.device.peak_flops_fp32=1 GFLOP/s"], "peak_flops_fp32"),
        (["cluster.device.peak_flops_fp32_ieee=1 GFLOP/s", "training.fp32_matmul=ieee"], "peak_flops_fp32_ieee"),
        (["cluster.device.peak_flops=1 GFLOP/s", "training.precision=bf16"], "peak_flops"),
    ):
        result = CliRunner().invoke(app, [*argv, *(part for s in sets for part in ("--set", s))])
        assert result.exit_code == 2, result.output
        assert f"or set cluster.device.{field} to its peak" in result.stderr and not out.exists()


def _korthikanti_22b(sequence_parallel: bool = False) -> Scenario:
    """Korthikanti et al. 2022, Table 3: the 22B GPT (h 6144, 64 heads, 48 layers, s 2048, V 51,200), TP 8, mb 4."""
    data = {
        "model": {"layers": 48, "hidden": 6144, "heads": 64, "seq_len": 2048, "vocab": 51200},
        "cluster": {"nodes": 1, "workers_per_node": 8, "device": "a100-80gb", "intra_node": "nvlink3"},
        "training": {"global_batch": 4, "micro_batch": 4, "tensor_parallel": 8, "sequence_parallel": sequence_parallel},
    }
    return scenario_from_dict(data)


def _layer_ms(s: Scenario) -> tuple[float, float, float, float]:
    """(forward, backward, attention core, one TP collective pair) of one 22B layer, ms, as the engines price them."""
    from dpsim.analytic import parallel
    from dpsim.analytic.step import fabric_of

    t = s.training
    kernels = layer_kernels(s.model, s.cluster.device, "bf16", 4, 8, t.sequence_parallel)
    fwd = sum(k.seconds for k in kernels if k.phase == "forward")
    bwd = sum(k.seconds for k in kernels if k.phase == "backward")
    core = sum(k.seconds for k in kernels if k.phase == "forward" and k.name in ("scores", "context", "softmax"))
    core += sum(k.seconds for k in kernels if k.name == "attention_dropout")
    # 4 TP all-reduces (or reduce-scatter + all-gather pairs) per layer and micro-batch
    tp_one = parallel.tensor_parallel_comm_time(s, fabric_of(s)) / s.model.layers / 4
    return 1e3 * fwd, 1e3 * bwd, 1e3 * core, 1e3 * tp_one


def test_a100_sustained_fraction_reproduces_korthikanti_table4() -> None:
    """The A100's sustained_fraction (0.81) is derived from, and reproduces, the per-layer times of
    Korthikanti et al. 2022 Table 4 (22B layer on Selene A100s): forward 7.7 ms (with its two TP
    all-reduces), backward 11.9 ms (all-reduces overlapped with the weight gradients, their §6.2),
    full recompute 19.5 ms, selective 13.2 ms; sequence parallel forward 7.2 ms."""
    s = _korthikanti_22b()
    fwd, bwd, core, ar = _layer_ms(s)
    sustained = s.cluster.device.sustained_fraction
    derived = (fwd + bwd) * sustained / (19.6 - 2 * ar)
    assert derived == pytest.approx(sustained, rel=0.02)
    assert fwd + 2 * ar == pytest.approx(7.7, rel=0.05)
    assert bwd == pytest.approx(11.9, rel=0.05)
    assert bwd + fwd + 2 * ar == pytest.approx(19.5, rel=0.05)  # full recomputation reruns the forward
    assert bwd + core == pytest.approx(13.2, rel=0.05)  # selective: the attention core only
    sp_fwd, sp_bwd, _, sp_pair = _layer_ms(_korthikanti_22b(sequence_parallel=True))
    assert sp_fwd + 2 * sp_pair == pytest.approx(7.2, rel=0.05)
    # backward: the re-gather of the sequence-sharded input and the gradient reduce-scatters are partly
    # hidden behind the GEMMs; the measured 11.8 ms lies between fully hidden and fully exposed
    assert sp_bwd < 11.8 < sp_bwd + 2 * sp_pair


_TE_IDLE_SUSTAINED = 0.83
"""The H100's fraction on one idle GPU, from Transformer Engine's Getting Started bf16 row (below)."""


def _te_getting_started_ms(precision: str, sustained: float | None = None, fp8_plateau: float | None = None) -> float:
    """Forward + backward of the GPT layer timed in NVIDIA Transformer Engine's "Getting Started"
    (h 4096, ffn 16384, 32 heads, s 2048, micro-batch 8, causal fused attention, dropout 0.1, one H100),
    in ms, as the engines price it (catalog H100 unless ``sustained`` / ``fp8_plateau`` are given)."""
    device: dict[str, object] = {"preset": "h100-sxm"}
    if sustained is not None:
        device["sustained_fraction"] = sustained
    if fp8_plateau is not None:
        device["matmul_efficiency_fp8"] = fp8_plateau
    data = {
        "model": {
            "layers": 1,
            "hidden": 4096,
            "heads": 32,
            "seq_len": 2048,
            "vocab": 32000,
            "ffn_hidden": 16384,
            "attention": "flash",
            "causal": True,
            "dropout": True,
        },
        "cluster": {"nodes": 1, "workers_per_node": 1, "device": device},
        "training": {"global_batch": 8, "micro_batch": 8, "precision": precision},
    }
    s = scenario_from_dict(data)
    return 1e3 * sum(k.seconds for k in layer_kernels(s.model, s.cluster.device, precision, 8))


def test_transformer_engine_getting_started_is_an_idle_upper_bound_for_h100() -> None:
    """NVIDIA Transformer Engine's Getting Started page ("on an NVIDIA H100 GPU") times one GPT layer in
    bf16 ("TE Unfused + TE Attention") at 35.71 ms (35.78 in the CSV of another run): 0.83 of the
    curve's rates on one idle GPU. The catalog's in-training fraction (0.71, NeMo's runs on full DGX
    H100 nodes; tests/test_published_runs.py) is lower: a node under load is slower than one idle GPU."""
    from dpsim.catalog import DEVICES

    one = _te_getting_started_ms("bf16", sustained=1.0)
    idle = one / ((35.71 + 35.78) / 2)
    assert idle == pytest.approx(_TE_IDLE_SUSTAINED, rel=0.02)
    assert DEVICES["h100-sxm"].sustained_fraction < idle
    assert DEVICES["h200"].sustained_fraction == DEVICES["h100-sxm"].sustained_fraction  # same GH100 chip


def test_h100_fp8_gemm_plateau_reproduces_transformer_engine_fp8_rows() -> None:
    """The H100's FP8 GEMM plateau (0.76 of the FP8 peak) is derived from the FP8 rows of the same page,
    at the page's own (idle) fraction: the same layer with FP8 linear layers takes 22.96 ms with
    te.LayerNormLinear/te.LayerNormMLP (the LayerNorm's output cast for free, as the compute model prices
    it) and 23.41 ms unfused. At the BF16 fraction (0.801) the layer would take 22.18 ms: the FP8 GEMMs
    reach a lower share of their peak."""
    from dpsim.catalog import DEVICES

    spec = DEVICES["h100-sxm"]
    fp8 = _te_getting_started_ms("fp8", sustained=_TE_IDLE_SUSTAINED)
    assert fp8 == pytest.approx(22.96, rel=0.01)
    # unfused, te.LayerNorm writes its output in bf16 and te.Linear casts it: slower, by less than 3 %
    assert fp8 < 23.41 < 1.03 * fp8
    assert DEVICES["h200"].matmul_efficiency_fp8 == spec.matmul_efficiency_fp8
    # the BF16 fraction for the FP8 GEMMs would be 3.4 % faster than the measured fused row
    assert _te_getting_started_ms("fp8", _TE_IDLE_SUSTAINED, spec.matmul_efficiency) < 0.97 * 22.96


def test_wave_efficiency_by_hand() -> None:
    """NVIDIA's Matrix Multiplication Background guide §3.1-3.2: tiles of 256 x 128 (either way round),
    one per SM per wave."""
    from dpsim.compute import wave_efficiency

    # whole waves of whole tiles: the A100's best MAMF shape, 6912 x 16384 = 27 x 128 tiles = 32 waves of 108
    assert wave_efficiency(6912, 16384, 1, 108, (256, 128)) == 1.0
    # the 22B layer's QKV GEMM (Korthikanti et al. 2022: T = 8192, 3h/t = 2304): 32 x 18 = 576 tiles,
    # 5.33 waves -> 6: 576 / 648
    assert wave_efficiency(8192, 2304, 1, 108, (256, 128)) == pytest.approx(576 / 648)
    # tile quantisation: n = 2368 pads to 19 columns of 128 (304 tiles, 3 waves) or 10 of 256 (320, 3 waves)
    assert wave_efficiency(4096, 2368, 1, 108, (256, 128)) == pytest.approx(4096 * 2368 / (3 * 108 * 256 * 128))
    # a batch of small GEMMs fills waves together: 108 heads of one 256 x 128 tile each = one wave
    assert wave_efficiency(256, 128, 108, 108, (256, 128)) == 1.0


def test_gemm_waves_is_opt_in() -> None:
    off = load_scenario(None, overrides=["cluster.device=a100-80gb"]).cluster.device
    on = load_scenario(None, overrides=["cluster.device=a100-80gb", "cluster.device.gemm_waves=true"]).cluster.device
    assert off.sm_count == on.sm_count == 108 and not off.gemm_waves
    # compute bound: the FLOP term divided by the wave efficiency (576 / 648); the exposed output store and
    # the overhead unchanged
    flops = 2.0 * 8192 * 2304 * 6144
    plain = flops / (312e12 * off.matmul_efficiency)
    store = 2.0 * 8192 * 2304 / (2.039e12 * 0.83)
    assert gemm_time(8192, 2304, 6144, 1, 312e12, off, 2.0) == pytest.approx((plain + store + 4e-6) / 0.81, rel=1e-12)
    waved = (plain * 648 / 576 + store + 4e-6) / 0.81
    assert gemm_time(8192, 2304, 6144, 1, 312e12, on, 2.0) == pytest.approx(waved, rel=1e-12)


def test_b200_states_its_sms_for_the_waves() -> None:
    """The B200's 148 SMs (two dies, 74 enabled on each: the catalog's source) fill its waves: without them
    ``gemm_waves`` on a B200 was listed as unread and priced nothing. Nemotron-340B's TP 8 QKV GEMM on B200
    (NeMo 25.02: s 4,096 tokens, (h + 2·k·d)/t = (18,432 + 2·8·192)/8 = 2,688 columns): 16 x 21 = 336 tiles of
    256 x 128, 2.27 waves of 148 -> 3: 336 / 444; the other orientation, 32 x 11 = 352 tiles padded, the same 3."""
    from dpsim.compute import wave_efficiency

    spec = load_scenario(None, overrides=["cluster.device=b200"]).cluster.device
    assert spec.sm_count == 148 and not spec.gemm_waves
    assert wave_efficiency(4096, 2688, 1, spec.sm_count, (256, 128)) == pytest.approx(336 / 444)
    on = load_scenario(None, overrides=["cluster.device=b200", "cluster.device.gemm_waves=true"])
    assert "cluster.device.gemm_waves" not in dict(on.ignored_fields())


def test_a100_epilogue_follows_the_k_loop_by_hand() -> None:
    """A100 (Ampere: one output tile per CTA, stored after its k-loop) adds the output store to the k-loop;
    the catalog's k-loop rate is the MAMF measurement (267.9 TFLOP/s at M 6912, N 16384, K 2048) with that
    store taken out: 1/e = 312/267.9 - 312e12/(2048 · 2.039e12 · 0.83) = 1.164614 - 0.090022 -> e = 0.930583.
    Korthikanti's 22B attention projection (m 8192 tokens, n 6144, k 6144/8 = 768) then runs at
    2·768/(312e12·0.930583) per output element plus 2 bytes/(0.83·2.039e12): 5.290 + 1.182 ps, 0.817 of its
    k-loop rate, while the 1T one (k 25600/8 = 3200) keeps 22.04 / (22.04 + 1.18) = 0.949. H100 (persistent
    kernels overlap the store with the next tile) keeps the roofline."""
    from dpsim.compute import epilogue_free_efficiency

    a100 = load_scenario(None, overrides=["cluster.device=a100-80gb"]).cluster.device
    h100 = load_scenario(None, overrides=["cluster.device=h100-sxm"]).cluster.device
    assert a100.gemm_epilogue_exposed and not h100.gemm_epilogue_exposed
    assert a100.matmul_efficiency == pytest.approx(0.930583, abs=1e-6)
    assert epilogue_free_efficiency(267.9 / 312, 2048, 312e12, 2.039e12 * 0.83) == pytest.approx(0.930583, abs=1e-6)
    # the measured shape is reproduced: 2·6912·16384·2048 FLOPs at 267.9 TFLOP/s (no overhead, no sustained)
    bare = a100.model_copy(update={"kernel_overhead": 0.0, "sustained_fraction": 1.0})
    mamf = 2.0 * 6912 * 16384 * 2048 / 267.9e12
    assert gemm_time(6912, 16384, 2048, 1, 312e12, bare, 2.0) == pytest.approx(mamf, rel=1e-9)
    # per output element, by hand
    short = gemm_time(8192, 6144, 768, 1, 312e12, bare, 2.0) / (8192 * 6144)
    assert short == pytest.approx(5.2904e-12 + 1.1818e-12, rel=1e-4)
    long = gemm_time(8192, 9600, 3200, 1, 312e12, bare, 2.0) / (8192 * 9600)
    assert long == pytest.approx(22.0435e-12 + 1.1818e-12, rel=1e-4)
    # H100: max(FLOPs, all bytes), the store under the k-loop
    flat = h100.model_copy(update={"kernel_overhead": 0.0, "sustained_fraction": 1.0})
    assert gemm_time(8192, 6144, 768, 1, 989e12, flat, 2.0) == pytest.approx(
        2.0 * 8192 * 6144 * 768 / (989e12 * h100.matmul_efficiency), rel=1e-12
    )


def test_causal_softmax_touches_the_lower_triangle_by_hand() -> None:
    """Megatron's scaled_upper_triang_masked_softmax (causal) reads the lower triangle of the s×s scores and
    writes the whole row: forward 1.5 · 2 bytes a score, backward reads two triangles and writes: 2 · 2 bytes.
    H100, one layer, micro-batch 1, 16 heads, s 2048: 67,108,864 scores -> 201.3 MB and 268.4 MB at
    0.83 · 3.35 TB/s over the 0.71 sustained fraction: 102.0 us and 136.0 us."""
    s = _scenario()
    kernels = {k.name: k for k in layer_kernels(s.model, s.cluster.device, "bf16", 1, 1)}
    scores = 16 * 2048**2
    rate = 3.35e12 * 0.83 * 0.71
    assert kernels["softmax"].seconds == pytest.approx(3.0 * scores / rate, rel=1e-9)
    assert kernels["softmax.backward"].seconds == pytest.approx(4.0 * scores / rate, rel=1e-9)
    # without the causal mask (BERT: scaled_masked_softmax) the whole s×s is read: 4 and 6 bytes a score
    data = s.model_dump(mode="json")
    data["model"] = {**data["model"], "causal": False}
    full = scenario_from_dict(data)
    kernels = {k.name: k for k in layer_kernels(full.model, full.cluster.device, "bf16", 1, 1)}
    assert kernels["softmax"].seconds == pytest.approx(4.0 * scores / rate, rel=1e-9)
    assert kernels["softmax.backward"].seconds == pytest.approx(6.0 * scores / rate, rel=1e-9)


def test_metaseq_nan_to_num_over_the_scores_by_hand() -> None:
    """metaseq's training attention runs torch.nan_to_num over the s×s scores before its fused softmax. One layer,
    micro-batch 1, 16 heads, s = 2048, bf16: 16·2048² = 67,108,864 scores. Forward: read and write them, 4 bytes
    each; backward grad·isfinite(scores): read the scores (2), write and read the 1-byte mask (2), read the
    gradient (2), write (2): 8 bytes each. Both at the H100's achievable 0.83·3.35 TB/s, then over its 0.71
    sustained fraction. Full recomputation reruns the forward one; so does selective (part of the core)."""
    from dpsim.compute import compute_times

    plain = _scenario()
    data = {**plain.model_dump(mode="json")}
    data["model"] = {**data["model"], "attention_nan_to_num": True}
    cleaned = scenario_from_dict(data)
    kernels = {(k.name, k.phase): k for k in layer_kernels(cleaned.model, cleaned.cluster.device, "bf16", 1)}
    scores = 16 * 2048**2
    rate = 3.35e12 * 0.83 * 0.71
    assert kernels[("scores_nan_to_num", "forward")].bytes == 4 * scores
    assert kernels[("scores_nan_to_num", "forward")].seconds == pytest.approx(4 * scores / rate, rel=1e-12)
    assert kernels[("scores_nan_to_num.backward", "backward")].bytes == 8 * scores
    base = compute_times(plain)
    more = compute_times(cleaned)
    per_layer = 12 * scores / rate
    assert more.forward_s - base.forward_s == pytest.approx(4 * (4 * scores / rate), rel=1e-9)
    assert (more.forward_s + more.backward_s) - (base.forward_s + base.backward_s) == pytest.approx(4 * per_layer)
    # selective recomputation reruns the attention core, the cleaning included
    for mode in ("selective", "full"):
        redo = compute_times(
            scenario_from_dict({**data, "training": {**data["training"], "activation_recomputation": mode}})
        )
        redo_plain = compute_times(
            scenario_from_dict(
                {**plain.model_dump(mode="json"), "training": {**data["training"], "activation_recomputation": mode}}
            )
        )
        assert redo.backward_s - redo_plain.backward_s == pytest.approx(4 * (8 + 4) * scores / rate, rel=1e-9)


def test_metaseq_qkv_copies_by_hand() -> None:
    """metaseq's training attention copies k, v and q out of the fused projection (contiguous_split_chunks=True) and
    multiplies q and k by √scaling as kernels of their own; its backward reshapes the q, k and v gradients out of the
    batched GEMMs' transposed layout, a copy each. One layer, micro-batch 1, s = 2048, h = 1024 (16 heads of 64), bf16,
    TP 2: q, k and v are 2048 · 512 = 1,048,576 elements each on a rank. Forward: 3 copies + 2 products, each a read
    and a write of 2 bytes: 5 · 4 · 1,048,576 = 20,971,520 bytes; backward: 3 copies, 12,582,912 bytes; at the H100's
    achievable 0.83·3.35 TB/s over its 0.71 sustained fraction. Megatron's views and baddbmm's alpha cost none of it;
    full recomputation reruns the forward one."""
    from dpsim.compute import compute_times

    data = _scenario().model_dump(mode="json")
    data["cluster"] = {**data["cluster"], "workers_per_node": 2}
    data["training"] = {**data["training"], "tensor_parallel": 2}
    plain = scenario_from_dict(data)
    data["model"] = {**data["model"], "attention_qkv_copies": True}
    copied = scenario_from_dict(data)
    kernels = {(k.name, k.phase): k for k in layer_kernels(copied.model, copied.cluster.device, "bf16", 1, 2)}
    elements = 2048 * 512
    rate = 3.35e12 * 0.83 * 0.71
    assert kernels[("qkv_copies", "forward")].bytes == 20 * elements
    assert kernels[("qkv_copies", "forward")].seconds == pytest.approx(20 * elements / rate, rel=1e-12)
    assert kernels[("qkv_copies.backward", "backward")].bytes == 12 * elements
    assert ("qkv_copies", "forward") not in {
        (k.name, k.phase) for k in layer_kernels(plain.model, plain.cluster.device, "bf16", 1, 2)
    }
    base, more = compute_times(plain), compute_times(copied)
    assert more.forward_s - base.forward_s == pytest.approx(4 * 20 * elements / rate, rel=1e-9)
    assert more.backward_s - base.backward_s == pytest.approx(4 * 12 * elements / rate, rel=1e-9)
    full = {**data["training"], "activation_recomputation": "full"}
    redo = compute_times(scenario_from_dict({**data, "training": full}))
    redo_plain = compute_times(scenario_from_dict({**plain.model_dump(mode="json"), "training": full}))
    assert redo.backward_s - redo_plain.backward_s == pytest.approx(4 * (12 + 20) * elements / rate, rel=1e-9)


@pytest.mark.parametrize("field", ["attention_nan_to_num", "attention_qkv_copies"])
def test_metaseq_attention_fields_need_materialised_scores(field: str) -> None:
    """Both describe metaseq's standard attention path (baddbmm, the s×s scores): refused with flash attention."""
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=rf"model\.{field}"):
        scenario_from_dict(
            {
                "model": {
                    "layers": 4,
                    "hidden": 1024,
                    "heads": 16,
                    "seq_len": 2048,
                    "vocab": 32000,
                    "attention": "flash",
                    field: True,
                },
                "cluster": {"device": "h100-sxm"},
                "training": {"global_batch": 4, "micro_batch": 1},
            }
        )


def test_metaseq_unfused_mlp_biases_by_hand() -> None:
    """metaseq's model-parallel MLP with ReLU (``_ffn``: fc1's bias in its GEMM call, fc2's added after the all-reduce,
    then dropout, then ``residual + x``) where Megatron fuses fc1's bias into bias-GeLU and fc2's into one
    bias-dropout-add. One layer, micro-batch 1, s = 2048, h = 1024, f = 4096, bf16: 8,388,608 inner elements (fc1's
    bias copied in and read back by the GEMM: 4 bytes each) and 2,097,152 output elements (fused: read x and the
    residual, write, 1-byte mask, 7 bytes; unfused: bias add 4, dropout 5, residual add 6: 8 more). Forward only,
    at the H100's achievable 0.83·3.35 TB/s over its 0.71 sustained fraction; full recomputation reruns it.
    Without dropout: bias add 4 + residual add 6 against the fused 6, 4 more an output element."""
    from dpsim.compute import compute_times

    plain = _scenario()
    data = {**plain.model_dump(mode="json")}
    data["model"] = {**data["model"], "mlp_fused_bias": False}
    unfused = scenario_from_dict(data)
    inner, act = 2048 * 4096, 2048 * 1024
    moved = 4 * inner + 8 * act
    rate = 3.35e12 * 0.83 * 0.71
    kernels = {(k.name, k.phase): k for k in layer_kernels(unfused.model, unfused.cluster.device, "bf16", 1)}
    assert kernels[("mlp_unfused_bias", "forward")].bytes == moved
    assert kernels[("mlp_unfused_bias", "forward")].seconds == pytest.approx(moved / rate, rel=1e-12)
    base, more = compute_times(plain), compute_times(unfused)
    layers = plain.model.layers
    assert more.forward_s - base.forward_s == pytest.approx(layers * moved / rate, rel=1e-9)
    assert more.backward_s == pytest.approx(base.backward_s, rel=1e-12)
    full = {**data["training"], "activation_recomputation": "full"}
    redo = compute_times(scenario_from_dict({**data, "training": full}))
    redo_plain = compute_times(scenario_from_dict({**plain.model_dump(mode="json"), "training": full}))
    assert redo.backward_s - redo_plain.backward_s == pytest.approx(layers * moved / rate, rel=1e-9)
    dry = {**data["model"], "dropout": False}
    no_dropout = layer_kernels(scenario_from_dict({**data, "model": dry}).model, unfused.cluster.device, "bf16", 1)
    assert next(k.bytes for k in no_dropout if k.name == "mlp_unfused_bias") == 4 * inner + 4 * act


def _neox_layer(**model: object) -> Scenario:
    """One gpt-neox-style layer (h 1024, 8 heads of 128, s 2048, no dropout, standard attention) on one A100-40GB, fp16,
    micro-batch 1."""
    return scenario_from_dict(
        {
            "model": {"layers": 1, "hidden": 1024, "heads": 8, "seq_len": 2048, "vocab": 50432, "dropout": False}
            | model,
            "cluster": {"device": "a100-40gb"},
            "training": {"global_batch": 1, "micro_batch": 1, "precision": "fp16"},
        }
    )


def test_gpt_neox_elementwise_kernels_by_hand() -> None:
    """gpt-neox at the 20B release (torch 1.10, ``gpt_j_residual``, ``bias_dropout_fusion`` off, rotary on 25 %).
    act = T·h = 2048·1024 = 2,097,152 elements, q and k T·(8 + 8)·128 = 4,194,304, 2 bytes each.
    LayerNorm, torch's two-pass kernels: forward moments (read 2) + normalise (read 2, write 2) = 6 bytes, backward
    internal gradients 4 + input gradient 6 + gamma/beta 4 = 14; two a layer (12·act, 28·act), the final norm once.
    Parallel block, fused: attention bias add (read, write) 4 + MLP bias-residual add (read two, write) 6 +
    ``residual + reduce(out)`` 6 = 16 bytes an output element (the sequential block's two fused adds: 12);
    unfused: ``x + bias`` 4, MLP ``x + bias`` 4 and ``residual + out`` 6, the block's last add 6 = 20 (sequential
    unfused: 2·(4 + 6) = 20). Rotary: rotate_half's 20 / 28 bytes an element on a quarter of q and k (5 / 7), the
    cat of the two slices 4 forward and the slices' backward (zero fill 2 + 2, copies 4, their sum 6) 14.
    Each at the A100-40GB's 0.83·1.555 TB/s over its 0.81 sustained fraction."""
    from dpsim.compute import _head_kernels

    act, qk = 2048 * 1024, 2048 * 16 * 128
    rate = 1.555e12 * 0.83 * 0.81
    neox = _neox_layer(
        parallel_block=True,
        bias_dropout_fusion=False,
        norm_kernel="torch_two_pass",
        rope_kernels="rotate_half",
        rotary_fraction=0.25,
    )
    kernels = {(k.name, k.phase): k for k in layer_kernels(neox.model, neox.cluster.device, "fp16", 1)}
    expected = {
        ("layernorms", "forward"): 12 * act,
        ("layernorms.backward", "backward"): 28 * act,
        ("residual_adds", "forward"): 20 * act,
        ("rope", "forward"): 5 * qk,
        ("rope.backward", "backward"): 7 * qk,
        ("rope_partial", "forward"): 4 * qk,
        ("rope_partial.backward", "backward"): 14 * qk,
    }
    for key, moved in expected.items():
        assert kernels[key].bytes == moved, key
        assert kernels[key].seconds == pytest.approx(moved / rate, rel=1e-12)
    head = {(k.name, k.phase): k.bytes for k in _head_kernels(neox.model, neox.cluster.device, "fp16", 1, 1)}
    assert (head[("final_norm", "forward")], head[("final_norm.backward", "backward")]) == (6 * act, 14 * act)

    def residual(**model: object) -> float:
        s = _neox_layer(**model)
        return next(k.bytes for k in layer_kernels(s.model, s.cluster.device, "fp16", 1) if k.name == "residual_adds")

    assert residual(parallel_block=True) == 16 * act
    assert residual() == 12 * act
    assert residual(bias_dropout_fusion=False) == 20 * act
    # with dropout (1-byte mask): fused 2·(6 + 1); unfused 2·(4 + 5 + 6) (x + bias, dropout, residual add)
    assert residual(dropout=True) == 14 * act
    assert residual(dropout=True, bias_dropout_fusion=False) == 30 * act
    # full rotary: no slices to join
    full = _neox_layer(rope_kernels="rotate_half")
    names = {k.name: k.bytes for k in layer_kernels(full.model, full.cluster.device, "fp16", 1)}
    assert "rope_partial" not in names and names["rope"] == 20 * qk


def test_gpt_neox_switches_are_checked() -> None:
    from dpsim.errors import ScenarioError

    assert _neox_layer(rope_kernels="rotate_half", rotary_fraction=0.25).model.rotary_fraction == 0.25
    with pytest.raises(ScenarioError, match=r"model\.rotary_fraction"):
        _neox_layer(rotary_fraction=0.25)
    with pytest.raises(ScenarioError, match=r"model\.norm_kernel"):
        _neox_layer(norm_kernel="torch_two_pass", elementwise="eager")
    with pytest.raises(ScenarioError, match=r"model\.rotary_fraction"):
        _neox_layer(rope_kernels="rotate_half", rotary_fraction=0.0)


def _eager_llama(**model: object) -> Scenario:
    """Two Llama-style layers (h 1024, 8 heads, 2 KV heads, SwiGLU f 2816, no dropout, s 2048, flash) on one H100."""
    return scenario_from_dict(
        {
            "model": {
                "layers": 2,
                "hidden": 1024,
                "heads": 8,
                "kv_heads": 2,
                "ffn_hidden": 2816,
                "gated_mlp": True,
                "dropout": False,
                "seq_len": 2048,
                "vocab": 32000,
                "tied_embeddings": False,
                "learned_positions": False,
                "attention": "flash",
                **model,
            },
            "cluster": {"device": "h100-sxm"},
            "training": {"global_batch": 1, "micro_batch": 1},
        }
    )


def test_eager_norm_and_rope_bytes_by_hand() -> None:
    """PyTorch eager's Llama RMSNorm at 16 bits, op by op: x.float() 2 + 4, pow 4 + 4, mean 4, xf·rstd 4 + 4,
    type_as 4 + 2, weight·y 2 + 2 = 36 bytes an element; backward g·weight 4, the weight's g·y and row sum 8,
    type_as 2 + 4, xf·rstd's two gradients 16 + 8, mean 4, pow 28, the two xf gradients added 12, float() 4 + 2 = 92.
    In fp32 the casts are no kernels: 28 and 92 (the other terms at width 4). Fused: read and write, 4 and 8. RoPE
    on an element of q or k: Meta's complex form 6 + 8 + 6 = 20, ibm-fms's pair rotation 6 + 12 + 12 + 6 = 36,
    each way."""
    from dpsim.compute import norm_bytes, rope_bytes

    assert norm_bytes("eager", 2.0) == (36.0, 92.0)
    assert norm_bytes("eager", 4.0) == (28.0, 92.0)
    assert norm_bytes("fused", 2.0) == (4.0, 8.0)
    assert rope_bytes("complex_fp32", 2.0) == (20, 20)
    assert rope_bytes("pairs_fp32", 2.0) == (36, 36)
    assert rope_bytes("rotate_half", 2.0) == (20, 28)
    assert rope_bytes("none", 2.0) == (0, 0)


def test_eager_llama_layer_by_hand() -> None:
    """The eager layer against the fused one: T = 2048 tokens, act = T·h = 2,097,152, inner = T·f = 5,767,168, q and k
    T·(8 + 2)·128 = 2,621,440 elements. Forward: two norms 2·(36 - 4)·act, SwiGLU (silu 4 + mul 6 against 6) 4·inner,
    RoPE 36 a q/k element; backward 2·(92 - 8)·act, SwiGLU (18 against 12) 6·inner, RoPE 36; the final norm adds
    32·act and 84·act once. All at the H100's 0.83·3.35 TB/s over its 0.71 sustained fraction."""
    fused = _eager_llama()
    eager = _eager_llama(elementwise="eager", rope_kernels="pairs_fp32")
    act, inner, rotated = 2048 * 1024, 2048 * 2816, 2048 * 10 * 128
    rate = 3.35e12 * 0.83 * 0.71
    kernels = {(k.name, k.phase): k.bytes for k in layer_kernels(eager.model, eager.cluster.device, "bf16", 1)}
    assert kernels[("layernorms", "forward")] == 72 * act
    assert kernels[("layernorms.backward", "backward")] == 184 * act
    assert kernels[("mlp_activation", "forward")] == 10 * inner
    assert kernels[("mlp_activation.backward", "backward")] == 18 * inner
    assert kernels[("rope", "forward")] == kernels[("rope.backward", "backward")] == 36 * rotated
    base, more = compute_times(fused), compute_times(eager)
    forward = 2 * (64 * act + 4 * inner + 36 * rotated) + 32 * act
    backward = 2 * (168 * act + 6 * inner + 36 * rotated) + 84 * act
    assert more.forward_s - base.forward_s == pytest.approx(forward / rate, rel=1e-9)
    assert more.backward_s - base.backward_s == pytest.approx(backward / rate, rel=1e-9)
    # Meta's complex RoPE: 20 bytes each way instead of 36
    complex_rope = compute_times(_eager_llama(elementwise="eager", rope_kernels="complex_fp32"))
    assert more.forward_s - complex_rope.forward_s == pytest.approx(2 * 16 * rotated / rate, rel=1e-9)

    # full recomputation reruns the eager forward kernels in the backward
    def recomputed(scenario: Scenario) -> float:
        training = {"global_batch": 1, "activation_recomputation": "full"}
        return compute_times(scenario_from_dict({**scenario.model_dump(mode="json"), "training": training})).recompute_s

    assert recomputed(eager) - recomputed(fused) == pytest.approx(2 * (64 * act + 4 * inner + 36 * rotated) / rate)


def test_eager_activation_memory_by_hand() -> None:
    """Eager autograd keeps each norm's fp32 copy and cast output (6 bytes an element against the 2-byte input: 8·s·b·h
    a layer for two norms) and silu(gate) beside gate and up (2·s·b·f); nothing more under full recomputation."""
    from dpsim.analytic.memory import activation_bytes_per_layer

    common = {"kv_heads": 2, "ffn_hidden": 2816, "gated_mlp": True, "dropout": False, "attention": "flash"}
    for mode, extra in (("none", 8 * 2048 * 1024 + 2 * 2048 * 2816), ("full", 0)):
        plain = activation_bytes_per_layer(2048, 1, 1024, 8, recomputation=mode, **common)  # type: ignore[arg-type]
        eager = activation_bytes_per_layer(
            2048,
            1,
            1024,
            8,
            recomputation=mode,
            eager_elementwise=True,
            **common,  # type: ignore[arg-type]
        )
        assert eager - plain == pytest.approx(extra)


def test_loss_bytes_by_hand() -> None:
    """The cross-entropy's bytes a logit element, kernel by kernel (each reads its inputs and writes its output once).
    Megatron-LM's vocab_parallel_cross_entropy on output.float() at 16 bits: cast 2 + 4, max 4, sub_ 4 + 4, exp 4 + 4,
    sum 4, div_ 4 + 4 = 38; backward mul_ 4 + 4 and the gradient's cast back 4 + 2 = 14 (in fp32 no casts: 32, 8).
    F.cross_entropy under autocast: cast 6, log_softmax 4 + 4 = 14; backward nll_loss_backward's zero fill 4,
    log_softmax_backward 4 + 4 + 4, cast back 6 = 22. Without autocast on bf16 logits: log_softmax 2 + 2 = 4; zero
    fill 2 and 2 + 2 + 2 = 8. The fused xentropy kernel: read 2; read 2, write 2."""
    from dpsim.compute import loss_bytes

    assert loss_bytes("megatron", 2.0) == (38.0, 14.0)
    assert loss_bytes("megatron", 4.0) == (32.0, 8.0)
    assert loss_bytes("torch_fp32", 2.0) == (14.0, 22.0)
    assert loss_bytes("torch_fp32", 4.0) == (8.0, 16.0)
    assert loss_bytes("torch", 2.0) == (4.0, 8.0)
    assert loss_bytes("xentropy", 2.0) == (2.0, 4.0)
    with pytest.raises(ValueError, match="loss kernel"):
        loss_bytes("apex", 2.0)


def test_output_layer_loss_and_metrics_by_hand() -> None:
    """The last stage's cross-entropy over T x V = 2048 x 32,000 logits on one H100 at 0.83 · 3.35 TB/s over its
    0.71 sustained fraction: Megatron's kernels move 38 bytes an element forward and 14 backward, the fused xentropy
    kernel 2 and 4 (the old pricing, 10 and 6, was neither); Composer's two training metrics add 2 x 14 bytes an
    element after the backward; nothing else in the step changes."""
    logits = 2048 * 32000
    rate = 3.35e12 * 0.83 * 0.71
    megatron = compute_times(_eager_llama())
    assert _eager_llama().model.loss_kernel == "megatron"
    fused = compute_times(_eager_llama(loss_kernel="xentropy"))
    assert megatron.forward_s - fused.forward_s == pytest.approx((38 - 2) * logits / rate, rel=1e-9)
    assert megatron.backward_s - fused.backward_s == pytest.approx((14 - 4) * logits / rate, rel=1e-9)
    metrics = compute_times(_eager_llama(loss_kernel="xentropy", logit_metrics=2))
    assert metrics.forward_s == fused.forward_s
    assert metrics.backward_s - fused.backward_s == pytest.approx(2 * 14 * logits / rate, rel=1e-9)
    eager = compute_times(_eager_llama(loss_kernel="torch_fp32"))
    assert eager.forward_s - fused.forward_s == pytest.approx((14 - 2) * logits / rate, rel=1e-9)
    assert eager.backward_s - fused.backward_s == pytest.approx((22 - 4) * logits / rate, rel=1e-9)
    # tensor parallelism splits the vocabulary: each rank's loss over V/t
    tp = {"global_batch": 1, "micro_batch": 1, "tensor_parallel": 2}
    cluster = {"device": "h100-sxm", "workers_per_node": 2}

    def split(kernel: str) -> float:
        data = {**_eager_llama(loss_kernel=kernel).model_dump(mode="json"), "training": tp, "cluster": cluster}
        return compute_times(scenario_from_dict(data)).forward_s

    assert split("megatron") - split("xentropy") == pytest.approx((38 - 2) * logits / 2 / rate, rel=1e-9)


def test_loss_saved_bytes_by_hand() -> None:
    """What the loss keeps a logit element until the backward: Megatron's fp32 softmax (4, the .float() copy
    overwritten in place), autocast's bf16 log_softmax output and nll_loss's fp32 copy (6), torch's bf16 one (2),
    the fused xentropy kernel the bf16 logits (2): on the last stage of T x V = 2048 x 32,000 logits, xentropy keeps
    2 bytes an element less."""
    from dpsim.analytic.memory import memory_breakdown
    from dpsim.compute import loss_saved_bytes

    assert [loss_saved_bytes(k, 2.0) for k in ("megatron", "torch_fp32", "torch", "xentropy")] == [4, 6, 2, 2]
    assert loss_saved_bytes("xentropy", 4.0) == 4.0
    megatron = memory_breakdown(_eager_llama()).activations
    fused = memory_breakdown(_eager_llama(loss_kernel="xentropy")).activations
    assert megatron - fused == 2 * 2048 * 32000


def test_explicit_cast_and_compiled_losses_by_hand() -> None:
    """torchtitan's loss, F.cross_entropy(pred.float(), labels), without autocast. Eager (9dec370, ``torch_float``):
    the cast 2 + 4 and log_softmax in fp32 4 + 4 = 14; backward nll_loss_backward's zero fill 4, log_softmax_backward
    4 + 4 + 4 and the cast back 4 + 2 = 22, autocast's bytes in another order. It keeps log_softmax's fp32 output
    (4: the fp32 copy is log_softmax's input, not saved; the bf16 logits are dropped, torchtitan's ``del pred``)
    and peaks in the backward at that output, nll_loss_backward's fp32 gradient and log_softmax_backward's: 12.
    Compiled (820504e / e7c0cae, ``inductor``): one pass reading the bf16 logits (2), the backward one pointwise
    kernel reading them and writing their bf16 gradient (2 + 2); it keeps the logits (2) and peaks at them and
    their gradient (4). On the last stage of T x V = 2048 x 32,000 logits the activations differ by 12 - 10 and
    10 - 4 bytes a logit from autocast's (``torch_fp32``: its bf16 log_softmax output, the fp32 copy and the
    fp32 gradient)."""
    from dpsim.analytic.memory import memory_breakdown
    from dpsim.compute import loss_bytes, loss_peak_bytes, loss_saved_bytes

    assert loss_bytes("torch_float", 2.0) == (14.0, 22.0)
    assert loss_bytes("inductor", 2.0) == (2.0, 4.0)
    assert (loss_saved_bytes("torch_float", 2.0), loss_peak_bytes("torch_float", 2.0)) == (4.0, 12.0)
    assert (loss_saved_bytes("inductor", 2.0), loss_peak_bytes("inductor", 2.0)) == (2.0, 4.0)
    logits = 2048 * 32000
    autocast = memory_breakdown(_eager_llama(loss_kernel="torch_fp32")).activations
    assert memory_breakdown(_eager_llama(loss_kernel="torch_float")).activations - autocast == 2 * logits
    assert autocast - memory_breakdown(_eager_llama(loss_kernel="inductor")).activations == 6 * logits
    rate = 3.35e12 * 0.83 * 0.71
    eager = compute_times(_eager_llama(loss_kernel="torch_float"))
    compiled = compute_times(_eager_llama(loss_kernel="inductor"))
    assert eager.forward_s - compiled.forward_s == pytest.approx((14 - 2) * logits / rate, rel=1e-9)
    assert eager.backward_s - compiled.backward_s == pytest.approx((22 - 4) * logits / rate, rel=1e-9)


def test_loss_parallel_by_hand() -> None:
    """torchtitan's loss at TP > 1: F.cross_entropy(pred.float()) under DTensor's loss_parallel on vocabulary-sharded
    logits (torch distributed/tensor/parallel/loss.py). Forward, _log_softmax as torch._decomp's, out of place: the
    cast 2 + 4, amax 4, x - max 4 + 4, exp 4 + 4, sum 4, shifted - logsumexp 4 + 4 = 38; backward,
    _nll_loss_and_log_softmax_backward's (zeros_like(x) + exp(x)) * grad: zero fill 4, exp 4 + 4, the add
    4 + 4 + 4, the product 4 + 4, then the cast back 4 + 2 = 38 (fp32: 32 and 32). It keeps the fp32 log-probabilities
    (4) and peaks in the backward at them, the zero-filled gradient, exp and their sum: 16. At TP 2 the last stage
    holds T x V/2 = 2048 x 16,000 logits, 4 bytes a logit more than the eager loss without it (torch_float, 12)."""
    from dpsim.analytic.memory import memory_breakdown
    from dpsim.compute import loss_bytes, loss_peak_bytes, loss_saved_bytes
    from dpsim.errors import ScenarioError

    assert loss_bytes("loss_parallel", 2.0) == (38.0, 38.0)
    assert loss_bytes("loss_parallel", 4.0) == (32.0, 32.0)
    assert (loss_saved_bytes("loss_parallel", 2.0), loss_peak_bytes("loss_parallel", 2.0)) == (4.0, 16.0)
    tp = {"global_batch": 1, "micro_batch": 1, "tensor_parallel": 2}
    cluster = {"device": "h100-sxm", "workers_per_node": 2}

    def activations(kernel: str) -> float:
        data = _eager_llama().model_dump(mode="json")
        data = {**data, "model": {**data["model"], "loss_kernel": kernel}, "training": tp, "cluster": cluster}
        return memory_breakdown(scenario_from_dict(data)).activations

    assert activations("loss_parallel") - activations("torch_float") == 4 * 2048 * 16000
    with pytest.raises(ScenarioError, match=r"model\.loss_kernel.*needs training\.tensor_parallel > 1 \(got 1\)"):
        _eager_llama(loss_kernel="loss_parallel")


def _interval(k: int, **training: object) -> Scenario:
    data = _eager_llama(layers=4).model_dump(mode="json")
    recompute = {"activation_recomputation": "full", "recompute_layer_interval": k}
    return scenario_from_dict({**data, "training": {"global_batch": 1, **recompute, **training}})


def test_recompute_layer_interval_by_hand() -> None:
    """fms-fsdp's / torchtitan's every-k-th-layer checkpointing on 4 layers: k = 2 reruns floor(4/2) = 2 layers'
    forward, half of full recomputation's; k = 3 one layer, a quarter. Activations: the checkpointed layers keep
    their 2·s·b·h input, the others everything: (2·input + 2·whole) for k = 2, (1·input + 3·whole) for k = 3 (the
    one rebuilt layer's working set on top, as for full recomputation). The recomputed FLOPs follow the share."""
    from dpsim.analytic.memory import activation_bytes_per_layer, memory_breakdown
    from dpsim.analytic.parallel import recomputation_flops_per_sample

    every = compute_times(_interval(1))
    common = {"kv_heads": 2, "ffn_hidden": 2816, "gated_mlp": True, "dropout": False, "attention": "flash"}
    whole = activation_bytes_per_layer(2048, 1, 1024, 8, recomputation="none", **common)  # type: ignore[arg-type]
    kept = 2.0 * 2048 * 1024
    base = memory_breakdown(_interval(1)).activations - 4 * kept
    for k, layers in ((2, 2), (3, 1), (4, 1)):
        scenario = _interval(k)
        assert scenario.recomputed_layer_share == layers / 4
        assert compute_times(scenario).recompute_s == pytest.approx(every.recompute_s * layers / 4, rel=1e-12)
        assert compute_times(scenario).forward_s == pytest.approx(every.forward_s, rel=1e-12)
        flops = recomputation_flops_per_sample(scenario)
        assert flops == pytest.approx(recomputation_flops_per_sample(_interval(1)) * layers / 4, rel=1e-12)
        activations = memory_breakdown(scenario).activations
        assert activations - base == pytest.approx(layers * kept + (4 - layers) * whole, rel=1e-12)


@pytest.mark.parametrize(
    "training",
    [
        {"activation_recomputation": "selective", "recompute_layer_interval": 2},
        {"activation_recomputation": "full", "recompute_layer_interval": 5},
    ],
)
def test_recompute_layer_interval_needs_full_recomputation(training: dict[str, object]) -> None:
    from dpsim.errors import ScenarioError

    data = _eager_llama(layers=4).model_dump(mode="json")
    with pytest.raises(ScenarioError, match=r"training\.recompute_layer_interval"):
        scenario_from_dict({**data, "training": {"global_batch": 1, **training}})


def _byte_counter() -> Any:
    """A torch dispatch mode adding up the bytes each aten kernel moves: its inputs' unique storage read (an
    expanded view read once) and its outputs written; an in-place op writes the arguments its schema marks mutable
    (each tensor of a foreach or fused op's lists); a view, whose output shares an input's storage, moves nothing."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    def unique(t: Any) -> int:
        return math.prod(n for n, stride in zip(t.shape, t.stride(), strict=True) if stride != 0) * t.element_size()

    def tensors(tree: Any) -> list[Any]:
        return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]

    class Count(TorchDispatchMode):
        moved = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            inputs, outputs, schema = tensors((args, kwargs)), tensors(out), func._schema.arguments
            given = {a.name: args[i] if i < len(args) else (kwargs or {}).get(a.name) for i, a in enumerate(schema)}
            # the fused optimizers' schemas mark grads mutable for AMP's unscale, which runs only with a grad_scale
            unscaled = given.get("grad_scale") is None
            mutated = [
                given[a.name]
                for a in schema
                if a.alias_info is not None and a.alias_info.is_write and not (a.name == "grads" and unscaled)
            ]
            if mutated:  # in place (foreach and fused ops on lists): what the schema marks written
                written = tensors(mutated)
            elif any(
                o.untyped_storage().data_ptr() in {i.untyped_storage().data_ptr() for i in inputs} for o in outputs
            ):
                return out  # a view or alias: no kernel
            else:
                written = outputs
            self.moved += sum(unique(i) for i in inputs) + sum(w.numel() * w.element_size() for w in written)
            return out

    return Count()


def _dispatched_bytes(fn: Any, *inputs: Any) -> tuple[float, float]:
    """Bytes a function's aten kernels move (:func:`_byte_counter`), forward and autograd backward, over the first
    input's element count."""
    torch = pytest.importorskip("torch")
    forward = _byte_counter()
    with forward:
        y = fn(*inputs)
    grad = torch.ones_like(y)
    backward = _byte_counter()
    with backward:
        y.backward(grad)
    return forward.moved / inputs[0].numel(), backward.moved / inputs[0].numel()


def test_eager_bytes_are_what_torch_dispatches() -> None:
    """norm_bytes, rope_bytes and the eager SwiGLU against the aten kernels torch runs for the reference code
    (Meta's / HF's RMSNorm, ibm-fms's adjusted_qk, Meta's apply_rotary_emb, HF's rotate_half, silu(gate) * up) at
    bf16, forward and
    backward; the per-row and per-position terms (rstd, the frequencies) make the measured counts a little larger."""
    torch = pytest.importorskip("torch")
    from dpsim.compute import norm_bytes, rope_bytes

    def rms_norm(x: Any, weight: Any) -> Any:
        xf = x.float()
        return weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).type_as(x)

    x = torch.randn(256, 1024, dtype=torch.bfloat16, requires_grad=True)
    weight = torch.ones(1024, dtype=torch.bfloat16, requires_grad=True)
    forward, backward = _dispatched_bytes(rms_norm, x, weight)
    assert norm_bytes("eager", 2.0) == (pytest.approx(forward, rel=0.01), pytest.approx(backward, rel=0.01))

    batch, seq, heads, d = 16, 64, 32, 32
    pairs = torch.randn(1, seq, d // 2, 2, 2)

    def fms_rope(q: Any) -> Any:
        q_ = q.float().view(*q.size()[:-1], -1, 2)
        return pairs[:, :, None, :, :, :].mul(q_.unsqueeze(-2)).sum(5).flatten(3).type_as(q)

    polar = torch.polar(torch.ones(seq, d // 2), torch.randn(seq, d // 2)).view(1, seq, 1, d // 2)

    def meta_rope(q: Any) -> Any:
        q_ = torch.view_as_complex(q.float().reshape(*q.shape[:-1], -1, 2))
        return torch.view_as_real(q_ * polar).flatten(3).type_as(q)

    cos, sin = (torch.randn(1, seq, 1, d, dtype=torch.bfloat16) for _ in range(2))

    def hf_rope(q: Any) -> Any:  # transformers' LlamaModel: q * cos + rotate_half(q) * sin
        return q * cos + torch.cat((-q[..., d // 2 :], q[..., : d // 2]), dim=-1) * sin

    for kernels, fn in (("pairs_fp32", fms_rope), ("complex_fp32", meta_rope), ("rotate_half", hf_rope)):
        q = torch.randn(batch, seq, heads, d, dtype=torch.bfloat16, requires_grad=True)
        forward, backward = _dispatched_bytes(fn, q)
        assert rope_bytes(kernels, 2.0) == (pytest.approx(forward, rel=0.01), pytest.approx(backward, rel=0.01))

    gate = torch.randn(256, 1024, dtype=torch.bfloat16, requires_grad=True)
    up = torch.randn(256, 1024, dtype=torch.bfloat16, requires_grad=True)
    forward, backward = _dispatched_bytes(lambda g, u: torch.nn.functional.silu(g) * u, gate, up)
    assert (forward, backward) == (5.0 * 2, 9.0 * 2)  # as layer_kernels prices the eager SwiGLU, 5w and 9w


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd", "momentum"])
def test_foreach_optimizer_bytes_are_what_torch_dispatches(optimizer: str) -> None:
    """training.optimizer_kernels: foreach prices torch.optim's default multi-tensor update at the bytes its
    kernels move a parameter (fp32 parameters, gradients and state; the second step, the state allocated), and
    fused=True at the fused update's 28 bytes for Adam(W)."""
    torch = pytest.importorskip("torch")
    from dpsim.analytic.step import FOREACH_OPTIMIZER_BYTES_PER_PARAM, optimizer_bytes_per_param

    def step_bytes(**options: Any) -> float:
        params = [torch.nn.Parameter(torch.randn(1 << 16)) for _ in range(4)]
        kind = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}.get(optimizer, torch.optim.SGD)
        extra = {"momentum": 0.9} if optimizer == "momentum" else {}
        update = kind(params, lr=1e-3, **extra, **options)
        for _ in range(2):
            for p in params:
                p.grad = torch.randn_like(p)
            counter = _byte_counter()
            with counter:
                update.step()
        return counter.moved / (4 << 16)

    assert step_bytes(foreach=True) == pytest.approx(FOREACH_OPTIMIZER_BYTES_PER_PARAM[optimizer], rel=1e-3)
    if optimizer.startswith("adam"):
        assert step_bytes(fused=True) == pytest.approx(optimizer_bytes_per_param(optimizer, "bf16"), rel=1e-3)


def test_foreach_optimizer_step_bytes() -> None:
    """The optimizer step with torch.optim's foreach AdamW: 84 bytes a parameter and clipping's 3 passes over the
    gradient buffer (here fp32: 12), against the fused update's 28 + 12; refused beside Megatron's separate copies."""
    from dpsim.analytic.step import optimizer_step_bytes
    from dpsim.errors import ScenarioError

    data = _eager_llama().model_dump(mode="json")
    training = {"global_batch": 1, "optimizer": "adamw", "precision": "fp32", "gradient_clipping": True}
    fused = scenario_from_dict({**data, "training": training})
    foreach = scenario_from_dict({**data, "training": {**training, "optimizer_kernels": "foreach"}})
    assert fused.gradient_buffer_bytes_per_param == 4
    assert (optimizer_step_bytes(fused), optimizer_step_bytes(foreach)) == (28 + 12, 84 + 12)
    with pytest.raises(ScenarioError, match=r"training\.optimizer_kernels"):
        scenario_from_dict(
            {**data, "training": {**training, "optimizer_kernels": "foreach", "optimizer_copies": "separate"}}
        )


def test_bf16_optimizer_state_update_bytes() -> None:
    """apex DistributedFusedAdam._local_step with bf16 state and store_params False: read the bf16 parameter, m, v
    and the bf16 gradient shard (8), write m, v and the parameter (6): 14 bytes, clipping's 3 passes over the bf16
    gradient buffer 6 more; refused outside the megatron flavour (one line naming the field)."""
    from dpsim.analytic.step import optimizer_step_bytes
    from dpsim.errors import ScenarioError

    data = _eager_llama().model_dump(mode="json")
    training = {
        "global_batch": 1,
        "optimizer": "adamw",
        "precision": "bf16",
        "zero_stage": 1,
        "optimizer_sharding": "megatron",
        "gradient_dtype": "bf16",
    }
    fp32 = scenario_from_dict({**data, "training": training})
    bf16 = scenario_from_dict({**data, "training": {**training, "optimizer_state_dtype": "bf16"}})
    clipped = scenario_from_dict(
        {**data, "training": {**training, "optimizer_state_dtype": "bf16", "gradient_clipping": True}}
    )
    assert (optimizer_step_bytes(fp32), optimizer_step_bytes(bf16), optimizer_step_bytes(clipped)) == (28, 14, 20)
    with pytest.raises(ScenarioError, match=r"training\.optimizer_state_dtype"):
        scenario_from_dict(
            {**data, "training": {**training, "optimizer_sharding": "zero", "optimizer_state_dtype": "bf16"}}
        )
    # DistributedFusedAdam implements Adam: beside SGD its state and master copy were priced away (0 bytes)
    for optimizer in ("sgd", "momentum"):
        with pytest.raises(ScenarioError, match=r"training\.optimizer_state_dtype: .*optimizer adam or adamw"):
            scenario_from_dict(
                {**data, "training": {**training, "optimizer": optimizer, "optimizer_state_dtype": "bf16"}}
            )
    adam = scenario_from_dict({**data, "training": {**training, "optimizer": "adam", "optimizer_state_dtype": "bf16"}})
    assert optimizer_step_bytes(adam) == 14


def test_torchtitan_op_selective_checkpointing_by_hand() -> None:
    """torchtitan's op SAC on its Llama block saves the mm outputs but every second (wq, wv, w1, w2 saved; wk, wo, w3
    recomputed) and the flash attention: the recompute is the layer's forward less flash attention, wq and wv's
    share of the QKV GEMM ((8 + 2) / (8 + 2·2) heads of q, k, v), half the gated up-projection (w1) and the
    down-projection. Memory a layer: input, q, v (2 of 8 heads), attention output, w1's and w2's outputs at 2 bytes,
    2·s·b·(4h + h/4 + f), and the fp32 log-sum-exp 4·a·s·b. FLOPs rerun: 2·h·(kv·d + h + f) a token a layer."""
    from dpsim.analytic.memory import activation_bytes_per_layer
    from dpsim.analytic.parallel import recomputation_flops_per_sample
    from dpsim.errors import ScenarioError

    data = _eager_llama().model_dump(mode="json")
    op = scenario_from_dict({**data, "training": {"global_batch": 1, "activation_recomputation": "op"}})
    kernels = {k.name: k.seconds for k in layer_kernels(op.model, op.cluster.device, "bf16", 1) if k.phase == "forward"}
    saved = kernels["flash_attention"] + kernels["qkv"] * 10 / 12 + kernels["mlp_up"] / 2 + kernels["mlp_down"]
    assert compute_times(op).recompute_s == pytest.approx(2 * (sum(kernels.values()) - saved), rel=1e-12)
    s, h, f = 2048, 1024, 2816
    common = {"kv_heads": 2, "ffn_hidden": f, "gated_mlp": True, "dropout": False, "attention": "flash"}
    stored = activation_bytes_per_layer(s, 1, h, 8, recomputation="op", **common)  # type: ignore[arg-type]
    assert stored == 2 * s * (4 * h + h // 4 + f) + 4 * 8 * s
    assert recomputation_flops_per_sample(op) == 2 * h * (256 + h + f) * 2 * s
    with pytest.raises(ScenarioError, match=r"training\.activation_recomputation"):
        scenario_from_dict(
            {
                **data,
                "model": {**data["model"], "gated_mlp": False},
                "training": {"global_batch": 1, "activation_recomputation": "op"},
            }
        )


def test_torchtitan_op_selective_checkpointing_under_tensor_parallelism_by_hand() -> None:
    """torchtitan's op SAC (``_save_list`` at 820504e) under its DTensor TP plan, 2 Llama layers (h 1024, 8 heads, 2
    KV heads, f 2816, s 2048, b 1) on TP 2: wo's output only feeds its reduce-scatter, whose output is saved, so the
    backward reruns wk (1 of the rank's 6 QKV heads: q 4, k 1, v 1) and w3 (half the gated up-projection), not wo:
    2·2048·1024·128 + 2·2048·1024·1408 = 6,442,450,944 FLOPs a layer and rank. It reruns the attention's and the MLP's
    input all-gathers (collectives are not in the list), not the two reduce-scatters: 4 pairs + 2 gathers of
    S = 2048·1024·2 bytes a layer, 20 ring steps of α + S/2/B on TP 2, 2 of 5 all-reduce units in the forward; their
    staging copies 8 + 2. Kept: the TP 1 set on 1/2 of the heads, columns and sequence."""
    from dpsim.analytic import parallel
    from dpsim.analytic.memory import activation_bytes_per_layer
    from dpsim.analytic.step import fabric_of
    from dpsim.errors import ScenarioError

    data = _eager_llama().model_dump(mode="json")
    cluster = {**data["cluster"], "workers_per_node": 2}
    tp = {"tensor_parallel": 2, "sequence_parallel": True, "sequence_parallel_kind": "dtensor"}
    training = {"global_batch": 1, "micro_batch": 1, "activation_recomputation": "op", **tp}
    op = scenario_from_dict({**data, "cluster": cluster, "training": training})
    kernels = layer_kernels(op.model, op.cluster.device, "bf16", 1, 2, True)
    forward = {k.name: k for k in kernels if k.phase == "forward"}
    rerun = {"qkv": 1 / 6, "mlp_up": 1 / 2, "attention_out": 0.0, "mlp_down": 0.0, "flash_attention": 0.0}
    assert math.fsum(forward[n].flops * share for n, share in rerun.items()) == pytest.approx(6_442_450_944, rel=1e-12)
    redo = math.fsum(k.seconds * rerun.get(k.name, 1.0) for k in forward.values())
    assert compute_times(op).recompute_s == pytest.approx(2 * redo, rel=1e-12)
    assert parallel.recomputation_flops_per_sample(op) == 2 * 2 * 6_442_450_944  # both ranks, both layers
    size = 2048 * 1024 * 2
    link = parallel.tensor_parallel_fabric(2, fabric_of(op)).intra
    gather = link.latency_s + size / 2 / link.bandwidth
    assert parallel.tensor_parallel_counts(op) == (5.0, 0.4)
    assert parallel.tensor_parallel_comm_time(op, fabric_of(op)) == pytest.approx(2 * 10 * gather, rel=1e-12)
    assert parallel.tensor_parallel_staging_copies(op) == 10
    assert parallel.tensor_parallel_staging_bytes(op) == 10 * 2 * size
    common = {"kv_heads": 2, "ffn_hidden": 2816, "gated_mlp": True, "dropout": False, "attention": "flash"}
    stored = activation_bytes_per_layer(
        2048, 1, 1024, 8, tensor_parallel=2, sequence_parallel=True, recomputation="op", gathered_linear_inputs=True,
        **common,  # type: ignore[arg-type]
    )  # fmt: skip
    assert stored == (2 * 2048 * (4 * 1024 + 1024 // 4 + 2816) + 4 * 8 * 2048) / 2
    # torch's AsyncTP fuses each re-gather with the one GEMM rerun from it (wk, w3), at its share of its GEMM
    overlap = {"tp_comm_overlap": True, "tp_overlap_kind": "torch_async_tp"}
    async_tp = scenario_from_dict({**data, "cluster": cluster, "training": {**training, **overlap}})
    pairs = parallel._fused_pairs(async_tp)
    assert pairs[-2:] == [("all_gather", "qkv.wk"), ("all_gather", "mlp_up.w3")]
    gemms = parallel._layer_gemm_seconds(async_tp)
    assert gemms["qkv.wk"] == pytest.approx(gemms["qkv"] / 6, rel=1e-12)
    assert gemms["mlp_up.w3"] == pytest.approx(gemms["mlp_up"] / 2, rel=1e-12)
    # torchao's Float8 TP gathers float8 (1 byte): a re-gather is 1/3 of a pair (2 bytes scattered, 1 gathered)
    fp8 = scenario_from_dict(
        {
            **data,
            "model": {**data["model"], "fp8_linear": "torchao_tensorwise"},
            "cluster": cluster,
            "training": {**training, "precision": "fp8"},
        }
    )
    assert parallel.sequence_gather_allreduces(fp8) == pytest.approx(1 / 3, rel=1e-12)
    assert parallel.tensor_parallel_counts(fp8)[0] == pytest.approx(4 + 2 / 3, rel=1e-12)
    for sp in ({"sequence_parallel": False}, {"sequence_parallel_kind": "megatron"}):
        with pytest.raises(ScenarioError, match=r"training\.activation_recomputation"):
            scenario_from_dict({**data, "cluster": cluster, "training": {**training, **sp}})


_H200_KERNELS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "gpu-h200-2026-12-04" / "kernels.json"


def _device_check() -> ModuleType:
    return load_benchmark("gpu_device_check")


def test_hopper_fa2_curve_is_the_h200_measurement() -> None:
    """The catalog's Hopper FA2 curve is fitted to the kernels timed on one H200 (torch 2.11, causal, 16 heads of 128,
    b·s = 8192: benchmarks/results/gpu-h200-2026-12-04/kernels.json), each rate scaled by that GPU's pace on the bf16
    layer GEMMs (1.171 x the catalog's time), the backward less autograd's accumulation into the leaf q, k, v (71 us).
    Measured (TFLOP/s): SDPA flash forward 183 / 269 / 281, backward 227 / 237 / 268 at s 2048 / 4096 / 8192 -- the rate
    rises with the sequence, which the flat FA2 figures (0.35 / 0.30) did not have: at s 2048 they were 1.6 x and 1.1 x
    too fast. The cuDNN backend (forward 453 / 532 / 567) rises the same way; its fit is checked, not in the catalog."""
    import json

    from dpsim.catalog import DEVICES

    check = _device_check()
    doc = json.loads(_H200_KERNELS.read_text())
    clock = check.gemm_clock(doc)
    assert clock == pytest.approx(1.171, abs=0.001)
    for name in ("h100-sxm", "h200"):
        spec = DEVICES[name]
        for i, phase in enumerate(("forward", "backward")):
            e, half = check.fit_attention(doc, "attention_flash", phase, clock, 989e12)
            assert spec.attention_efficiency_fa2[i] == pytest.approx(e, abs=0.0006)
            assert spec.attention_half_seq_fa2[i] == half
        assert spec.attention_efficiency == (0.65, 0.5) and spec.attention_half_seq == (0.0, 0.0)
    fits = [check.fit_attention(doc, "attention_cudnn", phase, clock, 989e12) for phase in ("forward", "backward")]
    assert fits == [(pytest.approx(0.738, abs=0.0006), 753.0), (pytest.approx(0.676, abs=0.0006), 1135.0)]
    # the curve through the points within 9 % (its s 4096 forward lies above)
    device = load_scenario(None, overrides=["cluster.device=h200"]).cluster.device
    for it in doc["items"]:
        if it["kind"] == "attention_flash":
            rates = attention_rate(device, "fa2", it["seq"], True)
            for rate, phase in zip(rates, ("forward", "backward"), strict=True):
                measured = check.attention_tflops(doc, it, phase) * 1e12 * clock / 989e12
                assert measured == pytest.approx(rate, rel=0.09)


def test_attention_rate_by_hand() -> None:
    """efficiency(s) = e·s/(s + s½) causal, e·s/(s + s½/2) unmasked (a fixed cost per query row worth s½/2 key
    positions); a device without a half-rate sequence stays flat; the leaf-gradient correction by hand."""
    h100 = load_scenario(None, overrides=["cluster.device=h100-sxm"]).cluster.device
    assert attention_rate(h100, "fa2", 2048, True) == pytest.approx((0.426 * 2048 / 3887, 0.328 * 2048 / 2538))
    assert attention_rate(h100, "fa2", 2048, False) == pytest.approx(
        (0.426 * 2048 / (2048 + 919.5), 0.328 * 2048 / (2048 + 245))
    )
    assert attention_rate(h100, "device", 512, True) == (0.65, 0.5)
    a100 = load_scenario(None, overrides=["cluster.device=a100-80gb"]).cluster.device
    assert attention_rate(a100, "fa2", 2048, True) == attention_rate(a100, "device", 512, False) == (0.6, 0.5)
    curved = h100.model_copy(update={"attention_half_seq": (1000.0, 2000.0)})
    assert attention_rate(curved, "device", 1000, True) == pytest.approx((0.325, 0.5 / 3))
    # the item b2 s4096: forward + backward less forward 1.5229 ms; q, k, v of 2·16·4096·128 elements, read 2 and
    # write 1 at 2 bytes, over the file's best copy (4.2355 TB/s): 71.3 us
    import json

    doc = json.loads(_H200_KERNELS.read_text())
    item = next(it for it in doc["items"] if it["kind"] == "attention_flash" and it["seq"] == 4096)
    accumulate = 3 * 3 * 2 * (2 * 16 * 4096 * 128) / 4.2354606603e12
    flops = 2.5 * 4 * 2 * 16 * 4096**2 * 128 / 2
    assert _device_check().attention_tflops(doc, item, "backward") == pytest.approx(
        flops / (0.0015228800296783447 - accumulate) / 1e12, rel=1e-9
    )
    # an unmasked item (a later --measure writes "causal"): all s² scores count, 4·b·h·s²·d forward
    unmasked = {**item, "causal": False, "forward_s": 1e-3}
    assert _device_check().attention_tflops(doc, unmasked, "forward") == pytest.approx(
        4 * 2 * 16 * 4096**2 * 128 / 1e-3 / 1e12, rel=1e-12
    )


def _cpu_peak_bytes(run: Callable[[], None]) -> float:
    """Peak bytes torch's CPU allocator held above its level at the start of ``run`` (profiler memory events)."""
    import json
    import tempfile

    pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    with tempfile.TemporaryDirectory() as tmp:
        prof.export_chrome_trace(f"{tmp}/trace.json")
        events = json.loads(Path(tmp, "trace.json").read_text())["traceEvents"]
    memory = [e["args"] for e in events if e.get("name") == "[memory]"]
    base = memory[0]["Total Allocated"] - memory[0]["Bytes"]
    return max(m["Total Allocated"] for m in memory) - base


@pytest.mark.parametrize("kernel", ["torch_fp32", "torch"])
def test_loss_peak_bytes_is_what_torchs_allocator_holds(kernel: str) -> None:
    """F.cross_entropy's log_softmax and nll_loss on T x V bf16 logits, as the caller holds them (freed before the
    backward): under autocast (torch_fp32) nll_loss gets an fp32 copy of the bf16 log_softmax output (the H200
    trace's order), without it (torch) all stays bf16. The allocator's peak over forward and backward, a logit
    element, is loss_peak_bytes: 10 and 6 (it was 4 and 2, the bytes counted as saved)."""
    torch = pytest.importorskip("torch")
    from dpsim.compute import loss_peak_bytes

    tokens, vocab = 256, 4096
    leaf = torch.randn(tokens, vocab).bfloat16().requires_grad_()
    target = torch.randint(vocab, (tokens,))
    f = torch.nn.functional

    def step() -> None:
        logits = leaf * 1.0  # the model's output: not a leaf, dropped when the loss is formed
        logp = f.log_softmax(logits, -1)
        loss = f.nll_loss(logp.float() if kernel == "torch_fp32" else logp, target)
        del logits, logp
        loss.backward()

    step()  # leaf.grad exists from here on, as the parameters' gradients do in training
    assert _cpu_peak_bytes(step) / (tokens * vocab) == pytest.approx(loss_peak_bytes(kernel, 2.0), rel=0.01)
    assert loss_peak_bytes(kernel, 4.0) == 12.0


def test_mfu_divides_by_the_peak_of_the_training_precision() -> None:
    """MFU against the peak the model's GEMMs run at, as Composer's SpeedMonitor (llm-foundry's tables) and
    torchtitan's Float8 rows report it: FP8 against the FP8 peak, fp32 against the FP32 units' under
    ``fp32_matmul: ieee``. Model FLOPs per token 6·(Ψ − embeddings) + 12·L·s·h + 6·V·h (PaLM's count, no causal
    discount), by hand; the old code divided every run by the 16-bit peak (an FP8 run's MFU twice what Composer
    prints)."""
    from dpsim import api

    def by_hand(s: Scenario, step: float, peak: float) -> float:
        m = s.model
        dense = m.num_parameters - m.embedding_parameters
        per_sample = (6 * dense + 12 * m.layers * m.seq_len * m.hidden + 6 * m.vocab * m.hidden) * m.seq_len
        return per_sample * s.training.global_batch / step / (s.world_size * peak)

    for device, precision, extra, peak in (
        ("h100-sxm", "bf16", {}, 989e12),
        ("h100-sxm", "fp8", {}, 1979e12),
        ("a100-80gb", "fp32", {"fp32_matmul": "ieee"}, 19.5e12),
        ("a100-80gb", "fp32", {"fp32_matmul": "tf32"}, 156e12),
    ):
        data = {
            "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000},
            "cluster": {"device": device},
            "training": {"global_batch": 4, "micro_batch": 1, "precision": precision, **extra},
        }
        s = scenario_from_dict(data)
        for engine in ("analytic", "sim"):
            r = api.run(s, engine=engine)
            assert r.mfu == pytest.approx(by_hand(s, r.step_time_s, peak), rel=1e-9), (precision, extra, engine)
