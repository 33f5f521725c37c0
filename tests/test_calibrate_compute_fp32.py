"""``dpsim calibrate --compute --dtype fp32`` fits the GEMMs against the peak ``training.fp32_matmul`` names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from dpsim.cli import main

SCENARIO = """\
name: fp32
model: {kind: mlp, layers: 2, hidden: 32, parameters: 2112, flops_per_sample: 12672}
cluster:
  nodes: 1
  device: {peak_flops: 8 TFLOP/s, peak_flops_fp32: 4 TFLOP/s, peak_flops_fp32_ieee: 1 TFLOP/s, memory: 1 GB}
training: {global_batch: 1, micro_batch: 1, optimizer: sgd, precision: fp32}
"""


@pytest.mark.parametrize(("matmul", "peak"), [("ieee", 1e12), ("tf32", 4e12)])
def test_fp32_gemm_fit_is_against_the_peak_fp32_matmul_names(tmp_path: Path, matmul: str, peak: float) -> None:
    # fp32_matmul: ieee (the default, PyTorch's allow_tf32 False) is priced at peak_flops_fp32_ieee
    # (dpsim.compute.compute_device), so a fit against TF32's peak_flops_fp32 would put the
    # efficiency 4x low for every fp32 prediction made with it (the previous code: 4e12 for both)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    with pytest.raises(SystemExit) as done:
        main(["calibrate", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "p.yaml"), "--compute",
              "--gemm-sizes", "64,256", "--dtype", "fp32", "--set", f"training.fp32_matmul={matmul}"])  # fmt: skip
    assert done.value.code in (0, None)
    document = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert float(str(document["peak_flops"]).split()[0]) == peak
