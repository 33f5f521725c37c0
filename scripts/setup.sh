#!/usr/bin/env bash
# Create .venv and install dpsim with what it needs. torch is pinned to the CPU build
# (torch==2.13.0) and installed first, so nothing pulls a multi-GB CUDA build.
# Usage: scripts/setup.sh [run|test]   (run: the simulator only; test: + torch and test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
python3 -m venv .venv
py=.venv/bin/python
stamp=".venv/.dpsim-$mode-$(sha256sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  $py -m pip install -q --upgrade pip
  if [ "$mode" = test ]; then
    $py -m pip install -q torch==2.13.0
    $py -m pip install -q -e ".[test,runtime]"
  else
    $py -m pip install -q -e .
  fi
  touch "$stamp"
fi
