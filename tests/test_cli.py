"""The command line contract: outputs, JSON fields, and one-line ``error:`` exits (status 2) on bad input."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpsim import execution
from dpsim.api import grid_points
from dpsim.cli import main, parse_vary
from dpsim.errors import ScenarioError
from dpsim.records import CORE_FIELDS
from dpsim.scenario import load_scenario
from tests.hostile import PROGRESS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``dpsim ARGS`` in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")


# --- run -------------------------------------------------------------------------------------


def test_run_json_gives_the_memory_of_every_pipeline_stage(capsys: pytest.CaptureFixture[str]) -> None:
    """``extra.memory_per_stage_bytes``: one total per stage, the worst is the device's memory, and the
    allocator reserve (training.memory_reserve, a fraction of capacity) is added to every stage."""
    pipelined = ("--set", "training.pipeline_parallel=4", "--set", "training.global_batch=auto")
    runs = []
    for reserve in ("0", "0.1"):
        code, out, err = cli(
            capsys, "run", "--format", "json", *pipelined, "--set", f"training.memory_reserve={reserve}"
        )
        assert code == 0, err
        runs.append(json.loads(out))
    plain, reserved = runs
    stages = plain["extra"]["memory_per_stage_bytes"]
    assert len(stages) == 4
    assert plain["memory_per_device_bytes"] == max(stages)
    capacity = plain["memory_capacity_bytes"]
    assert reserved["extra"]["memory_per_stage_bytes"] == pytest.approx([m + 0.1 * capacity for m in stages])


def test_run_json_has_the_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    for name in CORE_FIELDS:
        assert name in data
    assert data["engine"] == "analytic"
    assert data["world_size"] == 64
    assert data["scenario"] == "gpt2-xl-on-64-a100"


def test_run_set_changes_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    textbook = ("--set", "communication.algorithm=ring", "--set", "communication.protocol=none")
    _, out1, _ = cli(
        capsys, "run", str(DEFAULT), "--format", "json", *textbook, "--set", "cluster.inter_node.bandwidth=192 Gbit/s"
    )
    _, out2, _ = cli(
        capsys, "run", str(DEFAULT), "--format", "json", *textbook, "--set", "cluster.inter_node.bandwidth=24 Gbit/s"
    )
    slow, fast = json.loads(out2), json.loads(out1)
    assert slow["step_time_s"] > fast["step_time_s"]
    # ring over 64 ranks on 8 rails: per bucket 2·63·α (α = 5 us) + 2·63/64·S/(8B); B drops 8× (192 → 24 Gbit/s),
    # both below the A100's PCIe link to its NIC (24.0 GB/s), which therefore never sets the pace
    latency = fast["extra"]["buckets"] * 2 * 63 * 5e-6
    assert slow["comm_s"] - latency == pytest.approx(8 * (fast["comm_s"] - latency), rel=1e-9)


def test_run_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert set(CORE_FIELDS) <= set(rows[0])
    code, out, _ = cli(capsys, "run")
    assert code == 0
    assert "step_time_s" in out and "samples_per_s" in out


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_run_every_bundled_scenario(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = cli(capsys, "run", str(path), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    parts = data["compute_s"] + data["exposed_comm_s"] + data["bubble_s"] + data["optimizer_s"]
    assert data["step_time_s"] == pytest.approx(parts, rel=1e-12)


def test_trace_needs_the_simulator(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "run", "--trace", str(tmp_path / "t.json"))
    assert_one_line_error(code, err)
    assert "--engine sim" in err
    assert not (tmp_path / "t.json").exists()


# --- sweep -----------------------------------------------------------------------------------


def test_sweep_writes_csv_and_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_csv, out_png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    code, out, err = cli(
        capsys,
        "sweep",
        str(DEFAULT),
        "--vary",
        "cluster.nodes=1,2,4,8",
        "--vary",
        "communication.algorithm=ring,hierarchical",
        "--out",
        str(out_csv),
        "--plot",
        str(out_png),
    )
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 8
    assert [r["cluster.nodes"] for r in rows[::2]] == ["1", "2", "4", "8"]
    assert {r["communication.algorithm"] for r in rows} == {"ring", "hierarchical"}
    assert [int(r["world_size"]) for r in rows[::2]] == [8, 16, 32, 64]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cluster.nodes" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.png"]  # no temporary files left


def test_sweep_csv_writes_list_values_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A ``--vary`` value that is a list (``communication.nccl_proto=[LL128,Simple]``) was written by pandas in
    Python's repr, ``['LL128', 'Simple']``, which no JSON or YAML reader takes back as the list; the CSV (stdout and
    ``--out``) and the table now write it as JSON, as ``--format json`` gives it."""
    out_csv = tmp_path / "s.csv"
    vary = ["--vary", "communication.nccl_proto=[Simple],[LL128,Simple]", "--vary", "training.micro_batch=2,4"]
    code, out, err = cli(capsys, "sweep", str(DEFAULT), *vary, "--format", "csv", "--out", str(out_csv))
    assert code == 0, err
    for text in (out, out_csv.read_text(encoding="utf-8")):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [json.loads(r["communication.nccl_proto"]) for r in rows] == [["Simple"]] * 2 + [["LL128", "Simple"]] * 2
        assert [r["training.micro_batch"] for r in rows] == ["2", "4", "2", "4"]
    code, out, err = cli(capsys, "sweep", str(DEFAULT), *vary, "--format", "json")
    assert [r["communication.nccl_proto"] for r in json.loads(out)] == [["Simple"]] * 2 + [["LL128", "Simple"]] * 2
    code, out, err = cli(capsys, "sweep", str(DEFAULT), *vary)
    assert '["LL128", "Simple"]' in out and "'Simple'" not in out


