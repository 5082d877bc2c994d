#!/bin/sh
# tests/libuv/run.sh - the chat inside a libuv loop (build/examples/chat-uv)
# through wsio-cat: the page over HTTP, a message back to its sender, a
# hundred in order, one to another client, the heartbeat (timers), a refused
# upgrade, and a graceful SIGTERM (1001 to the clients, exit 0). Every
# wait is bounded. `make libuv-test` runs this, then the browser test.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
BUILD=${BUILD:-build}
CAT=$BUILD/wsio-cat
UV=$BUILD/examples/chat-uv
for bin in "$CAT" "$UV"; do
    [ -x "$bin" ] || { echo "missing $bin: make examples wsio-cat" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

start_server "$TMP/uv" "$UV" --ping-interval 300 || exit 1
HTTP_URL=$SERVER_URL
WS_URL=$(echo "$SERVER_URL" | sed 's|^http://|ws://|')ws
UV_PID=$SERVER_PID

# chat_lines FILE CONTENT...: a name, then one chat message per CONTENT.
chat_lines() {
    f=$1
    shift
    echo '{"type":"username","username":"uv"}' >"$f"
    for c in "$@"; do printf '{"type":"chat","content":"%s"}\n' "$c" >>"$f"; done
}

page=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$HTTP_URL" 2>&1)
case $page in
*'<html'*WebSocket*) pass page_over_http ;;
*) fail page_over_http "$(echo "$page" | head -3)" ;;
esac

# The sender gets its own message back as the room's broadcast.
chat_lines "$TMP/one" 'hello from libuv'
timeout 10 "$CAT" --wait 1000 "$WS_URL" <"$TMP/one" >"$TMP/one.out" 2>"$TMP/one.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '"type":"chat","username":"uv","content":"hello from libuv"' "$TMP/one.out"; then
    pass message_round_trip
else
    fail message_round_trip "exit $rc: $(cat "$TMP/one.out" "$TMP/one.err")"
fi

# A hundred messages come back in the order sent (the history holds 100:
# a newcomer's replay is skipped by counting from the rename notice).
set -- $(seq 1 100 | sed 's/^/m/')
chat_lines "$TMP/many" "$@"
timeout 20 "$CAT" --wait 2000 "$WS_URL" <"$TMP/many" >"$TMP/many.out" 2>"$TMP/many.err"
got=$(sed -n '/is now known as uv/,$p' "$TMP/many.out" |
      sed -n 's/.*"username":"uv","content":"\(m[0-9]*\)".*/\1/p' | tr '\n' ' ')
if [ "$got" = "$(echo "$@") " ]; then
    pass hundred_in_order
else
    fail hundred_in_order "got: $got"
fi

# Another client hears it: a listener held open by a FIFO.
mkfifo "$TMP/hold"
timeout 15 "$CAT" "$WS_URL" <"$TMP/hold" >"$TMP/listener.out" 2>"$TMP/listener.err" &
LISTENER=$!
exec 4>"$TMP/hold"
for _ in $(seq 1 100); do
    grep -q 'joined' "$TMP/listener.out" 2>/dev/null && break
    sleep 0.1
done
chat_lines "$TMP/other" 'to everyone'
timeout 10 "$CAT" --wait 500 "$WS_URL" <"$TMP/other" >/dev/null 2>&1
for _ in $(seq 1 50); do
    grep -q '"content":"to everyone"' "$TMP/listener.out" && break
    sleep 0.1
done
if grep -q '"content":"to everyone"' "$TMP/listener.out"; then
    pass broadcast_to_other_client
else
    fail broadcast_to_other_client "listener got: $(cat "$TMP/listener.out")"
fi

# The heartbeat runs on libuv's timer: a peer that never answers gets a
# ping and is dropped at the next one; wsio-cat, which answers, stays.
hp=${HTTP_URL#http://}
hp=${hp%/}
if out=$(timeout 10 python3 tests/libuv/silent_peer.py "${hp%:*}" "${hp##*:}" /ws 2>&1); then
    pass heartbeat_drops_silent_peer
else
    fail heartbeat_drops_silent_peer "$out"
fi
if kill -0 "$LISTENER" 2>/dev/null && ! grep -q closed "$TMP/listener.err"; then
    pass heartbeat_keeps_answering_client
else
    fail heartbeat_keeps_answering_client "$(cat "$TMP/listener.err")"
fi

# Upgrades outside / and /ws are refused with 404 (exit 3).
timeout 10 "$CAT" "${WS_URL%ws}nope" </dev/null >/dev/null 2>"$TMP/nope.err"
rc=$?
if [ $rc -eq 3 ] && grep -q 'HTTP 404' "$TMP/nope.err"; then
    pass refused_upgrade
else
    fail refused_upgrade "exit $rc: $(cat "$TMP/nope.err")"
fi

# SIGTERM: the listener is closed with 1001 (exit 4), the server exits 0.
if stop_server "$UV_PID"; then
    wait "$LISTENER"
    rc=$?
    if [ $rc -eq 4 ] && grep -q '1001' "$TMP/listener.err"; then
        pass sigterm_closes_1001
    else
        fail sigterm_closes_1001 "listener exit $rc: $(cat "$TMP/listener.err")"
    fi
else
    fail sigterm_closes_1001 "chat-uv did not exit cleanly: $(tail -5 "$TMP/uv.err")"
fi
exec 4>&-

echo "libuv: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
