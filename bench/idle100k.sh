#!/usr/bin/env bash
# bench/idle100k.sh - 100,000 idle connections to the echo example, then
# one echo on every one of them (`make bench-100k`). A bench, not a test:
# it prints figures and is not part of CI.
#
#   bench/idle100k.sh                  100000 connections
#   CONNS=20000 bench/idle100k.sh
#
# Each connection costs a descriptor in the server and one in the load
# generator, so how the count is reached depends on RLIMIT_NOFILE:
#
#   one process     the hard limit (raised first where this is allowed:
#                   root with CAP_SYS_RESOURCE) fits CONNS: one echo
#                   server, one load generator.
#   K processes     it does not (a sandbox capping it at 20,000 per
#                   process, say): K echo servers share one port with
#                   SO_REUSEPORT (echo --reuseport; the kernel spreads the
#                   connections over them) and K load generators open
#                   CONNS / K each, every process under its limit. K is
#                   chosen so that each server would be at most 85% full:
#                   the kernel's spread is by hash, not exactly even.
#
# Either way the machine then holds CONNS WebSocket connections at once.
# The load generators (bench/loadgen connect --hold) connect from 127.0.0.1,
# .2, ... (one source address per 4000 connections: each has its own ~28k
# ephemeral ports), 256 handshakes at a time each, against examples/echo
# --quiet --defer-accept with the per-address limits off; each waits WARMUP
# seconds once open and says "HELD". When every one has, the script reads
# the servers' RSS, then releases them (SIGUSR1): each sends one message on
# every connection and counts the echoes. Prints the mode and why, the
# time to open, the servers' RSS growth per connection (their sum over
# the connections open) and the echo count.
#
# Exit status: 0 when CONNS connections were open at once and every one
# echoed; 1 otherwise (and when a machine limit kept CONNS out of reach:
# it says which, and runs with the largest count that fits).
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
# The most processes of each kind this script starts.
MAX_PROCS=32

log() { printf '%s\n' "$*" >&2; }

make -j2 BUILD="$BUILD" "$BUILD/examples/echo" "$BUILD/bench/loadgen" >/dev/null \
    || { log "idle100k: make failed"; exit 2; }
mkdir -p "$OUT"
rm -f "$OUT"/server.*.log "$OUT"/loadgen.*.log

# ---- what the machine allows ------------------------------------------

want=$CONNS
limited=""
need=$((CONNS + SPARE))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" 2>/dev/null
fi
ulimit -Sn "$need" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
nofile=$(ulimit -n)
if [ "$nofile" = unlimited ] || [ "$nofile" -ge "$need" ]; then
    procs=1
    mode="one process"
    why="RLIMIT_NOFILE $nofile fits $CONNS connections + $SPARE in one process"
else
    cap=$(grep CapEff /proc/self/status | awk '{print $2}')
    # CAP_SYS_RESOURCE is bit 24.
    if [ $(( (0x$cap >> 24) & 1 )) = 0 ]; then how="no CAP_SYS_RESOURCE (CapEff $cap)"; else how="setrlimit refused"; fi
    per=$(( (nofile - SPARE) * 85 / 100 ))
    procs=$(( (CONNS + per - 1) / per ))
    if [ "$procs" -gt "$MAX_PROCS" ]; then
        procs=$MAX_PROCS
        CONNS=$((procs * per))
        limited="RLIMIT_NOFILE $nofile per process would need more than $MAX_PROCS processes of each kind"
    fi
    mode="$procs processes"
    why="RLIMIT_NOFILE: hard limit $(ulimit -Hn) per process, and it cannot be raised ($how); one process would need $need. So $procs echo servers share the port (SO_REUSEPORT, at most ~$per connections each) and $procs load generators open $((CONNS / procs))-$(( (CONNS + procs - 1) / procs )) connections each"
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
[ "$sources" -gt 254 ] && sources=254

{
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "limits: nofile $nofile (hard $(ulimit -Hn)), fs.nr_open $nr_open, fs.file-max $file_max, ephemeral ports $lo-$hi ($ports per source address), $sources source addresses"
    echo "wsio $(git describe --always --dirty 2>/dev/null || echo '?')"
    echo "mode: $mode: $why"
} | tee "$OUT/machine.txt" >&2
if [ -n "$limited" ]; then
    log "idle100k: $want connections cannot be reached here: $limited"
    log "idle100k: running with $CONNS connections instead"
fi

# ---- the servers -------------------------------------------------------

spids=()
lpids=()
stop_all() {
    local p
    for p in "${lpids[@]}" "${spids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${lpids[@]}" "${spids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
trap 'stop_all; exit 130' INT TERM

# The largest connection count one server may take: its descriptors.
if [ "$nofile" = unlimited ]; then srv_max=$need; else srv_max=$((nofile - SPARE)); fi
port=0
for i in $(seq 1 "$procs"); do
    slog=$OUT/server.$i.log
    taskset -c "$SERVER_CPU" "$BUILD/examples/echo" --host 127.0.0.1 --port "$port" \
        --reuseport --quiet --defer-accept --max-per-addr 0 --handshake-rate 0 \
        --max-connections "$srv_max" >"$slog" 2>&1 &
    spids+=($!)
    got=""
    for _ in $(seq 1 100); do
        got=$(sed -n 's|.*listening on ws://[0-9.]*:\([0-9][0-9]*\)/.*|\1|p' "$slog" | head -1)
        [ -n "$got" ] && break
        kill -0 "${spids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$got" ]; then
        log "idle100k: echo server $i did not start (see $slog)"
        stop_all
        exit 2
    fi
    port=$got
