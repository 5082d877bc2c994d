#!/bin/sh
# tests/abi/run.sh - programs built against one release's headers run on
# the shared library of another (docs/DESIGN.md, ABI).
#
# The next release is simulated: a copy of src/ and include/ whose config
# structs and wsio_broker end with one more field (abi_next), built into a
# libwsio.so of its own. Then:
#   1. tests/abi/abi_program.c built against today's headers runs on the
#      next release's library (an older program, a newer library);
#   2. the same program built against the next release's headers, with
#      -DWSIO_ABI_NEWER, runs on today's $BUILD/libwsio.so (a newer program,
#      an older library: a newer field left 0 is fine, set it is refused).
# Needs $BUILD/libwsio.so (make abi-test builds it). Prints
# "abi-test: N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1"; }

[ -e "$BUILD/libwsio.so" ] || { echo "missing $BUILD/libwsio.so: make shared" >&2; exit 1; }

# The next release: the core's sized structs gain a last field. Not
# wsio_conn_config: the server's and client's configs embed it, so its size
# is frozen within a SONAME (docs/DESIGN.md).
mkdir -p "$TMP/next"
cp -r src include Makefile wsio.pc.in "$TMP/next/"
structs="wsio_server_config wsio_client_config wsio_loop_config wsio_broker"
for s in $structs; do
    sed -i "s/^} $s;/    uint64_t abi_next; \/* the next release's field *\/\n} $s;/" \
        "$TMP"/next/include/wsio/*.h
done
added=$(cat "$TMP"/next/include/wsio/*.h | grep -c 'abi_next;')
if [ "$added" -eq 4 ]; then
    pass "the next release's headers: abi_next appended to 4 structs"
else
    fail "the next release's headers: abi_next appended to $added structs, not 4"
fi
if make -s -C "$TMP/next" BUILD=build CFLAGS=-O0 shared >"$TMP/build.log" 2>&1; then
    pass "the next release's libwsio.so built"
else
    fail "the next release's libwsio.so"
    cat "$TMP/build.log"
fi

# run NAME INCLUDE_DIR LIB_DIR [CFLAGS...]: build the program against the
# headers in INCLUDE_DIR, run it on the libwsio.so in LIB_DIR.
run() {
    name=$1 inc=$2 lib=$3
    shift 3
    # AddressSanitizer: the library reading past the program's struct
    # (its memcpy is intercepted) fails the run too.
    if ! $CC -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra "$@" -I"$inc" \
        -fsanitize=address -fno-omit-frame-pointer \
        -o "$TMP/prog" tests/abi/abi_program.c -L"$lib" -lwsio -pthread \
        >"$TMP/cc.log" 2>&1; then
        fail "$name: build"
        cat "$TMP/cc.log"
        return
    fi
    # The program must have loaded the library in LIB_DIR, not another.
    if LD_LIBRARY_PATH=$lib ldd "$TMP/prog" | grep -q "$lib/libwsio.so"; then
        :
    else
        fail "$name: does not load $lib/libwsio.so"
        return
    fi
    if LD_LIBRARY_PATH=$lib timeout 30 "$TMP/prog" >"$TMP/run.log" 2>&1; then
        pass "$name: $(tail -1 "$TMP/run.log")"
    else
        fail "$name"
        sed 's/^/     /' "$TMP/run.log"
    fi
}

run "today's program on the next release's library" include "$TMP/next/build"
run "the next release's program on today's library" "$TMP/next/include" \
    "$(cd "$BUILD" && pwd)" -DWSIO_ABI_NEWER

echo "abi-test: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
