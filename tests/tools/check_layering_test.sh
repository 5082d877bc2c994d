#!/bin/sh
# tests/tools/check_layering_test.sh - tools/check_layering.py catches what
# it promises. Each case copies src/, include/ and the layer table into a
# scratch tree, breaks one rule, and expects the check to fail naming the
# file; the untouched copy must pass. One line per case, then
# "check-layering-test: N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0

fresh() {
    rm -rf "$TMP/t"
    mkdir -p "$TMP/t/tools"
    cp -r src include "$TMP/t/"
    cp tools/layers.txt "$TMP/t/tools/"
}

# expect_fail NAME WORD [ARG...]: the check on the scratch tree, with ARGs,
# fails and says WORD.
expect_fail() {
    name=$1
    word=$2
    shift 2
    if python3 tools/check_layering.py --root "$TMP/t" "$@" >"$TMP/out" 2>&1; then
        FAILED=$((FAILED + 1)); echo "FAIL $name: the check passed"
    elif grep -q -- "$word" "$TMP/out"; then
        PASSED=$((PASSED + 1)); echo "ok   $name"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $name: output does not name $word"; cat "$TMP/out"
    fi
}

# expect_pass NAME [ARG...]: the check on the scratch tree, with ARGs, passes.
expect_pass() {
    name=$1
    shift
    if python3 tools/check_layering.py --root "$TMP/t" "$@" >"$TMP/out" 2>&1; then
        PASSED=$((PASSED + 1)); echo "ok   $name"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $name"; cat "$TMP/out"
    fi
}

fresh
expect_pass "today's tree passes"

fresh
printf '#include "wsio/server.h"\n' >>"$TMP/t/src/conn.c"
expect_fail "conn.c includes the server's public header" "src/conn.c:"

fresh
printf '#include "ws_internal.h"\n' >>"$TMP/t/src/frame.c"
expect_fail "frame.c includes an internal header of a layer above" "src/frame.c:"

fresh
printf '#include "wsio/hub.h"\n' >>"$TMP/t/include/wsio/ws.h"
expect_fail "a public header includes one above it" "include/wsio/ws.h:"

fresh
printf '#include "wsio/client.h"\n' >>"$TMP/t/src/server.c"
expect_fail "the server includes the client (beside it, not below)" "src/server.c:"

fresh
printf '#include <pthread.h>\n' >>"$TMP/t/src/frame_utf8.c"
expect_fail "a thread header in a sans-io layer" "src/frame_utf8.c:"

fresh
printf '#include <sys/socket.h>\n' >>"$TMP/t/src/handshake_http.c"
expect_fail "a socket header in a sans-io layer" "src/handshake_http.c:"

fresh
printf '#include "internal.h"\n' >"$TMP/t/src/gadget.c"
expect_fail "a file in no layer" "src/gadget.c"

fresh
printf '#include "nowhere.h"\n' >>"$TMP/t/src/common_mem.c"
expect_fail "an include of no file" "nowhere.h"

fresh
sed -i '/<arpa\/inet.h>/d' "$TMP/t/src/proxy.c"
expect_fail "an allow line nothing needs" "no longer needed"

fresh
printf '#include "ws_internal.h"\n' >"$TMP/t/src/server_accept.c"
printf '#include "ws_internal.h"\n' >"$TMP/t/src/client_url.c"
expect_pass "new server_*.c and client*.c files are classified by name"

# Calls, read from the objects: frame.o replaced by one that calls the
# server. Needs the core's objects in $BUILD/obj (make check-layering-test).
BUILD=${BUILD:-build}
fresh
mkdir -p "$TMP/obj"
cp "$BUILD"/obj/*.o "$TMP/obj/"
printf '#include "wsio/server.h"\nint wsio__probe(void);\nint wsio__probe(void) { return wsio_server_port(0); }\n' >"$TMP/probe.c"
objs=$(ls "$TMP"/obj/*.o)
expect_pass "today's objects pass" --objects $objs
${CC:-cc} -Iinclude -c "$TMP/probe.c" -o "$TMP/obj/frame.o"
expect_fail "frame.o calls the server" "src/frame.c (frame) calls wsio_server_port" --objects $objs
cp "$BUILD/obj/frame.o" "$TMP/obj/frame.o"
printf 'allow-call src/loop.c wsio_server_port\n' >>"$TMP/t/tools/layers.txt"
expect_fail "an allow-call line nothing needs" "allow-call src/loop.c wsio_server_port: no longer needed" --objects $objs

echo "check-layering-test: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
