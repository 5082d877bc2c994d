#!/bin/sh
# Install into a temporary PREFIX, then, from outside the tree and with
# pkg-config only, build what a user would: a small program, the README's
# example and the echo example (each linked statically and shared), and a
# program against each optional module that was built (TLS=1, HAVE_ZLIB=1
# from the Makefile). Run the echo example and talk to it with the
# installed wsio-cat. Finally uninstall and check nothing is left.
set -eu
top=$(pwd)
. "$top/tests/lib.sh"
tmp=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
make -s -C "$top" install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
fail() { echo "install-test: $*"; exit 1; }

# What install must have put there, besides headers and wsio.pc.
for f in bin/wsio-cat share/man/man1/wsio-cat.1 lib/libwsio.a lib/libwsio.so \
         lib/libwsio.so.0; do
    [ -e "$prefix/$f" ] || fail "$f is not installed"
done
for h in wsio.h wsio/common.h wsio/server.h wsio/client.h; do
    [ -f "$prefix/include/$h" ] || fail "include/$h is not installed"
done
if command -v man >/dev/null 2>&1; then
    MANPATH="$prefix/share/man" man -w wsio-cat >/dev/null 2>&1 ||
        fail "man does not find wsio-cat under $prefix/share/man"
fi

cat > "$tmp/hello.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <wsio.h>

int main(void)
{
    char accept[WSIO_HANDSHAKE_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    if (wsio_handshake_accept_key(key, strlen(key), accept) != 0)
        return 1;
    if (strcmp(wsio_version(), WSIO_VERSION_STRING) != 0)
        return 2;
    printf("%s %s\n", wsio_version(), accept);
    return strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0;
}
C
# build_both NAME MODULE SOURCES...: NAME-shared with `pkg-config --libs`,
# NAME-static with `pkg-config --static --libs` and the .a files only.
build_both() {
    name=$1 mod=$2
    shift 2
    cc -Wall -Werror -o "$tmp/$name-shared" "$@" $(pkg-config --cflags --libs "$mod")
    cc -Wall -Werror -o "$tmp/$name-static" "$@" $(pkg-config --cflags "$mod") \
        -Wl,-Bstatic $(pkg-config --static --libs-only-l "$mod" | sed 's/-pthread//') \
        -Wl,-Bdynamic $(pkg-config --static --libs-only-L "$mod") -pthread
}
build_both hello wsio "$tmp/hello.c"
# The README's example must build against the installed library as shown.
awk '/^```c$/ {f = 1; next} /^```$/ {f = 0} f' "$top/README.md" > "$tmp/readme.c"
[ -s "$tmp/readme.c" ] || fail "no C example in README.md"
cc -Wall -Werror -o "$tmp/readme" "$tmp/readme.c" $(pkg-config --cflags --libs wsio)

# The shared binary must really use the installed libwsio.so.0.
ldd_out=$(LD_LIBRARY_PATH="$prefix/lib" ldd "$tmp/hello-shared")
echo "$ldd_out" | grep -q "$prefix/lib/libwsio.so.0" ||
    fail "hello-shared does not load $prefix/lib/libwsio.so.0"
ldd "$tmp/hello-static" | grep -q libwsio && fail "hello-static loads a libwsio.so"

# One pkg-config invocation links the archive: wsio-static.pc.
cc -Wall -Werror -o "$tmp/hello-pc-static" "$tmp/hello.c" \
    $(pkg-config --cflags --libs wsio-static)
ldd "$tmp/hello-pc-static" | grep -q libwsio &&
    fail "hello-pc-static (pkg-config wsio-static) loads a libwsio.so"
[ "$("$tmp/hello-pc-static")" = "$("$tmp/hello-static")" ] ||
    fail "hello-pc-static does not answer as hello-static"
# What is installed names no build directory (-ffile-prefix-map).
for f in "$prefix"/lib/libwsio*.a "$prefix"/lib/libwsio*.so.*.*; do
    [ -L "$f" ] && continue
    grep -qaF "$top" "$f" && fail "$f names the build directory $top"
done
out_shared=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/hello-shared")
out_static=$("$tmp/hello-static")

# The echo example, copied out of the tree as a user would, built without
# the in-tree Makefile; each build answers one message from the installed
# wsio-cat.
mkdir "$tmp/echo"
cp "$top/examples/echo.c" "$top/examples/example.c" "$top/examples/example.h" "$tmp/echo/"
(cd "$tmp/echo" && build_both echo wsio echo.c example.c)
for kind in shared static; do
    LD_LIBRARY_PATH="$prefix/lib" start_server "$tmp/echo-$kind" "$tmp/echo-$kind"
    got=$(echo "round trip $kind" | LD_LIBRARY_PATH="$prefix/lib" \
        timeout 10 "$prefix/bin/wsio-cat" "$SERVER_URL" 2>"$tmp/cat.err") ||
        fail "wsio-cat against echo-$kind: $(cat "$tmp/cat.err")"
    [ "$got" = "round trip $kind" ] || fail "echo-$kind answered '$got'"
    stop_server "$SERVER_PID" || fail "echo-$kind did not stop cleanly"
done

# Each optional module built here links through its own .pc alone.
modules=""
if [ "${TLS:-}" = 1 ]; then
    cat > "$tmp/tls.c" <<'C'
#include <stdio.h>
#include <wsio/tls.h>

int main(void)
{
    wsio_tls_config tc;
    int err = 0;
    wsio_tls_config_default(&tc, WSIO_ROLE_CLIENT);
    wsio_tls *tls = wsio_tls_new(&tc, &err);
    if (!tls) {
        printf("wsio_tls_new: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_tls_free(tls);
    return wsio_transport_tls() == NULL;
}
C
    build_both tls wsio-tls "$tmp/tls.c"
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/tls-shared" && "$tmp/tls-static" ||
        fail "the wsio-tls program failed"
    modules="$modules wsio-tls"
fi
if [ "${HAVE_ZLIB:-}" = 1 ]; then
    cat > "$tmp/deflate.c" <<'C'
#include <wsio/deflate.h>

int main(void)
{
    wsio_deflate d;
    return wsio_deflate_init(&d, NULL) != 0;
}
C
    build_both deflate wsio-deflate "$tmp/deflate.c"
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/deflate-shared" && "$tmp/deflate-static" ||
        fail "the wsio-deflate program failed"
    modules="$modules wsio-deflate"
fi
if [ "${REDIS:-}" = 1 ]; then
    cat > "$tmp/redis.c" <<'C'
#include <string.h>
#include <wsio/redis.h>

int main(void)
{
    const char *url = "redis://:pw@127.0.0.1:6380/2";
    wsio_redis_url u;
    return wsio_redis_url_parse(url, strlen(url), &u) != 0 || u.port != 6380;
}
C
    build_both redis wsio-redis "$tmp/redis.c"
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/redis-shared" && "$tmp/redis-static" ||
        fail "the wsio-redis program failed"
    modules="$modules wsio-redis"
fi

make -s -C "$top" uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install-test: README example and echo (static, shared) build with pkg-config;" \
     "wsio-static.pc links the archive (ldd: no libwsio.so); no build paths;" \
     "echo answered the installed wsio-cat; modules:${modules:- none};" \
     "shared '$out_shared', static '$out_static'; uninstall clean"
