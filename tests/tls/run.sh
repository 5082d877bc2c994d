#!/bin/sh
# tests/tls/run.sh - everything TLS, from the repo root after `make tls
# examples` with OpenSSL present (make tls-test): certificates made with the
# openssl command in a temporary directory, then
#   1. tests/tls/test_tls (cmocka): the wsio client and server over TLS;
#   2. the echo example with --tls-cert/--tls-key and --plain-port (two
#      servers, one loop) against Python's websockets over wss:// and ws://;
#   3. the auth example (over TLS) with good and bad tokens;
#   4. the chat with --allow-origin: listed origin in, another 403;
#   5. the chat over https:// in headless Chromium (tests/browser), its
#      WebSocket over wss://.
# Every server is started on a free port and stopped by its PID.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh
tmp=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
PY=/usr/bin/python3

sh tests/tls/make_certs.sh "$tmp"
tls="--tls-cert $tmp/server.pem --tls-key $tmp/server.key"

echo "== $BUILD/tests/tls/test_tls"
WSIO_TEST_CERTS=$tmp "$BUILD/tests/tls/test_tls"

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "== echo over wss:// and ws:// (python websockets)"
plain=$(free_port)
# shellcheck disable=SC2086
start_server "$tmp/echo" "$BUILD/examples/echo" $tls --plain-port "$plain"
$PY tests/tls/tls_python.py echo "$tmp/ca.pem" "$SERVER_URL" "ws://127.0.0.1:$plain/"
stop_server "$SERVER_PID"

echo "== auth example over wss://"
WSIO_AUTH_SECRET=$($PY -c 'import secrets; print(secrets.token_hex(32))')
export WSIO_AUTH_SECRET
# shellcheck disable=SC2086
start_server "$tmp/auth" "$BUILD/examples/auth" $tls
made=$("$BUILD/examples/auth" --make-token alice --ttl 300)
$PY tests/tls/tls_python.py auth "$tmp/ca.pem" "$SERVER_URL" "$made" "$WSIO_AUTH_SECRET"
opens=$(grep -c ' open ' "$tmp/auth.err" || true)
[ "$opens" -eq 2 ] || { echo "auth: $opens on_open calls, wanted 2 (refused ones must not open)"; exit 1; }
echo "ok - on_open fired for the 2 good tokens only"
stop_server "$SERVER_PID"

echo "== chat --allow-origin"
start_server "$tmp/chat" "$BUILD/examples/chat" --allow-origin http://allowed.example
$PY tests/tls/tls_python.py origin "$(echo "$SERVER_URL" | sed s/^http/ws/)ws" http://allowed.example
stop_server "$SERVER_PID"

if [ "${WSIO_SKIP_BROWSER:-}" = 1 ]; then
    echo "== browser over https:// skipped (WSIO_SKIP_BROWSER=1)"
    exit 0
fi
echo "== chat over https:// in headless Chromium"
# shellcheck disable=SC2086
start_server "$tmp/chat" "$BUILD/examples/chat" $tls
case $SERVER_URL in https://*) ;; *) echo "chat did not serve https: $SERVER_URL"; exit 1 ;; esac
status=0
sh tests/browser/run.sh "$SERVER_URL" || status=$?
stop_server "$SERVER_PID" || status=1
[ "$status" -eq 0 ] || tail -30 "$tmp/chat.err" >&2
exit "$status"
