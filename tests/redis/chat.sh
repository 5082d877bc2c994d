#!/bin/sh
# Two chat processes on two ports share one room through a Redis stream in
# a redis-server of this script's own (free port, nothing saved, small
# stream nodes so that trimming shows; stopped by PID). Both keep a
# window of 20 messages (--window 20):
#   1. a client on each sees the other's messages, in order;
#   2. a newcomer on either instance sees the same last messages;
#   3. a client reads on A, leaves, misses messages sent on B, and
#      reconnects to B with ?since=<its last id>: it gets exactly the
#      missed ones, once each, in order (the ids A's client saw);
#   4. one away longer than the window reaches gets the "you missed
#      more" notice and the last messages instead;
#   5. Redis killed: nothing crosses, a sender is told its message was not
#      sent, and GET /stats counts it; a resume from an id only Redis
#      held gets the notice;
#   6. Redis restarted on the same port, empty: both reconnect and report
#      the stream's reset, cross-instance delivery resumes; both chats
#      exit cleanly on SIGTERM.
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
        --appendonly no --stream-node-max-entries 10 --loglevel warning \
        >>"$tmp/redis.log" 2>&1 &
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

WINDOW=20
start_server "$tmp/a" "$BUILD/examples/chat" --redis "$REDIS_URL" --window $WINDOW
A_URL=$SERVER_URL A_PID=$SERVER_PID
start_server "$tmp/b" "$BUILD/examples/chat" --redis "$REDIS_URL" --window $WINDOW
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
echo "ok   a newcomer on either instance sees the same shared history"

# last_id FILE: the id of the last message in FILE.
last_id() { sed -n 's/^{"id":\([0-9]*\),.*/\1/p' "$1" | tail -1; }
# check_resume SINCE RESUMED SEEN [--gap] WORD...: RESUMED (a client's
# output after reconnecting with ?since=SINCE) holds only ids after SINCE,
# each once and increasing; its chat messages are exactly WORD..., in
# order; and (without --gap) its ids up to the last WORD's are exactly
# SEEN's (a client that stayed) from SINCE on. With --gap it starts with
# the notice instead.
check_resume() {
    python3 - "$@" <<'PY'
import json, sys
since, resumed, seen = int(sys.argv[1]), sys.argv[2], sys.argv[3]
gap = sys.argv[4] == "--gap"
words = sys.argv[5:] if gap else sys.argv[4:]
def lines(f):
    return [json.loads(l) for l in open(f) if l.startswith("{")]
got = lines(resumed)
if gap:
    if not got or got[0].get("gap") is not True:
        sys.exit("no gap notice first: %r" % got[:1])
    got = got[1:]
ids = [m["id"] for m in got if "id" in m]
if any(i <= since for i in ids):
    sys.exit("a message from before since %d came again" % since)
if ids != sorted(set(ids)):
    sys.exit("ids out of order or twice: %r" % ids)
chats = [m["content"] for m in got if m.get("type") == "chat"]
if chats != words:
    sys.exit("chat messages %r, expected %r" % (chats, words))
if not gap:
    upto = next(m["id"] for m in got if m.get("content") == words[-1])
    want = [m["id"] for m in lines(seen) if "id" in m and since < m["id"] <= upto]
    if ids[:len(want)] != want:
        sys.exit("ids %r, the client that stayed saw %r" % (ids, want))
print("%d messages after %d, %d of them chat" % (len(ids), since, len(chats)))
PY
}

# 3. Carol reads on A and leaves; Bob sends on B; Carol comes back to B.
$PEER "$A_WS" --name carol --send carol-here --wait-for '"content":"carol-here"' \
    >"$tmp/carol1.out" 2>&1 || fail "carol (A) did not get her message"
SINCE=$(last_id "$tmp/carol1.out")
[ -n "$SINCE" ] || fail "carol's messages had no id"
CAROL_SINCE=$SINCE
$PEER "$B_WS" --name bob --send m1 --send m2 --send m3 --send m4 --send m5 \
    --wait-for '"content":"m5"' >"$tmp/bob2.out" 2>&1 || fail "bob (B) did not get m5"
until grep -q '"content":"m5"' "$tmp/alice.out"; do sleep 0.05; done
$PEER "$B_WS?since=$SINCE" --for 1500 >"$tmp/carol2.out" 2>&1 ||
    fail "carol could not reconnect to B"
