#!/bin/sh
# tests/browser/run.sh - run the chat browser test against a running server.
#
# usage: tests/browser/run.sh http://127.0.0.1:PORT/
#
# Installs what the test needs when it is missing: Node.js and npm, and
# Chromium at /usr/bin/chromium (Debian packages; sudo only when not root),
# then playwright-core into tests/browser/node_modules from package-lock.json.
# CHROMIUM overrides the browser path. Exits with the test's status.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
url=${1:?usage: $0 URL of the chat page}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -q
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
[ -n "${CHROMIUM:-}" ] || [ -x /usr/bin/chromium ] || apt_install chromium

# npm ci installs exactly the locked version; rerun it when the lock is newer
# than what was installed.
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

exec node "$here/chat_test.mjs" "$url"
