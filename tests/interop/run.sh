#!/bin/sh
# Independent clients against examples/echo on every backend, and against
# the host loop examples (poll, and docs/loop.md's epoll recipe): Python's
# websockets and Node's ws. Needs `make examples` first (make interop does
# it) and the packages tests/install-deps.sh installs.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh

[ -d tests/interop/node_modules/ws ] ||
    (cd tests/interop && npm ci --no-audit --no-fund --silent)

tmp=$(mktemp -d)
passed=0
failed=0
run_case() { # name, command...
    name=$1
    shift
    if "$@" >"$tmp/case.log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name: $(tail -1 "$tmp/case.log")"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/     /' "$tmp/case.log"
    fi
}

for mode in poll epoll host hostepoll; do
    if [ "$mode" = host ]; then
        start_server "$tmp/$mode" "$BUILD/examples/hostloop"
    elif [ "$mode" = hostepoll ]; then
        start_server "$tmp/$mode" "$BUILD/examples/hostloop_epoll"
    else
        start_server "$tmp/$mode" "$BUILD/examples/echo" --backend "$mode"
    fi
    run_case "python websockets / $mode" /usr/bin/python3 tests/interop/echo_python.py "$SERVER_URL"
    run_case "node ws / $mode" node tests/interop/echo_node.mjs "$SERVER_URL"
    if stop_server "$SERVER_PID"; then
        passed=$((passed + 1)); echo "ok   $mode server exits cleanly on SIGTERM"
    else
        failed=$((failed + 1)); echo "FAIL $mode server exit on SIGTERM"
    fi
done
# permessage-deflate (when built with zlib): Python's and Node's clients
# against the echo example with --deflate, and the wsio client against
# Node's ws server.
if [ -x "$BUILD/tests/interop_deflate_client" ]; then
    start_server "$tmp/deflate" "$BUILD/examples/echo" --deflate
    run_case "python websockets / deflate" /usr/bin/python3 tests/interop/echo_python.py "$SERVER_URL" deflate
    run_case "python websockets / deflate, no offer" /usr/bin/python3 tests/interop/echo_python.py "$SERVER_URL" plain
    run_case "node ws / deflate" node tests/interop/echo_node.mjs "$SERVER_URL" deflate
    stop_server "$SERVER_PID" || { failed=$((failed + 1)); echo "FAIL deflate server exit"; }
    start_server "$tmp/wsnode" node tests/interop/ws_server.mjs
    run_case "wsio client / node ws server, deflate" "$BUILD/tests/interop_deflate_client" "$SERVER_URL"
    stop_server "$SERVER_PID" || { failed=$((failed + 1)); echo "FAIL node ws server exit"; }
fi
rm -rf "$tmp"
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
