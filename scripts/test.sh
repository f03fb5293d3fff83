#!/usr/bin/env bash
# The whole suite against real parts: a real PostgreSQL server, the real model, real Chroma,
# the real web server and headless Chromium; then the eval gates and the dependency audit.
# Exits non-zero on any failure; the last line is pytest's summary.
#
# PostgreSQL: a private server for this run (scripts/with-postgres.sh), stopped and deleted when
# the run ends, whatever the outcome; set PHYSIO_TEST_POSTGRES_URL to use a server of your own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PHYSIO_TEST_POSTGRES_URL:-}" ]; then
    exec bash scripts/with-postgres.sh bash scripts/test.sh "$@"
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bash scripts/check.sh  # ruff (lint and format) and mypy, in seconds: before the suite's minutes
log="$(mktemp)"
started=$(date +%s)
set +e
.venv/bin/pytest -q -ra --durations=15 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary="$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$log" | tail -1 | sed 's/^=* *//; s/ *=*$//')"
echo "tests took $(( $(date +%s) - started )) s"
[ "$status" -eq 0 ] || { echo "$summary"; exit "$status"; }
eval_dir="$(mktemp -d)"
PHYSIO_DATA_DIR="$eval_dir/data" .venv/bin/physio-assistant eval --out "${EVAL_OUT:-eval-out}"
rm -rf "$eval_dir"
# Dependency audit over the locked versions (reports plainly when no vulnerability database is reachable).
timeout 180 bash scripts/audit.sh || echo "dependency audit did not finish; see scripts/audit.sh"
echo "$summary"
