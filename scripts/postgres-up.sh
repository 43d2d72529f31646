#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the store tests.
#
#   scripts/postgres-up.sh [ENV_FILE]
#   eval "$(scripts/postgres-up.sh)"        # exports MAILWARDEN_TEST_POSTGRES_URL
#
# The server lives in $MAILWARDEN_PG_DIR (default /tmp/mailwarden-pg-$UID), listens on a unix
# socket there and on 127.0.0.1 at a free port, runs as the `postgres` user when started by root
# (PostgreSQL refuses to run as root), and has a database and a password-authenticated role for
# the tests. Running it again while the server is up reuses it. ENV_FILE, when given, receives
# MAILWARDEN_TEST_POSTGRES_URL=... and MAILWARDEN_PG_DIR=... lines. Stop it with postgres-down.sh.
# Binaries: $PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian layout), preferring 15.
set -euo pipefail

env_file=${1:-}
dir=${MAILWARDEN_PG_DIR:-/tmp/mailwarden-pg-$(id -u)}
db=mailwarden_test
role=mailwarden_test

if [[ -z "${PG_BIN:-}" ]]; then
    if [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    fi
fi
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/postgres" ]]; then
    echo "postgres-up: no PostgreSQL server binaries found (set PG_BIN)" >&2
    exit 1
fi

run_as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

emit() {
    local url
    url=$(cat "$dir/url")
    echo "export MAILWARDEN_TEST_POSTGRES_URL=$url"
    echo "export MAILWARDEN_PG_DIR=$dir"
    if [[ -n "$env_file" ]]; then
        printf 'MAILWARDEN_TEST_POSTGRES_URL=%s\nMAILWARDEN_PG_DIR=%s\n' "$url" "$dir" > "$env_file"
    fi
}

# Reuse a running server.
if [[ -f "$dir/url" && -d "$dir/data" ]] && run_as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "postgres-up: reusing the server in $dir" >&2
    emit
    exit 0
fi

# Anything left from a dead server goes.
rm -rf "$dir"
mkdir -p "$dir/sock"
chmod 700 "$dir" "$dir/sock"
if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

run_as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
run_as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

run_as_pg "$PG_BIN/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE $db OWNER $role;
SQL

echo "postgresql+psycopg://$role:$password@127.0.0.1:$port/$db" > "$dir/url"
chmod 600 "$dir/url"
echo "postgres-up: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
emit
