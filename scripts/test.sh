#!/usr/bin/env bash
# The whole test suite: set-up, lint (ruff), types (mypy), tests (pytest, notebooks included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check dpsim runtime tests benchmarks notebooks
.venv/bin/ruff format --check dpsim runtime tests benchmarks notebooks
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
