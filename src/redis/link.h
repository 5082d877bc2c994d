/*
 * src/redis/link.h - one connection to Redis, run with hiredis'
 * asynchronous API on a wsio loop (internal to libwsio-redis): connect
 * with a timeout, AUTH and SELECT from the URL, and after a loss (or a
 * connect that fails) come back after a delay that doubles from
 * backoff_min to backoff_max and falls back to the minimum once
 * connected. hiredis' adapter hooks map onto one wsio_watch; the timeout
 * and the retries use one wsio_timer. redis.c has two (pub/sub and
 * commands), redis_stream.c one per stream (XREAD BLOCK), cluster.c two
 * per master node (SSUBSCRIBE and SPUBLISH).
 */
#ifndef WSIO_REDIS_LINK_H
#define WSIO_REDIS_LINK_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "wsio/redis.h"

/* What every link of one owner shares; must outlive its links. */
typedef struct wsio__rlink_settings {
    wsio_loop *loop;
    const wsio_redis_url *url;
    uint32_t backoff_min, backoff_max, connect_timeout;
} wsio__rlink_settings;

typedef struct wsio__rlink wsio__rlink;
struct wsio__rlink {
    const wsio__rlink_settings *set;
    /* Connected, AUTH and SELECT answered; reconnect is 1 when a link
     * was up before. */
    void (*on_ready)(wsio__rlink *l, int reconnect);
    /* Gone, or never came: the retry is scheduled. */
    void (*on_lost)(wsio__rlink *l);
    void *owner;
    /* Set before the first connect for a link whose replies are read
     * without hiredis' callback dispatch: once ready, every reply (answers
     * and pushes alike, in the order they come) goes here, borrowed until
     * it returns. For sharded pub/sub, whose pushes hiredis 0.14 does not
     * know and would hand to the wrong callback or abort on. */
    void (*on_raw)(wsio__rlink *l, redisReply *reply);
    int select_db;         /* send SELECT (not on a subscribed link) */
    redisAsyncContext *ac; /* NULL while away */
    wsio_watch *watch;
    unsigned events;   /* what hiredis asked for */
    wsio_timer *timer; /* connect timeout, then the retry */
    uint32_t backoff;  /* the next retry's delay */
    int connected;     /* connected, AUTH and SELECT answered */
    int setup_pending; /* AUTH, SELECT replies still to come */
    int was_connected; /* once before: the next one is a reconnect */
};

/* Set l up (not connected). Returns 0 or WSIO_ENOMEM. */
int wsio__rlink_init(wsio__rlink *l, const wsio__rlink_settings *set,
                     int select_db, void (*on_ready)(wsio__rlink *, int),
                     void (*on_lost)(wsio__rlink *), void *owner);
/* Start connecting. */
void wsio__rlink_connect(wsio__rlink *l);
/* Drop the connection ourselves (a reply that says it is not usable);
 * the retry follows. */
void wsio__rlink_drop(wsio__rlink *l);
/* A command (hiredis' format) on a ready on_raw link: its answer comes to
 * on_raw. Returns 0, or WSIO_EINVAL (bad format, out of memory). */
int wsio__rlink_send_raw(wsio__rlink *l, const char *fmt, ...);
/* Close for good: waiting callbacks get NULL replies. */
void wsio__rlink_close(wsio__rlink *l);

#endif /* WSIO_REDIS_LINK_H */
