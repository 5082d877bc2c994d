/*
 * src/redis/cluster_reply.c - Redis Cluster's answers read (cluster_reply.h).
 */
#include <string.h>

#include "cluster_reply.h"
#include "keyslot.h"

/* Redis 7 names a node it has no hostname for "?": no address. */
#define NO_HOSTNAME "?"

/* Decimal digits at *p (at most 5, no sign) up to max: the value, with *p
 * past them; or -1. */
static long read_number(const char **p, const char *end, long max)
{
    long v = 0;
    const char *s = *p;
    while (s < end && s - *p < 5 && *s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    if (s == *p || (s < end && *s >= '0' && *s <= '9') || v > max)
        return -1;
    *p = s;
    return v;
}

/* A host of host[0..len) for the node table: shorter than its array, no
 * NUL or space in it, and not Redis' "no hostname". Empty is kept: Redis
 * 7's unknown endpoint, the node that answered. */
static int host_ok(const char *host, size_t len)
{
    return len < sizeof((wsio__rmoved *)0)->host && !memchr(host, '\0', len) &&
           !memchr(host, ' ', len) && !(len == 1 && host[0] == NO_HOSTNAME[0]);
}

int wsio__rcluster_parse_moved(const char *s, size_t len, wsio__rmoved *out)
{
    const char *p = s, *end = s + len;
    if (len < 6 || memcmp(s, "MOVED ", 6) != 0)
        return 0;
    p += 6;
    long slot = read_number(&p, end, WSIO__REDIS_SLOTS - 1);
    if (slot < 0 || p == end || *p++ != ' ')
        return 0;
    /* host:port, split at the last ':' (an IPv6 host has its own). */
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':')
            colon = q;
    if (!colon || !host_ok(p, (size_t)(colon - p)))
        return 0;
    const char *q = colon + 1;
    long port = read_number(&q, end, 65535);
    if (port <= 0 || q != end)
        return 0;
    memcpy(out->host, p, (size_t)(colon - p));
    out->host[colon - p] = '\0';
    out->slot = (uint16_t)slot;
    out->port = (uint16_t)port;
    return 1;
}

int wsio__rcluster_parse_slots(const redisReply *e, wsio__rslots *out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
        return 0;
    const redisReply *host = e->element[2]->element[0];
    const redisReply *port = e->element[2]->element[1];
    long long from = e->element[0]->integer, to = e->element[1]->integer;
    /* NULL: Redis 7's unknown endpoint, the node asked. */
    int unknown = host->type == REDIS_REPLY_NIL;
    if (!(unknown || (host->type == REDIS_REPLY_STRING &&
                      host_ok(host->str, host->len))) ||
        port->type != REDIS_REPLY_INTEGER || port->integer <= 0 ||
        port->integer > 65535 || from < 0 || to >= WSIO__REDIS_SLOTS ||
        from > to)
        return 0;
    out->from = (uint16_t)from;
    out->to = (uint16_t)to;
    out->port = (uint16_t)port->integer;
    out->host = unknown ? "" : host->str;
    return 1;
}
