/*
 * src/redis/redis_internal.h - what redis_stream.c asks of redis.c
 * (internal to libwsio-redis).
 */
#ifndef WSIO_REDIS_INTERNAL_H
#define WSIO_REDIS_INTERNAL_H

#include "link.h"

/* r's link settings (URL, loop, backoff, connect timeout), for a link of
 * another owner; valid while r lives. */
const wsio__rlink_settings *wsio__redis_link_settings(const wsio_redis *r);

/* r's allocator (cfg.mem). */
const wsio_mem *wsio__redis_mem(const wsio_redis *r);

/* r's server, or NULL once it is gone. */
wsio_server *wsio__redis_server(const wsio_redis *r);

#endif /* WSIO_REDIS_INTERNAL_H */
