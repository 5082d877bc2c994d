#!/usr/bin/env bash
# bench/compare.sh - wsio side by side with other servers, on this machine.
#
#   bench/compare.sh                    every workload, RUNS=3, DURATION=5
#   QUICK=1 bench/compare.sh            smoke run: every workload once, 1 s
#   RUNS=5 DURATION=10 bench/compare.sh
#   SERVERS="wsio uws" WORKLOADS="echo-32-p16 connect-10k" bench/compare.sh
#
# Installs what it needs (apt: libwebsockets-dev, build tools, node, npm;
# npm ci in bench/ from the committed package-lock.json), builds wsio, the
# load generator and the C peers, then runs each workload against each
# server: wsio's examples, uWebSockets.js, Node's ws, libwebsockets, and a
# raw TCP echo or fan-out server (the floor: the same payload bytes, no
# WebSocket). The wss-* workloads are the same over TLS (wsio with
# libwsio-tls, uWebSockets.js's SSLApp, ws on Node's https; a test
# certificate from tests/tls/make_certs.sh); libwebsockets and the raw TCP
# floor have no TLS peer here.
# A fresh server is started for every run, pinned to core SERVER_CPU (0),
# with the load generator on LG_CPU (1); servers listen on 127.0.0.1 only
# and are stopped by PID.
#
# Environment:
#   RUNS=3          runs per workload and server (median and spread)
#   DURATION=5      measured seconds per run;  WARMUP=1 seconds before
#   QUICK=1         DURATION=1 WARMUP=0.3 RUNS=1 unless given
#   SERVERS=...     subset of: wsio uws ws lws tcp
#   WORKLOADS=...   subset of the names below
#   SERVER_CPU=0 LG_CPU=1   cores for taskset
#   INSTALL=0       skip apt-get and npm (use what is there)
#   BUILD=build     wsio's build directory;  OUT=$BUILD/bench/compare
#   PORT_BASE=21000 first port tried
#   WSIO_ECHO_FLAGS="--quiet --defer-accept"   what examples/echo runs with:
#                   no log line per connection (the peers write none), and
#                   cfg.defer_accept (docs/PERFORMANCE.md, connect row);
#                   WSIO_ECHO_FLAGS= runs it with neither
#
# Each row has the server's CPU time per message (per delivery for
# broadcast, per handshake for connect): /proc/PID/stat utime+stime over
# the measured window, divided by the messages - the figure that still
# ranks servers when the load generator is the limit - and its ratio to
# the raw TCP server's in the same round; and the server's system calls per
# message, counted by the kernel's raw_syscalls:sys_enter tracepoint (what
# `perf stat -e raw_syscalls:sys_enter` reads) over the same window, or
# "n/a" where tracing is not permitted.
# The connect row also has the load generator's CPU per handshake: at
# 100% of its core that, not the server, sets handshakes/s.
#
# Output: a line per run, then a markdown table ($OUT/table.md); raw
# load generator output and server logs stay in $OUT. Exit status 1 when
# any run failed validation or could not run.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-1}
    WARMUP=${WARMUP:-0.3}
    RUNS=${RUNS:-1}
fi
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"wsio uws ws lws tcp"}
SERVER_CPU=${SERVER_CPU:-0}
LG_CPU=${LG_CPU:-1}
INSTALL=${INSTALL:-1}
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bench/compare}
PORT_BASE=${PORT_BASE:-21000}
WSIO_ECHO_FLAGS=${WSIO_ECHO_FLAGS-"--quiet --defer-accept"}

