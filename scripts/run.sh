#!/usr/bin/env bash
# Set up (first time) and run `dpsim run` on the bundled default scenario; extra arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run >&2
exec .venv/bin/dpsim run "$@"
