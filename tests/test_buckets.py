"""DDP buckets: dpsim.buckets reproduces the buckets torch's DistributedDataParallel builds.

The reference is DDP itself on a 1-rank gloo group (CPU): after the first iteration the reducer has
rebuilt its buckets from the gradient-ready order, and ``_get_ddp_logging_data()`` reports them
(``rebuilt_per_bucket_param_indices``, ``rebuilt_bucket_sizes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dpsim.buckets import DEFAULT_BUCKET_BYTES, bucket_count, bucket_sizes, ddp_bucket_layout, first_bucket_bytes


def _ddp_buckets(
    model: Any, example: Any, store: Path, bucket_cap_mb: float | None
) -> tuple[list[list[int]], list[int], list[int]]:
    """(parameter indices per bucket, bytes per bucket, gradient-ready order) as DDP recorded them."""
    import torch
    import torch.distributed as dist

    from runtime.torchrun import destroy_group

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    try:
        kwargs = {} if bucket_cap_mb is None else {"bucket_cap_mb": bucket_cap_mb}
        ddp = torch.nn.parallel.DistributedDataParallel(model, **kwargs)
        for _ in range(3):  # buckets are rebuilt at the second forward; logged after the third
            ddp(example).float().sum().backward()
        data = ddp._get_ddp_logging_data()
        del ddp  # it holds the group: freed before the group is destroyed
    finally:
        destroy_group()
    assert data["has_rebuilt_buckets"] == 1
    indices = [[int(i) for i in b.split()] for b in str(data["rebuilt_per_bucket_param_indices"]).split(",")]
    sizes = [int(x) for x in str(data["rebuilt_bucket_sizes"]).split(",")]
    ready = [int(x) for x in str(data["prev_iteration_grad_ready_order_indices"]).split(",")]
    return indices, sizes, ready


def _models() -> list[tuple[str, Any, Any, float | None]]:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    mlp_stack = nn.Sequential(
        nn.Embedding(2000, 512),
        *[nn.Sequential(nn.Linear(512, 2048), nn.GELU(), nn.Linear(2048, 512)) for _ in range(4)],
        nn.Linear(512, 2000),
    )
    tokens = torch.randint(0, 2000, (2, 8))
    # GPT-style block stack: embedding first (ready last), LayerNorms and biases between big matrices
    layers = [
        nn.Sequential(
            nn.LayerNorm(384),
            nn.Linear(384, 3 * 384),
            nn.Linear(3 * 384, 384),
            nn.Linear(384, 1536),
            nn.Linear(1536, 384),
        )
        for _ in range(6)
    ]
    gpt = nn.Sequential(nn.Embedding(5000, 384), *layers, nn.Linear(384, 5000, bias=False))
    small = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.Linear(64, 8))
    return [
        ("mlp-default-cap", mlp_stack, tokens, None),
        ("gpt-default-cap", gpt, torch.randint(0, 5000, (2, 4)), None),
        ("gpt-cap-2mb", gpt, torch.randint(0, 5000, (2, 4)), 2.0),
        ("small-one-bucket", small, torch.randn(4, 64), None),
    ]


@pytest.mark.parametrize("case", range(4), ids=["mlp-default-cap", "gpt-default-cap", "gpt-cap-2mb", "small"])
def test_layout_equals_torch_ddp(case: int, tmp_path: Path) -> None:
    name, model, example, cap_mb = _models()[case]
    indices, sizes, ready = _ddp_buckets(model, example, tmp_path / "store", cap_mb)
    tensor_bytes = [p.numel() * p.element_size() for p in model.parameters()]
    bucket = DEFAULT_BUCKET_BYTES if cap_mb is None else int(cap_mb * 2**20)
    # given the order autograd produced the gradients in, the buckets are DDP's exactly
    layout = ddp_bucket_layout(tensor_bytes, bucket, ready_order=ready)
    assert layout == indices, name
    assert [sum(tensor_bytes[i] for i in b) for b in layout] == sizes
    # the default order (reverse registration) differs only inside a module (LayerNorm weight and
    # bias may swap), never across a bucket boundary: the same buckets and sizes
    default = ddp_bucket_layout(tensor_bytes, bucket)
    assert [sum(tensor_bytes[i] for i in b) for b in default] == sizes
    assert [sorted(b) for b in default] == [sorted(b) for b in indices]
    # the input embedding (parameter 0) is ready last: it sits in the last bucket
    assert 0 in layout[-1]


def test_first_bucket_rule() -> None:
    # torch: first_bucket_bytes_cap = _DEFAULT_FIRST_BUCKET_BYTES (1 MiB) only with the default cap
    assert first_bucket_bytes(DEFAULT_BUCKET_BYTES) == 2**20
    assert first_bucket_bytes(50 * 2**20) == 50 * 2**20
    assert first_bucket_bytes(DEFAULT_BUCKET_BYTES, 4e6) == 4e6


def test_layout_never_splits_and_closes_at_the_limit() -> None:
    # ready order 3, 2, 1, 0: sizes 0.6, 0.6, 30, 5 MiB; first limit 1 MiB closes after 1.2 MiB,
    # the 30 MiB tensor alone overfills the 25 MiB bucket (never split), then the rest.
    mib = 2**20
    layout = ddp_bucket_layout([5 * mib, 30 * mib, 0.6 * mib, 0.6 * mib])
    assert layout == [[3, 2], [1], [0]]


def test_uniform_stream_is_the_small_tensor_limit() -> None:
    # 1000 tensors of 0.1 MiB (100 MiB): first bucket 1 MiB, then four 25 MiB buckets ... in the
    # limit of small tensors, bucket_sizes: [1, 25, 25, 25, 24] MiB.
    mib = 2**20
    tensors = [0.1 * mib] * 1000
    sizes = [sum(tensors[i] for i in b) for b in ddp_bucket_layout(tensors)]
    stream = bucket_sizes(sum(tensors), DEFAULT_BUCKET_BYTES)
    assert stream == pytest.approx([mib, 25 * mib, 25 * mib, 25 * mib, 24 * mib])
    assert len(sizes) == len(stream)
    for got, want in zip(sizes, stream, strict=True):
        assert abs(got - want) <= 0.1 * mib + 1e-6


@pytest.mark.parametrize("bucket", ["25 MiB", "4 MiB"])
def test_engines_bucket_the_runtime_mlp_as_ddp_does(bucket: str, tmp_path: Path) -> None:
    # The runtime's MLP (4 × Linear(768, 768)) wrapped in DDP as runtime/job.py does: DDP's own
    # rebuilt buckets are what both engines reduce. With the default cap the first bucket is the
    # last layer's weight + bias (2.25 MiB), not the 1 MiB a byte stream would give.
    torch = pytest.importorskip("torch")
    from dpsim import api
    from dpsim.buckets import gradient_tensors
    from dpsim.scenario import scenario_from_dict
    from dpsim.sim.simulate import step_plan
    from runtime.model import build_model

    scenario = scenario_from_dict(
        {
            "model": {"kind": "mlp", "layers": 4, "hidden": 768},
            "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 8, "micro_batch": 4, "optimizer": "sgd", "precision": "fp32"},
            "communication": {"bucket": bucket},
        }
    )
    model = build_model(scenario)
    cap = scenario.communication.bucket
    _, ddp_sizes, _ = _ddp_buckets(
        model, torch.randn(2, 768), tmp_path / "store", None if cap == DEFAULT_BUCKET_BYTES else cap / 2**20
    )
    tensors = [p.numel() * p.element_size() for p in model.parameters()]
    assert list(gradient_tensors(scenario)) == tensors
    plan = step_plan(scenario, 0.0, 0.1, 0.2)
    assert plan.gradient_buckets == ddp_sizes
    assert api.run(scenario, engine="analytic").extra["buckets"] == len(ddp_sizes)
    if cap == DEFAULT_BUCKET_BYTES:
        assert ddp_sizes[0] == 4 * (768 * 768 + 768)


def test_transformer_tensors_are_the_runtime_gpts_parameters() -> None:
    # gradient_tensors lists runtime.model.GPT's parameters in registration order (tied head);
    # with the default cap each GPT-2 XL fc and proj weight (1600 × 6400 fp32, 41 MB) overfills a
    # bucket alone (with the small biases and LayerNorms ready just before it), and so do the
    # attention's QKV + out weights together (4·h² as well): 3 buckets a layer, then the embeddings
    pytest.importorskip("torch")
    from dpsim.buckets import gradient_tensors
    from dpsim.scenario import scenario_from_dict
    from runtime.model import build_model

    shape = {"kind": "transformer", "layers": 2, "hidden": 64, "heads": 4, "seq_len": 16, "vocab": 100}
    scenario = scenario_from_dict(
        {
            "model": shape,
            "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 8, "micro_batch": 4, "precision": "fp32"},
        }
    )
    model = build_model(scenario)
    assert list(gradient_tensors(scenario)) == [p.numel() * p.element_size() for p in model.parameters()]
    xl = scenario_from_dict(
        {
            "model": "gpt2-xl",
            "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "100 GB"}},
            "training": {"global_batch": 8, "micro_batch": 4, "precision": "fp32"},
        }
    )
    tensors = gradient_tensors(xl)
    fc = 4 * 1600 * 6400
    assert tensors.count(fc) == 2 * 48
    sizes = bucket_sizes(sum(tensors), DEFAULT_BUCKET_BYTES, None, tensors)
    assert sum(1 for s in sizes if fc <= s < fc + 2**20) == 3 * 48
    assert len(sizes) == 3 * 48 + 1 and sizes[-1] == 4 * (50257 + 1024) * 1600


def _pipelined_gpt(**training: object) -> object:
    from dpsim.scenario import scenario_from_dict

    shape = {"kind": "transformer", "layers": 4, "hidden": 64, "heads": 4, "seq_len": 16, "vocab": 100}
    return scenario_from_dict(
        {
            "model": shape,
            "cluster": {"nodes": 1, "workers_per_node": 4, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 8, "micro_batch": 1, "precision": "fp32", "pipeline_parallel": 2, **training},
            "communication": {"bucket": "64 KiB"},
        }
    )


def test_pipeline_stages_bucket_their_own_tensors() -> None:
    """GPT (h 64, 4 layers, vocab 100, seq 16, fp32, tied) on 2 stages, 64 KiB buckets (first one too).

    A layer in registration order, fp32 bytes: QKV weight 192·64·4 = 49152, bias 768, out 16384 + 256,
    fc 65536 + 1024, proj 65536 + 256, four LayerNorm vectors of 256: 199936 B. Stage 0 holds the
    embeddings (word 100·64·4 = 25600, positions 16·64·4 = 4096) and layers 0-1; stage 1 layers 2-3, the
    final LayerNorm (2 × 256) and Megatron's copy of the tied word embedding (25600).
    DDP's buckets, ready in reverse: a layer closes a bucket at its proj weight (4·256 + 256 + 65536 =
    66816), at fc (1024 + 65536 = 66560) and at QKV (256 + 16384 + 768 + 49152 = 66560); stage 0's
    embeddings are the last, open bucket (4096 + 25600); on stage 1 the head copy and the final
    LayerNorm join the last layer's first bucket (25600 + 512 + 66816 = 92928).
    """
    from dpsim import api
    from dpsim.buckets import gradient_tensors, stage_gradient_tensors
    from dpsim.sim.simulate import step_plan

    s = _pipelined_gpt()
    cap = 64 * 1024
    first, second = stage_gradient_tensors(s, 0), stage_gradient_tensors(s, 1)
    layer = [49152, 768, 16384, 256, 65536, 1024, 65536, 256, 256, 256, 256, 256]
    assert list(first) == [25600, 4096, *layer, *layer]
    assert list(second) == [*layer, *layer, 256, 256, 25600]
    assert bucket_sizes(sum(first), cap, None, first) == [66816, 66560, 66560] * 2 + [4096 + 25600]
    assert bucket_sizes(sum(second), cap, None, second) == [92928, 66560, 66560, 66816, 66560, 66560]
    # the engines follow the first stage, whose backward ends the step
    assert gradient_tensors(s) == first
    assert step_plan(s, 0.0, 0.1, 0.2).gradient_buckets == [66816, 66560, 66560] * 2 + [29696]
    result = api.run(s, engine="analytic")
    assert result.extra["buckets"] == 7 and result.extra["gradient_bytes"] == 2 * 199936 + 29696


def test_pipeline_stages_partition_the_models_tensors() -> None:
    """Stages in order list the whole model's tensors once (untied head: nothing added), also with
    interleaved chunks (stage 0 holds chunks 0 and 2: embeddings, layer 0, layer 2)."""
    from dpsim.buckets import gradient_tensors, stage_gradient_tensors
    from dpsim.scenario import scenario_from_dict

    def llama(pp: int, **training: object) -> object:
        shape = {"kind": "transformer", "layers": 4, "hidden": 64, "heads": 4, "kv_heads": 2, "seq_len": 16,
                 "vocab": 100, "gated_mlp": True, "ffn_hidden": 96, "tied_embeddings": False,
                 "learned_positions": False, "dropout": False}  # fmt: skip
        return scenario_from_dict(
            {
                "model": shape,
                "cluster": {"nodes": 1, "workers_per_node": 4, "device": "h100-sxm"},
                "training": {"global_batch": 8, "micro_batch": 1, "pipeline_parallel": pp, **training},
            }
        )

    whole = list(gradient_tensors(llama(1)))
    two = llama(2)
    assert list(stage_gradient_tensors(two, 0)) + list(stage_gradient_tensors(two, 1)) == whole
    interleaved = llama(2, pipeline_schedule="interleaved", virtual_stages=2)
    layer = whole[1:10]
    assert list(stage_gradient_tensors(interleaved, 0)) == [whole[0], *layer, *layer]
    assert list(stage_gradient_tensors(interleaved, 1)) == [*layer, *layer, *whole[-2:]]


@pytest.mark.parametrize("kind,per_layer", [("transformer", 12), ("mlp", 2)])
def test_tensor_list_bound_counts_the_models_own_tensors_a_layer(
    monkeypatch: pytest.MonkeyPatch, kind: str, per_layer: int
) -> None:
    """Past MAX_TENSORS (layers × that kind's tensors a layer: GPT 12, the MLP's weight and bias 2)
    gradients are a stream, not a list; at the bound the list is still followed tensor by tensor."""
    import dpsim.buckets as buckets
    from dpsim.scenario import scenario_from_dict

    monkeypatch.setattr(buckets, "MAX_TENSORS", 120)
    shape: dict[str, object] = {"kind": kind, "layers": 120 // per_layer, "hidden": 64}
    if kind == "transformer":
        shape |= {"heads": 4, "seq_len": 16, "vocab": 100}

    def scenario(layers: int) -> Any:
        return scenario_from_dict(
            {
                "model": shape | {"layers": layers},
                "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
                "training": {"global_batch": 8, "micro_batch": 4, "precision": "fp32"},
            }
        )

    at_bound = buckets.gradient_tensors(scenario(120 // per_layer))
    assert len(at_bound) >= 120  # every layer's tensors (plus a transformer's embeddings and final norm)
    assert buckets.gradient_tensors(scenario(120 // per_layer + 1)) == ()


@pytest.mark.parametrize("as_view", [False, True])
def test_ddp_buckets_are_a_second_gradient_copy_unless_views(tmp_path: Path, as_view: bool) -> None:
    """What ``training.gradient_as_bucket_view`` models: the reducer's flat bucket tensors hold a copy
    of every gradient, in the gradients' dtype, apart from ``param.grad`` (torch's default); with
    ``gradient_as_bucket_view=True`` every ``param.grad`` lies inside a bucket and nothing else is held."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist

    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(512, 512) for _ in range(6)]).to(torch.bfloat16)
    buckets: dict[int, tuple[int, int, Any]] = {}

    def record(_, bucket):  # type: ignore[no-untyped-def]  # DDP refuses a hook whose bucket is not annotated GradBucket
        # the comm hook sees each bucket's flat tensor; it reduces nothing (one rank)
        flat = bucket.buffer()
        buckets[bucket.index()] = (flat.data_ptr(), flat.numel() * flat.element_size(), flat.dtype)
        done = torch.futures.Future()
        done.set_result(flat)
        return done

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.25, gradient_as_bucket_view=as_view)
        ddp.register_comm_hook(None, record)
        seen = []
        for _ in range(3):  # past the rebuild at the second iteration
            ddp.zero_grad(set_to_none=False)
            ddp(torch.randn(4, 512, dtype=torch.bfloat16)).float().sum().backward()
            seen.append(dict(buckets))
        del ddp  # it holds the group: freed before the group is destroyed
    finally:
        from runtime.torchrun import destroy_group

        destroy_group()
    grads = [p.grad for p in model.parameters()]
    assert len(buckets) > 1  # 512 KiB weights: a 1 MiB first bucket (DDP's), then 0.25 MiB ones
    assert seen[-1] == seen[-2]  # the same flat tensors every iteration: held for the whole run
    assert {dtype for _, _, dtype in buckets.values()} == {torch.bfloat16}  # the gradients' dtype
    grad_bytes = sum(g.numel() * g.element_size() for g in grads)
    assert sum(size for _, size, _ in buckets.values()) == grad_bytes  # exactly one gradient's worth

    def inside(g: Any) -> bool:
        return any(start <= g.data_ptr() < start + size for start, size, _ in buckets.values())

    assert [inside(g) for g in grads] == [as_view] * len(grads)


