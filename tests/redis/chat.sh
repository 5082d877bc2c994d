#!/bin/sh
# Two chat processes on two ports share one room through a redis-server of
# this script's own (free port, nothing saved, stopped by PID):
#   1. a client on each sees the other's messages, in order;
#   2. a newcomer on either instance sees the same shared history;
#   3. Redis killed: each instance still serves its own clients, and
#      GET /stats counts what could not be published;
#   4. Redis restarted on the same port: both reconnect, cross-instance
#      delivery resumes; both chats exit cleanly on SIGTERM.
# Needs build/examples/chat built with libwsio-redis and
# build/tests/redis/chat_peer (make redis-test builds both).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh
PEER=$BUILD/tests/redis/chat_peer
tmp=$(mktemp -d)

REDIS_PID=""
stop_redis() { # signal
    [ -n "$REDIS_PID" ] || return 0
    kill "-$1" "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --loglevel warning >>"$tmp/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "redis-server did not start"; cat "$tmp/redis.log"; return 1
}
BG_PIDS=""
finish() {
    for pid in $BG_PIDS; do kill "$pid" 2>/dev/null || true; done
    stop_redis TERM
    cleanup_servers
    rm -rf "$tmp"
}
trap finish EXIT

fail() {
    echo "FAIL chat over redis: $*"
    for f in "$tmp"/*.out "$tmp"/*.err; do echo "--- $f"; cat "$f"; done
    exit 1
}

# stats URL: the chat's counters as one line of JSON.
stats() { curl -s "${1}stats"; }
# wait_stats URL PATTERN: until /stats matches (at most 10 s).
wait_stats() {
    for _ in $(seq 1 100); do
        stats "$1" | grep -q "$2" && return 0
        sleep 0.1
    done
    fail "$1stats never matched $2: $(stats "$1")"
}
# in_order FILE WORD...: each word appears in FILE, in that order.
in_order() {
    f=$1
    shift
    last=0
    for w in "$@"; do
        n=$(grep -n "\"content\":\"$w\"" "$f" | head -1 | cut -d: -f1)
        [ -n "$n" ] && [ "$n" -gt "$last" ] || return 1
        last=$n
    done
}

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_redis
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

start_server "$tmp/a" "$BUILD/examples/chat" --redis "$REDIS_URL"
A_URL=$SERVER_URL A_PID=$SERVER_PID
start_server "$tmp/b" "$BUILD/examples/chat" --redis "$REDIS_URL"
B_URL=$SERVER_URL B_PID=$SERVER_PID
A_WS=$(echo "$A_URL" | sed 's|^http|ws|')ws
B_WS=$(echo "$B_URL" | sed 's|^http|ws|')ws
wait_stats "$A_URL" '"connected":1'
wait_stats "$B_URL" '"connected":1'

# 1. Alice stays on A; Bob on B sends three messages; each sees the other's.
$PEER "$A_WS" --name alice --for 60000 >"$tmp/alice.out" 2>"$tmp/alice.err" &
ALICE=$!
BG_PIDS="$BG_PIDS $ALICE"
until grep -q "alice" "$tmp/alice.out" 2>/dev/null; do sleep 0.05; done
$PEER "$B_WS" --name bob --send one --send two --send three \
    --wait-for '"content":"from-a"' >"$tmp/bob.out" 2>"$tmp/bob.err" &
BOB=$!
for _ in $(seq 1 100); do
    in_order "$tmp/alice.out" one two three && break
    sleep 0.1
done
in_order "$tmp/alice.out" one two three || fail "alice (A) did not get bob's (B) messages in order"
$PEER "$A_WS" --send from-a --wait-for '"content":"from-a"' >"$tmp/a2.out" 2>&1 ||
    fail "a message on A did not come back"
wait "$BOB" || fail "bob (B) did not get the message sent on A"
echo "ok   a client on each instance sees the other's messages in order"

# 2. Newcomers on A and on B see the same history.
$PEER "$A_WS" --for 1000 >"$tmp/new_a.out" 2>&1
$PEER "$B_WS" --for 1000 >"$tmp/new_b.out" 2>&1
for f in new_a new_b; do
    in_order "$tmp/$f.out" one two three from-a || fail "$f: no shared history"
done
grep '"type":"chat"' "$tmp/new_a.out" >"$tmp/hist_a"
grep '"type":"chat"' "$tmp/new_b.out" >"$tmp/hist_b"
cmp -s "$tmp/hist_a" "$tmp/hist_b" || fail "the two newcomers saw different histories"
[ "$(redis-cli -p "$REDIS_PORT" llen wsio:chat:history)" -le 100 ] || fail "history over 100"
echo "ok   a newcomer on either instance sees the same shared history"

# 3. Redis killed: both instances keep serving their own clients.
stop_redis KILL
wait_stats "$A_URL" '"connected":0'
wait_stats "$B_URL" '"connected":0'
$PEER "$A_WS" --send during-a --wait-for '"content":"during-a"' >"$tmp/da.out" 2>&1 ||
    fail "A did not serve its own client without Redis"
$PEER "$B_WS" --send during-b --wait-for '"content":"during-b"' >"$tmp/db.out" 2>&1 ||
    fail "B did not serve its own client without Redis"
until grep -q '"content":"during-a"' "$tmp/alice.out"; do sleep 0.05; done
grep -q during-b "$tmp/alice.out" && fail "during-b crossed without Redis"
wait_stats "$A_URL" '"publish_dropped":[1-9]'
echo "ok   without Redis each instance serves its own clients; A: $(stats "$A_URL")"

# 4. Redis back on the same port: both reconnect, messages cross again.
start_redis
wait_stats "$A_URL" '"connected":1'
wait_stats "$B_URL" '"connected":1'
wait_stats "$A_URL" '"reconnects":[1-9]'
$PEER "$B_WS" --send after --wait-for '"content":"after"' >"$tmp/after.out" 2>&1 ||
    fail "B did not serve its client after the restart"
for _ in $(seq 1 100); do
    grep -q '"content":"after"' "$tmp/alice.out" && break
    sleep 0.1
done
grep -q '"content":"after"' "$tmp/alice.out" || fail "cross-instance delivery did not resume"
echo "ok   after Redis restarts both reconnect and messages cross again; A: $(stats "$A_URL")"

kill "$ALICE" 2>/dev/null || true
wait "$ALICE" 2>/dev/null || true
stop_server "$A_PID" || fail "chat A did not exit cleanly"
stop_server "$B_PID" || fail "chat B did not exit cleanly"
grep -q "redis closing" "$tmp/a.err" || fail "chat A did not log its counters"
echo "ok   both chats exit cleanly and log their counters"
