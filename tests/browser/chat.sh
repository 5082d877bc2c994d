#!/bin/sh
# Start the chat example on a free port, run the browser test against it
# (tests/browser/run.sh), and stop the server by its PID. From the repo
# root, after `make examples`; BUILD names the build directory, CHAT the
# server (default $BUILD/examples/chat; the libuv one is chat-uv).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh
tmp=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT

start_server "$tmp/chat" "${CHAT:-$BUILD/examples/chat}"
status=0
sh tests/browser/run.sh "$SERVER_URL" || status=$?
stop_server "$SERVER_PID" || status=1
if [ "$status" -ne 0 ]; then
    echo "--- chat server stderr (last 30 lines)" >&2
    tail -30 "$tmp/chat.err" >&2
fi
exit "$status"
