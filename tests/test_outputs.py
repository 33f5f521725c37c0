"""Output files: written whole through one helper (dpsim.outputs.replaced), never over or through a link.

Every writer of the command line is given an output path that is a symbolic link, to an existing file and
to nowhere: each refuses with one line naming its option and the link (exit 2), the link and the file it
points to stay as they were, and nothing else appears in the folder. (They used to rename a regular file
over the link.)
"""

from __future__ import annotations

import os
from pathlib import Path

import hostile  # pytest puts tests/ on the path
import pytest

from dpsim.errors import ScenarioError

NCCL_TESTS = Path(__file__).parent / "data/nccl_tests/all_reduce_2gpu_a100_old-format-unprefixed.txt"
VARY = ["--vary", "training.micro_batch=1,2"]
PLAN = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--simulate", "0"]
VALIDATE = ["validate", "{s}", "--case", "training.micro_batch=2", "--set", "communication.algorithm=ring"]
VALIDATE += ["--out-dir", "{d}/v"]
WRITERS = [
    (["run", "{s}", "--engine", "sim", "--trace", "{o}"], "o.json", "--trace"),
    (["run", "{s}", "--engine", "sim", "--gantt", "{o}"], "o.png", "--gantt"),
    (["sweep", "{s}", *VARY, "--out", "{o}"], "o.csv", "--out"),
    (["sweep", "{s}", *VARY, "--plot", "{o}"], "o.png", "--plot"),
    (["sweep", "{s}", *VARY, "--out", "{d}/p.csv"], "p.csv.partial.jsonl", "--out"),  # the partial results
    (["report", "{d}/r.json", "-o", "{o}"], "o.html", "--output"),
    (["collective", "--sizes", "1MiB..4MiB", "--plot", "{o}"], "o.png", "--plot"),
    ([*PLAN, "--out", "{o}"], "o.csv", "--out"),
    ([*PLAN, "--plot", "{o}"], "o.png", "--plot"),
    (["calibrate", "--out", "{o}", "--from-nccl-tests", str(NCCL_TESTS)], "o.yaml", "--out"),
    (VALIDATE, "v/summary.json", "--out-dir"),
]


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "to-nowhere"])
@pytest.mark.parametrize(("argv", "name", "option"), WRITERS, ids=[f"{w[0][0]}-{w[1]}" for w in WRITERS])
def test_an_output_that_is_a_link_is_refused_and_nothing_is_written(
    argv: list[str], name: str, option: str, dangling: bool, tmp_path: Path
) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    code, out, _ = hostile.run_in_process(["run", str(tmp_path / "s.yaml"), "--format", "json"])
    assert code == 0
    (tmp_path / "r.json").write_text(out)
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("keep me\n")
    link = tmp_path / name
    link.parent.mkdir(exist_ok=True)
    os.symlink(victim, link)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = [a.replace("{s}", str(tmp_path / "s.yaml")).replace("{o}", str(link)).replace("{d}", str(tmp_path))
            for a in argv]  # fmt: skip
    code, _, err = hostile.run_in_process(args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert option in err and f"{str(link)!r} is a symbolic link (to {str(victim)!r})" in err
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_text() == "keep me\n" if not dangling else not victim.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_library_writers_refuse_a_link_too(tmp_path: Path) -> None:
    """save_profile, write_jsonl and write_chrome_trace write through dpsim.outputs.replaced as well."""
    from test_calibration import _profile

    from dpsim.calibration import save_profile
    from dpsim.records import write_jsonl

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for name, write in (("p.yaml", lambda p: save_profile(_profile(), p)), ("r.jsonl", lambda p: write_jsonl(p, [])),
                        ("a.jsonl", lambda p: write_jsonl(p, [], append=True))):  # fmt: skip
        os.symlink(victim, tmp_path / name)
        with pytest.raises(ScenarioError, match="is a symbolic link"):
            write(tmp_path / name)
        assert victim.read_text() == "keep me\n" and (tmp_path / name).is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "p.yaml", "r.jsonl", "victim.txt"]


def test_an_output_is_replaced_whole_with_the_usual_permissions(tmp_path: Path) -> None:
    """A regular file at the path is replaced by rename; a failure while writing leaves it as it was."""
    from dpsim.outputs import replaced

    path = tmp_path / "o.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), replaced(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed while writing")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]
    umask = os.umask(0o022)
    try:
        with replaced(path) as tmp:
            tmp.write_text("new\n")
    finally:
        os.umask(umask)
    assert path.read_text() == "new\n" and (path.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]