def test_sweep_json_and_svg(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--vary", "communication.bucket=1 MiB,25 MiB,1 GiB", "--format", "json",
        "--plot", str(tmp_path / "p.svg"),
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert [r["communication.bucket"] for r in rows] == ["1 MiB", "25 MiB", "1 GiB"]
    assert all(name in rows[0] for name in CORE_FIELDS)
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


def test_sweep_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    code, _, err = cli(
        capsys, "sweep", str(DEFAULT), "--vary", "training.zero_stage=0,1,2,3", "--out", str(tmp_path / "s.parquet")
    )
    assert code == 0, err
    frame = pd.read_parquet(tmp_path / "s.parquet")
    assert list(frame["training.zero_stage"]) == [0, 1, 2, 3]


def test_sweep_parquet_holds_what_the_csv_holds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A list ``--vary`` value, or values of two types in one column (``auto`` beside 512), were a pyarrow traceback
    (parquet types a column once) or a list column no CSV reader shares: each cell is now the CSV's own text."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    for vary in ("training.global_batch=auto,512", "communication.nccl_proto=[LL128,Simple],LL",
                 "communication.nccl_proto=[LL128,Simple],[LL]"):  # fmt: skip
        outs = [tmp_path / "s.csv", tmp_path / "s.parquet"]
        for out in outs:
            code, _, err = cli(capsys, "sweep", str(DEFAULT), "--vary", vary, "--out", str(out))
            assert code == 0 and not err, err
        path = vary.split("=")[0]
        with (tmp_path / "s.csv").open(newline="") as f:
            written = [row[path] for row in csv.DictReader(f)]
        frame = pd.read_parquet(tmp_path / "s.parquet")
        assert list(frame[path]) == written, vary
        assert frame["step_time_s"].dtype == float
    assert written == ['["LL128", "Simple"]', '["LL"]']  # JSON, as --format json writes the lists


