"""DDP buckets: dpsim.buckets reproduces the buckets torch's DistributedDataParallel builds.

The reference is DDP itself on a 1-rank gloo group (CPU): after the first iteration the reducer has
rebuilt its buckets from the gradient-ready order, and ``_get_ddp_logging_data()`` reports them
(``rebuilt_per_bucket_param_indices``, ``rebuilt_bucket_sizes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dpsim.buckets import DEFAULT_BUCKET_BYTES, bucket_sizes, ddp_bucket_layout, first_bucket_bytes


def _ddp_buckets(
    model: Any, example: Any, store: Path, bucket_cap_mb: float | None
) -> tuple[list[list[int]], list[int], list[int]]:
    """(parameter indices per bucket, bytes per bucket, gradient-ready order) as DDP recorded them."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    try:
        kwargs = {} if bucket_cap_mb is None else {"bucket_cap_mb": bucket_cap_mb}
        ddp = torch.nn.parallel.DistributedDataParallel(model, **kwargs)
        for _ in range(3):  # buckets are rebuilt at the second forward; logged after the third
            ddp(example).float().sum().backward()
        data = ddp._get_ddp_logging_data()
    finally:
        dist.destroy_process_group()
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
