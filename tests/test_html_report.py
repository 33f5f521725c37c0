"""``dpsim report``: one self-contained HTML page, checked by parsing it (and by a headless-Chromium screenshot)."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import hostile
import pytest

# the fast level: the other workers finish each collective together, so their rows collapse into one
SMALL_SIM = [
    "--set", "variability.stragglers=[{worker: 2, slowdown: 1.4}]",
    "--set", "simulation.fidelity=fast",
    "--engine", "sim",
]  # fmt: skip


class _Page(HTMLParser):
    """Collects what the tests look at: headings, tables, SVGs, anything that could load from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tags: dict[str, int] = {}
        self.external: list[str] = []
        self.oom_rows = 0
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        values = dict(attrs)
        self._in_h2 = tag == "h2"
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.external.append(tag)
        for name in ("src", "href"):
            value = values.get(name) or ""
            if name in values and not value.startswith("#"):
                self.external.append(f"{tag} {name}={value}")
        if tag == "tr" and values.get("class") == "oom":
            self.oom_rows += 1

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False


def make_inputs(folder: Path) -> list[Path]:
    """A run (out of memory), its trace, a sweep, a plan, a scenario and a validation table."""
    (folder / "s.yaml").write_text(hostile.SMALL)
    run = ["run", str(folder / "s.yaml"), "--format", "json", "--set", "model=llama2-7b"]
    code, out, err = hostile.run_in_process(run)
    assert code == 0, err
    (folder / "run.json").write_text(out)
    code, _, err = hostile.run_in_process(
        ["run", str(folder / "s.yaml"), *SMALL_SIM, "--trace", str(folder / "t.json")]
    )
    assert code == 0, err
    code, out, err = hostile.run_in_process(
        ["sweep", str(folder / "s.yaml"), "--vary", "cluster.nodes=1,2,4", "--set", "training.global_batch=auto",
         "--format", "json"]
    )  # fmt: skip
    assert code == 0, err
    (folder / "sweep.json").write_text(out)
    code, out, err = hostile.run_in_process(
        ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "16", "--price", "2", "--format", "json",
         "--no-progress", "--simulate", "0", "--top", "3"]
    )  # fmt: skip
    assert code == 0, err
    (folder / "plan.json").write_text(out)
    (folder / "validation.csv").write_text(
        "case,ranks,algorithm,measured_step_time_s,predicted_step_time_s,error_step_time_s_pct\n"
        "a,2,ring,0.100,0.110,10.0\nb,4,ring,0.200,0.190,-5.0\n"
    )
    return [folder / n for n in ("run.json", "t.json", "sweep.json", "plan.json", "s.yaml", "validation.csv")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("report")
    paths = make_inputs(folder)
    code, _, err = hostile.run_in_process(["report", *map(str, paths), "-o", str(folder / "report.html")])
    assert code == 0, err
    return folder / "report.html", paths


def test_the_page_has_every_section_and_loads_nothing(report: tuple[Path, list[Path]]) -> None:
    path, inputs = report
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    kinds = [h.split(":")[0].split(" (")[0] for h in page.headings]
    assert kinds == ["Run", "Gantt", "Sweep", "Plan", "Scenario", "Validation", "Provenance"], page.headings
    assert page.external == []  # no script, stylesheet, image or frame from anywhere
    assert not re.search(r"url\((?!#)", text) and "@import" not in text  # only in-page references (SVG clips)
    assert page.tags["svg"] >= 4  # breakdown, Gantt, sweep plots, validation plot
    assert page.tags["table"] >= 5
    assert page.oom_rows == 1 and "OUT OF MEMORY" in text  # the run is out of memory: highlighted
    for item in inputs:  # provenance names each input with its SHA-256
        assert hashlib.sha256(item.read_bytes()).hexdigest()[:16] in text
    assert re.search(r"rows, top to bottom: [0-9]+ workers: ", text)  # identical workers collapsed into one row
    assert "worker 2 (straggler x1.4" in text


def test_inputs_that_are_not_results_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    for name in ("x.json", "x.csv"):
        code, _, err = hostile.run_in_process(["report", str(tmp_path / name), "-o", str(tmp_path / "r.html")])
        assert (code == 2 and err.count("\n") == 1 and "not a dpsim result" in err) or "none of the columns" in err
    code, _, err = hostile.run_in_process(["report", str(tmp_path / "x.json"), "-o", str(tmp_path / "r.pdf")])
    assert code == 2 and "--output" in err
    assert not (tmp_path / "r.html").exists()


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(browser: str, page: Path, png: Path, profile: Path, width: int = 1280, height: int = 2400) -> None:
    """Headless Chromium screenshot of ``page`` with networking features off and a fresh profile."""
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_headless_chromium_renders_the_page(report: tuple[Path, list[Path]], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium) for the screenshot check")
    png = tmp_path / "report.png"
    screenshot(browser, report[0], png, tmp_path / "profile")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000  # a rendered page, not a blank one (blank is a few kB)


def test_a_list_vary_value_is_written_as_json(tmp_path: Path) -> None:
    """A sweep's list ``--vary`` value (``communication.nccl_proto=[LL128,Simple]``) is a cell of JSON text, as the
    sweep's CSV and table write it; the page wrote Python's ``['LL128', 'Simple']``."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    code, out, err = hostile.run_in_process(
        ["sweep", str(tmp_path / "s.yaml"), "--vary", "communication.nccl_proto=[LL128,Simple],[LL]", "--format",
         "json"]
    )  # fmt: skip
    assert code == 0, err
    assert [row["communication.nccl_proto"] for row in json.loads(out)] == [["LL128", "Simple"], ["LL"]]
    (tmp_path / "sweep.json").write_text(out)
    code, _, err = hostile.run_in_process(["report", str(tmp_path / "sweep.json"), "-o", str(tmp_path / "r.html")])
    assert code == 0, err
    cells = re.findall(r'<td class="l">([^<]*)</td>', (tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "[&quot;LL128&quot;, &quot;Simple&quot;]" in cells and "[&quot;LL&quot;]" in cells, cells
    assert not any("&#x27;" in cell for cell in cells)


def test_a_run_lists_its_ignored_fields(tmp_path: Path) -> None:
    """A field set and read by nothing is a row ``ignored: FIELD`` of the run's table, as ``dpsim run`` names it under
    its own (the page dropped ``extra.ignored_fields``: a value accepted without a word)."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    code, out, err = hostile.run_in_process(
        ["run", str(tmp_path / "s.yaml"), "--set", "training.pipeline_schedule=interleaved", "--format", "json"]
    )
    assert code == 0, err
    why = json.loads(out)["extra"]["ignored_fields"]["training.pipeline_schedule"]
    (tmp_path / "run.json").write_text(out)
    code, _, err = hostile.run_in_process(["report", str(tmp_path / "run.json"), "-o", str(tmp_path / "r.html")])
    assert code == 0, err
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    row = re.search(r'<td class="l">ignored: training\.pipeline_schedule</td><td class="">([^<]*)</td>', text)
    assert row is not None and html.unescape(row.group(1)) == why