done

kb() { # kb PID FIELD - a /proc/PID/status field in KiB, 0 when gone
    local v
    v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null)
    echo "${v:-0}"
}
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss0=0; anon0=0; fds0=()
for p in "${spids[@]}"; do
    rss0=$((rss0 + $(kb "$p" VmRSS)))
    anon0=$((anon0 + $(kb "$p" RssAnon)))
    fds0+=("$(fds "$p")")
done

# ---- the load generators -----------------------------------------------

t0=$(date +%s.%N)
for i in $(seq 1 "$procs"); do
    n=$((CONNS / procs + (i <= CONNS % procs ? 1 : 0)))
    taskset -c "$LG_CPU" "$BUILD/bench/loadgen" connect --port "$port" -c "$n" \
        --sources "$sources" --warmup "$WARMUP" --hold 600 --echo-after \
        >"$OUT/loadgen.$i.log" 2>&1 &
    lpids+=($!)
done

# Every load generator open and settled ("HELD"), or one gone: bounded.
deadline=$(( $(date +%s) + 60 + CONNS / 1000 ))
while :; do
    held=0; gone=0
    for i in $(seq 1 "$procs"); do
        grep -q '^HELD' "$OUT/loadgen.$i.log" 2>/dev/null && held=$((held + 1)) && continue
        kill -0 "${lpids[$((i - 1))]}" 2>/dev/null || gone=$((gone + 1))
    done
    [ "$held" = "$procs" ] && break
    if [ "$gone" -gt 0 ] || [ "$(date +%s)" -gt "$deadline" ]; then
        log "idle100k: $held of $procs load generators held their connections ($gone exited early)"
        break
    fi
    sleep 0.2
done
t_held=$(date +%s.%N)
rss1=0; anon1=0; spread=""
for j in "${!spids[@]}"; do
    p=${spids[$j]}
    rss1=$((rss1 + $(kb "$p" VmRSS)))
    anon1=$((anon1 + $(kb "$p" RssAnon)))
    spread="$spread $(( $(fds "$p") - ${fds0[$j]} ))"
done
held_open=0
for i in $(seq 1 "$procs"); do
    o=$(sed -n 's/^HELD open=\([0-9]*\).*/\1/p' "$OUT/loadgen.$i.log" | head -1)
    held_open=$((held_open + ${o:-0}))
done

# Release them: one echo on every connection, then they close.
for p in "${lpids[@]}"; do kill -USR1 "$p" 2>/dev/null; done
rc=0
for p in "${lpids[@]}"; do wait "$p" || rc=1; done
lpids=()
stop_all

# ---- report ------------------------------------------------------------

open=0; echoed=0; failures=0; secs=0; missing=0
for i in $(seq 1 "$procs"); do
    line=$(grep '^RESULT' "$OUT/loadgen.$i.log" | tail -1)
    if [ -z "$line" ]; then
        log "idle100k: load generator $i printed no result:"
        tail -5 "$OUT/loadgen.$i.log" >&2
        missing=$((missing + 1))
        continue
    fi
    f() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    open=$((open + $(f open)))
    echoed=$((echoed + $(f echoed)))
    failures=$((failures + $(f failures)))
    secs=$(awk -v a="$secs" -v b="$(f secs)" 'BEGIN {print (b > a) ? b : a}')
done
per_conn=$(( held_open > 0 ? (rss1 - rss0) * 1024 / held_open : 0 ))
anon_per_conn=$(( held_open > 0 ? (anon1 - anon0) * 1024 / held_open : 0 ))

echo
cat "$OUT/machine.txt"
echo
printf 'mode:                    %s\n' "$mode"
printf 'connections open:        %s at once (asked %s; load generators: %s)\n' "$held_open" "$CONNS" "$open"
printf 'time to open them:       %s s with %s load generators of 256 handshakes in flight (%s handshakes/s)\n' \
    "$secs" "$procs" "$(awk -v n="$held_open" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')"
printf 'connections per server: %s\n' "${spread# }"
printf 'servers'"'"' RSS:           %s -> %s KiB (sum of %s): %s bytes per idle connection (RssAnon %s)\n' \
    "$rss0" "$rss1" "$procs" "$per_conn" "$anon_per_conn"
printf 'echoed after idling:     %s of %s\n' "$echoed" "$open"
echo "raw logs: $OUT/"

status=0
if [ "$rc" != 0 ] || [ "$failures" != 0 ] || [ "$missing" != 0 ]; then
    log "idle100k: FAILED: load generator exit status, $failures validation failures, $missing without a result"
    status=1
fi
if [ "$held_open" != "$CONNS" ] || [ "$echoed" != "$CONNS" ]; then
    log "idle100k: FAILED: $held_open open at once, $echoed echoed of $CONNS"
    status=1
fi
if [ -n "$limited" ]; then
    log "idle100k: NOT REACHED: $want connections: $limited"
    status=1
fi
exit $status
