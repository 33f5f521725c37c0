#!/usr/bin/env bash
# Create .venv and install dpsim with what it needs. torch is pinned (torch==2.13.0), installed first
# from a wheel in pip's find-links or else PyTorch's CPU index, and checked to be a CPU build, so nothing
# pulls a multi-GB CUDA build: PyPI's Linux wheel of the same version depends on the nvidia-*-cu13
# libraries (`pip install torch==2.13.0` alone gets the CPU build only where pip finds one first).
# Usage: scripts/setup.sh [run|test]   (run: the simulator only; test: + torch and test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
python3 -m venv .venv
py=.venv/bin/python
stamp=".venv/.dpsim-$mode-$(sha256sum pyproject.toml | cut -c1-12)"
log=.venv/setup.log
install() {  # pip's chatter goes to the log; shown only if the install fails
  if ! $py -m pip install -q "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "error: scripts/setup.sh: pip install $* failed (log above, also in $log)" >&2
    exit 1
  fi
}
torch_cpu() {  # the pinned CPU build, before anything that could pull PyPI's (CUDA) wheel of it
  if $py -m pip install -q --no-index --no-deps torch==2.13.0 >>"$log" 2>&1; then
    install torch==2.13.0  # a wheel in pip's find-links (a local wheelhouse); its dependencies from the index
  else  # no local wheel (fails in a second): PyTorch's CPU index, which also serves torch's dependencies
    install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
  fi
  if ! $py - <<'PY'
import importlib.metadata as metadata, sys
cuda = [r for r in metadata.requires("torch") or [] if r.startswith("nvidia-")]
sys.exit(f"torch {metadata.version('torch')} is a CUDA build (needs {cuda[0].split(';')[0]}): CPU wanted" if cuda else 0)
PY
  then
    echo "error: scripts/setup.sh: pip installed a CUDA build of torch; remove .venv and check pip's find-links" >&2
    exit 1
  fi
}
if [ ! -f "$stamp" ]; then
  echo "setting up .venv ($mode) ..." >&2
  : >"$log"
  install --upgrade pip
  if [ "$mode" = test ]; then
    torch_cpu  # first: the extras' torch>=2.1 is then satisfied, so pip never fetches another build
    install -e ".[test,runtime,cluster]"
  else
    install -e .
  fi
  touch "$stamp"
fi
