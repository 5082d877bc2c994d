/*
 * src/redis/cluster_reply.h - what cluster.c reads in Redis Cluster's
 * answers (internal to libwsio-redis): a -MOVED redirection and one entry
 * of CLUSTER SLOTS. Both come from the network, so they are checked here
 * in pure functions (hiredis' reply type, none of its calls) that the
 * fuzz target links alone.
 */
#ifndef WSIO_REDIS_CLUSTER_REPLY_H
#define WSIO_REDIS_CLUSTER_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* Where a -MOVED sends a slot. */
typedef struct wsio__rmoved {
    uint16_t slot;
    uint16_t port;
    char host[256]; /* NUL-terminated */
} wsio__rmoved;

/* Read "MOVED <slot> <host>:<port>" from s[0..len). Returns 1 with out
 * filled, or 0 for another error or a MOVED that is not well formed. */
int wsio__rcluster_parse_moved(const char *s, size_t len, wsio__rmoved *out);

/* A range of slots and the master that serves it. */
typedef struct wsio__rslots {
    uint16_t from, to; /* from <= to < WSIO__REDIS_SLOTS */
    uint16_t port;     /* 1..65535 */
    const char *host;  /* NUL-terminated, borrowed from the reply */
} wsio__rslots;

/* Read one entry of CLUSTER SLOTS, [from, to, [host, port, ...],
 * replicas...], into out. Returns 1, or 0 when e has another shape. */
int wsio__rcluster_parse_slots(const redisReply *e, wsio__rslots *out);

#endif /* WSIO_REDIS_CLUSTER_REPLY_H */
