#!/bin/sh
# examples/broadcast with --threads: two servers on one port joined by a
# wsio_hub, 200 receivers spread over them by the kernel (SO_REUSEPORT)
# and one sender (bench/loadgen's broadcast mode). loadgen checks that
# every receiver gets the sender's messages with consecutive sequence
# numbers, so a message lost or delivered twice on either thread is a
# failure, and each message is complete only when all 200 have it. Then
# SIGTERM with clients still connected must stop every thread cleanly.
# The same runs once with --threads 0 (one thread) as the reference.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh

tmp=$(mktemp -d)
failed=0

check() { # threads
    # 201 clients from one address: the per-address limits are off.
    start_server "$tmp/bc$1" "$BUILD/examples/broadcast" --threads "$1" \
        --max-per-addr 0 --handshake-rate 0
    port=${SERVER_URL##*:}
    port=${port%/}
    if ! "$BUILD/bench/loadgen" broadcast --port "$port" -c 200 -p 8 \
        --duration 1 --warmup 0.3 >"$tmp/lg$1.out" 2>&1 ||
        ! grep -q '^RESULT .* failures=0$' "$tmp/lg$1.out" ||
        grep -q '^RESULT .* rate=0.0 ' "$tmp/lg$1.out"; then
        echo "FAIL broadcast --threads $1: loadgen"
        cat "$tmp/lg$1.out"
        failed=1
    fi
    # Stop it while 200 clients are connected.
    "$BUILD/bench/loadgen" broadcast --port "$port" -c 200 -p 8 \
        --duration 30 --warmup 0 >/dev/null 2>&1 &
    lg=$!
    for _ in $(seq 1 100); do
        [ "$(grep -c ' open ' "$tmp/bc$1.err")" -ge 402 ] && break
        sleep 0.1
    done
    if ! stop_server "$SERVER_PID"; then
        echo "FAIL broadcast --threads $1: no clean exit on SIGTERM"
        tail -20 "$tmp/bc$1.err"
        failed=1
    fi
    kill "$lg" 2>/dev/null || true
    wait "$lg" 2>/dev/null || true
    [ $failed -eq 0 ] &&
        echo "ok   broadcast --threads $1: $(grep -o 'deliveries in.*' "$tmp/lg$1.out"), clean SIGTERM"
}

check 2
check 0
rm -rf "$tmp"
exit $failed
