#!/usr/bin/env bash
# Make sure Debian's chromium is installed: the UI test (tests/ui) drives it, never a downloaded browser.
# Idempotent and quiet: nothing happens when /usr/bin/chromium is there. Installing needs root (or sudo).
# When it cannot install, it says why; that is an error under CI=true, a warning otherwise
# (the UI test then skips locally and fails in CI).
set -euo pipefail
CHROMIUM=${MAILWARDEN_CHROMIUM_CHECK:-/usr/bin/chromium}  # overridable only to check this script
[ -x "$CHROMIUM" ] && exit 0

give_up() {
    echo "ensure-chromium: $1" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
}

command -v apt-get >/dev/null 2>&1 || give_up "$CHROMIUM is missing and apt-get is not available; install chromium"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || give_up "$CHROMIUM is missing; installing it needs root: apt-get install chromium"
    SUDO=(sudo -n)
fi
echo "ensure-chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null || give_up "apt-get update failed"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null || give_up "apt-get install chromium failed"
[ -x "$CHROMIUM" ] || give_up "$CHROMIUM is still missing after installing chromium"
