#!/bin/sh
# bench/flow.sh - issue 13's flow-control figures for an echo server
# binary: its peak RSS (VmHWM) under a ping flood from a client that never
# reads, and what a pipelining, slowly reading set of clients gets back.
#
#     bench/flow.sh [ECHO_BINARY] [FLOOD_MIB]
#
# Defaults: build/examples/echo, 256 MiB. Builds build/bench/flowload.
# Starts one echo per shape on 127.0.0.1 with a kernel-chosen port and
# stops it by its PID.
set -eu
ECHO=${1:-build/examples/echo}
MIB=${2:-256}
make -s build/bench/flowload
LOAD=build/bench/flowload
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

start_echo() {
    "$ECHO" --port 0 >"$TMP/out" 2>/dev/null &
    PID=$!
    i=0
    while ! grep -q 'ws://' "$TMP/out" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.05; i=$((i + 1))
    done
    PORT=$(sed -n 's/.*:\([0-9][0-9]*\)\/$/\1/p' "$TMP/out" | head -n 1)
}

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }

start_echo
before=$(kib VmRSS)
"$LOAD" ping-flood "$PORT" "$MIB"
echo "echo RSS under the ping flood: ${before} KiB at start, peak $(kib VmHWM) KiB, now $(kib VmRSS) KiB"
kill "$PID"; wait "$PID" 2>/dev/null || true

start_echo
before=$(kib VmRSS)
"$LOAD" pipeline "$PORT" 10 64 65536 || true
echo "echo RSS under the pipelined clients: ${before} KiB at start, peak $(kib VmHWM) KiB"
kill "$PID"; wait "$PID" 2>/dev/null || true

# The second shape: 1 MiB messages, 40 in flight per client.
start_echo
before=$(kib VmRSS)
"$LOAD" pipeline "$PORT" 2 40 1048576 || true
echo "echo RSS under 2 clients x 40 x 1 MiB: ${before} KiB at start, peak $(kib VmHWM) KiB"
kill "$PID"; wait "$PID" 2>/dev/null || true
