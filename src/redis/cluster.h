/*
 * src/redis/cluster.h - Redis Cluster for the pub/sub broker (internal to
 * libwsio-redis): the slot map, one SSUBSCRIBE link and one SPUBLISH link
 * per master node, -MOVED and the subscriptions nodes end. redis.c keeps
 * the topic table and the envelope and calls here where, in a cluster,
 * the node of a channel's slot replaces the one Redis.
 */
#ifndef WSIO_REDIS_CLUSTER_H
#define WSIO_REDIS_CLUSTER_H

#include "redis_internal.h"

typedef struct wsio__rcluster wsio__rcluster;

/* A cluster for r from its seeds (n of them, copied). cmd is r's command
 * link: the slot map is fetched on it, and cmd_url (its URL) moves to
 * the next seed each time it is lost. Nothing connects until the map is
 * known. Returns NULL when out of memory. */
wsio__rcluster *wsio__rcluster_new(wsio_redis *r, const wsio_redis_url *seeds,
                                   size_t n, wsio__rlink *cmd,
                                   wsio_redis_url *cmd_url);
/* Close every node link (waiting publishes are forgotten) and free c. */
void wsio__rcluster_free(wsio__rcluster *c);

/* The command link is ready: fetch the slot map. */
void wsio__rcluster_cmd_ready(wsio__rcluster *c);
/* The command link is lost: its next connect tries the next seed. */
void wsio__rcluster_cmd_lost(wsio__rcluster *c);

/* Send t's SSUBSCRIBE (want) or SUNSUBSCRIBE to its node when that node's
 * link is up (else it is started, and t is sent once it is ready);
 * t->in_flight is set when sent. */
void wsio__rcluster_sync(wsio__rcluster *c, wsio__rtopic *t);

/* SPUBLISH data[0..len) on channel ch[0..chlen) to the node of its slot.
 * Returns 0 when sent (wsio__redis_publish_done follows, after a retry on
 * -MOVED), or WSIO_ECLOSED (no map yet, or the node is away). */
int wsio__rcluster_publish(wsio__rcluster *c, const char *ch, size_t chlen,
                           const void *data, size_t len);

/* The cluster's share of the counters: nodes and connected. */
void wsio__rcluster_stats(const wsio__rcluster *c, wsio_redis_stats *out);

#endif /* WSIO_REDIS_CLUSTER_H */