# name | loadgen mode | C | P | S | ws or wss  (the workloads of the
# Performance issues; wss: the same over TLS)
ALL_WORKLOADS="
echo-32-p1|echo|100|1|32
echo-32-p16|echo|100|16|32
echo-512-c100|echo|100|1|512
echo-1k-c100|echo|100|1|1024
echo-16k-c100|echo|100|1|16384
echo-512-c500|echo|500|1|512
echo-1k-c500|echo|500|1|1024
echo-16k-c500|echo|500|1|16384
echo-64k-c10-p4|echo|10|4|65536
bcast-64-p1|broadcast|1000|1|64
bcast-64-p8|broadcast|1000|8|64
connect-10k|connect|10000|1|32
wss-echo-32-p16|echo|100|16|32|wss
wss-echo-64k-c10-p4|echo|10|4|65536|wss
wss-bcast-64-p8|broadcast|1000|8|64|wss
"
WORKLOADS=${WORKLOADS:-$(echo "$ALL_WORKLOADS" | cut -d'|' -f1 | xargs)}

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 2; }

# ---- install -----------------------------------------------------------

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_deps() {
    local need=""
    pkg-config --exists libwebsockets 2>/dev/null || need="$need libwebsockets-dev"
    command -v cc >/dev/null && command -v make >/dev/null || need="$need build-essential"
    command -v pkg-config >/dev/null || need="$need pkg-config"
    command -v node >/dev/null || need="$need nodejs"
    command -v npm >/dev/null || need="$need npm"
    command -v taskset >/dev/null || need="$need util-linux"
    if [ -n "$need" ]; then
        log "== apt-get install$need"
        as_root apt-get update -qq || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $need \
            || die "apt-get install$need failed"
    fi
    if [ ! -d bench/node_modules/ws ] || [ ! -d bench/node_modules/@trufflesuite/uws-js-unofficial ] \
       || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
        log "== npm ci (bench/)"
        (cd bench && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    fi
}

[ "$INSTALL" = 1 ] && install_deps

# ---- build -------------------------------------------------------------

log "== build"
make -j2 BUILD="$BUILD" static examples bench-build >/dev/null || die "make failed"
case " $SERVERS " in
*" lws "*)
    cc -std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -o "$BUILD/bench/lws_server" \
        bench/peers/lws_server.c $(pkg-config --cflags --libs libwebsockets) \
        || die "cannot build bench/peers/lws_server.c"
    ;;
esac
LOADGEN=$BUILD/bench/loadgen

# wss rows: a test certificate, and a wsio and load generator built with TLS.
CERTS=$OUT/certs
case " $WORKLOADS " in
*" wss-"*)
    mkdir -p "$CERTS"
    [ -f "$CERTS/server.pem" ] || sh tests/tls/make_certs.sh "$CERTS" \
        || die "cannot make test certificates (openssl)"
    "$LOADGEN" --help | grep -q 'not in this build' \
        && log "compare.sh: warning: the load generator has no TLS (no OpenSSL): wss rows fail"
    ;;
esac

# Room for 10000 connections in the server and in the load generator
# (each inherits this shell's limit).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
    log "compare.sh: warning: ulimit -n is $(ulimit -n); connect-10k needs 10100"
fi

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: > "$RESULTS"
FAILED=0

# ---- servers -----------------------------------------------------------

# server_cmd NAME MODE PORT PROTO - the command line of a server, or
# nothing when that server has no such mode.
server_cmd() {
    local name=$1 mode=$2 port=$3 proto=${4:-ws} kind=echo tls="" flags=$WSIO_ECHO_FLAGS
    [ "$mode" = broadcast ] && kind=broadcast flags=""
    [ "$proto" = wss ] && tls="--tls-cert $CERTS/server.pem --tls-key $CERTS/server.key"
    case $name in
    wsio) echo "$BUILD/examples/$kind --host 127.0.0.1 --port $port --max-per-addr 0 --handshake-rate 0 $flags $tls" ;;
    uws) echo "node bench/peers/uws_server.mjs --host 127.0.0.1 --port $port --mode $kind $tls" ;;
    ws) echo "node bench/peers/ws_server.mjs --host 127.0.0.1 --port $port --mode $kind $tls" ;;
    lws) [ -z "$tls" ] && echo "$BUILD/bench/lws_server --host 127.0.0.1 --port $port --mode $kind" ;;
    tcp) [ -z "$tls" ] && echo "$BUILD/bench/tcp_echo --host 127.0.0.1 --port $port --mode $kind" ;;
    esac
}

