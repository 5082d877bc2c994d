/*
 * tests/fuzz/fuzz_redis_cluster_reply.c - the readers of Redis Cluster's
 * answers (src/redis/cluster_reply.c) on any bytes. The bytes are a
 * -MOVED text as they come (a heap copy of exactly their size, so ASan
 * sees any read past it), and also the recipe of a reply tree of any
 * shape, as a node could send for CLUSTER SLOTS: integers at and past
 * every bound, strings with NULs, arrays nested and short, NULLs. What
 * the readers accept must be in range: a slot below 16384, a port of
 * 1..65535, a host shorter than 256 bytes, and a -MOVED that reads the
 * same when written back.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/cluster_reply.h"
#include "redis/keyslot.h"

typedef struct recipe {
    const uint8_t *p;
    size_t n;
} recipe;

static uint8_t take(recipe *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static const long long edges[] = {
    -1, 0, 1, 5460, 16383, 16384, 65535, 65536, LLONG_MAX, LLONG_MIN,
};

static redisReply *build(recipe *r, int depth)
{
    redisReply *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    uint8_t b = take(r);
    switch (b % 5) {
    case 0:
        m->type = REDIS_REPLY_INTEGER;
        m->integer = b & 0x80 ? edges[(b >> 3) % 10]
                              : (long long)(int16_t)(take(r) << 8 | take(r));
        break;
    case 1:
    case 4: {
        m->type = b % 5 == 1 ? REDIS_REPLY_STRING : REDIS_REPLY_ERROR;
        size_t len = b & 0x80 ? 256 + take(r) : take(r);
        m->str = malloc(len + 1); /* NUL-terminated, as hiredis makes them */
        if (!m->str)
            abort();
        for (size_t i = 0; i < len; i++)
            m->str[i] = (char)take(r);
        m->str[len] = '\0';
        m->len = len;
        break;
    }
    case 2:
        m->type = REDIS_REPLY_ARRAY;
        m->elements = depth < 4 ? take(r) % 6 : 0;
        m->element = calloc(m->elements ? m->elements : 1, sizeof *m->element);
        if (!m->element)
            abort();
        for (size_t i = 0; i < m->elements; i++)
            m->element[i] = build(r, depth + 1);
        break;
    default:
        m->type = REDIS_REPLY_NIL;
    }
    return m;
}

static void drop(redisReply *m)
{
    for (size_t i = 0; i < m->elements; i++)
        drop(m->element[i]);
    free(m->element);
    free(m->str);
    free(m);
}

static void check_moved(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    wsio__rmoved m;
    if (wsio__rcluster_parse_moved(copy, size, &m)) {
        if (m.slot >= WSIO__REDIS_SLOTS || m.port == 0 ||
            strlen(m.host) >= sizeof m.host || strchr(m.host, ' '))
            abort();
        char again[300];
        int n = snprintf(again, sizeof again, "MOVED %u %s:%u",
                         (unsigned)m.slot, m.host, (unsigned)m.port);
        wsio__rmoved m2;
        if (n < 0 || (size_t)n >= sizeof again ||
            !wsio__rcluster_parse_moved(again, (size_t)n, &m2) ||
            m2.slot != m.slot || m2.port != m.port ||
            strcmp(m2.host, m.host) != 0)
            abort();
    }
    free(copy);
}

static void check_slots(const redisReply *e)
{
    wsio__rslots s;
    if (!wsio__rcluster_parse_slots(e, &s))
        return;
    if (s.from > s.to || s.to >= WSIO__REDIS_SLOTS || s.port == 0 ||
        strlen(s.host) >= 256)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_moved(data, size);
    recipe r = {data, size};
    redisReply *m = build(&r, 0);
    check_slots(m);
    for (size_t i = 0; i < m->elements; i++)
        check_slots(m->element[i]);
    drop(m);
    return 0;
}
