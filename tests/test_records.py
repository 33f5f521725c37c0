"""Result records as JSON lines: written and read back; a damaged file is a one-line error naming its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpsim.errors import ScenarioError
from dpsim.records import StepResult, read_jsonl, write_jsonl

RECORD = StepResult(
    scenario="s", engine="runtime", world_size=4, step_time_s=0.5, compute_s=0.4, comm_s=0.2, exposed_comm_s=0.1,
    bubble_s=0.0, optimizer_s=0.01, samples_per_s=128.0, scaling_efficiency=0.9, memory_per_device_bytes=1e9,
)  # fmt: skip


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [RECORD, RECORD])
    assert read_jsonl(path) == [RECORD, RECORD]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"scenario": "s"', "line 2: not a record"),  # truncated: cut mid-line
        (b"[1, 2]\n", "line 2: not a record: 'a record is a JSON object"),
        (b'{"scenario": "s"}\n', "line 2: not a record"),  # required fields missing
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b'{"scenario": "s", "scenario": "t"}\n', "line 2: not a record: not JSON: \"duplicate key 'scenario'\""),
    ],
)
def test_a_damaged_file_is_one_error_naming_the_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [RECORD])
    path.write_bytes(path.read_bytes() + content)
    with pytest.raises(ScenarioError, match=expected) as info:
        read_jsonl(path)
    assert info.value.source == str(path) and "\n" not in info.value.one_line()


def test_a_missing_file_or_a_folder_is_an_error(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.jsonl", tmp_path):
        with pytest.raises(ScenarioError, match="cannot read"):
            read_jsonl(path)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ('"step_time_s": NaN', "field step_time_s: expected a finite number ≥ 0, got no value"),
        ('"step_time_s": -1', "field step_time_s: expected a finite number ≥ 0, got -1"),
        ('"compute_s": "x"', "field compute_s: expected a finite number ≥ 0, got str"),
        ('"compute_s": true', "field compute_s: expected a finite number ≥ 0, got bool"),
        ('"world_size": 2.5', "field world_size: expected a whole number ≥ 0, got 2.5"),
        ('"oom": 0', "field oom: expected true or false, got 0"),
        ('"engine": null', "field engine: expected a text, got NoneType"),
        ('"extra": []', "field extra: expected an object, got list"),
        ('"extra": {"link_rate_bytes_per_s": Infinity}', "field extra.link_rate_bytes_per_s: expected a finite"),
        ('"extra": {"per_rank_step_time_s": {"0": 0.5, "1": "x"}}', r"field extra.per_rank_step_time_s\['1'\]"),
        ('"extra": {"bucket_bytes": [1, -2]}', r"field extra.bucket_bytes\[1\]: expected a finite number ≥ 0, got -2"),
        # round 29: the texts and flags the readers compare and print
        (
            '"extra": {"tcp_congestion_control": ["bbr"]}',
            "field extra.tcp_congestion_control: expected a text, got list",
        ),
        (
            '"extra": {"tcp_congestion_control": "\\u001b[31mbbr"}',
            "field extra.tcp_congestion_control: expected a printable",
        ),
        ('"extra": {"host": 5}', "field extra.host: expected a text, got int"),
        ('"extra": {"precision": "bf16\\nfp8"}', "field extra.precision: expected a printable text"),
        ('"extra": {"autocast": "yes"}', "field extra.autocast: expected true or false, got 'yes'"),
        ('"extra": {"ddp_at_one_rank": null}', "field extra.ddp_at_one_rank: expected true or false, got no value"),
        ('"extra": {"namespaces": "emu-1-br"}', "field extra.namespaces: expected a list of texts, got str"),
        ('"extra": {"namespaces": ["a", 1]}', "field extra.namespaces: expected a text, got int"),
        ('"scenario": "two\\nlines"', "field scenario: expected a printable text"),
    ],
)
def test_a_field_of_the_wrong_kind_is_one_error_naming_line_and_field(tmp_path: Path, edit: str, expected: str) -> None:
    """Round 28: NaN (read as no value), a string or a negative time reached the readers' arithmetic (a TypeError
    in ``validate_emulated --reuse``) or was averaged in silently."""
    import json

    data = RECORD.to_dict()
    name = edit.split('"')[1]
    data[name] = "@@"
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [RECORD])
    path.write_text(path.read_text() + json.dumps(data).replace(f'"{name}": "@@"', edit) + "\n")
    with pytest.raises(ScenarioError, match=f"line 2: {expected}") as info:
        read_jsonl(path)
    assert info.value.source == str(path) and "\n" not in info.value.one_line()


def test_every_amount_in_extra_a_record_writes_reads_back() -> None:
    """The rule on ``extra`` covers what the runtime and the engines write: lists and mappings of amounts, texts."""
    from dpsim.records import record_problem

    extra = {"per_rank_optimizer_faults": {"0": 0}, "bucket_bytes": 9e6, "host_load": {"other_cores": 0.0},
             "worker_end_s": [0.1, 0.2], "tcp_congestion_control_set": None, "backend": "gloo"}  # fmt: skip
    assert record_problem({**RECORD.to_dict(), "extra": extra}) is None