NEXT_PORT=$PORT_BASE
SERVER_PID=""

# start_server NAME MODE LOG PROTO - start it pinned, wait for its
# "listening" line; sets SERVER_PID and PORT. Tries the next port when one
# is taken.
start_server() {
    local name=$1 mode=$2 slog=$3 proto=$4 tries
    for tries in 1 2 3 4 5; do
        PORT=$NEXT_PORT
        NEXT_PORT=$((NEXT_PORT + 1))
        [ "$NEXT_PORT" -gt 32000 ] && NEXT_PORT=$PORT_BASE
        local cmd
        cmd=$(server_cmd "$name" "$mode" "$PORT" "$proto")
        taskset -c "$SERVER_CPU" $cmd >"$slog" 2>&1 &
        SERVER_PID=$!
        local i
        for i in $(seq 1 100); do
            grep -q "listening" "$slog" 2>/dev/null && return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_server
    done
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local i
    for i in $(seq 1 70); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}
trap 'stop_server; exit 130' INT TERM

# ---- machine -----------------------------------------------------------

versions() {
    echo "wsio $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
    echo "node $(node --version 2>/dev/null)"
    echo "ws $(node -p "require('./bench/node_modules/ws/package.json').version" 2>/dev/null)"
    echo "uWebSockets.js (@trufflesuite/uws-js-unofficial) $(node -p "require('./bench/node_modules/@trufflesuite/uws-js-unofficial/package.json').version" 2>/dev/null)"
    echo "libwebsockets $(pkg-config --modversion libwebsockets 2>/dev/null)"
}

{
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    versions | paste -sd';' | sed 's/;/; /g'
    echo "examples/echo flags: ${WSIO_ECHO_FLAGS:-(none)}"
    echo "runs $RUNS x ${DURATION}s measured after ${WARMUP}s warm-up; server on core $SERVER_CPU, load generator on core $LG_CPU"
} | tee "$OUT/machine.txt" >&2

# ---- runs --------------------------------------------------------------

