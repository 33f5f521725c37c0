"""Catalog: derived parameter counts and FLOPs against published figures; every entry sourced."""

from __future__ import annotations

import pytest

from dpsim.catalog import (
    DEVICES,
    LINKS,
    MODELS,
    DeviceSpec,
    LinkSpec,
    ModelSpec,
    embedding_parameters,
    lookup,
    model_flops_per_sample,
    model_flops_per_token,
    model_parameters,
    training_flops_per_token,
    transformer_parameters,
)

# Exact counts: sum(p.numel() for p in model.parameters()) of the Hugging Face implementation
# (GPT2Model / BertModel / LlamaForCausalLM). Our formula models the same tensors, so these
# must match to the parameter.
EXACT_COUNTS = {
    "gpt2-small": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "bert-large": 335_141_888,
    "llama2-7b": 6_738_415_616,
    "llama2-70b": 68_976_648_192,
    "llama3-8b": 8_030_261_248,
    "llama3-70b": 70_553_706_496,
    "llama3-405b": 405_853_388_800,
}

# Published figures as rounded in the source text. Tolerance: half a unit of the last digit
# the source prints (e.g. "174.6B" is 174.55-174.65B), so the derived count must round to
# the published figure.
ROUNDED_COUNTS = {
    "gpt2-small": (124e6, 0.5e6),  # HF model card "124M"
    "gpt2-xl": (1.558e9, 0.0005e9),  # HF gpt2-xl 1.558B (Radford et al. 2019, Table 2, prints 1542M)
    "gpt3-175b": (174.6e9, 0.05e9),  # Brown et al. 2020 "175B"; the shape gives 174.6B (Narayanan et al. 2021)
    "llama2-70b": (68.98e9, 0.005e9),  # HF model card parameter count
    "llama3-70b": (70.55e9, 0.005e9),  # HF model card parameter count
    "llama3-405b": (405.9e9, 0.05e9),  # 405.85B derived; "405.9B" at one decimal
}

# Headline names in the papers: within 5 % of the derived count. The names round to a size
# class ("7B" is 6.74B: 3.7 %; GPT-2 XL's "1.5B" is 1.558B: 3.9 %; BERT's "340M" is 335M: 1.4 %).
HEADLINE = {
    "gpt2-xl": 1.5e9,
    "gpt3-175b": 175e9,
    "bert-large": 340e6,
    "llama2-7b": 7e9,
    "llama2-70b": 70e9,
    "llama3-8b": 8e9,
    "llama3-70b": 70e9,
    "llama3-405b": 405e9,
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXACT_COUNTS.items()))
def test_exact_parameter_counts(name: str, expected: int) -> None:
    assert model_parameters(MODELS[name]) == expected


@pytest.mark.parametrize(("name", "published"), sorted(ROUNDED_COUNTS.items()))
def test_rounded_parameter_counts(name: str, published: tuple[float, float]) -> None:
    value, half_unit = published
    assert abs(model_parameters(MODELS[name]) - value) <= half_unit + 1e-6 * value


@pytest.mark.parametrize(("name", "headline"), sorted(HEADLINE.items()))
def test_headline_parameter_counts(name: str, headline: float) -> None:
    assert model_parameters(MODELS[name]) == pytest.approx(headline, rel=0.05)


def test_gpt2_closed_form() -> None:
    """12·L·h² + 13·L·h + (V + s)·h + 2h (final LayerNorm) for GPT-2 shapes."""
    layers, h, v, s = 48, 1600, 50257, 1024
    expected = 12 * layers * h * h + 13 * layers * h + (v + s) * h + 2 * h
    assert transformer_parameters(layers, h, v, s, heads=25) == expected


def test_gpt3_training_flops_by_hand() -> None:
    """6·N + 12·L·s·h + 6·V·h with N the non-embedding parameters, for GPT-3 175B."""
    layers, h, s, v = 96, 12288, 2048, 50257
    non_embedding = layers * (12 * h * h + 13 * h) + 2 * h
    by_hand = 6 * non_embedding + 12 * layers * s * h + 6 * v * h
    spec = MODELS["gpt3-175b"]
    assert embedding_parameters(spec) == (v + s) * h
    assert model_flops_per_token(spec) == pytest.approx(by_hand, rel=1e-12)
    assert model_flops_per_sample(spec) == pytest.approx(by_hand * s, rel=1e-12)
    direct = training_flops_per_token(
        model_parameters(spec), layers, h, s, v, embedding_parameters=embedding_parameters(spec)
    )
    assert direct == pytest.approx(by_hand, rel=1e-12)
    # Against the 6·N rule of thumb (N all parameters): attention adds s/(6h) = 2.8 %, while the
    # logits (6·V·h) roughly cancel the excluded embeddings (6·(V + s)·h).
    assert by_hand / (6 * model_parameters(spec)) == pytest.approx(1 + s / (6 * h), abs=0.001)


