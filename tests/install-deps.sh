#!/bin/sh
# Install everything the test suite needs on Debian 12, then the npm
# packages the interop and browser tests pin. Uses sudo when not root.
#   - build: a C compiler, make, pkg-config; zlib for libwsio-deflate;
#     libuv for examples/libuv (the chat in a libuv loop)
#   - unit tests: cmocka; sanitizers and fuzzing: clang, libFuzzer, llvm
#   - interop: Python's websockets, Node.js with npm (Node's ws from npm)
#   - browser test: Chromium, driven by playwright-core from npm
#   - TLS (libwsio-tls, examples/auth.c, tests/tls): libssl-dev and the
#     openssl command (libjwt is not used: see examples/auth.c)
#   - Redis (libwsio-redis, chat --redis, tests/redis): libhiredis-dev and
#     redis-server (the tests start their own on a free port; the system
#     service is not needed)
set -eu
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

pkgs="build-essential pkg-config libcmocka-dev zlib1g-dev libuv1-dev clang libclang-rt-14-dev llvm
      valgrind python3 python3-websockets chromium libssl-dev openssl
      libhiredis-dev redis-server"
# make format-check (Debian 12's clang-format 14 is the reference).
pkgs="$pkgs clang-format"
# Node.js: keep a newer one if the machine has it, else Debian's.
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null

for dir in tests/interop tests/browser; do
    [ -f "$dir/package-lock.json" ] || continue
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
done
echo "install-deps: done"
