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
log=.venv/setup.log
install() {  # pip's chatter goes to the log; shown only if the install fails
  if ! $py -m pip install -q "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "error: scripts/setup.sh: pip install $* failed (log above, also in $log)" >&2
    exit 1
  fi
}
if [ ! -f "$stamp" ]; then
  echo "setting up .venv ($mode) ..." >&2
  : >"$log"
  install --upgrade pip
  if [ "$mode" = test ]; then
    install torch==2.13.0
    install -e ".[test,runtime,cluster]"
  else
    install -e .
  fi
  touch "$stamp"
fi
