#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL 15 server for the store tests.
# When MAILWARDEN_TEST_POSTGRES_URL is already set, or no PostgreSQL server is installed
# (and we are not in CI), the command runs as it is and the PostgreSQL tests are skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${MAILWARDEN_TEST_POSTGRES_URL:-}" ]] && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    env_file=$(mktemp)
    "$here/postgres-up.sh" "$env_file"
    # shellcheck disable=SC1090
    source "$env_file"
    export MAILWARDEN_TEST_POSTGRES_URL
    trap '"$here/postgres-down.sh" "$env_file" || true; rm -f "$env_file"' EXIT
fi
"$@"