def test_a_runtime_record_shows_the_optimizer_update_it_ran(tmp_path: Path) -> None:
    """Stop 43: a runtime record's ``extra.optimizer_update`` (fused / foreach / for-loop) is a row of the run's
    table; a prediction has none."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    code, out, err = hostile.run_in_process(["run", str(tmp_path / "s.yaml"), "--format", "json"])
    assert code == 0, err
    record = json.loads(out)
    record["extra"]["optimizer_update"] = "for-loop"
    for name, data in (("measured", record), ("predicted", json.loads(out))):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
        code, _, err = hostile.run_in_process(
            ["report", str(tmp_path / f"{name}.json"), "-o", str(tmp_path / "r.html")]
        )
        assert code == 0, err
        row = re.search(
            r'<td class="l">optimizer update</td><td class="">([^<]*)</td>', (tmp_path / "r.html").read_text()
        )
        assert (row.group(1) if row else None) == ("for-loop" if name == "measured" else None)


def test_a_csv_row_cut_short_is_refused_with_its_line(tmp_path: Path) -> None:
    """A sweep's CSV copied while it was written ends in a row with fewer fields than the header; pandas filled the
    missing cells with NaN and the page drew part of a row (``2,0.``: a step of 0 s, exit 0). dpsim writes an empty
    cell as one, so such a row is refused naming its line, before a page is written; a whole sweep written by
    ``dpsim sweep --out`` and the same table with an empty cell draw as before."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    whole = tmp_path / "sweep.csv"
    vary = ["--vary", "training.micro_batch=1,2", "--vary", "training.zero_stage=0,1"]
    argv = ["sweep", str(tmp_path / "s.yaml"), *vary, "--out", str(whole)]
    assert hostile.run_in_process(argv)[0] == 0
    text = whole.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = len(lines[0].split(","))
    cut = tmp_path / "cut.csv"
    for end in (2, header // 2, header - 1):
        cut.write_text("\n".join([*lines[:3], ",".join(lines[3].split(",")[:end])]), encoding="utf-8")
        code, _, err = hostile.run_in_process(["report", str(cut), "-o", str(tmp_path / "r.html")])
        assert code == 2 and err.count("\n") == 1, err
        assert f"line 4: a row of {end} of the header's {header} fields" in err
        assert not (tmp_path / "r.html").exists()
    for table in (text, text.replace("\n", "\r\n"), text + "\n\n", text.rstrip("\n")):
        whole.write_text(table, encoding="utf-8", newline="")
        assert hostile.run_in_process(["report", str(whole), "-o", str(tmp_path / "r.html")])[0] == 0
