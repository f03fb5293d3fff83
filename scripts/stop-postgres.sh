#!/usr/bin/env bash
# Stop the throwaway PostgreSQL that start-postgres.sh started in folder $1 (fast shutdown).
#
#   bash scripts/stop-postgres.sh /tmp/physio-postgres-55432
#
# Without an argument: $PHYSIO_PG_DIR, else the folder start-postgres.sh uses for $PHYSIO_PG_PORT.
# A server that is not running is not an error. Silent when all goes well (a test run's summary
# stays its last line); problems go to stderr.
set -euo pipefail

PGDIR="${1:-${PHYSIO_PG_DIR:-${TMPDIR:-/tmp}/physio-postgres-${PHYSIO_PG_PORT:-55432}}}"

log() { echo "stop-postgres: $*" >&2; }

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$BIN" ] || [ ! -d "$PGDIR/data" ]; then
    exit 0
fi
if as_postgres "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
    as_postgres "$BIN/pg_ctl" -D "$PGDIR/data" -s -m fast -w -t 30 stop >&2 \
        || { log "the server in $PGDIR did not stop within 30 s"; exit 1; }
fi
