#!/usr/bin/env bash
# Static checks, as scripts/test.sh runs them before the suite: ruff's lint rules and its format
# check, then mypy (configured in pyproject.toml: strict, with the files being rewritten for issue
# 11 listed there until they land). Exits non-zero on the first failing check.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
