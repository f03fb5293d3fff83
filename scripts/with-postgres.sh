#!/usr/bin/env bash
# Run a command beside a private, throwaway PostgreSQL, and stop and delete it afterwards,
# however the command ends (success, failure, Ctrl-C).
#
#   bash scripts/with-postgres.sh .venv/bin/pytest tests/test_records.py
#
# The cluster lives in a new folder on a free loopback port, so two runs at once (two developers,
# or CI beside a developer) never share or stop each other's server. The command gets its URL as
# PHYSIO_TEST_POSTGRES_URL. The command's exit status is this script's.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PHYSIO_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/physio-postgres-XXXXXX")"
export PHYSIO_PG_PORT="$port" PHYSIO_PG_DIR="$dir"

cleanup() {
    bash scripts/stop-postgres.sh "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PHYSIO_TEST_POSTGRES_URL="$(bash scripts/start-postgres.sh)"
export PHYSIO_TEST_POSTGRES_URL
"$@"
