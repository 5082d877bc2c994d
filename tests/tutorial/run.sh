#!/bin/sh
# tests/tutorial/run.sh - the programs of docs/tutorial.md
# (examples/tutorial/*.c), each started on a free port and talked to with
# wsio-cat the way the tutorial does. Every wait is bounded.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
BUILD=${BUILD:-build}
CAT=$BUILD/wsio-cat
T=$BUILD/examples/tutorial
TMP=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

# start_prog NAME: $T/NAME 0 (any free port); sets URL and PID from its
# "listening on URL" line.
start_prog() {
    "$T/$1" 0 >"$TMP/$1.out" 2>"$TMP/$1.err" &
    PID=$!
    SERVER_PIDS="$SERVER_PIDS $PID"
    URL=""
    for _ in $(seq 1 100); do
        URL=$(sed -n 's/^listening on //p' "$TMP/$1.out")
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    echo "$1 did not start: $(cat "$TMP/$1.err")" >&2
    return 1
}

# hold NAME URL: a wsio-cat whose stdin stays open (fd 4) until unhold.
hold() {
    rm -f "$TMP/hold"
    mkfifo "$TMP/hold"
    timeout 15 "$CAT" "$2" <"$TMP/hold" >"$TMP/$1.out" 2>"$TMP/$1.err" &
    HELD=$!
    exec 4>"$TMP/hold"
}
unhold() {
    exec 4>&-
    wait "$HELD"
}
wait_for() { # FILE PATTERN
    for _ in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# 1. first_server: what goes out comes back.
if start_prog first_server; then
    got=$(printf 'hello\nПривет\n' | timeout 10 "$CAT" -n 2 "$URL" 2>"$TMP/c1.err")
    [ "$got" = "$(printf 'hello\nПривет')" ] && pass first_server_echo ||
        fail first_server_echo "got '$got': $(cat "$TMP/c1.err")"
    stop_server "$PID" 2>/dev/null
fi

# 2. http_same_port: the page at /, the WebSocket at /ws, 404 elsewhere.
if start_prog http_same_port; then
    page=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$URL" 2>&1)
    ws=$(echo "$URL" | sed 's|^http://|ws://|')
    got=$(echo ping | timeout 10 "$CAT" -n 1 "${ws}ws" 2>/dev/null)
    timeout 10 "$CAT" "${ws}elsewhere" </dev/null >/dev/null 2>&1
    rc=$?
    case $page in
    *"new WebSocket"*) [ "$got" = ping ] && [ $rc -eq 3 ] && pass http_same_port ||
        fail http_same_port "ws got '$got', /elsewhere exit $rc" ;;
    *) fail http_same_port "page: $page" ;;
    esac
    stop_server "$PID" 2>/dev/null
fi

# 3. broadcast: a held listener hears another client; topics reach
# subscribers only.
if start_prog broadcast; then
    hold listener "$URL"
    echo '/join news' >&4
    wait_for "$TMP/listener.out" welcome
    sleep 0.2
    printf 'to all\n@news to news\n@sport not for you\n' |
        timeout 10 "$CAT" --wait 500 "$URL" >/dev/null 2>&1
    wait_for "$TMP/listener.out" 'to news'
    unhold
    if grep -qx 'to all' "$TMP/listener.out" && grep -qx 'to news' "$TMP/listener.out" &&
       ! grep -q 'not for you' "$TMP/listener.out"; then
        pass broadcast_and_topics
    else
        fail broadcast_and_topics "listener got: $(cat "$TMP/listener.out")"
    fi
    stop_server "$PID" 2>/dev/null
fi

# 5. errors_heartbeat: over 64 KiB is refused with 1009, and the server logs
# each end with its code.
if start_prog errors_heartbeat; then
    head -c 70000 /dev/zero | timeout 10 "$CAT" --binary "$URL" >/dev/null 2>"$TMP/big.err"
    rc=$?
    if [ $rc -eq 4 ] && grep -q 1009 "$TMP/big.err" && wait_for "$TMP/errors_heartbeat.err" 'close 1009'; then
        pass too_big_closes_1009
    else
        fail too_big_closes_1009 "exit $rc: $(cat "$TMP/big.err" "$TMP/errors_heartbeat.err")"
    fi
    stop_server "$PID" 2>/dev/null
fi

# 8. production: SIGTERM closes clients with 1001, then the program exits 0.
if start_prog production; then
    hold prod "$URL"
    echo still here >&4
    wait_for "$TMP/prod.out" 'still here'
    if stop_server "$PID"; then
        exec 4>&-
        wait "$HELD"
        rc=$?
        if [ $rc -eq 4 ] && grep -q 1001 "$TMP/prod.err" && grep -q stopped "$TMP/production.err"; then
            pass production_graceful_sigterm
        else
            fail production_graceful_sigterm "client exit $rc: $(cat "$TMP/prod.err")"
        fi
    else
        exec 4>&-
        fail production_graceful_sigterm "did not exit cleanly"
    fi
fi

# 9. worker_thread: the answer comes from the worker, by connection id.
if start_prog worker_thread; then
    got=$(echo hello | timeout 10 "$CAT" -n 1 "$URL" 2>"$TMP/w.err")
    [ "$got" = HELLO ] && pass worker_thread_answers_by_id ||
        fail worker_thread_answers_by_id "got '$got': $(cat "$TMP/w.err")"
    stop_server "$PID" 2>/dev/null ||
        fail worker_thread_stops "did not exit cleanly on SIGTERM"
fi

echo "tutorial: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
