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
