#!/usr/bin/env bash
# bench/profile.sh - where wsio's echo server spends its time under the
# load generator: echo C=100 P=16 S=32 by default (the workload
# docs/PERFORMANCE.md profiles).
#
#   bench/profile.sh                         perf, 5 s
#   C=500 P=1 S=16384 DURATION=10 bench/profile.sh
#   TOOL=callgrind bench/profile.sh          when perf is not usable
#
# perf record samples the server process (cpu-clock, so it works in VMs
# without hardware counters) with DWARF call graphs; the reports (flat by
# symbol, by shared object, and with callers) land in $OUT. callgrind runs
# the server under valgrind instead (slow: the rates it gives mean
# nothing, only the cost split does).
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bench/profile}
C=${C:-100}
P=${P:-16}
S=${S:-32}
DURATION=${DURATION:-5}
TOOL=${TOOL:-perf}
SERVER_CPU=${SERVER_CPU:-0}
LG_CPU=${LG_CPU:-1}
PORT=${PORT:-21999}

make -j2 BUILD="$BUILD" static examples bench-build >/dev/null || exit 2
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null

if [ "$TOOL" = perf ] && ! perf record -o "$OUT/probe.data" -e cpu-clock -- true >/dev/null 2>&1; then
    echo "profile.sh: perf record does not work here; using callgrind" >&2
    TOOL=callgrind
fi

if [ "$TOOL" = callgrind ]; then
    taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
        "$BUILD/examples/echo" --port "$PORT" --max-per-addr 0 --handshake-rate 0 >"$OUT/server.log" 2>&1 &
else
    taskset -c "$SERVER_CPU" "$BUILD/examples/echo" --port "$PORT" --max-per-addr 0 --handshake-rate 0 >"$OUT/server.log" 2>&1 &
fi
SPID=$!
trap 'kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null' EXIT
for i in $(seq 1 100); do
    grep -q listening "$OUT/server.log" 2>/dev/null && break
    sleep 0.1
done

if [ "$TOOL" = perf ]; then
    # Start sampling once the connections are up and warm.
    (sleep 1.5; perf record -o "$OUT/perf.data" -e cpu-clock -F 2999 --call-graph dwarf,16384 \
        -p "$SPID" -- sleep "$DURATION" >"$OUT/perf.log" 2>&1) &
    REC=$!
    # Over the same window: how many system calls of each kind.
    SYSCALLS="read readv recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl"
    EV=$(for s in $SYSCALLS; do printf 'syscalls:sys_enter_%s,' "$s"; done)
    (sleep 1.5; perf stat -x, -o "$OUT/syscalls.csv" -e "${EV%,}" -p "$SPID" -- sleep "$DURATION" \
        >/dev/null 2>&1) &
    STAT=$!
fi
taskset -c "$LG_CPU" "$BUILD/bench/loadgen" echo --port "$PORT" -c "$C" -p "$P" -s "$S" \
    --duration "$DURATION" --warmup 1 --cpu --server-pid "$SPID" | tee "$OUT/loadgen.log"
[ "$TOOL" = perf ] && wait "$REC" "$STAT"
kill -TERM "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
trap - EXIT

if [ "$TOOL" = perf ]; then
    perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -15 > "$OUT/by-dso.txt"
    perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -50 > "$OUT/by-symbol.txt"
    perf report -i "$OUT/perf.data" --children --sort sym --stdio -g caller,0.5,callee --percent-limit 3 \
        2>/dev/null > "$OUT/call-graph.txt"
    perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none \
        --dsos echo,libc.so.6 --percentage relative 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -30 > "$OUT/user-space.txt"
    rate=$(sed -n 's/.* rate=\([0-9.]*\) .*/\1/p' "$OUT/loadgen.log")
    awk -F, -v rate="$rate" -v secs="$DURATION" '$1 ~ /^[0-9]+$/ {
            n = $1; name = $3; sub(/.*sys_enter_/, "", name)
            if (n > 0) printf "%-12s %12d  %.3f per message\n", name, n, n / (rate * secs)
        }' "$OUT/syscalls.csv" > "$OUT/syscalls.txt"
    echo "== by shared object"; cat "$OUT/by-dso.txt"
    echo "== user space (echo + libc), % of user-space samples"; cat "$OUT/user-space.txt"
    echo "== system calls in the server over ${DURATION}s (messages: loadgen rate x ${DURATION}s)"
    cat "$OUT/syscalls.txt"
    echo "== by symbol (self)"; cat "$OUT/by-symbol.txt"
    echo "(call graphs: $OUT/call-graph.txt)"
else
    callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -60 | tee "$OUT/callgrind.txt"
fi
