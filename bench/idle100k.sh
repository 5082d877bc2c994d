#!/usr/bin/env bash
# bench/idle100k.sh - 100,000 idle connections to the echo example, then
# one echo on every one of them (`make bench-100k`). A bench, not a test:
# it prints figures and is not part of CI.
#
#   bench/idle100k.sh                  100000 connections
#   CONNS=20000 bench/idle100k.sh
#
# The load generator (bench/loadgen connect --echo-after) opens CONNS
# WebSocket connections from 127.0.0.1, .2, ... (one source address per
# 4000 connections: each has its own ~28k ephemeral ports, and the kernel's
# search for a free port slows down as a range fills up), 256
# handshakes at a time, against examples/echo with the per-address limits
# off; waits WARMUP seconds, reads the server's RSS, then sends one message
# on every connection and counts the echoes. Prints the time to open them,
# handshakes/s, the server's RSS growth per connection, and the echo count.
#
# Both processes need CONNS + a few descriptors, so RLIMIT_NOFILE is raised
# first (as root: the hard limit too). When a limit of the machine keeps
# CONNS out of reach it says which one, runs with the largest count that
# fits, and exits 1.
#
# Environment: CONNS=100000  WARMUP=2  BUILD=build  SERVER_CPU=0 LG_CPU=1
set -u
cd "$(dirname "$0")/.." || exit 2

CONNS=${CONNS:-100000}
WARMUP=${WARMUP:-2}
BUILD=${BUILD:-build}
SERVER_CPU=${SERVER_CPU:-0}
LG_CPU=${LG_CPU:-1}
OUT=$BUILD/bench/idle100k
# Descriptors each process needs beyond one per connection.
SPARE=64

log() { printf '%s\n' "$*" >&2; }

make -j2 BUILD="$BUILD" "$BUILD/examples/echo" "$BUILD/bench/loadgen" >/dev/null \
    || { log "idle100k: make failed"; exit 2; }
mkdir -p "$OUT"

# ---- what the machine allows ------------------------------------------

want=$CONNS
limited=""
need=$((CONNS + SPARE))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" 2>/dev/null
fi
ulimit -Sn "$need" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$need" ]; then
    cap=$(grep CapEff /proc/self/status | awk '{print $2}')
    # CAP_SYS_RESOURCE is bit 24.
    if [ $(( (0x$cap >> 24) & 1 )) = 0 ]; then why="no CAP_SYS_RESOURCE (CapEff $cap)"; else why="setrlimit refused"; fi
    limited="RLIMIT_NOFILE: hard limit $(ulimit -Hn) per process and it cannot be raised ($why); each of the server and the load generator needs $need"
    CONNS=$((nofile - SPARE))
fi
nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 0)
file_max=$(cat /proc/sys/fs/file-max 2>/dev/null || echo 0)
if [ "$file_max" -gt 0 ] && [ "$file_max" -lt $((2 * need)) ]; then
    limited="${limited:+$limited; }fs.file-max $file_max < $((2 * need)) (two descriptors per connection on this machine)"
fi
if [ -r /proc/sys/net/netfilter/nf_conntrack_max ]; then
    ct=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
    [ "$ct" -lt "$CONNS" ] && limited="${limited:+$limited; }nf_conntrack_max $ct < $CONNS"
fi
read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
ports=$((hi - lo + 1))
sources=$(( (CONNS + 3999) / 4000 ))

{
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "limits: nofile $nofile (hard $(ulimit -Hn)), fs.nr_open $nr_open, fs.file-max $file_max, ephemeral ports $lo-$hi ($ports per source address), $sources source addresses"
    echo "wsio $(git describe --always --dirty 2>/dev/null || echo '?')"
} | tee "$OUT/machine.txt" >&2
if [ -n "$limited" ]; then
    log "idle100k: $want connections cannot be reached here: $limited"
    log "idle100k: running with $CONNS connections instead"
fi

# ---- the run -----------------------------------------------------------

slog=$OUT/server.log
taskset -c "$SERVER_CPU" "$BUILD/examples/echo" --host 127.0.0.1 --port 0 \
    --max-per-addr 0 --handshake-rate 0 --max-connections $((CONNS + SPARE)) >"$slog" 2>&1 &
spid=$!
trap 'kill -TERM $spid 2>/dev/null; wait $spid 2>/dev/null; exit 130' INT TERM
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on ws://[0-9.]*:\([0-9][0-9]*\)/.*|\1|p' "$slog" | head -1)
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    log "idle100k: the echo example did not start (see $slog)"
    kill -TERM "$spid" 2>/dev/null
    exit 2
fi

taskset -c "$LG_CPU" "$BUILD/bench/loadgen" connect --port "$port" -c "$CONNS" \
    --sources "$sources" --warmup "$WARMUP" --cpu --server-pid "$spid" --echo-after \
    >"$OUT/loadgen.log" 2>&1
rc=$?
kill -TERM "$spid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$spid" 2>/dev/null
wait "$spid" 2>/dev/null

line=$(grep '^RESULT' "$OUT/loadgen.log" | tail -1)
if [ -z "$line" ]; then
    log "idle100k: the load generator failed (exit $rc):"
    tail -20 "$OUT/loadgen.log" >&2
    exit 1
fi
field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

echo
cat "$OUT/machine.txt"
grep -v '^RESULT' "$OUT/loadgen.log"
echo
printf 'connections open:        %s of %s (asked %s)\n' "$(field open)" "$CONNS" "$want"
printf 'time to open them:       %s s (%s handshakes/s, %s concurrent)\n' "$(field secs)" "$(field hs_rate)" 256
printf 'server RSS:              %s -> %s KiB: %s bytes per idle connection (RssAnon %s)\n' \
    "$(field rss_before_kb)" "$(field rss_after_kb)" "$(field per_conn_bytes)" "$(field anon_per_conn_bytes)"
printf 'server per handshake:    %s us CPU, %s system calls\n' "$(field srv_us_per_unit)" "$(field syscalls_per_unit)"
printf 'echoed after idling:     %s of %s\n' "$(field echoed)" "$(field open)"
echo "raw logs: $OUT/"

status=0
if [ "$rc" != 0 ] || [ "$(field failures)" != 0 ]; then
    log "idle100k: FAILED: load generator exit $rc, $(field failures) validation failures"
    status=1
fi
if [ "$(field open)" != "$CONNS" ] || [ "$(field echoed)" != "$CONNS" ]; then
    log "idle100k: FAILED: $(field open) open, $(field echoed) echoed of $CONNS"
    status=1
fi
if [ -n "$limited" ]; then
    log "idle100k: NOT REACHED: $want connections: $limited"
    status=1
fi
exit $status
