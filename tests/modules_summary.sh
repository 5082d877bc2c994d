#!/bin/sh
# tests/modules_summary.sh - the last lines of `make test`: which optional
# modules were built and tested, and which were skipped and why, so a green
# run says what it covered. The Makefile passes what it decided:
#   TLS, HAVE_ZLIB, REDIS, HAVE_LIBUV   1 when the module was part of the run
#   *_FROM                              make's $(origin) of that switch: a
#                                       value given on the command line or in
#                                       the environment is a choice, not a
#                                       missing package
#   WSIO_SKIP_BROWSER                   1 skips the browser over https://
# Node (interop) and Chromium (browser) are not optional: their suites are
# part of every `make test` and install what they miss, so they are listed
# as run, with their versions.
cd "$(dirname "$0")/.." || exit 1

version() { # PKG LABEL: "LABEL VERSION", or LABEL when pkg-config finds none
    v=$(pkg-config --modversion "$1" 2>/dev/null)
    echo "$2${v:+ $v}"
}

# why SWITCH FROM PKG DEBIAN: the reason a module was left out.
why() {
    case $2 in
    "command line" | environment | override) echo "$1=0 was given" ;;
    *) echo "pkg-config finds no $3 (Debian: $4; tests/install-deps.sh installs it)" ;;
    esac
}

# line ON NAME WHAT REASON
line() {
    if [ "$1" = 1 ]; then
        printf '  built+tested  %s: %s\n' "$2" "$3"
    else
        printf '  skipped       %s: %s\n' "$2" "$4"
    fi
}

echo "== make test: optional modules"
line "${TLS:-0}" "TLS ($(version openssl OpenSSL))" \
    "libwsio-tls, tls-test (wss://, https://, examples/auth), tls-check" \
    "$(why TLS "${TLS_FROM:-}" openssl libssl-dev)"
line "${HAVE_ZLIB:-0}" "permessage-deflate ($(version zlib zlib))" \
    "libwsio-deflate, test_deflate, compression in interop and the browser" \
    "$(why HAVE_ZLIB "${HAVE_ZLIB_FROM:-}" zlib zlib1g-dev)"
line "${REDIS:-0}" "Redis ($(version hiredis hiredis))" \
    "libwsio-redis, redis-test (own redis-server and 3-master cluster), two chats, redis-check" \
    "$(why REDIS "${REDIS_FROM:-}" hiredis 'libhiredis-dev redis-server')"
line "${HAVE_LIBUV:-0}" "libuv example ($(version libuv libuv))" \
    "examples/libuv (chat-uv), libuv-test" \
    "$(why HAVE_LIBUV "${HAVE_LIBUV_FROM:-}" libuv libuv1-dev)"
printf '  tested        node interop (node %s): tests/interop, Node ws client and server\n' \
    "$(node --version 2>/dev/null || echo '?')"
browser="tests/browser: the chat in headless Chromium"
if [ "${TLS:-0}" = 1 ] && [ "${WSIO_SKIP_BROWSER:-}" = 1 ]; then
    browser="$browser (over https:// skipped: WSIO_SKIP_BROWSER=1)"
fi
printf '  tested        browser (%s): %s\n' \
    "$({ "${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null || echo Chromium; } | head -1 | cut -d" " -f1-2)" "$browser"
