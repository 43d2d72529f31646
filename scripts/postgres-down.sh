#!/usr/bin/env bash
# Stop the throwaway PostgreSQL server started by postgres-up.sh and delete its directory.
#
#   scripts/postgres-down.sh [ENV_FILE]
#
# The directory is MAILWARDEN_PG_DIR from ENV_FILE, else from the environment, else the default
# of postgres-up.sh. Safe to run when nothing is running.
set -euo pipefail

env_file=${1:-}
dir=${MAILWARDEN_PG_DIR:-}
if [[ -n "$env_file" && -f "$env_file" ]]; then
    from_file=$(sed -n 's/^MAILWARDEN_PG_DIR=//p' "$env_file" | tail -n 1)
    dir=${from_file:-$dir}
fi
dir=${dir:-/tmp/mailwarden-pg-$(id -u)}

if [[ -z "${PG_BIN:-}" ]]; then
    if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    fi
fi

if [[ -d "$dir/data" && -n "$PG_BIN" ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$dir" && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1) || true
    else
        (cd "$dir" && "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1) || true
    fi
fi
rm -rf "$dir"
echo "postgres-down: stopped and removed $dir" >&2