def test_parse_vary() -> None:
    assert parse_vary(["a.b=1,2,3"]) == {"a.b": [1, 2, 3]}
    assert parse_vary(["a=[1, 2],[3]", "c=x"]) == {"a": [[1, 2], [3]], "c": ["x"]}
    assert parse_vary(["s={worker: 1, slowdown: 2},{worker: 2, slowdown: 3}"])["s"][1] == {"worker": 2, "slowdown": 3}
    for bad in (["nonsense"], ["a=1,,2"], ["=1"], ["a=1", "a=2"], ["a=[1"]):
        with pytest.raises(ScenarioError):
            parse_vary(bad)
    # values are read as --set reads them: YAML 1.2 core (010 is ten, yes is text), no tags
    assert parse_vary(["a=010,yes,0o10"]) == {"a": [10, "yes", 8]}
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_vary(["a=!!int 1,2"])
    # a value listed twice would run (and print) the same grid point twice; 1, 1.0 and true are different values
    assert parse_vary(["a=1,1.0,true,'1'"]) == {"a": [1, 1.0, True, "1"]}
    for repeated in (["a=1,2,1"], ["a=[1, 2],[1,2]"], ["a={x: 1, y: 2},{y: 2, x: 1}"], ["a=x,'x'"]):
        with pytest.raises(ScenarioError, match="more than once") as info:
            parse_vary(repeated)
        assert info.value.field == "--vary"


def test_sweep_refuses_a_repeated_value_before_running(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "s.csv"
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--vary", "cluster.nodes=1,2", "--vary", "training.zero_stage=1,1",
        "--out", str(out_file),
    )  # fmt: skip
    assert_one_line_error(code, err)
    assert out == "" and "--vary" in err and "training.zero_stage" in err and "'1'" in err
    assert not out_file.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ScenarioError, match="more than once"):  # the Python API's grid too
        grid_points({"training.zero_stage": [0, 2, 0]})