def test_the_last_bucket_is_found_without_listing_the_buckets() -> None:
    """``last_bucket_bytes`` is ``bucket_sizes(...)[-1]`` (hand-picked edges: one bucket, exact multiples, a
    remainder, a first bucket larger than the rest), and a billion-layer model no longer lists 10^9 buckets."""
    from dpsim.buckets import bucket_sizes, last_bucket_bytes

    for total in (1.0, 5e5, float(1 << 20), 1.5 * (1 << 20), 25e6, 25e6 + 1, 50e6, 73.3e6, 1e9):
        for bucket in (1e6, 25e6, float(1 << 20)):
            for first in (None, bucket, 3e5):
                assert last_bucket_bytes(total, bucket, first) == bucket_sizes(total, bucket, first)[-1]
    assert last_bucket_bytes(0.0, 25e6) == 0.0
    assert last_bucket_bytes(1e18, 25e6, 25e6) == 25e6  # 4e10 full buckets: nothing listed


def test_check_counts_the_buckets_the_engines_reduce() -> None:
    # `dpsim check` printed ceil(gradient / bucket) equal buckets (GPT-2 XL in fp32: 238) while both engines
    # reduce DDP's buckets of whole tensors: 3 a layer (each fc and proj weight, 41 MB, overfills a 25 MiB
    # bucket alone; QKV + out together) and the embeddings, 3 · 48 + 1 (see the test above)
    from dpsim import api
    from dpsim.report import derived_values
    from dpsim.scenario import scenario_from_dict

    xl = scenario_from_dict(
        {
            "model": "gpt2-xl",
            "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "100 GB"}},
            "training": {"global_batch": 8, "micro_batch": 4, "precision": "fp32"},
        }
    )
    assert derived_values(xl)["buckets"] == 3 * 48 + 1
    assert api.run(xl, engine="analytic").extra["buckets"] == 3 * 48 + 1
    assert api.run(xl, engine="sim").extra["buckets"] == 3 * 48 + 1


@pytest.mark.parametrize(
    ("total", "bucket", "first"),
    [(0.0, 25e6, None), (1.0, 25e6, None), (248_879_616.0, DEFAULT_BUCKET_BYTES, None), (100e6, 25e6, 25e6),
     (100e6 + 1e-3, 25e6, 25e6), (99e6, 25e6, 1e6), (1e9, 3e8, None), (7.0, 1.0, 1.0), (3 * 62.5e6, 62.5e6, 62.5e6)],
)  # fmt: skip
def test_bucket_count_is_the_number_of_buckets_without_listing_them(total: float, bucket: float, first: float | None):
    """The cost guard counted ``len(bucket_sizes(...))``: a 1-byte bucket listed 248 M floats (2 GB) first."""
    assert bucket_count(total, bucket, first) == len(bucket_sizes(total, bucket, first))
