#!/bin/sh
# tests/tools/wsio_cat_test.sh - wsio-cat against the echo and chat
# examples and against itself in --listen mode. One line per case, then
# "wsio-cat: N passed, M failed"; exits nonzero when a case failed.
# Every wait is bounded: each wsio-cat runs under timeout(1), and every
# poll for a log line gives up after 10 s.
#
#     make tools-test            (or: BUILD=build sh tests/tools/wsio_cat_test.sh)

cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

BUILD=${BUILD:-build}
CAT=$BUILD/wsio-cat
ECHO=$BUILD/examples/echo
CHAT=$BUILD/examples/chat
for bin in "$CAT" "$ECHO" "$CHAT"; do
    [ -x "$bin" ] || { echo "missing $bin: make examples wsio-cat" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

# wait_for FILE PATTERN: wait (at most 10 s) for a line matching PATTERN.
wait_for() {
    for _ in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_listener LOG ARGS...: wsio-cat --listen 0 ARGS with stdin from
# $LISTEN_STDIN (default /dev/null); sets LISTEN_URL and LISTEN_PID. When
# LISTEN_STDIN is a FIFO, fd 3 of this shell becomes its writing end.
start_listener() {
    log=$1
    shift
    "$CAT" --listen 0 "$@" <"${LISTEN_STDIN:-/dev/null}" >"$log.out" 2>"$log.err" &
    LISTEN_PID=$!
    SERVER_PIDS="$SERVER_PIDS $LISTEN_PID"
    # Opening a FIFO blocks until both ends are open: the listener opens
    # the reading end, this shell the writing end.
    if [ -p "${LISTEN_STDIN:-}" ]; then exec 3>"$LISTEN_STDIN"; fi
    wait_for "$log.err" "listening on" || return 1
    LISTEN_URL=$(sed -n 's/^wsio-cat: listening on //p' "$log.err")
}

# start_held_client LOG URL: wsio-cat URL with a stdin that stays open (fd 4
# of this shell holds a FIFO's writing end) until release_client; sets
# CLIENT_PID.
start_held_client() {
    rm -f "$TMP/hold.fifo"
    mkfifo "$TMP/hold.fifo"
    timeout 15 "$CAT" "$2" <"$TMP/hold.fifo" >"$1.out" 2>"$1.err" &
    CLIENT_PID=$!
    exec 4>"$TMP/hold.fifo"
}

# release_client: close its stdin and wait for it; returns its status.
release_client() {
    exec 4>&-
    wait "$CLIENT_PID"
}

start_server "$TMP/echo" "$ECHO" || exit 1
ECHO_URL=$SERVER_URL

# ---- the client through a pipe ------------------------------------------

case_lines_in_order() {
    printf 'one\ntwo\n\nthree four\nlast line without newline' >"$TMP/lines"
    timeout 10 "$CAT" --wait 5000 -n 5 "$ECHO_URL" <"$TMP/lines" \
        >"$TMP/lines.out" 2>"$TMP/lines.err"
    rc=$?
    printf 'one\ntwo\n\nthree four\nlast line without newline\n' >"$TMP/lines.want"
    if [ $rc -ne 0 ]; then
        fail lines_in_order "exit $rc: $(cat "$TMP/lines.err")"
    elif ! cmp -s "$TMP/lines.want" "$TMP/lines.out"; then
        fail lines_in_order "got: $(cat "$TMP/lines.out")"
    elif ! grep -qx 'closed: 1000' "$TMP/lines.err"; then
        fail lines_in_order "stderr: $(cat "$TMP/lines.err")"
    else
        pass lines_in_order
    fi
}

# Without -n the tool waits --wait ms after EOF, then closes cleanly.
case_wait_after_eof() {
    out=$(echo hello | timeout 10 "$CAT" --wait 300 "$ECHO_URL" 2>"$TMP/wait.err")
    rc=$?
    if [ $rc -eq 0 ] && [ "$out" = hello ] && grep -qx 'closed: 1000' "$TMP/wait.err"; then
        pass wait_after_eof
    else
        fail wait_after_eof "exit $rc, out '$out', err $(cat "$TMP/wait.err")"
    fi
}

case_cyrillic_intact() {
    printf 'Привет, мир!\nЁжик в тумане — ёлка\n' >"$TMP/cyr"
    timeout 10 "$CAT" -n 2 "$ECHO_URL" <"$TMP/cyr" >"$TMP/cyr.out" 2>"$TMP/cyr.err"
    rc=$?
    if [ $rc -eq 0 ] && cmp -s "$TMP/cyr" "$TMP/cyr.out"; then
        pass cyrillic_intact
    else
        fail cyrillic_intact "exit $rc, got: $(cat "$TMP/cyr.out")"
    fi
}

# Bytes that are not UTF-8 at all (NUL, 0xff) and a size over the 64 KiB
# reads: the whole input goes as one binary message and comes back raw.
case_binary_roundtrip() {
    head -c 300000 /dev/urandom >"$TMP/bin"
    timeout 10 "$CAT" --binary -n 1 "$ECHO_URL" <"$TMP/bin" >"$TMP/bin.out" 2>"$TMP/bin.err"
    rc=$?
    if [ $rc -eq 0 ] && cmp -s "$TMP/bin" "$TMP/bin.out"; then
        pass binary_roundtrip
    else
        fail binary_roundtrip "exit $rc, $(wc -c <"$TMP/bin.out") bytes back"
    fi
}

# --chunk: 300000 bytes in 7000-byte messages is 43 messages (the last one
# shorter); the bytes still come back in order.
case_binary_chunks() {
    timeout 10 "$CAT" --binary --chunk 7000 -n 43 "$ECHO_URL" <"$TMP/bin" \
        >"$TMP/chunk.out" 2>"$TMP/chunk.err"
    rc=$?
    if [ $rc -eq 0 ] && cmp -s "$TMP/bin" "$TMP/chunk.out"; then
        pass binary_chunks
    else
        fail binary_chunks "exit $rc, $(wc -c <"$TMP/chunk.out") bytes back"
    fi
}

# ---- how it ends -----------------------------------------------------------

case_refused_exit_2() {
    start_server "$TMP/gone" "$ECHO" || { fail refused_exit_2 "no server"; return; }
    url=$SERVER_URL
    stop_server "$SERVER_PID"
    timeout 10 "$CAT" "$url" </dev/null >/dev/null 2>"$TMP/refused.err"
    rc=$?
    if [ $rc -eq 2 ] && grep -qi 'refused' "$TMP/refused.err"; then
        pass refused_exit_2
    else
        fail refused_exit_2 "exit $rc: $(cat "$TMP/refused.err")"
    fi
}

# The chat example refuses upgrades outside / and /ws with 404.
case_handshake_refused_exit_3() {
    start_server "$TMP/chat" "$CHAT" || { fail handshake_refused_exit_3 "no chat"; return; }
    url=$(echo "$SERVER_URL" | sed 's|^http://|ws://|')
    timeout 10 "$CAT" "${url}nope" </dev/null >/dev/null 2>"$TMP/hs.err"
    rc=$?
    stop_server "$SERVER_PID"
    if [ $rc -eq 3 ] && grep -q 'HTTP 404' "$TMP/hs.err"; then
        pass handshake_refused_exit_3
    else
        fail handshake_refused_exit_3 "exit $rc: $(cat "$TMP/hs.err")"
    fi
}

# SIGTERM makes the echo example close every connection with 1001.
case_server_close_exit_4() {
    start_server "$TMP/term" "$ECHO" || { fail server_close_exit_4 "no server"; return; }
    pid=$SERVER_PID
    start_held_client "$TMP/term.cat" "$SERVER_URL"
    wait_for "$TMP/term.err" 'echo: open' || true
    stop_server "$pid"
    # The client must end on its own, with its stdin still open.
    wait_for "$TMP/term.cat.err" '^closed:' || true
    release_client
    rc=$?
    if [ $rc -eq 4 ] && grep -q '^closed: 1001' "$TMP/term.cat.err"; then
        pass server_close_exit_4
    else
        fail server_close_exit_4 "exit $rc: $(cat "$TMP/term.cat.err")"
    fi
}

# A server that dies (SIGKILL) sends no close frame: 1006, status 5.
case_server_killed_exit_5() {
    start_server "$TMP/kill" "$ECHO" || { fail server_killed_exit_5 "no server"; return; }
    pid=$SERVER_PID
    start_held_client "$TMP/kill.cat" "$SERVER_URL"
    wait_for "$TMP/kill.err" 'echo: open' || true
    kill -KILL "$pid"
    # The client must end on its own, with its stdin still open.
    wait_for "$TMP/kill.cat.err" '^closed:' || true
    release_client
    rc=$?
    if [ $rc -eq 5 ] && grep -q '^closed: 1006' "$TMP/kill.cat.err"; then
        pass server_killed_exit_5
    else
        fail server_killed_exit_5 "exit $rc: $(cat "$TMP/kill.cat.err")"
    fi
}

# --reconnect: the listener goes away and comes back on the same port; the
# client reports the loss and the waits, connects again, and a line typed
# after that is echoed.
case_reconnect_after_restart() {
    start_listener "$TMP/rl1" --echo || { fail reconnect_after_restart "no listener"; return; }
    url=$LISTEN_URL
    port=$(echo "$url" | sed 's|^ws://127.0.0.1:\([0-9]*\)/$|\1|')
    rm -f "$TMP/rc.fifo"
    mkfifo "$TMP/rc.fifo"
    timeout 20 "$CAT" -v --reconnect --wait 2000 -n 1 "$url" <"$TMP/rc.fifo" \
        >"$TMP/rc.out" 2>"$TMP/rc.err" &
    cpid=$!
    exec 4>"$TMP/rc.fifo"
    wait_for "$TMP/rc.err" 'connected to' || true
    stop_server "$LISTEN_PID"
    wait_for "$TMP/rc.err" 'reconnecting in' || true
    "$CAT" --listen "$port" --echo </dev/null >"$TMP/rl2.out" 2>"$TMP/rl2.err" &
    lpid=$!
    SERVER_PIDS="$SERVER_PIDS $lpid"
    for _ in $(seq 1 100); do
        [ "$(grep -c 'connected to' "$TMP/rc.err")" -ge 2 ] && break
        sleep 0.1
    done
    echo 'after the restart' >&4
    exec 4>&-
    wait "$cpid"
    rc=$?
    stop_server "$lpid"
    if [ $rc -eq 0 ] && [ "$(cat "$TMP/rc.out")" = 'after the restart' ] &&
        grep -q '^closed: 1001' "$TMP/rc.err" &&
        grep -q 'reconnecting in [0-9]* ms (try 1)' "$TMP/rc.err"; then
        pass reconnect_after_restart
    else
        fail reconnect_after_restart "exit $rc, out '$(cat "$TMP/rc.out")': $(cat "$TMP/rc.err")"
    fi
}

# --reconnect-max N: N more tries to a port nobody listens on, then exit 2.
case_reconnect_gives_up() {
    start_server "$TMP/gone2" "$ECHO" || { fail reconnect_gives_up "no server"; return; }
    url=$SERVER_URL
    stop_server "$SERVER_PID"
    timeout 20 "$CAT" --reconnect --reconnect-max 2 "$url" </dev/null \
        >/dev/null 2>"$TMP/giveup.err"
    rc=$?
    tries=$(grep -c 'reconnecting in' "$TMP/giveup.err")
    if [ $rc -eq 2 ] && [ "$tries" -eq 2 ] &&
        grep -q 'giving up after 2 tries' "$TMP/giveup.err"; then
        pass reconnect_gives_up
    else
        fail reconnect_gives_up "exit $rc, $tries tries: $(cat "$TMP/giveup.err")"
    fi
}

case_wss_needs_tls() {
    timeout 10 "$CAT" wss://127.0.0.1:1/ </dev/null 2>"$TMP/wss.err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q 'wss:// needs wsio built with TLS' "$TMP/wss.err"; then
        pass wss_needs_tls
    else
        fail wss_needs_tls "exit $rc: $(cat "$TMP/wss.err")"
    fi
}

case_usage() {
    timeout 10 "$CAT" --help >"$TMP/help" 2>&1
    help_rc=$?
    timeout 10 "$CAT" --no-such-option "$ECHO_URL" >/dev/null 2>&1
    bad_rc=$?
    version=$(timeout 10 "$CAT" --version)
    lib=$(sed -n 's/^#define WSIO_VERSION_STRING "\(.*\)"$/\1/p' include/wsio/common.h)
    if [ $help_rc -eq 0 ] && grep -q '^usage: wsio-cat' "$TMP/help" && [ $bad_rc -eq 1 ] &&
        [ "$version" = "wsio-cat $lib (wsio $lib)" ]; then
        pass usage
    else
        fail usage "help $help_rc, bad option $bad_rc, version '$version'"
    fi
}

# ---- --listen ---------------------------------------------------------------

# -H, --origin and --subprotocol as the server saw them (its -v log lists
# every request header), and the subprotocol it chose back at the client.
case_headers_reach_server() {
    start_listener "$TMP/hdr" -v --subprotocol chat.v2 ||
        { fail headers_reach_server "no listener"; return; }
    echo hi | timeout 10 "$CAT" -v --wait 200 -H 'X-Trace-Id: abc 123' \
        -H 'Authorization:  Bearer t0ken ' --origin http://example.test \
        --subprotocol 'other, chat.v2' "$LISTEN_URL" >/dev/null 2>"$TMP/hdr.cat.err"
    rc=$?
    stop_server "$LISTEN_PID"
    missing=""
    for h in 'header X-Trace-Id: abc 123$' 'header Authorization: Bearer t0ken$' \
             'header Origin: http://example.test$' \
             'header Sec-WebSocket-Protocol: other, chat.v2$'; do
        grep -q "$h" "$TMP/hdr.err" || missing="$missing [$h]"
    done
    if [ $rc -ne 0 ]; then
        fail headers_reach_server "exit $rc: $(cat "$TMP/hdr.cat.err")"
    elif [ -n "$missing" ]; then
        fail headers_reach_server "not in the server's log:$missing"
    elif ! grep -q 'subprotocol chat.v2' "$TMP/hdr.cat.err"; then
        fail headers_reach_server "subprotocol not chosen: $(cat "$TMP/hdr.cat.err")"
    else
        pass headers_reach_server
    fi
}

# The listener prints what it receives: text as lines, binary as hex.
case_listen_prints() {
    start_listener "$TMP/print" || { fail listen_prints "no listener"; return; }
    echo 'текст' | timeout 10 "$CAT" --wait 100 "$LISTEN_URL" 2>/dev/null
    printf '\000\001\377' | timeout 10 "$CAT" --binary --wait 100 "$LISTEN_URL" 2>/dev/null
    wait_for "$TMP/print.out" 'binary' || true
    stop_server "$LISTEN_PID"
    printf 'текст\n[binary 3 bytes] 0001ff\n' >"$TMP/print.want"
    if cmp -s "$TMP/print.want" "$TMP/print.out"; then
        pass listen_prints
    else
        fail listen_prints "printed: $(cat "$TMP/print.out")"
    fi
}

# The listener's stdin lines go to the connected clients.
case_listen_stdin_to_client() {
    mkfifo "$TMP/in.fifo"
    LISTEN_STDIN=$TMP/in.fifo start_listener "$TMP/feed" -v ||
        { fail listen_stdin_to_client "no listener"; exec 3>&-; return; }
    timeout 10 "$CAT" -n 2 "$LISTEN_URL" </dev/null >"$TMP/feed.cat.out" 2>/dev/null &
    client=$!
    wait_for "$TMP/feed.err" 'wsio-cat: open' || true
    printf 'from the server\nсервер\n' >&3
    wait "$client"
    rc=$?
    exec 3>&- # EOF on its stdin does not stop a listener: SIGTERM does
    stop_server "$LISTEN_PID"
    stop_rc=$?
    if [ $rc -eq 0 ] && [ $stop_rc -eq 0 ] &&
        [ "$(cat "$TMP/feed.cat.out")" = "$(printf 'from the server\nсервер')" ]; then
        pass listen_stdin_to_client
    else
        fail listen_stdin_to_client "exit $rc, listener $stop_rc, got: $(cat "$TMP/feed.cat.out")"
    fi
}

# --broadcast: what one client sends reaches the others, not itself.
case_listen_broadcast() {
    start_listener "$TMP/bc" -v --broadcast || { fail listen_broadcast "no listener"; return; }
    timeout 10 "$CAT" -n 1 "$LISTEN_URL" </dev/null >"$TMP/bc.a" 2>/dev/null &
    a=$!
    wait_for "$TMP/bc.err" 'wsio-cat: open' || true
    echo 'to everyone' | timeout 10 "$CAT" --wait 300 "$LISTEN_URL" >"$TMP/bc.b" 2>/dev/null
    wait "$a"
    rc=$?
    stop_server "$LISTEN_PID"
    if [ $rc -eq 0 ] && [ "$(cat "$TMP/bc.a")" = 'to everyone' ] && [ ! -s "$TMP/bc.b" ]; then
        pass listen_broadcast
    else
        fail listen_broadcast "exit $rc, a got '$(cat "$TMP/bc.a")', b got '$(cat "$TMP/bc.b")'"
    fi
}

case_lines_in_order
case_wait_after_eof
case_cyrillic_intact
case_binary_roundtrip
case_binary_chunks
case_refused_exit_2
case_handshake_refused_exit_3
case_server_close_exit_4
case_server_killed_exit_5
case_reconnect_after_restart
case_reconnect_gives_up
case_wss_needs_tls
case_usage
case_headers_reach_server
case_listen_prints
case_listen_stdin_to_client
case_listen_broadcast

echo "wsio-cat: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