def test_sweep_names_no_set_value_that_the_grid_replaces(capsys: pytest.CaptureFixture[str]) -> None:
    """A field both set and varied runs the --vary values; the rows' name must not claim the --set one."""
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--set", "training.zero_stage=1", "--set", "communication.bucket=50 MB",
        "--vary", "training.zero_stage=0,2", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert [r["training.zero_stage"] for r in rows] == [0, 2] and [r["zero_stage"] for r in rows] == [0, 2]
    # the bucket was set and not varied: it stays in the name; the replaced zero_stage=1 does not
    assert [r["scenario"] for r in rows] == ["gpt2-xl-on-64-a100 [communication.bucket=50 MB]"] * 2
    # round 36: the replaced --set is read by no row, and every row says so (the table under it)
    replaced = "training.zero_stage: set by --set, replaced at every grid point by --vary training.zero_stage"
    assert rows[0]["ignored_fields"] == replaced  # at ZeRO-2 the bucket is ignored too, listed first
    assert rows[1]["ignored_fields"].startswith("communication.bucket: ") and rows[1]["ignored_fields"].endswith(
        f"; {replaced}"
    )
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--set", "training.zero_stage=1", "--vary", "training.zero_stage=0,2",
    )  # fmt: skip
    assert code == 0 and f"ignored: {replaced}\n" in out + "\n", err
    # a --set inside a varied section is replaced too; one above a varied field still shapes the rest
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--set", "cluster.inter_node.nics_per_node=4",
        "--vary", "cluster.inter_node={preset: ib-hdr, nics_per_node: 8}", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)[0]["scenario"] == "gpt2-xl-on-64-a100"
    assert json.loads(out)[0]["ignored_fields"] == (
        "cluster.inter_node.nics_per_node: set by --set, replaced at every grid point by --vary cluster.inter_node"
    )
    code, out, err = cli(
        capsys, "sweep", str(DEFAULT), "--set", "cluster.inter_node={preset: ib-hdr, nics_per_node: 4}",
        "--vary", "cluster.inter_node.nics_per_node=2,8", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert [r["scenario"] for r in json.loads(out)] == ["gpt2-xl-on-64-a100 [cluster.inter_node]"] * 2
    assert [r.get("ignored_fields") for r in json.loads(out)] == [None] * 2  # above the varied field: it shapes them


# --- check and catalog -----------------------------------------------------------------------


def test_check_summary_and_dump(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "check", str(DEFAULT))
    assert code == 0
    assert "valid" in out and "DP 64" in out and "accumulation 2" in out
    code, out, _ = cli(capsys, "check", str(DEFAULT), "--dump", "--set", "training.zero_stage=2")
    assert code == 0
    dumped = tmp_path / "d.yaml"
    dumped.write_text(out)
    assert load_scenario(dumped) == load_scenario(DEFAULT, overrides=["training.zero_stage=2"])


def test_check_names_the_gradient_pieces_the_engines_reduce(capsys: pytest.CaptureFixture[str]) -> None:
    """``dpsim check``'s gradient line says how the step cuts the gradient: DDP's buckets of
    ``communication.bucket``, FSDP's wrapped units, DeepSpeed's ``reduce_bucket_size`` buckets. It said "N buckets
    of 25 MB" for all three, where FSDP and DeepSpeed leave ``communication.bucket`` unread (a Llama-3-8B FSDP job on
    32 H100: "37 buckets of 25 MB" for 37 pieces of 436.2 MB)."""
    from dpsim.analytic.step import predict
    from dpsim.units import format_size

    cases = {
        "ddp": ([], "96 buckets of 25 MB"),
        "fsdp": (["training.zero_stage=3", "training.optimizer_sharding=fsdp"], "reduce-scatters of a wrapped unit"),
        "deepspeed": (["training.zero_stage=2", "training.optimizer_sharding=zero"], "DeepSpeed's reduce_bucket_size"),
    }
    for overrides, expected in cases.values():
        code, out, _ = cli(capsys, "check", str(DEFAULT), *(a for o in overrides for a in ("--set", o)))
        line = next(x for x in out.splitlines() if "gradient / device" in x)
        extra = predict(load_scenario(DEFAULT, overrides)).extra
        assert code == 0 and expected in line and f" {int(extra['buckets'])} " in line, line
        if overrides:
            assert "25 MB" not in line and format_size(extra["bucket_bytes"]) in line, line


def test_check_names_the_data_parallel_collectives_the_engines_run(capsys: pytest.CaptureFixture[str]) -> None:
    """``dpsim check``'s collectives row names what the step runs: the row was "all-reduce" under FSDP and ZeRO-3 too,
    which reduce-scatter the gradients and all-gather the parameters. Checked against the bytes the analytic engine
    moves per kind (``extra.traffic_bytes_per_step``)."""
    from dpsim.analytic.step import predict

    cases = {
        "ddp": ([], "all-reduce of the gradients; auto, overlap on"),
        "zero1": (["training.zero_stage=1"], "reduce-scatter of the gradients, all-gather of the updated parameters;"),
        "zero3": (
            ["training.zero_stage=3"],
            "reduce-scatter of the gradients, all-gather of the parameters before the forward and the backward;",
        ),
        "fsdp2": (
            ["training.zero_stage=2", "training.optimizer_sharding=fsdp"],
            "reduce-scatter of the gradients, all-gather of the parameters before the forward;",
        ),
        "hsdp": (
            ["training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_shard_group=8"],
            "reduce-scatter of the gradients, all-reduce of each shard across 8 replicas, all-gather",
        ),
        "torch": (
            ["training.zero_stage=1", "training.optimizer_sharding=torch"],
            "all-reduce of the gradients, broadcast of the updated parameters from their owners;",
        ),
        "one rank": (["cluster.nodes=1", "cluster.workers_per_node=1", "training.global_batch=8"], "none (one"),
    }
    for overrides, expected in cases.values():
        code, out, _ = cli(capsys, "check", str(DEFAULT), *(a for o in overrides for a in ("--set", o)))
        line = " ".join(next(x for x in out.splitlines() if "DP collectives" in x).split())
        traffic = predict(load_scenario(DEFAULT, overrides)).extra["traffic_bytes_per_step"]
        assert code == 0 and expected in line, line
        assert ("all-gather" in line) == (traffic["parameter_gather"] > 0), (line, traffic)
        assert ("replicas" in line) == (traffic["replica_allreduce"] > 0), (line, traffic)
        assert ("broadcast" in line) == (traffic.get("parameter_broadcast", 0) > 0), (line, traffic)


def test_check_dump_json_is_the_dumped_scenario_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--dump --format json``: the mapping --dump prints as YAML, as one JSON object; it loads back."""
    overrides = ("--set", "training.zero_stage=2", "--set", "variability.stragglers=[{worker: 3, slowdown: 1.5}]")
    code, out, _ = cli(capsys, "check", str(DEFAULT), "--dump", "--format", "json", *overrides)
    assert code == 0
    data = json.loads(out)  # one JSON object, not YAML
    _, yaml_out, _ = cli(capsys, "check", str(DEFAULT), "--dump", *overrides)
    assert data == yaml.safe_load(yaml_out)
    assert data["training"]["zero_stage"] == 2 and data["variability"]["stragglers"][0]["worker"] == 3
    dumped = tmp_path / "d.json"
    dumped.write_text(out)
    assert load_scenario(dumped) == load_scenario(DEFAULT, overrides=[overrides[1], overrides[3]])
    code, out, _ = cli(capsys, "check", str(DEFAULT), "--dump", "--format", "json", "--set", "training.zero_stage=7")
    assert code == 2 and json.loads(out)["valid"] is False  # an invalid scenario: the error object, exit 2


@pytest.mark.parametrize("kind", ["devices", "links", "models"])
def test_catalog(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    from dpsim import catalog

    code, out, _ = cli(capsys, "catalog", kind, "--format", "json")
    assert code == 0
    names = {row["name"] for row in json.loads(out)}
    tables: dict[str, Any] = {"devices": catalog.DEVICES, "links": catalog.LINKS, "models": catalog.MODELS}
    assert names == set(tables[kind])
    code, out, _ = cli(capsys, "catalog", kind)
    assert code == 0 and all(name in out for name in names)


def test_catalog_all_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "catalog", "--format", "csv")
    assert code == 0
    assert "a100-80gb" in out and "ib-hdr" in out and "gpt2-xl" in out


# --- bad input: one line, exit 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["run", "/nonexistent/s.yaml"],
        ["run", "--format", "xml"],
        ["run", "--engine", "quantum"],
        ["run", "--set", "cluster.nodes"],
        ["run", "--set", "cluster.nodes=-3"],
        ["run", "--set", "cluster.inter_node.bandwidth=100"],
        ["run", "--set", "training.zero_stag=1"],
        ["run", "--set", "communication.dtype=fp64"],
        ["run", "--set", "training.fsdp_no_sync=true"],
        ["run", "--set", "training.fsdp_no_sync=[1]"],
        ["run", "--set", "cluster.intra_node={latency: 3 us}"],
        ["run", "--set", "cluster.intra_node=pcie4", "--set", "cluster.host_link.latency=1 us"],
        ["run", "--bogus-option"],
        ["run", "--gantt", "g.png"],
        ["sweep", str(DEFAULT)],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=1,,2"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=3"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=1", "--format", "yaml"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=1", "--out", "/nonexistent/dir/x.csv"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=1", "--out", "x.xlsx"],
        ["sweep", str(DEFAULT), "--vary", "cluster.nodes=1", "--plot", "x.gif"],
        ["sweep", "/nonexistent/s.yaml", "--vary", "cluster.nodes=1"],
        ["check", "/nonexistent/s.yaml"],
        ["check"],
        ["catalog", "gpus"],
        ["catalog", "--format", "html"],
        ["nosuchcommand"],
    ],
)
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], args: list[str], tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = cli(capsys, *args)
    finally:
        os.chdir(cwd)
    assert_one_line_error(code, err)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unwritable_out_leaves_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = tmp_path / "is-a-dir.csv"
        target.mkdir()
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "x.csv"
    code, _, err = cli(capsys, "sweep", str(DEFAULT), "--vary", "cluster.nodes=1,2", "--out", str(target))
    assert_one_line_error(code, err)


@pytest.mark.parametrize("module", ["dpsim.cli", "dpsim"])
def test_subprocess_entry_point(module: str) -> None:
    """The console script itself (``python -m dpsim`` too): JSON on success, one ``error:`` line and status 2 on bad
    input."""
    env = {**os.environ, "COLUMNS": "80"}
    ok = subprocess.run(
        [sys.executable, "-m", module, "run", "--format", "json"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["engine"] == "analytic"
    bad = subprocess.run(
        [sys.executable, "-m", module, "run", "--set", "cluster.inter_node.bandwidth=fast"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert_one_line_error(bad.returncode, bad.stderr)
    assert bad.stderr.startswith("error: ")
    assert "cluster.inter_node.bandwidth" in bad.stderr


# --- fuzz: malformed scenarios never produce a traceback -------------------------------------

BASE_DATA: dict[str, Any] = yaml.safe_load(DEFAULT.read_text())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


PATHS = _paths(BASE_DATA)
WRONG_VALUES = [None, "abc", -1, 0, 1.5, -2.5, [], {}, True, "-5 Gbit/s", "7 furlongs", [1, 2], {"x": 1}, "1e400 B"]


def _strip_unit(value: Any) -> Any:
    if isinstance(value, str) and value[:1].isdigit():
        number = value.split()[0]
        try:
            return float(number)
        except ValueError:
            return number
    return value


def _negate(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return -value
    if isinstance(value, str) and value[:1].isdigit():
        return "-" + value
    return value


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(BASE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            key = path[-1]
            value = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        kind = draw(st.sampled_from(["drop", "rename", "wrong", "strip", "negate"]))
        if kind == "drop" and isinstance(parent, dict):
            del parent[key]
        elif kind == "rename" and isinstance(parent, dict):
            parent[f"{key}{draw(st.sampled_from(['s', '_', 'x']))}"] = parent.pop(key)
        elif kind == "wrong":
            parent[key] = draw(st.sampled_from(WRONG_VALUES))
        elif kind == "strip":
            parent[key] = _strip_unit(value)
        elif kind == "negate":
            parent[key] = _negate(value)
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_malformed_scenarios_never_traceback(capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.yaml"
        path.write_text(yaml.safe_dump(data))
        code, out, err = cli(capsys, "run", str(path), "--format", "json")
    if code == 0:
        assert set(CORE_FIELDS) <= set(json.loads(out))
    else:
        assert_one_line_error(code, err)
        assert str(path) in err


# --- the Python API behind the commands ------------------------------------------------------


def test_api_run_accepts_paths_scenarios_and_overrides() -> None:
    import dpsim

    by_path = dpsim.run(DEFAULT, overrides=["cluster.nodes=4"])
    by_object = dpsim.run(load_scenario(DEFAULT), overrides=[("cluster.nodes", 4)])
    assert by_path.world_size == by_object.world_size == 32
    assert by_path.step_time_s == by_object.step_time_s
    assert dpsim.run().scenario == "gpt2-xl-on-64-a100"


def test_api_sweep_preset_change_on_a_resolved_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """Setting a preset on a resolved scenario replaces the old preset's numbers, not just its name."""
    import dpsim
    from dpsim import catalog

    frame = dpsim.sweep(load_scenario(DEFAULT), {"cluster.device.preset": ["a100-80gb", "h100-sxm"]}, progress=True)
    for i, name in enumerate(("a100-80gb", "h100-sxm")):
        fresh = dpsim.run(load_scenario(DEFAULT, overrides=[f"cluster.device={name}"]))
        assert frame["compute_s"].iloc[i] == pytest.approx(fresh.compute_s, rel=1e-12)
    assert catalog.DEVICES["h100-sxm"].peak_flops > catalog.DEVICES["a100-80gb"].peak_flops
    assert frame["compute_s"].iloc[1] < frame["compute_s"].iloc[0]
    frame2 = dpsim.sweep(DEFAULT, {"cluster.device": ["a100-80gb", "h100-sxm"]})
    assert list(frame2["compute_s"]) == pytest.approx(list(frame["compute_s"]), rel=1e-12)
    capsys.readouterr()


def test_api_sweep_rejects_bad_grids() -> None:
    import dpsim

    with pytest.raises(ScenarioError, match="non-empty list"):
        dpsim.sweep(DEFAULT, {"cluster.nodes": []})
    with pytest.raises(ScenarioError, match="grid point"):
        dpsim.sweep(DEFAULT, {"cluster.nodes": [1, 3]})


def test_a_sweep_that_fails_says_so_in_one_line_whatever_it_replaced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A sweep with an earlier run's partial results beside ``--out`` printed 'note: ... is replaced' before
    running, then the error of a point that could not run: two lines on stderr (and a 1,000-point sweep its
    'sweep: 1,000 points' line before the error). Now the note is part of the one error line of a sweep that
    fails after it started; a sweep refused before it starts (the simulator builds every point first) leaves the
    earlier file as it was and says nothing of it, one that finishes prints nothing on stderr."""
    out = tmp_path / "o.csv"
    partial = tmp_path / "o.csv.partial.jsonl"
    sweep = ("sweep", DEFAULT, "--set", "training.global_batch=64", "--set", "training.micro_batch=1", "--out", out)
    partial.write_text('{"fingerprint": "an earlier run"}\n', encoding="utf-8")
    code, _, err = cli(capsys, *sweep, "--vary", "training.micro_batch=1,3")  # 64 / (64 x 3): not whole
    assert_one_line_error(code, err)
    assert "micro_batch=3" in err and "o.csv.partial.jsonl from an earlier run was replaced" in err
    partial.write_text('{"fingerprint": "an earlier run"}\n', encoding="utf-8")
    code, _, err = cli(capsys, *sweep, "--vary", "training.micro_batch=1,3", "--engine", "sim")
    assert_one_line_error(code, err)
    assert "replaced" not in err and partial.read_text(encoding="utf-8") == '{"fingerprint": "an earlier run"}\n'
    seeds = ",".join(str(seed) for seed in range(500))
    # a loaded host (load 13, stop 50) outlasts the progress interval on the 1,000 points: its status lines
    # ('analytic sweep: 781/1000 points (78 %), 14 s, ~4 s left', dpsim.execution.ProgressReporter) come before the
    # error and are not errors. Here every point reports (interval 0), so the test reads alike on any host.
    reporter = execution.ProgressReporter.__init__
    with monkeypatch.context() as every_point:
        every_point.setattr(execution.ProgressReporter, "__init__", lambda *a, **k: reporter(*a, **k, interval_s=0))
        code, _, err = cli(capsys, *sweep, "--vary", f"variability.seed={seeds}", "--vary", "training.micro_batch=1,3")
    assert PROGRESS.match(err.splitlines()[0])
    assert_one_line_error(code, "\n".join(line for line in err.splitlines() if not PROGRESS.match(line)))
    code, _, err = cli(capsys, *sweep, "--vary", "variability.seed=0,1")
    assert code == 0 and err == "" and out.exists() and not partial.exists()


def test_a_sweep_that_needs_yes_is_timed_first_and_refused_past_the_cost_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stop 44: ``dpsim sweep --yes`` (more than 100,000 points) had no time limit with the closed forms: a million
    points at the 1–16 ms a point takes here ran for 17 minutes to 4.4 hours. Such a sweep now times 16 of its points
    (spread over the grid) and is refused past the cost guard's 5 minutes unless ``--allow-long``, before anything is
    written. Here the grid's 4 points stand for more than 100,000 and the clock says 100 s a point."""
    import itertools

    from dpsim import api

    monkeypatch.setattr(api, "SWEEP_CONFIRM_POINTS", 3)  # the CLI's --yes check keeps its own 100,000
    clock = itertools.count(0.0, 100.0)
    monkeypatch.setattr(api, "_clock", lambda: next(clock))
    out = tmp_path / "o.csv"
    sweep = ("sweep", str(DEFAULT), "--vary", "training.learning_rate=1e-4,2e-4,3e-4,4e-4", "--out", str(out))
    code, _, err = cli(capsys, *sweep)
    assert_one_line_error(code, err)
    expected = ("error: <cost guard>: this sweep of 4 points would run for about 6.67 minutes (1e+05 ms a point, "
                "the mean of 4 points spread over the grid; limit 5 minutes); pass --allow-long")  # fmt: skip
    assert err.startswith(expected), err
    assert not any(tmp_path.iterdir())  # nothing written: neither the table nor its partial results
    code, _, err = cli(capsys, *sweep, "--allow-long")
    assert code == 0, err
    assert len(list(csv.DictReader(out.open()))) == 4
    monkeypatch.setattr(api, "SWEEP_CONFIRM_POINTS", 4)  # no more points than the threshold: not timed, as before
    monkeypatch.setattr(api, "_clock", lambda: pytest.fail("a sweep that does not need --yes was timed"))
    code, _, err = cli(capsys, *sweep)
    assert code == 0, err
