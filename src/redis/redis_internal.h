/*
 * src/redis/redis_internal.h - what stream.c and cluster.c ask of redis.c
 * (internal to libwsio-redis).
 */
#ifndef WSIO_REDIS_INTERNAL_H
#define WSIO_REDIS_INTERNAL_H

#include "../common_hashtab.h"
#include "link.h"

struct wsio__rnode;

/* A channel the server wants, or Redis holds, a subscription to. want
 * follows the server's broker calls; subscribed follows Redis' answers;
 * at most one (S)SUBSCRIBE or (S)UNSUBSCRIBE is in flight. */
typedef struct wsio__rtopic {
    wsio__hentry entry;       /* in the module's table, by channel */
    int want;                 /* the server has local subscribers */
    int subscribed;           /* Redis confirmed the subscription */
    int in_flight;            /* a command for it awaits its answer */
    int broadcast;            /* cluster: the broadcast channel (always wanted,
                                 not counted as a topic) */
    int lost;                 /* cluster: a node ended the subscription; the
                                 next confirmation counts as resubscribed */
    struct wsio__rnode *node; /* cluster: the node subscribed or asked */
    uint16_t slot;            /* cluster: the channel's hash slot */
    size_t len;
    char channel[]; /* prefix "t:" topic (or prefix "b"), NUL-terminated */
} wsio__rtopic;

/* r's link settings (URL, loop, backoff, connect timeout), for a link of
 * another owner; valid while r lives. */
const wsio__rlink_settings *wsio__redis_link_settings(const wsio_redis *r);

/* r's allocator (cfg.mem). */
const wsio_mem *wsio__redis_mem(const wsio_redis *r);

/* r's server, or NULL once it is gone. */
wsio_server *wsio__redis_server(const wsio_redis *r);

/* Whether r talks to a Redis Cluster (a redis+cluster:// URL). */
int wsio__redis_is_cluster(const wsio_redis *r);

/* r's counters, for cluster.c to count in. */
wsio_redis_stats *wsio__redis_stats(wsio_redis *r);

/* The entry of channel ch[0..len), or NULL. */
wsio__rtopic *wsio__redis_topic_find(const wsio_redis *r, const char *ch,
                                     size_t len);

/* Redis answered (or forgot) t: it is subscribed or not; nothing is in
 * flight any more. Sends what want still asks for; may free t. */
void wsio__redis_topic_answered(wsio_redis *r, wsio__rtopic *t, int subscribed);

/* Bring Redis in line with every entry's want (may free entries). */
void wsio__redis_topic_reconcile_all(wsio_redis *r);

/* fn on every entry; fn may free the one it is given. */
void wsio__redis_topic_each(wsio_redis *r,
                            void (*fn)(wsio_redis *, wsio__rtopic *, void *),
                            void *arg);

/* A message Redis sent on channel: unwrap its envelope and deliver it. */
void wsio__redis_deliver(wsio_redis *r, const redisReply *channel,
                         const redisReply *payload);

/* A publish sent earlier is answered (or its link is gone). */
void wsio__redis_publish_done(wsio_redis *r);

#endif /* WSIO_REDIS_INTERNAL_H */