def test_untied_head_counted_once() -> None:
    """Llama's output head is excluded from 6·N because the 6·V·h logits term counts it."""
    spec = MODELS["llama2-7b"]
    h, v = spec.hidden, spec.vocab
    assert embedding_parameters(spec) == 2 * v * h
    non_embedding = model_parameters(spec) - 2 * v * h
    expected = 6 * non_embedding + 12 * spec.layers * spec.seq_len * h + 6 * v * h
    assert model_flops_per_token(spec) == pytest.approx(expected, rel=1e-12)


def test_non_transformers_use_given_counts() -> None:
    resnet = MODELS["resnet-50"]
    assert model_parameters(resnet) == pytest.approx(25.6e6, rel=0.01)  # He et al. 2016: 25.6M
    assert model_flops_per_sample(resnet) == pytest.approx(6 * 4.09e9)  # 3 passes x 2 FLOPs per MAC
    tiny = MODELS["mlp-tiny"]
    assert model_parameters(tiny) == 4 * (1024 * 1024 + 1024)
    with pytest.raises(ValueError, match="transformers only"):
        model_flops_per_token(resnet)
    with pytest.raises(ValueError, match="transformers only"):
        embedding_parameters(tiny)


@pytest.mark.parametrize(
    "table",
    [DEVICES, LINKS, MODELS],
    ids=["devices", "links", "models"],
)
def test_every_entry_has_a_source_and_lowercase_key(table: dict[str, DeviceSpec | LinkSpec | ModelSpec]) -> None:
    assert table
    for key, entry in table.items():
        assert key == entry.name == key.lower()
        assert entry.source.strip(), f"{key} has no source"


def test_required_entries_present() -> None:
    assert {"v100", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200", "cpu"} <= set(DEVICES)
    assert {
        "nvlink3",
        "nvlink4",
        "nvlink5",
        "pcie3",
        "pcie4",
        "pcie5",
        "ib-edr",
        "ib-hdr",
        "ib-ndr",
        "25gbe",
        "100gbe",
        "400gbe",
    } <= set(LINKS)
    assert {"resnet-50", "bert-large", "gpt2-small", "gpt3-175b", "llama3-405b", "mlp-tiny"} <= set(MODELS)


def test_datasheet_values_in_si() -> None:
    assert DEVICES["h100-sxm"].peak_flops == 989e12
    assert DEVICES["h200"].memory_bytes == 141e9
    assert DEVICES["b200"].memory_bandwidth == 8e12
    assert LINKS["ib-ndr"].bandwidth == 50e9  # 400 Gbit/s is 50 GB/s: bits are not bytes
    assert LINKS["25gbe"].bandwidth == 3.125e9
    assert LINKS["nvlink4"].bandwidth == 450e9
    assert LINKS["pcie4"].bandwidth == pytest.approx(31.5e9, rel=0.001)
    assert LINKS["pcie3"].bandwidth * LINKS["pcie3"].efficiency == pytest.approx(12.0e9, rel=0.001)  # PCI_BW
    for device in DEVICES.values():
        assert 0.0 < device.efficiency <= 1.0


def test_lookup_is_case_insensitive_and_suggests() -> None:
    assert lookup(DEVICES, " H100-SXM ", "device") is DEVICES["h100-sxm"]
    with pytest.raises(KeyError, match="did you mean 'a100-80gb'"):
        lookup(DEVICES, "a100-80", "device")


def test_invalid_specs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="multiple of heads"):
        ModelSpec("bad", "transformer", "test", layers=2, hidden=100, heads=3, seq_len=8, vocab=10)
    with pytest.raises(ValueError, match="kv_heads"):
        ModelSpec("bad", "transformer", "test", layers=2, hidden=96, heads=12, kv_heads=5, seq_len=8, vocab=10)
    with pytest.raises(ValueError, match="flops_per_sample"):
        ModelSpec("bad", "cnn", "test", parameters=1.0)
    with pytest.raises(ValueError, match="efficiency"):
        DeviceSpec("bad", 1e12, 1e9, 1e9, 1.5, "test")
    with pytest.raises(ValueError, match="bandwidth"):
        LinkSpec("bad", 0.0, 1e-6, "test")
