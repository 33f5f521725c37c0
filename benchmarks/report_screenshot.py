"""Build a sample ``dpsim report`` page and screenshot it with headless Chromium.

Writes ``benchmarks/results/report.html`` and ``benchmarks/results/report_screenshot.png``
(needs ``chromium`` on PATH; the page itself needs nothing).

    PYTHONPATH=. python benchmarks/report_screenshot.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402
from test_html_report import _chromium, make_inputs, screenshot  # noqa: E402


def main() -> None:
    out = ROOT / "benchmarks" / "results"
    with tempfile.TemporaryDirectory() as folder:
        paths = make_inputs(Path(folder))
        page = out / "report.html"
        os.chdir(folder)  # the page names its inputs as given: relative names, no machine paths
        code, _, err = hostile.run_in_process(["report", *(p.name for p in paths), "-o", str(page)])
        if code != 0:
            raise SystemExit(err)
        browser = _chromium()
        if browser is None:
            raise SystemExit("no Chromium on PATH (apt-get install chromium)")
        png = out / "report_screenshot.png"
        screenshot(browser, page, png, Path(folder) / "profile", height=3000)
        print(f"wrote {page.relative_to(ROOT)} ({page.stat().st_size / 1e3:.0f} kB) and {png.relative_to(ROOT)}")
    os.chdir(ROOT)
    shutil.rmtree(Path(folder), ignore_errors=True)


if __name__ == "__main__":
    main()
