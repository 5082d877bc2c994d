/*
 * src/redis/url.c - redis:// URLs (wsio/redis.h). Apart from the rest of
 * the module so that it is tested and fuzzed without hiredis. The form is
 * that of RFC 3986 (scheme, userinfo, host, port, path) restricted to
 * what Redis clients accept: redis://[[user]:password@]host[:port][/db],
 * and for a cluster redis+cluster://[[user]:password@]host[:port][,...]
 * (seed nodes, database 0).
 */
#include <string.h>

#include "../internal.h"
#include "wsio/redis.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy s[0..len) into out (cap bytes, NUL-terminated), decoding %XX
 * (RFC 3986 section 2.1): a password may hold '@', ':' or '/' that way.
 * A decoded NUL is refused: the value goes to hiredis as a C string. */
static int copy_decoded(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (len - i < 3)
                return WSIO_EINVAL;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return WSIO_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if ((unsigned char)c <= 0x20 || c == 0x7f) {
            return WSIO_EINVAL;
        }
        if (n + 1 >= cap)
            return WSIO_EINVAL;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

/* Decimal digits only, at most max_digits of them, into *out. */
static int parse_number(const char *s, size_t len, size_t max_digits,
                        uint32_t *out)
{
    if (len == 0 || len > max_digits)
        return WSIO_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WSIO_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int host_char_ok(char c, int bracketed)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
        (c >= 'A' && c <= 'F') || c == '.')
        return 1;
    if (bracketed)
        return c == ':';
    return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' ||
           c == '_';
}

static int parse_host_port(const char *s, size_t len, wsio_redis_url *out)
{
    size_t host_start = 0, host_len;
    size_t rest; /* index of the ':' before the port, or len */
    int bracketed = len > 0 && s[0] == '[';
    if (bracketed) {
        const char *close = memchr(s, ']', len);
        if (!close)
            return WSIO_EINVAL;
        host_start = 1;
        host_len = (size_t)(close - s) - 1;
        rest = (size_t)(close - s) + 1;
        if (rest < len && s[rest] != ':')
            return WSIO_EINVAL;
    } else {
        const char *colon = memchr(s, ':', len);
        rest = colon ? (size_t)(colon - s) : len;
        host_len = rest;
    }
    if (host_len == 0 || host_len >= sizeof out->host)
        return WSIO_EINVAL;
    for (size_t i = 0; i < host_len; i++)
        if (!host_char_ok(s[host_start + i], bracketed))
            return WSIO_EINVAL;
    memcpy(out->host, s + host_start, host_len);
    out->host[host_len] = '\0';
    out->port = 6379;
    if (rest < len) {
        uint32_t port;
        if (parse_number(s + rest + 1, len - rest - 1, 5, &port) != 0 ||
            port == 0 || port > 65535)
            return WSIO_EINVAL;
        out->port = (uint16_t)port;
    }
    return 0;
}

/* The userinfo of auth[0..alen) (up to its last '@') into out; returns the
 * index where the host starts, or -1. */
static long parse_userinfo(const char *auth, size_t alen, wsio_redis_url *out)
{
    size_t at = alen;
    while (at > 0 && auth[at - 1] != '@')
        at--;
    if (at > 0) {
        const char *ui = auth;
        size_t ulen = at - 1;
        const char *colon = memchr(ui, ':', ulen);
        size_t user_len = colon ? (size_t)(colon - ui) : ulen;
        if (copy_decoded(ui, user_len, out->user, sizeof out->user) != 0)
            return -1;
        if (colon && copy_decoded(colon + 1, ulen - user_len - 1, out->password,
                                  sizeof out->password) != 0)
            return -1;
    }
    return (long)at;
}

int wsio_redis_url_parse(const char *url, size_t len, wsio_redis_url *out)
{
    static const char scheme[] = "redis://";
    const size_t slen = sizeof scheme - 1;
    if (!url || !out || len < slen || memcmp(url, scheme, slen) != 0)
        return WSIO_EINVAL;
    memset(out, 0, sizeof *out);
    const char *auth = url + slen;
    size_t rest = len - slen;
    const char *slash = memchr(auth, '/', rest);
    size_t alen = slash ? (size_t)(slash - auth) : rest;

    long at = parse_userinfo(auth, alen, out);
    if (at < 0 || parse_host_port(auth + at, alen - (size_t)at, out) != 0)
        return WSIO_EINVAL;
    if (slash && rest - alen > 1) {
        uint32_t db;
        if (parse_number(slash + 1, rest - alen - 1, 9, &db) != 0)
            return WSIO_EINVAL;
        out->db = db;
    }
    return 0;
}

int wsio_redis_cluster_url_parse(const char *url, size_t len,
                                 wsio_redis_url *seeds, size_t max, size_t *n)
{
    static const char scheme[] = "redis+cluster://";
    const size_t slen = sizeof scheme - 1;
    if (!url || !seeds || !n || max == 0 || len < slen ||
        memcmp(url, scheme, slen) != 0)
        return WSIO_EINVAL;
    const char *auth = url + slen;
    size_t alen = len - slen;
    /* A cluster has database 0 only: no path but an empty one or "/0". */
    const char *slash = memchr(auth, '/', alen);
    if (slash) {
        size_t plen = alen - (size_t)(slash - auth);
        if (!(plen == 1 || (plen == 2 && slash[1] == '0')))
            return WSIO_EINVAL;
        alen = (size_t)(slash - auth);
    }
    wsio_redis_url cred;
    memset(&cred, 0, sizeof cred);
    long at = parse_userinfo(auth, alen, &cred);
    if (at < 0)
        return WSIO_EINVAL;
    size_t count = 0;
    const char *h = auth + at, *end = auth + alen;
    for (;;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma ? comma : end;
        if (count == max)
            return WSIO_EINVAL;
        seeds[count] = cred;
        if (parse_host_port(h, (size_t)(stop - h), &seeds[count]) != 0)
            return WSIO_EINVAL;
        count++;
        if (!comma)
            break;
        h = comma + 1;
    }
    *n = count;
    return 0;
}
