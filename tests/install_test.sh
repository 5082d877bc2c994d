#!/bin/sh
# Install into a temporary PREFIX, then build a program outside the tree
# against it with pkg-config, once linked statically and once shared, and
# run both. This is what a user of an installed wsio does.
set -eu
top=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
make -s -C "$top" install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

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
cc -o "$tmp/hello-shared" "$tmp/hello.c" $(pkg-config --cflags --libs wsio)
cc -o "$tmp/hello-static" "$tmp/hello.c" $(pkg-config --cflags wsio) \
   "$(pkg-config --variable=libdir wsio)/libwsio.a"
# The README's example must build against the installed library as shown.
awk '/^```c$/ {f = 1; next} /^```$/ {f = 0} f' "$top/README.md" > "$tmp/readme.c"
[ -s "$tmp/readme.c" ] || { echo "install-test: no C example in README.md"; exit 1; }
cc -Wall -Werror -o "$tmp/readme" "$tmp/readme.c" $(pkg-config --cflags --libs wsio)

# The shared binary must really use the installed libwsio.so.0.
ldd_out=$(LD_LIBRARY_PATH="$prefix/lib" ldd "$tmp/hello-shared")
echo "$ldd_out" | grep -q "$prefix/lib/libwsio.so.0" || {
    echo "install-test: hello-shared does not load $prefix/lib/libwsio.so.0"; exit 1; }
out_shared=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/hello-shared")
out_static=$("$tmp/hello-static")
# libwsio-redis, when it was built: its pc file pulls in wsio and hiredis.
if [ -f "$prefix/lib/pkgconfig/wsio-redis.pc" ]; then
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
    cc -Wall -Werror -o "$tmp/redis" "$tmp/redis.c" $(pkg-config --cflags --libs wsio-redis)
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/redis" || { echo "install-test: wsio-redis program failed"; exit 1; }
    echo "install-test: a wsio-redis program builds and runs"
fi
make -s -C "$top" uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || { echo "install-test: uninstall left: $left"; exit 1; }
echo "install-test: README example builds; shared '$out_shared', static '$out_static', uninstall clean"