field() { # field KEY LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

for wl in $WORKLOADS; do
    spec=$(echo "$ALL_WORKLOADS" | grep "^$wl|") || die "unknown workload $wl"
    IFS='|' read -r _ mode c p s proto <<EOF
$spec
EOF
    proto=${proto:-ws}
    for srv in $SERVERS; do
        [ -n "$(server_cmd "$srv" "$mode" 0 "$proto")" ] || continue
        for run in $(seq 1 "$RUNS"); do
            base=$OUT/$wl.$srv.$run
            if ! start_server "$srv" "$mode" "$base.server.log" "$proto"; then
                log "$wl $srv run $run: server did not start (see $base.server.log)"
                printf '%s\t%s\t%s\tERROR\n' "$wl" "$srv" "$run" >> "$RESULTS"
                FAILED=1
                continue
            fi
            raw=""
            [ "$srv" = tcp ] && raw=--raw
            [ "$proto" = wss ] && raw=--tls
            taskset -c "$LG_CPU" "$LOADGEN" "$mode" --port "$PORT" -c "$c" -p "$p" -s "$s" \
                --duration "$DURATION" --warmup "$WARMUP" --cpu --server-pid "$SERVER_PID" \
                $raw >"$base.loadgen.log" 2>&1
            rc=$?
            stop_server
            line=$(grep '^RESULT' "$base.loadgen.log" | tail -1)
            if [ "$rc" != 0 ] || [ -z "$line" ]; then
                log "$wl $srv run $run: load generator failed (exit $rc, see $base.loadgen.log)"
                FAILED=1
            fi
            if [ -z "$line" ]; then
                printf '%s\t%s\t%s\tERROR\n' "$wl" "$srv" "$run" >> "$RESULTS"
                continue
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$srv" "$run" \
                "$(field rate "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" \
                "$(field hs_rate "$line")" "$(field per_conn_bytes "$line")" \
                "$(field anon_per_conn_bytes "$line")" "$(field lg_cpu "$line")" \
                "$(field srv_cpu "$line")" "$(field failures "$line")" "$mode" \
                "$(field other_cpu "$line")" "$(field srv_us_per_unit "$line")" \
                "$(field syscalls_per_unit "$line")" "$(field lg_us_per_unit "$line")" >> "$RESULTS"
            if [ "$mode" = connect ]; then
                log "$(printf '%-16s %-5s run %s: %8s handshakes/s, %6s B/conn RSS (%s anon), srv %s us %s syscalls /handshake, lg %s us /handshake, CPU srv %s%% lg %s%% other %s%%' \
                    "$wl" "$srv" "$run" "$(field hs_rate "$line")" "$(field per_conn_bytes "$line")" \
                    "$(field anon_per_conn_bytes "$line")" "$(field srv_us_per_unit "$line")" \
                    "$(field syscalls_per_unit "$line")" "$(field lg_us_per_unit "$line")" \
                    "$(field srv_cpu "$line")" "$(field lg_cpu "$line")" \
                    "$(field other_cpu "$line")")"
            else
                log "$(printf '%-16s %-5s run %s: %10s msg/s, p50 %s us, p99 %s us, srv %s us %s syscalls /msg, CPU srv %s%% lg %s%% other %s%%' \
                    "$wl" "$srv" "$run" "$(field rate "$line")" "$(field p50_us "$line")" \
                    "$(field p99_us "$line")" "$(field srv_us_per_unit "$line")" \
                    "$(field syscalls_per_unit "$line")" "$(field srv_cpu "$line")" "$(field lg_cpu "$line")" \
                    "$(field other_cpu "$line")")"
            fi
        done
    done
done

# ---- table -------------------------------------------------------------

# Medians per workload and server; the ratio is wsio's median over the
# peer's (for connect: handshakes/s, and bytes per connection); "x raw" is
# the server's CPU per message over the raw TCP server's in the workload.
awk -F'\t' -v order="$WORKLOADS" -v servers="$SERVERS" '
function median(s,    a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n == 0) return ""
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function minmax(s,    a, n, i, lo, hi) {
    n = split(s, a, " "); lo = a[1] + 0; hi = a[1] + 0
    for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
    MIN = lo; MAX = hi
}
function fmt(x) {
    if (x == "") return "-"
    if (x + 0 >= 1e6) return sprintf("%.2fM", x / 1e6)
    if (x + 0 >= 1e4) return sprintf("%.1fk", x / 1e3)
    return sprintf("%.0f", x)
}
function us(x) {
    if (x == "" || x + 0 < 0) return "n/a"
    return x + 0 >= 10 ? sprintf("%.1f", x) : sprintf("%.3f", x)
}
function xraw(x, r) { return (x != "" && x + 0 > 0 && r != "" && r + 0 > 0) ? sprintf("%.2f", x / r) : "-" }
function spread(s, m) { minmax(s); return m > 0 ? sprintf("±%.0f%%", 50 * (MAX - MIN) / m) : "-" }
function add(k, v) { vals[k] = (k in vals) ? vals[k] " " v : v }
$4 == "ERROR" { err[$1 SUBSEP $2]++; next }
{
    k = $1 SUBSEP $2
    add(k SUBSEP "rate", $4); add(k SUBSEP "p50", $5); add(k SUBSEP "p99", $6)
    add(k SUBSEP "hs", $7); add(k SUBSEP "mem", $8); add(k SUBSEP "anon", $9)
    add(k SUBSEP "lg", $10); add(k SUBSEP "srv", $11); add(k SUBSEP "oth", $14)
    add(k SUBSEP "us", $15); add(k SUBSEP "sc", $16); add(k SUBSEP "lgus", $17)
    fails[k] += $12; mode[$1] = $13; seen[k] = 1
}
END {
    nw = split(order, W, " "); ns = split(servers, S, " ")
    print "| workload | server | msg/s (median) | spread | p50 µs | p99 µs | wsio / this | server CPU µs / msg | × raw TCP (CPU / msg) | server syscalls / msg | server CPU % | loadgen CPU % | other CPU % |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (w = 1; w <= nw; w++) {
        if (mode[W[w]] == "connect") continue
        base = median(vals[W[w] SUBSEP "wsio" SUBSEP "rate"])
        rawus = median(vals[W[w] SUBSEP "tcp" SUBSEP "us"])
        for (i = 1; i <= ns; i++) {
            k = W[w] SUBSEP S[i]
            if (!(k in seen)) { if (k in err) printf "| %s | %s | failed | | | | | | | | | | |\n", W[w], S[i]; continue }
            m = median(vals[k SUBSEP "rate"])
            ratio = (base != "" && m > 0) ? sprintf("%.2f", base / m) : "-"
            note = fails[k] ? " (VALIDATION FAILED)" : ""
            u = median(vals[k SUBSEP "us"])
            printf "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f |\n", W[w], S[i], note, fmt(m),
                spread(vals[k SUBSEP "rate"], m), fmt(median(vals[k SUBSEP "p50"])),
                fmt(median(vals[k SUBSEP "p99"])), ratio, us(u), xraw(u, rawus),
                us(median(vals[k SUBSEP "sc"])), median(vals[k SUBSEP "srv"]),
                median(vals[k SUBSEP "lg"]), median(vals[k SUBSEP "oth"])
        }
    }
    for (w = 1; w <= nw; w++) {
        if (mode[W[w]] != "connect") continue
        print ""
        print "| workload | server | handshakes/s (median) | spread | wsio / this | RSS bytes per idle connection | RssAnon bytes per connection | wsio / this (RSS) | server CPU µs / handshake | × raw TCP (CPU / connection) | server syscalls / handshake | server CPU % | loadgen CPU % | loadgen CPU µs / handshake | other CPU % |"
        print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        base = median(vals[W[w] SUBSEP "wsio" SUBSEP "hs"])
        bmem = median(vals[W[w] SUBSEP "wsio" SUBSEP "mem"])
        rawus = median(vals[W[w] SUBSEP "tcp" SUBSEP "us"])
        for (i = 1; i <= ns; i++) {
            k = W[w] SUBSEP S[i]
            if (!(k in seen)) { if (k in err) printf "| %s | %s | failed | | | | | | | | | | | | |\n", W[w], S[i]; continue }
            m = median(vals[k SUBSEP "hs"]); mm = median(vals[k SUBSEP "mem"])
            note = fails[k] ? " (VALIDATION FAILED)" : ""
            u = median(vals[k SUBSEP "us"])
            printf "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s | %.0f |\n", W[w], S[i], note, fmt(m),
                spread(vals[k SUBSEP "hs"], m), (base != "" && m > 0) ? sprintf("%.2f", base / m) : "-",
                mm, median(vals[k SUBSEP "anon"]),
                (bmem != "" && mm > 0) ? sprintf("%.2f", bmem / mm) : "-",
                us(u), xraw(u, rawus), us(median(vals[k SUBSEP "sc"])),
                median(vals[k SUBSEP "srv"]), median(vals[k SUBSEP "lg"]),
                us(median(vals[k SUBSEP "lgus"])), median(vals[k SUBSEP "oth"])
        }
    }
}' "$RESULTS" > "$OUT/table.md"

echo
cat "$OUT/machine.txt"
echo
cat "$OUT/table.md"
echo
echo "spread: half the range of the runs, relative to the median. CPU: % of one core over the measured"
echo "window (server: /proc/PID/stat utime+stime; loadgen: getrusage). A loadgen near 100% means the"
echo "figure is the load generator's limit, not the server's. Other: the rest of the machine's busy"
echo "time (/proc/stat) - other processes sharing the cores; near 0 on a quiet machine. CPU / msg: the"
echo "server's utime+stime over the window per message (broadcast: per delivery; connect: per handshake),"
echo "x raw TCP: over the raw TCP server's in the same round (- where there is none: wss). Syscalls / msg:"
echo "the tracepoint raw_syscalls:sys_enter on every server thread over the window (n/a: tracing not"
echo "permitted here). Raw logs: $OUT/"
exit $FAILED