out=$(check_resume "$SINCE" "$tmp/carol2.out" "$tmp/alice.out" m1 m2 m3 m4 m5) ||
    fail "carol's resume on B: $out"
echo "ok   a client that left A resumes on B with exactly what it missed: $out"

# 4. Dave leaves A; more than the window is sent on B; Dave comes back to B.
$PEER "$A_WS" --send dave-here --wait-for '"content":"dave-here"' \
    >"$tmp/dave1.out" 2>&1 || fail "dave (A) did not get his message"
SINCE=$(last_id "$tmp/dave1.out")
words=""
for batch in a b c; do
    set --
    for i in $(seq 1 15); do set -- "$@" --send "$batch$i"; words="$words $batch$i"; done
    $PEER "$B_WS" "$@" --wait-for "\"content\":\"${batch}15\"" >"$tmp/batch.out" 2>&1 ||
        fail "batch $batch was not sent"
done
until grep -q '"content":"c15"' "$tmp/alice.out"; do sleep 0.05; done
len=$(redis-cli -p "$REDIS_PORT" xlen wsio:s:chat)
[ "$len" -ge $WINDOW ] && [ "$len" -le $((WINDOW + 10)) ] ||
    fail "Redis keeps $len entries for a window of $WINDOW"
$PEER "$B_WS?since=$SINCE" --for 1500 >"$tmp/dave2.out" 2>&1 ||
    fail "dave could not reconnect to B"
# The last messages Redis holds: the tail of what was sent.
kept=$(grep '"type":"chat"' "$tmp/dave2.out" | sed 's/.*"content":"\([^"]*\)".*/\1/' | tr '\n' ' ')
case " $words " in
*" $kept"*) ;;
*) fail "dave got $kept, not the last of $words" ;;
esac
out=$(check_resume "$SINCE" "$tmp/dave2.out" "$tmp/alice.out" --gap $kept) ||
    fail "dave's resume on B: $out"
wait_stats "$B_URL" '"gaps":[1-9]'
echo "ok   one away longer than the window gets the notice and the last messages: $out"

# 5. Redis killed: nothing crosses; a sender hears its message was not sent.
stop_redis KILL
wait_stats "$A_URL" '"connected":0'
wait_stats "$B_URL" '"connected":0'
$PEER "$A_WS" --send during-a --wait-for 'Not sent' >"$tmp/da.out" 2>&1 ||
    fail "A did not tell its client the message was not sent"
$PEER "$B_WS" --send during-b --wait-for 'Not sent' >"$tmp/db.out" 2>&1 ||
    fail "B did not tell its client the message was not sent"
grep -q during "$tmp/alice.out" && fail "a message was delivered without Redis"
wait_stats "$A_URL" '"not_sent":[1-9]'
# Carol's old id, which B's window no longer holds, cannot be resumed
# without Redis: she is told (after the chat's wait for Redis, 5 s).
$PEER "$B_WS?since=$CAROL_SINCE" --wait-for '"gap":true' >"$tmp/cg.out" 2>&1 ||
    fail "a resume B cannot serve without Redis was not told of its gap"
echo "ok   without Redis a sender is told its message was not sent; A: $(stats "$A_URL")"

# 6. Redis back on the same port, empty: both reconnect, report the
# reset, and messages cross again.
start_redis
wait_stats "$A_URL" '"connected":1'
wait_stats "$B_URL" '"connected":1'
wait_stats "$A_URL" '"reconnects":[1-9]'
wait_stats "$A_URL" '"resets":[1-9]'
$PEER "$B_WS" --send after --wait-for '"content":"after"' >"$tmp/after.out" 2>&1 ||
    fail "B did not serve its client after the restart"
for _ in $(seq 1 100); do
    grep -q '"content":"after"' "$tmp/alice.out" && break
    sleep 0.1
done
grep -q '"content":"after"' "$tmp/alice.out" || fail "cross-instance delivery did not resume"
echo "ok   after Redis restarts empty both report it and messages cross again; A: $(stats "$A_URL")"

kill "$ALICE" 2>/dev/null || true
wait "$ALICE" 2>/dev/null || true
stop_server "$A_PID" || fail "chat A did not exit cleanly"
stop_server "$B_PID" || fail "chat B did not exit cleanly"
grep -q "redis closing" "$tmp/a.err" || fail "chat A did not log its counters"
echo "ok   both chats exit cleanly and log their counters"
