#!/bin/sh
# RFC 6455 conformance suite against an echo server started here.
# Usage (from the repo root): tests/conformance/run.sh [conformance.py options]
# SERVER_CMD is the server's command line without --port (default
# build/examples/echo; it must print "...: listening on ws://..."), e.g.
#   SERVER_CMD="node tests/conformance/ref_echo_ws.mjs" tests/conformance/run.sh
set -eu
cd "$(dirname "$0")/../.."
# The cases come fast from one address: the examples' per-address limits
# are turned off.
SERVER_CMD=${SERVER_CMD:-build/examples/echo --max-per-addr 0 --handshake-rate 0}
. tests/lib.sh

tmp=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

# SERVER_CMD is split into words on purpose: it is a command line.
# start_server polls server.out before the background job may have created
# it; create it first so sed has nothing to complain about.
: >"$tmp/server.out"
# shellcheck disable=SC2086
start_server "$tmp/server" $SERVER_CMD
status=0
/usr/bin/python3 tests/conformance/conformance.py "$SERVER_URL" "$@" || status=$?
if ! stop_server "$SERVER_PID"; then
    echo "server did not exit cleanly on SIGTERM" >&2
    status=1
fi
if [ "$status" -ne 0 ] && [ -s "$tmp/server.err" ]; then
    echo "--- server stderr (last 20 lines)" >&2
    tail -20 "$tmp/server.err" >&2
fi
exit "$status"
