#!/bin/sh
# bench/addr_lockout.sh - the slot-exhaustion figures of docs/security.md:
# examples/echo (max_connections 10000) flooded by bench/addr_lockout from
# one address, before (per-address limits off, as wsio was) and after (the
# examples' defaults, then the connection cap alone). Prints one RESULT
# line each. Needs ulimit -n of 20000 (both sides hold 10000 sockets).
#
#     make build/examples/echo build/bench/addr_lockout
#     sh bench/addr_lockout.sh [ATTEMPTS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-10000}
. tests/lib.sh
ulimit -n 20000
tmp=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

run() { # label, echo flags...
    label=$1
    shift
    start_server "$tmp/echo" "$BUILD/examples/echo" --max-connections 10000 "$@"
    port=${SERVER_URL##*:}
    port=${port%/}
    printf '%-34s ' "$label"
    "$BUILD/bench/addr_lockout" --port "$port" -n "$N" --seconds 60
    stop_server "$SERVER_PID"
}

run "before (no per-address limits)" --max-per-addr 0 --handshake-rate 0
run "after (64 per address, 32/s)"
run "after (64 per address, no rate)" --handshake-rate 0
