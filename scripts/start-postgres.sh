#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the tests and print its URL as the last line of stdout.
#
#   PHYSIO_TEST_POSTGRES_URL=$(bash scripts/start-postgres.sh) pytest tests/test_records.py
#   bash scripts/stop-postgres.sh            # when done (scripts/with-postgres.sh does both)
#
# Installs Debian's postgresql package when it is missing (needs root), runs a cluster owned by
# the `postgres` user on 127.0.0.1:$PORT with trust auth, and creates the database. Running it
# again while the cluster is up only prints the URL. All other output goes to stderr.
set -euo pipefail

PORT="${PHYSIO_PG_PORT:-55432}"
DB="physio_test"
PGDIR="${PHYSIO_PG_DIR:-${TMPDIR:-/tmp}/physio-postgres-$PORT}"
URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"

log() { echo "start-postgres: $*" >&2; }

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

BIN=$(find_bin || true)
if [ -z "$BIN" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL is not installed and this is not root: run 'apt-get install postgresql' as root first."
        exit 1
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq postgresql; } >&2
    BIN=$(find_bin) || { log "postgresql installed but no initdb found under /usr/lib/postgresql"; exit 1; }
fi

if ! id postgres >/dev/null 2>&1; then
    log "there is no 'postgres' user; installing the postgresql package creates it"
    exit 1
fi

if as_postgres "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
    log "already running in $PGDIR on port $PORT"
else
    mkdir -p "$PGDIR"
    chown postgres: "$PGDIR" 2>/dev/null || true
    chmod 700 "$PGDIR"
    if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
        log "initialising a cluster in $PGDIR/data"
        as_postgres "$BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
            || as_postgres "$BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >&2
    fi
    log "starting on 127.0.0.1:$PORT"
    # the socket lives in our folder: /var/run/postgresql may not exist outside the Debian service
    as_postgres "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDIR -c fsync=off -c full_page_writes=off" start >&2 \
        || { log "the server did not start; its log:"; tail -n 30 "$PGDIR/server.log" >&2; exit 1; }
fi

if ! as_postgres "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    log "creating database $DB"
    as_postgres "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2
fi

echo "$URL"
