# tests/lib.sh - shell helpers for tests that start example servers.
# Source it; every server started with start_server is stopped by PID on
# exit, and every wait is bounded.

SERVER_PIDS=""
cleanup_servers() {
    for pid in $SERVER_PIDS; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $SERVER_PIDS; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup_servers EXIT

# start_server LOGFILE COMMAND...: start an example with --port 0, wait (at
# most 10 s) for its "listening on URL" line, and set SERVER_URL and
# SERVER_PID.
start_server() {
    log=$1
    shift
    : >"$log.out"
    "$@" --port 0 >"$log.out" 2>"$log.err" &
    SERVER_PID=$!
    SERVER_PIDS="$SERVER_PIDS $SERVER_PID"
    SERVER_URL=""
    for _ in $(seq 1 100); do
        SERVER_URL=$(sed -n 's/^.*: listening on \(.*\)$/\1/p' "$log.out" | head -1)
        [ -n "$SERVER_URL" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    cat "$log.err" >&2
    return 1
}

# stop_server PID: SIGTERM, then wait at most 10 s for a clean exit.
stop_server() {
    kill -TERM "$1"
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
        sleep 0.1
    done
    echo "server $1 did not exit within 10 s of SIGTERM" >&2
    kill -KILL "$1"
    return 1
}
