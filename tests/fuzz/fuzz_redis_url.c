/*
 * tests/fuzz/fuzz_redis_url.c - wsio_redis_url_parse on any bytes: it must
 * read only the len bytes given (ASan sees a heap copy of exactly that
 * size), and what it accepts must be consistent: NUL-terminated fields
 * within their arrays, a host with no separators in it, a port of
 * 1..65535, and the same result when the fields are written back into a
 * URL and parsed again. wsio_redis_cluster_url_parse gets the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsio/redis.h"

/* Write s percent-encoded where the parser would stop at it. */
static size_t put_escaped(char *out, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '@' || c == ':' ||
            c == '/')
            n += (size_t)sprintf(out + n, "%%%02X", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return n;
}

/* The cluster form: every seed a valid address with the same user and
 * password, db 0, and never more than max. */
static void check_cluster(const char *url, size_t size)
{
    wsio_redis_url s[4];
    size_t n = 99;
    int rc = wsio_redis_cluster_url_parse(url, size, s, 4, &n);
    if (rc != 0) {
        if (rc != WSIO_EINVAL)
            abort();
        return;
    }
    if (n == 0 || n > 4)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (memchr(s[i].host, '\0', sizeof s[i].host) == NULL ||
            s[i].host[0] == '\0' || strpbrk(s[i].host, "@/[], ") ||
            s[i].port == 0 || s[i].db != 0 ||
            memcmp(s[i].user, s[0].user, sizeof s[0].user) != 0 ||
            memcmp(s[i].password, s[0].password, sizeof s[0].password) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size ? size : 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    wsio_redis_url u;
    int rc = wsio_redis_url_parse(url, size, &u);
    check_cluster(url, size);
    free(url);
    if (rc != 0) {
        if (rc != WSIO_EINVAL)
            abort();
        return 0;
    }
    if (memchr(u.host, '\0', sizeof u.host) == NULL ||
        memchr(u.user, '\0', sizeof u.user) == NULL ||
        memchr(u.password, '\0', sizeof u.password) == NULL)
        abort();
    if (u.host[0] == '\0' || strpbrk(u.host, "@/[] ") || u.port == 0 ||
        u.db > 999999999u)
        abort();

    /* Round trip. */
    char again[1600];
    size_t n = (size_t)sprintf(again, "redis://");
    if (u.user[0] || u.password[0]) {
        n += put_escaped(again + n, u.user);
        again[n++] = ':';
        n += put_escaped(again + n, u.password);
        again[n++] = '@';
    }
    n += (size_t)sprintf(again + n,
                         strchr(u.host, ':') ? "[%s]:%u/%u" : "%s:%u/%u",
                         u.host, (unsigned)u.port, (unsigned)u.db);
    wsio_redis_url v;
    if (wsio_redis_url_parse(again, n, &v) != 0 ||
        memcmp(&u, &v, sizeof u) != 0)
        abort();
    return 0;
}
