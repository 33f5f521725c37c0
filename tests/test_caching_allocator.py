"""PyTorch's caching allocator replayed (dpsim.analytic.caching_allocator) against its rules worked by hand, and
the FSDP step laid out for it (dpsim.analytic.reserved)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from _bench import load_benchmark

from dpsim.analytic.caching_allocator import Alloc, Free, allocation_size, replay, round_size
from dpsim.analytic.memory import memory_breakdown
from dpsim.analytic.reserved import reserved_memory, stage_events
from dpsim.scenario import scenario_from_dict

RUNS = load_benchmark("published_runs")

MiB = 2**20


def test_request_and_segment_sizes_follow_the_allocators_constants() -> None:
    """round_size: 512-byte multiples; get_allocation_size: 2 MiB small segments up to 1 MiB, a 20 MiB segment
    below 10 MiB, above it the request rounded up to 2 MiB."""
    assert [round_size(n) for n in (1, 512, 513, 1000)] == [512, 512, 1024, 1024]
    assert allocation_size(MiB) == 2 * MiB
    assert allocation_size(MiB + 512) == 20 * MiB
    assert allocation_size(10 * MiB - 512) == 20 * MiB
    assert allocation_size(10 * MiB) == 10 * MiB
    assert allocation_size(10 * MiB + 512) == 12 * MiB


def _peaks(events: Iterable[Alloc | Free], expandable: bool = False) -> tuple[float, float]:
    peaks = replay(events, expandable_segments=expandable)
    return peaks.allocated_peak / MiB, peaks.reserved_peak / MiB


def test_a_freed_block_serves_a_smaller_request_of_its_stream_only() -> None:
    """Best fit, split when more than 1 MiB remains (large pool), never across streams."""
    assert _peaks([Alloc("a", 1.5 * MiB)]) == (1.5, 20.0)  # a 1-10 MiB request takes a 20 MiB segment
    assert _peaks([Alloc("a", 100 * MiB), Free("a"), Alloc("b", 50 * MiB), Alloc("c", 50 * MiB)]) == (100.0, 100.0)
    # 0.5 MiB would remain: not split, the request holds the whole 100 MiB block
    assert _peaks([Alloc("a", 100 * MiB), Free("a"), Alloc("b", 99.5 * MiB)]) == (100.0, 100.0)
    assert _peaks([Alloc("a", 100 * MiB), Free("a"), Alloc("b", 100 * MiB, "other")]) == (100.0, 200.0)
    # 3,000 requests of 1,000 bytes: 1,024 each, 2,048 to a 2 MiB small segment
    assert _peaks(Alloc(i, 1000) for i in range(3000)) == (3000 * 1024 / MiB, 4.0)


def test_segments_never_merge_but_expandable_segments_grow_and_merge() -> None:
    """Two 100 MiB segments freed cannot serve 150 MiB (a third segment); in one expandable segment the two freed
    blocks merge and serve it, and a request larger than any free block maps only the 20 MiB pages it lacks."""
    two: list[Alloc | Free] = [
        Alloc("a", 100 * MiB),
        Alloc("b", 100 * MiB),
        Free("a"),
        Free("b"),
        Alloc("c", 150 * MiB),
    ]
    assert _peaks(two) == (200.0, 350.0)
    assert _peaks(two, expandable=True) == (200.0, 200.0)
    grow: list[Alloc | Free] = [Alloc("a", 100 * MiB), Free("a"), Alloc("b", 120 * MiB)]
    assert _peaks(grow) == (120.0, 220.0)
    assert _peaks(grow, expandable=True) == (120.0, 120.0)
    assert _peaks([Alloc("a", 1.5 * MiB)], expandable=True) == (1.5, 20.0)  # one 20 MiB page
    assert _peaks([Alloc("a", 1000)], expandable=True) == (1024 / MiB, 2.0)  # one 2 MiB small page


def test_a_free_of_a_tensor_not_live_is_refused() -> None:
    with pytest.raises(ValueError, match="not live"):
        replay([Alloc("a", 10), Free("b")])
    with pytest.raises(ValueError, match="already live"):
        replay([Alloc("a", 10), Alloc("a", 10)])


def _titan(name: str) -> Any:
    run = next(r for r in RUNS.TORCHTITAN_RUNS if r.name == name)
    return scenario_from_dict(dict(run.scenario))


@pytest.mark.parametrize(
    "name",
    ["torchtitan 8B FSDP on 8 H100", "torchtitan 405B TP8 PP8 interleaved FP8 AsyncTP on 512 H100"],
)
def test_the_step_layout_frees_what_a_step_makes_and_stays_within_the_summed_peaks(name: str) -> None:
    """After the replayed steps only the run's tensors are live (fp32 shards, AdamW's two states, the pipeline's
    receive buffers, the last step's sharded gradients, and on a pipeline's last stage the last step's output
    chunks, which torch empties at the next step's start), and no moment holds more than the memory model's sum of
    per-kind peaks on that stage; reserved is at least allocated."""
    scenario = _titan(name)
    stages = scenario.training.pipeline_parallel
    for stage in range(stages):
        live: set[object] = set()
        for event in stage_events(scenario, stage):
            if isinstance(event, Alloc):
                live.add(event.key)
            else:
                live.remove(event.key)
        kinds = {key[0] for key in live}  # type: ignore[index]
        chunks = {"output_chunk"} if stages > 1 and stage == stages - 1 else set()
        assert kinds <= {"shard", "exp_avg", "exp_avg_sq", "recv", "grad_recv", "sharded_grad"} | chunks
        assert {"shard", "exp_avg", "exp_avg_sq", "sharded_grad"} | chunks <= kinds
    replayed = reserved_memory(scenario)
    assert replayed is not None and len(replayed.stages) == stages
    totals = memory_breakdown(scenario).stage_totals
    for peaks, total in zip(replayed.stages, totals, strict=True):
        assert peaks.allocated_peak <= total
        assert peaks.reserved_peak >= peaks.allocated_peak


@pytest.mark.parametrize("schedule", ["1F1B", "interleaved"])
def test_torchs_pipeline_keeps_the_last_stages_logits_to_the_next_step(schedule: str) -> None:
    """torch.distributed.pipelining appends each micro-batch's output to ``output_chunks``, merges them with one
    ``torch.cat`` at the end of ``step`` and empties the list only at the next step's start (pytorch#159251). On
    the 405B rows' last stage the output is the vocabulary-sharded logits: 4 sequences x 8,192 tokens x 128,256 / 8
    columns x 2 bytes = 1,050,673,152 bytes a micro-batch. Each step makes 8 of them, all 8 are live beside their
    concatenation (16 at once, 15.66 GiB) at the step's end, and each step's are freed at the next one's start,
    never before; no other stage keeps any, nor Megatron's schedules."""
    from dpsim.analytic.reserved import pipeline_kept_logits

    scenario = _titan(f"torchtitan 405B TP8 PP8 {schedule} FP8 AsyncTP on 512 H100")
    logits = 4 * 8192 * (128256 // 8) * 2
    assert logits == 1_050_673_152
    assert pipeline_kept_logits(scenario, 7) == logits
    assert [pipeline_kept_logits(scenario, s) for s in range(7)] == [0.0] * 7
    run = next(
        r for r in RUNS.TORCHTITAN_RUNS if r.name == f"torchtitan 405B TP8 PP8 {schedule} FP8 AsyncTP on 512 H100"
    )
    training = {k: v for k, v in run.scenario["training"].items() if k != "pipeline_releases_input_grads"}
    megatron = scenario_from_dict({**run.scenario, "training": {**training, "pipeline_runtime": "megatron"}})
    assert pipeline_kept_logits(megatron, 7) == 0.0
    live: dict[object, float] = {}
    most, made, freed = 0.0, [0, 0, 0], [0, 0, 0]
    for event in stage_events(scenario, 7):
        key: Any = event.key
        if isinstance(event, Alloc):
            if key[0] in ("output_chunk", "merged_output"):
                live[key] = event.size
                most = max(most, sum(live.values()))
            if key[0] == "output_chunk":
                assert event.size == logits
                made[key[2]] += 1
            elif key[0] == "merged_output":
                assert event.size == 8 * logits and made[key[1]] == 8 and not freed[key[1]]
        else:
            live.pop(key, None)
            if key[0] == "output_chunk":
                assert made[key[2] + 1] == 0  # freed at the next step's start, before its first forward
                freed[key[2]] += 1
    assert made == [8, 8, 8] and freed == [8, 8, 0]
    assert most == 16 * logits
    assert not any(getattr(e, "key", ("",))[0] == "output_chunk" for e in stage_events(scenario, 6))


def test_fsdp2_keeps_a_flat_all_gather_output_beside_each_layer() -> None:
    """FSDP2's flat all-gather outputs (``_fsdp_param_group.py``): in the forward each is kept after its copy-out
    until the next unit's copy-in has made its own (the copy-in note), so a layer's forward runs beside its own
    flat output and two are live at each copy-out; the root's post-forward drops the last one, after the logits;
    in the backward each layer's copy-out frees its prefetched output and ``_backward_prefetch`` makes the next
    layer's, live through this layer's backward (none after layer 0). Llama 3.1 8B, 32 layers, one stage."""
    scenario = _titan("torchtitan 8B FSDP on 8 H100")
    live: set[object] = set()
    most = 0
    checked = {"forward": 0, "backward": 0, "loss": 0}
    for event in stage_events(scenario, 0):
        key: Any = event.key
        if isinstance(event, Free):
            if key[0] == "ag_out":
                live.remove(key[1])
            continue
        if key[0] == "ag_out":
            live.add(key[1])
            most = max(most, len(live))
        elif key[0] == "act" and key[4] == 0:  # a forward layer's first saved tensor
            assert live == {(key[1], key[2])}
            checked["forward"] += 1
        elif key[0] == "grad" and key[1] != "root" and key[2] == 0:  # a backward layer's first gradient
            c, i = key[1]
            assert live == ({(c, i - 1)} if i > 0 else set())
            checked["backward"] += 1
        elif key[:2] == ("loss", "copy"):  # the loss's fp32 copy, after the root's post-forward
            assert live == set()
            checked["loss"] += 1
    assert most == 2
    assert checked == {"forward": 32 * 3, "backward": 32 * 3, "loss": 3}


def test_every_logged_row_is_replayed_under_its_launchers_allocator() -> None:
    """Each torchtitan row with a logged peak has the allocator its launcher set, and is replayed."""
    assert set(RUNS.TORCHTITAN_ALLOCATOR) == set(RUNS.TORCHTITAN_PUBLISHED_MEMORY_GIB)
    assert {k for k, v in RUNS.TORCHTITAN_ALLOCATOR.items() if v == "caching"} == {
        "torchtitan 8B FSDP compiled FP8 on 32 H200",
        "torchtitan 8B FSDP compiled FP8 on 64 H200",
    }
    rows = RUNS.titan_replayed_memory([r for r in RUNS.TORCHTITAN_RUNS if "torchao" in r.name])
    assert [r.allocator for r in rows] == ["expandable", "expandable"]
    assert all(r.allocated <= r.expandable <= r.caching for r in rows)


@pytest.mark.parametrize(
    "name",
    [
        "torchtitan 8B FSDP on 8 H100",
        "torchtitan 70B TP8 FP8 on 256 H100",
        "torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP on 512 H100",
        "torchtitan 8B FSDP compiled FP8 on 32 H200",
    ],
)
def test_the_itemised_tensors_are_the_memory_models_sums(name: str) -> None:
    """A layer's saved tensors add up to what the memory model counts, and the loss's script peaks at it: op SAC
    saves seven tensors a layer (8B: input, wq, wv at 8 of 32 heads, attention output, log-sum-exp, w1 at 14,336,
    w2), full recomputation one; the loss frees all it makes, its forward peaking below its backward (eager
    torch_float: 2 + 4 + 4 bytes a logit, then 12; loss_parallel 14, then 16; inductor 2, then 4)."""
    from dpsim.analytic.memory import _output_layer_activations, _per_layer_activations
    from dpsim.analytic.reserved import output_layer_tensors, saved_layer_tensors

    scenario = _titan(name)
    saved = saved_layer_tensors(scenario)
    assert sum(saved) == pytest.approx(_per_layer_activations(scenario), rel=1e-12)
    forward, backward = output_layer_tensors(scenario)
    live: dict[str, float] = {}
    peaks = []
    for script in (forward, backward):
        peak = 0.0
        for key, size in script:
            if size is None:
                del live[key]
            else:
                live[key] = size
            peak = max(peak, sum(live.values()))
        peaks.append(peak)
    assert not live
    assert peaks[1] == pytest.approx(_output_layer_activations(scenario), rel=1e-12)
    m, t = scenario.model, scenario.training
    logits = m.seq_len * t.micro_batch / t.tensor_parallel * m.vocab
    norm = forward[0][1]
    assert norm is not None
    forward_per_logit = {"torch_float": 10.0, "loss_parallel": 14.0, "inductor": 2.0}[m.loss_kernel]
    assert peaks[0] == pytest.approx(norm + forward_per_logit * logits, rel=1e-12) and peaks[0] < peaks[1]
    if t.activation_recomputation == "op":
        sbh = 8192 * 2 * 4096
        assert saved == pytest.approx(
            [2 * sbh, 2 * sbh, 2 * sbh / 4, 2 * sbh, 4 * 32 * 8192 * 2, 2 * 8192 * 2 * 14336, 2 * sbh], rel=1e-12
        )
    else:
        assert len(saved) == 1


def test_the_cache_is_steady_after_the_replayed_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reserved peak stops growing within the replayed steps: two or six steps reserve what three do (the
    first step makes AdamW's states and the sharded gradients; later steps reuse the cache)."""
    import dpsim.analytic.reserved as reserved

    scenario = _titan("torchtitan 8B FSDP compiled FP8 on 128 H100")
    peaks = {}
    for steps in (2, 3, 6):
        monkeypatch.setattr(reserved, "STEPS", steps)
        got = reserved.reserved_memory(scenario), reserved.reserved_memory(scenario, expandable_segments=True)
        assert got[0] is not None and got[1] is not None
        peaks[steps] = (got[0].reserved_peak, got[1].reserved_peak)
    assert peaks[2] == peaks[3] == peaks[6]
    monkeypatch.setattr(reserved, "STEPS", 1)
    one = reserved.reserved_memory(scenario)
    assert one is not None and one.reserved_peak <= peaks[3][0]
